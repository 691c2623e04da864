#!/usr/bin/env python3
"""flash-attn 3 unit times from a real build, as rows for data/fa3_costs.tsv.

    python3 bench/fa3_unit_costs.py NINJA_LOG PLAN_JSON [--speed S] [--kernels K]

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


def main(argv):
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
