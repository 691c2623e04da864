"""Compile one unit exactly as the setup.py probe says the build would, then
read the object's SASS and PTX archs back with cuobjdump.

    python compile_proof.py PROBE_JSON SOURCE OUT_DIR [--cuobjdump PATH] [--only-gencode ARCH]

PROBE_JSON is `setup_probe.py`'s output for the package (run on its extracted
sdist, whose root the probe names as `source`); SOURCE is the unit's path
relative to that root (`csrc/causal_conv1d_update.cu`). The compile runs in the
root with the probe's program and flags (`-o` into OUT_DIR), its process tree's
RSS summed every 0.2 s (psutil). OUT_DIR gets `<stem>.json`: the command, wall
seconds, peak tree RSS, the gencodes the flags ask for, and the archs cuobjdump
finds (`--list-elf`, `--list-ptx`), with `match` true when they are the same.

`--only-gencode 90` keeps one of the unit's own `-gencode` flags (the one
whose `code=` is `sm_90` or `compute_90`) and drops the others, everything
else as recorded: a package that hard-codes nine gencodes per unit is proven
on one of them in minutes, not in nine times as long; the record keeps the
unit's full list beside the one compiled.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import psutil


def wanted_archs(flags):
    """(sass, ptx) arch numbers the flags ask for: `-gencode arch=compute_X,code=Y`
    in either spelling, `code=[a,b]` lists; `-arch=sm_X` alone is SASS and PTX."""
    sass, ptx = set(), set()
    values = []
    i = 0
    while i < len(flags):
        f = flags[i]
        for opt in ("-gencode", "--generate-code"):
            if f == opt and i + 1 < len(flags):
                values.append(flags[i + 1])
                i += 1
            elif f.startswith(opt + "="):
                values.append(f[len(opt) + 1 :])
        if f in ("-arch", "--gpu-architecture") and i + 1 < len(flags):
            m = re.fullmatch(r"sm_(\d+[a-z]?)", flags[i + 1])
            if m:
                sass.add(m.group(1))
                ptx.add(m.group(1))
            i += 1
        i += 1
    for v in values:
        m = re.search(r"code=\[?([^\]]+)\]?", v)
        if not m:
            continue
        for code in m.group(1).split(","):
            code = code.strip().strip('"')
            if code.startswith("sm_"):
                sass.add(code[3:])
            elif code.startswith("compute_"):
                ptx.add(code[8:])
    return sorted(sass, key=_num), sorted(ptx, key=_num)


def keep_one_gencode(flags, arch):
    """`flags` with only the `-gencode` whose codes name `arch` (`90`):
    (flags, the gencode values dropped, the one kept)."""
    out, dropped, kept = [], [], []
    i = 0
    while i < len(flags):
        f = flags[i]
        value = None
        if f in ("-gencode", "--generate-code") and i + 1 < len(flags):
            value, step = flags[i + 1], 2
        elif f.startswith("-gencode=") or f.startswith("--generate-code="):
            value, step = f.split("=", 1)[1], 1
        if value is None:
            out.append(f)
            i += 1
            continue
        m = re.search(r"code=\[?([^\]]+)\]?", value)
        codes = [c.strip().strip('"') for c in m.group(1).split(",")] if m else []
        if any(c in ("sm_" + arch, "compute_" + arch) for c in codes):
            out.extend(flags[i : i + step])
            kept.append(value)
        else:
            dropped.append(value)
        i += step
    return out, dropped, kept


def _num(a):
    return int(re.match(r"\d+", a).group(0))


def found_archs(cuobjdump, obj):
    def names(flag, pattern):
        out = subprocess.run([cuobjdump, flag, obj], capture_output=True, text=True)
        return sorted(set(re.findall(pattern, out.stdout)), key=_num), out.stdout

    sass, elf_text = names("--list-elf", r"\.sm_(\d+[a-z]?)\.cubin")
    ptx, ptx_text = names("--list-ptx", r"\.sm_(\d+[a-z]?)\.ptx")
    return sass, ptx, elf_text + ptx_text


def run_sampled(argv, cwd):
    start = time.monotonic()
    proc = psutil.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc] + proc.children(recursive=True)
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.2)
    out = proc.stdout.read().decode(errors="replace")
    return proc.returncode, time.monotonic() - start, peak, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("probe")
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--cuobjdump", default=shutil.which("cuobjdump"))
    ap.add_argument("--only-gencode", metavar="ARCH")
    args = ap.parse_args()
    doc = json.load(open(args.probe))
    root = doc["source"]
    units = [u for u in doc["build_ext"]["units"] if u["source"] == args.source]
    if not units:
        sys.exit("no unit %s in %s" % (args.source, args.probe))
    unit = units[0]
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.source))[0]
    obj = os.path.abspath(os.path.join(args.out, stem + ".o"))
    flags, dropped, kept = unit["flags"], [], []
    if args.only_gencode:
        flags, dropped, kept = keep_one_gencode(flags, args.only_gencode)
        if not kept:
            sys.exit("%s has no -gencode for %s" % (args.source, args.only_gencode))
    argv = [unit["program"]] + flags + [os.path.join(root, args.source), "-o", obj]
    env_append = os.environ.get("NVCC_APPEND_FLAGS")
    rc, wall, peak, output = run_sampled(argv, root)
    sass_w, ptx_w = wanted_archs(flags + (env_append.split() if env_append else []))
    record = {
        "package": doc.get("name"),
        "version": doc.get("version"),
        "torch": doc.get("torch"),
        "unit": args.source,
        "compiler": unit["compiler"],
        "argv": argv,
        "nvcc_append_flags": env_append,
        "unit_gencodes": wanted_archs(unit["flags"]),
        "only_gencode": kept or None,
        "gencodes_left_out": dropped,
        "rc": rc,
        "wall_seconds": round(wall, 1),
        "peak_rss_bytes": peak,
        "output_tail": output[-3000:],
        "wanted": {"sass": sass_w, "ptx": ptx_w},
        "gencodes": len(sass_w) + len(ptx_w),
    }
    if rc == 0 and unit["compiler"] == "nvcc" and args.cuobjdump:
        sass_f, ptx_f, listing = found_archs(args.cuobjdump, obj)
        record["found"] = {"sass": sass_f, "ptx": ptx_f}
        record["cuobjdump"] = listing
        record["match"] = (sass_f, ptx_f) == (sass_w, ptx_w)
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(record, f, indent=1)
    print(
        "%s %s: rc=%d %.1fs peak %.2f GiB wanted sass=%s ptx=%s found %s match=%s"
        % (
            doc.get("name"),
            args.source,
            rc,
            wall,
            peak / 2**30,
            ",".join(sass_w),
            ",".join(ptx_w),
            record.get("found"),
            record.get("match"),
        )
    )
    if os.path.exists(obj):
        os.remove(obj)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
