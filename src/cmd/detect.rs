//! `wheelwright detect`: print the host's `Facts` as a table or JSON.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Print the Facts as JSON (the contract other tools read).
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: DetectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("detect is not wired yet")
}
