//! `wheelwright setup`: prepare a Python environment for builds (pip,
//! setuptools, wheel, packaging, psutil, a proven ninja) and say what changed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use wheelwright_core::detect::DetectOptions;
use wheelwright_core::setup::{self, SetupError, SetupOptions};
use wheelwright_core::sinks::reports::setup_text;

use crate::exit;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The interpreter to prepare [default: the active venv, else `python3` on PATH].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Allow modifying an interpreter that is not in a venv (a system or pyenv Python).
    #[arg(long)]
    pub allow_system: bool,
    /// Print what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// A directory or URL of wheels for pip (air-gapped runners); repeatable.
    #[arg(long, value_name = "DIR|URL")]
    pub find_links: Vec<String>,
    /// Do not use any package index (only --find-links).
    #[arg(long)]
    pub no_index: bool,
}

pub fn run(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let mut dopts = DetectOptions::from_process_env();
    dopts.python = args.python.clone();
    let python = super::resolve_python(
        &dopts,
        "create one with `python3 -m venv --system-site-packages .venv` and pass --python .venv/bin/python",
    )?;
    let mut opts = SetupOptions::new(python, dopts.path.clone());
    opts.allow_system = args.allow_system;
    opts.dry_run = args.dry_run;
    opts.find_links = args.find_links.clone();
    opts.no_index = args.no_index;

    let report = setup::setup(&opts).map_err(|e: SetupError| {
        let hint = e.hint();
        exit::usage(e.to_string(), hint)
    })?;
    if args.json {
        super::print_json(&report)?;
    } else {
        super::print_text(&setup_text(&report))?;
        if !report.ok {
            eprintln!("hint: fix the failed step above (its command is shown), then run `wheelwright setup` again");
        }
    }
    Ok(exit::job(!report.ok))
}
