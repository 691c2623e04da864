//! `wheelwright workdir --root DIR -- SPEC`: the persistent work dir for
//! building SPEC on this host, keyed by the source's sha256 and the variant
//! (torch, CUDA, Python, C++ ABI, archs, compiler, scope), created under
//! DIR; old work dirs there are evicted by age and total size. A
//! requirement's sdist is downloaded first (its sha256 is part of the key)
//! and its path printed with the work dir, so `build` takes the same file.
//!
//! `build` (the Job) holds the work dir's lock while it runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use wheelwright_core::builder::source::{self, SourceSpec};
use wheelwright_core::detect::{self, DetectOptions};
use wheelwright_core::env_vars;
use wheelwright_core::facts::Facts;
use wheelwright_core::plan::archs::{parse_arch_list, Arch};
use wheelwright_core::sinks::github;
use wheelwright_core::units::{format_bytes, parse_size};
use wheelwright_core::workdir::{
    file_sha256, EvictionPolicy, EvictionReason, Variant, WorkDirError, WorkDirLock, WorkDirs,
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

/// What `workdir` found and did.
#[derive(Debug, Serialize)]
struct WorkdirResult {
    work_dir: PathBuf,
    /// What `build` should take as its spec: the downloaded sdist, or the spec.
    source: String,
    variant_key: String,
    variant: Variant,
    evicted: Vec<Evicted>,
}

#[derive(Debug, Serialize)]
struct Evicted {
    path: PathBuf,
    bytes: u64,
    reason: EvictionReason,
}

fn usage(e: WorkDirError) -> anyhow::Error {
    let hint = e.hint();
    let code = match e {
        WorkDirError::Io { .. } => exit::INTERNAL,
        _ => exit::USAGE,
    };
    exit::hinted(e, hint, code)
}

pub fn run(args: WorkdirArgs) -> anyhow::Result<ExitCode> {
    let max_total = parse_size(&args.max_total)
        .map_err(|e| exit::usage(e.to_string(), "e.g. --max-total 200GiB"))?;
    let spec = SourceSpec::parse(&args.spec).map_err(|e| {
        exit::usage(
            e.to_string(),
            "pass a requirement (`flash-attn==2.8.3`), a .tar.gz sdist or a directory with setup.py",
        )
    })?;
    let mut dopts = DetectOptions::from_process_env();
    dopts.python = args.python.clone();
    dopts.disk_path = args.root.clone();
    // The interpreter is needed to detect its torch and to download an sdist.
    let needs_python = args.facts.is_none() || matches!(spec, SourceSpec::Requirement(_));
    if needs_python {
        let python =
            super::resolve_python(&dopts, "pass the interpreter that has torch with --python")?;
        dopts.python = Some(python);
    }

    let (source, source_sha256) = match spec {
        SourceSpec::Requirement(r) => {
            let python = dopts.python.clone().expect("resolved above");
            let sdist = download(&args.root, &python, &r)?;
            let sha = file_sha256(&sdist).map_err(usage)?;
            (sdist.display().to_string(), sha)
        }
        SourceSpec::Sdist(p) => (args.spec.clone(), file_sha256(&p).map_err(usage)?),
        // A tree changes in place, as in any incremental build: its path is its identity.
        SourceSpec::Tree(p) => {
            let abs = std::fs::canonicalize(&p)
                .with_context(|| format!("cannot resolve {}", p.display()))?;
            let sha = wheelwright_core::workdir::text_sha256(&abs.display().to_string());
            (args.spec.clone(), sha)
        }
    };

    let facts = match &args.facts {
        Some(path) => read_facts(path)?,
        None => detect::detect(&dopts),
    };
    let archs: Vec<Arch> = match &args.archs {
        Some(list) => parse_arch_list(list)
            .map_err(|e| exit::usage(e.to_string(), "write archs as `80;90` or `8.0,9.0`"))?,
        None => facts
            .gpus
            .iter()
            .filter_map(|g| Arch::from_compute_capability(&g.compute_capability))
            .collect(),
    };
    if archs.is_empty() {
        return Err(exit::usage(
            "no CUDA archs: no GPU was detected and no --archs given",
            "pass --archs (the same as the build's), e.g. --archs '80;90'",
        ));
    }
    let archs: Vec<String> = archs.iter().map(Arch::compact).collect();
    let variant =
        Variant::from_facts(&facts, &archs, &source_sha256, &args.scope).map_err(usage)?;
    let dirs = WorkDirs::new(&args.root);
    let work_dir = dirs.prepare(&variant).map_err(usage)?;
    let policy = EvictionPolicy {
        max_age: Duration::from_secs(args.max_age_days.saturating_mul(86_400)),
        max_total_bytes: max_total,
    };
    let evicted = dirs
        .evict(&policy, SystemTime::now(), Some(&work_dir))
        .map_err(usage)?
        .into_iter()
        .map(|(e, reason)| Evicted {
            path: e.path,
            bytes: e.bytes,
            reason,
        })
        .collect();
    let result = WorkdirResult {
        variant_key: variant.key().map_err(usage)?,
        work_dir,
        source,
        variant,
        evicted,
    };
    if args.github_output {
        write_github_output(&result)?;
    }
    if args.json {
        super::print_json(&result)?;
    } else {
        let mut text = String::new();
        for e in &result.evicted {
            let why = match e.reason {
                EvictionReason::Age => format!("unused for over {} days", args.max_age_days),
                EvictionReason::Size => {
                    format!("the work dirs took over {}", format_bytes(max_total))
                }
            };
            text.push_str(&format!(
                "wheelwright: removed {} ({}, {why})\n",
                e.path.display(),
                format_bytes(e.bytes)
            ));
        }
        super::eprint_text(&text)?;
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

/// Download the sdist of `requirement` under `root/sdists/`, one folder per
/// requirement, locked so two builds on this host do not write it at once.
fn download(root: &Path, python: &Path, requirement: &str) -> anyhow::Result<PathBuf> {
    let key = wheelwright_core::workdir::text_sha256(requirement);
    let dir = root.join("sdists").join(&key[..24]);
    let _lock = WorkDirLock::acquire(&dir, Duration::from_secs(1800)).map_err(usage)?;
    super::eprint_text(&format!(
        "wheelwright: downloading the sdist of {requirement} (pip download --no-binary :all:)\n"
    ))?;
    source::download_sdist(
        python,
        requirement,
        &dir,
        &Default::default(),
        Duration::from_secs(1800),
        &AtomicBool::new(false),
        None,
    )
    .map_err(|e| {
        exit::usage(
            format!("cannot download the sdist of {requirement}: {e}"),
            "check the requirement and the runner's access to the index (pip's configuration applies)",
        )
    })
}

fn write_github_output(r: &WorkdirResult) -> anyhow::Result<()> {
    let path = std::env::var_os(env_vars::GITHUB_OUTPUT).ok_or_else(|| {
        exit::usage(
            "--github-output: GITHUB_OUTPUT is not set",
            "run it in a GitHub Actions step, or drop --github-output",
        )
    })?;
    let mut text = String::new();
    text.push_str(&github::multiline_output(
        "work-dir",
        &r.work_dir.display().to_string(),
    ));
    text.push_str(&github::multiline_output("source", &r.source));
    text.push_str(&github::multiline_output("variant-key", &r.variant_key));
    github::env_files::append(std::path::Path::new(&path), &text).map_err(|e| {
        exit::hinted(
            e,
            "check that the runner's GITHUB_OUTPUT file can be written",
            exit::INTERNAL,
        )
    })
}
