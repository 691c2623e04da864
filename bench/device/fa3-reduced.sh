#!/usr/bin/env bash
# Issue 15 §4 on the GPU machine: plan and build a REDUCED flash-attn 3
# (hopper/, package flash_attn_3, sm_90a) with most variants turned off by its
# own FLASH_ATTENTION_DISABLE_* switches, and compare the plan's predicted
# wall time and peak with the measured ones.
#
# Kept: forward sm90 kernels, head dims 64/96/128/192/256, fp16 and bf16
# (varlen and cluster kept). Off: backward, split, paged KV, append-KV, local,
# softcap, packgqa, fp8, the sm80 kernels and the hdim-diff (64_256, 64_512,
# 192_128) kernels. That is 12 units: 10 instantiations +
# flash_api_stable.cpp (torch >= 2.9) + flash_prepare_scheduler.cu. The plan
# here (16 CPUs, 125 GiB, CUDA 13.0, torch 2.11) predicts about 4 minutes and a
# 44-49 GiB peak, from a STATED estimate (no flash-attn 3 unit was measured
# before this run; see crates/wheelwright-plan/data/fa3_costs.tsv).
#
# CUDA 13.0 uses the system nvcc: hopper/setup.py downloads nothing (it would
# on CUDA 12.3-12.9 except 12.8). It still runs `git submodule update` (a shim
# answers if git is missing) and reads ../README.md (in the carry).
#
# Records in $OUT: plan.json (the planner on the switches), report.json,
# ninja_log (ninja's .ninja_log), build.log.tail, console.tail, compare.json
# (predicted vs measured), wheel.txt (the wheel's name and size) and, when the
# import check ran, import.txt.
#
# FA3_SWITCHES (env) replaces the list of FLASH_ATTENTION_DISABLE_* switches
# turned on (names without the prefix): issue 29's validation build keeps the
# backward and softcap files and head dims 128/256 (RUN.md, session 5).
#
# Here:   bash bench/device/fa3-carry.sh FA_GIT_DIR CUTLASS_GIT_DIR target/release/wheelwright
# Device, first call (carry [".carry-fa3"]):
#         bash bench/device/fa3-reduced.sh start && bash bench/device/fa3-reduced.sh wait 520
# Next calls, back to back:   bash bench/device/fa3-reduced.sh wait 570
set -u
W=${W:-/tmp/fa3red}
C=${C:-.carry-fa3}
BIN=${BIN:-$C/wheelwright}
[ -x "$BIN" ] || BIN=./target/release/wheelwright
OUT=${OUT:-/tmp/fa3red-out}
mkdir -p "$OUT"
SWITCHES="BACKWARD SPLIT PAGEDKV APPENDKV LOCAL SOFTCAP PACKGQA FP8 SM80 HDIMDIFF64 HDIMDIFF192"
SWITCHES=${FA3_SWITCHES:-$SWITCHES}
for s in $SWITCHES; do export "FLASH_ATTENTION_DISABLE_$s=TRUE"; done
SRC=$W/flash-attention/hopper
export PATH="$W/bin:$PATH"
. "$(dirname "$0")/detached.sh"
case "${1:-status}" in
start)
  rm -rf $W; mkdir -p $W/bin
  nproc; free -g | head -2; cat /sys/fs/cgroup/memory.max 2>/dev/null; nvidia-smi -L 2>/dev/null
  "$BIN" --version; nvcc --version 2>/dev/null | tail -2; ninja --version 2>/dev/null
  tar -xJf "$C/flash-attention.tar.xz" -C $W || exit 1
  cat $W/flash-attention/PINNED
  if ! command -v git >/dev/null; then
    # hopper/setup.py runs `git submodule update --init ../csrc/cutlass` and
    # does not check its status, but a missing git executable would raise.
    printf '#!/bin/sh\necho "git shim (no git here): $*" >&2\nexit 1\n' >$W/bin/git
    chmod +x $W/bin/git
    echo "git: not installed, shim in $W/bin"
  fi
  "$BIN" plan --recipe flash-attn-3 --source "$SRC" --json >$W/plan.json 2>$W/plan.err
  "$BIN" plan --recipe flash-attn-3 --source "$SRC" 2>&1 | head -16
  jobs=$(python3 -c "import json;print(json.load(open('$W/plan.json'))['max_jobs'])" 2>/dev/null || echo 0)
  units=$(python3 -c "import json;print(json.load(open('$W/plan.json'))['units'])" 2>/dev/null || echo 0)
  ceiling_gib=$(python3 -c "import json;print(json.load(open('$W/plan.json'))['memory_ceiling_bytes'] >> 30)" 2>/dev/null || echo 0)
  extra=()
  # A Firecracker guest can report a small MemTotal at first (see
  # full-build.sh): with a ceiling under 64 GiB on the 125 GiB box, run one
  # job per unit and re-plan that setting so the comparison is with its own
  # prediction.
  if [ "$ceiling_gib" -lt 64 ] && [ "$jobs" -lt "$units" ]; then
    echo "NOTE: plan picked MAX_JOBS=$jobs from a low memory reading (${ceiling_gib} GiB); forcing --max-jobs $units"
    extra=(--max-jobs "$units")
    "$BIN" plan --recipe flash-attn-3 --source "$SRC" --max-jobs "$units" --json >$W/plan.json 2>>$W/plan.err
  fi
  setsid nohup "$BIN" build "$SRC" --recipe flash-attn-3 "${extra[@]}" --no-verify --force \
    --work-dir $W/work --out $W/out >$W/console.log 2>&1 </dev/null &
  echo $! >$W/pid
  echo "started pid $! at $(date -u +%FT%TZ): $units units, ${extra[*]:-planned jobs}" | tee $W/started ;;
wait)
  wait_then_collect "${2:-}" ;;
collect)
  cat $W/started 2>/dev/null; date -u +%FT%TZ
  grep -E "wheelwright: progress" $W/console.log 2>/dev/null | tail -1
  grep -E "^wheelwright: |^  (attempt|wheel|log|report)" $W/console.log 2>/dev/null | tail -n 10 | cut -c1-300
  copy_records
  find "$SRC/build" -name .ninja_log -exec cp {} "$OUT/ninja_log" \; 2>/dev/null
  ls -l $W/out/*.whl 2>/dev/null | tee "$OUT/wheel.txt"
  python3 - "$W/plan.json" "$W/out/report.json" "$OUT/ninja_log" "$OUT/compare.json" <<'PY'
import json, os, sys
plan_p, report_p, log_p, out_p = sys.argv[1:5]
G = 2**30
plan = json.load(open(plan_p)) if os.path.exists(plan_p) else {}
lf = plan.get("predicted_longest_first", {})
res = {"units": plan.get("units"), "max_jobs": plan.get("max_jobs"),
       "nvcc_threads": plan.get("nvcc_threads"),
       "predicted_wall_seconds": lf.get("wall_seconds"),
       "predicted_peak_bytes": lf.get("peak_memory_bytes"),
       "estimated_units": plan.get("costs", {}).get("estimated")}
edges = {}
if os.path.exists(log_p):
    for line in open(log_p):
        f = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(f) < 4:
            continue
        edges[f[3]] = (int(f[0]), int(f[1]))
if edges:
    res["ninja_objects"] = len(edges)
    res["ninja_span_seconds"] = (max(e for _, e in edges.values()) - min(s for s, _ in edges.values())) / 1000
    res["object_seconds"] = {os.path.basename(k): (e - s) / 1000 for k, (s, e) in sorted(edges.items())}
if os.path.exists(report_p):
    r = json.load(open(report_p))
    res["outcome"] = r.get("outcome")
    res["build_seconds"] = r.get("duration_seconds")
    pm = r.get("peak_memory") or {}
    res["measured_peak_bytes"] = pm.get("cgroup_peak_bytes") or pm.get("host_used_bytes")
    res["measured_build_tree_rss_bytes"] = pm.get("build_tree_rss_bytes")
    res["attempts"] = [(a["max_jobs"], a["nvcc_threads"], a["outcome"], round(a["seconds"], 1)) for a in r.get("attempts", [])]
json.dump(res, open(out_p, "w"), indent=1)
def gib(b):
    return "%.1f GiB" % (b / G) if b else "?"
print("units %s, MAX_JOBS %s, NVCC_THREADS %s (%s estimated)" % (res["units"], res["max_jobs"], res["nvcc_threads"], res["estimated_units"]))
print("predicted (longest first): wall %s s, peak %s" % (res["predicted_wall_seconds"], gib(res["predicted_peak_bytes"])))
if "ninja_span_seconds" in res:
    print("measured: ninja span %.0f s over %d objects" % (res["ninja_span_seconds"], res["ninja_objects"]))
    for k, v in sorted(res["object_seconds"].items(), key=lambda kv: -kv[1]):
        print("  %7.1f s  %s" % (v, k))
if "outcome" in res:
    print("measured: outcome %s, build %.0f s, peak %s (tree RSS %s), attempts %s" % (
        res["outcome"], res["build_seconds"] or 0, gib(res["measured_peak_bytes"]),
        gib(res["measured_build_tree_rss_bytes"]), res["attempts"]))
PY
  whl=$(ls $W/out/*.whl 2>/dev/null | head -1)
  if [ -n "$whl" ] && [ ! -f "$OUT/import.txt" ] && ! running; then
    # Import and one forward pass with the wheel on the build's own torch.
    PY=/opt/torch/.venv/bin/python3; [ -x $PY ] || PY=python3
    rm -rf $W/site && $PY -m pip install --no-deps --no-index -q -t $W/site "$whl" >"$OUT/import.txt" 2>&1
    PYTHONPATH=$W/site $PY - >>"$OUT/import.txt" 2>&1 <<'PY'
import torch, flash_attn_3
from flash_attn_interface import flash_attn_func
q, k, v = (torch.randn(2, 256, 8, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
out = flash_attn_func(q, k, v, causal=True)
out = out[0] if isinstance(out, tuple) else out
ref = torch.nn.functional.scaled_dot_product_attention(
    q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True).transpose(1, 2)
print("flash_attn_3 forward max |err| vs sdpa: %.4g" % (out - ref).abs().max().item())
PY
    cat "$OUT/import.txt"
  fi
  [ -f $W/out/report.json ] && ! running && echo "REPORT WRITTEN" ;;
status)
  say_status ;;
esac
