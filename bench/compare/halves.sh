#!/usr/bin/env bash
# Issue 29 §1: wheelwright's plan against flash-attn's own choice AT THE SAME
# TIME, each side in its own cgroup v2 holding half the machine: half the
# CPUs (cpuset.cpus; whole physical cores, SMT siblings kept together) and
# half the memory (memory.max, swap off). Same archs (sm_90), the same 24
# units (bench/compare/units24.txt: pick_units.py's 24 duration slices of the
# ranked H200 full build) plus flash_api.cpp, each side in a fresh pruned tree
# of the 2.8.3 sdist (prune.py).
#
#   wheelwright: `wheelwright build TREE --archs 90 --no-verify`, its own plan
#                for the half (it reads the cgroup's CPUs and memory).
#   flash-attn:  `pip wheel --no-build-isolation TREE`, FA_MODE decides:
#     own    MAX_JOBS/NVCC_THREADS unset: 2.8.3's setup.py takes
#            min(os.cpu_count() // 2, available GB / 9) and NVCC_THREADS 4.
#            os.cpu_count() and psutil's available memory do not see the
#            cgroup, so inside a half it picks what it picks on the whole
#            machine (8 on 16 cores): the formula's inputs in the half are in
#            compare.json, what ran in its ninja log (most compiles at once).
#     host8  MAX_JOBS=4 NVCC_THREADS=4: what that formula gives on a real
#            8-core host with 62 GiB (min(8 // 2, 62 / 9)), set explicitly.
#     main   MAX_JOBS = min(cpus / 2, available GB / (5 * NVCC_THREADS)),
#            NVCC_THREADS 4: flash-attn main's newer formula, computed here
#            for the half (8 CPUs, half the memory).
# SWAP=1 puts wheelwright on the second half and flash-attn on the first.
#
# Records (bench/results/NAME/, returned as $OUT/halves.tgz): compare.json
# (per side: the half's CPUs and memory.max, wall, peak summed RSS, the
# cgroup's memory.peak, oom_kill count, exit code, MAX_JOBS/NVCC_THREADS it
# ran with, the most compiles its ninja log shows at once, and its ninja log's
# file name; the ratio flash-attn wall / wheelwright wall), topology.txt (the
# CPUs' SMT siblings and the halves), each side's ninja log and console.
#
# About 20 device minutes (wheelwright ~10-13 min, flash-attn own ~13-18):
#   here: cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/ \
#           && cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry/
#   device (carry [".carry"]):
#     bash bench/compare/halves.sh start h200-halves own && bash bench/compare/halves.sh wait 540
#     bash bench/compare/halves.sh wait 570        # back to back, until DONE
# DRY=1 runs the whole flow with a stand-in for each build (no cgroup: the
# halves are pinned with taskset where it exists), to try the script anywhere.
set -u
W=${W:-/tmp/halves}
BIN=${BIN:-$PWD/.carry/wheelwright}
SDIST=${SDIST:-$PWD/.carry/flash_attn-2.8.3.tar.gz}
PY=${PY:-/opt/torch/.venv/bin/python}
OUT=${OUT:-/tmp/halves-out}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
UNITS=${UNITS:-$HERE/units24.txt}
mkdir -p "$OUT"

alive() { [ -f "$W/$1.pid" ] && kill -0 "$(cat "$W/$1.pid")" 2>/dev/null; }

halves() { # prints "A B": two CPU lists of whole cores, half each
  python3 - <<'PY'
import glob, os
cpus = sorted(int(os.path.basename(p)[3:]) for p in glob.glob("/sys/devices/system/cpu/cpu[0-9]*")
              if os.path.exists(p + "/topology/thread_siblings_list"))
online = set(cpus) & os.sched_getaffinity(0)
groups = []
for c in sorted(online):
    sib = open("/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list" % c).read().strip()
    members = set()
    for part in sib.split(","):
        a, _, b = part.partition("-")
        members |= set(range(int(a), int(b or a) + 1))
    members &= online
    if members not in groups:
        groups.append(members)
groups.sort(key=min)
half = len(groups) // 2
a = sorted(set().union(*groups[:half])); b = sorted(set().union(*groups[half:2 * half]))
def fmt(v):
    out, i = [], 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[j + 1] == v[j] + 1:
            j += 1
        out.append(str(v[i]) if i == j else "%d-%d" % (v[i], v[j])); i = j + 1
    return ",".join(out)
smt = any(len(g) > 1 for g in groups)
print(fmt(a), fmt(b), "smt" if smt else "no-smt", len(groups))
PY
}

tree() { # fresh pruned tree at $W/tree-$1
  rm -rf "$W/tree-$1" "$W/x-$1"; mkdir -p "$W/x-$1"
  tar -xzf "$SDIST" -C "$W/x-$1" && mv "$W/x-$1"/flash_attn-* "$W/tree-$1" && rmdir "$W/x-$1" \
    && python3 "$HERE/prune.py" "$W/tree-$1" "$UNITS"
}

run_side() { # side cpus memory-bytes command...
  local side=$1 cpus=$2 mem=$3; shift 3
  if [ "${DRY:-0}" = 1 ]; then
    local pin=(); command -v taskset >/dev/null && pin=(taskset -c "$cpus")
    setsid nohup python3 - "$side" "$cpus" "${pin[@]}" "$@" >"$W/console.$side" 2>&1 </dev/null <<'PY' &
import json, subprocess, sys, time
side, cpus, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
t = time.time(); rc = subprocess.call(cmd)
print(json.dumps({"name": "halves-" + side, "cmd": cmd, "rc": rc, "wall_seconds": round(time.time() - t, 1),
                  "peak_rss_bytes": None, "cgroup_memory_peak_bytes": None, "memory_max": None,
                  "cpus": cpus, "oom_kills": None, "dry_run": True}), flush=True)
PY
  else
    setsid nohup python3 "$ROOT/bench/device/cgroup_run.py" "halves-$side" --memory-max "$mem" --cpus "$cpus" -- \
      "$@" >"$W/console.$side" 2>&1 </dev/null &
  fi
  echo $! >"$W/$side.pid"
}

stand_in() { # DRY=1: a build that writes a two-line ninja log
  local t=$1
  python3 - "$t" <<'PY'
import os, sys, time
d = os.path.join(sys.argv[1], "build", "temp.dry"); os.makedirs(d, exist_ok=True)
time.sleep(2)
open(os.path.join(d, ".ninja_log"), "w").write("# ninja log v5\n0\t1000\t0\ta.o\tx\n0\t2000\t0\tb.o\ty\n")
PY
}

case "${1:-status}" in
start)
  name=${2:?NAME}; mode=${3:-own}
  case $mode in own|host8|main) ;; *) echo "FA_MODE: own, host8 or main" >&2; exit 2 ;; esac
  rm -rf "$W"; mkdir -p "$W"
  echo "$name" >"$W/name"; echo "$mode" >"$W/mode"
  read -r A B smt cores < <(halves)
  [ "${SWAP:-0}" = 1 ] && { t=$A; A=$B; B=$t; }
  total=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024 )); half=$((total / 2))
  { date -u +%FT%TZ; echo "cores (sibling groups): $cores, $smt"
    for f in /sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list; do echo "$f: $(cat "$f")"; done
    echo "wheelwright: cpus $A; flash-attn: cpus $B; memory.max $half each (MemTotal $total)"
    nproc; nvidia-smi -L 2>/dev/null; "$BIN" --version 2>/dev/null; } | tee "$W/topology.txt"
  echo "$A" >"$W/cpus.wheelwright"; echo "$B" >"$W/cpus.flash-attn"; echo "$half" >"$W/memory"
  tree wheelwright && tree flash-attn || exit 1
  PIN=(); command -v taskset >/dev/null && PIN=(taskset -c "$B")
  fa_env=(FLASH_ATTENTION_FORCE_BUILD=TRUE FLASH_ATTN_CUDA_ARCHS=90)
  case $mode in
    own) ;;
    host8) fa_env+=(MAX_JOBS=4 NVCC_THREADS=4) ;;
    main) n=$(echo "$B" | python3 -c "import sys; print(sum(int(b or a) - int(a) + 1 for a, _, b in (p.partition('-') for p in sys.stdin.read().strip().split(','))))")
          avail_gb=$((half / 1024 / 1024 / 1024))
          fa_env+=(NVCC_THREADS=4 MAX_JOBS=$(python3 -c "print(max(1, min($n // 2, $avail_gb // (5 * 4))))")) ;;
  esac
  printf '%s\n' "${fa_env[@]}" >"$W/fa_env"
  # What 2.8.3's formula sees from inside flash-attn's half (os.cpu_count()
  # and psutil's available memory ignore the cgroup), and so picks with `own`.
  "${PIN[@]}" "$PY" - >"$W/fa_formula.json" 2>/dev/null <<'PY' || echo '{}' >"$W/fa_formula.json"
import json, os
try:
    import psutil; avail = psutil.virtual_memory().available
except ImportError:
    avail = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemAvailable:"))
print(json.dumps({"os_cpu_count": os.cpu_count(), "affinity_cpus": len(os.sched_getaffinity(0)),
                  "available_gb": round(avail / 2**30, 1),
                  "max_jobs_2_8_3": max(1, min(max(1, os.cpu_count() // 2), int(avail / 2**30 / 9)))}))
PY
  if [ "${DRY:-0}" = 1 ]; then
    ww_cmd=(bash "$0" stand_in "$W/tree-wheelwright"); fa_cmd=(bash "$0" stand_in "$W/tree-flash-attn")
  else
    ww_cmd=("$BIN" build "$W/tree-wheelwright" --archs 90 --python "$PY" --no-verify --force
            --work-dir "$W/ww-work" --out "$W/ww-out")
    fa_cmd=(env -u MAX_JOBS -u NVCC_THREADS "${fa_env[@]}" "$PY" -m pip wheel --no-build-isolation --no-deps -v
            "$W/tree-flash-attn" -w "$W/fa-dist")
  fi
  run_side wheelwright "$A" "$half" "${ww_cmd[@]}"
  run_side flash-attn "$B" "$half" "${fa_cmd[@]}"
  echo "started both at $(date -u +%FT%TZ): wheelwright on $A, flash-attn ($mode: ${fa_env[*]}) on $B" | tee "$W/started" ;;
stand_in)
  stand_in "$2" ;;
wait)
  end=$(( $(date +%s) + ${2:-540} ))
  while [ "$(date +%s)" -lt "$end" ] && { alive wheelwright || alive flash-attn; }; do sleep 5; done
  bash "$0" collect ;;
collect)
  name=$(cat "$W/name"); mode=$(cat "$W/mode"); R=$W/results/$name; mkdir -p "$R"
  cat "$W/started"; cp "$W/topology.txt" "$R/"
  for side in wheelwright flash-attn; do
    alive $side && echo "$side: STILL RUNNING"
    find "$W/tree-$side" -name .ninja_log -exec cp {} "$R/ninja_log.$side" \; 2>/dev/null
    cp "$W/console.$side" "$R/console.$side" 2>/dev/null
  done
  cp "$W/ww-out/report.json" "$R/report.wheelwright.json" 2>/dev/null
  python3 - "$W" "$R" "$mode" "$UNITS" <<'PY'
import json, os, re, sys
W, R, mode, units_txt = sys.argv[1:]
units = [l.split("#")[0].strip() for l in open(units_txt) if l.split("#")[0].strip()] + ["flash_api"]
def most_at_once(path):
    ev = []
    for line in open(path):
        f = line.split("\t")
        if line.startswith("#") or len(f) < 4:
            continue
        ev += [(int(f[0]), 1), (int(f[1]), -1)]
    n = best = 0
    for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
        n += d; best = max(best, n)
    return best
formula = os.path.join(W, "fa_formula.json")
doc = {"workload": "same-archs", "archs": ["90"], "flash_attn_mode": mode, "units": units,
       "flash_attn_formula_in_its_half": json.load(open(formula)) if os.path.exists(formula) else None,
       "memory_max_bytes": int(open(os.path.join(W, "memory")).read()), "sides": {}}
for side in ("wheelwright", "flash-attn"):
    con = os.path.join(W, "console." + side)
    text = open(con, errors="replace").read() if os.path.exists(con) else ""
    line = next((l for l in reversed(text.splitlines()) if l.startswith('{"name": "halves-')), None)
    m = json.loads(line) if line else {}
    jobs = threads = None
    if side == "wheelwright":
        rp = os.path.join(W, "ww-out", "report.json")
        if os.path.exists(rp):
            a = (json.load(open(rp)).get("attempts") or [{}])[0]
            jobs, threads = a.get("max_jobs"), a.get("nvcc_threads")
    else:
        env = dict(l.strip().split("=", 1) for l in open(os.path.join(W, "fa_env")) if "=" in l)
        jobs = int(env["MAX_JOBS"]) if "MAX_JOBS" in env else None
        g = re.findall(r"--threads (\d+)", text)
        threads = int(g[-1]) if g else None
    log = os.path.join(R, "ninja_log." + side)
    doc["sides"][side] = {
        "cpus": open(os.path.join(W, "cpus." + side)).read().strip(),
        "wall_seconds": m.get("wall_seconds"), "peak_rss_bytes": m.get("peak_rss_bytes"),
        "cgroup_peak_bytes": m.get("cgroup_memory_peak_bytes"), "oom_kills": m.get("oom_kills"),
        "exit_code": m.get("rc"), "max_jobs": jobs, "nvcc_threads": threads,
        "most_compiles_at_once": most_at_once(log) if os.path.exists(log) else None,
        "ninja_log": os.path.basename(log) if os.path.exists(log) else None,
        "dry_run": m.get("dry_run", False)}
a, b = doc["sides"]["wheelwright"], doc["sides"]["flash-attn"]
if a["wall_seconds"] and b["wall_seconds"]:
    doc["flash_attn_over_wheelwright"] = round(b["wall_seconds"] / a["wall_seconds"], 3)
json.dump(doc, open(os.path.join(R, "compare.json"), "w"), indent=1)
for side, s in doc["sides"].items():
    print("%-12s cpus %-6s jobs %s threads %s: %s s, peak %s, cgroup peak %s, oom kills %s, exit %s, at once %s" % (
        side, s["cpus"], s["max_jobs"], s["nvcc_threads"], s["wall_seconds"], s["peak_rss_bytes"],
        s["cgroup_peak_bytes"], s["oom_kills"], s["exit_code"], s["most_compiles_at_once"]))
print("flash-attn / wheelwright wall: %s" % doc.get("flash_attn_over_wheelwright"))
PY
  tar -C "$W/results" -czf "$OUT/halves.tgz" "$name"
  { alive wheelwright || alive flash-attn; } || echo DONE ;;
status)
  for side in wheelwright flash-attn; do alive $side && echo "$side running" || echo "$side not running"; done ;;
esac
