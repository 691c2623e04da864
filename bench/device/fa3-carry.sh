#!/usr/bin/env bash
# Build the pruned flash-attn 3 source carry for bench/device/fa3-reduced.sh:
# .carry-fa3/flash-attention.tar.xz holds flash-attention/ = its hopper/ (no
# tests, no benchmarks) + README.md (hopper/setup.py reads ../README.md) + the
# cutlass submodule's include/ (all that hopper/ includes: cute/ and cutlass/),
# at pinned commits; plus the release binary. Unpacked the tree is ~30 MiB
# (cutlass headers 26 MiB), packed ~4 MiB; everything in .carry-fa3 must stay
# under 45 MiB.
#
#   bash bench/device/fa3-carry.sh FLASH_ATTENTION_GIT_DIR CUTLASS_GIT_DIR [BINARY]
#
# The git dirs may be bare (the `fetch` tool's /work/.mirror/*/repo). Pinned:
#   flash-attention 0251105a2fb19d2957484b7f023cd8c115286ced (main 2026-08-15;
#     no v2.8.4 tag; flash_attn 2.8.4, flash_attn_3 3.0.0)
#   cutlass 7127592069c2fe01b041e174ba4345ef9b279671 (csrc/cutlass at that
#     commit, v4.3.0-48)
set -eu
FA=${1:?flash-attention git dir}
CUTLASS=${2:?cutlass git dir}
BIN=${3:-target/release/wheelwright}
FA_COMMIT=0251105a2fb19d2957484b7f023cd8c115286ced
CUTLASS_COMMIT=$(git -C "$FA" ls-tree "$FA_COMMIT" csrc/cutlass | awk '{print $3}')
[ "$CUTLASS_COMMIT" = 7127592069c2fe01b041e174ba4345ef9b279671 ] || { echo "unexpected cutlass commit $CUTLASS_COMMIT"; exit 1; }
C=.carry-fa3
STAGE=$(mktemp -d)
T=$STAGE/flash-attention
mkdir -p "$T/csrc/cutlass" "$C"
git -C "$FA" archive "$FA_COMMIT" hopper README.md | tar -x -C "$T"
# Tests, benchmarks and their helpers are not built.
find "$T/hopper" -maxdepth 1 \( -name 'test_*' -o -name 'benchmark_*' \) -delete
git -C "$CUTLASS" archive "$CUTLASS_COMMIT" include | tar -x -C "$T/csrc/cutlass"
printf '%s\n' "flash-attention $FA_COMMIT" "cutlass $CUTLASS_COMMIT" >"$T/PINNED"
du -sh "$T" "$T/hopper" "$T/csrc/cutlass/include"
rm -rf "$C/flash-attention"
tar -C "$STAGE" -cJf "$C/flash-attention.tar.xz" flash-attention
rm -rf "$STAGE"
if [ -x "$BIN" ]; then cp "$BIN" "$C/wheelwright"; fi
ls -l "$C"
total=$(du -sm "$C" | cut -f1)
echo "carry: ${total} MiB (limit 45)"
[ "$total" -lt 45 ]
