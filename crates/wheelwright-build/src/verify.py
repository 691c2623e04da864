# wheelwright's wheel check, in three steps (see verify.rs):
#   python verify.py sites          run by the BUILD interpreter: its site dirs, as JSON
#   python verify.py link DIR...    run by a FRESH venv's interpreter: make DIRs visible
#                                   to it (a .pth after its own site-packages), so it
#                                   sees the build's torch while its own dirs win
#   python verify.py check RECIPE MODULE...
#                                   run by the fresh venv, the wheel installed there:
#                                   import each MODULE (the wheel's own, listed by
#                                   wheelwright from its archive) from the venv, not
#                                   from elsewhere, and for flash-attn on a GPU, a
#                                   forward pass
# Each step prints ONE JSON object on its last line.
import json
import os
import sys
import sysconfig

TOLERANCE = 2e-2  # bf16 output against an fp32 reference
PTH_NAME = "_wheelwright_build_env.pth"


def _err(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def emit(obj):
    sys.stdout.write("\n" + json.dumps(obj) + "\n")
    sys.stdout.flush()


def sites():
    import site

    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    emit({"sites": [d for d in dirs if os.path.isdir(d)]})


def link(dirs):
    purelib = sysconfig.get_paths()["purelib"]
    os.makedirs(purelib, exist_ok=True)
    # An `import` line of a .pth runs at start-up, after the venv's own
    # site-packages is on sys.path; addsitedir also reads the .pth files there.
    line = "import site; " + "; ".join("site.addsitedir(%r)" % d for d in dirs)
    with open(os.path.join(purelib, PTH_NAME), "w") as f:
        f.write(line + "\n")
    emit({"prefix": sys.prefix})


def reference_attention(q, k, v, causal):
    import torch

    # (batch, seqlen, heads, dim) -> (batch, heads, seqlen, dim), in fp32.
    q, k, v = (t.transpose(1, 2).float() for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5)
    if causal:
        n = scores.shape[-1]
        mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


def forward_check(out):
    try:
        import torch
    except BaseException as exc:  # noqa: BLE001
        out["skipped_reason"] = "torch is not importable: " + _err(exc)
        return
    out["torch_version"] = str(torch.__version__)
    if not torch.cuda.is_available():
        out["skipped_reason"] = "no CUDA GPU visible to torch; forward pass not run"
        return
    from flash_attn import flash_attn_func

    out["device"] = torch.cuda.get_device_name(0)
    torch.manual_seed(0)
    worst = 0.0
    for causal in (False, True):
        q, k, v = (
            torch.randn(2, 128, 4, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)
        )
        got = flash_attn_func(q, k, v, causal=causal)
        want = reference_attention(q, k, v, causal)
        worst = max(worst, (got.float() - want).abs().max().item())
    out["max_abs_error"] = worst
    out["tolerance"] = TOLERANCE
    if not worst <= TOLERANCE:
        out["error"] = "flash_attn_func differs from the reference by %g (tolerance %g)" % (
            worst,
            TOLERANCE,
        )


def check(recipe, modules):
    out = {
        "imported": False,
        "modules": [],
        "max_abs_error": None,
        "tolerance": None,
        "skipped_reason": None,
        "error": None,
        "torch_version": None,
        "device": None,
    }
    prefix = os.path.realpath(sys.prefix)
    try:
        import importlib

        try:
            import torch  # noqa: F401 - extensions need libtorch loaded first
        except BaseException:  # noqa: BLE001
            pass
        if not modules:
            raise RuntimeError("the wheel installs no importable module")
        for name in modules:
            mod = importlib.import_module(name)
            where = os.path.realpath(getattr(mod, "__file__", "") or "")
            if not where.startswith(prefix + os.sep):
                raise RuntimeError(
                    "`%s` was imported from %s, not from the new wheel in %s" % (name, where, prefix)
                )
            out["modules"].append(name)
        if recipe == "flash-attn":
            from flash_attn import flash_attn_func  # noqa: F401
        out["imported"] = True
    except BaseException as exc:  # noqa: BLE001
        out["error"] = "import failed: " + _err(exc)
    if out["imported"] and recipe == "flash-attn":
        try:
            forward_check(out)
        except BaseException as exc:  # noqa: BLE001
            out["error"] = "forward pass failed: " + _err(exc)
    elif out["imported"]:
        out["skipped_reason"] = "torch-ext: import only"
    emit(out)


def main():
    step = sys.argv[1]
    if step == "sites":
        sites()
    elif step == "link":
        link(sys.argv[2:])
    elif step == "check":
        check(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit("usage: verify.py sites | link DIR... | check RECIPE MODULE...")


main()
