#!/usr/bin/env bash
# Issue 29 §3 on the GPU machine: per-unit time and peak memory of a sample
# of flash-attn 3 units (sm90a, default switches: every kind and head dim),
# in one call of at most 10 minutes.
#
# 1. hopper/setup.py writes its build.ninja through torch's BuildExtension
#    (NVCC_THREADS=1, nothing disabled); a `ninja` shim first on PATH saves
#    it and stops the build before any compile.
# 2. bench/device/fa3_sample.py takes each sampled unit's command from that
#    file (`ninja -t commands`), plus 2 flash-attn 2.8.3 units with the exact
#    command of the committed H200 build log (this machine's speed against
#    the units the cost model knows).
# 3. bench/device/unit_sample.py compiles them JOBS at a time, longest
#    expected first: per unit wall, CPU, peak summed RSS of its process tree
#    and the mean number of compiles running beside it. Whatever still runs
#    at DEADLINE seconds is killed and recorded as `cut` (a lower bound).
#
# Here:   bash bench/device/fa3-carry.sh FA_GIT_DIR CUTLASS_GIT_DIR
#         cp ../shared/upstream/flash_attn-2.8.3.tar.gz .carry-fa3/
# Device (carry [".carry-fa3"], one call, about 9 minutes):
#         bash bench/device/fa3-units.sh
# $OUT: samples.jsonl (one line per compile + a summary line),
#       commands.jsonl, build.ninja, host.txt, console.txt, errs.tgz (each
#       compile's stderr). Here, the rows for data/fa3_costs.tsv:
#         python3 bench/fa3_unit_costs.py --sample $OUT/samples.jsonl
set -u
W=${W:-/tmp/fa3units}
C=${C:-$PWD/.carry-fa3}
OUT=${OUT:-/tmp/fa3units-out}
PY=${PY:-/opt/torch/.venv/bin/python}
JOBS=${JOBS:-12}
DEADLINE=${DEADLINE:-470}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
exec > >(tee "$OUT/console.txt") 2>&1
t0=$(date +%s)
rm -rf "$W"; mkdir -p "$W/shim" "$W/fa2" "$W/obj"
{ date -u +%FT%TZ; nproc; free -g | head -2; nvidia-smi -L 2>/dev/null; "$PY" -c 'import torch; print("torch", torch.__version__)';
  nvcc --version 2>/dev/null | tail -2; echo "CC=${CC:-}"; } | tee "$OUT/host.txt"
tar -xJf "$C/flash-attention.tar.xz" -C "$W" || exit 1
tar -xzf "$C/flash_attn-2.8.3.tar.gz" -C "$W/fa2" || exit 1
cat "$W/flash-attention/PINNED"

# The real ninja, then the shim in front of it.
REAL_NINJA=$(command -v ninja || "$PY" -c 'import ninja, os; print(os.path.join(ninja.BIN_DIR, "ninja"))')
[ -x "$REAL_NINJA" ] || { echo "no ninja"; exit 1; }
cat >"$W/shim/ninja" <<EOF
#!/bin/sh
case "\$1" in --version) exec "$REAL_NINJA" "\$@" ;; esac
cp build.ninja "$W/build.ninja" && pwd >"$W/build.dir"
echo "ninja shim: build.ninja captured, no compile run" >&2
exit 3
EOF
chmod +x "$W/shim/ninja"
if ! command -v git >/dev/null; then
  # hopper/setup.py runs `git submodule update` and ignores its status.
  printf '#!/bin/sh\nexit 1\n' >"$W/shim/git"; chmod +x "$W/shim/git"
fi
(cd "$W/flash-attention/hopper" && PATH="$W/shim:$PATH" NVCC_THREADS=1 MAX_JOBS=1 \
  FLASH_ATTENTION_FORCE_BUILD=TRUE FLASH_ATTENTION_FORCE_CXX11_ABI=TRUE \
  "$PY" setup.py build_ext >"$W/setup.log" 2>&1)
if [ ! -f "$W/build.ninja" ]; then tail -30 "$W/setup.log"; echo "no build.ninja captured"; exit 1; fi
cp "$W/build.ninja" "$OUT/build.ninja"
echo "build.ninja: $(grep -c '^build .*cuda_compile' "$W/build.ninja") CUDA units ($(($(date +%s) - t0)) s in)"
python3 "$HERE/fa3_sample.py" "$(cat "$W/build.dir")/build.ninja" "$REAL_NINJA" "$W/fa2/flash_attn-2.8.3" "$W/obj" \
  >"$OUT/commands.jsonl" || exit 1
# hopper/setup.py puts CUDA 13's CCCL headers on the compilers' paths for
# the build it runs (CPLUS_INCLUDE_PATH, C_INCLUDE_PATH); the same for these.
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export CPLUS_INCLUDE_PATH="$CUDA_HOME/include/cccl${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}"
export C_INCLUDE_PATH="$CUDA_HOME/include/cccl${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
# Leave the rest of the call's 600 s to the compiles.
left=$(( 560 - ($(date +%s) - t0) ))
[ "$left" -lt "$DEADLINE" ] && DEADLINE=$left
echo "compiling $(wc -l <"$OUT/commands.jsonl") units, $JOBS at once, deadline ${DEADLINE} s"
python3 "$HERE/unit_sample.py" "$OUT/commands.jsonl" "$OUT/samples.jsonl" --jobs "$JOBS" --deadline "$DEADLINE"
(cd "$(cat "$W/build.dir")" && tar -czf "$OUT/errs.tgz" ./*.err "$W"/obj/*.err 2>/dev/null)
echo "done in $(($(date +%s) - t0)) s"
