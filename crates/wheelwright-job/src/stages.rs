//! The Job's stages, in the order [`crate::run`] runs them: resolve the
//! source, lock the work dir, find the interpreter, look for a prebuilt
//! wheel, fetch the source, plan (with the preflight's verdict), build,
//! publish. Each takes what the stages before it made and returns what it
//! made; the stages that write the records assemble the report from those
//! results and the spec (which the report embeds).

pub(crate) mod prebuilt;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wheelwright_base::finding::{Finding, Severity};
use wheelwright_build as builder;
use wheelwright_build::source::{self, SourceError};
use wheelwright_build::workdir::WorkDirLock;
use wheelwright_build::{BuildError, BuildEvent, BuildRequest, Outcome, SourceSpec, ThrashPolicy};
use wheelwright_detect::DetectOptions;

use crate::context::{JobContext, JobEvent};
use crate::error::{JobError, SOURCE_HINT};
use crate::net::{is_http_url, FetchOptions, Network};
use crate::prebuilt::PrebuiltRecord;
use crate::publish::{PublishStatus, PublishTargets};
use crate::report::{BuildReport, ReportHead};
use crate::settings::{self, BuildSettings};
use crate::spec::{JobSpec, PrebuiltPolicy, RecipeKind};

/// What the spec's source is and which recipe builds it.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The spec's source as given (a requirement, a path, a URL).
    pub spec: String,
    /// A requirement, an sdist or a tree; `None` for an `http(s)://` URL.
    pub parsed: Option<SourceSpec>,
    /// `flash-attn`, `flash-attn-3`, `torch-ext`.
    pub recipe: &'static str,
}

/// The interpreter that builds, and the detection options that see it.
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    /// Absolute when given as a path; a bare name is looked up on PATH.
    pub python: PathBuf,
    /// The caller's options with this interpreter and the work dir's disk.
    pub detect: DetectOptions,
}

/// Stage 1: parse the source and choose its recipe; prove the out and work
/// dirs usable now, not after the plan and a download.
pub(crate) fn resolve_source(
    spec: &str,
    recipe: Option<RecipeKind>,
    dirs: [(&Path, &'static str); 2],
) -> Result<Source, JobError> {
    let parsed = if is_http_url(spec) {
        None
    } else {
        Some(SourceSpec::parse(spec).map_err(JobError::BadSource)?)
    };
    let recipe = match (recipe, &parsed) {
        (Some(r), _) => r.as_str(),
        (None, Some(s)) => source::default_recipe(s),
        (None, None) => url_recipe(spec),
    };
    for (dir, flag) in dirs {
        writable_dir(dir).map_err(|error| JobError::UnusableDir {
            flag,
            path: dir.to_path_buf(),
            error,
        })?;
    }
    Ok(Source {
        spec: spec.to_string(),
        parsed,
        recipe,
    })
}

/// Stage 2: hold the work dir until the job ends; another job on this host
/// that uses the same work dir (runner agents sharing a tool cache) waits
/// for it, and so does this one (until cancelled).
pub(crate) fn lock_work_dir(
    work_dir: &Path,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<WorkDirLock, JobError> {
    WorkDirLock::acquire_cancellable(work_dir, cancel, |lock| {
        on_event(JobEvent::WaitingForWorkDir { work_dir, lock })
    })
    .map_err(JobError::WorkDir)
}

/// Stage 3: the interpreter that builds: `python`, else detection's fallback
/// chain ([`wheelwright_detect::resolve_python`]).
pub(crate) fn find_python(
    python: Option<&Path>,
    work_dir: &Path,
    detect: &DetectOptions,
) -> Result<Interpreter, JobError> {
    let mut dopts = detect.clone();
    dopts.python = python.map(Path::to_path_buf).or(dopts.python);
    dopts.disk_path = work_dir.to_path_buf();
    let python = wheelwright_detect::resolve_python(&dopts).ok_or(JobError::NoPython)?;
    let python = builder::absolute_program(python);
    dopts.python = Some(python.clone());
    Ok(Interpreter {
        python,
        detect: dopts,
    })
}

/// Stage 4: with `prebuilt: prefer`, a prebuilt wheel that is found, checked
/// and verified is used instead of fetching and compiling
/// ([`prebuilt::Stage::Use`]); otherwise the build compiles, with the
/// lookup's record when there was one.
pub(crate) fn look_for_prebuilt(
    spec: &JobSpec,
    source: &Source,
    python: &Interpreter,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> prebuilt::Stage {
    if spec.prebuilt != PrebuiltPolicy::Prefer {
        return prebuilt::Stage::Compile(None);
    }
    prebuilt::look(spec, source, python, ctx, on_event)
}

/// Stage 5: a requirement's or a URL's sdist, downloaded into the work dir
/// (the plan reads its units, the build extracts it once); a local sdist or
/// tree as it is. A source that cannot be had leaves `build.log` and
/// `report.json` like any failed build ([`JobError::SourceUnavailable`]).
pub(crate) fn fetch(
    spec: &JobSpec,
    source: &Source,
    python: &Interpreter,
    prebuilt: Option<&PrebuiltRecord>,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<SourceSpec, JobError> {
    let early_end = |given: SourceSpec, message: String, cancelled: bool| {
        download_failed(spec, source, given, python, prebuilt, message, cancelled)
    };
    match &source.parsed {
        Some(SourceSpec::Requirement(r)) => {
            on_event(JobEvent::FetchingSource {
                what: r,
                how: "pip download --no-binary :all:",
            });
            source::download_sdist(
                &python.python,
                r,
                &spec.work_dir,
                &Default::default(),
                Duration::from_secs(1800),
                ctx.cancel,
                ctx.supervisor.as_ref(),
            )
            .map(SourceSpec::Sdist)
            .map_err(|e| {
                let cancelled = matches!(e, SourceError::Cancelled);
                early_end(SourceSpec::Requirement(r.clone()), e.to_string(), cancelled)
            })
        }
        Some(other) => Ok(other.clone()),
        None => {
            let url = &source.spec;
            on_event(JobEvent::FetchingSource {
                what: url,
                how: "the job's network",
            });
            let requirement = SourceSpec::Requirement(url.clone());
            let Some(dest) = settings::url_download_path(&spec.work_dir, url) else {
                let message = format!("{url}: the URL does not name a .tar.gz sdist");
                return Err(early_end(requirement, message, false));
            };
            dest.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    ctx.network
                        .fetch(url, &dest, &FetchOptions::default())
                        .map_err(|e| e.to_string())
                })
                .map(|f| SourceSpec::Sdist(f.path))
                .map_err(|message| {
                    early_end(requirement, message, ctx.cancel.load(Ordering::SeqCst))
                })
        }
    }
}

/// Stage 6: detect the host and plan the build (or read the spec's plan
/// file); the preflight's errors refuse it unless the spec forces it.
pub(crate) fn plan(
    spec: &JobSpec,
    recipe: &str,
    source: &SourceSpec,
    python: &Interpreter,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<BuildSettings, JobError> {
    on_event(JobEvent::Planning);
    let settings = settings::resolve(spec, recipe, source, &python.detect)?;
    check_cxx11_abi(spec.cxx11_abi, &settings.host)?;
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
    Ok(settings)
}

/// The spec's C++ ABI (a matrix cell's) against the build's torch: a torch
/// of the other ABI, or one whose ABI cannot be read, is refused before
/// anything compiles (objects of one ABI never link against the other's
/// torch, and the wheel's label would lie).
fn check_cxx11_abi(
    wanted: Option<bool>,
    host: &wheelwright_base::facts::Facts,
) -> Result<(), JobError> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let torch = host.torch.as_ref();
    let found = torch.and_then(|t| t.cxx11_abi);
    if found == Some(wanted) {
        return Ok(());
    }
    Err(JobError::AbiMismatch {
        wanted,
        torch: torch.map(|t| t.version.clone()),
        found,
    })
}

/// Stage 7: run the build with the plan's settings; the report is the
/// builder's record in what the job knows around it (written as
/// `report.json` after each attempt and at the end).
#[allow(clippy::too_many_arguments)] // the stages' results, each once
pub(crate) fn build(
    spec: &JobSpec,
    recipe: &'static str,
    source: SourceSpec,
    settings: BuildSettings,
    python: &Interpreter,
    prebuilt: Option<PrebuiltRecord>,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<BuildReport, JobError> {
    let mut new_watcher = settings::new_watcher(&settings);
    let (thrash, thrash_note) = ThrashPolicy::with_override(
        python
            .detect
            .var(wheelwright_base::env_vars::WHEELWRIGHT_THRASH_SECONDS),
    );
    if let Some(note) = &thrash_note {
        on_event(JobEvent::Build(BuildEvent::Note(note)));
    }
    let mut req = request(spec, recipe, source, &python.python);
    req.env = settings.env;
    req.allow_prebuilt = spec.prebuilt == PrebuiltPolicy::Allow;
    req.attempts.max_jobs = settings.max_jobs;
    req.attempts.nvcc_threads = settings.nvcc_threads;
    req.attempts.max_retries = spec.max_retries;
    req.attempts.memory_ceiling_bytes = settings.memory_ceiling_bytes;
    req.attempts.kill_grace = spec.kill_grace();
    req.attempts.schedule = settings.schedule;
    req.attempts.sampler.root = python.detect.root.clone();
    req.attempts.thrash = thrash;
    req.preflight = settings.preflight;
    req.pip_args = settings.pip_args;
    req.compile_cache = spec.compile_cache.clone();
    req.supervisor = ctx.supervisor.clone();
    req.log_notes = prebuilt.iter().map(|p| p.note.clone()).collect();
    let torch_minor = settings
        .facts
        .torch
        .as_deref()
        .and_then(builder::finish::torch_minor);
    if spec.torch_pin && torch_minor.is_none() {
        req.log_notes
            .push("no torch version was detected: the wheel is not pinned to a torch".to_string());
    }
    req.finish = builder::finish::WheelFinish {
        torch_pin: torch_minor.filter(|_| spec.torch_pin),
        manylinux: spec.manylinux,
        variants: spec.variants,
        cuda: settings.facts.cuda.clone(),
    };
    let head = ReportHead {
        facts: Some(settings.facts),
        plan: Some(settings.plan),
        prebuilt,
        ..head(spec, recipe)
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
    Ok(BuildReport::assemble(&head, &record))
}

/// Stage 8: publish the report's wheel to `targets` when the job made one
/// (built, or prebuilt) and there are targets, and write the report again
/// into `out_dir`.
pub(crate) fn publish(
    targets: &PublishTargets,
    out_dir: &Path,
    mut report: BuildReport,
    network: &dyn Network,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<BuildReport, JobError> {
    let Some(wheel) = report.wheel.as_ref().map(|w| w.path.clone()) else {
        return Ok(report);
    };
    if report.outcome != Some(Outcome::Ok) || targets.is_empty() {
        return Ok(report);
    }
    on_event(JobEvent::Publishing { wheel: &wheel });
    let mut wheels = vec![wheel];
    wheels.extend(report.variant.as_ref().map(|v| v.wheel.path.clone()));
    publish_built_wheel(&mut report, &wheels, targets, network);
    if let Some(p) = &report.publish {
        on_event(JobEvent::Published(p));
    }
    let path = out_dir.join("report.json");
    report
        .write(&path)
        .map_err(|source| JobError::Records(BuildError::Record { path, source }))?;
    Ok(report)
}

/// Publish the wheel of a successful build and record it in its report:
/// [`BuildReport::publish`], and when a file failed or nothing could be
/// attempted, a `publish-failed` error finding and outcome `failed` (exit 1;
/// the wheel stays in the out dir).
fn publish_built_wheel(
    report: &mut BuildReport,
    wheels: &[PathBuf],
    targets: &PublishTargets,
    network: &dyn Network,
) {
    let failure = match network.publish(wheels, targets) {
        Ok(published) => {
            let failed: Vec<String> = published
                .files
                .iter()
                .filter(|f| f.status == PublishStatus::Failed)
                .map(|f| {
                    format!(
                        "{} ({}): {}",
                        f.file,
                        f.target.as_str(),
                        f.message.as_deref().unwrap_or("failed")
                    )
                })
                .collect();
            report.publish = Some(published);
            (!failed.is_empty()).then(|| failed.join("; "))
        }
        Err(e) => Some(e.to_string()),
    };
    if let Some(message) = failure {
        report.findings.push(Finding::new(
            "publish-failed",
            Severity::Error,
            "The wheel was built but not published everywhere",
            message,
            "Fix what the message says, then publish the wheel the report names with `wheelwright publish --report report.json` and the same targets (files already published are skipped).",
        ));
        report.outcome = Some(Outcome::Failed);
        report.exit_code = Some(Outcome::Failed.exit_code());
    }
}

/// The build request of the job's dirs and interpreter; the build stage adds
/// the plan's settings.
fn request(spec: &JobSpec, recipe: &str, source: SourceSpec, python: &Path) -> BuildRequest {
    let mut req = BuildRequest::new(source, recipe, python.to_path_buf());
    req.work_dir = spec.work_dir.clone();
    req.out_dir = spec.out_dir.clone();
    req.verify = spec.verify;
    req
}

/// What every report of this job carries around the builder's record.
fn head(spec: &JobSpec, recipe: &str) -> ReportHead {
    ReportHead {
        spec: spec.source.clone(),
        recipe: recipe.to_string(),
        job: Some(spec.clone()),
        ..ReportHead::default()
    }
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
fn download_failed(
    spec: &JobSpec,
    source: &Source,
    given: SourceSpec,
    python: &Interpreter,
    prebuilt: Option<&PrebuiltRecord>,
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
    let mut req = request(spec, source.recipe, given, &python.python);
    req.log_notes = prebuilt.iter().map(|p| p.note.clone()).collect();
    let head = ReportHead {
        prebuilt: prebuilt.cloned(),
        ..head(spec, source.recipe)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Offline;

    #[test]
    fn a_build_whose_wheel_cannot_be_published_fails_with_a_finding() {
        let mut report = BuildReport::started("x", "torch-ext", Path::new("/w"));
        report.outcome = Some(Outcome::Ok);
        let targets = PublishTargets {
            wheelhouse: Some(PathBuf::from("house")),
            ..PublishTargets::default()
        };
        let wheel = PathBuf::from("out/x-1.0-py3-none-any.whl");
        publish_built_wheel(&mut report, &[wheel], &targets, &Offline);
        assert_eq!(report.outcome, Some(Outcome::Failed));
        assert_eq!(report.exit_code, Some(1));
        let f = report.findings.last().unwrap();
        assert_eq!(f.id, "publish-failed");
        assert!(f.message.contains("publishing wheels"), "{}", f.message);
        assert!(report.publish.is_none());
    }
}
