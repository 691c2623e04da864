#!/usr/bin/env bash
# Issue 28 on the GPU machine: build a real torch CUDA extension from PyPI that
# nobody here wrote, end to end with `wheelwright build` (recipe torch-ext),
# and hold the plan against what happened:
# - the plan's units, per-unit gencodes, archs, MAX_JOBS / nvcc threads and the
#   package's switches (plan.json), from its setup.py run under the build's
#   torch (the setup.py probe);
# - the build (report.json, build.log tail, ninja_log, per-unit times);
# - `wheel check --report`: the archs in the wheel's .so against the plan's;
# - import in a fresh target dir on the build's torch and one op against a
#   PyTorch reference on the GPU (op.txt);
# - compare.json: predicted wall and peak (the plan) against measured (the
#   report, the ninja log), per unit too.
#
# PKG picks the sdist in .carry-ext/ (default causal_conv1d-1.7.0: 4 units,
# 9 hard-coded gencodes per .cu on CUDA 13, downloads a prebuilt wheel unless
# CAUSAL_CONV1D_FORCE_BUILD=TRUE); spatial_correlation_sampler-0.5.0 and
# torch_scatter-2.1.2 also work (tests/fixtures/torch-ext/README.md).
#
# Here:    cargo build --release && bash bench/device/torch-ext.sh carry
# Device:  bash bench/device/torch-ext.sh start && bash bench/device/torch-ext.sh wait 480
#          (carry [".carry-ext"]); if it printed STILL RUNNING, next call:
#          bash bench/device/torch-ext.sh wait 560
# Here, without a GPU (a real compile on this box's CPUs, no op check):
#          C=tests/fixtures/torch-ext BIN=target/debug/wheelwright ARCHS=90 \
#            PKG=spatial_correlation_sampler-0.5.0 PY=/path/to/venv-with-torch/bin/python \
#            OUT=/tmp/te-out bash bench/device/torch-ext.sh start
#          ... bash bench/device/torch-ext.sh wait 3000 (same variables)
set -u
C=${C:-.carry-ext}
PKG=${PKG:-causal_conv1d-1.7.0}
W=${W:-/tmp/torch-ext-$PKG}
BIN=${BIN:-$C/wheelwright}
[ -x "$BIN" ] || BIN=./target/release/wheelwright
OUT=${OUT:-/tmp/torch-ext-out}
PY=${PY:-/opt/torch/.venv/bin/python}
# ARCHS: --archs for plan and build (default: the GPUs present).
ARCH_ARGS=(); [ -n "${ARCHS:-}" ] && ARCH_ARGS=(--archs "$ARCHS")
[ -x "$PY" ] || PY=python3
SDIST=$C/$PKG.tar.gz
# The venv's bin first: its ninja, and pip's console scripts.
export PATH="$(dirname "$PY"):$PATH"
mkdir -p "$OUT"
. "$(dirname "$0")/detached.sh"
case "${1:-status}" in
carry)
  # Here: the release binary and the three sdists (~15 MiB with the binary).
  mkdir -p "$C"
  cp target/release/wheelwright "$C/" || exit 1
  cp tests/fixtures/torch-ext/*.tar.gz "$C/"
  ls -l "$C" ;;
start)
  rm -rf "$W"; mkdir -p "$W"
  nproc; free -g | head -2; nvidia-smi -L 2>/dev/null; nvcc --version 2>/dev/null | tail -2
  "$BIN" --version; "$PY" -c 'import torch; print("torch", torch.__version__, torch.version.cuda)'
  [ -f "$SDIST" ] || { echo "no $SDIST (run the carry step here)"; exit 2; }
  # The plan runs the package's setup.py under $PY's torch (the setup.py probe).
  WHEELWRIGHT_PYTHON="$PY" "$BIN" plan --recipe torch-ext --source "$SDIST" "${ARCH_ARGS[@]}" --json >"$W/plan.json" 2>"$W/plan.err"
  WHEELWRIGHT_PYTHON="$PY" "$BIN" plan --recipe torch-ext --source "$SDIST" "${ARCH_ARGS[@]}" 2>&1 | head -60 | tee "$OUT/plan.txt"
  cat "$W/plan.err" >&2
  setsid nohup "$BIN" build "$SDIST" --recipe torch-ext --python "$PY" --no-verify "${ARCH_ARGS[@]}" \
    --work-dir "$W/work" --out "$W/out" >"$W/console.log" 2>&1 </dev/null &
  echo $! >"$W/pid"
  echo "started pid $! at $(date -u +%FT%TZ)" | tee "$W/started" ;;
wait)
  wait_then_collect "${2:-}" ;;
collect)
  cat "$W/started" 2>/dev/null; date -u +%FT%TZ
  grep -E "^wheelwright: |^  (attempt|wheel|log|report)" "$W/console.log" 2>/dev/null | tail -n 12 | cut -c1-300
  copy_records
  find "$W/work" -name .ninja_log -newer "$W/started" -exec cp {} "$OUT/ninja_log" \; 2>/dev/null
  whl=$(ls "$W"/out/*.whl 2>/dev/null | head -1)
  if [ -n "$whl" ] && ! running; then
    ls -l "$whl" | tee "$OUT/wheel.txt"
    "$BIN" wheel check "$whl" --report "$W/out/report.json" --python "$PY" --json >"$OUT/wheel-check.json" 2>"$OUT/wheel-check.err"
    echo "wheel check exit $?" | tee -a "$OUT/wheel.txt"
    if [ ! -f "$OUT/op.txt" ]; then
      rm -rf "$W/site" && "$PY" -m pip install --no-deps --no-index -q -t "$W/site" "$whl" >"$OUT/op.txt" 2>&1
      PKG=$PKG PYTHONPATH="$W/site" "$PY" "$(dirname "$0")/torch_ext_op.py" >>"$OUT/op.txt" 2>&1
      echo "op check exit $?" >>"$OUT/op.txt"
      cat "$OUT/op.txt"
    fi
  fi
  if [ -f "$W/out/report.json" ] && ! running && [ ! -f "$OUT/plan-calibrated.json" ]; then
    # The next plan of the same source on this host, from this build's
    # per-unit times and peaks (--calibrate): which units rest on them.
    WHEELWRIGHT_PYTHON="$PY" "$BIN" plan --recipe torch-ext --source "$SDIST" \
      "${ARCH_ARGS[@]}" --calibrate "$W/out/report.json" --json >"$OUT/plan-calibrated.json" 2>"$OUT/plan-calibrated.err"
    echo "re-plan with --calibrate: exit $?"; tail -3 "$OUT/plan-calibrated.err"
  fi
  "$PY" "$(dirname "$0")/torch_ext_compare.py" "$W/plan.json" "$W/out/report.json" "$OUT/ninja_log" \
    "$OUT/wheel-check.json" "$OUT/compare.json" "$OUT/plan-calibrated.json"
  [ -f "$W/out/report.json" ] && ! running && echo "REPORT WRITTEN" ;;
status)
  say_status ;;
esac
