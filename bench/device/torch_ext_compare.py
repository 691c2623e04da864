"""Predicted against measured for a torch-ext build (bench/device/torch-ext.sh).

    python torch_ext_compare.py PLAN REPORT NINJA_LOG WHEEL_CHECK OUT_JSON [PLAN_CALIBRATED]

Reads what exists of: the plan (`plan --json`), the build's report.json, the
work dir's .ninja_log (per-object times; absent for a package that turns
ninja off) and `wheel check --json`; writes OUT_JSON and prints a summary:
units, per-unit gencodes and threads as planned, predicted (ninja's order and
longest first) and measured wall and peak, each object's time against its
predicted time, and the wheel's archs against the plan's.
"""

import json
import os
import sys

G = 2**30


def load(path):
    if path and os.path.exists(path):
        try:
            with open(path) as f:
                return json.load(f)
        except ValueError:
            return None
    return None


def ninja_edges(path):
    edges = {}
    if not path or not os.path.exists(path):
        return edges
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(f) < 4:
            continue
        edges[f[3]] = (int(f[0]), int(f[1]))
    return edges


def gib(b):
    return "%.1f GiB" % (b / G) if b else "?"


def main(plan_p, report_p, log_p, check_p, out_p, calibrated_p=None):
    plan = load(plan_p) or {}
    calibrated = load(calibrated_p) or {}
    report = load(report_p) or {}
    check = load(check_p) or {}
    res = {
        "recipe": plan.get("recipe"),
        "source": plan.get("source"),
        "units": plan.get("units"),
        "archs": plan.get("archs"),
        "gencode_flags": plan.get("gencode_flags"),
        "max_jobs": plan.get("max_jobs"),
        "nvcc_threads": plan.get("nvcc_threads"),
        "env": {k: v for k, v in (plan.get("env") or {}).items()
                if k in ("MAX_JOBS", "NVCC_THREADS", "NVCC_APPEND_FLAGS", "TORCH_CUDA_ARCH_LIST")
                or k.endswith("FORCE_BUILD") or k.startswith("FORCE_")},
        "unit_plan": plan.get("unit_plan"),
        "predicted": plan.get("predicted"),
        "predicted_longest_first": plan.get("predicted_longest_first"),
        "findings": [f.get("id") for f in plan.get("findings", [])],
    }
    edges = ninja_edges(log_p)
    if edges:
        res["ninja_objects"] = len(edges)
        res["ninja_span_seconds"] = (max(e for _, e in edges.values()) - min(s for s, _ in edges.values())) / 1000
        res["object_seconds"] = {k: (e - s) / 1000 for k, (s, e) in sorted(edges.items())}
    if report:
        res["outcome"] = report.get("outcome")
        res["build_seconds"] = report.get("duration_seconds")
        pm = report.get("peak_memory") or {}
        res["measured_peak_bytes"] = pm.get("cgroup_peak_bytes") or pm.get("host_used_bytes")
        res["measured_build_tree_rss_bytes"] = pm.get("build_tree_rss_bytes")
        res["attempts"] = [
            {k: a.get(k) for k in ("max_jobs", "nvcc_threads", "outcome", "seconds")}
            for a in report.get("attempts", [])
        ]
        res["wheel"] = (report.get("wheel") or {}).get("path") if isinstance(report.get("wheel"), dict) else report.get("wheel")
    if check:
        res["wheel_check_required"] = check.get("required_archs")
        res["wheel_binaries"] = [
            {"path": b.get("path"), "sass": b.get("sass"), "ptx": b.get("ptx"), "archs": b.get("archs")}
            for w in check.get("wheels", []) for b in w.get("binaries", [])
        ]
        res["wheel_check_passed"] = all(w.get("passed") for w in check.get("wheels", []))
    if calibrated:
        res["recalibrated"] = {
            "predicted": calibrated.get("predicted"),
            "predicted_longest_first": calibrated.get("predicted_longest_first"),
            "max_jobs": calibrated.get("max_jobs"),
            "nvcc_threads": calibrated.get("nvcc_threads"),
            "costs": calibrated.get("costs"),
            "unit_costs": {u.get("path"): u.get("cost") for u in calibrated.get("unit_plan") or []},
        }
    with open(out_p, "w") as f:
        json.dump(res, f, indent=1)

    print("plan: %s units, archs %s, MAX_JOBS %s, nvcc threads %s, env %s" % (
        res["units"], res["archs"], res["max_jobs"], res["nvcc_threads"], res["env"]))
    for u in res.get("unit_plan") or []:
        print("  unit %-50s %-4s gencodes %-3s %s" % (
            u.get("path"), u.get("compiler"), u.get("gencodes"), u.get("cost") or ""))
    for name in ("predicted", "predicted_longest_first"):
        p = res.get(name) or {}
        print("%s: wall %s s, peak %s" % (name, p.get("wall_seconds"), gib(p.get("peak_memory_bytes"))))
    if "ninja_span_seconds" in res:
        print("measured: ninja span %.0f s over %d objects" % (res["ninja_span_seconds"], res["ninja_objects"]))
        for k, v in sorted(res["object_seconds"].items(), key=lambda kv: -kv[1]):
            print("  %7.1f s  %s" % (v, k))
    if "outcome" in res:
        print("measured: outcome %s, build %s s, peak %s (tree RSS %s), attempts %s" % (
            res["outcome"], res["build_seconds"], gib(res["measured_peak_bytes"]),
            gib(res["measured_build_tree_rss_bytes"]), res["attempts"]))
    if check:
        print("wheel check: passed %s, required %s" % (res["wheel_check_passed"], res["wheel_check_required"]))
        for b in res["wheel_binaries"]:
            print("  %s sass %s ptx %s %s" % (b["path"], b["sass"], b["ptx"], b["archs"]))
    if calibrated:
        rc = res["recalibrated"]
        print("re-plan from this build (--calibrate): %s, units %s" % (
            rc["predicted_longest_first"], rc["unit_costs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))
