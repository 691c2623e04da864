#!/usr/bin/env bash
# Issue 29 §4: does sccache hit across matrix cells that differ only in the
# Python version? Two cells of one (torch, CUDA, archs) build the same small
# torch CUDA extension (bench/fleet-cache/ext: one CUDA unit that includes
# torch's headers but not Python's, as flash-attn's kernels do, and one
# binding unit that includes Python's) with `wheelwright build --sccache`
# through torch's own ninja path, each from its own venv (another Python,
# another site-packages path, the same torch) and its own work dir, with one
# cache directory between them. Each scenario starts with an empty cache
# directory of its own; every build starts with no sccache server running, so
# `wheelwright build --sccache` starts one with the cell's environment
# (SCCACHE_DIR, SCCACHE_BASEDIRS, read at start). It builds cell A, then cell
# B, and records each build's counts from its report.json:
#   today               work dirs keyed per cell (the Action keys the work
#                       dir by the Python version too), no SCCACHE_BASEDIRS
#   same-path           both cells at one work-dir path
#   same-path+basedirs  one path, SCCACHE_BASEDIRS = each cell's site-packages
#                       (set here, by hand)
#   fixed-same-path     one path, nothing set by hand: what `--sccache` does
#                       since issue 29 (SCCACHE_BASEDIRS, torch's header mtimes)
#   fixed-per-cell      the same, each cell in its own work dir
# The first three need venvs as pip installed them (the fix changes the
# mtimes of torch's headers in place) and WW a wheelwright from before the
# fix; run them first, the fixed ones with the new binary:
#   WW=OLD bash bench/fleet-cache/cells.sh OUT today same-path same-path+basedirs
#   WW=NEW bash bench/fleet-cache/cells.sh OUT fixed-same-path fixed-per-cell
#   bash bench/fleet-cache/cells.sh OUT_DIR [SCENARIO...]
#
# Needs (env): WW (the wheelwright binary), SCCACHE, CUDA_HOME (a CUDA 13.0
# toolkit: nvcc 13.0, which sccache 0.16 compiles), PY_A and PY_B (two venvs'
# pythons with the same torch), SCCACHE_SERVER_PORT (default 4931).
# On the CPU box (CPU only; how it was set up is in bench/fleet-cache/README.md):
#   WW=target/debug/wheelwright SCCACHE=/tmp/perf/venv/bin/sccache \
#   CUDA_HOME=/tmp/perf/venv/lib/python3.11/site-packages/nvidia/cu13 \
#   PY_A=/tmp/perf/cells/A/venv/bin/python PY_B=/tmp/perf/cells/B/venv/bin/python \
#   nice -n 10 bash bench/fleet-cache/cells.sh bench/results/cpu-fleet-cache
set -u
OUTD=${1:?OUT_DIR}; shift
SCENARIOS=${*:?SCENARIO...}
: "${WW:?}" "${SCCACHE:?}" "${CUDA_HOME:?}" "${PY_A:?}" "${PY_B:?}"
export CUDA_HOME SCCACHE_SERVER_PORT=${SCCACHE_SERVER_PORT:-4931}
export WHEELWRIGHT_PROBE_TIMEOUT=${WHEELWRIGHT_PROBE_TIMEOUT:-180} WHEELWRIGHT_NVML=off
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT:-/tmp/fleet-cache}
mkdir -p "$OUTD" "$ROOT"
OUTD=$(cd "$OUTD" && pwd)
rm -rf "$ROOT/sdist"; mkdir -p "$ROOT/sdist/fleetext-0.1"
cp "$HERE/ext/"* "$ROOT/sdist/fleetext-0.1/"
tar -C "$ROOT/sdist" -czf "$ROOT/fleetext-0.1.tar.gz" fleetext-0.1
site() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

build() { # scenario cell python work-dir basedirs
  local s=$1 cell=$2 py=$3 wd=$4 bd=$5 out="$ROOT/$1/$2"
  # A fresh server per build: `wheelwright build --sccache` starts it with
  # the build's environment (the scenario's cache dir, SCCACHE_BASEDIRS).
  "$SCCACHE" --stop-server >/dev/null 2>&1
  rm -rf "$wd" "$out"
  if [ -n "$bd" ]; then export SCCACHE_BASEDIRS=$bd; else unset SCCACHE_BASEDIRS; fi
  local t=$(date +%s)
  "$WW" build "$ROOT/fleetext-0.1.tar.gz" --recipe torch-ext --archs 90 --python "$py" \
    --no-verify --force --sccache "$SCCACHE" --sccache-dir "$ROOT/$s.cache" \
    --work-dir "$wd" --out "$out" >"$ROOT/$s.$cell.console" 2>&1
  local rc=$?
  SCCACHE_DIR="$ROOT/$s.cache" "$SCCACHE" --show-stats --stats-format json >"$ROOT/$s.$cell.stats.json" 2>/dev/null
  python3 - "$OUTD/cells.json" "$s" "$cell" "$py" "$wd" "$bd" "$rc" "$(( $(date +%s) - t ))" \
    "$out/report.json" "$ROOT/$s.$cell.stats.json" <<'PY'
import json, os, sys
path, s, cell, py, wd, bd, rc, secs, report, stats = sys.argv[1:]
doc = json.load(open(path)) if os.path.exists(path) else {"runs": []}
cc = {}
if os.path.exists(report):
    cc = json.load(open(report)).get("compile_cache") or {}
raw = json.load(open(stats))["stats"] if os.path.exists(stats) else {}
doc["runs"] = [r for r in doc["runs"] if (r["scenario"], r["cell"]) != (s, cell)]
doc["runs"].append({
    "scenario": s, "cell": cell, "python": py, "work_dir": wd,
    "sccache_basedirs": bd or None, "exit_code": int(rc), "seconds": int(secs),
    "counts": cc.get("counts"), "hit_rate": cc.get("hit_rate"),
    "sccache_hits_by_kind": raw.get("cache_hits", {}).get("counts"),
    "sccache_misses_by_kind": raw.get("cache_misses", {}).get("counts"),
})
json.dump(doc, open(path, "w"), indent=1)
c = cc.get("counts") or {}
print("%-20s %s: exit %s, %ss, requests hit %s / missed %s, nvcc steps hit %s / missed %s, by kind: hits %s misses %s"
      % (s, cell, rc, secs, c.get("hits"), c.get("misses"), c.get("step_hits"), c.get("step_misses"),
         raw.get("cache_hits", {}).get("counts"), raw.get("cache_misses", {}).get("counts")))
PY
}

SA=$(site "$PY_A"); SB=$(site "$PY_B")
for s in $SCENARIOS; do
  rm -rf "$ROOT/$s.cache"
  case $s in
    today)
      build $s A "$PY_A" "$ROOT/work/release-cellA" ""
      build $s B "$PY_B" "$ROOT/work/release-cellB" "" ;;
    same-path)
      build $s A "$PY_A" "$ROOT/work/release-kernels" ""
      build $s B "$PY_B" "$ROOT/work/release-kernels" "" ;;
    same-path+basedirs)
      build $s A "$PY_A" "$ROOT/work/release-kernels" "$SA"
      build $s B "$PY_B" "$ROOT/work/release-kernels" "$SB" ;;
    fixed-same-path)
      build $s A "$PY_A" "$ROOT/work/release-kernels" ""
      build $s B "$PY_B" "$ROOT/work/release-kernels" "" ;;
    fixed-per-cell)
      build $s A "$PY_A" "$ROOT/work/release-cellA" ""
      build $s B "$PY_B" "$ROOT/work/release-cellB" "" ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
"$SCCACHE" --stop-server >/dev/null 2>&1
echo "wrote $OUTD/cells.json"
