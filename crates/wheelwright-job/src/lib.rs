//! wheelwright-job: the Job, one call that runs a whole build the same way
//! for every CI system.
//!
//! [`run`] takes a [`JobSpec`] (what to build and how) and a [`JobContext`]
//! (how to detect, the network, the cancel flag), runs detect → plan →
//! preflight → fetch source → build attempts → verify, reports progress
//! through [`JobEvent`]s, and returns the [`BuildReport`] it also wrote as
//! `report.json`; with `prebuilt: prefer` a matching prebuilt wheel that
//! passes its checks is used instead of compiling ([`crate::prebuilt`]). A build
//! that ran and failed is a report with outcome
//! `failed`, not an error; [`JobError`] is for what stops a job before it can
//! build (bad input, a refused plan, a source that cannot be had).
//!
//! The CLI's `wheelwright build`, the GitHub Action and any other CI call
//! this one function; wheelwright-sinks' `build_report` renders its report
//! for them.
//!
//! The Job sits above the stages and holds what only it knows: the
//! [`JobSpec`], the [`report::BuildReport`] it assembles from the stages'
//! results (the builder's [`wheelwright_build::BuildRecord`] among them),
//! the [`prebuilt`] lookup, [`repro`], `wheel check` against a report
//! ([`check`]), and the contract of the network ([`net::Network`]) and of
//! publishing ([`publish`]), which `wheelwright-publish` implements.

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

pub mod check;
pub mod net;
pub mod prebuilt;
mod prebuilt_stage;
pub mod publish;
pub mod report;
pub mod repro;
mod settings;
mod spec;

// Named as the documentation of the report contract names them (the
// committed JSON schemas quote those docs): `crate::detect::resolve_python`,
// `super::tree_hash::tree_sha256`; the second is used by those docs alone.
#[allow(unused_imports)]
use wheelwright_build::tree_hash;
use wheelwright_detect as detect;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use settings::{
    calibration_from_report, detect_and_plan, fix_context, planned_threads, probe_setup_py,
    speed_from_report,
};
pub use spec::{JobSpec, PrebuiltPolicy, RecipeKind};

use wheelwright_base::finding::{Finding, Severity};
use wheelwright_build as builder;
use wheelwright_build::source::{self, SourceError};
use wheelwright_build::workdir::{WorkDirError, WorkDirLock};
use wheelwright_build::{BuildError, BuildEvent, BuildRequest, Outcome, SourceSpec};
use wheelwright_detect::DetectOptions;
use wheelwright_plan::PlanError;

use crate::net::{FetchOptions, Network};
use crate::prebuilt::PrebuiltRecord;
use crate::publish::PublishReport;
use crate::report::{BuildReport, ReportHead};

/// What a job needs from its caller besides the spec.
pub struct JobContext<'a> {
    /// How to detect the host (root, PATH, followed variables); the job sets
    /// its interpreter and disk path from the spec.
    pub detect: DetectOptions,
    /// Fetches `http(s)://` sources; [`net::Offline`] where there is no network.
    pub network: &'a dyn Network,
    /// Set it (from a signal handler, another thread) to stop the job: the
    /// download or the build's process tree is stopped, the records are kept.
    pub cancel: &'a AtomicBool,
    /// Run the build's commands under this supervisor (the `wheelwright`
    /// binary passes itself), so they die with this process even after
    /// `kill -9`; `None` runs them directly ([`wheelwright_process::supervisor`] says what
    /// that misses).
    pub supervisor: Option<wheelwright_process::supervisor::Supervisor>,
}

impl std::fmt::Debug for JobContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("detect", &self.detect)
            .field("cancel", &self.cancel)
            .field("supervisor", &self.supervisor)
            .finish_non_exhaustive()
    }
}

/// Progress of a job: the stages before the build, then the build's own events.
#[derive(Debug)]
pub enum JobEvent<'a> {
    /// Detecting the host and planning the build.
    Planning,
    /// Downloading the source: a requirement's sdist (through pip) or a URL
    /// (through the job's network).
    FetchingSource {
        /// The requirement or URL.
        what: &'a str,
        /// `pip download --no-binary :all:` or `the job's network`.
        how: &'a str,
    },
    /// The plan's preflight refused the build; with `forced` it runs anyway.
    Refused {
        /// The error findings (their fixes say what to do).
        findings: &'a [Finding],
        /// The spec's `force` is set: the build goes on.
        forced: bool,
    },
    /// Another build on this host holds the work dir: the job waits for it
    /// (until cancelled).
    WaitingForWorkDir {
        /// The work dir.
        work_dir: &'a Path,
        /// Its lock file.
        lock: &'a Path,
    },
    /// The build starts with these settings.
    Building {
        /// The spec's source, as given.
        source: &'a str,
        /// The recipe (`flash-attn`, `torch-ext`).
        recipe: &'a str,
        /// MAX_JOBS of the first attempt.
        max_jobs: u32,
        /// NVCC_THREADS of every attempt.
        nvcc_threads: u32,
        /// Where the wheel, `build.log` and `report.json` land.
        out_dir: &'a Path,
    },
    /// An event of the build runner (log lines, progress, attempts).
    Build(BuildEvent<'a>),
    /// The build succeeded and its wheel is being published to the spec's targets.
    Publishing {
        /// The wheel.
        wheel: &'a Path,
    },
    /// What publishing did, file by file (also in the report).
    Published(&'a PublishReport),
}

/// Why a job stopped before its build could run (a failed build is a report,
/// not an error). [`JobError::hint`] says what to do, [`JobError::exit_code`]
/// which documented exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The spec is not a requirement, an sdist, a source tree or a URL.
    #[error(transparent)]
    BadSource(SourceError),
    /// The out or work dir cannot be created or written.
    #[error("{flag} {} cannot be used: {error}", path.display())]
    UnusableDir {
        /// `--out` or `--work-dir`.
        flag: &'static str,
        /// The directory.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// No interpreter was given and none was found.
    #[error("no Python interpreter found (no --python, no active venv, no python3 on PATH)")]
    NoPython,
    /// A torch-ext requirement cannot be planned before its sdist is here.
    #[error("cannot plan `{spec}` before its source is here")]
    NoSource {
        /// The spec as given.
        spec: String,
    },
    /// The planner could not plan (bad input; refusals are [`JobError::Refused`]).
    #[error("cannot plan the build: {error}")]
    Plan {
        /// The planner's error.
        error: PlanError,
        /// What to do about it.
        hint: String,
    },
    /// The plan file could not be read or is not a plan.
    #[error("{message}")]
    PlanFile {
        /// The plan file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The calibration report could not be used.
    #[error("{message}")]
    Calibrate {
        /// What is wrong.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// The plan's preflight checks refused the build (and `force` was not set).
    #[error("the plan refused this build ({} error(s) above)", findings.len())]
    Refused {
        /// The error findings.
        findings: Vec<Finding>,
    },
    /// The source could not be downloaded (or the download was cancelled):
    /// `build.log` and `report.json` were written as for a failed build.
    #[error("{message}")]
    SourceUnavailable {
        /// The records left in the out dir.
        report: Box<BuildReport>,
        /// What failed.
        message: String,
        /// The download was cancelled (exit 130), not failed (exit 1).
        cancelled: bool,
    },
    /// The build's records (`build.log`, `report.json`) could not be written.
    #[error("the build could not keep its records")]
    Records(#[source] BuildError),
    /// The work dir could not be locked (or the wait for it was cancelled).
    #[error(transparent)]
    WorkDir(WorkDirError),
}

impl JobError {
    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            JobError::BadSource(e) => format!("{}; an http(s) URL of an sdist is fetched as it is", e.hint()),
            JobError::UnusableDir { flag, .. } => format!("give {flag} a directory this user can create and write"),
            JobError::NoPython => "pass the interpreter that has torch with --python".into(),
            JobError::NoSource { .. } => "pass the sdist or the source tree".into(),
            JobError::Plan { hint, .. } | JobError::Calibrate { hint, .. } => hint.clone(),
            JobError::PlanFile { .. } => "write one with `wheelwright plan --json > plan.json`".into(),
            JobError::Refused { .. } => "fix what the findings say (or override with --archs/--max-jobs/--nvcc-threads), or pass --force to build anyway".into(),
            JobError::SourceUnavailable { .. } => SOURCE_HINT.into(),
            JobError::Records(_) => "check that the out and work dirs are writable and have space".into(),
            JobError::WorkDir(e) => e.hint(),
        }
    }

    /// The documented exit code: 2 bad input or refused, 1 the source could
    /// not be had, 130 cancelled, 3 the records could not be written.
    pub fn exit_code(&self) -> u8 {
        match self {
            JobError::SourceUnavailable {
                cancelled: true, ..
            } => 130,
            JobError::SourceUnavailable { .. } => 1,
            JobError::Records(_) => 3,
            JobError::WorkDir(WorkDirError::Cancelled { .. }) => 130,
            JobError::WorkDir(WorkDirError::Io { .. }) => 3,
            _ => 2,
        }
    }

    /// The report the job left before it stopped, if it left one.
    pub fn report(&self) -> Option<&BuildReport> {
        match self {
            JobError::SourceUnavailable { report, .. } => Some(report),
            _ => None,
        }
    }
}

const SOURCE_HINT: &str = "check that pip reaches its index (PIP_INDEX_URL, pip.conf, --find-links in PIP_FIND_LINKS) and that the build interpreter has setuptools and wheel (`wheelwright setup`), or download the sdist elsewhere and pass its path";

/// Run the job: detect, plan, check the preflight findings, fetch the source,
/// run the build attempts and verify the wheel, leaving the wheel,
/// `build.log` and `report.json` in the spec's out dir.
pub fn run(
    spec: &JobSpec,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<BuildReport, JobError> {
    let is_url = net::is_http_url(&spec.source);
    let source = if is_url {
        None
    } else {
        Some(SourceSpec::parse(&spec.source).map_err(JobError::BadSource)?)
    };
    let recipe = match (spec.recipe, &source) {
        (Some(r), _) => r.as_str(),
        (None, Some(s)) => source::default_recipe(s),
        (None, None) => url_recipe(&spec.source),
    };
    // Found now, not after the plan and a download.
    for (dir, flag) in [(&spec.out_dir, "--out"), (&spec.work_dir, "--work-dir")] {
        writable_dir(dir).map_err(|error| JobError::UnusableDir {
            flag,
            path: dir.clone(),
            error,
        })?;
    }
    // Held until the job ends: another job on this host that uses the same
    // work dir (runner agents sharing a tool cache) waits for it.
    let _work_dir_lock = WorkDirLock::acquire_cancellable(&spec.work_dir, ctx.cancel, |lock| {
        on_event(JobEvent::WaitingForWorkDir {
            work_dir: &spec.work_dir,
            lock,
        })
    })
    .map_err(JobError::WorkDir)?;
    let mut dopts = ctx.detect.clone();
    dopts.python = spec.python.clone().or(dopts.python);
    dopts.disk_path = spec.work_dir.clone();
    let python = detect::resolve_python(&dopts).ok_or(JobError::NoPython)?;
    let python = builder::absolute_program(python);
    dopts.python = Some(python.clone());

    // A prebuilt wheel first, when asked: found, checked and verified, it
    // is used instead of fetching and compiling the source.
    let mut prebuilt = None;
    if spec.prebuilt == PrebuiltPolicy::Prefer {
        match prebuilt_stage::look(
            spec,
            recipe,
            source.as_ref(),
            &dopts,
            &python,
            ctx,
            on_event,
        ) {
            prebuilt_stage::Stage::Use(found) => {
                let mut report =
                    prebuilt_stage::record(*found, spec, recipe, source, &python, on_event)
                        .map_err(JobError::Records)?;
                publish_if_asked(spec, &mut report, ctx, on_event)?;
                return Ok(report);
            }
            prebuilt_stage::Stage::Compile(record) => prebuilt = Some(record),
        }
    }

    // A requirement or a URL: fetch its sdist first; the plan reads its
    // units, and the build extracts it once into the work dir.
    let early_end = |source: SourceSpec, message: String, cancelled: bool| {
        let records = EarlyEnd {
            python: python.clone(),
            prebuilt: prebuilt.clone(),
        };
        download_failed(spec, source, recipe, records, message, cancelled)
    };
    let source = match source {
        Some(SourceSpec::Requirement(r)) => {
            on_event(JobEvent::FetchingSource {
                what: &r,
                how: "pip download --no-binary :all:",
            });
            match source::download_sdist(
                &python,
                &r,
                &spec.work_dir,
                &Default::default(),
                Duration::from_secs(1800),
                ctx.cancel,
                ctx.supervisor.as_ref(),
            ) {
                Ok(sdist) => SourceSpec::Sdist(sdist),
                Err(e) => {
                    let cancelled = matches!(e, SourceError::Cancelled);
                    return Err(early_end(
                        SourceSpec::Requirement(r),
                        e.to_string(),
                        cancelled,
                    ));
                }
            }
        }
        Some(other) => other,
        None => {
            on_event(JobEvent::FetchingSource {
                what: &spec.source,
                how: "the job's network",
            });
            let requirement = SourceSpec::Requirement(spec.source.clone());
            let Some(dest) = settings::url_download_path(&spec.work_dir, &spec.source) else {
                let message = format!("{}: the URL does not name a .tar.gz sdist", spec.source);
                return Err(early_end(requirement, message, false));
            };
            let fetched = dest
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    ctx.network
                        .fetch(&spec.source, &dest, &FetchOptions::default())
                        .map_err(|e| e.to_string())
                });
            match fetched {
                Ok(f) => SourceSpec::Sdist(f.path),
                Err(message) => {
                    let cancelled = ctx.cancel.load(Ordering::SeqCst);
                    return Err(early_end(requirement, message, cancelled));
                }
            }
        }
    };

    on_event(JobEvent::Planning);
    let settings = settings::resolve(spec, recipe, &source, &dopts)?;
    let refusals: Vec<Finding> = settings
        .preflight
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .cloned()
        .collect();
    if !refusals.is_empty() {
        on_event(JobEvent::Refused {
            findings: &refusals,
            forced: spec.force,
        });
        if !spec.force {
            return Err(JobError::Refused { findings: refusals });
        }
    }

    let mut new_watcher = settings::new_watcher(&settings);
    let mut req = BuildRequest::new(source, recipe, python);
    req.work_dir = spec.work_dir.clone();
    req.out_dir = spec.out_dir.clone();
    req.env = settings.env;
    req.allow_prebuilt = spec.prebuilt == PrebuiltPolicy::Allow;
    req.attempts.max_jobs = settings.max_jobs;
    req.attempts.nvcc_threads = settings.nvcc_threads;
    req.attempts.max_retries = spec.max_retries;
    req.attempts.memory_ceiling_bytes = settings.memory_ceiling_bytes;
    req.attempts.kill_grace = spec.kill_grace();
    req.attempts.schedule = settings.schedule;
    req.attempts.sampler.root = dopts.root.clone();
    let (thrash, thrash_note) = wheelwright_build::ThrashPolicy::with_override(
        dopts.var(wheelwright_base::env_vars::WHEELWRIGHT_THRASH_SECONDS),
    );
    req.attempts.thrash = thrash;
    if let Some(note) = &thrash_note {
        on_event(JobEvent::Build(BuildEvent::Note(note)));
    }
    req.verify = spec.verify;
    req.preflight = settings.preflight;
    req.pip_args = settings.pip_args;
    req.compile_cache = spec.compile_cache.clone();
    req.supervisor = ctx.supervisor.clone();
    req.log_notes = prebuilt.iter().map(|p| p.note.clone()).collect();
    let head = ReportHead {
        spec: spec.source.clone(),
        recipe: recipe.to_string(),
        facts: Some(settings.facts),
        plan: Some(settings.plan),
        job: Some(spec.clone()),
        prebuilt,
    };

    on_event(JobEvent::Building {
        source: &spec.source,
        recipe,
        max_jobs: req.attempts.max_jobs,
        nvcc_threads: req.attempts.nvcc_threads,
        out_dir: &spec.out_dir,
    });
    let record = builder::build(
        &req,
        &mut new_watcher,
        ctx.cancel,
        &mut |r, path| head.write(r, path),
        &mut |e| on_event(JobEvent::Build(e)),
    )
    .map_err(JobError::Records)?;
    let mut report = BuildReport::assemble(&head, &record);
    publish_if_asked(spec, &mut report, ctx, on_event)?;
    Ok(report)
}

/// Publish the report's wheel to the spec's targets when the job made one
/// (built, or prebuilt) and has targets, and write the report again.
fn publish_if_asked(
    spec: &JobSpec,
    report: &mut BuildReport,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<(), JobError> {
    let Some(wheel) = report.wheel.as_ref().map(|w| w.path.clone()) else {
        return Ok(());
    };
    if report.outcome != Some(Outcome::Ok) || spec.publish.is_empty() {
        return Ok(());
    }
    on_event(JobEvent::Publishing { wheel: &wheel });
    publish::publish_built_wheel(report, &wheel, &spec.publish, ctx.network);
    if let Some(p) = &report.publish {
        on_event(JobEvent::Published(p));
    }
    let path = spec.out_dir.join("report.json");
    report
        .write(&path)
        .map_err(|source| JobError::Records(builder::BuildError::Record { path, source }))
}

/// The recipe of a URL's sdist: flash-attn when its file name says so.
fn url_recipe(url: &str) -> &'static str {
    source::default_recipe(&SourceSpec::Requirement(
        url.rsplit('/').next().unwrap_or(url).to_string(),
    ))
}

/// Create `dir` and prove a file can be written in it.
fn writable_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // A unique name created exclusively: nothing planted is followed.
    tempfile::NamedTempFile::new_in(dir)?.close()
}

/// The source could not be had: leave `build.log` and `report.json` (outcome
/// `failed`, or `cancelled`) like any failed build, and say so.
/// What the records of a job that ended early carry besides the spec.
struct EarlyEnd {
    python: PathBuf,
    /// Why no prebuilt wheel was used (`prebuilt: prefer`).
    prebuilt: Option<PrebuiltRecord>,
}

fn download_failed(
    spec: &JobSpec,
    source: SourceSpec,
    recipe: &str,
    records: EarlyEnd,
    message: String,
    cancelled: bool,
) -> JobError {
    let (id, severity, outcome) = if cancelled {
        ("cancelled", Severity::Warning, Outcome::Cancelled)
    } else {
        ("source-unavailable", Severity::Error, Outcome::Failed)
    };
    let title = "The requirement's sdist could not be downloaded";
    let finding = Finding::new(id, severity, title, message.clone(), SOURCE_HINT);
    let mut req = BuildRequest::new(source, recipe, records.python);
    req.work_dir = spec.work_dir.clone();
    req.out_dir = spec.out_dir.clone();
    req.log_notes = records.prebuilt.iter().map(|p| p.note.clone()).collect();
    let head = ReportHead {
        spec: spec.source.clone(),
        recipe: recipe.to_string(),
        job: Some(spec.clone()),
        prebuilt: records.prebuilt,
        ..ReportHead::default()
    };
    match builder::record_early_end(&req, finding, outcome, &mut |r, path| head.write(r, path)) {
        Ok(record) => JobError::SourceUnavailable {
            report: Box::new(BuildReport::assemble(&head, &record)),
            message,
            cancelled,
        },
        Err(e) => JobError::Records(e),
    }
}
