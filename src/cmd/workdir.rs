//! `wheelwright workdir --root DIR -- SPEC`: the persistent work dir for
//! building SPEC on this host, keyed by the source's sha256 and the variant
//! (torch, CUDA, Python, C++ ABI, archs, compiler, scope), created under
//! DIR; old work dirs there are evicted by age and total size. A
//! requirement's sdist is downloaded first (its sha256 is part of the key)
//! and its path printed with the work dir, so `build` takes the same file.
//! The work is [`workdir::select`]'s.
//!
//! `build` (the Job) holds the work dir's lock while it runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::env_vars;
use wheelwright_core::facts::Facts;
use wheelwright_core::sinks::github;
use wheelwright_core::units::parse_size;
use wheelwright_core::workdir::{
    self, EvictionPolicy, SelectError, SelectRequest, Selection, WorkDirError,
};

use crate::exit;

#[derive(Debug, Args)]
pub struct WorkdirArgs {
    /// What will be built, as `build` takes it: a requirement (its sdist is downloaded under DIR), an sdist or a source tree.
    pub spec: String,
    /// The folder that holds the work dirs (on a runner: under $RUNNER_TOOL_CACHE).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Builds of different trust never share objects: e.g. `release`, `pull-request`.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub scope: String,
    /// The interpreter that builds (its torch and Python are part of the key) [default: the active venv, else `python3`].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// CUDA architectures the build compiles, as `build --archs` [default: the GPUs present].
    #[arg(long, value_name = "LIST")]
    pub archs: Option<String>,
    /// Key by these facts (`wheelwright detect --json` from this host) instead of detecting now.
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Remove work dirs under DIR not used for this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    pub max_age_days: u64,
    /// Then remove the least recently used until all of them take at most this.
    #[arg(long, value_name = "SIZE", default_value = "200GiB")]
    pub max_total: String,
    /// Write `work-dir`, `source` and `variant-key` to $GITHUB_OUTPUT.
    #[arg(long)]
    pub github_output: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn select_error(e: SelectError) -> anyhow::Error {
    let hint = e.hint();
    match e {
        SelectError::WorkDir(WorkDirError::Io { .. }) | SelectError::Resolve { .. } => {
            exit::hinted(e, hint, exit::INTERNAL)
        }
        SelectError::WorkDir(_) => exit::hinted(e, hint, exit::USAGE),
        _ => exit::usage(e.to_string(), hint),
    }
}

pub fn run(args: WorkdirArgs) -> anyhow::Result<ExitCode> {
    let max_total = parse_size(&args.max_total)
        .map_err(|e| exit::usage(e.to_string(), "e.g. --max-total 200GiB"))?;
    let req = SelectRequest {
        spec: args.spec.clone(),
        root: args.root.clone(),
        scope: args.scope.clone(),
        python: args.python.clone(),
        archs: args.archs.clone(),
        facts: args.facts.as_deref().map(read_facts).transpose()?,
        policy: EvictionPolicy {
            max_age: Duration::from_secs(args.max_age_days.saturating_mul(86_400)),
            max_total_bytes: max_total,
        },
    };
    let mut note = |text: &str| drop(super::eprint_text(text));
    let detect = DetectOptions::from_process_env();
    let result = workdir::select(&req, detect, &mut note).map_err(select_error)?;
    if args.github_output {
        write_github_output(&result)?;
    }
    if args.json {
        super::print_json(&result)?;
    } else {
        super::eprint_text(&result.evicted_text(args.max_age_days, max_total))?;
        super::print_text(&format!("{}\n", result.work_dir.display()))?;
    }
    Ok(ExitCode::from(exit::OK))
}

fn read_facts(path: &Path) -> anyhow::Result<Facts> {
    let hint = "write it with `wheelwright detect --json > facts.json` on the build host";
    let text = std::fs::read_to_string(path)
        .map_err(|e| exit::usage(format!("cannot read {}: {e}", path.display()), hint))?;
    serde_json::from_str(&text)
        .map_err(|e| exit::usage(format!("{} is not a facts file: {e}", path.display()), hint))
}

fn write_github_output(r: &Selection) -> anyhow::Result<()> {
    let path = std::env::var_os(env_vars::GITHUB_OUTPUT).ok_or_else(|| {
        exit::usage(
            "--github-output: GITHUB_OUTPUT is not set",
            "run it in a GitHub Actions step, or drop --github-output",
        )
    })?;
    github::env_files::append(Path::new(&path), &r.github_outputs()).map_err(|e| {
        exit::hinted(
            e,
            "check that the runner's GITHUB_OUTPUT file can be written",
            exit::INTERNAL,
        )
    })
}
