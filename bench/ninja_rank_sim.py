#!/usr/bin/env python3
"""What a start order would have given on a measured build: replay a ninja
log's own compile times in a given order on MAX_JOBS slots (a new compile
starts on the first free slot, as ninja does) and print the span over the
bound (sum of times / MAX_JOBS).

    python3 bench/ninja_rank_sim.py MEASURED_NINJA_LOG RANKING_NINJA_LOG [JOBS]

Orders compared: the measured log's own start order (what happened), ranked
by RANKING_NINJA_LOG's per-unit times (units it lacks take their class's mean:
the name without fp16/bf16), ranked by those class means alone, and by the
measured times themselves (longest first with hindsight).
"""
import heapq
import os
import re
import sys


def load(path):
    times, starts = {}, {}
    for line in open(path):
        if line.startswith("#"):
            continue
        a, b, _, out = line.split("\t")[:4]
        unit = os.path.basename(out).rsplit(".", 1)[0]
        times[unit] = (int(b) - int(a)) / 1000
        starts[unit] = int(a)
    return times, starts


measured, starts = load(sys.argv[1])
ranking, _ = load(sys.argv[2])
jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 16
bound = sum(measured.values()) / jobs


def span(order):
    slots = [0.0] * jobs
    for unit in order:
        heapq.heappush(slots, heapq.heappop(slots) + measured[unit])
    return max(slots)


def cls(unit):
    return re.sub(r"_(fp16|bf16)", "", unit)


means = {}
for unit, t in ranking.items():
    means.setdefault(cls(unit), []).append(t)
class_mean = lambda u: sum(means.get(cls(u), [300.0])) / len(means.get(cls(u), [1]))
per_unit = lambda u: ranking.get(u, class_mean(u))
for name, order in [
    ("as started", sorted(measured, key=lambda u: starts[u])),
    ("ranked by per-unit times", sorted(measured, key=lambda u: -per_unit(u))),
    ("ranked by class means", sorted(measured, key=lambda u: -class_mean(u))),
    ("ranked by the measured times", sorted(measured, key=lambda u: -measured[u])),
]:
    print(f"{name:30} span {span(order):7.1f} s  ratio {span(order) / bound:.3f}")
