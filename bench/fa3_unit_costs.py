#!/usr/bin/env python3
"""flash-attn 3 unit times from a real build, as rows for data/fa3_costs.tsv.

    python3 bench/fa3_unit_costs.py NINJA_LOG PLAN_JSON [--speed S] [--kernels K]
    python3 bench/fa3_unit_costs.py --sample SAMPLES_JSONL [--binary BIN] [--sdist SDIST]

The second form reads `bench/device/fa3-units.sh`'s per-unit measurements
(`unit_sample.py`: wall, peak of each compile's process tree, mean number of
compiles beside it) and prints `unit STEM SECONDS PEAK_GIB [9]` rows: the
wall divided by the model's slowdown at that load and by this machine's
speed, which the same run measured on its flash-attn 2.8.3 reference units
(their seconds alone there over the model's seconds alone for them, from
`BIN plan` on a tree of just those units, one CPU, one job). An sm90 forward
file at the default switches instantiates 9 forward kernels. Compiles cut at
the deadline print as comments with their lower bound.

For each object in ninja's log (v5+: start_ms, end_ms, mtime, output): its
duration divided by the slowdown the cost model assigns to the load it ran
under (the mean number of objects running during it over the plan's CPUs,
s(L) = 1 + c*L*(n-1)/n, times L above L = 1; c is the plan's
model.contention) and by --speed, the host's compile time over the reference
host's (plan/calibrate.rs; e.g. 0.74 for a box that compiles 1.35x faster).
That is the unit's time alone on the reference host at its gencodes, which
the model treats as one gencode when the unit has one (all sm90/sm80
instantiations). Prints `unit STEM SECONDS -` rows (the peak of each compile
is not in a parallel build's log; `-` keeps it estimated), with K after each
sm90 forward file's row: the forward kernels each file instantiated under
the build's FLASH_ATTENTION_DISABLE_* switches (4 with LOCAL and APPENDKV
off, 9 by default; plan/fa3.rs `Switches::fwd_kernels`), so the planner
scales the time to other switches. On stderr, the
mean ratio of measured to the plan's estimate per kind where the plan has a
schedule (`plan --json --schedule`).
"""

import json
import sys


def read_log(path):
    edges = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        f = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(f) < 4:
            continue
        try:
            edges[f[3]] = (int(f[0]) / 1000.0, int(f[1]) / 1000.0)
        except ValueError:
            continue
    return edges


def stem(path):
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def slowdown(c, load, n):
    full = 1.0 + c * (n - 1.0) / n
    return 1.0 + c * load * (n - 1.0) / n if load <= 1 else full * load


def model_alone(binary, sdist, stems):
    """{stem: seconds alone at one gencode on the reference host} and the
    model's contention c, from `plan` on a flash-attn 2.8.3 tree pruned to
    `stems` (one CPU, one job: the schedule is each unit alone)."""
    import os
    import subprocess
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["tar", "-xzf", sdist, "-C", d], check=True)
        tree = os.path.join(d, "flash_attn-2.8.3")
        units = os.path.join(d, "units.txt")
        open(units, "w").write("\n".join(stems) + "\n")
        subprocess.run([sys.executable, os.path.join(here, "compare", "prune.py"), tree, units],
                       check=True, stdout=subprocess.DEVNULL)
        out = subprocess.run([binary, "plan", "--source", tree, "--archs", "90", "--cpus", "1",
                              "--memory", "64GiB", "--max-jobs", "1", "--nvcc-threads", "1",
                              "--json", "--schedule"], check=True, capture_output=True, text=True).stdout
    plan = json.loads(out)
    times = {stem(j["name"]): j["end_seconds"] - j["start_seconds"] for j in plan["schedule"]}
    return times, float(plan["model"]["contention"])


def from_sample(argv):
    path = argv[argv.index("--sample") + 1]
    binary = argv[argv.index("--binary") + 1] if "--binary" in argv else "target/release/wheelwright"
    sdist = argv[argv.index("--sdist") + 1] if "--sdist" in argv else "../shared/upstream/flash_attn-2.8.3.tar.gz"
    recs = [json.loads(l) for l in open(path) if l.strip()]
    recs = [r for r in recs if "summary" not in r and not r.get("not_started")]
    refs = [r for r in recs if r.get("family") == "fa2" and r.get("rc") == 0]
    model, c = model_alone(binary, sdist, [r["name"] for r in refs])
    def alone_here(r):
        return r["wall_s"] / slowdown(c, r["mean_running"] / r["cpus"], float(r["cpus"]))
    ratios = [alone_here(r) / model[r["name"]] for r in refs if r["name"] in model]
    if not ratios:
        print("no finished flash-attn 2 reference unit: the speed is unknown", file=sys.stderr)
        return 1
    speed = sum(ratios) / len(ratios)
    print("# speed %.3f (this machine's compile time over the reference host's; %s), contention c %.3f"
          % (speed, ", ".join("%s %.3f" % (r["name"], q) for r, q in zip(refs, ratios)), c))
    for r in sorted(recs, key=lambda r: r["name"]):
        if r.get("family") != "fa3":
            continue
        if r.get("cut"):
            print("# %s cut at %.0f s: more than %.0f s alone" % (r["name"], r["wall_s"], alone_here(r) / speed))
            continue
        if r.get("rc") != 0:
            print("# %s failed (rc %s)" % (r["name"], r.get("rc")))
            continue
        k = "  9" if r["kind"] == "fwd_sm90" else ""
        print("unit  %s  %.1f  %.2f%s" % (r["name"], alone_here(r) / speed, r["peak_tree_rss_bytes"] / 2**30, k))
    return 0


def main(argv):
    if "--sample" in argv:
        return from_sample(argv)
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    edges = read_log(argv[0])
    plan = json.load(open(argv[1]))
    speed = float(argv[argv.index("--speed") + 1]) if "--speed" in argv else 1.0
    kernels = argv[argv.index("--kernels") + 1] if "--kernels" in argv else None
    n = float(plan.get("cpus") or 16)
    c = float(plan.get("model", {}).get("contention") or 1.0)
    full = 1.0 + c * (n - 1.0) / n
    points = sorted({t for se in edges.values() for t in se})
    rows = {}
    for out, (start, end) in edges.items():
        if end <= start:
            continue
        slow = 0.0
        for a, b in zip(points, points[1:]):
            a, b = max(a, start), min(b, end)
            if b <= a:
                continue
            mid = (a + b) / 2
            running = sum(1 for s, e in edges.values() if s <= mid < e)
            load = running / n
            s = 1.0 + c * load * (n - 1.0) / n if load <= 1 else full * load
            slow += (b - a) * s
        mean_slowdown = slow / (end - start)
        rows[stem(out)] = (end - start) / mean_slowdown / speed
    schedule = {stem(j["name"]): j for j in plan.get("schedule") or []}
    ratios = {}
    for k, secs in sorted(rows.items()):
        fwd_sm90 = k.startswith("flash_fwd_") and k.endswith("_sm90")
        print("unit  %s  %.1f  -%s" % (k, secs, "  " + kernels if kernels and fwd_sm90 else ""))
        j = schedule.get(k)
        if j and j.get("alone_seconds"):
            kind = "sm90" if k.endswith("_sm90") else "other"
            ratios.setdefault(kind, []).append(secs / j["alone_seconds"])
    for kind, r in sorted(ratios.items()):
        print("# %s: measured / estimated alone = %.2f over %d units" % (kind, sum(r) / len(r), len(r)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
