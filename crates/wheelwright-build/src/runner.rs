//! Running the package's own build: one attempt after another in the same
//! source tree, retrying with fewer jobs after an out-of-memory kill.
//!
//! Each attempt runs `python -m pip wheel --no-build-isolation --use-pep517
//! --no-deps -v <tree> -w <dist>` in its own process group, with stdout and
//! stderr merged into one pipe so lines keep their order. Every line goes to
//! `build.log` (tokens masked), to the [`LineWatcher`] (the diagnoser), to the
//! progress tracker and to the caller's event callback, as it comes. A cancel
//! flag (set by the caller's signal handler) stops the whole process tree:
//! SIGTERM, a grace period, SIGKILL (see [`wheelwright_process::tree`]). With a
//! [`Supervisor`] in the config each attempt runs under it
//! ([`wheelwright_process::supervisor`]), so the tree also dies when this process is killed.
//!
//! `--use-pep517` matters: for a `setup.py` project without `pyproject.toml`
//! (flash-attn 2.8.3's sdist) pip otherwise takes its legacy path, and after a
//! failed `setup.py bdist_wheel` runs `setup.py clean --all`, which deletes
//! `build/temp.*` — every compiled object (seen in a real OOM log:
//! `removing 'build/temp.linux-x86_64-cpython-312' (and everything under it)`).
//! Through PEP 517 (setuptools' backend, still in place) nothing is cleaned; on
//! the GPU machine a tinyext build OOM-killed in a cgroup was retried with
//! MAX_JOBS=1 and recompiled only the killed object (`bench/build-device.sh`).
//!
//! A retry changes only `MAX_JOBS`, which reaches ninja as `-j` and leaves the
//! compile command lines alone, so ninja keeps every finished object.
//! `NVCC_THREADS` changes nvcc's flags, so it stays fixed across retries.
//!
//! With the plan's units known ([`AttemptSettings::schedule`] in
//! [`Order::LongestFirst`]), every attempt runs with wheelwright's `ninja`
//! shim first on PATH, which starts the longest compiles first
//! ([`super::ninja_order`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::memory::{MemoryPeak, MemorySampler, SamplerConfig};
use super::ninja_order::{self, NinjaOrder};
use super::oom;
use super::progress::{EtaModel, Progress, ProgressTracker};
use super::record::{Attempt, Outcome};
use wheelwright_base::env_vars;
use wheelwright_base::finding::{Finding, Severity};
use wheelwright_base::secrets::redact_secrets;
use wheelwright_base::units::format_bytes;
use wheelwright_plan::{Order, ScheduleBasis};
use wheelwright_process::display_command;
use wheelwright_process::supervisor::{console_stdio, Supervisor};
use wheelwright_process::tree::BuildTree;

/// The diagnoser's rule id for a compiler killed for memory.
pub(crate) const OOM_FINDING_ID: &str = "oom-killed";
/// A kill that the evidence says was not for memory ([`oom::judge`]).
pub(crate) const KILLED_NOT_OOM_FINDING_ID: &str = "killed-not-oom";
/// An attempt the thrash watchdog stopped ([`oom::thrash`]).
pub(crate) const THRASHING_FINDING_ID: &str = "memory-thrashing";
const SIGKILL: i32 = 9;
/// How often the build is polled (exit, cancel) while it prints, or is silent.
const POLL: Duration = Duration::from_millis(100);
/// Lines read ahead of their handling, at most.
const LINE_QUEUE: usize = 4096;

/// Something that reads the build's log lines as they come and says what it saw.
pub trait LineWatcher {
    /// One line of the build's output, without its newline.
    fn push_line(&mut self, line: &str);
    /// Findings so far, most important first.
    fn findings(&self) -> Vec<Finding>;
}

/// The diagnoser watches each attempt.
impl LineWatcher for wheelwright_diagnose::Diagnoser {
    fn push_line(&mut self, line: &str) {
        wheelwright_diagnose::Diagnoser::push_line(self, line);
    }

    fn findings(&self) -> Vec<Finding> {
        wheelwright_diagnose::Diagnoser::findings(self)
    }
}

/// What happens during a build, for the caller to show.
#[derive(Debug)]
pub enum BuildEvent<'a> {
    /// An attempt starts.
    AttemptStarted {
        /// 1 for the first attempt.
        number: usize,
        /// Its MAX_JOBS.
        max_jobs: u32,
        /// Its NVCC_THREADS.
        nvcc_threads: u32,
        /// The build command, as a shell would show it.
        command: &'a str,
    },
    /// One line of the build's output (stdout and stderr merged), without its newline.
    Line(&'a str),
    /// ninja reported `[n/m]`: done, total, elapsed and the time left.
    Progress(Progress),
    /// The cancel flag was seen; the process tree is being stopped.
    Cancelling,
    /// An attempt ended (also recorded in the report).
    AttemptFinished(&'a Attempt),
    /// After an OOM kill: the next attempt's jobs, and why.
    Retrying {
        /// MAX_JOBS of the next attempt.
        max_jobs: u32,
        /// Why (the OOM evidence and the new setting), in words.
        reason: &'a str,
    },
    /// A step of the job outside the attempts (downloading, extracting, verifying).
    Note(&'a str),
}

/// How to run the attempts.
#[derive(Debug, Clone)]
pub(crate) struct RunnerConfig {
    pub python: PathBuf,
    /// The tree pip builds in place (its `build/` dir persists across attempts).
    pub source_dir: PathBuf,
    /// pip's `-w`; emptied of wheels before each attempt.
    pub dist_dir: PathBuf,
    /// Where the command runs.
    pub cwd: PathBuf,
    /// Set on top of this process's environment (the plan's variables).
    pub env: BTreeMap<String, String>,
    /// Removed from the environment (e.g. `FLASH_ATTENTION_FORCE_BUILD` with `--allow-prebuilt`).
    pub env_remove: Vec<String>,
    /// Jobs, threads, retries, memory and cancellation, shared with [`super::BuildRequest`].
    pub attempts: AttemptSettings,
    /// Extra `pip wheel` arguments (`--no-index`, `--find-links DIR`).
    pub pip_args: Vec<String>,
    /// Value of [`env_vars::WHEELWRIGHT_BUILD_ID`] in the build's environment.
    pub marker: String,
    /// Run each attempt under this supervisor; `None`: directly (a cancel
    /// still stops the tree, a `kill -9` of this process does not).
    pub supervisor: Option<Supervisor>,
}

/// How the attempts of one build run: the same whether the CLI or another CI
/// system starts the build.
#[derive(Debug, Clone)]
pub struct AttemptSettings {
    /// MAX_JOBS of the first attempt.
    pub max_jobs: u32,
    /// Fixed across retries: changing it changes nvcc's command lines.
    pub nvcc_threads: u32,
    /// Retries after an OOM kill; 0 = one attempt.
    pub max_retries: u32,
    /// Memory the build may use in all (the cgroup limit or host total); `None`
    /// reads MemTotal when a retry needs it.
    pub memory_ceiling_bytes: Option<u64>,
    /// Time between SIGTERM and SIGKILL when cancelling.
    pub kill_grace: Duration,
    /// How memory is sampled.
    pub sampler: SamplerConfig,
    /// The plan's units, for each attempt's simulated schedule (its ETA);
    /// `None`: the ETA goes by the rate so far.
    pub schedule: Option<ScheduleBasis>,
    /// When an attempt thrashing at the memory ceiling is stopped and retried
    /// (`builder::oom::thrash`: all tasks stalled on memory ≥ 50 % of the
    /// last 10 s for 30 s at ≥ 90 % of the memory limit, by default).
    pub thrash: oom::thrash::ThrashPolicy,
}

/// What the attempts came to.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub attempts: Vec<Attempt>,
    pub outcome: Outcome,
    /// The wheel pip wrote, when the last attempt succeeded.
    pub wheel: Option<PathBuf>,
    pub peak_memory: MemoryPeak,
    /// Seconds spent in attempts that did not produce the wheel.
    pub time_lost_seconds: f64,
    /// The last attempt's findings.
    pub findings: Vec<Finding>,
    /// The first attempt's command line.
    pub command: Vec<String>,
    /// The environment the first attempt's command ran in, as set here.
    pub environment: Option<super::BuildEnvironment>,
}

/// Why attempts could not run at all (a failed build is a [`RunResult`], not this).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunnerError {
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunnerError {
    let what = what.into();
    move |source| RunnerError::Io { what, source }
}

/// The `pip wheel` options every attempt passes.
pub(crate) fn pip_wheel_args_fixed() -> [&'static str; 5] {
    [
        "--no-build-isolation",
        "--use-pep517",
        "--no-deps",
        "-v",
        "--disable-pip-version-check",
    ]
}

/// The `pip wheel` argument vector (after the interpreter).
pub(crate) fn pip_wheel_args(cfg: &RunnerConfig) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-m", "pip", "wheel"]
        .into_iter()
        .chain(pip_wheel_args_fixed())
        .map(OsString::from)
        .collect();
    args.extend(cfg.pip_args.iter().map(OsString::from));
    args.push(cfg.source_dir.clone().into_os_string());
    args.push("-w".into());
    args.push(cfg.dist_dir.clone().into_os_string());
    args
}

/// PATH with the interpreter's own directory first, so torch's build finds the
/// `ninja` that pip installed next to the interpreter (a venv not activated).
pub(crate) fn path_with_python_dir(python: &Path, path: Option<OsString>) -> OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = python.parent().filter(|d| !d.as_os_str().is_empty()) {
        dirs.push(dir.to_path_buf());
    }
    if let Some(p) = path {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The variables an attempt with `jobs` sets on top of the inherited
/// environment, besides PATH ([`path_with_python_dir`]) and the build's
/// marker: the plan's, MAX_JOBS, NVCC_THREADS, unbuffered Python, no pip prompts.
pub(crate) fn attempt_env(cfg: &RunnerConfig, jobs: u32) -> BTreeMap<String, String> {
    let mut env = cfg.env.clone();
    for (k, v) in [
        (env_vars::MAX_JOBS, jobs.to_string()),
        (
            env_vars::NVCC_THREADS,
            cfg.attempts.nvcc_threads.to_string(),
        ),
        (env_vars::PYTHONUNBUFFERED, "1".to_string()),
        (env_vars::PIP_NO_INPUT, "1".to_string()),
    ] {
        env.insert(k.to_string(), v);
    }
    env
}

/// Run attempts until one succeeds, fails for a reason other than memory, is
/// cancelled, or the retries are spent. `new_watcher` makes a fresh watcher
/// for each attempt, given that attempt's MAX_JOBS; `log` receives every line.
pub(crate) fn run_attempts(
    cfg: &RunnerConfig,
    new_watcher: &mut dyn FnMut(u32) -> Box<dyn LineWatcher>,
    cancel: &AtomicBool,
    log: &mut dyn Write,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<RunResult, RunnerError> {
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut peak = MemoryPeak::default();
    let mut jobs = cfg.attempts.max_jobs.max(1);
    let mut command = Vec::new();
    let mut environment = None;
    // Objects built by earlier attempts: a retry's ninja runs only the rest.
    let mut built: Vec<String> = Vec::new();
    let shim = install_ninja_order(cfg, log, on_event);
    loop {
        let number = attempts.len() + 1;
        let mut watcher = new_watcher(jobs);
        let eta = cfg.attempts.schedule.as_ref().and_then(|s| {
            EtaModel::from_schedule(&s.schedule(jobs, cfg.attempts.nvcc_threads, &built))
        });
        let mut readers = Readers {
            watcher: watcher.as_mut(),
            progress: ProgressTracker::with_model(eta, Instant::now()),
        };
        let done = run_one(
            cfg,
            number,
            jobs,
            shim.as_ref(),
            &mut readers,
            cancel,
            log,
            on_event,
        )?;
        built.extend_from_slice(readers.progress.built_objects());
        if command.is_empty() {
            command = done.command.clone();
        }
        if environment.is_none() {
            environment = done.environment.clone();
        }
        peak.merge(&done.attempt.peak_memory);
        on_event(BuildEvent::AttemptFinished(&done.attempt));
        let outcome = done.attempt.outcome;
        let attempt_peak = done.attempt.peak_memory.clone();
        attempts.push(done.attempt);
        let retries_left = attempts.len() <= cfg.attempts.max_retries as usize;
        let for_memory = matches!(outcome, Outcome::OomKilled | Outcome::Thrashing);
        if for_memory && retries_left && !cancel.load(Ordering::SeqCst) {
            // Re-read now: the cgroup's limit, or what was in use at the kill,
            // capped by what is free (a ballooning VM, other tenants).
            let ceiling = oom::revealed_ceiling(&cfg.attempts.sampler.root, &attempt_peak);
            let basis = cfg.attempts.schedule.as_ref();
            let threads = cfg.attempts.nvcc_threads;
            if let Some(next) = oom::retry_jobs(jobs, threads, basis, &built, ceiling.as_ref()) {
                let why = attempts
                    .last()
                    .and_then(|a| a.verdict.as_deref())
                    .unwrap_or("");
                let what = if outcome == Outcome::Thrashing {
                    "stopped for thrashing at the memory ceiling"
                } else {
                    "killed for memory"
                };
                let planned = match (basis, &ceiling) {
                    (Some(b), Some(c)) => format!(
                        "the {} compiles left re-planned for the {} of {}",
                        b.remaining(&built).len(),
                        c.basis,
                        format_bytes(c.bytes)
                    ),
                    _ => "no plan's units to re-plan: half the jobs".to_string(),
                };
                let reason = format!(
                    "attempt {number} was {what} with MAX_JOBS={jobs} ({why}); {planned}: retrying in the same build dir with MAX_JOBS={next} (NVCC_THREADS stays {threads})"
                );
                let _ = writeln!(log, "=== wheelwright: {reason}");
                on_event(BuildEvent::Retrying {
                    max_jobs: next,
                    reason: &reason,
                });
                jobs = next;
                continue;
            }
        }
        let time_lost_seconds = attempts
            .iter()
            .filter(|a| a.outcome != Outcome::Ok)
            .map(|a| a.seconds)
            // Not `.sum()`: an empty f64 sum is -0.0, which reports read as "-0.0".
            .fold(0.0, |lost, s| lost + s);
        let findings = attempts
            .last()
            .map(|a| a.findings.clone())
            .unwrap_or_default();
        return Ok(RunResult {
            outcome,
            wheel: done.wheel,
            peak_memory: peak,
            time_lost_seconds,
            findings,
            command,
            environment,
            attempts,
        });
    }
}

/// A note of wheelwright's own: into the log (marked `=== wheelwright:`) and
/// to the caller.
fn tell(log: &mut dyn Write, on_event: &mut dyn FnMut(BuildEvent<'_>), text: &str) {
    let _ = writeln!(log, "=== wheelwright: {text}");
    on_event(BuildEvent::Note(text));
}

/// Rank the plan's units longest first and put the ninja shim in place, when
/// the schedule asks for that order; a shim that cannot be written leaves
/// ninja's own order (said in the log), it never stops the build.
fn install_ninja_order(
    cfg: &RunnerConfig,
    log: &mut dyn Write,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Option<NinjaOrder> {
    let basis = cfg.attempts.schedule.as_ref()?;
    if basis.order != Order::LongestFirst || basis.units.len() < 2 {
        return None;
    }
    let sources = basis.longest_first_sources(cfg.attempts.nvcc_threads);
    match ninja_order::install(&cfg.cwd, &cfg.python, &sources) {
        Ok(shim) => {
            let note = format!(
                "ninja starts the {} compiles longest first (cost model ranking in {})",
                shim.units,
                shim.order_file.display()
            );
            tell(log, on_event, &note);
            Some(shim)
        }
        Err(e) => {
            let note = format!("could not set ninja's order up ({e}); ninja keeps its own order");
            tell(log, on_event, &note);
            None
        }
    }
}

/// What reads each line of an attempt besides the log and the caller.
struct Readers<'a> {
    watcher: &'a mut dyn LineWatcher,
    progress: ProgressTracker,
}

struct AttemptDone {
    attempt: Attempt,
    wheel: Option<PathBuf>,
    command: Vec<String>,
    environment: Option<super::BuildEnvironment>,
}

/// What `cmd` sets, removes and puts in front of the inherited PATH (the
/// build's marker aside: it is new on every run).
fn command_environment(cmd: &Command, cwd: &Path) -> super::BuildEnvironment {
    let mut env = super::BuildEnvironment {
        cwd: cwd.to_path_buf(),
        ..Default::default()
    };
    let inherited: Vec<PathBuf> = std::env::var_os(env_vars::PATH)
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for (k, v) in cmd.get_envs() {
        let k = k.to_string_lossy().into_owned();
        match v {
            None => env.removed.push(k),
            Some(v) if k == env_vars::PATH => {
                let full: Vec<PathBuf> = std::env::split_paths(v).collect();
                let front = full.len().saturating_sub(inherited.len());
                if full[front..] == inherited[..] {
                    env.path_prepend = full[..front].to_vec();
                } else {
                    env.set.insert(k, v.to_string_lossy().into_owned());
                }
            }
            Some(_) if k == env_vars::WHEELWRIGHT_BUILD_ID => {}
            Some(v) => {
                env.set.insert(k, v.to_string_lossy().into_owned());
            }
        }
    }
    env
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    cfg: &RunnerConfig,
    number: usize,
    jobs: u32,
    shim: Option<&NinjaOrder>,
    readers: &mut Readers<'_>,
    cancel: &AtomicBool,
    log: &mut dyn Write,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<AttemptDone, RunnerError> {
    if cancel.load(Ordering::SeqCst) {
        // Cancelled before it started (a signal during detection or planning).
        let _ = writeln!(
            log,
            "=== wheelwright: cancelled before attempt {number} started"
        );
        return Ok(AttemptDone {
            attempt: Attempt {
                max_jobs: jobs,
                nvcc_threads: cfg.attempts.nvcc_threads,
                seconds: 0.0,
                outcome: Outcome::Cancelled,
                exit_code: None,
                signal: None,
                peak_memory: MemoryPeak::default(),
                findings: Vec::new(),
                verdict: None,
                memory_pressure_peak: None,
                notes: Vec::new(),
            },
            wheel: None,
            command: Vec::new(),
            environment: None,
        });
    }
    std::fs::create_dir_all(&cfg.dist_dir)
        .map_err(io_err(format!("cannot create {}", cfg.dist_dir.display())))?;
    remove_wheels(&cfg.dist_dir)?;

    let mut cmd = Command::new(&cfg.python);
    cmd.args(pip_wheel_args(cfg)).current_dir(&cfg.cwd);
    for k in &cfg.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(attempt_env(cfg, jobs))
        .env(env_vars::WHEELWRIGHT_BUILD_ID, &cfg.marker)
        .env(
            env_vars::PATH,
            path_with_python_dir(&cfg.python, std::env::var_os(env_vars::PATH)),
        );
    if let Some(shim) = shim {
        let path = path_with_python_dir(&cfg.python, std::env::var_os(env_vars::PATH));
        let mut dirs = vec![shim.bin_dir.clone()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env(env_vars::PATH, std::env::join_paths(dirs).unwrap_or(path));
        cmd.envs(shim.env());
    }
    let environment = Some(command_environment(&cmd, &cfg.cwd));
    let command_text = display_command(&cmd);
    let command: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();

    let _ = writeln!(
        log,
        "=== wheelwright attempt {number}: MAX_JOBS={jobs} NVCC_THREADS={} ===\n=== {command_text}",
        cfg.attempts.nvcc_threads
    );
    on_event(BuildEvent::AttemptStarted {
        number,
        max_jobs: jobs,
        nvcc_threads: cfg.attempts.nvcc_threads,
        command: &command_text,
    });

    let (read_end, write_end) = nix::unistd::pipe().map_err(|e| RunnerError::Io {
        what: "cannot create a pipe".into(),
        source: e.into(),
    })?;
    let write_err = write_end
        .try_clone()
        .map_err(io_err("cannot duplicate a pipe"))?;
    let (mut cmd, stdin) = match &cfg.supervisor {
        // The supervisor gives the build /dev/null; its own stdin is our console.
        Some(s) => (s.wrap(&cmd, cfg.attempts.kill_grace), console_stdio()),
        None => (cmd, Stdio::null()),
    };
    cmd.stdin(stdin)
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(write_err))
        .process_group(0);
    let start = Instant::now();
    let sampler = MemorySampler::start(cfg.attempts.sampler.clone());
    let oom_watch = oom::OomWatch::start(&cfg.attempts.sampler.root);
    let mut notes = Vec::new();
    let mut thrash = match oom::thrash::ThrashWatch::start(
        &cfg.attempts.sampler.root,
        &cfg.attempts.thrash,
        cfg.attempts.memory_ceiling_bytes,
    ) {
        Ok(w) => {
            let _ = writeln!(log, "=== wheelwright: {}", w.describe());
            Some(w)
        }
        Err(note) => {
            tell(log, on_event, &note);
            notes.push(note);
            None
        }
    };
    let spawned = cmd.spawn();
    // The parent's copies of the write end must close, or the reader never sees EOF.
    drop(cmd);
    let mut child = spawned.map_err(|source| RunnerError::Spawn {
        command: command_text.clone(),
        source,
    })?;
    let mut tree = BuildTree::new(child.id(), &cfg.marker);
    if cfg.supervisor.is_some() {
        tree = tree.supervised();
    }
    sampler.watch_tree(tree.clone());
    let lines = spawn_line_reader(File::from(read_end));

    let mut cancelled = false;
    let mut thrashed: Option<oom::thrash::ThrashStop> = None;
    // The cancel flag is read after every line and the child polled at least
    // every POLL, so a build that never stops printing can still be stopped.
    let mut polled = Instant::now();
    let status = loop {
        match lines.recv_timeout(POLL) {
            Ok(line) => {
                handle_line(&line, log, readers, on_event);
                if polled.elapsed() < POLL && !cancel.load(Ordering::SeqCst) {
                    continue;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break wait_child(&mut child)?;
            }
        }
        polled = Instant::now();
        if cancel.load(Ordering::SeqCst) {
            cancelled = true;
            on_event(BuildEvent::Cancelling);
            let _ = writeln!(
                log,
                "=== wheelwright: cancelled; stopping the build's process tree"
            );
            let summary = tree.terminate(cfg.attempts.kill_grace);
            let note = format!("cancelled: {}", summary.describe(cfg.attempts.kill_grace));
            tell(log, on_event, &note);
            break wait_child(&mut child)?;
        }
        let memory = sampler.latest();
        if let Some(stop) = thrash.as_mut().and_then(|w| w.poll(Instant::now(), memory)) {
            // Stopped as a cancel stops it, then retried as after an OOM kill.
            let note = format!(
                "attempt {number} is thrashing: {}; stopping the build's process tree",
                stop.evidence
            );
            tell(log, on_event, &note);
            let summary = tree.terminate(cfg.attempts.kill_grace);
            let done = format!("stopped: {}", summary.describe(cfg.attempts.kill_grace));
            tell(log, on_event, &done);
            thrashed = Some(stop);
            break wait_child(&mut child)?;
        }
        if let Some(status) = child
            .try_wait()
            .map_err(io_err("waiting for the build failed"))?
        {
            // The build exited, but something it started still holds the pipe:
            // read what is left for a moment, then stop the stragglers.
            drain(&lines, Duration::from_secs(2), log, readers, on_event);
            break status;
        }
    };
    // Nothing the build started may outlive it.
    if !tree.members().is_empty() {
        tree.terminate(Duration::from_secs(2));
    }
    drain(&lines, Duration::from_millis(500), log, readers, on_event);
    let _ = log.flush();
    let peak_memory = sampler.stop();
    let seconds = start.elapsed().as_secs_f64();

    let findings = readers.watcher.findings();
    let wheel = if status.success() {
        find_wheel(&cfg.dist_dir)?
    } else {
        None
    };
    let succeeded = status.success() && wheel.is_some();
    let log_shows_kill = findings.iter().any(|f| f.id == OOM_FINDING_ID);
    let verdict = (!cancelled && !succeeded && thrashed.is_none()).then(|| {
        oom::judge(&oom::AttemptDeath {
            signal: status.signal(),
            log_shows_kill,
            kernel: oom_watch.finish(),
            peak: peak_memory.clone(),
            ceiling_bytes: oom::memory_limit(&cfg.attempts.sampler.root)
                .or(cfg.attempts.memory_ceiling_bytes),
        })
    });
    let out_of_memory = verdict.as_ref().is_some_and(|v| v.out_of_memory);
    let outcome = if cancelled {
        Outcome::Cancelled
    } else if thrashed.is_some() {
        Outcome::Thrashing
    } else if succeeded {
        Outcome::Ok
    } else if out_of_memory {
        Outcome::OomKilled
    } else {
        Outcome::Failed
    };
    let mut findings = findings;
    if let Some(v) = &verdict {
        let _ = writeln!(
            log,
            "=== wheelwright: attempt {number}: {}: {}",
            if v.out_of_memory {
                "out of memory"
            } else {
                "not an out-of-memory kill"
            },
            v.evidence
        );
        if !v.out_of_memory && (log_shows_kill || status.signal() == Some(SIGKILL)) {
            // Killed, but not for memory: fewer jobs would not help.
            findings.retain(|f| f.id != OOM_FINDING_ID);
            findings.insert(
                0,
                Finding::new(
                    KILLED_NOT_OOM_FINDING_ID,
                    Severity::Error,
                    "The build was killed, but not for memory",
                    v.evidence.clone(),
                    "Look for what else stops jobs here: the CI's job timeout (raise it, or build with fewer archs), a watchdog, an operator. wheelwright did not retry: fewer jobs would not help.",
                ),
            );
        }
    }
    if let Some(stop) = &thrashed {
        findings.insert(
            0,
            Finding::new(
                THRASHING_FINDING_ID,
                Severity::Error,
                "The build thrashed at its memory ceiling and was stopped",
                stop.evidence.clone(),
                "Build with fewer jobs (--max-jobs, or leave MAX_JOBS to the plan) or give the build more memory; wheelwright retries with the plan's jobs for the ceiling while retries are left.",
            ),
        );
    }
    if status.success() && wheel.is_none() && !cancelled && thrashed.is_none() {
        findings.push(Finding::new(
            "no-wheel",
            Severity::Error,
            "The build succeeded but wrote no wheel",
            format!("`{command_text}` exited 0 but {} holds no .whl file.", cfg.dist_dir.display()),
            "Check build.log for where the build put its output; the package may not build a wheel with `pip wheel`.",
        ));
    }
    Ok(AttemptDone {
        attempt: Attempt {
            max_jobs: jobs,
            nvcc_threads: cfg.attempts.nvcc_threads,
            seconds,
            outcome,
            exit_code: status.code(),
            signal: status.signal(),
            peak_memory,
            findings,
            verdict: thrashed
                .as_ref()
                .map(|s| s.evidence.clone())
                .or_else(|| verdict.as_ref().map(|v| v.evidence.clone())),
            memory_pressure_peak: thrash.as_ref().and_then(|w| w.peak()),
            notes,
        },
        wheel,
        command,
        environment,
    })
}

fn wait_child(child: &mut Child) -> Result<std::process::ExitStatus, RunnerError> {
    child.wait().map_err(io_err("waiting for the build failed"))
}

fn handle_line(
    line: &str,
    log: &mut dyn Write,
    readers: &mut Readers<'_>,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) {
    // Tokens a build step echoed (an index URL with a password) stay out of build.log.
    let _ = writeln!(log, "{}", redact_secrets(line));
    readers.watcher.push_line(line);
    on_event(BuildEvent::Line(line));
    if let Some(p) = readers.progress.observe(line, Instant::now()) {
        on_event(BuildEvent::Progress(p));
    }
}

/// Handle lines until the pipe closes, `quiet` passes without one, or (for
/// a writer that never stops, e.g. one that escaped the process tree) ten
/// times `quiet` in all.
fn drain(
    lines: &mpsc::Receiver<String>,
    quiet: Duration,
    log: &mut dyn Write,
    readers: &mut Readers<'_>,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) {
    let deadline = Instant::now() + quiet * 10;
    while let Ok(line) = lines.recv_timeout(quiet) {
        handle_line(&line, log, readers, on_event);
        if Instant::now() >= deadline {
            break;
        }
    }
}

/// Lines from the pipe, split at `\n`; a `\r`-rewritten line keeps its last
/// state, as a terminal would show it; invalid UTF-8 is replaced.
fn spawn_line_reader(pipe: File) -> mpsc::Receiver<String> {
    // Bounded: a build printing faster than we handle lines waits on its pipe
    // instead of filling memory.
    let (tx, rx) = mpsc::sync_channel(LINE_QUEUE);
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(clean_line(&buf)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// A raw line without its line ending, after the last carriage return.
pub(crate) fn clean_line(raw: &[u8]) -> String {
    let mut raw = raw;
    while let Some((last, rest)) = raw.split_last() {
        if *last == b'\n' || *last == b'\r' {
            raw = rest;
        } else {
            break;
        }
    }
    let shown = match raw.iter().rposition(|b| *b == b'\r') {
        Some(i) => &raw[i + 1..],
        None => raw,
    };
    String::from_utf8_lossy(shown).into_owned()
}

fn wheels_in(dir: &Path) -> Result<Vec<PathBuf>, RunnerError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(format!("cannot read {}", dir.display()))(e)),
    };
    let mut wheels: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl") && p.is_file())
        .collect();
    wheels.sort();
    Ok(wheels)
}

fn remove_wheels(dir: &Path) -> Result<(), RunnerError> {
    for w in wheels_in(dir)? {
        std::fs::remove_file(&w).map_err(io_err(format!("cannot remove {}", w.display())))?;
    }
    Ok(())
}

/// The wheel in `dir`; with several, the newest.
fn find_wheel(dir: &Path) -> Result<Option<PathBuf>, RunnerError> {
    let wheels = wheels_in(dir)?;
    Ok(wheels
        .into_iter()
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok()))
}

#[cfg(test)]
pub(crate) mod tests;
