//! `wheelwright wheel check`: verify wheels before they leave the machine
//! (identity, RECORD hashes, GPU archs, symbols, glibc and manylinux policy);
//! `wheelwright wheel verify`: the same on a GPU runner, plus the wheel's
//! device code against the GPUs there and, asked, its modules imported.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::job::wheel_verify::{
    verify_wheel, ImportRequest, VerifyRequest, DEFAULT_IMPORT_TIMEOUT,
};
use wheelwright_core::sinks::reports::{wheel_check_text, wheel_verify_text};
use wheelwright_core::wheel_check::{run_checks, CheckRequest, Purpose, WheelOutcome};

use crate::exit;

/// `wheelwright wheel ...`.
#[derive(Debug, Subcommand)]
pub enum WheelCommand {
    /// Check wheels: name/WHEEL/METADATA agree, RECORD hashes, GPU archs, symbols, glibc, manylinux policy.
    Check(CheckArgs),
    /// On a GPU runner: check a wheel built elsewhere against the GPUs here, and import it.
    Verify(VerifyArgs),
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

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  0  the wheel passed: it checks, some device code of each binary runs on
     every GPU here, and (--import) its modules import
  1  it failed: a check failed, a binary has no device code a GPU here can
     run (gpu-cannot-run), it is not the file --report's build made, or an
     import failed (or another version is installed there)
  2  bad input or the wrong machine: no GPU detected (NVML, then
     nvidia-smi), a file missing or not a wheel, an unreadable --report, a
     bad --require-archs or --module, an interpreter that cannot be run

SASS runs on the same major compute capability at an equal or newer minor
(sm_80 on 8.6, never on 9.0); `a` targets (sm_90a) only on that exact one;
`f` targets (sm_100f) on the family's later minors. PTX is compiled by the
driver for its own or a newer compute capability. A binary passes when some
of its device code runs on each GPU here.

Nothing is installed: with --import, install the wheel into the environment
of --python first (e.g. `python -m pip install --no-deps WHEEL`).")]
pub struct VerifyArgs {
    /// The wheel to verify.
    #[arg(value_name = "WHEEL")]
    pub wheel: PathBuf,

    /// The build's report.json: its planned archs, and the wheel must be the
    /// file it names (same sha256).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Architectures the wheel must carry as SASS (`80;90`), instead of the report's.
    #[arg(long, value_name = "LIST")]
    pub require_archs: Option<String>,

    /// The interpreter the wheel is installed in: its torch resolves the
    /// symbols, and --import runs there (default: $VIRTUAL_ENV's, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Import the wheel's modules (its packages and extension modules) in
    /// --python, after `import torch` where torch is installed.
    #[arg(long = "import")]
    pub import: bool,

    /// A module to import instead of the wheel's own (repeatable; implies --import).
    #[arg(long = "module", value_name = "NAME")]
    pub modules: Vec<String>,

    /// Seconds the import may take.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_IMPORT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub import_timeout: u64,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: WheelCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WheelCommand::Check(args) => check(args),
        WheelCommand::Verify(args) => verify(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let import = (args.import || !args.modules.is_empty()).then(|| ImportRequest {
        modules: args.modules,
        timeout: Duration::from_secs(args.import_timeout),
    });
    let req = VerifyRequest {
        wheel: args.wheel,
        report: args.report,
        require_archs: args.require_archs,
        python: args.python,
        import,
        detect: DetectOptions::from_process_env(),
    };
    let run = verify_wheel(&req).map_err(|e| exit::usage(e.to_string(), e.hint()))?;
    if args.json {
        super::print_json(&run)?;
    } else {
        super::print_text(&wheel_verify_text(&run))?;
    }
    Ok(ExitCode::from(run.exit_code()))
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
