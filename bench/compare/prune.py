#!/usr/bin/env python3
"""Cut an extracted flash-attn 2.8.3 tree down to the bench/compare subset.

    prune.py TREE UNITS_TXT

Keeps `csrc/flash_attn/flash_api.cpp` and the `.cu` units named in UNITS_TXT:
the other `csrc/flash_attn/src/*.cu` files are deleted and their lines taken out
of `setup.py`'s `sources` list, so flash-attn's own `setup.py` (with its own
MAX_JOBS/NVCC_THREADS logic) and wheelwright's recipe (which reads the tree)
build exactly the same units. Fails when a unit is missing or setup.py does
not list it.
"""
import os
import re
import sys

tree, units_txt = sys.argv[1], sys.argv[2]
keep = {l.split("#")[0].strip() for l in open(units_txt)} - {""}
src = os.path.join(tree, "csrc", "flash_attn", "src")
present = {f[:-3] for f in os.listdir(src) if f.endswith(".cu")}
missing = keep - present
if missing:
    sys.exit(f"prune.py: not in the tree: {sorted(missing)}")
for stem in present - keep:
    os.remove(os.path.join(src, stem + ".cu"))
setup = os.path.join(tree, "setup.py")
text = open(setup).read()
line = re.compile(r'^\s*"csrc/flash_attn/src/([A-Za-z0-9_]+)\.cu",\n', re.M)
listed = {m.group(1) for m in line.finditer(text)}
if keep - listed:
    sys.exit(f"prune.py: setup.py does not list {sorted(keep - listed)}")
text = line.sub(lambda m: m.group(0) if m.group(1) in keep else "", text)
open(setup, "w").write(text)
print(f"prune.py: kept {len(keep)} of {len(present)} .cu units and flash_api.cpp")
