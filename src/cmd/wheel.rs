//! `wheelwright wheel check`: verify wheels before they leave the machine
//! (identity, RECORD hashes, GPU archs, symbols, glibc and manylinux policy).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use wheelwright_core::sinks::reports::wheel_check_text;
use wheelwright_core::wheel_check::{run_checks, CheckRequest, Purpose, WheelOutcome};

use crate::exit;

/// `wheelwright wheel ...`.
#[derive(Debug, Subcommand)]
pub enum WheelCommand {
    /// Check wheels: name/WHEEL/METADATA agree, RECORD hashes, GPU archs, symbols, glibc, manylinux policy.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  0  every wheel passed (warnings do not fail)
  1  a check failed (an error finding)
  2  bad input: a file is missing or not a wheel, a bad --require-archs,
     an unreadable --report, a --python that cannot be run

The required archs come from --require-archs, else from the plan in --report.
Symbols are resolved against the torch of --python, else of the interpreter
that ran the build in --report; without either, symbols from libraries not
found here are listed as unresolved, not failed. The manylinux policy treats
libc10*, libtorch*, libcu* and libnv* as external; it is reported, not
required.")]
pub struct CheckArgs {
    /// The wheels to check.
    #[arg(value_name = "WHEEL", required = true)]
    pub wheels: Vec<PathBuf>,

    /// Architectures every binary with device code must carry as SASS:
    /// `80;90`, `8.0,9.0a`; `9.0+PTX` or `compute_90` also require PTX.
    #[arg(long, value_name = "LIST")]
    pub require_archs: Option<String>,

    /// The build's report.json: the archs it planned, the interpreter it used.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// The Python whose torch the wheel was built for (symbols resolve against it).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Check for publishing to an index: a METADATA version without the file
    /// name's local label is an error, not a warning.
    #[arg(long)]
    pub for_index: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: WheelCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WheelCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let req = CheckRequest {
        wheels: args.wheels,
        require_archs: args.require_archs,
        report: args.report,
        python: args.python,
        purpose: if args.for_index {
            Purpose::Index
        } else {
            Purpose::Local
        },
    };
    let result = run_checks(&req).map_err(|e| {
        exit::usage(
            e.to_string(),
            "--require-archs takes e.g. `80;90`; --report a wheelwright report.json; \
             --python an interpreter that runs",
        )
    })?;
    if args.json {
        super::print_json(&result)?;
    } else {
        super::print_text(&wheel_check_text(&result))?;
    }
    let code = result.exit_code();
    for w in &result.wheels {
        if let WheelOutcome::BadInput { path, error, hint } = w {
            super::eprint_text(&format!(
                "error: {}: {error}\nhint: {hint}\n",
                path.display()
            ))?;
        }
    }
    Ok(ExitCode::from(code))
}
