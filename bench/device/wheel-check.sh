#!/usr/bin/env bash
# `wheelwright wheel check` on the real flash-attn wheel of a `wheelwright build`,
# with cross-checks by the toolkit's cuobjdump, `ldd -r` against torch's
# libraries and (when installed) the real auditwheel. Run on the GPU machine:
#
#   bench/device/wheel-check.sh OUT_DIR RESULTS_DIR [PYTHON]
#
# OUT_DIR holds the wheel and report.json of `wheelwright build --out OUT_DIR`;
# PYTHON defaults to /opt/torch/.venv/bin/python. Everything goes to RESULTS_DIR.
set -uo pipefail
out=${1:?OUT_DIR}; results=${2:?RESULTS_DIR}; python=${3:-/opt/torch/.venv/bin/python}
ww=${WHEELWRIGHT:-./target/release/wheelwright}
mkdir -p "$results"
wheel=$(ls "$out"/flash_attn-*.whl | head -1)
echo "wheel: $wheel" | tee "$results/summary.txt"

"$ww" wheel check "$wheel" --report "$out/report.json" --python "$python" \
  >"$results/wheel-check.txt" 2>&1
echo "wheel check (text) exit: $?" | tee -a "$results/summary.txt"
"$ww" wheel check "$wheel" --report "$out/report.json" --python "$python" --json \
  >"$results/wheel-check.json" 2>"$results/wheel-check.stderr"
echo "wheel check (json) exit: $?" | tee -a "$results/summary.txt"
"$ww" wheel check "$wheel" --report "$out/report.json" --python "$python" --for-index \
  >"$results/wheel-check-for-index.txt" 2>&1
echo "wheel check --for-index exit: $?" | tee -a "$results/summary.txt"
"$ww" wheel check "$wheel" --require-archs "80;90" --python "$python" \
  >"$results/wheel-check-80-90.txt" 2>&1
echo "wheel check --require-archs 80;90 exit (1 expected for a 90-only build): $?" | tee -a "$results/summary.txt"

# Cross-checks on the extracted binary.
x=$(mktemp -d)
"$python" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheel" "$x"
so=$(find "$x" -name 'flash_attn_2_cuda*.so' | head -1)
cuobjdump=${CUOBJDUMP:-$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)}
"$cuobjdump" --list-elf --list-ptx "$so" >"$results/cuobjdump.txt" 2>&1
echo "cuobjdump entries: $(grep -cE '^(ELF|PTX) file' "$results/cuobjdump.txt"); archs: $(grep -oE 'sm_[0-9]+[af]?\.(cubin|ptx)' "$results/cuobjdump.txt" | sort | uniq -c | tr '\n' ' ')" | tee -a "$results/summary.txt"
torch_lib=$("$python" -c 'import importlib.util, os; s = importlib.util.find_spec("torch"); print(os.path.join(os.path.dirname(s.origin), "lib") if s else "")')
LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}" ldd -r "$so" >"$results/ldd-r.txt" 2>&1
echo "ldd -r undefined (Py* excluded: the interpreter provides them): $(grep 'undefined symbol' "$results/ldd-r.txt" | grep -vc 'undefined symbol: _\?Py')" | tee -a "$results/summary.txt"
if command -v auditwheel >/dev/null && command -v patchelf >/dev/null; then
  auditwheel repair --exclude 'libc10*' --exclude 'libtorch*' --exclude 'libcu*' --exclude 'libnv*' \
    -w "$x/repaired" "$wheel" >"$results/auditwheel-repair.txt" 2>&1
  echo "auditwheel repair --exclude ... exit $?: $(ls "$x/repaired" 2>/dev/null)" | tee -a "$results/summary.txt"
else
  echo "auditwheel/patchelf not installed: policy not cross-checked" | tee -a "$results/summary.txt"
fi
rm -rf "$x"
