# wheelwright's wheel check: run by the build interpreter with the wheel
# installed (pip --target) into TARGET, which goes first on sys.path so the new
# wheel wins over any installed copy. Prints ONE JSON object on the last line.
# usage: python verify.py TARGET RECIPE   (RECIPE: flash-attn | torch-ext)
import json
import os
import sys

TOLERANCE = 2e-2  # bf16 output against an fp32 reference


def _err(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def top_level_modules(target):
    names = []
    for entry in sorted(os.listdir(target)):
        path = os.path.join(target, entry)
        if entry.endswith((".dist-info", ".data")) or entry in ("bin", "__pycache__"):
            continue
        if os.path.isdir(path) and os.path.exists(os.path.join(path, "__init__.py")):
            names.append(entry)
        elif entry.endswith(".py"):
            names.append(entry[:-3])
        elif entry.endswith(".so"):
            names.append(entry.split(".")[0])
    return names


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


def main():
    target, recipe = sys.argv[1], sys.argv[2]
    sys.path.insert(0, target)
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
    try:
        import importlib

        try:
            import torch  # noqa: F401 - extensions need libtorch loaded first
        except BaseException:  # noqa: BLE001
            pass
        if recipe == "flash-attn":
            modules = ["flash_attn"]
        else:
            modules = top_level_modules(target)
            if not modules:
                raise RuntimeError("the wheel installs no importable module")
        for name in modules:
            mod = importlib.import_module(name)
            where = os.path.realpath(getattr(mod, "__file__", "") or "")
            if not where.startswith(os.path.realpath(target)):
                raise RuntimeError("`%s` was imported from %s, not from the new wheel" % (name, where))
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
    sys.stdout.write("\n" + json.dumps(out) + "\n")
    sys.stdout.flush()


main()
