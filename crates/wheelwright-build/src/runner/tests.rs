//! The runner on fake interpreters: line order, cancelling a build that never
//! stops printing, a retry's schedule, PATH.

use super::*;
use wheelwright_base::units::GIB;

#[test]
fn cleans_lines() {
    assert_eq!(clean_line(b"[1/2] nvcc\r\n"), "[1/2] nvcc");
    assert_eq!(clean_line(b"  10%\r  50%\r 100%\n"), " 100%");
    assert_eq!(clean_line(b"bad \xff byte\n"), "bad \u{fffd} byte");
}

/// A stand-in interpreter: a shell script that writes to stdout and stderr
/// in turn, prints ninja status lines and leaves a wheel in the `-w` dir.
/// A runner for a fake `python` building in `dir`, no retries.
pub(crate) fn test_config(
    dir: &Path,
    python: PathBuf,
    max_jobs: u32,
    nvcc_threads: u32,
) -> RunnerConfig {
    RunnerConfig {
        python,
        source_dir: dir.to_path_buf(),
        dist_dir: dir.join("dist"),
        cwd: dir.to_path_buf(),
        env: BTreeMap::new(),
        env_remove: Vec::new(),
        pip_args: Vec::new(),
        attempts: AttemptSettings {
            max_jobs,
            nvcc_threads,
            max_retries: 0,
            memory_ceiling_bytes: None,
            kill_grace: Duration::from_secs(1),
            sampler: SamplerConfig::default(),
            schedule: None,
            thrash: Default::default(),
        },
        // Unique per test: the marker finds a build's strays to kill.
        marker: format!("runner-test-{}", dir.display()),
        supervisor: None,
    }
}

#[test]
fn runs_an_attempt_merging_stdout_and_stderr_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let python = crate::test_support::write_executable(
        &dir.path().join("python"),
        "#!/bin/sh\nwhile [ \"$1\" != -w ]; do shift; done\necho out-1\necho err-2 >&2\necho '  [1/2] nvcc a'\necho '  [2/2] nvcc b' >&2\necho \"jobs=$MAX_JOBS threads=$NVCC_THREADS\"\ntouch \"$2/pkg-1.0-py3-none-any.whl\"\n",
    );
    let mut cfg = test_config(dir.path(), python, 3, 2);
    cfg.attempts.max_retries = 2;
    #[derive(Default)]
    struct Seen(Vec<String>);
    impl LineWatcher for Seen {
        fn push_line(&mut self, line: &str) {
            self.0.push(line.to_string());
        }
        fn findings(&self) -> Vec<Finding> {
            Vec::new()
        }
    }
    let mut events = Vec::new();
    let mut log = Vec::new();
    let result = run_attempts(
        &cfg,
        &mut |_| Box::new(Seen::default()),
        &AtomicBool::new(false),
        &mut log,
        &mut |e| match e {
            BuildEvent::Line(l) => events.push(l.to_string()),
            BuildEvent::Progress(p) => events.push(format!("progress {}/{}", p.done, p.total)),
            _ => {}
        },
    )
    .unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.attempts.len(), 1);
    assert!(result
        .wheel
        .unwrap()
        .ends_with("dist/pkg-1.0-py3-none-any.whl"));
    assert_eq!(
        events,
        [
            "out-1",
            "err-2",
            "  [1/2] nvcc a",
            "progress 1/2",
            "  [2/2] nvcc b",
            "progress 2/2",
            "jobs=3 threads=2"
        ]
    );
    let log = String::from_utf8(log).unwrap();
    assert!(log.contains("=== wheelwright attempt 1: MAX_JOBS=3 NVCC_THREADS=2 ==="));
    assert!(log.contains("out-1\nerr-2\n"), "{log}");
    assert_eq!(result.command[1..4], ["-m", "pip", "wheel"]);
}

/// A build that never stops printing is still cancelled promptly: the
/// flag is read between lines, not only when the output pauses.
#[test]
fn a_build_that_prints_without_pause_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let python = crate::test_support::write_executable(
        &dir.path().join("python"),
        "#!/bin/sh
while :; do echo '  spam spam spam spam spam spam spam spam'; done
",
    );
    let cfg = test_config(dir.path(), python, 1, 1);
    let cancel = AtomicBool::new(false);
    let mut lines = 0u64;
    let start = Instant::now();
    let result = thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(500));
            cancel.store(true, Ordering::SeqCst);
        });
        run_attempts(
            &cfg,
            &mut |_| Box::new(wheelwright_diagnose::Diagnoser::new(Default::default())),
            &cancel,
            &mut std::io::sink(),
            &mut |e| {
                if let BuildEvent::Line(_) = e {
                    lines += 1;
                }
            },
        )
        .unwrap()
    });
    let took = start.elapsed();
    assert_eq!(result.outcome, Outcome::Cancelled);
    assert_eq!(result.attempts[0].outcome, Outcome::Cancelled);
    assert!(lines > 100, "the build printed {lines} lines");
    assert!(took < Duration::from_secs(8), "cancelling took {took:?}");
}

/// A retry's ETA follows the schedule of the objects still to build: the
/// first attempt builds `a` and is killed for memory; the second runs
/// `[n/2]` over `b` and `c`, which only a schedule without `a` describes.
#[test]
fn a_retry_gets_the_schedule_of_what_is_left() {
    use crate::progress::EtaBasis;
    use wheelwright_plan::recipe::TranslationUnit;

    let dir = tempfile::tempdir().unwrap();
    // Three units of different cost, so that no two finish together in
    // the simulation (which leaves no simulated time to scale by).
    let [api, fwd, bwd] = [
        "csrc/flash_attn/flash_api.cpp",
        "csrc/flash_attn/src/flash_fwd_hdim64_fp16_sm80.cu",
        "csrc/flash_attn/src/flash_bwd_hdim128_fp16_sm80.cu",
    ]
    .map(|p| TranslationUnit::from_path(p).unwrap());
    let line = |n: u32, m: u32, u: &TranslationUnit| {
        format!(
            "sleep 0.02\necho \"  [{n}/{m}] nvcc -c /w/{} -o /w/build/temp.linux-x86_64-cpython-312/{}\"\n",
            u.path,
            u.object_path()
        )
    };
    let script = format!(
        "#!/bin/sh\nwhile [ \"$1\" != -w ]; do shift; done\n\
         if [ ! -f \"$2/../tried\" ]; then touch \"$2/../tried\"\n{}{}\
         echo 'oom_kill 1' > \"$2/../root/sys/fs/cgroup/memory.events\"\n\
         echo \"  FAILED: [code=137] /w/build/temp.linux-x86_64-cpython-312/{} \"\n\
         echo Killed\nexit 1\nfi\n{}{}touch \"$2/pkg-1.0-py3-none-any.whl\"\n",
        line(1, 3, &api),
        line(2, 3, &fwd),
        fwd.object_path(),
        line(1, 2, &fwd),
        line(2, 2, &bwd),
    );
    let python = crate::test_support::write_executable(&dir.path().join("python"), &script);
    let units = vec![api, fwd, bwd];
    let mut cfg = test_config(dir.path(), python, 3, 1);
    cfg.attempts.max_retries = 1;
    cfg.attempts.memory_ceiling_bytes = Some(64 * GIB);
    // A fake root whose cgroup counts the kill, as the kernel would.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::create_dir_all(root.join("sys/fs/cgroup")).unwrap();
    std::fs::write(root.join("proc/self/cgroup"), "0::/\n").unwrap();
    std::fs::write(root.join("sys/fs/cgroup/memory.events"), "oom_kill 0\n").unwrap();
    cfg.attempts.sampler.root = root;
    cfg.attempts.schedule = Some(ScheduleBasis {
        units,
        gencodes: 1,
        cpus: 4,
        threads_honoured: true,
        speed: 1.0,
        order: Order::AsGiven,
    });
    struct OomOnKilled(bool);
    impl LineWatcher for OomOnKilled {
        fn push_line(&mut self, line: &str) {
            self.0 |= line == "Killed";
        }
        fn findings(&self) -> Vec<Finding> {
            self.0
                .then(|| Finding::new(OOM_FINDING_ID, Severity::Error, "oom", "", ""))
                .into_iter()
                .collect()
        }
    }
    let mut etas = Vec::new();
    let result = run_attempts(
        &cfg,
        &mut |_| Box::new(OomOnKilled(false)),
        &AtomicBool::new(false),
        &mut Vec::new(),
        &mut |e| {
            if let BuildEvent::Progress(p) = e {
                etas.push((p.done, p.total, p.eta.map(|e| e.basis)));
            }
        },
    )
    .unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.attempts[0].outcome, Outcome::OomKilled);
    assert_eq!(
        etas,
        [
            (1, 3, None),
            (2, 3, Some(EtaBasis::Plan)),
            (1, 2, None),
            (2, 2, Some(EtaBasis::Plan)),
        ]
    );
}

#[test]
fn puts_the_interpreter_dir_first_on_path() {
    let p = path_with_python_dir(Path::new("/venv/bin/python"), Some("/usr/bin:/bin".into()));
    assert_eq!(p, OsString::from("/venv/bin:/usr/bin:/bin"));
    let p = path_with_python_dir(Path::new("python3"), Some("/usr/bin".into()));
    assert_eq!(p, OsString::from("/usr/bin"));
}
