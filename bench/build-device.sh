#!/usr/bin/env bash
# `wheelwright build` on the GPU machine, end to end, in minutes:
#   1. tinyext (bench/device/tinyext, a real torch CUDAExtension): detect, plan,
#      the real pip/setuptools/ninja/nvcc build, the wheel, verify (import);
#   2. the same with MAX_JOBS=1, for its peak memory;
#   3. the same inside a cgroup v2 whose memory.max sits between the two peaks,
#      with MAX_JOBS=2: the kernel's OOM killer kills a compiler, the build is
#      retried with fewer jobs in the same tree, finished objects are kept;
#   4. verify.py's forward-pass check on the GPU, with a stand-in flash_attn
#      whose flash_attn_func is torch's SDPA (the check itself is what is tested).
# Usage (on the device, repo root): OUT=dir WW=path/to/wheelwright bash bench/build-device.sh
set -u
OUT=${OUT:?}
WW=${WW:-./target/release/wheelwright}
W=/tmp/ww; rm -rf $W; mkdir -p $W
summary=$OUT/summary.txt
say() { echo "$*" | tee -a "$summary"; }
peak_of() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["peak_memory"]["build_tree_rss_bytes"] or 0)' "$1"; }
brief() { python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("outcome", r["outcome"], "exit", r["exit_code"], "duration", round(r["duration_seconds"], 1))
for a in r["attempts"]:
    print("  attempt", a["max_jobs"], a["nvcc_threads"], a["outcome"], round(a["seconds"], 1),
          "tree_rss", a["peak_memory"].get("build_tree_rss_bytes"), "cgroup", a["peak_memory"].get("cgroup_bytes"),
          "findings", [f["id"] for f in a["findings"]])
print("  wheel", (r.get("wheel") or {}).get("name"), "verify", r.get("verify"))
print("  plan archs", (r.get("plan") or {}).get("archs"), "jobs", (r.get("plan") or {}).get("max_jobs"),
      "findings", [f["id"] for f in r["findings"]])
PY
}

# Each step builds its own copy: a tree is built in place, so its build/ dir
# (the objects) would carry over from one step to the next.
for n in 1 2 3; do cp -r bench/device/tinyext $W/t$n; done

say "== 1. tinyext, planned"
$WW build $W/t1 --recipe torch-ext --work-dir $W/w1 --out $W/o1 >$W/c1.txt 2>&1; say "rc=$?"
brief $W/o1/report.json | tee -a "$summary"
cp $W/o1/report.json $OUT/tiny-report.json; cp $W/o1/build.log $OUT/tiny-build.log

say "== 2. tinyext, MAX_JOBS=1"
$WW build $W/t2 --recipe torch-ext --max-jobs 1 --no-verify --work-dir $W/w2 --out $W/o2 >$W/c2.txt 2>&1; say "rc=$?"
brief $W/o2/report.json | tee -a "$summary"

p_many=$(peak_of $W/o1/report.json); p_one=$(peak_of $W/o2/report.json)
limit=$(( (p_many + p_one) / 2 ))
say "== 3. tinyext, MAX_JOBS=2 in a cgroup with memory.max=$limit (peaks: j1 $p_one, planned $p_many)"
rm -rf $W/w3
python3 bench/device/cgroup_run.py ww-oom --memory-max $limit -- \
  $WW build $W/t3 --recipe torch-ext --max-jobs 2 --force --no-verify \
  --work-dir $W/w3 --out $W/o3 >$W/c3.txt 2>&1; say "rc=$?"
tail -1 $W/c3.txt | tee -a "$summary"
brief $W/o3/report.json | tee -a "$summary"
cp $W/o3/report.json $OUT/oom-report.json; cp $W/o3/build.log $OUT/oom-build.log
grep -nE '^\s*\[[0-9]+/[0-9]+\]|=== wheelwright|Killed|died due to signal' $W/o3/build.log | cut -c1-160 | tee -a "$summary"

if [ "${SKIP_VERIFY_STEP:-}" = 1 ]; then exit 0; fi
say "== 4. verify.py forward pass with an SDPA stand-in for flash_attn"
mkdir -p $W/v
python3 - $W/v/flash_attn-2.8.3-py3-none-any.whl <<'PY'
import sys, zipfile
src = '''__version__ = "2.8.3"
import torch.nn.functional as F

def flash_attn_func(q, k, v, causal=False):
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
    return o.transpose(1, 2)
'''
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("flash_attn/__init__.py", src)
    z.writestr("flash_attn-2.8.3.dist-info/METADATA", "Metadata-Version: 2.1\nName: flash_attn\nVersion: 2.8.3\n")
    z.writestr("flash_attn-2.8.3.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("flash_attn-2.8.3.dist-info/RECORD", "")
PY
# A venv that sees this interpreter's torch, the stand-in installed in it;
# then verify.py's check step as the build runs it (the module list is the
# wheel's, which wheelwright reads from the archive).
python3 -m venv --system-site-packages $W/v/venv
$W/v/venv/bin/python -m pip install --no-deps --no-index $W/v/flash_attn-2.8.3-py3-none-any.whl >/dev/null 2>&1
(cd $W/v && $W/v/venv/bin/python $OLDPWD/crates/wheelwright-build/src/verify.py check flash-attn flash_attn) 2>&1 | tail -1 | tee $OUT/verify.json | tee -a "$summary"
cp $W/c3.txt $OUT/oom-console.txt
