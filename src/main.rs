//! The `wheelwright` command line: argument parsing and output only; the work
//! is done by `wheelwright-core`.

mod cmd;
mod exit;

use std::process::ExitCode;

use clap::Parser;

use crate::cmd::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report_error(&err),
    }
}
