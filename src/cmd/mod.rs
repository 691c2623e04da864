//! Subcommands: one module each, wiring the library to the terminal.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use wheelwright_core::builder::absolute_program;
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::env_vars;
use wheelwright_core::sinks::github::write_untrusted;
use wheelwright_core::sinks::secrets;

pub mod build;
pub mod detect;
pub mod diagnose;
pub mod doctor;
pub mod fleet;
pub mod host;
pub mod matrix;
pub mod plan;
pub mod publish;
pub mod repro;
pub mod runner;
pub mod setup;
pub mod supervise;
pub mod wheel;
pub mod workdir;

/// (The limits are `i64`, the type of clap's ranges.)
/// The most parallel compile jobs a flag accepts (MAX_JOBS; 0 would mean
/// "unlimited" to ninja, the opposite of what a limit is for).
pub const MAX_JOBS_LIMIT: i64 = 4096;
/// The most nvcc threads per compile a flag accepts.
pub const NVCC_THREADS_LIMIT: i64 = 256;
/// The most CPUs a hypothetical host may have.
pub const CPUS_LIMIT: i64 = 65_536;
/// The most retries after OOM kills.
pub const MAX_RETRIES_LIMIT: i64 = 100;
/// The longest grace between SIGTERM and SIGKILL, in seconds (one day).
pub const KILL_GRACE_LIMIT: i64 = 86_400;

/// `--cpu-quota`: a finite number of cores above 0 and at most [`CPUS_LIMIT`].
pub fn cpu_quota(text: &str) -> Result<f64, String> {
    let cores: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of cores"))?;
    if !cores.is_finite() || cores <= 0.0 || cores > CPUS_LIMIT as f64 {
        return Err(format!("{cores} is not in 0 < cores <= {CPUS_LIMIT}"));
    }
    Ok(cores)
}

/// `--cxx11-abi`: `true` or `false`, any case (flash-attn's labels say `TRUE`).
pub fn cxx11_abi(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "`{}` is not a C++ ABI: true (the new ABI, torch >= 2.7 on PyPI) or false",
            text.escape_debug()
        )),
    }
}

/// Build CUDA wheels of PyTorch extensions (flash-attn first), boringly and fast.
#[derive(Debug, Parser)]
#[command(name = "wheelwright", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect the facts of this host: CPUs, memory, GPUs, CUDA, compilers, Python, torch, ninja.
    Detect(detect::DetectArgs),
    /// Prepare a Python environment for builds: pip, setuptools, wheel, packaging, psutil and a proven ninja.
    Setup(setup::SetupArgs),
    /// Build a wheel: run the package's own build with the plan, retry after OOM kills, verify, report.
    Build(build::BuildArgs),
    /// Diagnose a build log (file, .gz or `-`): known failures with concrete fixes; exit 1 on an error finding.
    Diagnose(diagnose::DiagnoseArgs),
    /// Plan a build: CUDA archs, MAX_JOBS and NVCC_THREADS from a measured cost model, preflight checks with fixes.
    Plan(Box<plan::PlanArgs>),
    /// Detect this host, plan the build and report every finding with its fix (always exits 0).
    Doctor(doctor::DoctorArgs),
    /// Publish wheels to a wheelhouse, a per-variant PEP 503 index, a GitHub release or a PyPI-style index, each once.
    Publish(publish::PublishArgs),
    /// Check and fix what a self-hosted GPU runner needs (`runner check`), and name it (`runner labels`).
    Runner(runner::RunnerArgs),
    /// Replay a build from its report.json: compare hosts, rebuild the same way (or print a script, or re-diagnose).
    Repro(repro::ReproArgs),
    /// The persistent work dir for a build on this host, keyed by source and variant; evicts old ones.
    Workdir(workdir::WorkdirArgs),
    /// One summary across a matrix run's cells (built, reused, failed, published) and the
    /// matrix of the failed cells, from what each cell's job recorded.
    MatrixSummary(matrix::MatrixSummaryArgs),
    /// Work with built wheels: `wheel check` verifies one before it is published.
    #[command(subcommand)]
    Wheel(wheel::WheelCommand),
}

/// What a user may fix of a build's schedule, on `build`, `plan` and `doctor`
/// (whatever is left out comes from the plan).
#[derive(Debug, Clone, Default, Args)]
pub struct ScheduleArgs {
    /// CUDA archs to build: `80;90`, `8.0,9.0`, `sm_80` [default: the GPUs
    /// present, else the recipe's default].
    #[arg(long, value_name = "LIST")]
    pub archs: Option<String>,
    /// Parallel compile jobs (MAX_JOBS) [default: from the plan's cost model].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_JOBS_LIMIT))]
    pub max_jobs: Option<u32>,
    /// nvcc --threads (NVCC_THREADS) [default: from the plan]; a build keeps
    /// it across retries.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=NVCC_THREADS_LIMIT))]
    pub nvcc_threads: Option<u32>,
}

/// `--mask-env NAME`, on the commands that print or store a build's output.
#[derive(Debug, Clone, Default, Args)]
pub struct MaskArgs {
    /// Mask the value of the environment variable NAME wherever output is
    /// printed or stored (repeatable; WHEELWRIGHT_MASK_ENV takes a comma or
    /// space separated list too). Tokens such as GITHUB_TOKEN, GH_TOKEN,
    /// TWINE_PASSWORD and index URL passwords are masked anyway.
    #[arg(long = "mask-env", value_name = "NAME", value_parser = env_name)]
    pub mask_env: Vec<String>,
}

/// A `--mask-env` name: a plain environment variable name.
fn env_name(name: &str) -> Result<String, String> {
    match env_vars::is_plain_name(name) {
        true => Ok(name.to_string()),
        false => Err(format!(
            "`{}` is not an environment variable name (letters, digits and `_`, not starting with a digit)",
            name.escape_debug()
        )),
    }
}

/// The names the command asks to mask besides the built-in ones: its
/// `--mask-env` names, and the variable `publish --token-env` reads.
fn mask_names(command: &Command) -> Vec<String> {
    match command {
        Command::Build(a) => a.mask.mask_env.clone(),
        Command::Diagnose(a) => a.mask.mask_env.clone(),
        Command::Repro(a) => a.mask.mask_env.clone(),
        Command::Publish(a) => a
            .mask
            .mask_env
            .iter()
            .cloned()
            .chain(a.token_env.clone())
            .collect(),
        _ => Vec::new(),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Before anything prints; the variables that cannot be masked, by name.
    for w in secrets::install_from_process_env(&mask_names(&cli.command)) {
        eprintln!("wheelwright: warning: {w}");
    }
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Build(args) => build::run(args),
        Command::Diagnose(args) => diagnose::run(args),
        Command::Plan(args) => plan::run(*args),
        Command::Doctor(args) => doctor::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Runner(args) => runner::run(args),
        Command::Repro(args) => repro::run(args),
        Command::Workdir(args) => workdir::run(args),
        Command::Wheel(cmd) => wheel::run(cmd),
        Command::MatrixSummary(args) => matrix::summary(args),
    }
}

/// The interpreter to work with ([`wheelwright_core::detect::resolve_python`]), made absolute
/// since the probe and the build run in other directories; a usage error with
/// `hint` when there is none.
pub fn resolve_python(dopts: &DetectOptions, hint: &str) -> anyhow::Result<PathBuf> {
    let python = wheelwright_core::detect::resolve_python(dopts).ok_or_else(|| {
        crate::exit::usage(
            "no Python interpreter found (no --python, no active venv, no python3 on PATH)",
            hint,
        )
    })?;
    Ok(absolute_program(python))
}

/// A flag that Ctrl-C, SIGTERM (a cancelled CI job) and SIGHUP set: the job
/// then stops what runs (the download too) and still leaves its records.
pub fn cancel_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("cannot install the signal handler")?;
    }
    // A file-size limit (`ulimit -f`) reached while writing build.log or the
    // wheel: without a handler SIGXFSZ kills us and the report is lost; with
    // one the write fails with EFBIG, which the build reports like a full disk.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .context("cannot install the signal handler")?;
    Ok(cancel)
}

/// Whether this runs on a GitHub Actions runner (`GITHUB_ACTIONS=true`).
pub fn in_github_actions() -> bool {
    wheelwright_core::sinks::github::ActionsEnv::from_process_env().active
}

/// Print `text` for people. It may quote a tool's or a build's output, so on
/// a GitHub Actions runner it goes out with workflow commands stopped.
pub fn print_text(text: &str) -> anyhow::Result<()> {
    write_stdout(text, in_github_actions())
}

/// Print `value` as pretty JSON, with the `##[` that log or tool text may
/// hold escaped so no line of it acts as a workflow command on a runner.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(value).context("could not write the JSON")?;
    write_json_stdout(&json)
}

/// Print JSON text (secrets masked in its strings, `##[` escaped), with a
/// newline after it.
pub fn write_json_stdout(json: &str) -> anyhow::Result<()> {
    let json = wheelwright_core::sinks::json::printable(json);
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())
        .and_then(|()| out.flush())
        .context("could not write to standard output")
}

/// Write `output` to stdout, secrets masked; `fenced`, between
/// `::stop-commands::` and its end ([`write_untrusted`]), so no line of it can act
/// as a workflow command.
pub fn write_stdout(output: &str, fenced: bool) -> anyhow::Result<()> {
    write_untrusted(&mut std::io::stdout().lock(), output, fenced)
        .context("could not write to standard output")
}

/// [`print_text`] for standard error: the runner reads workflow commands
/// from both streams.
pub fn eprint_text(text: &str) -> anyhow::Result<()> {
    write_untrusted(&mut std::io::stderr().lock(), text, in_github_actions())
        .context("could not write to standard error")
}
