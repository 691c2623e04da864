//! The terminal side of a job: the library's [`ConsoleWriter`] on stdout and
//! stderr (the log fenced on GitHub Actions), a progress bar on a TTY kept
//! clear of the lines; then the build's summary and, on a runner, its
//! annotations, step summary and outputs ([`show_on_github`]).

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use wheelwright_core::builder::BuildReport;
use wheelwright_core::job::JobEvent;
use wheelwright_core::sinks::build_report::{show_on_github, summary};
use wheelwright_core::sinks::console::{ConsoleLine, ConsoleWriter};
use wheelwright_core::sinks::github::ActionsEnv;

/// A stream whose writes (whole lines: [`ConsoleWriter::event`]) go out
/// above the progress bar.
struct AboveBar<W>(ProgressBar, W);

impl<W: Write> Write for AboveBar<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let AboveBar(bar, out) = self;
        bar.suspend(|| out.write_all(buf)).map(|()| buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.1.flush()
    }
}

/// Where the build's log and annotations go: stdout, or stderr when `--json`
/// keeps stdout for the report.
fn log_stream(json: bool) -> Box<dyn Write> {
    match json {
        true => Box::new(std::io::stderr()),
        false => Box::new(std::io::stdout()),
    }
}

/// Writes a job's events.
pub struct Console {
    out: ConsoleWriter,
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
        let stream = |out: Box<dyn Write>| -> Box<dyn Write> {
            match &bar {
                Some(pb) => Box::new(AboveBar(pb.clone(), out)),
                None => out,
            }
        };
        let (log, notes) = (
            stream(log_stream(json)),
            stream(Box::new(std::io::stderr())),
        );
        let out = ConsoleWriter::new(log, notes, gha, tty);
        Console { out, bar }
    }

    /// The file that holds the open fence's token, for the supervisor.
    pub fn fence_file(&self) -> Option<std::path::PathBuf> {
        self.out.fence_file().map(|f| f.to_path_buf())
    }

    pub fn event(&mut self, e: JobEvent<'_>) {
        for line in self.out.event(&e) {
            if let (
                Some(pb),
                ConsoleLine::Bar {
                    done,
                    total,
                    message,
                },
            ) = (&self.bar, line)
            {
                pb.set_length(total.into());
                pb.set_position(done.into());
                pb.set_message(message);
            }
        }
    }

    pub fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        self.out.finish();
    }
}

/// The summary (fenced on a runner: it quotes the build's output), and on
/// GitHub Actions the annotations (stdout, or stderr with `--json`), step
/// summary and outputs.
pub fn show_report(report: &BuildReport, json: bool) -> anyhow::Result<()> {
    super::super::eprint_text(&summary(report))?;
    Ok(show_on_github(
        report,
        &ActionsEnv::from_process_env(),
        &mut log_stream(json),
    )?)
}
