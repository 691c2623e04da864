#!/usr/bin/env python3
"""Run a command in a fresh cgroup v2 and measure it (GPU machine, as root).

Usage: cgroup_run.py NAME [--memory-max BYTES] [--cpus LIST] -- COMMAND...
Prints one JSON line: wall seconds, exit code, the peak summed RSS of every
process in the cgroup (sampled every 0.25 s: what a cost model of compiler
memory predicts), the cgroup's own memory.peak (which also counts page cache),
and how many processes the kernel killed for memory in it (memory.events oom_kill).
--cpus LIST (`0-7`) pins the cgroup to those CPUs (cpuset.cpus; the cpuset
controller is enabled in the root's subtree_control first); the command then
sees them as its CPUs (sched_getaffinity, nproc), not os.cpu_count().
With CGROUP_RUN_TRACE=FILE it also writes the summed RSS over time to FILE, one
`seconds MiB` line per second (the format of data/*.mem.txt), for fitting the
cost model's memory profile.
"""
import json, os, subprocess, sys, threading, time

def main():
    args = sys.argv[1:]
    name = args.pop(0)
    mem_max = cpus = None
    while args[0] != "--":
        if args[0] == "--memory-max":
            mem_max = args[1]; args = args[2:]
        elif args[0] == "--cpus":
            cpus = args[1]; args = args[2:]
        else:
            sys.exit("cgroup_run.py: unknown option %s" % args[0])
    cmd = args[1:]
    cg = "/sys/fs/cgroup/" + name
    if cpus:
        with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
            f.write("+cpuset")
    os.makedirs(cg, exist_ok=True)
    if cpus:
        open(cg + "/cpuset.cpus", "w").write(cpus)
        mems = open("/sys/fs/cgroup/cpuset.mems.effective").read().strip() if os.path.exists(
            "/sys/fs/cgroup/cpuset.mems.effective") else "0"
        open(cg + "/cpuset.mems", "w").write(mems)
    if mem_max:
        open(cg + "/memory.max", "w").write(mem_max)
        open(cg + "/memory.swap.max", "w").write("0")
    peak = {"rss": 0}
    done = threading.Event()
    trace_path = os.environ.get("CGROUP_RUN_TRACE")
    trace = open(trace_path, "w") if trace_path else None
    def sample():
        last = -1
        while not done.is_set():
            total = 0
            try:
                pids = open(cg + "/cgroup.procs").read().split()
            except OSError:
                pids = []
            for p in pids:
                try:
                    for line in open("/proc/%s/status" % p):
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            peak["rss"] = max(peak["rss"], total)
            second = int(time.time() - start)
            if trace and second > last:
                last = second
                trace.write("%d %d\n" % (last, total // 2**20)); trace.flush()
            time.sleep(0.25)
    def oom_kills():
        try:
            for line in open(cg + "/memory.events"):
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0
    kills_before = oom_kills()
    start = time.time()
    t = threading.Thread(target=sample); t.start()
    proc = subprocess.Popen(cmd, preexec_fn=lambda: open(cg + "/cgroup.procs", "w").write(str(os.getpid())))
    rc = proc.wait()
    wall = time.time() - start
    done.set(); t.join()
    if trace:
        trace.close()
    try:
        cg_peak = int(open(cg + "/memory.peak").read())
    except OSError:
        cg_peak = None
    print(json.dumps({"name": name, "cmd": cmd, "rc": rc, "wall_seconds": round(wall, 1),
                      "peak_rss_bytes": peak["rss"], "cgroup_memory_peak_bytes": cg_peak,
                      "memory_max": mem_max, "cpus": cpus, "oom_kills": oom_kills() - kills_before}), flush=True)
    return rc

sys.exit(main())
