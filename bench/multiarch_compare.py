#!/usr/bin/env python3
"""Predicted against measured for bench/device/multiarch.sh's build.

    python3 bench/multiarch_compare.py OUT_DIR [--binary BIN] [--sdist SDIST]

OUT_DIR holds what the device call brought back (plan.json, report.json,
ninja_log, cgroup.json, refs.jsonl, host.txt). Prints and writes
OUT_DIR/compare.json:
- measured: the build's wall (cgroup_run: the whole `wheelwright build`),
  ninja's span, the peak summed RSS of the build tree and the cgroup's
  memory.peak, the outcome, MAX_JOBS/NVCC_THREADS as built;
- the machine's speed from refs.jsonl (two flash-attn 2.8.3 units at sm_90
  alone before the build: their time with the model's contention divided
  out, over the model's time for them; `fa3_unit_costs.model_alone`);
- predicted by the plan the device made (the carried binary's model), and
  by BIN's model now (`plan` on the same pruned tree, archs, CPUs, memory,
  MAX_JOBS and NVCC_THREADS as built): wall at the reference speed and at
  the measured speed (longest first, as `wheelwright build` orders ninja),
  and peak; each with its error against the measurement.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fa3_unit_costs import model_alone, slowdown  # noqa: E402

G = 2**30


def span(path):
    ends, starts = [], []
    for line in open(path):
        f = line.split("\t")
        if line.startswith("#") or len(f) < 4:
            continue
        starts.append(int(f[0])); ends.append(int(f[1]))
    return (max(ends) - min(starts)) / 1000 if ends else None


def plan_now(binary, sdist, units, archs, cpus, memory, jobs, threads):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["tar", "-xzf", sdist, "-C", d], check=True)
        tree = os.path.join(d, "flash_attn-2.8.3")
        subprocess.run([sys.executable, os.path.join(HERE, "compare", "prune.py"), tree, units],
                       check=True, stdout=subprocess.DEVNULL)
        out = subprocess.run([binary, "plan", "--source", tree, "--archs", archs, "--cpus", str(cpus),
                              "--memory", "%dB" % memory, "--max-jobs", str(jobs), "--nvcc-threads", str(threads),
                              "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    d = argv[0]
    binary = argv[argv.index("--binary") + 1] if "--binary" in argv else "target/release/wheelwright"
    sdist = argv[argv.index("--sdist") + 1] if "--sdist" in argv else "../shared/upstream/flash_attn-2.8.3.tar.gz"
    units = argv[argv.index("--units") + 1] if "--units" in argv else os.path.join(HERE, "device", "multiarch-units.txt")
    plan = json.load(open(os.path.join(d, "plan.json")))
    report = json.load(open(os.path.join(d, "report.json")))
    cg = json.loads(open(os.path.join(d, "cgroup.json")).read().strip())
    attempt = report["attempts"][-1]
    jobs, threads = attempt["max_jobs"], attempt["nvcc_threads"]
    res = {"archs": plan["archs"], "gencode_flags": plan["gencode_flags"], "units": plan["units"],
           "cpus": plan["cpus"], "max_jobs": jobs, "nvcc_threads": threads,
           "measured": {"wall_seconds": cg["wall_seconds"], "ninja_span_seconds": span(os.path.join(d, "ninja_log")),
                        "peak_rss_bytes": cg["peak_rss_bytes"], "cgroup_peak_bytes": cg["cgroup_memory_peak_bytes"],
                        "oom_kills": cg["oom_kills"], "outcome": report.get("outcome"),
                        "attempts": len(report["attempts"])}}
    refs = [json.loads(l) for l in open(os.path.join(d, "refs.jsonl")) if l.strip()]
    refs = [r for r in refs if r.get("family") == "fa2" and r.get("rc") == 0]
    model, c = model_alone(binary, sdist, [r["name"] for r in refs])
    ratios = [r["wall_s"] / slowdown(c, r["mean_running"] / r["cpus"], float(r["cpus"])) / model[r["name"]]
              for r in refs if r["name"] in model]
    speed = sum(ratios) / len(ratios) if ratios else None
    res["speed"] = {"value": speed, "from": {r["name"]: round(q, 3) for r, q in zip(refs, ratios)}}
    memory = plan.get("memory_ceiling_bytes", 0) + plan.get("memory_margin_bytes", 0)
    now = plan_now(binary, sdist, units, ";".join(plan["archs"]), plan["cpus"], memory, jobs, threads)
    m = res["measured"]
    for name, p in (("device_plan", plan), ("model_now", now)):
        lf = p["predicted_longest_first"]
        entry = {"wall_seconds_reference": lf["wall_seconds"], "peak_bytes": lf["peak_memory_bytes"],
                 "max_jobs": p["max_jobs"], "nvcc_threads": p["nvcc_threads"]}
        if speed:
            entry["wall_seconds_at_speed"] = round(lf["wall_seconds"] * speed, 1)
            if m["ninja_span_seconds"]:
                entry["wall_error_vs_ninja_span"] = round(entry["wall_seconds_at_speed"] / m["ninja_span_seconds"] - 1, 3)
        if m["peak_rss_bytes"]:
            entry["peak_error"] = round(lf["peak_memory_bytes"] / m["peak_rss_bytes"] - 1, 3)
        res[name] = entry
    json.dump(res, open(os.path.join(d, "compare.json"), "w"), indent=1)
    print("%s, %d units, MAX_JOBS %s NVCC_THREADS %s on %s CPUs" % (";".join(res["archs"]), res["units"], jobs, threads, res["cpus"]))
    print("measured: wall %s s (ninja span %s s), peak %.1f GiB (cgroup %.1f GiB), %s, oom kills %s" % (
        m["wall_seconds"], m["ninja_span_seconds"], (m["peak_rss_bytes"] or 0) / G, (m["cgroup_peak_bytes"] or 0) / G,
        m["outcome"], m["oom_kills"]))
    print("speed %.3f (%s)" % (speed or 0, res["speed"]["from"]))
    for name in ("device_plan", "model_now"):
        e = res[name]
        print("%-11s wall %.0f s at reference, %s s at this speed (%s vs ninja span); peak %.1f GiB (%s)" % (
            name, e["wall_seconds_reference"], e.get("wall_seconds_at_speed"), e.get("wall_error_vs_ninja_span"),
            e["peak_bytes"] / G, e.get("peak_error")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
