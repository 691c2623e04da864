//! The `wheelwright` command line: argument parsing and output only; the work
//! is done by `wheelwright-core`.

mod cmd;
mod exit;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cmd::Cli;

fn main() -> ExitCode {
    if cmd::supervise::requested() {
        return cmd::supervise::run(std::env::args_os().skip(2));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return exit::report_parse_error(&e),
    };
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => exit::report_error(&err),
    }
}
