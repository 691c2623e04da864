//! The thrash watchdog on real PSI captures (`tests/fixtures/psi`), on
//! timelines averaged the way the kernel averages `avg10`, and on the real
//! runner with a fake build whose cgroup files (a fake root) say "at the
//! limit, all tasks stalled".

use std::sync::atomic::AtomicBool;

use super::*;
use crate::builder::memory::SamplerConfig;
use crate::builder::report::Outcome;
use crate::builder::runner::{run_attempts, BuildEvent, LineWatcher, RunnerConfig};
use crate::finding::Finding;
use crate::plan::recipe::{resolve_units, Recipe};
use crate::plan::{Order, ScheduleBasis};
use crate::test_support::{fixture, write_executable};
use crate::units::GIB;

const LIMIT_48G: u64 = 48 * GIB;

fn psi(name: &str) -> String {
    fixture(&format!("psi/{name}"))
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/psi")
        .join(name)
}

#[test]
fn parses_real_psi_captures() {
    let thrash = parse_pressure(&psi("h200-48g-thrash.memory.pressure")).unwrap();
    assert_eq!(thrash.some.avg10, 87.32);
    let full = thrash.full.unwrap();
    assert_eq!(
        (full.avg10, full.avg60, full.avg300, full.total_usec),
        (87.32, 87.88, 84.43, 820_454_392)
    );
    let calm = parse_pressure(&psi("calm-some-only.pressure")).unwrap();
    assert_eq!(calm.some.avg10, 0.0);
    assert_eq!(calm.full, None);
    let busy = parse_pressure(&psi("shared-2core-box.proc-pressure-memory")).unwrap();
    assert!(busy.full.unwrap().avg10 < 5.0, "{busy:?}");
    assert_eq!(
        parse_pressure("full avg10=1.00 avg60=1.00 avg300=1.00 total=5\n"),
        None
    );
    assert_eq!(
        parse_pressure("some avg10=x avg60=0 avg300=0 total=0\n"),
        None
    );
    assert_eq!(parse_pressure(""), None);
}

/// A fake root: this process in `build.slice` (cgroup v2) with a 48 GiB
/// `memory.max`, memory use `current`, a `memory.pressure` text, and a host
/// with plenty of memory.
fn cgroup_root(current: u64, pressure: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cg = root.join("sys/fs/cgroup/build.slice");
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(root.join("proc/self/cgroup"), "0::/build.slice\n").unwrap();
    std::fs::write(
        root.join("sys/fs/cgroup/cgroup.controllers"),
        "cpu memory\n",
    )
    .unwrap();
    std::fs::write(cg.join("memory.max"), format!("{LIMIT_48G}\n")).unwrap();
    std::fs::write(cg.join("memory.current"), format!("{current}\n")).unwrap();
    if let Some(p) = pressure {
        std::fs::write(cg.join("memory.pressure"), p).unwrap();
    }
    std::fs::write(
        root.join("proc/meminfo"),
        format!(
            "MemTotal:       {} kB\nMemAvailable:   {} kB\n",
            125 * 1024 * 1024,
            100 * 1024 * 1024
        ),
    )
    .unwrap();
    dir
}

#[test]
fn reads_the_builds_cgroup_pressure_else_the_hosts_else_says_there_is_none() {
    let thrash = psi("h200-48g-thrash.memory.pressure");
    let dir = cgroup_root(LIMIT_48G, Some(&thrash));
    let root = dir.path();
    let policy = ThrashPolicy::default();
    let w = ThrashWatch::start(root, &policy, None).unwrap();
    assert!(
        w.describe().contains("build.slice/memory.pressure")
            && w.describe().contains("48.0 GiB cgroup limit"),
        "{}",
        w.describe()
    );
    // Not in the cgroup: the host's file, against MemTotal.
    std::fs::remove_file(root.join("sys/fs/cgroup/build.slice/memory.pressure")).unwrap();
    std::fs::create_dir_all(root.join("proc/pressure")).unwrap();
    std::fs::write(
        root.join("proc/pressure/memory"),
        psi("shared-2core-box.proc-pressure-memory"),
    )
    .unwrap();
    let w = ThrashWatch::start(root, &policy, None).unwrap();
    assert!(
        w.describe().contains("proc/pressure/memory"),
        "{}",
        w.describe()
    );
    // A file without `full`, then none at all (a kernel without PSI, or
    // `psi=0`, whose files fail to read): no watchdog, and why.
    std::fs::write(
        root.join("proc/pressure/memory"),
        psi("calm-some-only.pressure"),
    )
    .unwrap();
    let why = ThrashWatch::start(root, &policy, None).unwrap_err();
    assert!(why.contains("has no `full` line"), "{why}");
    std::fs::remove_file(root.join("proc/pressure/memory")).unwrap();
    let why = ThrashWatch::start(root, &policy, None).unwrap_err();
    assert!(
        why.starts_with("no thrash watchdog: memory pressure (PSI) is not readable here")
            && why.contains("proc/pressure/memory"),
        "{why}"
    );
    let off = ThrashPolicy::with_override(Some("off")).0;
    assert!(ThrashWatch::start(root, &off, None)
        .unwrap_err()
        .contains("turned off"));
}

#[test]
fn the_override_sets_the_time_or_turns_it_off() {
    assert_eq!(
        ThrashPolicy::with_override(None),
        (ThrashPolicy::default(), None)
    );
    assert!(!ThrashPolicy::with_override(Some("0")).0.enabled);
    let (p, note) = ThrashPolicy::with_override(Some("2.5"));
    assert_eq!(
        (p.sustained, p.interval, note),
        (
            Duration::from_millis(2500),
            Duration::from_millis(250),
            None
        )
    );
    let (p, note) = ThrashPolicy::with_override(Some("soon"));
    assert_eq!(p, ThrashPolicy::default());
    assert!(note
        .unwrap()
        .contains("WHEELWRIGHT_THRASH_SECONDS=\"soon\""));
}

/// `full avg10` as the kernel computes it: every 2 s, avg = avg·e^(−2/10) +
/// share·(1 − e^(−2/10)), `share` the fraction of those 2 s all tasks stalled.
/// `stalled(t)` says whether second `t` was a full stall; one sample a second.
fn kernel_avg10(seconds: u64, stalled: impl Fn(u64) -> bool) -> Vec<f64> {
    let decay = (-2.0f64 / 10.0).exp();
    let mut avg = 0.0;
    let mut out = Vec::new();
    for t in 0..seconds {
        if t % 2 == 1 {
            let share = [t - 1, t].iter().filter(|s| stalled(**s)).count() as f64 / 2.0;
            avg = avg * decay + share * 100.0 * (1.0 - decay);
        }
        out.push(avg);
    }
    out
}

/// Feed a watch with the default policy one sample a second; the second at
/// which it stopped the attempt, if it did.
fn run_timeline(avg10: &[f64], used: impl Fn(u64) -> u64) -> Option<(u64, ThrashStop)> {
    let dir = cgroup_root(0, Some(&psi("h200-48g-thrash.memory.pressure")));
    let mut w = ThrashWatch::start(dir.path(), &ThrashPolicy::default(), None).unwrap();
    let t0 = Instant::now();
    avg10.iter().enumerate().find_map(|(t, a)| {
        let t = t as u64;
        w.observe(t0 + Duration::from_secs(t), Some(*a), Some(used(t)))
            .map(|s| (t, s))
    })
}

#[test]
fn a_sustained_thrash_at_the_ceiling_is_stopped_after_30_seconds() {
    // The H200 run: stalled all the time from second 0, at the limit.
    let avg10 = kernel_avg10(120, |_| true);
    let (t, stop) = run_timeline(&avg10, |_| LIMIT_48G).expect("stopped");
    // avg10 crosses 50 % after about 7 s; 30 s later it stops.
    assert!((36..=40).contains(&t), "stopped at {t} s");
    let level = avg10[t as usize];
    assert!(
        stop.evidence.starts_with(&format!(
            "tasks stalled on memory {level:.0} % of the last 10 s at the 48.0 GiB cgroup limit for 30 s: thrashing"
        )),
        "{}",
        stop.evidence
    );
    // The captured level (87 %) from the first sample: 30 s exactly.
    let (t, stop) = run_timeline(&[87.32; 60], |_| LIMIT_48G).expect("stopped");
    assert_eq!(t, 30);
    assert!(
        stop.evidence.starts_with(
            "tasks stalled on memory 87 % of the last 10 s at the 48.0 GiB cgroup limit for 30 s: thrashing (memory.pressure full avg10 ≥ 87 % on each of 31 samples, memory at 48.0 GiB)"
        ),
        "{}",
        stop.evidence
    );
    // A stall that lasts 45 s is stopped too (the spike test below is not
    // passing for a watchdog that never fires).
    assert!(run_timeline(&kernel_avg10(120, |t| t < 45), |_| LIMIT_48G).is_some());
}

#[test]
fn a_healthy_build_near_its_ceiling_with_brief_pressure_spikes_is_not_stopped() {
    // At 97 % of the limit all the time (page cache fills a cgroup), with a
    // 20 s full stall every minute (a burst of reclaim, a link step): avg10
    // peaks near 86 %, above the threshold for under 20 s each time.
    let spikes = kernel_avg10(600, |t| t % 60 < 20);
    let peak = spikes.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 80.0, "the spikes reach {peak}");
    let near = |_| LIMIT_48G / 100 * 97;
    assert_eq!(run_timeline(&spikes, near), None);
    // Thrashing pressure, but memory well below the ceiling (another
    // tenant's, or I/O): fewer jobs would not help; not stopped.
    assert_eq!(run_timeline(&[87.32; 120], |_| LIMIT_48G / 2), None);
    // Every dip below 50 % starts the 30 s over.
    let dips: Vec<f64> = (0..300)
        .map(|t| if t % 25 == 24 { 40.0 } else { 87.0 })
        .collect();
    assert_eq!(run_timeline(&dips, |_| LIMIT_48G), None);
    // An unreadable sample ends the run too: nothing is guessed.
    let dir = cgroup_root(LIMIT_48G, Some(&psi("h200-48g-thrash.memory.pressure")));
    let mut w = ThrashWatch::start(dir.path(), &ThrashPolicy::default(), None).unwrap();
    let t0 = Instant::now();
    for t in 0..120u64 {
        let full = (t % 20 != 19).then_some(87.0);
        assert_eq!(
            w.observe(t0 + Duration::from_secs(t), full, Some(LIMIT_48G)),
            None
        );
    }
}

/// The 20 flash-attn units of the H200 run (`bench/results/h200-oom-cgroup-thrash`:
/// its `order.txt`, `plan.json`), resolved as the planner resolved them
/// there: `bench/device/fa_subset/setup.py` beside the `.cu` files, sm_90 SASS
/// + PTX (2 gencodes), 16 CPUs, longest first. Also the planner's MAX_JOBS.
fn h200_subset() -> (ScheduleBasis, u32) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = repo.join("bench/results/h200-oom-cgroup-thrash");
    let order = std::fs::read_to_string(run.join("order.txt")).unwrap();
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("plan.json")).unwrap()).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo.join("bench/device/fa_subset/setup.py"),
        src.path().join("setup.py"),
    )
    .unwrap();
    for unit in order.lines() {
        std::fs::write(src.path().join(unit), "").unwrap();
    }
    let units = resolve_units(&Recipe::torch_ext(src.path()), Some(src.path()))
        .unwrap()
        .units;
    assert_eq!(units.len() as u64, plan["units"].as_u64().unwrap());
    let basis = ScheduleBasis {
        units,
        gencodes: plan["gencodes"].as_u64().unwrap() as u32,
        cpus: plan["cpus"].as_u64().unwrap() as u32,
        threads_honoured: plan["env"].get("NVCC_THREADS").is_some(),
        speed: 1.0,
        order: Order::LongestFirst,
    };
    (basis, plan["max_jobs"].as_u64().unwrap() as u32)
}

/// Running, not a zombie (a container's init may not reap the orphan).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s.rsplit(')').next().unwrap_or("").trim().chars().next();
        !matches!(state, Some('Z') | Some('X'))
    })
}

struct NoFindings;
impl LineWatcher for NoFindings {
    fn push_line(&mut self, _: &str) {}
    fn findings(&self) -> Vec<Finding> {
        Vec::new()
    }
}

/// A fake `pip wheel` for the runner: attempt 1 runs a "compiler" (`sleep`)
/// while it sets the fake cgroup to the limit with the captured thrash
/// pressure, and waits for it (or, with `spike`, lets the pressure fall after
/// a moment and then finishes); later attempts find calm pressure and build.
fn thrash_python(dir: &Path, root: &Path, spike: bool) -> PathBuf {
    let cg = root.join("sys/fs/cgroup/build.slice");
    let thrash = fixture_path("h200-48g-thrash.memory.pressure");
    let calm = fixture_path("shared-2core-box.proc-pressure-memory");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let first = if spike {
        format!(
            "sleep 0.6\ncp '{calm}' '{cg}/memory.pressure'\nsleep 1.5\n",
            calm = calm.display(),
            cg = cg.display()
        )
    } else {
        format!(
            "sleep 120 &\necho $! > '{state}/compiler.pid'\nwait\nexit 1\n",
            state = state.display()
        )
    };
    let script = format!(
        "#!/bin/sh\nwhile [ \"$1\" != -w ]; do shift; done\n\
         n=$(( $(cat '{state}/attempts' 2>/dev/null || echo 0) + 1 )); echo $n > '{state}/attempts'\n\
         echo \"MAX_JOBS=$MAX_JOBS\" > '{state}/attempt-'$n\n\
         echo \"  building with MAX_JOBS=$MAX_JOBS\"\n\
         if [ $n = 1 ]; then\n\
           cp '{thrash}' '{cg}/memory.pressure'\ncat '{cg}/memory.max' > '{cg}/memory.current'\n{first}\
         else\n\
           cp '{calm}' '{cg}/memory.pressure'\necho 30000000000 > '{cg}/memory.current'\n\
         fi\n\
         touch \"$2/pkg-1.0-py3-none-any.whl\"\n",
        state = state.display(),
        thrash = thrash.display(),
        calm = calm.display(),
        cg = cg.display(),
    );
    write_executable(&dir.join("python"), &script)
}

fn runner_config(dir: &Path, root: &Path, python: PathBuf, sustained: Duration) -> RunnerConfig {
    let mut cfg = crate::builder::runner::tests::test_config(dir, python, 16, 1);
    cfg.attempts.max_retries = 2;
    cfg.attempts.sampler = SamplerConfig {
        root: root.to_path_buf(),
        interval: Duration::from_millis(50),
    };
    cfg.attempts.schedule = Some(h200_subset().0);
    cfg.attempts.thrash = ThrashPolicy {
        sustained,
        interval: Duration::from_millis(50),
        ..ThrashPolicy::default()
    };
    cfg.marker = format!("thrash-test-{}", dir.display());
    cfg
}

/// Issue 15 §1 as the H200 showed it: 16 forced jobs in a 48G cgroup, at the
/// limit with all tasks stalled and no OOM kill. The watchdog stops attempt 1
/// once the pressure has held for its time (here 1.5 s for the test's sake),
/// the report says thrashing with the evidence, and attempt 2 runs with the
/// planner's own choice for that cgroup (9, `plan.json` of that run) and builds.
#[test]
fn a_thrashing_attempt_is_stopped_and_retried_with_the_planned_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let root = cgroup_root(0, Some(&psi("shared-2core-box.proc-pressure-memory")));
    let python = thrash_python(dir.path(), root.path(), false);
    let sustained = Duration::from_millis(1500);
    let cfg = runner_config(dir.path(), root.path(), python, sustained);
    let mut notes = Vec::new();
    let mut retry = None;
    let mut log = Vec::new();
    let result = run_attempts(
        &cfg,
        &mut |_| Box::new(NoFindings),
        &AtomicBool::new(false),
        &mut log,
        &mut |e| match e {
            BuildEvent::Note(n) => notes.push(n.to_string()),
            BuildEvent::Retrying { max_jobs, reason } => {
                retry = Some((max_jobs, reason.to_string()))
            }
            _ => {}
        },
    )
    .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert_eq!(result.outcome, Outcome::Ok, "{log}");
    let [first, second] = &result.attempts[..] else {
        panic!("{:?}", result.attempts)
    };
    assert_eq!(first.outcome, Outcome::Thrashing);
    // Stopped within the bound: the sustained time (from the first sample),
    // one sample, the kill grace, and slack for a loaded box.
    assert!(
        first.seconds >= sustained.as_secs_f64()
            && first.seconds < sustained.as_secs_f64() + 1.0 + 3.0,
        "attempt 1 ran {} s",
        first.seconds
    );
    let evidence = first.verdict.as_deref().unwrap();
    // "for 1.5 s" or a tenth more: samples fall where the poll loop is.
    let (head, tail) = evidence.split_once(" s: thrashing (").unwrap();
    let held: f64 = head
        .strip_prefix(
            "tasks stalled on memory 87 % of the last 10 s at the 48.0 GiB cgroup limit for ",
        )
        .unwrap_or_else(|| panic!("{evidence}"))
        .parse()
        .unwrap();
    assert!((1.5..2.5).contains(&held), "{evidence}");
    assert!(
        tail.starts_with("memory.pressure full avg10 ≥ 87 % on each of ")
            && tail.ends_with("samples, memory at 48.0 GiB)"),
        "{evidence}"
    );
    assert_eq!(first.memory_pressure_peak, Some(87.32));
    assert_eq!(first.findings[0].id, "memory-thrashing");
    // The "compiler" is gone with the tree.
    let pid = std::fs::read_to_string(dir.path().join("state/compiler.pid")).unwrap();
    assert!(!alive(pid.trim()), "the compiler outlived the stop");
    // The retry: the planner's choice for 48G, as on the GPU machine.
    let (basis, planned) = h200_subset();
    assert_eq!(planned, 9);
    assert_eq!(second.max_jobs, planned);
    let (jobs, reason) = retry.unwrap();
    assert_eq!(jobs, planned);
    assert!(
        reason.contains("stopped for thrashing at the memory ceiling with MAX_JOBS=16")
            && reason.contains("the 20 compiles left re-planned for the cgroup limit of 48.0 GiB"),
        "{reason}"
    );
    let env2 = std::fs::read_to_string(dir.path().join("state/attempt-2")).unwrap();
    assert_eq!(env2.trim(), "MAX_JOBS=9");
    // ... whose simulated peak fits the limit less the margin: below the
    // watchdog's "at the ceiling", so it does not thrash again.
    let room = LIMIT_48G - crate::plan::memory_margin(LIMIT_48G);
    assert!(basis.peak_of(planned, 1, &[]) <= room);
    assert_eq!(second.outcome, Outcome::Ok);
    assert!(second.verdict.is_none());
    assert!(result.time_lost_seconds >= first.seconds);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("attempt 1 is thrashing: tasks stalled")),
        "{notes:?}"
    );
    assert!(log.contains("thrash watchdog on "), "{log}");
}

/// The same build with a pressure spike shorter than the watchdog's time:
/// one attempt, not stopped.
#[test]
fn a_pressure_spike_shorter_than_the_watchdogs_time_is_not_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let root = cgroup_root(0, Some(&psi("shared-2core-box.proc-pressure-memory")));
    let python = thrash_python(dir.path(), root.path(), true);
    let cfg = runner_config(dir.path(), root.path(), python, Duration::from_millis(1500));
    let result = run_attempts(
        &cfg,
        &mut |_| Box::new(NoFindings),
        &AtomicBool::new(false),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.attempts.len(), 1);
    // It did see the spike.
    assert_eq!(result.attempts[0].memory_pressure_peak, Some(87.32));
    assert_eq!(result.time_lost_seconds, 0.0);
}

/// Where no PSI file is readable there is no watchdog, and the attempt's
/// notes say so.
#[test]
fn without_psi_the_attempt_notes_say_there_is_no_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let root = cgroup_root(0, None);
    let python = write_executable(
        &dir.path().join("python"),
        "#!/bin/sh\nwhile [ \"$1\" != -w ]; do shift; done\ntouch \"$2/pkg-1.0-py3-none-any.whl\"\n",
    );
    let mut cfg = runner_config(dir.path(), root.path(), python, Duration::from_secs(30));
    cfg.attempts.schedule = None;
    let result = run_attempts(
        &cfg,
        &mut |_| Box::new(NoFindings),
        &AtomicBool::new(false),
        &mut std::io::sink(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    let a = &result.attempts[0];
    assert_eq!(a.memory_pressure_peak, None);
    assert_eq!(a.notes.len(), 1, "{:?}", a.notes);
    assert!(
        a.notes[0].starts_with("no thrash watchdog: memory pressure (PSI) is not readable here"),
        "{:?}",
        a.notes
    );
}
