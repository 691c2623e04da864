"""flash-attn 2.8.3's exact nvcc command for one unit, from a real build log.

torch's ninja printed every compile of the H200 full build
(`bench/results/h200-full-build/build.log`, `[n/73] /usr/local/cuda/bin/nvcc
...`). `command()` takes that line for a unit and swaps in another box's
paths (sources, nvcc, torch's headers, Python's) and, when asked, other
gencodes, `--threads`, host compiler and output. Used by
`bench/arch_costs/measure.py` (the CPU box) and `bench/device/fa3_sample.py`
(reference units on the GPU machine, where only the source path differs).
"""
import os
import shlex

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_LOG = os.path.join(HERE, "..", "results", "h200-full-build", "build.log")

# The paths of the logged build, as they appear in its command lines.
LOG_SRC = "/tmp/fullbuild/work/src/flash_attn-2.8.3"
LOG_TORCH_SITE = "/opt/torch/.venv/lib/python3.12/site-packages"
LOG_CUDA_INCLUDE = "/usr/local/cuda/include"
LOG_VENV_INCLUDE = "/opt/torch/.venv/include"
LOG_PYTHON_INCLUDE = "/usr/include/python3.12"


def template(unit, log=BUILD_LOG):
    """The unit's logged nvcc command, as argv."""
    want = "/%s.cu " % unit
    with open(log) as f:
        for line in f:
            if "nvcc " in line and want in line and " -o " in line:
                return shlex.split(line.split("] ", 1)[1])
    raise SystemExit("no nvcc line for %s in %s" % (unit, log))


def command(unit, src, obj, nvcc=None, torch_site=None, cuda_include=None, venv_include=None,
            python_include=None, ccbin=None, gencodes=None, threads=None, log=BUILD_LOG):
    """The logged command with this box's paths. `gencodes`: a list of
    `arch=...,code=...` values replacing the logged `-gencode`s; `threads`
    replaces `--threads`; `obj` the output (its `.d` the depfile). A path
    left None keeps the logged one."""
    subs = [(LOG_SRC, src)]
    for old, new in ((LOG_TORCH_SITE, torch_site), (LOG_CUDA_INCLUDE, cuda_include),
                     (LOG_VENV_INCLUDE, venv_include), (LOG_PYTHON_INCLUDE, python_include)):
        if new is not None:
            subs.append((old, new))
    argv = template(unit, log)
    out, i = [nvcc or argv[0]], 1
    while i < len(argv):
        x = argv[i]
        if x == "-gencode" and gencodes is not None:
            if "-gencode" not in out:
                for g in gencodes:
                    out += ["-gencode", g]
        elif x == "--threads" and threads is not None:
            out += ["--threads", str(threads)]
        elif x == "-ccbin" and ccbin is not None:
            out += ["-ccbin", ccbin]
        elif x == "-o":
            out += ["-o", obj]
        elif x == "-MF":
            out += ["-MF", obj + ".d"]
        else:
            for old, new in subs:
                x = x.replace(old, new)
            out.append(x)
            i += 1
            continue
        i += 2
    return out
