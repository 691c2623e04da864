#!/usr/bin/env python3
"""CPU-box flash-attn 3 unit costs against the planner's estimates (issue 29 §3).

    fa3_cpu_compare.py SAMPLES_JSONL PLAN_JSON [PLAN_JSON ...] --ref-alone SECONDS

SAMPLES_JSONL: `unit_sample.py`'s lines for `fa3_cpu_units.py`'s commands (one
compile at a time; `cpu_s` = user + sys of the compile's process tree).
PLAN_JSON: `wheelwright plan --recipe flash-attn-3 --cpus 1 --max-jobs 1
--nvcc-threads 1 --json --schedule` (one CPU, one job: each unit's span in the
schedule is its time alone on the model's reference host); several plans
(e.g. `--archs 90` and `--archs 80,90a`, the latter with the sm80 files) are
merged. --ref-alone: the model's alone time of the flash-attn 2.8.3 reference
unit (`bench/fa3_unit_costs.py`'s `model_alone`).

The scale: the reference unit's CPU seconds here over its alone seconds
there. Each FA3 unit's CPU seconds divided by it are its seconds alone on the
reference host, set against the plan's. The `_reduced` unit (the reduced
build's switches) also has the GPU machine's own measurement (83.8 s,
data/fa3_costs.tsv): a second, FA3-native scale. Prints a Markdown table.
"""
import argparse
import json

GPU_MEASURED = {"flash_fwd_hdim128_bf16_sm90_reduced": 83.8}


def plan_alone(paths):
    out = {}
    for p in paths:
        for j in json.load(open(p))["schedule"]:
            stem = j["name"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
            out[stem] = j["end_seconds"] - j["start_seconds"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("samples")
    ap.add_argument("plans", nargs="+")
    ap.add_argument("--ref-alone", type=float, required=True)
    a = ap.parse_args()
    recs = [json.loads(l) for l in open(a.samples) if l.strip()]
    recs = [r for r in recs if "summary" not in r]
    est = plan_alone(a.plans)
    refs = [r for r in recs if r.get("family") == "fa2" and r.get("rc") == 0]
    if not refs:
        raise SystemExit("no finished flash-attn 2 reference: no scale")
    scale = sum(r["cpu_s"] for r in refs) / len(refs) / a.ref_alone
    print("scale (CPU s here per reference-host s): %.3f from %s (%.1f CPU s / %.1f s)"
          % (scale, refs[0]["name"], refs[0]["cpu_s"], a.ref_alone))
    for r in recs:
        if r["name"] in GPU_MEASURED and r.get("rc") == 0:
            print("FA3-native scale: %.3f (%s: %.1f CPU s / %.1f s measured on the GPU machine)"
                  % (r["cpu_s"] / GPU_MEASURED[r["name"]], r["name"], r["cpu_s"], GPU_MEASURED[r["name"]]))
    print()
    print("| unit | kind | CPU s | wall s | peak GiB | ref-host s (CPU s / scale) | plan's s | measured / plan |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in recs:
        if r.get("family") != "fa3":
            continue
        stem = r["name"].replace("_reduced", "")
        if r.get("cut") or r.get("rc") != 0:
            print("| %s | %s | %s | %.0f | %.2f | %s | %s | |" % (
                r["name"], r["kind"], "cut" if r.get("cut") else "rc %s" % r.get("rc"), r["wall_s"],
                r["peak_tree_rss_bytes"] / 2**30, "> %.0f" % (r["cpu_s"] / scale) if r.get("cpu_s") else "-",
                "%.1f" % est[stem] if stem in est else "-"))
            continue
        here = r["cpu_s"] / scale
        if r["name"] in GPU_MEASURED:
            plan, note = GPU_MEASURED[r["name"]], " (GPU-measured)"
        else:
            plan, note = est.get(stem), ""
        print("| %s | %s | %.1f | %.1f | %.2f | %.1f | %s%s | %s |" % (
            r["name"], r["kind"], r["cpu_s"], r["wall_s"], r["peak_tree_rss_bytes"] / 2**30, here,
            "%.1f" % plan if plan else "-", note, "%.2f" % (here / plan) if plan else "-"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
