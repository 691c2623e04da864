//! wheelwright-build: runs a package's own build with a Plan's environment,
//! watches memory, retries after OOM kills, verifies the wheel, and keeps a
//! [`BuildRecord`] of it whatever happens; and the host setup around a build
//! ([`setup`], [`runner_setup`], [`workdir`]).
//!
//! [`build`] is the whole build; its public parts are usable alone: [`source`]
//! (what to build, where its tree lives), [`ninja_order`] (longest compiles
//! first), [`tree_hash`] (a source tree's sha256), [`record`] (what the build
//! did: [`BuildRecord`], [`Attempt`], [`Outcome`]), [`records`] (`build.log`
//! through a full disk or a removed out dir) and [`compile_cache`] (sccache in
//! front of the compilers). The crate-private parts show through the types
//! they export: `runner` (the attempts: [`AttemptSettings`], [`BuildEvent`]),
//! `memory` (the sampler: [`SamplerConfig`], [`MemoryPeak`], each compile's
//! own peak by `unit_memory`), `oom` (telling
//! OOM kills apart, the retry's setting: [`ThrashPolicy`]), `progress` (ninja
//! `[n/m]` and ETA), `verify` (install, import, forward pass: [`verify_for`],
//! [`VerifyResult`]) and `out_dir` (wheels of earlier runs moved aside before a
//! build starts). The library prints nothing: the caller gets [`BuildEvent`]s
//! and decides how to show them.
//!
//! The builder knows nothing of the Job, prebuilt wheels or publishing: it
//! hands its record over through [`KeepRecord`], and the Job
//! (wheelwright-job) puts it into the `BuildReport` and writes `report.json`.

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

pub mod compile_cache;
pub mod finish;
pub(crate) mod memory;
pub mod ninja_order;
pub(crate) mod oom;
pub(crate) mod out_dir;
pub mod progress;
pub mod record;
pub mod records;
pub(crate) mod runner;
pub mod runner_setup;
pub mod setup;
pub mod source;
pub mod tree_hash;
pub(crate) mod unit_memory;
pub(crate) mod verify;
pub mod workdir;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use memory::{MemoryPeak, SamplerConfig};
pub use oom::thrash::ThrashPolicy;
pub use record::{Attempt, BuildEnvironment, BuildRecord, KeepRecord, Outcome};
pub use runner::{AttemptSettings, BuildEvent, LineWatcher};
pub use source::SourceSpec;
pub use verify::VerifyResult;
pub use wheelwright_wheel::file::{WheelInfo, WheelName};

use records::LogFile;
use wheelwright_base::env_vars;
use wheelwright_base::finding::{Finding, Severity};

/// Default number of retries after an OOM kill.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default time between SIGTERM and SIGKILL on cancel.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);

/// Everything [`build`] needs; the caller fills it from a Plan and the command line.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// What to build.
    pub source: SourceSpec,
    /// `flash-attn` or `torch-ext`.
    pub recipe: String,
    /// The interpreter that builds (it must have torch).
    pub python: PathBuf,
    /// Persistent: the extracted sdist, its `build/` dir, pip's `dist/`.
    pub work_dir: PathBuf,
    /// Where the wheel, `build.log` and `report.json` land.
    pub out_dir: PathBuf,
    /// The plan's environment (MAX_JOBS and NVCC_THREADS are set per attempt).
    pub env: BTreeMap<String, String>,
    /// Let flash-attn download a prebuilt wheel instead of compiling.
    pub allow_prebuilt: bool,
    /// Jobs, threads, retries, memory and cancellation for the runner.
    pub attempts: AttemptSettings,
    /// Extra `pip wheel` arguments.
    pub pip_args: Vec<String>,
    /// Install the built wheel into a fresh venv and import it.
    pub verify: bool,
    /// The plan's preflight findings, first in the record.
    pub preflight: Vec<Finding>,
    /// Compile through sccache ([`compile_cache`]); `None`: no cache.
    pub compile_cache: Option<compile_cache::CompileCache>,
    /// Timeout of the sdist download (`pip download`).
    pub download_timeout: Duration,
    /// Timeout of the verification (venv, install, import).
    pub verify_timeout: Duration,
    /// Run the download, the attempts and the verification under this
    /// supervisor, so their processes die with this one, even after
    /// `kill -9` ([`wheelwright_process::supervisor`]); `None`: run them directly.
    pub supervisor: Option<wheelwright_process::supervisor::Supervisor>,
    /// Lines said in `build.log` before anything else (the Job's word on
    /// the prebuilt-wheel lookup).
    pub log_notes: Vec<String>,
    /// What is done to the wheel pip made before it lands in the out dir
    /// ([`finish`]: the deterministic rewrite, the torch pin, the manylinux tag).
    pub finish: finish::WheelFinish,
}

impl BuildRequest {
    /// A request with the defaults: 2 retries, 10 s kill grace, verification on.
    pub fn new(source: SourceSpec, recipe: &str, python: PathBuf) -> Self {
        BuildRequest {
            source,
            recipe: recipe.to_string(),
            python,
            work_dir: PathBuf::from(".wheelwright/build"),
            out_dir: PathBuf::from("wheelhouse"),
            env: BTreeMap::new(),
            allow_prebuilt: false,
            attempts: AttemptSettings {
                max_jobs: 1,
                nvcc_threads: 1,
                max_retries: DEFAULT_MAX_RETRIES,
                memory_ceiling_bytes: None,
                kill_grace: DEFAULT_KILL_GRACE,
                sampler: SamplerConfig::default(),
                schedule: None,
                thrash: ThrashPolicy::default(),
            },
            pip_args: Vec::new(),
            verify: true,
            preflight: Vec::new(),
            compile_cache: None,
            download_timeout: Duration::from_secs(1800),
            verify_timeout: Duration::from_secs(600),
            supervisor: None,
            log_notes: Vec::new(),
            finish: finish::WheelFinish::default(),
        }
    }

    /// `build.log` in the out dir.
    pub fn log_path(&self) -> PathBuf {
        self.out_dir.join("build.log")
    }

    /// `report.json` in the out dir.
    pub fn report_path(&self) -> PathBuf {
        self.out_dir.join("report.json")
    }

    /// The environment the build runs with, and the variables it must not see.
    pub fn build_env(&self) -> (BTreeMap<String, String>, Vec<String>) {
        let mut env = self.env.clone();
        let mut remove = Vec::new();
        // Reproducible wheel bytes from the backend too (it stamps entries
        // with this date); a caller's own value wins.
        if std::env::var_os(env_vars::SOURCE_DATE_EPOCH).is_none() {
            env.entry(env_vars::SOURCE_DATE_EPOCH.to_string())
                .or_insert_with(|| "315532800".to_string());
        }
        if self.recipe == "flash-attn" || self.recipe == "flash-attn-3" {
            if self.allow_prebuilt {
                env.remove(env_vars::FLASH_ATTENTION_FORCE_BUILD);
                remove.push(env_vars::FLASH_ATTENTION_FORCE_BUILD.to_string());
            } else {
                env.insert(
                    env_vars::FLASH_ATTENTION_FORCE_BUILD.to_string(),
                    "TRUE".to_string(),
                );
            }
        }
        (env, remove)
    }
}

/// Why a build could not even keep its records (anything else ends up in the report).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot write {path}: {source}")]
    /// `build.log` or `report.json` could not be written.
    Record {
        /// The file.
        path: PathBuf,
        #[source]
        /// Why.
        source: std::io::Error,
    },
}

/// Run the whole build: make the source ready, run the attempts, keep the
/// wheel, verify it, and hand the record to `keep` (at the start, after each
/// attempt, at the end). Returns the record; a failed build is a record with
/// outcome `failed`, not an error.
pub fn build(
    req: &BuildRequest,
    new_watcher: &mut dyn FnMut(u32) -> Box<dyn LineWatcher>,
    cancel: &AtomicBool,
    keep: &mut KeepRecord<'_>,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<BuildRecord, BuildError> {
    let started = Instant::now();
    // Absolute paths: the build runs in the work dir, and the report is read elsewhere.
    let req = &absolute_paths(req);
    let (mut log, mut report) = open_records(req, keep, on_event)?;
    let report_path = req.report_path();

    let (env, env_remove) = req.build_env();
    let tree = match prepare_source(req, &env, cancel, on_event) {
        Ok(t) => t,
        Err(message) => {
            let finding = Finding::new(
                "source-unavailable",
                Severity::Error,
                "The source could not be made ready",
                message,
                "Check the spec (a requirement, an sdist or a source tree) and, for a requirement, that pip can reach its index (PIP_INDEX_URL, --find-links).",
            );
            record_failure(&mut log, &mut report, finding);
            let outcome = if cancel.load(Ordering::SeqCst) {
                Outcome::Cancelled
            } else {
                Outcome::Failed
            };
            return finish_report(report, outcome, started, &report_path, &mut log, keep);
        }
    };
    report.source_dir = Some(tree.clone());

    // The plan's pip arguments, less those every attempt passes anyway.
    let fixed = runner::pip_wheel_args_fixed();
    let mut pip_args: Vec<String> = req
        .pip_args
        .iter()
        .filter(|a| !fixed.contains(&a.as_str()))
        .cloned()
        .collect();
    if !pip_args.iter().any(|a| a == "--no-index") {
        // The build needs nothing from an index (no deps, no isolation): never
        // let pip wait on a network a GPU box may not have.
        pip_args.push("--no-index".to_string());
    }
    let mut env = env;
    let cache = req
        .compile_cache
        .as_ref()
        .and_then(|c| start_compile_cache(c, req, &mut env, &mut log, on_event));
    let cfg = runner::RunnerConfig {
        python: req.python.clone(),
        source_dir: tree,
        dist_dir: req.work_dir.join("dist"),
        cwd: req.work_dir.clone(),
        env,
        env_remove,
        attempts: req.attempts.clone(),
        pip_args,
        marker: build_marker(),
        supervisor: req.supervisor.clone(),
    };

    // A forced MAX_JOBS/NVCC_THREADS the plan says does not fit: say it
    // before compiling, not only after the kill.
    for f in req
        .preflight
        .iter()
        .filter(|f| f.id == wheelwright_plan::MEMORY_OVER_CEILING)
    {
        let note = format!("warning: {}: {} {}", f.title, f.message, f.fix);
        let _ = writeln!(log, "=== wheelwright: {note}");
        on_event(BuildEvent::Note(&note));
    }

    let result = {
        let report = &mut report;
        let report_path = &report_path;
        let mut relay = |event: BuildEvent<'_>| {
            if let BuildEvent::AttemptFinished(a) = &event {
                report.attempts.push((*a).clone());
                let _ = keep(report, report_path);
            }
            on_event(event);
        };
        runner::run_attempts(&cfg, new_watcher, cancel, &mut log, &mut relay)
    };
    let _ = log.flush();
    let run = match result {
        Ok(run) => run,
        Err(e) => {
            let finding = Finding::new(
                "build-not-started",
                Severity::Error,
                "The build command could not run",
                e.to_string(),
                "Check the Python interpreter (--python) and that the work dir is writable.",
            );
            record_failure(&mut log, &mut report, finding);
            return finish_report(
                report,
                Outcome::Failed,
                started,
                &report_path,
                &mut log,
                keep,
            );
        }
    };

    if let Some(active) = &cache {
        match active.finish() {
            Ok(usage) => {
                let note = format!(
                    "sccache: {} hits of {} lookups ({:.0} %), about {:.0} s of compiling saved ({})",
                    usage.counts.hits,
                    usage.counts.hits + usage.counts.misses,
                    usage.hit_rate * 100.0,
                    usage.saved_seconds,
                    usage.location
                );
                let _ = writeln!(log, "=== wheelwright: {note}");
                on_event(BuildEvent::Note(&note));
                report.compile_cache = Some(usage);
            }
            Err(e) => {
                let note = format!("sccache's statistics could not be read: {e}");
                let _ = writeln!(log, "=== wheelwright: {note}");
                on_event(BuildEvent::Note(&note));
            }
        }
    }
    report.command = run.command.clone();
    report.environment = run.environment.clone();
    report.attempts = run.attempts.clone();
    report.peak_memory = run.peak_memory.clone();
    report.time_lost_seconds = run.time_lost_seconds;
    report.findings.extend(run.findings.iter().cloned());
    sort_findings(&mut report.findings);
    let mut outcome = run.outcome;

    if let Some(built) = &run.wheel {
        // The out dir may have gone meanwhile: made again before the wheel goes in.
        keep_records_in_place(&mut log, &mut report);
        match finish::finish_wheel(built, &req.finish, &req.out_dir).and_then(|(path, notes)| {
            let info = std::path::absolute(&path)
                .and_then(|p| WheelInfo::from_file(&p))
                .map_err(|e| finish::FinishError {
                    message: format!("cannot read {}: {e}", path.display()),
                    fix: "Check that the --out dir is writable and has space.".into(),
                })?;
            Ok((info, notes))
        }) {
            Ok((info, notes)) => {
                for note in notes {
                    let _ = writeln!(log, "=== wheelwright: {note}");
                    on_event(BuildEvent::Note(&note));
                }
                if req.finish.variants && outcome == Outcome::Ok {
                    match finish::variant_wheel(&info.path, &req.finish, &req.out_dir) {
                        Ok(v) => {
                            let note = format!(
                                "wrote the PEP 825 variant wheel {} (label {}; experimental)",
                                v.wheel.name, v.label
                            );
                            let _ = writeln!(log, "=== wheelwright: {note}");
                            on_event(BuildEvent::Note(&note));
                            report.variant = Some(v);
                        }
                        Err(e) => {
                            report.findings.push(Finding::new(
                                "variant-not-written",
                                Severity::Error,
                                "The variant wheel could not be written (--variants)",
                                format!(
                                    "{}; the wheel itself is at {}",
                                    e.message,
                                    info.path.display()
                                ),
                                e.fix,
                            ));
                            outcome = Outcome::Failed;
                        }
                    }
                }
                report.wheel = Some(info);
            }
            Err(e) => {
                report.findings.push(Finding::new(
                    "wheel-not-copied",
                    Severity::Error,
                    "The wheel could not be written into the output dir",
                    format!("{}; it is still at {}", e.message, built.display()),
                    e.fix,
                ));
                outcome = Outcome::Failed;
            }
        }
    }

    if outcome == Outcome::Ok {
        report.verify = Some(if !req.verify {
            VerifyResult::skipped("--no-verify")
        } else if let Some(w) = &report.wheel {
            on_event(BuildEvent::Note(
                "verifying the wheel: install into a fresh venv that sees the build's torch, import",
            ));
            verify_for(req, &w.path, cancel)
        } else {
            VerifyResult::skipped("no wheel")
        });
        if cancel.load(Ordering::SeqCst) {
            // Cancelled while verifying: the wheel is kept, unchecked.
            let _ = log.flush();
            return finish_report(
                report,
                Outcome::Cancelled,
                started,
                &report_path,
                &mut log,
                keep,
            );
        }
        if let Some(v) = report.verify.as_ref().filter(|v| !v.passed()) {
            report.findings.push(Finding::new(
                "verify-failed",
                Severity::Error,
                "The built wheel failed its check",
                v.error.clone().unwrap_or_default(),
                "Install the wheel in a fresh environment and import it to see the whole error; a wrong CUDA arch list or a torch mismatch are the usual causes.",
            ));
            outcome = Outcome::Failed;
        }
    }
    let _ = log.flush();
    finish_report(report, outcome, started, &report_path, &mut log, keep)
}

/// Install `wheel` into a fresh venv of the request's interpreter (seeing
/// its torch) and import it, as a build's wheel is verified.
pub fn verify_for(req: &BuildRequest, wheel: &Path, cancel: &AtomicBool) -> VerifyResult {
    let (env, _) = req.build_env();
    let path = runner::path_with_python_dir(&req.python, std::env::var_os(env_vars::PATH));
    let mut venv: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("CUDA") || k == env_vars::LD_LIBRARY_PATH)
        .collect();
    venv.push((
        env_vars::PATH.to_string(),
        path.to_string_lossy().into_owned(),
    ));
    verify::verify_wheel(
        &verify::VerifyRequest {
            python: req.python.clone(),
            wheel: wheel.to_path_buf(),
            recipe: req.recipe.clone(),
            scratch_parent: verify::default_scratch(&req.work_dir),
            env: venv,
            timeout: req.verify_timeout,
            supervisor: req.supervisor.clone(),
        },
        cancel,
    )
}

/// The records of a build that takes a wheel made elsewhere instead of
/// compiling (the Job's prebuilt wheel; `verify` says what its check in a
/// fresh venv found, `findings` what the checks before found): the wheel
/// copied into the out dir (wheels of earlier runs moved aside first),
/// `build.log` with the request's notes, and a record with outcome `ok`, the
/// wheel, and no attempts.
pub fn record_existing_wheel(
    req: &BuildRequest,
    wheel: &Path,
    verify: VerifyResult,
    findings: &[Finding],
    keep: &mut KeepRecord<'_>,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<BuildRecord, BuildError> {
    let started = Instant::now();
    let req = &absolute_paths(req);
    let (mut log, mut report) = open_records(req, keep, on_event)?;
    let outcome = match keep_wheel(wheel, &req.out_dir) {
        Ok(info) => {
            let _ = writeln!(
                log,
                "=== wheelwright: {} (sha256 {}), not compiled",
                info.path.display(),
                info.sha256
            );
            report.wheel = Some(info);
            Outcome::Ok
        }
        Err(e) => {
            let finding = Finding::new(
                "wheel-not-copied",
                Severity::Error,
                "The wheel could not be copied to the output dir",
                format!("{e}; it is still at {}", wheel.display()),
                "Check that the --out dir is writable and has space.",
            );
            record_failure(&mut log, &mut report, finding);
            Outcome::Failed
        }
    };
    // Its check's warnings (a release wheel's METADATA without the local label).
    report.findings.extend(findings.iter().cloned());
    sort_findings(&mut report.findings);
    report.verify = Some(verify);
    finish_report(report, outcome, started, &req.report_path(), &mut log, keep)
}

fn record_error(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Record { path, source }
}

/// Create the out and work dirs, move wheels of earlier runs out of the out
/// dir ([`out_dir::set_aside_stale_wheels`], said through `on_event`), create
/// `build.log` and hand over a first record.
fn open_records(
    req: &BuildRequest,
    keep: &mut KeepRecord<'_>,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<(LogFile, BuildRecord), BuildError> {
    std::fs::create_dir_all(&req.out_dir).map_err(record_error(&req.out_dir))?;
    let stale = out_dir::set_aside_stale_wheels(&req.out_dir, &out_dir::utc_stamp())
        .map_err(record_error(&req.out_dir))?;
    std::fs::create_dir_all(&req.work_dir).map_err(record_error(&req.work_dir))?;
    let log_path = req.log_path();
    // Never through a symlink planted in the out dir (see wheelwright_base::safe_write);
    // every line written to it, the build's and our notes, is masked.
    let mut log = LogFile::create(&log_path, wheelwright_base::secrets::installed())
        .map_err(record_error(&log_path))?;
    let mut report = BuildRecord::started(&req.work_dir);
    report.findings = req.preflight.clone();
    report.findings.extend(stale.iter().map(|s| s.finding()));
    report.log = Some(log_path);
    for note in &req.log_notes {
        let _ = writeln!(log, "=== wheelwright: {note}");
    }
    report.source_sha256 = match &req.source {
        SourceSpec::Sdist(p) => wheelwright_base::digest::sha256_file(p).ok(),
        SourceSpec::Tree(t) => {
            tree_hash::tree_sha256(t, &[req.work_dir.clone(), req.out_dir.clone()]).ok()
        }
        SourceSpec::Requirement(_) => None,
    };
    let report_path = req.report_path();
    keep(&report, &report_path).map_err(record_error(&report_path))?;
    if let Some(stale) = &stale {
        on_event(BuildEvent::Note(&stale.note()));
    }
    Ok((log, report))
}

/// End the record with `outcome` and hand it over, with the log's problems
/// (incomplete, put back into an out dir made again) among its findings.
fn finish_report(
    mut report: BuildRecord,
    outcome: Outcome,
    started: Instant,
    path: &Path,
    log: &mut LogFile,
    keep: &mut KeepRecord<'_>,
) -> Result<BuildRecord, BuildError> {
    keep_records_in_place(log, &mut report);
    let _ = log.flush();
    if let Some(f) = log.problem() {
        if !report.findings.iter().any(|g| g.id == f.id) {
            report.findings.push(f);
        }
    }
    report.outcome = Some(outcome);
    report.exit_code = Some(outcome.exit_code());
    report.end = Some(record::now_rfc3339());
    report.duration_seconds = started.elapsed().as_secs_f64();
    keep(&report, path).map_err(record_error(path))?;
    Ok(report)
}

/// The records of a build that ended before it could start (its
/// requirement's sdist could not be downloaded, or the download was
/// cancelled): `build.log` with the finding's message and `report.json` with
/// `outcome` and the finding, as a build that failed later would leave them.
pub fn record_early_end(
    req: &BuildRequest,
    finding: Finding,
    outcome: Outcome,
    keep: &mut KeepRecord<'_>,
) -> Result<BuildRecord, BuildError> {
    let started = Instant::now();
    let req = &absolute_paths(req);
    let (mut log, mut report) = open_records(req, keep, &mut |_| {})?;
    record_failure(&mut log, &mut report, finding);
    finish_report(report, outcome, started, &req.report_path(), &mut log, keep)
}

/// Put `build.log` back if the out dir (or the log) was removed, and say so
/// in the report once; a log that cannot be put back is said too.
fn keep_records_in_place(log: &mut LogFile, report: &mut BuildRecord) {
    let out_dir = log.path().parent().unwrap_or(Path::new(".")).to_path_buf();
    let finding = match log.restore() {
        Ok(false) => return,
        Ok(true) => records::out_dir_removed(&out_dir),
        Err(e) => Finding::new(
            records::OUT_DIR_REMOVED,
            Severity::Warning,
            "The out dir was removed during the build",
            format!(
                "{} disappeared while the build ran and build.log could not be put back: {e}",
                out_dir.display()
            ),
            "Keep the out dir while a build runs: look for a clean-up step or another build using the same --out.",
        ),
    };
    if !report.findings.iter().any(|f| f.id == finding.id) {
        report.findings.push(finding);
    }
}

/// A failure that ends the build without (more) attempts: its message goes to
/// the log, the finding to the report.
fn record_failure(log: &mut impl Write, report: &mut BuildRecord, finding: Finding) {
    let _ = writeln!(log, "=== wheelwright: {}", finding.message);
    let _ = log.flush();
    report.findings.push(finding);
}

/// The request with its interpreter (when given as a path), work dir and out
/// dir made absolute against the current directory.
fn absolute_paths(req: &BuildRequest) -> BuildRequest {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut r = req.clone();
    r.python = absolute_program(r.python);
    r.work_dir = abs(&r.work_dir);
    r.out_dir = abs(&r.out_dir);
    r
}

/// A program given as a path made absolute against the current directory; a
/// bare name (`python3`, looked up on PATH) stays as it is.
pub fn absolute_program(program: PathBuf) -> PathBuf {
    if program.components().count() > 1 {
        std::path::absolute(&program).unwrap_or(program)
    } else {
        program
    }
}

/// The tree to build, downloading and extracting as needed.
fn prepare_source(
    req: &BuildRequest,
    env: &BTreeMap<String, String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Result<PathBuf, String> {
    let sdist = match &req.source {
        SourceSpec::Tree(t) => return std::path::absolute(t).map_err(|e| e.to_string()),
        SourceSpec::Sdist(s) => s.clone(),
        SourceSpec::Requirement(r) => {
            on_event(BuildEvent::Note("downloading the sdist with pip download"));
            source::download_sdist(
                &req.python,
                r,
                &req.work_dir,
                env,
                req.download_timeout,
                cancel,
                req.supervisor.as_ref(),
            )
            .map_err(|e| e.to_string())?
        }
    };
    on_event(BuildEvent::Note(
        "extracting the sdist into the work dir (once)",
    ));
    let tree = source::extract_sdist(&sdist, &req.work_dir).map_err(|e| e.to_string())?;
    std::path::absolute(&tree).map_err(|e| e.to_string())
}

/// Copy the wheel into `out_dir` and describe it.
fn keep_wheel(built: &Path, out_dir: &Path) -> std::io::Result<WheelInfo> {
    let name = built
        .file_name()
        .ok_or_else(|| std::io::Error::other("the wheel path has no file name"))?;
    let dest = out_dir.join(name);
    wheelwright_base::safe_write::copy_atomically(built, &dest)?;
    WheelInfo::from_file(&std::path::absolute(&dest)?)
}

/// Most important first; stable within a severity.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by_key(|f| f.severity);
}

/// A value unique to this build for [`env_vars::WHEELWRIGHT_BUILD_ID`].
fn build_marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Start sccache for this build and add its variables to `env`; a cache
/// that cannot start is said in the log and the build runs without it.
fn start_compile_cache(
    cache: &compile_cache::CompileCache,
    req: &BuildRequest,
    env: &mut BTreeMap<String, String>,
    log: &mut dyn Write,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> Option<compile_cache::ActiveCache> {
    let var = |k: &str| env.get(k).cloned().or_else(|| std::env::var(k).ok());
    let nvcc = var(env_vars::CUDA_HOME)
        .or_else(|| var(env_vars::CUDA_PATH))
        .map(|h| PathBuf::from(h).join("bin/nvcc"))
        .unwrap_or_else(|| PathBuf::from("/usr/local/cuda/bin/nvcc"));
    let cxx = var(env_vars::CXX).unwrap_or_else(|| "g++".to_string());
    let mut server_env = env.clone();
    for k in [env_vars::PATH, "HOME"] {
        if let Ok(v) = std::env::var(k) {
            server_env.entry(k.to_string()).or_insert(v);
        }
    }
    match compile_cache::activate(
        cache,
        &req.work_dir,
        &server_env,
        &nvcc,
        &cxx,
        Some(&req.python),
    ) {
        Ok(active) => {
            env.extend(active.env.clone());
            let nvcc = active.env.get(env_vars::PYTORCH_NVCC);
            let note = format!(
                "compiling through sccache ({}; PYTORCH_NVCC={})",
                cache.sccache.display(),
                nvcc.map_or("unset: nvcc runs uncached", String::as_str)
            );
            for note in std::iter::once(&note).chain(&active.notes) {
                let _ = writeln!(log, "=== wheelwright: {note}");
                on_event(BuildEvent::Note(note));
            }
            Some(active)
        }
        Err(e) => {
            let note = format!("sccache could not start ({e}); building without a compile cache");
            let _ = writeln!(log, "=== wheelwright: {note}");
            on_event(BuildEvent::Note(&note));
            None
        }
    }
}
