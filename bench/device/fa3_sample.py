#!/usr/bin/env python3
"""The compile commands of a flash-attn 3 unit sample, for unit_sample.py.

    fa3_sample.py BUILD_NINJA NINJA FA2_SRC OUT_DIR > commands.jsonl

BUILD_NINJA: the build.ninja hopper/setup.py wrote (torch's BuildExtension,
captured by fa3-units.sh before any compile); each FA3 unit's command is what
`ninja -t commands OBJECT` prints for it, run as ninja would (`sh -c`) in
that file's directory. FA2_SRC: an extracted flash-attn 2.8.3 sdist; its
reference units are compiled with the exact command of the committed H200
build log (`bench/arch_costs/fa2_command.py`, only the source path swapped),
so the same run measures this machine's speed against the units the cost
model knows (`bench/fa3_unit_costs.py --sample`). Objects go to OUT_DIR.

The sample (`SAMPLE`, in start order: the longest expected first) covers
every kind flash-attn 3 builds at its default switches: sm90 forward files of
each variant (plain, paged, split, softcap, packgqa, fp8 e4m3) and head dim
(64 … 256 and the hdim-diff 64_256, 64_512, 192_128), sm90 backward, sm80
forward and backward, the two helpers and the API file. A unit missing from
the build is reported on stderr and skipped.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "arch_costs"))
import fa2_command  # noqa: E402

# (stem, kind); the order is the start order.
SAMPLE = [
    ("flash_fwd_hdim64_512_bf16_sm90", "fwd_sm90"),
    ("flash_bwd_hdim256_bf16_softcapall_sm90", "bwd_sm90"),
    ("flash_bwd_hdim128_fp16_softcapall_sm90", "bwd_sm90"),
    ("flash_bwd_hdim64_bf16_softcapall_sm90", "bwd_sm90"),
    ("flash_fwd_hdim256_e4m3_paged_split_sm90", "fwd_sm90"),
    ("flash_fwd_hdim64_256_fp16_paged_split_sm90", "fwd_sm90"),
    ("flash_fwd_hdim192_128_e4m3_softcap_sm90", "fwd_sm90"),
    ("flash_bwd_hdim192_bf16_softcap_sm80", "bwd_sm80"),
    ("flash_bwd_hdim96_fp16_sm80", "bwd_sm80"),
    ("flash_fwd_hdim256_fp16_paged_softcap_sm90", "fwd_sm90"),
    ("flash_fwd_hdim128_bf16_sm90", "fwd_sm90"),
    ("flash_fwd_hdim64_e4m3_split_softcap_sm90", "fwd_sm90"),
    ("flash_fwd_hdim96_bf16_softcap_packgqa_sm90", "fwd_sm90"),
    ("flash_fwd_hdim192_fp16_packgqa_sm90", "fwd_sm90"),
    ("flash_fwd_hdim256_fp16_softcapall_sm80", "fwd_sm80"),
    ("flash_fwd_hdim64_bf16_paged_split_softcapall_sm80", "fwd_sm80"),
    ("flash_fwd_combine", "helper"),
    ("flash_prepare_scheduler", "helper"),
    ("flash_api_stable", "api"),
]
# flash-attn 2.8.3 units the model has measured (its per-unit times), at the
# logged build's sm_90 and --threads 1.
FA2_REFERENCE = [
    "flash_bwd_hdim64_fp16_causal_sm80",
    "flash_fwd_hdim128_bf16_sm80",
]


def build_lines(path):
    """{source stem: object path} from `build OBJ: RULE SRC` lines."""
    out = {}
    for line in open(path):
        if not line.startswith("build ") or ":" not in line:
            continue
        lhs, rhs = line[6:].split(":", 1)
        parts = rhs.split()
        if len(parts) < 2:
            continue
        src = parts[1]
        stem = os.path.basename(src).rsplit(".", 1)[0]
        out[stem] = lhs.strip().replace("$ ", " ")
    return out


def local_paths():
    """The logged build's paths where this machine has them (the GPU
    machines do); elsewhere nvcc from PATH and torch and Python headers of
    the interpreter in $PY, so the script can be tried on a CPU box."""
    if os.path.exists(fa2_command.LOG_TORCH_SITE) and os.path.exists("/usr/local/cuda/bin/nvcc"):
        return {}
    py = os.environ.get("PY", sys.executable)
    site, inc = subprocess.run(
        [py, "-c", "import os, sysconfig, torch; print(os.path.dirname(os.path.dirname(torch.__file__))); "
                   "print(sysconfig.get_paths()['include'])"],
        capture_output=True, text=True, check=True).stdout.split()
    nvcc = shutil.which("nvcc")
    print("fa3_sample.py: not the logged machine; FA2 references use %s and %s" % (nvcc, site), file=sys.stderr)
    return {"nvcc": nvcc, "torch_site": site, "cuda_include": os.path.join(os.path.dirname(os.path.dirname(nvcc)), "include"),
            "python_include": inc, "ccbin": os.environ.get("CC") or "gcc"}


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    build_ninja, ninja, fa2_src, out_dir = (os.path.abspath(p) for p in argv)
    os.makedirs(out_dir, exist_ok=True)
    objects = build_lines(build_ninja)
    cwd = os.path.dirname(os.path.abspath(build_ninja))
    n = 0
    for stem, kind in SAMPLE:
        obj = objects.get(stem)
        if obj is None:
            print("fa3_sample.py: %s is not in %s; skipped" % (stem, build_ninja), file=sys.stderr)
            continue
        cmd = subprocess.run([ninja, "-f", build_ninja, "-t", "commands", obj], cwd=cwd,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print(json.dumps({"name": stem, "kind": kind, "family": "fa3", "argv": ["sh", "-c", cmd],
                          "command": cmd, "cwd": cwd}))
        n += 1
    local = local_paths()
    for stem in FA2_REFERENCE:
        obj = os.path.join(out_dir, stem + ".o")
        argv2 = fa2_command.command(stem, fa2_src, obj, **local)
        print(json.dumps({"name": stem, "kind": "fa2_reference", "family": "fa2", "argv": argv2,
                          "command": shlex.join(argv2), "cwd": out_dir}))
        n += 1
    print("fa3_sample.py: %d compiles" % n, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
