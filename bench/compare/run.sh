#!/usr/bin/env bash
# Issue 15 §5: wheelwright's plan against flash-attn's own choice, side by side,
# back to back in one session, on the GPU machine.
#
#   bash bench/compare/run.sh WORKLOAD [NAME]
#
# WORKLOAD: `same-archs` (both sm_90) or `defaults` (flash-attn's default
# FLASH_ATTN_CUDA_ARCHS 80;90;100;120 against wheelwright's archs for the GPUs
# present). The subset: flash-attn 2.8.3 pruned to bench/compare/units.txt
# (bench/compare/pick_units.py) plus flash_api.cpp, by bench/compare/prune.py,
# so flash-attn's real setup.py builds it. Each config runs in a fresh copy of
# the tree inside its own cgroup (bench/device/cgroup_run.py: wall, peak RSS,
# oom_kill count):
#   wheelwright: `wheelwright build TREE --no-verify` (its plan, no overrides)
#   flash-attn:  `pip wheel --no-build-isolation TREE` with MAX_JOBS and
#                NVCC_THREADS unset (setup.py: MAX_JOBS = min(cpus/2, free GB/9),
#                NVCC_THREADS 4)
# REUSE_WW=1 (defaults only): when wheelwright's archs for the GPUs present are
# 90, its defaults command line is the same-archs one, so that run is recorded
# (marked same_run_as) instead of compiled again: saves ~5 device minutes.
# Results: bench/results/NAME/compare.json (runs appended, one per config and
# workload) and each run's ninja log beside it, in $OUT/compare.tgz.
# About 2 x 6 minutes for same-archs; defaults' flash-attn side compiles 4
# gencodes (longer): start it detached when it cannot fit one call.
#   here: cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/ \
#           && cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry/
#   device (carry [".carry"]): bash bench/compare/run.sh start h200-compare same-archs defaults \
#                                && bash bench/compare/run.sh wait 540, then `wait 570` calls
set -u
# Detached, for the device's 10-minute calls (the machine goes back 30 s after
# a call ends, so poll back to back):
#   bash bench/compare/run.sh start NAME WORKLOAD... && bash bench/compare/run.sh wait 540
#   bash bench/compare/run.sh wait 570          # next calls, until DONE
case "${1:-}" in
start)
  name=${2:?NAME}; shift 2
  [ $# -gt 0 ] || { echo "start NAME WORKLOAD..." >&2; exit 2; }
  rm -f /tmp/compare.pid /tmp/compare.log
  OUT=/tmp/compare-out REUSE_WW=${REUSE_WW:-0} setsid nohup bash "$0" sequence "$name" "$@" </dev/null >/tmp/compare.log 2>&1 &
  echo $! >/tmp/compare.pid
  echo "started pid $(cat /tmp/compare.pid) at $(date -u +%FT%TZ): $*"; exit 0 ;;
sequence)
  name=$2; shift 2
  for w in "$@"; do bash "$0" "$w" "$name"; done
  echo DONE; exit 0 ;;
wait)
  end=$(( $(date +%s) + ${2:-540} ))
  alive() { kill -0 "$(cat /tmp/compare.pid 2>/dev/null)" 2>/dev/null; }
  while [ "$(date +%s)" -lt "$end" ] && alive; do sleep 5; done
  grep -E "^(same-archs|defaults)|DONE|wall =" /tmp/compare.log
  alive && echo "STILL RUNNING"
  [ -n "${OUT:-}" ] && cp /tmp/compare-out/compare.tgz "$OUT/" 2>/dev/null
  exit 0 ;;
esac
WORKLOAD=${1:?same-archs or defaults}
NAME=${2:-h200-compare}
case "$WORKLOAD" in same-archs|defaults) ;; *) echo "unknown workload $WORKLOAD" >&2; exit 2 ;; esac
BIN=${BIN:-$PWD/.carry/wheelwright}
SDIST=${SDIST:-$PWD/.carry/flash_attn-2.8.3.tar.gz}
PY=${PY:-/opt/torch/.venv/bin/python}
OUT=${OUT:-/tmp/compare-out}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=/tmp/compare
R=$W/results/$NAME
mkdir -p "$R" "$OUT"
{ date -u +%FT%TZ; nproc; free -g | head -2; nvidia-smi -L; "$BIN" --version; } >"$R/host-$WORKLOAD.txt" 2>&1
cat "$R/host-$WORKLOAD.txt"

tree() { # a fresh pruned tree at $W/tree
  rm -rf $W/tree $W/x; mkdir -p $W/x
  tar -xzf "$SDIST" -C $W/x && mv $W/x/flash_attn-* $W/tree && python3 "$HERE/prune.py" $W/tree "$HERE/units.txt"
}
record() { # config, archs, cgroup json line
  local config=$1 archs=$2 line=$3
  [ -n "$line" ] || line='{"rc": -1, "wall_seconds": null, "peak_rss_bytes": null, "cgroup_memory_peak_bytes": null}'
  local log="ninja_log.$WORKLOAD.$config"
  find $W/tree -name .ninja_log -exec cp {} "$R/$log" \; 2>/dev/null
  python3 - "$R/compare.json" "$WORKLOAD" "$config" "$archs" "$log" "$HERE/units.txt" "$line" <<'PY'
import json, os, sys
path, workload, config, archs, log, units_txt, line = sys.argv[1:]
m = json.loads(line)
units = [l.split("#")[0].strip() for l in open(units_txt) if l.split("#")[0].strip()]
doc = json.load(open(path)) if os.path.exists(path) else {"runs": []}
doc["runs"] = [r for r in doc["runs"] if (r["workload"], r["config"]) != (workload, config)]
doc["runs"].append({
    "workload": workload, "config": config, "wall_seconds": m["wall_seconds"],
    "peak_bytes": m["peak_rss_bytes"], "cgroup_peak_bytes": m["cgroup_memory_peak_bytes"],
    "oom_kills": m.get("oom_kills"), "exit_code": m["rc"],
    "units": units + ["flash_api"], "archs": archs.split(";"),
    "ninja_log": log if os.path.exists(os.path.join(os.path.dirname(path), log)) else None,
})
json.dump(doc, open(path, "w"), indent=1)
peak = m["peak_rss_bytes"]
print(f"{workload} {config}: {m['wall_seconds']} s, peak {peak / 2**30 if peak else 0:.1f} GiB, "
      f"oom kills {m.get('oom_kills')}, exit {m['rc']}")
PY
  tar -C $W/results -czf "$OUT/compare.tgz" "$NAME"
}

reuse_same_archs() { # REUSE_WW=1: defaults' wheelwright run = same-archs' (same command)
  python3 - "$R/compare.json" <<'PY'
import json, sys
path = sys.argv[1]
try:
    doc = json.load(open(path))
except OSError:
    sys.exit(1)
src = [r for r in doc["runs"] if (r["workload"], r["config"]) == ("same-archs", "wheelwright")]
if not src or src[0]["exit_code"] != 0:
    sys.exit(1)
run = dict(src[0], workload="defaults",
           same_run_as="same-archs: wheelwright's archs for this host's GPUs are 90, so "
                       "its defaults command line is the same-archs one; not run twice")
doc["runs"] = [r for r in doc["runs"] if (r["workload"], r["config"]) != ("defaults", "wheelwright")]
doc["runs"].append(run)
json.dump(doc, open(path, "w"), indent=1)
print(f"defaults wheelwright: {run['wall_seconds']} s (the same-archs run, same command line)")
PY
}

# wheelwright: its own plan (archs for the GPUs present unless same-archs says 90).
tree || exit 1
ww_archs=$("$BIN" plan --source $W/tree --json 2>/dev/null | python3 -c "import json,sys;print(';'.join(json.load(sys.stdin)['archs']))")
[ "$WORKLOAD" = same-archs ] && ww_archs=90
# With REUSE_WW=1, defaults' wheelwright run is same-archs' when the command line is the same.
if ! { [ "$WORKLOAD" = defaults ] && [ "${REUSE_WW:-0}" = 1 ] && [ "$ww_archs" = 90 ] \
  && reuse_same_archs; }; then
  con="$R/console.$WORKLOAD.wheelwright"
  (cd $W && CGROUP_RUN_TRACE="$R/mem.$WORKLOAD.wheelwright" python3 "$ROOT/bench/device/cgroup_run.py" compare-ww -- \
    "$BIN" build $W/tree --archs "$ww_archs" --python "$PY" --no-verify --force \
    --work-dir $W/ww-work --out $W/ww-out) >"$con" 2>&1
  line=$(grep '^{"name": "compare-ww"' "$con" | tail -1)
  cp $W/ww-out/report.json "$R/report.$WORKLOAD.wheelwright.json" 2>/dev/null
  record wheelwright "$ww_archs" "$line"
fi

# flash-attn: its setup.py's own MAX_JOBS/NVCC_THREADS; archs 90 or its default.
tree || exit 1
fa_archs="80;90;100;120"
extra=()
if [ "$WORKLOAD" = same-archs ]; then fa_archs=90; extra=(FLASH_ATTN_CUDA_ARCHS=90); fi
con="$R/console.$WORKLOAD.flash-attn"
(cd $W && CGROUP_RUN_TRACE="$R/mem.$WORKLOAD.flash-attn" python3 "$ROOT/bench/device/cgroup_run.py" compare-fa -- \
  env -u MAX_JOBS -u NVCC_THREADS FLASH_ATTENTION_FORCE_BUILD=TRUE ${extra[@]+"${extra[@]}"} \
  "$PY" -m pip wheel --no-build-isolation --no-deps -v $W/tree -w $W/fa-dist) >"$con" 2>&1
line=$(grep '^{"name": "compare-fa"' "$con" | tail -1)
record flash-attn "$fa_archs" "$line"
python3 - "$R/compare.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
by = {(r["workload"], r["config"]): r for r in runs}
for w in ("same-archs", "defaults"):
    a, b = by.get((w, "wheelwright")), by.get((w, "flash-attn"))
    if a and b and a["wall_seconds"]:
        print(f"{w}: flash-attn / wheelwright wall = {b['wall_seconds'] / a['wall_seconds']:.2f}x")
PY
