#!/usr/bin/env python3
"""The ninja phase against its bound, from ninja's own log.

    python3 bench/ninja_ratio.py NINJA_LOG MAX_JOBS [--json]

ratio = span / (sum of edge times / MAX_JOBS), where span is the first start to
the last end in the log and an edge's time is end - start (ninja log v5-v7:
start_ms, end_ms, mtime, output, hash). 1.0 means every one of the MAX_JOBS
slots was busy from the first start to the last end. When an output is listed
more than once (a retry in the same build dir), its last entry counts.
Prints one line, or a JSON object with --json.
"""

import json
import sys


def read_log(path):
    edges = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            try:
                start, end = int(parts[0]), int(parts[1])
            except ValueError:
                continue
            edges[parts[3]] = (start, end)
    return edges


def ratio(edges, jobs):
    if not edges or jobs < 1:
        raise ValueError("no edges in the log, or MAX_JOBS < 1")
    first = min(s for s, _ in edges.values())
    last = max(e for _, e in edges.values())
    busy = sum(e - s for s, e in edges.values())
    span = (last - first) / 1000.0
    bound = busy / 1000.0 / jobs
    return {
        "edges": len(edges),
        "max_jobs": jobs,
        "span_seconds": round(span, 3),
        "sum_edge_seconds": round(busy / 1000.0, 3),
        "bound_seconds": round(bound, 3),
        "ratio": round(span / bound, 4) if bound > 0 else None,
    }


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    r = ratio(read_log(argv[1]), int(argv[2]))
    if "--json" in argv:
        print(json.dumps(r, indent=2))
    else:
        print(
            "ninja phase: span %.1f s, bound %.1f s (sum %.1f s / %d jobs), ratio %.3f over %d edges"
            % (r["span_seconds"], r["bound_seconds"], r["sum_edge_seconds"], r["max_jobs"], r["ratio"], r["edges"])
        )
    return 0



if __name__ == "__main__":
    sys.exit(main(sys.argv))
