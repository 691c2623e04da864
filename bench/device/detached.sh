# Sourced (not run) by the device scripts that start a build detached and
# poll it with back-to-back calls: full-build.sh, fa3-reduced.sh and
# oom-cgroup.sh. They set W (the run's folder: pid, plan.json, console.log,
# out/) and OUT (what comes back from the device) before their `case`.

# The detached build still runs.
running() { [ -f $W/pid ] && kill -0 "$(cat $W/pid)" 2>/dev/null; }

# `wait SECONDS`: until the build ends, at most SECONDS (560 unless given),
# then the script's own `collect`.
wait_then_collect() {
  end=$(( $(date +%s) + ${1:-560} ))
  while [ "$(date +%s)" -lt "$end" ] && running; do sleep 5; done
  bash "$0" collect
}

# What every `collect` copies to $OUT, as far as it exists yet: plan.json,
# report.json, and the tails of build.log and of the console.
copy_records() {
  running && echo "STILL RUNNING (pid $(cat $W/pid))"
  cp $W/plan.json "$OUT/" 2>/dev/null
  cp $W/out/report.json "$OUT/" 2>/dev/null
  tail -c 2000000 $W/out/build.log >"$OUT/build.log.tail" 2>/dev/null
  tail -c 200000 $W/console.log >"$OUT/console.tail" 2>/dev/null
}

# `status`: whether the build runs.
say_status() {
  running && echo "running (pid $(cat $W/pid))" || echo "not running"
}
