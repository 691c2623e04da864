#!/usr/bin/env bash
# Issue 6, proof 1: the full flash-attn 2.8.3 build through `wheelwright build` on
# the GPU machine (sm_90 only, as planned for that host), with the import and
# forward-pass check. About 24 minutes: start it detached, then poll.
#
# Here:   cargo build --release && mkdir -p .carry && cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry/
# Device, first call (carry .carry and target/release/wheelwright):
#         bash bench/device/full-build.sh start; sleep 540; bash bench/device/full-build.sh status
# Device, next calls:   sleep 560; bash bench/device/full-build.sh status
# Device, last call:    bash bench/device/full-build.sh collect   (copies results to $OUT)
set -u
W=/tmp/fullbuild
case "${1:-status}" in
start)
  rm -rf $W; mkdir -p $W
  setsid nohup ./target/release/wheelwright build .carry/flash_attn-2.8.3.tar.gz \
    --work-dir $W/work --out $W/out >$W/console.log 2>&1 </dev/null &
  echo "started pid $!" ;;
status)
  grep -E "wheelwright: progress" $W/console.log | tail -1
  tail -n 3 $W/console.log | cut -c1-200
  [ -f $W/out/report.json ] && echo "REPORT WRITTEN" ;;
collect)
  cp $W/out/report.json "$OUT/" 2>/dev/null
  tail -c 400000 $W/out/build.log >"$OUT/build.log.tail" 2>/dev/null
  tail -c 100000 $W/console.log >"$OUT/console.tail"
  ls -la $W/out ;;
esac
