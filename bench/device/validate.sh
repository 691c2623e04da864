#!/usr/bin/env bash
# On the GPU machine (repo root, as root): real compiles of flash-attn 2.8.3 kernel
# files next to the planner's predictions, a real OOM recovery, and two captures.
# Usage: WW=path/to/wheelwright RES=dir bash bench/device/validate.sh
# Writes RES/*.json and logs; RES/summary.txt is the digest.
set -u
WW=${WW:?}; RES=${RES:?}; mkdir -p "$RES"; S=$RES/summary.txt
REPO=$(pwd); T=/tmp/val; rm -rf $T; mkdir -p $T
say() { echo "$*" | tee -a "$S"; }
tar xzf .carry/flash_attn-2.8.3.tar.gz -C $T; export FA_ROOT=$T/flash_attn-2.8.3
# A subset extension: fast forward kernels, all at sm_90 only (as a one-arch build).
mksub() { # name files...
  local d=$T/$1; shift; mkdir -p $d; cp bench/device/fa_subset/setup.py $d/
  for u in "$@"; do cp $FA_ROOT/csrc/flash_attn/src/$u.cu $d/; done; echo $d; }
SIX="flash_fwd_hdim32_fp16_causal_sm80 flash_fwd_hdim32_bf16_causal_sm80 flash_fwd_hdim64_fp16_causal_sm80 flash_fwd_hdim64_bf16_causal_sm80 flash_fwd_hdim192_fp16_causal_sm80 flash_fwd_hdim192_bf16_causal_sm80"

say "== captures"
$WW detect --json >$RES/detect_h100.json 2>$RES/detect_h100.err; say "detect rc=$?"
$WW doctor >$RES/doctor_h100.txt 2>&1; say "doctor rc=$?"
$WW plan --json >$RES/plan_h100.json 2>&1; say "plan rc=$?"
# ninja hidden: call the venv's python by path with a PATH that has no ninja
PY=$(command -v python3); CH=/usr/local/cuda
cp -r bench/device/tinyext $T/noninja
( cd $T/noninja && PATH=$CH/bin:/usr/bin:/bin $PY -m pip wheel --no-build-isolation --no-deps -v . -w dist ) >$RES/ninja_missing.log 2>&1
echo "rc=$?" >>$RES/ninja_missing.log
# torch hidden: a venv that has setuptools but no torch, building flash-attn without isolation
python3 -m venv $T/vnt >/dev/null 2>&1; SP=$($T/vnt/bin/python -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')
DP=$(dirname "$($PY -c 'import setuptools;print(setuptools.__file__)')")/..
for m in setuptools pkg_resources _distutils_hack wheel packaging; do [ -e $DP/$m ] && ln -s $DP/$m $SP/$m; done
( cd $FA_ROOT && $T/vnt/bin/python -m pip wheel --no-build-isolation --no-deps -v . -w $T/ntdist ) >$RES/torch_missing_flash_attn.log 2>&1
echo "rc=$?" >>$RES/torch_missing_flash_attn.log
say "captures done"

val() { # label jobs threads dir
  local label=$1 j=$2 t=$3 d=$4
  $WW plan --recipe torch-ext --source $d --archs 90 --max-jobs $j --nvcc-threads $t --json >$RES/pred_$label.json 2>$RES/pred_$label.err
  say "predict $label: $(python3 -c 'import json,sys;p=json.load(open(sys.argv[1]));print(p["max_jobs"],p["nvcc_threads"],p["predicted"])' $RES/pred_$label.json 2>&1)"
  rm -rf $d/build
  local envs; envs=$(python3 -c 'import json,sys;e=json.load(open(sys.argv[1]))["env"];print(" ".join(k+"="+e[k] for k in ("MAX_JOBS","NVCC_THREADS","TORCH_CUDA_ARCH_LIST") if k in e))' $RES/pred_$label.json)
  say "env $label: $envs"
  ( cd $d && python3 $REPO/bench/device/cgroup_run.py ww-$label -- env $envs \
      python3 setup.py build_ext --inplace ) >$RES/val_$label.log 2>&1
  say "measured $label: $(tail -1 $RES/val_$label.log)"
}
val six_j6_t1 6 1 "$(mksub six $SIX)"
say "== OOM recovery (4 kernels, first attempt forced to 4 jobs in an 8 GiB cgroup), run beside the j3 measurement"
F=$(mksub four flash_fwd_hdim32_fp16_causal_sm80 flash_fwd_hdim32_bf16_causal_sm80 flash_fwd_hdim64_fp16_causal_sm80 flash_fwd_hdim64_bf16_causal_sm80)
( python3 bench/device/cgroup_run.py ww-oomrec --memory-max 8G -- \
  $WW build $F --recipe torch-ext --archs 90 --max-jobs 4 --nvcc-threads 1 --no-verify --work-dir $T/oomw --out $RES/oom >$RES/oom_console.log 2>&1 ) &
val six_j3_t1 3 1 $T/six
wait
say "oom: $(tail -1 $RES/oom_console.log)"
python3 -c 'import json,sys;r=json.load(open(sys.argv[1]));print([(a["max_jobs"],a["outcome"],round(a["seconds"])) for a in r["attempts"]], r["outcome"], r.get("wheel"))' $RES/oom/report.json 2>&1 | tee -a $S
# no CUDA at all: CUDA_HOME unset, no nvcc on PATH, /usr/local/cuda moved away (last: it breaks nvcc)
cp -r bench/device/tinyext $T/nocuda; mv /usr/local/cuda /usr/local/cuda.off
( cd $T/nocuda && env -u CUDA_HOME -u CUDA_PATH PATH=$(dirname $PY):/usr/bin:/bin $PY -m pip wheel --no-build-isolation --no-deps -v . -w dist ) >$RES/cuda_home_missing.log 2>&1
echo "rc=$?" >>$RES/cuda_home_missing.log
mv /usr/local/cuda.off /usr/local/cuda
say "ALL DONE"
