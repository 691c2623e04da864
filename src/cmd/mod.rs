//! Subcommands: one module each, wiring the library to the terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wheelwright_core::build::absolute_program;
use wheelwright_core::detect::DetectOptions;

pub mod build;
pub mod detect;
pub mod diagnose;
pub mod doctor;
pub mod host;
pub mod plan;
pub mod setup;

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
    Plan(plan::PlanArgs),
    /// Detect this host, plan the build and report every finding with its fix (always exits 0).
    Doctor(doctor::DoctorArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Build(args) => build::run(args),
        Command::Diagnose(args) => diagnose::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Doctor(args) => doctor::run(args),
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
