#!/usr/bin/env bash
# Issue 29 §2 validation on the GPU machine: a reduced flash-attn 2.8.3 build
# for several archs (flash-attn 2.8.3's release list `80;90;100;120`,
# bench/device/multiarch-units.txt), planned and built by `wheelwright
# build` inside a cgroup (bench/device/cgroup_run.py: wall, peak summed RSS,
# the cgroup's memory.peak, oom kills), against the plan's predicted wall and
# peak. The cost model's per-gencode factors for sm_100 and sm_120 come from
# the CPU box (data/fa2_arch_costs_cpu.jsonl), so this is their check on the
# real machine.
#
# First, 2 flash-attn 2.8.3 units at sm_90 alone (2 at once, the exact
# command of the committed H200 build log; bench/device/unit_sample.py):
# this machine's speed against the model's reference host, so the predicted
# wall can be compared at this machine's speed without using the build
# itself (`bench/multiarch_compare.py`, here, afterwards).
#
# Here:   cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/ \
#           && cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry/
# Device (carry [".carry"]; ~8 minutes on the H200 box):
#         bash bench/device/multiarch.sh start && bash bench/device/multiarch.sh wait 550
#         (if it printed STILL RUNNING: bash bench/device/multiarch.sh wait 570, right after)
# $OUT: refs.jsonl, plan.json, plan.txt, report.json, ninja_log, cgroup.json,
#       mem.trace (summed RSS every second), host.txt, console.tail.
# Then here: python3 bench/multiarch_compare.py $OUT [--binary target/release/wheelwright]
set -u
W=${W:-/tmp/multiarch}
BIN=${BIN:-$PWD/.carry/wheelwright}
[ -x "$BIN" ] || BIN=$PWD/target/release/wheelwright
SDIST=${SDIST:-$PWD/.carry/flash_attn-2.8.3.tar.gz}
PY=${PY:-/opt/torch/.venv/bin/python}
ARCHS=${ARCHS:-80;90;100;120}
OUT=${OUT:-/tmp/multiarch-out}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
UNITS=${UNITS:-$HERE/multiarch-units.txt}
REFS=${REFS:-flash_fwd_hdim32_fp16_causal_sm80 flash_fwd_hdim64_bf16_causal_sm80}
mkdir -p "$OUT"
. "$HERE/detached.sh"
case "${1:-status}" in
start)
  rm -rf "$W"; mkdir -p "$W/x" "$W/refs"
  { date -u +%FT%TZ; nproc; free -g | head -2; nvidia-smi -L 2>/dev/null; "$BIN" --version; nvcc --version | tail -1
    echo "archs $ARCHS"; } | tee "$OUT/host.txt"
  tar -xzf "$SDIST" -C "$W/x" && mv "$W/x"/flash_attn-* "$W/tree" && python3 "$ROOT/bench/compare/prune.py" "$W/tree" "$UNITS" || exit 1
  tar -xzf "$SDIST" -C "$W/refs" || exit 1
  python3 - "$W/refs/flash_attn-2.8.3" "$W/refs" $REFS >"$W/refs.cmds" <<PY || exit 1
import json, sys
sys.path.insert(0, "$ROOT/bench/arch_costs")
import fa2_command
src, out = sys.argv[1], sys.argv[2]
for stem in sys.argv[3:]:
    argv = fa2_command.command(stem, src, "%s/%s.o" % (out, stem))
    print(json.dumps({"name": stem, "kind": "fa2_reference", "family": "fa2", "argv": argv, "cwd": out}))
PY
  "$BIN" plan --source "$W/tree" --archs "$ARCHS" --json >"$W/plan.json" 2>"$W/plan.err"
  "$BIN" plan --source "$W/tree" --archs "$ARCHS" >"$W/plan.txt" 2>&1
  head -12 "$W/plan.txt"
  cat >"$W/sequence.sh" <<EOF
python3 "$HERE/unit_sample.py" "$W/refs.cmds" "$W/refs.jsonl" --jobs 2
cd "$W" && CGROUP_RUN_TRACE="$W/mem.trace" python3 "$HERE/cgroup_run.py" multiarch -- \
  "$BIN" build "$W/tree" --archs "$ARCHS" --python "$PY" --no-verify --force --work-dir "$W/work" --out "$W/out"
EOF
  setsid nohup bash "$W/sequence.sh" >"$W/console.log" 2>&1 </dev/null &
  echo $! >"$W/pid"
  echo "started pid $! at $(date -u +%FT%TZ): refs, then the build of $(grep -vc "^#" "$UNITS") units + flash_api for $ARCHS" | tee "$W/started" ;;
wait)
  wait_then_collect "${2:-}" ;;
collect)
  cat "$W/started"; date -u +%FT%TZ
  running && echo "STILL RUNNING (pid $(cat "$W/pid"))"
  cp "$W/plan.json" "$W/plan.txt" "$OUT/" 2>/dev/null
  cp "$W/refs.jsonl" "$OUT/" 2>/dev/null
  cp "$W/out/report.json" "$OUT/" 2>/dev/null
  cp "$W/mem.trace" "$OUT/" 2>/dev/null
  find "$W/tree" -name .ninja_log -exec cp {} "$OUT/ninja_log" \; 2>/dev/null
  grep '^{"name": "multiarch"' "$W/console.log" | tail -1 >"$OUT/cgroup.json"
  tail -c 100000 "$W/console.log" >"$OUT/console.tail"
  grep -E "wall |did not start|rc [0-9]" "$W/console.log" | head -4
  cat "$OUT/cgroup.json"
  [ -s "$OUT/cgroup.json" ] && ! running && echo "REPORT WRITTEN" ;;
status)
  say_status ;;
esac
