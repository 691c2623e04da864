#!/usr/bin/env python3
"""Pick the fixed subset of flash-attn 2.8.3 units for bench/compare.

Reads a full build's ninja log (default: the committed
bench/results/h200-full-build-ordered/ninja_log: 73 compiles of flash-attn 2.8.3
for sm_90 on the H200 machine), sorts the `.cu` compiles by duration and takes
the one at the middle of each of N equal slices (N=8), so the subset's per-unit
time profile follows the full build's: one of the longest, one of the shortest,
and evenly between. Prints units.txt: one unit stem per line, with its measured
seconds as a comment.

    python3 bench/compare/pick_units.py > bench/compare/units.txt
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
log = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    here, "..", "results", "h200-full-build-ordered", "ninja_log")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
edges = []
for line in open(log):
    if line.startswith("#"):
        continue
    start, end, _, out = line.split("\t")[:4]
    stem = os.path.basename(out).rsplit(".", 1)[0]
    if stem.startswith("flash_") and stem != "flash_api":  # .cu units; flash_api.cpp (g++) is always built
        edges.append(((int(end) - int(start)) / 1000, stem))
edges.sort()
print(f"# {n} of the {len(edges)} .cu units of {os.path.relpath(log, os.path.join(here, '..', '..'))}, "
      f"the middle one of each of {n} slices by duration (bench/compare/pick_units.py)")
for i in range(n):
    seconds, stem = edges[int((i + 0.5) * len(edges) / n)]
    print(f"{stem}  # {seconds:.0f} s")
