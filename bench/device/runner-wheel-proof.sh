#!/usr/bin/env bash
# On the GPU machine, in one short call (about 3-4 minutes):
#   1. `wheelwright runner labels` and `runner check --check-only` against the
#      machine's torch venv (issue 14: run for real);
#   2. a real torch CUDA extension (bench/device/tinyext) built by
#      `wheelwright build`, then `wheelwright wheel check` against its report and
#      torch's libraries (issue 13), `wheelwright publish --wheelhouse`, and a
#      fresh venv that installs it with pip from that wheelhouse's per-variant
#      index served over HTTP on localhost, and imports it.
# Everything lands in $OUT/proof.tgz (the device returns at most 8 files).
#
# Here: cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/
# Device (carry [".carry"]): bash bench/device/runner-wheel-proof.sh
set -u
BIN=${BIN:-.carry/wheelwright}
PY=${PY:-/opt/torch/.venv/bin/python}
W=/tmp/proof
R=$W/results
rm -rf $W; mkdir -p $R
step() { echo "== $*" | tee -a $R/summary.txt; }
run() { # name, command...: output to $R/name.txt, exit status in the summary
  local name=$1; shift
  ( set -x; "$@" ) >$R/$name.txt 2>&1
  local rc=$?
  echo "   $name: exit $rc" | tee -a $R/summary.txt
  tail -n 25 $R/$name.txt | cut -c1-240
  return $rc
}
{ date -u +%FT%TZ; "$BIN" --version; nproc; free -g | head -2; nvidia-smi -L; } >$R/host.txt 2>&1

step "1. runner labels / runner check (check only, against /opt/torch/.venv)"
run runner-labels "$BIN" runner labels
run runner-labels-json "$BIN" runner labels --json
run runner-check "$BIN" runner check --check-only --venv /opt/torch/.venv --work-dir $W
run runner-check-json "$BIN" runner check --check-only --venv /opt/torch/.venv --work-dir $W --json

step "2. tinyext: build, wheel check, wheelhouse, fresh venv"
cp -r bench/device/tinyext $W/src
run build "$BIN" build $W/src --recipe torch-ext --python $PY --work-dir $W/work --out $W/out
cp $W/out/report.json $R/build-report.json 2>/dev/null
wheel=$(ls $W/out/*.whl 2>/dev/null | head -1)
if [ -n "$wheel" ]; then
  run wheel-check "$BIN" wheel check "$wheel" --report $W/out/report.json --python $PY
  run wheel-check-json "$BIN" wheel check "$wheel" --report $W/out/report.json --python $PY --json
  run wheel-check-require-80 "$BIN" wheel check "$wheel" --require-archs "80;90" --python $PY
  run publish "$BIN" publish "$wheel" --wheelhouse $W/wheelhouse
  find $W/wheelhouse -maxdepth 3 | sort >$R/wheelhouse-tree.txt
  port=18765
  (cd $W/wheelhouse && setsid python3 -m http.server $port --bind 127.0.0.1 >$W/http.log 2>&1 &)
  sleep 1
  run venv "$PY" -m venv --system-site-packages $W/venv
  label=$(basename "$wheel" | sed -n 's/^[^-]*-[^-+]*+\([^-]*\)-.*/\1/p')
  root=http://127.0.0.1:$port/simple/
  [ -n "$label" ] && [ -d "$W/wheelhouse/$label/simple" ] && root=http://127.0.0.1:$port/$label/simple/
  run pip-install $W/venv/bin/python -m pip install --no-deps --ignore-installed --index-url "$root" tinyext
  run import bash -c "cd / && $W/venv/bin/python -c 'import torch, tinyext; print(tinyext.__file__)'"
  pkill -f "http.server $port" || true
fi
tar -C $W -czf "$OUT/proof.tgz" results
cat $R/summary.txt
