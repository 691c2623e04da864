#!/usr/bin/env python3
"""Fit per-gencode costs from `measure.py`'s compiles (issue 29 §2).

    python3 bench/arch_costs/fit.py [JSONL] [--json] [--sigma S]

`--sigma S` computes the per-gencode work (3.) at the given sigma instead of
this data's own: the planner uses the GPU machine's (0.123, the H100's
backward unit at one and two virtual archs), see
`crates/wheelwright-plan/src/gencode_cost.rs`, whose test checks it against
`fit.py --sigma 0.123 --json`.

JSONL defaults to the committed `data/fa2_arch_costs_cpu.jsonl`. Every
number is CPU seconds (user + sys of nvcc and its tools) or the peak summed
RSS of the compile's process tree; lines with a non-zero exit are ignored.

1. Per target, one gencode at `--threads 1`: each unit's CPU time and peak
   over the same unit's sm_90 compile; the geometric mean over the units
   (and the range) is the target's factor. sm_90 is the reference because
   the GPU machine's measured per-unit times are sm_90 compiles.
2. The gencode-independent share sigma: a compile of the gencode set S at
   `--threads 1` does the shared work F once and each gencode's own work
   D_a once, c(S) = F + sum D_a, while each single compile is
   c_a = F + D_a; so F = (sum c_a - c(S)) / (|S| - 1) and sigma = F / c_90.
3. The per-gencode work relative to sm_90's, the factor the planner uses
   for a target inside a multi-gencode compile:
   r_a = (c_a - F) / (c_90 - F), with F = sigma * c_90.
4. Memory of k gencodes in parallel (`--threads k`, k = min(T, |S|)):
   rho = (peak(S, T=k) / peak(S, T=1) - 1) / (k - 1), the cost model's
   per-parallel-gencode growth; and peak(S, T=1) / peak(sm_90).
"""
import json
import math
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "crates", "wheelwright-plan", "data", "fa2_arch_costs_cpu.jsonl")


def gmean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v))


def main(argv):
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    given_sigma = None
    if "--sigma" in args:
        i = args.index("--sigma")
        given_sigma = float(args[i + 1])
        del args[i:i + 2]
    path = args[0] if args else DEFAULT
    recs = [json.loads(l) for l in open(path) if l.strip()]
    ok = [r for r in recs if r["rc"] == 0 and "guard" not in r]
    single = {}  # (unit, target) -> record (rep 0 preferred)
    for r in ok:
        if len(r["targets"]) == 1 and r["nvcc_threads"] == 1:
            key = (r["unit"], r["targets"][0])
            if key not in single or r["rep"] == 0:
                single[key] = r
    units = sorted({u for u, _ in single})
    targets = sorted({t for _, t in single}, key=lambda t: (t.startswith("compute"), int("".join(c for c in t if c.isdigit())), t))
    out = {"source": os.path.relpath(path), "units": units, "targets": {}, "sigma": {}, "rho": {},
           "repeat": {}}
    # 1. single-gencode ratios to sm_90.
    for t in targets:
        tr, mr = [], []
        for u in units:
            a, b = single.get((u, t)), single.get((u, "sm_90"))
            if a and b:
                tr.append(a["cpu_s"] / b["cpu_s"])
                mr.append(a["peak_tree_rss_bytes"] / b["peak_tree_rss_bytes"])
        if tr:
            out["targets"][t] = {"units": len(tr), "time": round(gmean(tr), 3),
                                 "time_range": [round(min(tr), 3), round(max(tr), 3)],
                                 "peak": round(gmean(mr), 3),
                                 "peak_range": [round(min(mr), 3), round(max(mr), 3)]}
    # 2. sigma from multi-gencode compiles at --threads 1.
    sigmas = []
    for r in ok:
        s = r["targets"]
        if len(s) < 2 or r["nvcc_threads"] != 1:
            continue
        parts = [single.get((r["unit"], t)) for t in s]
        ref = single.get((r["unit"], "sm_90"))
        if not all(parts) or not ref:
            continue
        f = (sum(p["cpu_s"] for p in parts) - r["cpu_s"]) / (len(s) - 1)
        sig = f / ref["cpu_s"]
        sigmas.append(sig)
        out["sigma"]["%s %s" % (r["unit"], "+".join(s))] = round(sig, 3)
    if sigmas:
        out["sigma_mean"] = round(sum(sigmas) / len(sigmas), 3)
    if sigmas or given_sigma is not None:
        sigma = given_sigma if given_sigma is not None else out["sigma_mean"]
        out["sigma_used"] = sigma
        # 3. per-gencode work relative to sm_90's.
        for t, v in out["targets"].items():
            w = []
            for u in units:
                a, b = single.get((u, t)), single.get((u, "sm_90"))
                if a and b:
                    f = sigma * b["cpu_s"]
                    w.append((a["cpu_s"] - f) / (b["cpu_s"] - f))
            v["gencode_work"] = round(sum(w) / len(w), 4)
    # 4. rho from --threads k against --threads 1, same unit and set.
    rhos = []
    by = {(r["unit"], tuple(r["targets"]), r["nvcc_threads"]): r for r in ok}
    for (u, s, t), r in sorted(by.items()):
        k = min(t, len(s))
        base = by.get((u, s, 1))
        if k < 2 or not base:
            continue
        ratio = r["peak_tree_rss_bytes"] / base["peak_tree_rss_bytes"]
        rho = (ratio - 1) / (k - 1)
        rhos.append(rho)
        one = single.get((u, "sm_90"))
        out["rho"]["%s %s T=%d" % (u, "+".join(s), t)] = {
            "rho": round(rho, 3), "peak_gib": round(r["peak_tree_rss_bytes"] / 2**30, 2),
            "t1_over_sm90": round(base["peak_tree_rss_bytes"] / one["peak_tree_rss_bytes"], 3) if one else None,
            "cpu_over_t1": round(r["cpu_s"] / base["cpu_s"], 3)}
    if rhos:
        out["rho_max"] = round(max(rhos), 3)
        out["rho_mean"] = round(sum(rhos) / len(rhos), 3)
    # Run-to-run spread: the same compile twice.
    for r in ok:
        if r["rep"] > 0:
            first = single.get((r["unit"], r["targets"][0]))
            if first and first is not r:
                out["repeat"]["%s %s" % (r["unit"], r["targets"][0])] = round(r["cpu_s"] / first["cpu_s"], 3)
    if as_json:
        print(json.dumps(out, indent=1))
        return 0
    print("%d compiles (%d units) from %s" % (len(ok), len(units), out["source"]))
    print("\n1. one gencode, --threads 1, over the same unit's sm_90 (geometric mean, range):")
    print("   %-12s %5s  %-6s %-13s %-6s %-13s %s" % ("target", "units", "time", "", "peak", "", "gencode work (3.)"))
    for t, v in out["targets"].items():
        print("   %-12s %5d  %.3f  %.3f-%.3f  %.3f  %.3f-%.3f  %s" % (
            t, v["units"], v["time"], *v["time_range"], v["peak"], *v["peak_range"], v.get("gencode_work", "-")))
    print("\n2. sigma (gencode-independent share of an sm_90 compile):")
    for k, v in out["sigma"].items():
        print("   %.3f  %s" % (v, k))
    if sigmas:
        print("   mean %.3f" % out["sigma_mean"])
    if "sigma_used" in out:
        print("   gencode work (3.) at sigma %.3f" % out["sigma_used"])
    print("\n4. rho (peak growth per parallel gencode):")
    for k, v in out["rho"].items():
        print("   %.3f  %s (%.2f GiB; T=1 peak / sm_90 peak %s; CPU T=k / T=1 %.3f)" % (
            v["rho"], k, v["peak_gib"], v["t1_over_sm90"], v["cpu_over_t1"]))
    if rhos:
        print("   max %.3f, mean %.3f" % (out["rho_max"], out["rho_mean"]))
    if out["repeat"]:
        print("\nrepeats (second CPU time / first): %s" % out["repeat"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
