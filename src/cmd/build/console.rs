//! The terminal side of a job: writing the library's console text
//! ([`ConsoleText`]): the live log
//! fenced by `::stop-commands::` on GitHub Actions (a log line can never run
//! a workflow command), a progress bar on a TTY, plain lines elsewhere; then
//! the Action's annotations, step summary and outputs.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use wheelwright_core::builder::BuildReport;
use wheelwright_core::env_vars;
use wheelwright_core::job::JobEvent;
use wheelwright_core::sinks::build_report::github_build_report;
use wheelwright_core::sinks::console::{ConsoleLine, ConsoleText};
use wheelwright_core::sinks::github::{env_files, SafeEcho};
use wheelwright_core::sinks::redact::redact_secrets;

/// The token of the open output fence, kept in a private temp file (removed
/// when the console finishes), so that the supervisor can end the fence if
/// this process is killed before it can ([`wheelwright_core::supervisor`]).
/// A build that reads it learns nothing useful: [`SafeEcho`] switches tokens
/// before echoing any line that holds the current one.
struct FenceRecord {
    file: tempfile::NamedTempFile,
    token: String,
}

impl FenceRecord {
    fn new() -> Option<Self> {
        let file = tempfile::Builder::new()
            .prefix("wheelwright-fence-")
            .tempfile()
            .ok()?;
        Some(FenceRecord {
            file,
            token: String::new(),
        })
    }

    /// Keep `token` in the file, if it changed.
    fn keep(&mut self, token: &str) {
        use std::os::unix::fs::FileExt;
        if self.token != token {
            let f = self.file.as_file();
            if f.set_len(0)
                .and_then(|()| f.write_all_at(token.as_bytes(), 0))
                .is_ok()
            {
                self.token = token.to_string();
            }
        }
    }
}

/// Writes a job's events.
pub struct Console {
    text: ConsoleText,
    /// The build's log goes to stderr (`--json` keeps stdout for the report).
    log_to_stderr: bool,
    /// On GitHub Actions: the fence around the untrusted build output.
    echo: Option<SafeEcho<Box<dyn Write>>>,
    fence: Option<FenceRecord>,
    bar: Option<ProgressBar>,
}

impl Console {
    pub fn new(json: bool) -> Self {
        let gha = super::super::in_github_actions();
        let tty = std::io::stderr().is_terminal() && !gha && !json;
        let bar = tty.then(|| {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        });
        let echo = gha
            .then(|| {
                let out: Box<dyn Write> = if json {
                    Box::new(std::io::stderr())
                } else {
                    Box::new(std::io::stdout())
                };
                SafeEcho::new(out).ok()
            })
            .flatten();
        let mut fence = echo.as_ref().and_then(|_| FenceRecord::new());
        if let (Some(f), Some(e)) = (fence.as_mut(), echo.as_ref()) {
            f.keep(e.token());
        }
        Console {
            text: ConsoleText::new(bar.is_some()),
            log_to_stderr: json,
            echo,
            fence,
            bar,
        }
    }

    /// The file that holds the open fence's token, for the supervisor.
    pub fn fence_file(&self) -> Option<std::path::PathBuf> {
        self.fence.as_ref().map(|f| f.file.path().to_path_buf())
    }

    pub fn event(&mut self, e: JobEvent<'_>) {
        for line in self.text.lines(&e) {
            match line {
                // On a runner, the log and our notes go inside the fence that
                // opened before anything was printed, on one stream (two
                // streams interleave in any order).
                ConsoleLine::Log(l) | ConsoleLine::Note(l) if self.echo.is_some() => {
                    if let Some(echo) = self.echo.as_mut() {
                        let _ = echo.echo(&l);
                        // A line that held the token switched it: keep the new one.
                        if let Some(f) = self.fence.as_mut() {
                            f.keep(echo.token());
                        }
                    }
                }
                ConsoleLine::Log(l) => self.write(&l, !self.log_to_stderr),
                ConsoleLine::Note(l) => self.write(&l, false),
                // Findings quote tool output: fenced on a runner.
                ConsoleLine::Block(text) => {
                    let _ = super::super::eprint_text(&text);
                }
                ConsoleLine::Bar {
                    done,
                    total,
                    message,
                } => {
                    let _ = self.bar.as_ref().map(|pb| {
                        pb.set_length(total.into());
                        pb.set_position(done.into());
                        pb.set_message(message);
                    });
                }
            }
        }
    }

    /// One line to stdout or stderr, above the bar.
    fn write(&self, line: &str, stdout: bool) {
        let print = || {
            let _ = if stdout {
                writeln!(std::io::stdout().lock(), "{line}")
            } else {
                writeln!(std::io::stderr().lock(), "{line}")
            };
        };
        match &self.bar {
            Some(pb) => pb.suspend(print),
            None => print(),
        }
    }

    pub fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        if let Some(echo) = self.echo.take() {
            let _ = echo.finish();
        }
        // The fence is closed: nothing for a supervisor to end.
        self.fence = None;
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The summary (fenced on a runner: it quotes the build's output), and on
/// GitHub Actions the annotations, step summary and outputs.
pub fn show_report(report: &BuildReport, json: bool) -> anyhow::Result<()> {
    super::super::eprint_text(&wheelwright_core::sinks::build_report::summary(report))?;
    if super::super::in_github_actions() {
        github_report(report, json)?;
    }
    Ok(())
}

/// On GitHub Actions: annotations for the findings (stdout, or stderr with
/// `--json`), the step summary, and the outputs.
fn github_report(r: &BuildReport, json: bool) -> anyhow::Result<()> {
    let g = github_build_report(r, std::env::var(env_vars::GITHUB_WORKSPACE).ok());
    let annotations = redact_secrets(&g.annotations);
    if json {
        eprint!("{annotations}");
    } else {
        print!("{annotations}");
    }
    for (var, text) in [
        (env_vars::GITHUB_STEP_SUMMARY, &g.step_summary),
        (env_vars::GITHUB_OUTPUT, &g.outputs),
    ] {
        // Secrets are masked by env_files::append.
        if let Some(path) = std::env::var_os(var) {
            env_files::append(path.as_ref(), text)
                .with_context(|| format!("cannot write {var}"))?;
        }
    }
    Ok(())
}
