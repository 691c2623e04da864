#!/usr/bin/env python3
"""Fit data/fa3_costs.tsv's flash-attn 3 factors to the CPU box's measurements (issue 29 §3).

    fa3_cpu_fit.py --plan EST_PLAN_JSON [--plan ...] --tsv data/fa3_costs.tsv \\
        --fa2-tu data/fa2_tu_h100.jsonl --ref-alone SECONDS --two-gencode-growth G SAMPLES_JSONL...

SAMPLES_JSONL: `unit_sample.py`'s lines for `fa3_cpu_units.py`'s commands, one
file a round, in the order they ran. A round's scale (CPU s here per second
alone on the model's reference host) is its flash-attn 2.8.3 reference unit's
CPU seconds over --ref-alone (`bench/fa3_unit_costs.py`'s `model_alone` of
that unit); a round without one uses the previous round's.

EST_PLAN_JSON: `wheelwright plan --recipe flash-attn-3 --cpus 1 --max-jobs 1
--nvcc-threads 1 --json --schedule` made by a binary whose fa3_costs.tsv has
no `unit` rows (every unit estimated), so each unit's span is the estimate
alone on the reference host: `--archs 90`, and `--archs 80,90a` for the sm80
files. The estimate's time factor is the tsv's, so a unit's implied factor is
its measured time over the estimate times that factor. Peaks: the estimate's
base is flash-attn 2.8.3's class peak (same kind and head dim, not causal:
the mean over its files of each file's largest single-gencode `--threads 1`
peak in --fa2-tu, as the cost model takes it), so the implied peak factor is
the measured peak over that base.

Prints, in Markdown: each round's scale; each unit against its estimate; per
kind the implied time and peak factors (mean, range, count); the fixed share
of an sm90 forward file's time (from each `_reduced` file, 4 of 9 kernels,
against the same file at the default switches); and the `cpu-unit` rows for
data/fa3_costs.tsv (not `_reduced` files, which the GPU rows cover; the two helpers, compiled for
sm_90a and sm_80 at once, at one gencode: divided by --two-gencode-growth, the
model's time growth for those two gencodes at `--threads 1`, which a plan
shows as flash_prepare_scheduler's span over its one-gencode `unit` row).
"""
import argparse
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa3_cpu_compare import plan_alone  # noqa: E402

REDUCED_KERNELS, DEFAULT_KERNELS = 4, 9
FA2_HDIMS = [32, 64, 96, 128, 192, 256]


def tsv_factors(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 4 and f[0] == "factor":
            out[f[1]] = (float(f[2]), float(f[3]))
    return out


def widest(stem):
    return max(int(x) for x in re.findall(r"hdim(\d+)(?:_(\d+))?", stem)[0] if x)


def kind_of(stem):
    m = re.match(r"flash_(fwd|bwd)_.*_(sm80|sm90)$", stem)
    return "%s_%s" % m.groups() if m else None


def tsv_gpu_rows(path):
    """The GPU machine's `unit` rows: stem -> (seconds, kernels or None)."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 4 and f[0] == "unit":
            out[f[1]] = (float(f[2]), int(f[4]) if len(f) > 4 else None)
    return out


def mean_predictor(known, share):
    """The planner's estimate of an unmeasured unit (fa3_cost.rs `measured_mean`):
    the mean time of the known units of its kind and widest head dim, else of
    its kind; a v dim of 512 doubles; sm90 forward times at 9 kernels."""
    norm = []
    for stem, (secs, kernels) in known.items():
        k = kind_of(stem)
        if not k:
            continue
        if kernels:
            secs /= share + (1 - share) * kernels / DEFAULT_KERNELS
        norm.append((k, widest(stem), secs / max(widest(stem) / 256, 1)))

    def predict(stem):
        k, w = kind_of(stem), widest(stem)
        same = [t for kk, ww, t in norm if kk == k and ww == w] or [t for kk, _, t in norm if kk == k]
        return statistics.mean(same) * max(w / 256, 1) if same else None
    return predict


def fa2_class(stem):
    """(kind, hdim, causal) of a flash-attn 2.8.3 file, as the cost model classifies it."""
    m = re.match(r"flash_(fwd_split|fwd|bwd)_hdim(\d+)_\w+?(_causal)?_sm\d+$", stem)
    return (m.group(1), int(m.group(2)), bool(m.group(3))) if m else None


def fa2_class_peaks(path):
    per_unit = {}
    for line in open(path):
        t = json.loads(line)
        if t.get("rc") != 0 or len(t.get("gencodes") or []) != 1 or t.get("nvcc_threads") != 1:
            continue
        per_unit[t["unit"]] = max(per_unit.get(t["unit"], 0.0), t["peak_tree_rss_gib"])
    classes, kinds = {}, {}
    for stem, gib in per_unit.items():
        c = fa2_class(stem)
        if c:
            classes.setdefault(c, []).append(gib)
            kinds.setdefault(c[0], []).append(gib)
    return ({c: statistics.mean(v) for c, v in classes.items()},
            {k: statistics.mean(v) for k, v in kinds.items()})


def fa3_base_peak(stem, kind, classes, kinds):
    if kind == "helper":
        fa2_kind, hdim = "fwd", 64
    else:
        fa2_kind = "fwd" if kind.startswith("fwd") else "bwd"
        hdim = next((h for h in FA2_HDIMS if h >= widest(stem)), 256)
    return classes.get((fa2_kind, hdim, False), kinds.get(fa2_kind))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("samples", nargs="+")
    ap.add_argument("--plan", action="append", required=True)
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--fa2-tu", required=True)
    ap.add_argument("--ref-alone", type=float, required=True)
    ap.add_argument("--two-gencode-growth", type=float, required=True)
    ap.add_argument("--hold-out", type=int, default=0, metavar="K",
                    help="fit on all but the last K sample files and print how the fit predicts their units")
    a = ap.parse_args()
    est = plan_alone(a.plan)
    factors = tsv_factors(a.tsv)
    classes, kinds = fa2_class_peaks(a.fa2_tu)

    units, scale = [], None
    print("## Rounds\n")
    held_from = len(a.samples) - a.hold_out
    for i, path in enumerate(a.samples):
        recs = [json.loads(l) for l in open(path) if l.strip()]
        recs = [r for r in recs if "summary" not in r and r.get("name")]
        refs = [r for r in recs if r.get("family") == "fa2" and r.get("rc") == 0]
        if refs:
            scale = statistics.mean(r["cpu_s"] for r in refs) / a.ref_alone
            print("- %s: scale %.3f (%s %.1f CPU s / %.2f s)" % (path, scale, refs[0]["name"], refs[0]["cpu_s"],
                                                               a.ref_alone))
        elif scale is None:
            raise SystemExit("%s: no flash-attn 2 reference and no earlier round: no scale" % path)
        else:
            print("- %s: no reference; the previous round's scale %.3f" % (path, scale))
        for r in recs:
            if r.get("family") == "fa3" and r.get("rc") == 0 and not r.get("cut"):
                units.append(dict(r, ref_s=r["cpu_s"] / scale, gib=r["peak_tree_rss_bytes"] / 2**30,
                                  held=i >= held_from))

    print("\n## Units against the estimate (reference-host seconds; peaks in GiB)\n")
    print("| unit | kind | ref-host s | estimate s | time / estimate | implied time factor | peak | base peak | implied peak factor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    implied = {}
    by_name = {u["name"]: u for u in units}
    for u in units:
        if u["name"].endswith("_reduced"):
            continue
        stem, kind = u["name"], u["kind"]
        e = est.get(stem)
        tf, _ = factors.get(kind, (1.0, 1.0))
        base = fa3_base_peak(stem, kind, classes, kinds)
        it = u["ref_s"] / e * tf if e else None
        ip = u["gib"] / base if base else None
        if not u["held"]:
            implied.setdefault(kind, []).append((it, ip))
        print("| %s | %s | %.1f | %s | %s | %s | %.2f | %s | %s |" % (
            stem, kind, u["ref_s"], "%.1f" % e if e else "-", "%.2f" % (u["ref_s"] / e) if e else "-",
            "%.2f" % it if it else "-", u["gib"], "%.2f" % base if base else "-", "%.2f" % ip if ip else "-"))

    if a.hold_out:
        print("\nThe fit below uses the first %d sample files; the last %d are held out." % (held_from, a.hold_out))
    print("\n## Implied factors per kind (tsv's now in brackets)\n")
    print("| kind | units | time factor: mean (min-max) | peak factor: mean (min-max) |")
    print("|---|---:|---|---|")
    fitted = {}
    for kind, v in sorted(implied.items()):
        ts = [t for t, _ in v if t]
        ps = [p for _, p in v if p]
        tf, pf = factors.get(kind, (1.0, 1.0))
        fitted[kind] = (statistics.mean(ts), statistics.mean(ps))
        print("| %s | %d | %.2f (%.2f-%.2f) [%.2f] | %.2f (%.2f-%.2f) [%.2f] |" % (
            kind, len(v), statistics.mean(ts), min(ts), max(ts), tf,
            statistics.mean(ps), min(ps), max(ps), pf))

    fit_shares = []
    for stem in {u["name"][: -len("_reduced")] for u in units if u["name"].endswith("_reduced") and not u["held"]}:
        plain = [u for u in units if u["name"] == stem and not u["held"]]
        t4 = [u["ref_s"] for u in units if u["name"] == stem + "_reduced" and not u["held"]]
        if plain:
            r = statistics.mean(t4) / plain[0]["ref_s"]
            k = REDUCED_KERNELS / DEFAULT_KERNELS
            fit_shares.append((r - k) / (1 - k))
    if a.hold_out:
        print("\n## Held-out units: the estimate before, and with the factors fitted without them\n")
        share = statistics.mean(fit_shares) if fit_shares else 0.25
        known = tsv_gpu_rows(a.tsv)
        for u in units:
            if not u["held"] and not u["name"].endswith("_reduced") and u["kind"] != "helper":
                known[u["name"]] = (u["ref_s"], None)  # the CPU box's 9-kernel compile is nearer the default
        predict = mean_predictor(known, share)
        print("| unit | kind | measured s | before: s (measured / it) | fitted factors: s (measured / it) "
              "| FA3 class or kind mean: s (measured / it) | peak | fitted peak (measured / it) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        before, after, means, peaks = [], [], [], []
        for u in units:
            stem, kind = u["name"], u["kind"]
            if not u["held"] or stem.endswith("_reduced") or kind not in fitted or stem not in est:
                continue
            e = est[stem]
            f = e * fitted[kind][0] / factors.get(kind, (1.0, 1.0))[0]
            pk = fa3_base_peak(stem, kind, classes, kinds) * fitted[kind][1]
            m = predict(stem)
            before.append(u["ref_s"] / e)
            after.append(u["ref_s"] / f)
            means.append(u["ref_s"] / m)
            peaks.append(u["gib"] / pk)
            print("| %s | %s | %.1f | %.1f (%.2f) | %.1f (%.2f) | %.1f (%.2f) | %.2f | %.2f (%.2f) |" % (
                stem, kind, u["ref_s"], e, u["ref_s"] / e, f, u["ref_s"] / f, m, u["ref_s"] / m,
                u["gib"], pk, u["gib"] / pk))
        if after:
            dev = lambda v: statistics.median(abs(x - 1) for x in v)
            print("\n%d held-out units, median |measured / predicted - 1| of the time: %.0f %% by the estimate "
                  "before, %.0f %% by the fitted factors (range %.2f-%.2f), %.0f %% by the mean of the measured "
                  "flash-attn 3 units of the class or kind (range %.2f-%.2f; fixed share %.2f); of the peak "
                  "%.0f %% by the fitted factors (range %.2f-%.2f)" % (
                      len(after), 100 * dev(before), 100 * dev(after), min(after), max(after),
                      100 * dev(means), min(means), max(means), share, 100 * dev(peaks), min(peaks), max(peaks)))

    print("\n## sm90 forward: the fixed share of a file's time\n")
    k = REDUCED_KERNELS / DEFAULT_KERNELS
    reduced = {}
    for u in units:
        if u["name"].endswith("_reduced"):
            reduced.setdefault(u["name"][: -len("_reduced")], []).append(u["ref_s"])
    shares = []
    for stem, times in reduced.items():
        plain = by_name.get(stem)
        if not plain:
            print("- %s: its default-switch file was not measured" % stem)
            continue
        t4 = statistics.mean(times)
        r = t4 / plain["ref_s"]
        s = (r - k) / (1 - k)
        shares.append(s)
        print("- %s: %s s with %d kernels (%d compile%s), %.1f s with %d: ratio %.3f, fixed share %.2f" % (
            stem, " and ".join("%.1f" % t for t in times), REDUCED_KERNELS, len(times),
            "s" if len(times) > 1 else "", plain["ref_s"], DEFAULT_KERNELS, r, s))
    if shares:
        print("- mean fixed share %.2f over %d head dims (the model had 0.25)" % (statistics.mean(shares), len(shares)))

    print("\n## cpu-unit rows\n")
    for u in units:
        if u["name"].endswith("_reduced"):
            continue
        if u["kind"] == "helper":
            # Compiled for sm_90a and sm_80 at once: its time at one gencode
            # by the model's growth for the second; its peak is left to the
            # estimate.
            g = a.two_gencode_growth
            print("cpu-unit  %s  %.1f  -    # %.1f s at 2 gencodes / %.3f" % (u["name"], u["ref_s"] / g, u["ref_s"], g))
            continue
        print("cpu-unit  %s  %.1f  %.2f" % (u["name"], u["ref_s"], u["gib"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
