//! `wheelwright runner`: prepare and name a self-hosted GPU runner.
//!
//! `runner check` checks what a runner needs (driver, the CUDA toolkit that
//! matches torch, a host GCC nvcc accepts, a venv with the requested torch,
//! build tools, disk, swap, open files); with `--fix` it fixes what needs no
//! root and prints the rest as commands. `runner labels` prints the labels for
//! `config.sh --labels`. The work is `wheelwright_core::runner_setup`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use wheelwright_core::detect::{detect, DetectOptions};
use wheelwright_core::env_vars;
use wheelwright_core::plan::archs::CudaVersion;
use wheelwright_core::runner_setup::{self, labels, toolkits, RunnerOptions, TorchRequest};
use wheelwright_core::sinks::reports::runner_check_text;
use wheelwright_core::units::parse_size;

use crate::exit;

/// `runner check` and `runner labels`.
#[derive(Debug, Args)]
pub struct RunnerArgs {
    #[command(subcommand)]
    pub command: RunnerCommand,
}

/// What to do with the runner.
#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// Check what a GPU runner needs; with --fix, fix what needs no root (idempotent) and print the rest.
    Check(CheckArgs),
    /// Print this runner's labels (GPU model, sm, CUDA toolkits, CPUs, memory) for `config.sh --labels`.
    Labels(LabelsArgs),
}

/// Options of `runner check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only check; change nothing (the default).
    #[arg(long, conflicts_with = "fix")]
    pub check_only: bool,
    /// Fix what needs no root: create the venv, install torch and the build tools, export the toolkit for later steps.
    #[arg(long)]
    pub fix: bool,
    /// The venv to check (or create with --fix), e.g. /opt/torch/.venv.
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// The interpreter that creates the venv [default: python3 on PATH].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// The torch release the venv should have (`2.8`).
    #[arg(long, value_name = "X.Y")]
    pub torch: Option<String>,
    /// The CUDA of that torch (`12.8` → PyTorch's cu128 index) [default: the newest PyTorch publishes].
    #[arg(long, value_name = "X.Y")]
    pub cuda: Option<String>,
    /// Install torch from this index instead of PyTorch's (a mirror).
    #[arg(long, value_name = "URL")]
    pub torch_index_url: Option<String>,
    /// The work dir whose disk needs room [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Free space the work dir needs.
    #[arg(long, value_name = "SIZE", default_value = "30GiB")]
    pub min_disk: String,
    /// A directory or URL of wheels for pip's build-tools step; repeatable.
    #[arg(long, value_name = "DIR|URL")]
    pub find_links: Vec<String>,
    /// No package index for the build-tools step (only --find-links).
    #[arg(long)]
    pub no_index: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `runner labels`.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// Print the labels as a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Run `runner check` or `runner labels`.
pub fn run(args: RunnerArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RunnerCommand::Check(a) => check(a),
        RunnerCommand::Labels(a) => labels(a),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut dopts = DetectOptions::from_process_env();
    if let Some(w) = &args.work_dir {
        dopts.disk_path = w.clone();
    }
    let mut opts = RunnerOptions::new(dopts);
    opts.fix = args.fix;
    opts.venv = args.venv.clone();
    opts.base_python = args.python.clone();
    opts.find_links = args.find_links.clone();
    opts.no_index = args.no_index;
    opts.min_disk_bytes = parse_size(&args.min_disk)
        .map_err(|e| exit::usage(format!("--min-disk: {e}"), "write e.g. 30GiB"))?;
    if let Some(t) = &args.torch {
        opts.torch = Some(
            TorchRequest::resolve(t, args.cuda.as_deref(), args.torch_index_url.as_deref()).map_err(|e| {
                exit::usage(e.to_string(), "pick a torch and CUDA from the support table (`wheelwright plan --matrix` lists them), or name a mirror with --torch-index-url")
            })?,
        );
    } else if let Some(c) = &args.cuda {
        opts.cuda = Some(CudaVersion::parse(c).ok_or_else(|| {
            exit::usage(format!("--cuda `{c}` is not a version"), "write e.g. 12.8")
        })?);
    }
    if opts.torch.is_some() && opts.venv.is_none() {
        return Err(exit::usage(
            "--torch needs --venv",
            "name the venv to install torch into: --venv DIR",
        ));
    }
    opts.github_env = std::env::var_os(env_vars::GITHUB_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    opts.github_path = std::env::var_os(env_vars::GITHUB_PATH)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);

    let report = runner_setup::check_runner(&opts);
    if args.json {
        super::print_json(&report)?;
    } else {
        super::print_text(&runner_check_text(&report))?;
        if !report.ok {
            eprintln!("hint: fix the FAILED checks above (the commands under each say how; `sudo` ones need an administrator), then run `wheelwright runner check` again");
        }
    }
    Ok(exit::job(!report.ok))
}

fn labels(args: LabelsArgs) -> anyhow::Result<ExitCode> {
    let mut dopts = DetectOptions::from_process_env();
    dopts.skip_python = true;
    let facts = detect(&dopts);
    let toolkits = toolkits::installed_toolkits(&dopts, &facts);
    let labels = labels::runner_labels(&facts, &toolkits);
    if args.json {
        super::print_json(&labels)?;
    } else {
        super::print_text(&format!("{}\n", labels.join(",")))?;
    }
    Ok(ExitCode::from(exit::OK))
}
