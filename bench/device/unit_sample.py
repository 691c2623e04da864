#!/usr/bin/env python3
"""Compile a sample of units K at a time; per unit: time, CPU and peak memory.

    unit_sample.py COMMANDS.jsonl OUT.jsonl --jobs K [--deadline SECONDS]

COMMANDS.jsonl: one compile per line, {"name", "argv", "cwd"} plus any other
keys (copied to the output). They start in the given order (put the longest
first), at most K at once. Per compile the output line adds:
- `wall_s`, `start_s`, `end_s` (seconds from the run's start);
- `cpu_s`: user + sys of the compiler and everything it waited for
  (`os.wait4`'s rusage), which time-slicing above one job per core does not
  inflate;
- `peak_tree_rss_bytes`: the largest summed RSS of the compile's process
  tree, sampled every 0.25 s (one /proc scan serves every running compile),
  the quantity the cost model's per-unit peaks are;
- `mean_running`: how many compiles ran on average during this one (the load
  the cost model's contention divides out: `s(L) = 1 + c*L*(n-1)/n`, L =
  running / cpus), and `cpus`;
- `rc`, and `cut: true` for a compile still running at the deadline (killed;
  its wall is a lower bound, not a measurement).
Also one line `{"summary": ...}` at the end: the span, the cpus, the deadline.
The box's peak summed RSS of all compiles is in the summary too.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def scan():
    """{pid: (ppid, rss_bytes)} of every process."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            ppid = int(st.rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/statm" % p) as f:
                rss = int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
        out[int(p)] = (ppid, rss)
    return out


def tree_rss(procs, kids, root):
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        total += procs.get(p, (0, 0))[1]
        stack += kids.get(p, [])
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("commands")
    ap.add_argument("out")
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--deadline", type=float, default=0, help="kill what still runs after this many seconds")
    a = ap.parse_args()
    todo = [json.loads(l) for l in open(a.commands) if l.strip()]
    cpus = os.cpu_count()
    t0 = time.time()
    running = {}  # pid -> record
    done = []
    load_area = {}  # pid -> integral of running count over its life
    last = t0
    box_peak = 0
    out = open(a.out, "w")

    def finish(pid, status, rusage, cut=False):
        rec = running.pop(pid)
        now = time.time()
        rec["end_s"] = round(now - t0, 2)
        rec["wall_s"] = round(now - t0 - rec["start_s"], 2)
        rec["cpu_s"] = round(rusage.ru_utime + rusage.ru_stime, 2) if rusage else None
        rec["rc"] = os.waitstatus_to_exitcode(status) if status is not None else None
        rec["mean_running"] = round(load_area.pop(pid) / max(rec["wall_s"], 1e-9), 3)
        rec["cpus"] = cpus
        if cut:
            rec["cut"] = True
        out.write(json.dumps(rec) + "\n")
        out.flush()
        done.append(rec)
        print("%-55s %s wall %6.1f s cpu %6s s peak %5.2f GiB load %.1f" % (
            rec["name"], "CUT" if cut else "rc %d" % rec["rc"], rec["wall_s"], rec["cpu_s"],
            rec["peak_tree_rss_bytes"] / 2**30, rec["mean_running"]), flush=True)

    while todo or running:
        now = time.time()
        for pid in running:
            load_area[pid] += len(running) * (now - last)
        last = now
        while todo and len(running) < a.jobs:
            job = todo.pop(0)
            rec = {k: v for k, v in job.items() if k not in ("argv",)}
            rec["start_s"] = round(time.time() - t0, 2)
            rec["peak_tree_rss_bytes"] = 0
            try:
                p = subprocess.Popen(job["argv"], cwd=job.get("cwd"), stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(job.get("cwd") or ".", job["name"] + ".err"), "w"),
                                     start_new_session=True)
            except OSError as e:
                rec.update(rc=127, error=str(e), wall_s=0.0)
                out.write(json.dumps(rec) + "\n")
                print("%-55s did not start: %s" % (rec["name"], e), flush=True)
                continue
            running[p.pid] = rec
            load_area[p.pid] = 0.0
        time.sleep(0.25)
        now = time.time()
        procs = scan()
        kids = {}
        for pid, (ppid, _) in procs.items():
            kids.setdefault(ppid, []).append(pid)
        total = 0
        for pid, rec in running.items():
            r = tree_rss(procs, kids, pid)
            total += r
            rec["peak_tree_rss_bytes"] = max(rec["peak_tree_rss_bytes"], r)
        box_peak = max(box_peak, total)
        for pid in list(running):
            got, status, rusage = os.wait4(pid, os.WNOHANG)
            if got:
                load_area[pid] += len(running) * (time.time() - last)
                finish(pid, status, rusage)
        if a.deadline and now - t0 > a.deadline and running:
            for pid in list(running):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, rusage = os.wait4(pid, 0)
                finish(pid, None, rusage, cut=True)
            for job in todo:
                out.write(json.dumps({"name": job["name"], "not_started": True}) + "\n")
            todo = []
    summary = {"summary": {"span_s": round(time.time() - t0, 1), "cpus": cpus, "jobs": a.jobs,
                           "deadline_s": a.deadline, "compiles": len(done),
                           "cut": sum(1 for r in done if r.get("cut")),
                           "peak_all_compiles_bytes": box_peak}}
    out.write(json.dumps(summary) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
