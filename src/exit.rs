//! Exit codes and the way errors are shown: the cause chain, then `hint:` lines.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the job failed (build failed, `diagnose` found an error) |
//! | 2    | bad usage, bad input, or a preflight check refused the job |
//! | 3    | an internal or I/O error (could not write a file, ...) |
//! | 130  | cancelled (SIGINT / SIGTERM; the library's `Outcome::exit_code`) |

use std::process::ExitCode;

pub const OK: u8 = 0;
pub const JOB_FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTERNAL: u8 = 3;

/// The exit status of a job that ran: [`JOB_FAILED`] when it `failed`, else [`OK`].
pub fn job(failed: bool) -> ExitCode {
    ExitCode::from(if failed { JOB_FAILED } else { OK })
}

/// An error that carries what the user should do and which exit code it means.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
    pub code: u8,
    /// The library's error this one shows: its message and its causes.
    pub error: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(e) => e.fmt(f),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().and_then(|e| e.source())
    }
}

/// A bad-usage error (exit 2) with a hint.
pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
        code: USAGE,
        error: None,
    })
}

/// The library's `error`, shown with its causes, `hint` and exit `code`.
pub fn hinted(
    error: impl std::error::Error + Send + Sync + 'static,
    hint: impl Into<String>,
    code: u8,
) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: String::new(),
        hint: hint.into(),
        code,
        error: Some(Box::new(error)),
    })
}

/// A command line clap refused: its message, then a `hint:` line, exit 2.
/// `--help` and `--version` print as clap does and exit 0.
pub fn report_parse_error(err: &clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { USAGE } else { OK });
        }
        _ => {}
    }
    let invalid = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let hint = match err.kind() {
        ErrorKind::UnknownArgument if looks_negative(&invalid) => format!(
            "`{invalid}` was read as a flag: values here are not negative (a value that starts with `-` goes after `=`: `--flag=-1`)"
        ),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => format!(
            "see the accepted values in `wheelwright {} --help`",
            subcommand_named()
        ),
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand => {
            "run `wheelwright --help` (or `wheelwright COMMAND --help`) for the flags".to_string()
        }
        _ => "run `wheelwright --help` for the usage".to_string(),
    };
    let text = format!("{}\nhint: {hint}\n", err.render().to_string().trim_end());
    let text = wheelwright_core::sinks::redact::redact_secrets(&text);
    if crate::cmd::eprint_text(&text).is_err() {
        eprint!("{text}");
    }
    ExitCode::from(USAGE)
}

/// `-12`, `-12.4`, `-1e3`: a negative number clap took for a flag.
fn looks_negative(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|n| n.parse::<f64>().is_ok())
}

/// The subcommand the command line names (its first word), for the hint.
fn subcommand_named() -> String {
    std::env::args()
        .nth(1)
        .filter(|w| !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase()))
        .unwrap_or_else(|| "COMMAND".to_string())
}

/// Print `error: ...`, each cause, and the hints; return the exit code.
///
/// A cause may quote a tool's output (pip's last lines when a download
/// failed), so the text goes out with tokens masked and, on a GitHub Actions
/// runner, with workflow commands stopped, like every other untrusted text.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    let mut text = format!("error: {err}\n");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    let mut code = INTERNAL;
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            text.push_str(&format!("hint: {}\n", h.hint));
            code = h.code;
        }
    }
    let text = wheelwright_core::sinks::redact::redact_secrets(&text);
    if crate::cmd::eprint_text(&text).is_err() {
        eprint!("{text}");
    }
    ExitCode::from(code)
}
