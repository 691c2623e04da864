#!/usr/bin/env bash
# The full flash-attn 2.8.3 build through `wheelwright build` on the GPU machine
# (sm_90 only, as planned for that host), with the import and forward-pass check
# in a fresh venv, then whatever `bench/device/after-build.d/*.sh` holds (wheel
# check, publish to a wheelhouse, runner labels: each helper adds its own step).
# About 17-24 minutes: start it detached, then poll with back-to-back calls;
# every call copies what there is to $OUT, so a build cut off by the session's
# device time still leaves its partial report.
#
# What it records in $OUT: plan.json, report.json, ninja's .ninja_log as
# `ninja_log`, ninja_ratio.json (span / (sum of edge times / MAX_JOBS), by
# bench/ninja_ratio.py), build.log (tail), the console, and after-build.tgz
# (each after-build step's output; at most 8 files come back from the device).
#
# Here (the binary and the sdist travel in .carry/, which .gitignore lists):
#   cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/ \
#     && cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry/
# Device, first call (carry [".carry"]):
#   bash bench/device/full-build.sh start && bash bench/device/full-build.sh wait 540
# Device, next calls (back to back; no carry needed, .carry stays there):
#   bash bench/device/full-build.sh wait 570
# Device, the call in which it ends (or any call after):
#   bash bench/device/full-build.sh wait 540; bash bench/device/full-build.sh after
set -u
W=/tmp/fullbuild
BIN=${BIN:-.carry/wheelwright}
[ -x "$BIN" ] || BIN=./target/release/wheelwright
SDIST=${SDIST:-.carry/flash_attn-2.8.3.tar.gz}
OUT=${OUT:-/tmp/fullbuild-out}
mkdir -p "$OUT"
. "$(dirname "$0")/detached.sh"
case "${1:-status}" in
start)
  rm -rf $W; mkdir -p $W
  nproc; free -g | head -2; cat /sys/fs/cgroup/memory.max 2>/dev/null; nvidia-smi -L
  "$BIN" --version; sha256sum "$SDIST"; ninja --version 2>/dev/null
  "$BIN" plan --json >$W/plan.json 2>$W/plan.err
  "$BIN" plan 2>&1 | head -40
  jobs=$(python3 -c "import json;print(json.load(open('$W/plan.json'))['max_jobs'])" 2>/dev/null || echo 0)
  extra=()
  # Firecracker guests can report a small MemTotal at first and grow it as memory
  # is used; a plan made from that reading is too cautious for this 128 GiB box.
  # Say so and run the full 16 jobs (the planner's choice on this host before).
  if [ "$jobs" -lt 12 ]; then
    echo "NOTE: plan picked MAX_JOBS=$jobs from a low memory reading; forcing --max-jobs 16"
    extra=(--max-jobs 16)
  fi
  setsid nohup "$BIN" build "$SDIST" "${extra[@]}" \
    --work-dir $W/work --out $W/out >$W/console.log 2>&1 </dev/null &
  echo $! >$W/pid
  echo "started pid $! at $(date -u +%FT%TZ) with: $BIN build $SDIST ${extra[*]}" | tee $W/started ;;
wait)
  # Until the build ends, at most $2 seconds.
  wait_then_collect "${2:-}" ;;
collect)
  cat $W/started 2>/dev/null; date -u +%FT%TZ
  grep -E "wheelwright: progress" $W/console.log | tail -2
  grep -E "^wheelwright: |^  (attempt|verify|wheel|log|report)" $W/console.log | tail -n 12 | cut -c1-300
  grep -m2 -E "ninja order|longest first" $W/out/build.log 2>/dev/null | cut -c1-300
  copy_records
  grep -E "wheelwright: " $W/console.log >"$OUT/console.wheelwright" 2>/dev/null
  find $W/work -name .ninja_log -exec cp {} "$OUT/ninja_log" \; 2>/dev/null
  if [ -f "$OUT/ninja_log" ]; then
    # The last attempt's MAX_JOBS (report), else the plan's.
    jobs=$(python3 -c "
import json,sys
try: print(json.load(open('$W/out/report.json'))['attempts'][-1]['max_jobs'])
except Exception: print(json.load(open('$W/plan.json'))['max_jobs'])" 2>/dev/null || echo 16)
    python3 bench/ninja_ratio.py "$OUT/ninja_log" "$jobs" --json >"$OUT/ninja_ratio.json" \
      && python3 bench/ninja_ratio.py "$OUT/ninja_log" "$jobs"
  fi
  ls -la $W/out 2>/dev/null
  [ -f $W/out/report.json ] && ! running && echo "REPORT WRITTEN" ;;
after)
  # Each after-build step gets the binary, the wheel and the run's folders.
  if running; then echo "the build still runs; after-build steps wait"; exit 0; fi
  outcome=$(python3 -c "import json;print(json.load(open('$W/out/report.json'))['outcome'])" 2>/dev/null)
  wheel=$(ls $W/out/*.whl 2>/dev/null | head -1)
  echo "outcome: ${outcome:-none}; wheel: ${wheel:-none}"
  # The device brings back at most 8 files: the steps write under $A, which
  # travels as one archive, after-build.tgz.
  A=$W/after-build
  rm -rf "$A"; mkdir -p "$A"
  for step in bench/device/after-build.d/*.sh; do
    [ -f "$step" ] || continue
    name=$(basename "$step" .sh)
    echo "== $name"
    BIN="$BIN" WHEEL="$wheel" OUTCOME="$outcome" W="$W" STEP_OUT="$A/$name" \
      timeout 240 bash "$step" >"$A/$name.txt" 2>&1
    echo "exit $?" >>"$A/$name.txt"
    tail -n 20 "$A/$name.txt" | cut -c1-300
  done
  tar -C "$W" -czf "$OUT/after-build.tgz" after-build ;;
status)
  say_status ;;
esac
