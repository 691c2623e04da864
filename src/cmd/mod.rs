//! Subcommands: one module each, wiring the library to the terminal.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod detect;

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
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect(args) => detect::run(args),
    }
}
