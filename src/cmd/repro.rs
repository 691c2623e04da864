//! `wheelwright repro REPORT`: compare this host with the one a report was
//! built on, then rebuild with the same spec, archs and environment
//! (`--replan`: jobs and threads planned for this host); or only print a
//! shell script that does it without wheelwright, or re-diagnose the saved log.
//! The work is [`wheelwright_core::job::repro`]'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use wheelwright_core::detect::DetectOptions;
use wheelwright_core::job::net;
use wheelwright_core::job::repro::{self, ReproError};
use wheelwright_core::sinks::text;

use crate::exit;

#[derive(Debug, Args)]
pub struct ReproArgs {
    /// The build's report.json: a path or an http(s) URL.
    #[arg(value_name = "REPORT")]
    pub report: String,
    /// Plan MAX_JOBS and NVCC_THREADS for this host instead of the report's.
    #[arg(long, conflicts_with_all = ["diagnose", "print_script"])]
    pub replan: bool,
    /// Only diagnose the report's saved build log again.
    #[arg(long, conflicts_with = "print_script")]
    pub diagnose: bool,
    /// Only print a shell script (environment + the exact pip command) that
    /// reproduces the build without wheelwright.
    #[arg(long)]
    pub print_script: bool,
    /// The interpreter that builds [default: this host's: the active venv or
    /// python3; with --trust-report the report's, if it exists here].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Take everything the report asks for: every variable and pip argument
    /// of its plan, its interpreter, its sccache and its `force`. Without it
    /// only the variables wheelwright itself sets (with values it would
    /// set) are taken, and the rest is shown as left out.
    #[arg(long, conflicts_with_all = ["diagnose", "print_script"])]
    pub trust_report: bool,
    /// Work dir of the rebuild [default: the report's].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Where the rebuild's wheel, build.log and report.json land [default: the report's].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the rebuild's report.json to stdout at the end.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub mask: super::MaskArgs,
}

fn repro_error(e: ReproError) -> anyhow::Error {
    let hint = e.hint();
    exit::hinted(e, hint, exit::USAGE)
}

pub fn run(args: ReproArgs) -> anyhow::Result<ExitCode> {
    let network = wheelwright_publish::HttpNetwork::from_env();
    let report = repro::load_report(&args.report, &network).map_err(repro_error)?;
    if args.print_script {
        super::write_stdout(&repro::shell_script(&report).map_err(repro_error)?, false)?;
        return Ok(ExitCode::from(exit::OK));
    }
    if args.diagnose {
        // A URL has no file beside it.
        let beside = (!net::is_http_url(&args.report)).then(|| Path::new(&args.report));
        let log = repro::saved_log(&report, beside).ok_or_else(|| {
            exit::usage(
                "the report's build.log is not here",
                "copy build.log next to report.json",
            )
        })?;
        eprintln!("wheelwright: diagnosing {}", log.display());
        let findings = repro::diagnose_saved_log(&report, &log)
            .with_context(|| format!("cannot read {}", log.display()))?;
        super::print_text(&text::render(&findings, false))?;
        let failed = findings.iter().any(|f| f.is_error());
        return Ok(exit::job(failed));
    }

    let rebuild = repro::Rebuild {
        replan: args.replan,
        python: args.python,
        work_dir: args.work_dir,
        out_dir: args.out,
        trust_report: args.trust_report,
        host: repro::HostTools::from_process_env(),
    };
    let prepared = repro::prepare_rebuild(&report, &rebuild)?;
    // What comes from the report is said before anything runs.
    super::eprint_text(&repro::render_from_report(
        &prepared.from_report,
        args.trust_report,
    ))?;
    let spec = prepared.spec;
    match repro::host_comparison(&report, &spec, DetectOptions::from_process_env()) {
        Some(text) => super::eprint_text(&text)?,
        None => eprintln!("wheelwright: the report has no host facts to compare"),
    }
    super::build::run_job(&spec, args.json)
}
