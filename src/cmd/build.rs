//! `wheelwright build <spec>`: detect, plan, run the package's build with the
//! plan's environment (retrying after OOM kills), verify the wheel, and leave
//! the wheel, `build.log` and `report.json` in `--out`.
//!
//! This module only wires the library to the terminal: it parses flags, turns
//! the plan into a `BuildRequest`, installs the Ctrl-C/SIGTERM handler that
//! sets the cancel flag, and renders the build's events (the live log, a
//! progress bar on a TTY or periodic lines in CI, the summary).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use wheelwright_core::builder::progress::EtaBasis;
use wheelwright_core::builder::{self, BuildEvent, BuildReport, BuildRequest, Outcome, SourceSpec};
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::sinks::github::{self, SafeEcho};
use wheelwright_core::sinks::redact::redact_secrets;
use wheelwright_core::units::{format_bytes, format_duration};
use wheelwright_core::{env_vars, Finding, Severity};

use crate::exit;

mod plan;
use plan as build_plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecipeArg {
    /// flash-attn (FLASH_ATTN_CUDA_ARCHS, FLASH_ATTENTION_FORCE_BUILD, forward-pass check).
    FlashAttn,
    /// Any torch CUDAExtension (TORCH_CUDA_ARCH_LIST, import check).
    TorchExt,
}

impl RecipeArg {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipeArg::FlashAttn => "flash-attn",
            RecipeArg::TorchExt => "torch-ext",
        }
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// What to build: a PyPI requirement (`flash-attn==2.8.3`), an sdist (`.tar.gz`) or a source tree.
    pub spec: String,
    /// The recipe [default: flash-attn if the spec names flash-attn, else torch-ext].
    #[arg(long, value_enum)]
    pub recipe: Option<RecipeArg>,
    /// The interpreter that builds (it must have torch) [default: the active venv, else `python3`].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Persistent work dir: the extracted sdist and its build/ dir live here across attempts and runs.
    #[arg(long, value_name = "DIR", default_value = ".wheelwright/build")]
    pub work_dir: PathBuf,
    /// Where the wheel, build.log and report.json land.
    #[arg(long, value_name = "DIR", default_value = "wheelhouse")]
    pub out: PathBuf,
    /// CUDA architectures, e.g. `80;90` or `8.0,9.0` [default: the GPUs present].
    #[arg(long, value_name = "LIST")]
    pub archs: Option<String>,
    /// Parallel compile jobs (MAX_JOBS) [default: from the plan's cost model].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_jobs: Option<u32>,
    /// nvcc --threads (NVCC_THREADS) [default: from the plan]; fixed across retries.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub nvcc_threads: Option<u32>,
    /// Retries with fewer jobs after an out-of-memory kill.
    #[arg(long, value_name = "N", default_value_t = builder::DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    /// Let flash-attn download a prebuilt wheel instead of compiling (no FLASH_ATTENTION_FORCE_BUILD).
    #[arg(long)]
    pub allow_prebuilt: bool,
    /// Skip installing and importing the built wheel.
    #[arg(long)]
    pub no_verify: bool,
    /// Use this plan (from `wheelwright plan --json`) instead of planning here.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Scale the plan's times (and the ETA) to this host's compile speed,
    /// measured from an earlier build here: its `report.json`.
    #[arg(long, value_name = "REPORT", conflicts_with = "plan")]
    pub calibrate: Option<PathBuf>,
    /// Run the build even when the plan's preflight checks refuse it (their findings stay in the report).
    #[arg(long)]
    pub force: bool,
    /// Print report.json to stdout at the end (the build log then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Seconds between SIGTERM and SIGKILL when the build is cancelled.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub kill_grace: u64,
}

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let source = SourceSpec::parse(&args.spec).map_err(|e| {
        exit::usage(
            e.to_string(),
            "pass a requirement (`flash-attn==2.8.3`), a .tar.gz sdist or a directory with setup.py",
        )
    })?;
    let recipe = args
        .recipe
        .map(RecipeArg::as_str)
        .unwrap_or_else(|| builder::source::default_recipe(&source));

    // From here on Ctrl-C and a cancelled CI job stop what runs (the download
    // too) and still leave the records.
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("cannot install the signal handler")?;
    }
    // Found now, not after the plan and a download.
    for (dir, flag) in [(&args.out, "--out"), (&args.work_dir, "--work-dir")] {
        writable_dir(dir).map_err(|e| {
            exit::usage(
                format!("{flag} {} cannot be used: {e}", dir.display()),
                format!("give {flag} a directory this user can create and write"),
            )
        })?;
    }

    let mut dopts = DetectOptions::from_process_env();
    dopts.python = args.python.clone();
    dopts.disk_path = args.work_dir.clone();
    let python =
        super::resolve_python(&dopts, "pass the interpreter that has torch with --python")?;
    dopts.python = Some(python.clone());

    // A requirement: fetch its sdist first; the plan reads its units, and the
    // build extracts it once into the work dir.
    let source = match source {
        SourceSpec::Requirement(r) if args.plan.is_none() => {
            eprintln!("wheelwright: downloading the sdist of {r} (pip download --no-binary :all:)");
            match builder::source::download_sdist(
                &python,
                &r,
                &args.work_dir,
                &Default::default(),
                Duration::from_secs(1800),
                &cancel,
            ) {
                Ok(sdist) => SourceSpec::Sdist(sdist),
                Err(e) => {
                    return download_failed(&args, SourceSpec::Requirement(r), recipe, python, e)
                }
            }
        }
        other => other,
    };
    let settings = build_plan::resolve(&args, recipe, &source, &dopts)?;
    let refusals: Vec<&Finding> = settings
        .preflight
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let mut refused = String::new();
    for f in &refusals {
        finding_text(&mut refused, f);
    }
    if !refused.is_empty() {
        super::eprint_text(&refused)?;
    }
    if !refusals.is_empty() && args.force {
        eprintln!("wheelwright: --force: building although the plan refused it");
    } else if !refusals.is_empty() {
        return Err(exit::usage(
            format!("the plan refused this build ({} error(s) above)", refusals.len()),
            "fix what the findings say (or override with --archs/--max-jobs/--nvcc-threads), or pass --force to build anyway",
        ));
    }

    let mut new_watcher = build_plan::new_watcher(&settings);
    let mut req = BuildRequest::new(&args.spec, source, recipe, python);
    req.work_dir = args.work_dir.clone();
    req.out_dir = args.out.clone();
    req.env = settings.env;
    req.allow_prebuilt = args.allow_prebuilt;
    req.attempts.max_jobs = settings.max_jobs;
    req.attempts.nvcc_threads = settings.nvcc_threads;
    req.attempts.max_retries = args.max_retries;
    req.attempts.memory_ceiling_bytes = settings.memory_ceiling_bytes;
    req.attempts.kill_grace = Duration::from_secs(args.kill_grace);
    req.verify = !args.no_verify;
    req.facts = settings.facts;
    req.plan = settings.plan;
    req.attempts.schedule = settings.schedule;
    req.preflight = settings.preflight;
    req.pip_args = settings.pip_args;
    req.attempts.sampler.root = dopts.root.clone();

    let mut console = Console::new(args.json);
    eprintln!(
        "wheelwright: building {} (recipe {recipe}) with MAX_JOBS={} NVCC_THREADS={}; log and report in {}",
        args.spec,
        req.attempts.max_jobs,
        req.attempts.nvcc_threads,
        args.out.display()
    );
    let report = builder::build(&req, &mut new_watcher, &cancel, &mut |e| console.event(e));
    console.finish();
    let report = report.context("the build could not keep its records")?;

    // The summary quotes findings taken from the build's output: fenced on a runner.
    super::eprint_text(&summary(&report))?;
    if super::in_github_actions() {
        github_report(&report, args.json)?;
    }
    if args.json {
        super::print_json(&report)?;
    }
    Ok(ExitCode::from(match report.outcome {
        Some(Outcome::Ok) => exit::OK,
        Some(Outcome::Cancelled) => exit::CANCELLED,
        _ => exit::JOB_FAILED,
    }))
}

/// Create `dir` and prove a file can be written in it.
fn writable_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".wheelwright-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// The requirement's sdist could not be had: leave `build.log` and
/// `report.json` (outcome `failed`, or `cancelled`) like any failed build, then
/// say what to do.
fn download_failed(
    args: &BuildArgs,
    source: SourceSpec,
    recipe: &str,
    python: std::path::PathBuf,
    e: builder::source::SourceError,
) -> anyhow::Result<ExitCode> {
    let (id, severity, outcome, code) = match e {
        builder::source::SourceError::Cancelled => (
            "cancelled",
            Severity::Warning,
            Outcome::Cancelled,
            exit::CANCELLED,
        ),
        _ => (
            "source-unavailable",
            Severity::Error,
            Outcome::Failed,
            exit::JOB_FAILED,
        ),
    };
    let hint = "check that pip reaches its index (PIP_INDEX_URL, pip.conf, --find-links in PIP_FIND_LINKS) and that the build interpreter has setuptools and wheel (`wheelwright setup`), or download the sdist elsewhere and pass its path";
    let finding = Finding::new(
        id,
        severity,
        "The requirement's sdist could not be downloaded",
        e.to_string(),
        hint,
    );
    let mut req = BuildRequest::new(&args.spec, source, recipe, python);
    req.work_dir = args.work_dir.clone();
    req.out_dir = args.out.clone();
    let report = builder::record_early_end(&req, finding, outcome)
        .context("the build could not keep its records")?;
    super::eprint_text(&summary(&report))?;
    if super::in_github_actions() {
        github_report(&report, args.json)?;
    }
    Err(anyhow::Error::new(exit::Hinted {
        message: e.to_string(),
        hint: hint.into(),
        code,
    }))
}

/// What the plan (or `--plan FILE`) decided, in the form the build needs.
#[derive(Debug, Default)]
pub struct BuildSettings {
    pub env: std::collections::BTreeMap<String, String>,
    pub max_jobs: u32,
    pub nvcc_threads: u32,
    pub memory_ceiling_bytes: Option<u64>,
    pub facts: Option<builder::FactsSummary>,
    pub plan: Option<wheelwright_core::plan::Plan>,
    pub preflight: Vec<Finding>,
    /// pip arguments the plan asks for.
    pub pip_args: Vec<String>,
    /// The detected host, for the diagnoser's fixes.
    pub host: Option<wheelwright_core::Facts>,
    /// The plan's units, for the ETA.
    pub schedule: Option<wheelwright_core::plan::ScheduleBasis>,
}

/// Renders build events: the live log (wrapped in `::stop-commands::` on GitHub
/// Actions, so a log line can never run a workflow command), progress, notes.
struct Console {
    log_to_stderr: bool,
    /// On GitHub Actions: the fence around the untrusted build output.
    echo: Option<SafeEcho<Box<dyn Write>>>,
    bar: Option<ProgressBar>,
    last_plain: Option<Instant>,
}

/// How often CI gets a plain progress line.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(30);

impl Console {
    fn new(json: bool) -> Self {
        let gha = std::env::var(env_vars::GITHUB_ACTIONS).is_ok_and(|v| v == "true");
        let tty = std::io::stderr().is_terminal() && !gha && !json;
        let bar = tty.then(|| {
            let pb = ProgressBar::new(0);
            pb.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb
        });
        let echo = if gha {
            let out: Box<dyn Write> = if json {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::stdout())
            };
            SafeEcho::new(out).ok()
        } else {
            None
        };
        Console {
            log_to_stderr: json,
            echo,
            bar,
            last_plain: None,
        }
    }

    /// One line of the build's (untrusted) output.
    fn out(&mut self, line: &str) {
        if let Some(echo) = self.echo.as_mut() {
            let _ = echo.echo(line);
            return;
        }
        // Off a runner too: a token the build echoed is not for the console.
        let line = redact_secrets(line);
        let to_stderr = self.log_to_stderr;
        let print = || {
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        };
        match &self.bar {
            Some(pb) => pb.suspend(print),
            None => print(),
        }
    }

    fn note(&self, text: &str) {
        let line = format!("wheelwright: {text}");
        match &self.bar {
            Some(pb) => pb.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn event(&mut self, e: BuildEvent<'_>) {
        match e {
            BuildEvent::Line(line) => self.out(line),
            BuildEvent::Progress(p) => {
                let eta = p
                    .eta
                    .map(|eta| {
                        let basis = match eta.basis {
                            EtaBasis::Plan => "from the plan",
                            EtaBasis::Linear => "linear",
                        };
                        format!("about {} left ({basis})", format_duration(eta.seconds))
                    })
                    .unwrap_or_else(|| "estimating time left".to_string());
                if let Some(pb) = &self.bar {
                    pb.set_length(u64::from(p.total));
                    pb.set_position(u64::from(p.done));
                    pb.set_message(eta);
                } else if self
                    .last_plain
                    .is_none_or(|t| t.elapsed() >= PLAIN_PROGRESS_EVERY)
                    || p.done == p.total
                {
                    self.last_plain = Some(Instant::now());
                    self.note(&format!(
                        "progress [{}/{}] {:.0}%, {} elapsed, {eta}",
                        p.done,
                        p.total,
                        p.fraction() * 100.0,
                        format_duration(p.elapsed_seconds)
                    ));
                }
            }
            BuildEvent::AttemptStarted {
                number,
                max_jobs,
                nvcc_threads,
                command,
            } => {
                self.note(&format!(
                    "attempt {number}: MAX_JOBS={max_jobs} NVCC_THREADS={nvcc_threads}: {command}"
                ));
            }
            BuildEvent::Cancelling => {
                self.note("cancelled: stopping the build's process tree (SIGTERM, then SIGKILL)")
            }
            BuildEvent::AttemptFinished(a) => self.note(&format!(
                "attempt ended: {} after {}",
                a.outcome.as_str(),
                format_duration(a.seconds)
            )),
            BuildEvent::Retrying { reason, .. } => self.note(reason),
            BuildEvent::Note(text) => self.note(text),
        }
    }

    fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        if let Some(echo) = self.echo.take() {
            let _ = echo.finish();
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.finish();
    }
}

/// On GitHub Actions: annotations for the findings, the step summary, and
/// outputs (`outcome`, `wheel`, `wheel-sha256`, `report`, plus the findings').
fn github_report(r: &BuildReport, json: bool) -> anyhow::Result<()> {
    let opts = github::GithubOptions {
        workspace: std::env::var(env_vars::GITHUB_WORKSPACE).ok(),
        ..Default::default()
    };
    let annotations = github::render_annotations(&r.findings, &opts);
    if json {
        eprint!("{}", annotations.text);
    } else {
        print!("{}", annotations.text);
    }
    let append = |var: &str, text: &str| -> anyhow::Result<()> {
        if let Ok(path) = std::env::var(var) {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {var} ({path})"))?;
            f.write_all(text.as_bytes())
                .with_context(|| format!("cannot write {var} ({path})"))?;
        }
        Ok(())
    };
    append(
        env_vars::GITHUB_STEP_SUMMARY,
        &github::render_step_summary(&r.findings, annotations.omitted),
    )?;
    let mut outputs = github::render_outputs(&r.findings);
    let mut put =
        |name: &str, value: &str| outputs.push_str(&github::multiline_output(name, value));
    put("outcome", r.outcome.map_or("unknown", |o| o.as_str()));
    if let Some(w) = &r.wheel {
        put("wheel", &w.path.display().to_string());
        put("wheel-sha256", &w.sha256);
    }
    if let Some(log) = &r.log {
        put(
            "report",
            &log.with_file_name("report.json").display().to_string(),
        );
    }
    append(env_vars::GITHUB_OUTPUT, &outputs)
}

fn finding_text(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "{}[{}]: {}", f.severity.as_str(), f.id, f.title);
    if !f.message.is_empty() {
        let _ = writeln!(out, "  {}", f.message.replace('\n', "\n  "));
    }
    if let (Some(file), line) = (&f.file, f.line) {
        let _ = match line {
            Some(l) => writeln!(out, "  at {file}:{l}"),
            None => writeln!(out, "  at {file}"),
        };
    }
    if !f.fix.is_empty() {
        let _ = writeln!(out, "  fix: {}", f.fix);
    }
}

/// The build's outcome, attempts, wheel, verification and findings, for people.
fn summary(r: &BuildReport) -> String {
    let mut out = String::new();
    let outcome = r.outcome.map_or("unknown", |o| o.as_str());
    let peak = r
        .peak_memory
        .build_usage_bytes()
        .map(|b| format!("; build peak memory {}", format_bytes(b)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "wheelwright: build {outcome} in {}{peak}",
        format_duration(r.duration_seconds)
    );
    for (i, a) in r.attempts.iter().enumerate() {
        let _ = writeln!(
            out,
            "  attempt {}: MAX_JOBS={} NVCC_THREADS={} {} after {}",
            i + 1,
            a.max_jobs,
            a.nvcc_threads,
            a.outcome.as_str(),
            format_duration(a.seconds)
        );
    }
    if r.time_lost_seconds > 0.0 && r.attempts.len() > 1 {
        let _ = writeln!(
            out,
            "  time lost to failed attempts: {}",
            format_duration(r.time_lost_seconds)
        );
    }
    if let Some(w) = &r.wheel {
        let _ = writeln!(
            out,
            "  wheel:  {} ({}, sha256 {})",
            w.path.display(),
            format_bytes(w.size),
            w.sha256
        );
    }
    if let Some(v) = &r.verify {
        let text = match (&v.error, v.max_abs_error, &v.skipped_reason) {
            (Some(e), _, _) => format!("FAILED: {e}"),
            (None, Some(err), _) => {
                format!("imported; flash_attn_func max abs error {err:.3e} against the reference")
            }
            (None, None, Some(reason)) if v.imported => format!("imported; {reason}"),
            (None, None, Some(reason)) => format!("skipped: {reason}"),
            (None, None, None) => "imported".to_string(),
        };
        let _ = writeln!(out, "  verify: {text}");
    }
    if let Some(log) = &r.log {
        let _ = writeln!(out, "  log:    {}", log.display());
    }
    for f in &r.findings {
        finding_text(&mut out, f);
    }
    out
}
