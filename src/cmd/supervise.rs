//! `wheelwright __supervise --parent PID --grace-ms MS [--fence-file F] -- CMD...`:
//! hidden; wheelwright runs the build's commands under it, so their whole tree
//! dies with wheelwright ([`wheelwright_core::supervisor`]). Dispatched in
//! `main` before the argument parser: the arguments are the library's protocol
//! ([`SuperviseOptions::from_args`]), never typed by a person.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::ExitCode;

use wheelwright_core::supervisor::{self, Ending, SuperviseOptions};

/// Whether the command line asks for the supervisor.
pub fn requested() -> bool {
    std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == supervisor::SUBCOMMAND)
}

/// Be the supervisor. Its stdin is wheelwright's console; its stderr, the
/// command's output (where a command that cannot start is reported).
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let opts = match SuperviseOptions::from_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "error: {} arguments: {e}\nhint: this subcommand is wheelwright's own; run `wheelwright build`",
                supervisor::SUBCOMMAND
            );
            return ExitCode::from(crate::exit::USAGE);
        }
    };
    let mut console: Box<dyn Write> = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(std::io::sink()),
    };
    let ending = supervisor::supervise(&opts, &mut console);
    if let Ending::NotStarted(e) = &ending {
        let program = opts
            .command
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("wheelwright: could not start `{program}`: {e}");
    }
    ExitCode::from(supervisor::exit_code(&ending))
}
