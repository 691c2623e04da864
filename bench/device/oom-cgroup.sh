#!/usr/bin/env bash
# Issue 15 §1 on the GPU machine: OOM recovery that converges. 20 real
# flash-attn 2.8.3 kernels (a torch CUDAExtension, bench/device/fa_subset) built
# by `wheelwright build --max-jobs 16` (forced) inside a fresh cgroup v2 with
# memory.max=48G, swap off.
#
# What the kernel does there (bench/results/h200-oom-cgroup-thrash): it does
# not OOM-kill for ~16 minutes but thrashes, memory.current = memory.max and
# memory.pressure "full avg10" 84-88 %. Expected now: attempt 1 stopped by
# wheelwright's thrash watchdog (outcome `thrashing`, verdict "tasks stalled on
# memory N % of the last 10 s at the 48.0 GiB cgroup limit for 30 s:
# thrashing") within about a minute or two (the compilers fill the cgroup in
# ~1 min, then 30 s of a full stall share >= 50 % of the last 10 s, from PSI's
# `full total`), or `oom-killed` if the kernel kills
# first; attempt 2 re-planned for the 48G limit with the cost model at the
# planner's own MAX_JOBS (9, as plan.json says) and `ok`, without thrashing
# (its watchdog would stop it again). collect prints each attempt's outcome,
# seconds and verdict and the time lost (time_lost_seconds) with its share.
# About 20 minutes (attempt 2 is predicted at 1,025 s): start it detached,
# poll with back-to-back calls.
#
# Records in $OUT: report.json, ninja_log (ninja's .ninja_log), build.log tail,
# console, cgroup.json (cgroup_run.py: wall, rc, peak RSS, memory.peak),
# memory.events and memory.pressure at the end, ninja_ratio.json, plan.json (the planner's own
# choice for this limit, for comparison).
#
# Here:    cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/ \
#            && cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry/
# Device, first call (carry [".carry"]):
#          bash bench/device/oom-cgroup.sh start && bash bench/device/oom-cgroup.sh wait 540
# Next calls, back to back:   bash bench/device/oom-cgroup.sh wait 570
set -u
W=/tmp/oomcg
BIN=${BIN:-.carry/wheelwright}
[ -x "$BIN" ] || BIN=./target/release/wheelwright
SDIST=${SDIST:-.carry/flash_attn-2.8.3.tar.gz}
LIMIT=${LIMIT:-48G}
JOBS=${JOBS:-16}
OUT=${OUT:-/tmp/oomcg-out}
mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")" && pwd)
# 20 units whose cost profile follows the full build's: the heavy backward
# kernels, the long split-KV forward ones and plain forward ones.
UNITS="
flash_bwd_hdim64_fp16_sm80 flash_bwd_hdim64_bf16_sm80
flash_bwd_hdim128_fp16_sm80 flash_bwd_hdim128_bf16_sm80
flash_bwd_hdim192_fp16_sm80 flash_bwd_hdim192_bf16_sm80
flash_bwd_hdim256_fp16_sm80 flash_bwd_hdim256_bf16_sm80
flash_fwd_split_hdim64_fp16_sm80 flash_fwd_split_hdim64_bf16_sm80
flash_fwd_split_hdim128_fp16_sm80 flash_fwd_split_hdim128_bf16_sm80
flash_fwd_split_hdim256_fp16_sm80 flash_fwd_split_hdim256_bf16_sm80
flash_fwd_hdim64_fp16_causal_sm80 flash_fwd_hdim64_bf16_causal_sm80
flash_fwd_hdim128_fp16_sm80 flash_fwd_hdim128_bf16_sm80
flash_fwd_hdim256_fp16_sm80 flash_fwd_hdim256_bf16_sm80
"
. "$(dirname "$0")/detached.sh"
case "${1:-status}" in
start)
  rm -rf $W; mkdir -p $W/fa $W/src
  nproc; free -g | head -2; nvidia-smi -L; "$BIN" --version
  tar -xzf "$SDIST" -C $W/fa --strip-components=1
  cp "$HERE/fa_subset/setup.py" $W/src/
  for u in $UNITS; do cp "$W/fa/csrc/flash_attn/src/$u.cu" $W/src/ || exit 1; done
  ls $W/src/*.cu | wc -l
  # The planner's own choice for this limit (no forcing), for the record.
  FA_ROOT=$W/fa "$BIN" plan --recipe torch-ext --source $W/src --archs 90 \
    --memory-limit "$LIMIT" --nvcc-threads 1 --json >$W/plan.json 2>$W/plan.err
  python3 -c "import json;p=json.load(open('$W/plan.json'));print('planner for',p['memory_ceiling_bytes'],'B ceiling: MAX_JOBS',p['max_jobs'])"
  FA_ROOT=$W/fa setsid nohup python3 "$HERE/cgroup_run.py" wheelwright-oom --memory-max "$LIMIT" -- \
    "$BIN" build $W/src --recipe torch-ext --archs 90 --max-jobs "$JOBS" --nvcc-threads 1 \
    --no-verify --force --work-dir $W/work --out $W/out \
    >$W/console.log 2>&1 </dev/null &
  echo $! >$W/pid
  echo "started pid $! at $(date -u +%FT%TZ): memory.max=$LIMIT, --max-jobs $JOBS" | tee $W/started ;;
wait)
  wait_then_collect "${2:-}" ;;
collect)
  cat $W/started 2>/dev/null; date -u +%FT%TZ
  grep -E "^wheelwright: |out of memory|re-planned|not an out-of-memory|thrash" $W/console.log | tail -n 12 | cut -c1-400
  cat /sys/fs/cgroup/wheelwright-oom/memory.events 2>/dev/null | tee "$OUT/memory.events"
  cat /sys/fs/cgroup/wheelwright-oom/memory.pressure 2>/dev/null | tee "$OUT/memory.pressure"
  copy_records
  grep -E '^\{"name": "wheelwright-oom"' $W/console.log >"$OUT/cgroup.json" 2>/dev/null
  # pip wheel builds in the source tree (src/build/temp.*), not in the work dir.
  find $W/work $W/src -name .ninja_log -exec cp {} "$OUT/ninja_log" \; 2>/dev/null
  if [ -f $W/out/report.json ]; then
    python3 - "$W/out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for i, a in enumerate(r.get("attempts", []), 1):
    print("attempt %d: MAX_JOBS=%s %s %.0f s, pressure peak %s %%" % (
        i, a["max_jobs"], a["outcome"], a["seconds"], a.get("memory_pressure_peak")))
    for line in [a.get("verdict")] + a.get("notes", []):
        if line:
            print("  " + line[:400])
total = sum(a["seconds"] for a in r.get("attempts", []))
lost = r.get("time_lost_seconds", 0)
print("outcome %s; lost %.0f s of %.0f s (%.1f %%)" % (r.get("outcome"), lost, total, 100 * lost / total if total else 0))
PY
    jobs=$(python3 -c "import json;print(json.load(open('$W/out/report.json'))['attempts'][-1]['max_jobs'])" 2>/dev/null || echo "$JOBS")
    [ -f "$OUT/ninja_log" ] && python3 bench/ninja_ratio.py "$OUT/ninja_log" "$jobs" --json >"$OUT/ninja_ratio.json"
  fi
  [ -f $W/out/report.json ] && ! running && echo "REPORT WRITTEN" ;;
status)
  say_status ;;
esac
