//! `wheelwright detect`: print the host's `Facts` as a table or JSON.
//!
//! Problems found by probes are part of the facts, so the exit status is 0
//! whenever detection ran; only bad arguments fail (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use wheelwright_core::detect::{detect, DetectOptions};
use wheelwright_core::sinks::tables::facts_table;

use crate::exit;

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Print the Facts as JSON (the contract other tools read).
    #[arg(long)]
    pub json: bool,
    /// Python interpreter to probe (default: WHEELWRIGHT_PYTHON, then
    /// $VIRTUAL_ENV/bin/python, then python3 on PATH).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Read /proc, /sys/fs/cgroup and /usr/local/cuda under this directory
    /// (default: WHEELWRIGHT_ROOT, else /).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Skip the Python and torch probe.
    #[arg(long)]
    pub no_python: bool,
    /// Skip NVML and ask nvidia-smi for the GPUs (also WHEELWRIGHT_NVML=off).
    #[arg(long)]
    pub no_nvml: bool,
    /// Report the free space of this directory (default: the current one).
    #[arg(long, value_name = "DIR")]
    pub disk_path: Option<PathBuf>,
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let mut opts = DetectOptions::from_process_env();
    if let Some(root) = args.root {
        opts.root = existing_dir(
            "--root",
            root,
            "give the directory that holds the proc/ and sys/ to read, or leave --root out",
        )?;
    }
    if let Some(disk) = args.disk_path {
        opts.disk_path = existing_dir(
            "--disk-path",
            disk,
            "give the directory the build will run in (it must exist)",
        )?;
    }
    opts.python = args.python.or(opts.python);
    opts.skip_python |= args.no_python;
    opts.nvml &= !args.no_nvml;

    let facts = detect(&opts);
    if args.json {
        super::print_json(&facts)?;
    } else {
        super::print_text(&facts_table(&facts))?;
    }
    Ok(ExitCode::from(exit::OK))
}

/// `dir` as given for `flag`, or a usage error with `hint` when it is not a directory.
fn existing_dir(flag: &str, dir: PathBuf, hint: &str) -> anyhow::Result<PathBuf> {
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(exit::usage(
            format!("{flag} {} is not a directory", dir.display()),
            hint,
        ))
    }
}
