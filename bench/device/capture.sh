#!/usr/bin/env bash
# Captures real toolchain output and real failure logs on the GPU machine.
# Usage (on the device): bash bench/device/capture.sh DESTDIR
# Every file written here is real output of the named command on that machine.
set -u
D=${1:?dest}; mkdir -p "$D/sys" "$D/logs"; S=$D/sys; L=$D/logs
REPO=$(pwd)
cap() { local f=$1; shift; { "$@"; echo "rc=$?"; } >"$S/$f" 2>&1; }
# ---- system facts -------------------------------------------------------------
cap uname.txt uname -a
cap nproc.txt nproc
cap lscpu.txt lscpu
cp /proc/meminfo "$S/proc_meminfo.txt"; cp /proc/self/cgroup "$S/proc_self_cgroup.txt"
cp /proc/cpuinfo "$S/proc_cpuinfo.txt"
cap mounts_cgroup.txt sh -c 'grep cgroup /proc/mounts; ls /sys/fs/cgroup; for f in memory.max memory.current memory.peak cpu.max cgroup.controllers cgroup.subtree_control; do echo "== $f"; cat /sys/fs/cgroup/$f; done'
cap which.txt sh -c 'echo PATH=$PATH; echo CUDA_HOME=${CUDA_HOME:-}; echo CUDA_PATH=${CUDA_PATH:-}; echo VIRTUAL_ENV=${VIRTUAL_ENV:-}; for t in nvcc nvidia-smi python3 python ninja gcc g++ cc c++ gcc-11 gcc-12 gcc-13 gcc-14 g++-12 g++-13 pip; do printf "%s: " $t; command -v $t || echo; done; ls -la /usr/local/ | grep -i cuda; ls /usr/bin/ | grep -E "^(gcc|g\+\+)(-[0-9]+)?$"'
cap nvcc_version.txt nvcc --version
cap nvidia_smi.txt nvidia-smi
cap nvidia_smi_query.txt nvidia-smi --query-gpu=index,name,uuid,compute_cap,memory.total,driver_version --format=csv,noheader,nounits
cap nvidia_smi_L.txt nvidia-smi -L
NV=$(command -v nvcc); CH=$(dirname "$(dirname "$NV")")
cp "$CH/include/crt/host_config.h" "$S/host_config.h" 2>/dev/null
cap cuda_home_ls.txt ls -la "$CH" "$CH/bin"
for c in gcc g++ gcc-12 g++-12 gcc-13 g++-13 cc c++; do
  command -v $c >/dev/null && { cap "${c}_version.txt" $c --version; cap "${c}_dumpfullversion.txt" $c -dumpfullversion; }
done
cap ninja_version.txt ninja --version
cap python_version.txt python3 -VV
P=crates/wheelwright-detect/src/probe.py
[ -f $P ] && { cap probe_stdout.json python3 $P; python3 $P > "$S/probe_clean.json" 2>/dev/null; }
cap pip_list.txt python3 -m pip list
cap torch_info.txt python3 -c 'import torch,sys;print(torch.__version__, torch.version.cuda, torch._C._GLIBCXX_USE_CXX11_ABI, torch.cuda.is_available(), torch.cuda.get_device_capability(), torch.cuda.get_device_name());import torch.utils.cpp_extension as c; print(c.CUDA_HOME)'
cp "$(python3 -c 'import torch.utils.cpp_extension as c;print(c.__file__)')" "$S/cpp_extension.py" 2>/dev/null
# ---- real failure logs, each from its own copy of the tiny extension ----------
T=/tmp/cap; rm -rf $T; mkdir -p $T
mk() { rm -rf $T/$1; cp -r $REPO/bench/device/tinyext $T/$1; echo $T/$1; }
pipw() { python3 -m pip wheel --no-build-isolation --no-deps -v . -w dist; }
( cd "$(mk healthy)" && pipw ) >$L/healthy_tinyext.log 2>&1; echo "rc=$?" >>$L/healthy_tinyext.log
# ninja hidden: a PATH holding the venv's bin without ninja
VB=$(dirname "$(command -v python3)"); mkdir -p $T/noninja
for f in "$VB"/*; do b=$(basename $f); [ "$b" = ninja ] || ln -sf "$f" $T/noninja/$b; done
( cd "$(mk noninja_src)" && PATH=$T/noninja:$CH/bin:/usr/bin:/bin pipw ) >$L/ninja_missing.log 2>&1 &
# nvcc of another CUDA: fake CUDA_HOME whose nvcc prints CUDA 12.2's real banner
mkdir -p $T/cuda122/bin; cp -r "$CH/include" $T/cuda122/ 2>/dev/null
cat >$T/cuda122/bin/nvcc <<'NV'
#!/bin/sh
echo "nvcc: NVIDIA (R) Cuda compiler driver"
echo "Copyright (c) 2005-2023 NVIDIA Corporation"
echo "Built on Tue_Jun_13_19:16:58_PDT_2023"
echo "Cuda compilation tools, release 12.2, V12.2.140"
echo "Build cuda_12.2.r12.2/compiler.33191640_0"
NV
chmod +x $T/cuda122/bin/nvcc
( cd "$(mk mismatch)" && CUDA_HOME=$T/cuda122 pipw ) >$L/cuda_mismatch.log 2>&1 &
( cd "$(mk cerr)" && sed -i 's/y.numel();/y.numel()/' kernel.cu && pipw ) >$L/compile_error_nvcc.log 2>&1 &
( cd "$(mk cxxerr)" && sed -i 's/m.def(/m.def(undefined_symbol_here, /' tinyext.cpp && pipw ) >$L/compile_error_gxx.log 2>&1 &
# torch hidden: a venv without torch, build without isolation
python3 -m venv $T/venv_notorch >/dev/null 2>&1
( cd "$(mk notorch)" && $T/venv_notorch/bin/python -m pip wheel --no-build-isolation --no-deps -v . -w dist ) >$L/torch_missing_tinyext.log 2>&1 &
( mkdir -p $T/fa && cd $T/fa && tar xzf $REPO/.carry/flash_attn-2.8.3.tar.gz && cd flash_attn-2.8.3 && $T/venv_notorch/bin/python -m pip wheel --no-build-isolation --no-deps -v . -w dist ) >$L/torch_missing_flash_attn.log 2>&1 &
# build isolation without an index (air-gapped runner)
( cd "$(mk isolated)" && python3 -m pip wheel --no-index --no-deps -v . -w dist ) >$L/build_isolation_offline.log 2>&1 &
# sm_80-only build, then run on the H100: no kernel image
( cd "$(mk sm80)" && TORCH_CUDA_ARCH_LIST=8.0 pipw && python3 -m pip install --no-deps --target $T/sm80site dist/*.whl && cd /tmp && PYTHONPATH=$T/sm80site python3 -c 'import torch, tinyext; print(tinyext.add_one(torch.ones(4, device="cuda")))' ) >$L/no_kernel_image.log 2>&1 &
# C++11 ABI forced off against torch's ABI: import fails with an undefined symbol
( cd "$(mk abi)" && TINYEXT_EXTRA_CFLAGS=-D_GLIBCXX_USE_CXX11_ABI=0 pipw && python3 -m pip install --no-deps --target $T/abisite dist/*.whl && cd /tmp && PYTHONPATH=$T/abisite python3 -c 'import torch, tinyext' ) >$L/abi_mismatch.log 2>&1 &
# a tiny filesystem: disk full during the build
( mkdir -p $T/small && mount -t tmpfs -o size=1m tmpfs $T/small && cp -r $REPO/bench/device/tinyext $T/small/src && cd $T/small/src && TMPDIR=$T/small pipw ) >$L/disk_full.log 2>&1 &
# unsupported arch for CUDA 13
( cd "$(mk sm70)" && TORCH_CUDA_ARCH_LIST=7.0 pipw ) >$L/arch_unsupported_torch.log 2>&1 &
# OOM: two flash-attn backward TUs under a 3 GiB cgroup v2 limit
( mkdir -p /sys/fs/cgroup/wwoom && echo 3G >/sys/fs/cgroup/wwoom/memory.max && echo 0 >/sys/fs/cgroup/wwoom/memory.swap.max
  mkdir -p $T/oomext && cd $T/oomext && tar xzf $REPO/.carry/flash_attn-2.8.3.tar.gz && cd flash_attn-2.8.3 &&
  sh -c "echo \$\$ >/sys/fs/cgroup/wwoom/cgroup.procs; FLASH_ATTN_CUDA_ARCHS=90 FLASH_ATTENTION_FORCE_BUILD=TRUE MAX_JOBS=4 NVCC_THREADS=2 timeout 240 python3 -m pip wheel --no-build-isolation --no-deps -v . -w dist" ) >$L/oom_cgroup_flash_attn.log 2>&1 &
wait
for f in $L/*.log; do tail -c 300 $f | tail -n 3 | sed "s|^|$(basename $f): |"; done
# the wheel-unsupported case: a real wheel renamed to another platform tag
W=$(ls $T/healthy/dist/*.whl | head -1); cp "$W" $T/tinyext-0.1-cp39-cp39-win_amd64.whl
python3 -m pip install --no-deps $T/tinyext-0.1-cp39-cp39-win_amd64.whl >$L/wheel_unsupported.log 2>&1; echo "rc=$?" >>$L/wheel_unsupported.log
umount $T/small 2>/dev/null
