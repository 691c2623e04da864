#!/usr/bin/env python3
"""Compile commands of flash-attn 3 units for a CPU box (issue 29 §3).

    fa3_cpu_units.py --nvcc NVCC --fa3 FA3_TREE --fa2 FA2_SRC --torch TORCH_SITE \\
        --python-include DIR --out OBJ_DIR [--ccbin GCC] > commands.jsonl

The GPU script (`bench/device/fa3-units.sh`) takes each FA3 unit's command
from the build.ninja that hopper/setup.py writes through torch's
BuildExtension; that needs torch importable, which the CPU box has not (only
torch 2.11.0's headers, unpacked from PyPI's wheel). So this writes the same
command by hand: torch's part of an nvcc line is the logged flash-attn 2.8.3
line's (`fa2_command.py`: include dirs, `-D__CUDA_NO_*`, `--expt-relaxed-constexpr`,
`-fPIC`, `-DTORCH_API_INCLUDE_EXTENSION_H`, `-ccbin`), hopper/setup.py's part
is its `nvcc_threads_args() + nvcc_flags + cc_flag + feature_args` at
NVCC_THREADS=1 (`-gencode arch=compute_90a,code=sm_90a`, or
`arch=compute_80,code=sm_80` for `*_sm80.cu`, both for the two helpers, as
its ninja rules `cuda_compile_sm80` and `cuda_compile_sm80_sm90` do).
Units needing torch's C++ API (flash_api_stable.cpp) are not in the sample.

Each line is a `unit_sample.py` job (`nice -n 19` in front; CCCL's headers
are on CPLUS_INCLUDE_PATH as hopper/setup.py puts them for CUDA 13). The
reduced build's switches (bench/results/h200-fa3-reduced) give a second copy
of one forward file, `..._reduced`: the one FA3 unit also measured on the
GPU machine.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fa2_command  # noqa: E402

NVCC_FLAGS = ["-O3", "-std=c++17", "--ftemplate-backtrace-limit=0", "--use_fast_math", "--resource-usage",
              "-lineinfo", "-DCUTE_SM90_EXTENDED_MMA_SHAPES_ENABLED", "-DCUTLASS_ENABLE_GDC_FOR_SM90",
              "-DCUTLASS_DEBUG_TRACE_LEVEL=0", "-DNDEBUG"]
# bench/results/h200-fa3-reduced's switches (4 forward kernels per sm90 file).
REDUCED = ["LOCAL", "APPENDKV", "SPLIT", "PAGEDKV", "SOFTCAP", "PACKGQA", "FP8", "BACKWARD", "SM8x",
           "HDIMDIFF64", "HDIMDIFF192"]

# (name, source stem, kind, reduced switches?) in start order: the FA2
# reference first (the CPU -> GPU scale), then one unit per class, broadest first.
SAMPLE = [
    ("flash_fwd_hdim32_bf16_causal_sm80", None, "fa2_reference", False),
    ("flash_fwd_hdim128_bf16_sm90_reduced", "flash_fwd_hdim128_bf16_sm90", "fwd_sm90", True),
    ("flash_fwd_hdim128_bf16_sm90", "flash_fwd_hdim128_bf16_sm90", "fwd_sm90", False),
    ("flash_bwd_hdim128_bf16_softcapall_sm90", "flash_bwd_hdim128_bf16_softcapall_sm90", "bwd_sm90", False),
    ("flash_fwd_hdim64_bf16_paged_split_sm90", "flash_fwd_hdim64_bf16_paged_split_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim128_bf16_softcapall_sm80", "flash_fwd_hdim128_bf16_softcapall_sm80", "fwd_sm80", False),
    ("flash_fwd_combine", "flash_fwd_combine", "helper", False),
    ("flash_fwd_hdim256_bf16_softcap_sm90", "flash_fwd_hdim256_bf16_softcap_sm90", "fwd_sm90", False),
    ("flash_bwd_hdim128_bf16_sm80", "flash_bwd_hdim128_bf16_sm80", "bwd_sm80", False),
    ("flash_bwd_hdim64_bf16_softcapall_sm90", "flash_bwd_hdim64_bf16_softcapall_sm90", "bwd_sm90", False),
    ("flash_fwd_hdim64_bf16_sm90", "flash_fwd_hdim64_bf16_sm90", "fwd_sm90", False),
    ("flash_prepare_scheduler", "flash_prepare_scheduler", "helper", False),
    # Second round (`--from 12`): the variants one at a time at hdim 128, the
    # widest head dims and sm80 with every variant.
    ("flash_fwd_hdim128_bf16_softcap_sm90", "flash_fwd_hdim128_bf16_softcap_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim128_bf16_split_sm90", "flash_fwd_hdim128_bf16_split_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim128_bf16_paged_sm90", "flash_fwd_hdim128_bf16_paged_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim128_bf16_packgqa_sm90", "flash_fwd_hdim128_bf16_packgqa_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim128_e4m3_sm90", "flash_fwd_hdim128_e4m3_sm90", "fwd_sm90", False),
    ("flash_bwd_hdim256_bf16_softcapall_sm90", "flash_bwd_hdim256_bf16_softcapall_sm90", "bwd_sm90", False),
    ("flash_fwd_hdim256_bf16_sm90", "flash_fwd_hdim256_bf16_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim64_512_bf16_sm90", "flash_fwd_hdim64_512_bf16_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim192_128_bf16_sm90", "flash_fwd_hdim192_128_bf16_sm90", "fwd_sm90", False),
    ("flash_fwd_hdim128_bf16_paged_split_softcapall_sm80", "flash_fwd_hdim128_bf16_paged_split_softcapall_sm80",
     "fwd_sm80", False),
    ("flash_bwd_hdim256_bf16_sm80", "flash_bwd_hdim256_bf16_sm80", "bwd_sm80", False),
    # Third round (`--from 23`, 2026-12-08 05:40): fp16 and the middle head
    # dims (96, 192), forward and backward.
    ("flash_fwd_hdim192_fp16_sm90", "flash_fwd_hdim192_fp16_sm90", "fwd_sm90", False),
    ("flash_bwd_hdim96_bf16_sm90", "flash_bwd_hdim96_bf16_sm90", "bwd_sm90", False),
    ("flash_fwd_hdim96_fp16_sm80", "flash_fwd_hdim96_fp16_sm80", "fwd_sm80", False),
    # Fourth round (`--from 26`): the reduced switches (4 forward kernels) at
    # two more head dims, against the plain files of rounds 1 and 3: how an
    # sm90 forward file's time grows with its kernel count.
    ("flash_fwd_hdim64_bf16_sm90_reduced", "flash_fwd_hdim64_bf16_sm90", "fwd_sm90", True),
    ("flash_fwd_hdim256_bf16_sm90_reduced", "flash_fwd_hdim256_bf16_sm90", "fwd_sm90", True),
]


def fa3_command(a, stem, reduced, obj):
    hopper = os.path.join(a.fa3, "hopper")
    src = os.path.join(hopper, stem + ".cu")
    if not os.path.exists(src):
        src = os.path.join(hopper, "instantiations", stem + ".cu")
    cuda_inc = os.path.join(os.path.dirname(os.path.dirname(a.nvcc)), "include")
    # hopper/setup.py's rules: *_sm90.cu sm_90a, *_sm80.cu sm_80, any other
    # .cu (the combine and scheduler helpers) sm_90a then sm_80.
    if stem.endswith("_sm80"):
        gencodes = ["-gencode", "arch=compute_80,code=sm_80"]
    elif stem.endswith("_sm90"):
        gencodes = ["-gencode", "arch=compute_90a,code=sm_90a"]
    else:
        gencodes = ["-gencode", "arch=compute_90a,code=sm_90a", "-gencode", "arch=compute_80,code=sm_80"]
    features = ["-DFLASHATTENTION_DISABLE_%s" % s if not s.startswith("HDIMDIFF") else "-DFLASH_ATTENTION_DISABLE_%s" % s
                for s in REDUCED] if reduced else []
    return ([a.nvcc, "-MD", "-MF", obj + ".d", "-I" + hopper, "-I" + os.path.join(a.fa3, "csrc", "cutlass", "include"),
             "-I" + os.path.join(a.torch, "torch", "include"),
             "-I" + os.path.join(a.torch, "torch", "include", "torch", "csrc", "api", "include"),
             "-I" + cuda_inc, "-I" + a.python_include, "-c", "-c", src, "-o", obj,
             "-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__", "-D__CUDA_NO_BFLOAT16_CONVERSIONS__",
             "-D__CUDA_NO_HALF2_OPERATORS__", "--expt-relaxed-constexpr", "--compiler-options", "'-fPIC'",
             "--threads", "1"] + NVCC_FLAGS + gencodes + features
            + ["-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_C", "-ccbin", a.ccbin])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k in ("nvcc", "fa3", "fa2", "torch", "python-include", "out"):
        p.add_argument("--" + k, required=True)
    p.add_argument("--ccbin", default="gcc")
    p.add_argument("--only", help="comma-separated names")
    p.add_argument("--from", dest="start", type=int, default=0, help="skip the first N of the sample")
    a = p.parse_args()
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    only = set(a.only.split(",")) if a.only else None
    for name, stem, kind, reduced in SAMPLE[a.start:]:
        if only and name not in only:
            continue
        obj = os.path.join(a.out, name + ".o")
        if kind == "fa2_reference":
            argv = fa2_command.command(name, a.fa2, obj, nvcc=a.nvcc, torch_site=a.torch,
                                       cuda_include=os.path.join(os.path.dirname(os.path.dirname(a.nvcc)), "include"),
                                       venv_include=a.python_include, python_include=a.python_include,
                                       ccbin=a.ccbin, gencodes=["arch=compute_90,code=sm_90"], threads=1)
            family = "fa2"
        else:
            argv = fa3_command(a, stem, reduced, obj)
            family = "fa3"
        print(json.dumps({"name": name, "kind": kind, "family": family, "reduced_switches": reduced,
                          "argv": ["nice", "-n", "19"] + argv, "cwd": a.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
