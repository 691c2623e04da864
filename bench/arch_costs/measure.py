#!/usr/bin/env python3
"""Compile flash-attn 2.8.3 units once per gencode on a CPU box; record cost.

issue 29 §2: how compile time and memory differ between the archs people
publish (flash-attn's default list `80;90;100;110;120`, family targets on CUDA
>= 12.9, plus the PTX of the newest, as its setup.py on main spells them) and
how they grow with several gencodes in one compile. nvcc compiles any arch
without that GPU, so PyPI's nvcc on a CPU-only box measures the ratios; the
GPU machine's measured sm_90/sm_80 times are then scaled by them.

Each compile is the exact nvcc command of flash-attn's own build, taken from
a real build log (`fa2_command.py`: torch's ninja line for that unit in
`bench/results/h200-full-build/build.log`), with this box's paths for nvcc, the sources, torch's
headers and Python's, and the gencodes and `--threads` replaced. One compile
at a time (run the script under `nice -n 19`); per compile it records CPU
seconds (user + sys of nvcc and everything it ran, robust to the box's load),
wall seconds, `/usr/bin/time -v`'s maximum RSS (the largest single process)
and the summed RSS of the process tree sampled every 0.2 s (what the cost
model's peaks are), and nvcc's own per-phase times (`nvcc --time`, wall).
A guard kills a compile whose tree passes GUARD_GIB or that leaves less than
2 GiB available on the box (the box is shared); such a line has `"guard"`.

Resumable: jobs already in the output (same unit, gencodes, threads, rep)
are skipped. Usage (the run behind `data/fa2_arch_costs_cpu.jsonl`):

    nice -n 19 python3 bench/arch_costs/measure.py \\
      --nvcc /tmp/perf/venv/lib/python3.11/site-packages/nvidia/cu13/bin/nvcc \\
      --src /tmp/perf/flash_attn-2.8.3 --torch /tmp/perf/torch \\
      --python-include /root/.pyenv/versions/3.12.1/include/python3.12 \\
      --out /tmp/perf/arch_costs.jsonl [--only PHASE] [--list]

`--torch` is a directory holding `torch/include` (PyPI's torch 2.11.0 wheel,
unpacked: `pip download torch==2.11.0 --no-deps`, the GPU box's version).
"""
import argparse, csv, datetime, json, os, platform, re, shlex, signal, subprocess, sys, threading, time

import fa2_command


# flash-attn main's add_cuda_gencodes() on CUDA >= 13.0 (setup.py at
# Dao-AILab/flash-attention 0251105a): one gencode per arch of
# FLASH_ATTN_CUDA_ARCHS="80;90;100;110;120", then the PTX of the newest.
TARGETS = {
    "sm_80": "arch=compute_80,code=sm_80",
    "sm_90": "arch=compute_90,code=sm_90",
    "sm_100f": "arch=compute_100f,code=sm_100",
    "sm_110f": "arch=compute_110f,code=sm_110",
    "sm_120f": "arch=compute_120f,code=sm_120",
    "compute_120": "arch=compute_120,code=compute_120",
    # flash-attn 2.8.3's spelling (no family targets): its release list.
    "sm_100": "arch=compute_100,code=sm_100",
    "sm_120": "arch=compute_120,code=sm_120",
}
SINGLE = ["sm_80", "sm_90", "sm_100f", "sm_110f", "sm_120f", "compute_120"]
RELEASE = SINGLE  # main's release list: 5 SASS + the newest PTX

# Every class (fwd, fwd split, bwd), head dims 32-256, causal or not, fp16 and
# bf16; spread over the H200 build's per-unit durations.
PHASE1 = [
    "flash_fwd_hdim32_bf16_causal_sm80",
    "flash_bwd_hdim128_fp16_sm80",
    "flash_fwd_split_hdim64_bf16_causal_sm80",
    "flash_fwd_hdim256_fp16_sm80",
    "flash_bwd_hdim64_bf16_causal_sm80",
    "flash_fwd_split_hdim128_fp16_sm80",
]
PHASE3 = [
    "flash_bwd_hdim256_bf16_sm80",
    "flash_fwd_hdim128_bf16_causal_sm80",
    "flash_fwd_split_hdim192_fp16_causal_sm80",
]


def jobs():
    """(phase, unit, targets, threads, rep) in the order they run: what the
    fit needs first (the box is shared: at nice 19 a compile may take hours
    of wall time), the rest after."""
    out = []
    small, big = PHASE1[0], PHASE1[1]
    # Every target on one unit of each class.
    for u in PHASE1[:3]:
        for t in SINGLE:
            out.append(("single", u, [t], 1, 0))
    # Several gencodes in one compile: 2, 3, 5 SASS and the release list (6),
    # at --threads 1 (CPU work, sigma) and --threads k (memory of k parallel
    # gencodes, rho). The small forward unit takes k = G; the backward unit
    # (about 2x the memory) k = 2 only, the box has 23 GiB shared.
    sets = [["sm_80", "sm_90"], ["sm_80", "sm_90", "sm_100f"],
            ["sm_80", "sm_90", "sm_100f", "sm_110f", "sm_120f"], RELEASE]
    for s in sets:
        out.append(("multi", small, s, 1, 0))
        out.append(("multi", small, s, len(s), 0))
    # 2.8.3's plain sm_100 and sm_120 (its setup.py, every toolkit) against
    # the family targets.
    for u in PHASE1[:2]:
        for t in ("sm_100", "sm_120"):
            out.append(("plain", u, [t], 1, 0))
    for s in sets[2:]:
        out.append(("multi", big, s, 1, 0))
        out.append(("multi", big, s, 2, 0))
    for u in PHASE1[3:]:
        for t in SINGLE:
            out.append(("single", u, [t], 1, 0))
    # Run-to-run spread on this box: sm_90 of two units again.
    out.append(("repeat", small, ["sm_90"], 1, 1))
    out.append(("repeat", big, ["sm_90"], 1, 1))
    for s in sets[:2]:
        out.append(("multi", big, s, 1, 0))
        out.append(("multi", big, s, 2, 0))
    for u in PHASE3:
        for t in SINGLE:
            out.append(("single", u, [t], 1, 0))
    return out


def command(unit, targets, threads, a, obj, timefile):
    nvcc_home = os.path.dirname(os.path.dirname(a.nvcc))
    argv = fa2_command.command(
        unit, a.src, obj, nvcc=a.nvcc, torch_site=a.torch,
        cuda_include=os.path.join(nvcc_home, "include"),
        venv_include=os.path.join(a.torch, "venv-include"),
        python_include=a.python_include, ccbin=a.ccbin,
        gencodes=[TARGETS[t] for t in targets], threads=threads)
    return argv + ["--time", timefile]


def tree_rss(root):
    """Summed RSS (bytes) of root and its descendants."""
    kids, rss = {}, {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            ppid = int(st.rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/statm" % p) as f:
                rss[int(p)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            kids.setdefault(ppid, []).append(int(p))
        except (OSError, ValueError, IndexError):
            continue
    total, stack, n = 0, [root], 0
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        n += 1
        stack += kids.get(p, [])
    return total, n


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def run_one(a, phase, unit, targets, threads, rep):
    work = os.path.join(a.work, "%s.%s.t%d.r%d" % (unit, "+".join(targets), threads, rep))
    os.makedirs(work, exist_ok=True)
    obj = os.path.join(work, unit + ".o")
    timefile = os.path.join(work, "nvcc-time.csv")
    for f in (obj, timefile):
        if os.path.exists(f):
            os.remove(f)
    argv = command(unit, targets, threads, a, obj, timefile)
    tv = os.path.join(work, "time-v.txt")
    load0 = os.getloadavg()[0]
    start = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tv] + argv, cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    state = {"peak": 0, "procs": 0, "guard": None}

    def sample():
        guard = a.guard_gib * 2**30
        while p.poll() is None:
            total, n = tree_rss(p.pid)
            if total > state["peak"]:
                state["peak"], state["procs"] = total, n
            avail = mem_available()
            if state["guard"] is None and (total > guard or avail < 2 * 2**30):
                state["guard"] = "tree %.1f GiB, %.1f GiB available" % (total / 2**30, avail / 2**30)
                os.killpg(p.pid, signal.SIGKILL)
            time.sleep(0.2)

    th = threading.Thread(target=sample)
    th.start()
    output = p.communicate()[0].decode(errors="replace")
    th.join()
    wall = time.time() - start
    tv_text = open(tv).read() if os.path.exists(tv) else ""

    def tvfield(name):
        m = re.search(re.escape(name) + r":\s*([0-9.:]+)", tv_text)
        return m.group(1) if m else None

    user = float(tvfield("User time (seconds)") or 0)
    sys_ = float(tvfield("System time (seconds)") or 0)
    phases = []
    if os.path.exists(timefile):
        with open(timefile) as f:
            for row in csv.reader(f):
                # file, phase, inputs, output, arch, tool, value, unit
                if len(row) >= 8 and row[0].strip() != "source file name":
                    phases.append({"phase": row[1].strip(), "arch": row[4].strip(),
                                   "ms": float(row[6])})
    rec = {
        "phase": phase, "unit": unit, "targets": targets,
        "gencode_args": [TARGETS[t] for t in targets],
        "nvcc_threads": threads, "rep": rep, "rc": p.returncode,
        "cpu_s": round(user + sys_, 2), "user_s": user, "sys_s": sys_,
        "wall_s": round(wall, 2),
        "max_rss_kib": int(tvfield("Maximum resident set size (kbytes)") or 0),
        "peak_tree_rss_bytes": state["peak"], "procs_at_peak": state["procs"],
        "obj_bytes": os.path.getsize(obj) if os.path.exists(obj) else None,
        "nvcc_phases": phases,
        "load1_start": round(load0, 2), "load1_end": round(os.getloadavg()[0], 2),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": a.host, "nvcc": a.nvcc_version, "ccbin": a.ccbin_version,
    }
    if state["guard"]:
        rec["guard"] = state["guard"]
    if p.returncode != 0:
        rec["output_tail"] = output[-2000:]
    if os.path.exists(obj):
        os.remove(obj)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvcc", required=True)
    ap.add_argument("--src", required=True, help="extracted flash_attn-2.8.3 sdist")
    ap.add_argument("--torch", required=True, help="site-packages dir holding torch/include")
    ap.add_argument("--python-include", required=True)
    ap.add_argument("--ccbin", default="gcc")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/arch-costs-work")
    ap.add_argument("--guard-gib", type=float, default=15.0)
    ap.add_argument("--only", help="run only this phase (single, multi, repeat)")
    ap.add_argument("--limit", type=int, default=0, help="stop after N compiles")
    ap.add_argument("--list", action="store_true", help="print the jobs and commands, run nothing")
    a = ap.parse_args()
    a.nvcc = os.path.abspath(a.nvcc)
    os.makedirs(a.work, exist_ok=True)
    a.nvcc_version = subprocess.run([a.nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    a.ccbin_version = subprocess.run([a.ccbin, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    a.host = "%s, %d CPUs, %.0f GiB, %s" % (cpu, os.cpu_count(), os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, platform.node())
    done = set()
    if os.path.exists(a.out):
        for line in open(a.out):
            r = json.loads(line)
            if r["rc"] == 0:
                done.add((r["unit"], tuple(r["targets"]), r["nvcc_threads"], r["rep"]))
    n = 0
    for phase, unit, targets, threads, rep in jobs():
        if a.only and phase != a.only:
            continue
        if (unit, tuple(targets), threads, rep) in done:
            continue
        if a.list:
            print(phase, unit, "+".join(targets), "t%d" % threads, "r%d" % rep)
            print("   ", shlex.join(command(unit, targets, threads, a, "OBJ", "TIME")))
            continue
        rec = run_one(a, phase, unit, targets, threads, rep)
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print("%s %s %s t%d: rc %d cpu %.0f s wall %.0f s tree %.2f GiB%s" % (
            phase, unit, "+".join(targets), threads, rec["rc"], rec["cpu_s"], rec["wall_s"],
            rec["peak_tree_rss_bytes"] / 2**30, " GUARD " + rec["guard"] if "guard" in rec else ""), flush=True)
        n += 1
        if rec["rc"] != 0 and "guard" not in rec:
            raise SystemExit("compile failed; stopping (see output_tail in %s)" % a.out)
        if a.limit and n >= a.limit:
            break


if __name__ == "__main__":
    main()
