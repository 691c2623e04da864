//! Where a job's console lines go ([`ConsoleWriter`]): the build's log to one
//! stream, wheelwright's notes and blocks to another; on GitHub Actions the
//! log and the notes inside one `::stop-commands::` fence (two streams
//! interleave in any order), whose token a supervisor can read
//! ([`ConsoleWriter::fence_file`]).

use std::io::Write;
use std::path::Path;

use super::{ConsoleLine, ConsoleText};
use crate::github::{write_untrusted, SafeEcho};
use wheelwright_job::JobEvent;

/// The build's log stream: plain, or fenced on a runner.
enum LogStream {
    Plain(Box<dyn Write>),
    Fenced(SafeEcho<Box<dyn Write>>),
}

/// Writes a job's events as [`ConsoleText`] to the caller's streams.
pub struct ConsoleWriter {
    text: ConsoleText,
    log: LogStream,
    notes: Box<dyn Write>,
    runner: bool,
}

impl std::fmt::Debug for ConsoleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleWriter")
            .field("runner", &self.runner)
            .field("fence_file", &self.fence_file())
            .finish_non_exhaustive()
    }
}

impl ConsoleWriter {
    /// A writer of the build's log to `log` (stdout; stderr when stdout
    /// carries a JSON report) and of wheelwright's notes and blocks to
    /// `notes` (stderr). `runner`: on GitHub Actions, where the log and the
    /// notes go to `log` inside a fence opened now (and kept in a file for
    /// the supervisor), and blocks are fenced on `notes`. `bar`: the caller
    /// shows progress on a bar ([`ConsoleWriter::event`] hands it over).
    pub fn new(log: Box<dyn Write>, notes: Box<dyn Write>, runner: bool, bar: bool) -> Self {
        let log = if runner {
            // A stream that cannot take the fence's start takes nothing.
            SafeEcho::new(log).map_or_else(
                |_| LogStream::Plain(Box::new(std::io::sink())),
                |echo| LogStream::Fenced(echo.recorded()),
            )
        } else {
            LogStream::Plain(log)
        };
        ConsoleWriter {
            text: ConsoleText::new(bar),
            log,
            notes,
            runner,
        }
    }

    /// The file that holds the open fence's token, for the supervisor.
    pub fn fence_file(&self) -> Option<&Path> {
        match &self.log {
            LogStream::Fenced(echo) => echo.fence_file(),
            LogStream::Plain(_) => None,
        }
    }

    /// Write the lines of `e`, and give back the progress for the caller's
    /// bar ([`ConsoleLine::Bar`]s). Write errors are ignored: a console that
    /// went away must not stop the build (`build.log` keeps every line).
    /// Each line is one write, so a caller's writer that keeps a bar clear
    /// of it sees whole lines.
    pub fn event(&mut self, e: &JobEvent<'_>) -> Vec<ConsoleLine> {
        let mut bar = Vec::new();
        for line in self.text.lines(e) {
            let _ = match (line, &mut self.log) {
                (ConsoleLine::Log(l) | ConsoleLine::Note(l), LogStream::Fenced(echo)) => {
                    echo.echo(&l)
                }
                (ConsoleLine::Log(l), LogStream::Plain(out)) => {
                    out.write_all(format!("{l}\n").as_bytes())
                }
                (ConsoleLine::Note(l), _) => self.notes.write_all(format!("{l}\n").as_bytes()),
                // Findings quote tool output: fenced on a runner.
                (ConsoleLine::Block(text), _) => {
                    write_untrusted(&mut self.notes, &text, self.runner)
                }
                (b @ ConsoleLine::Bar { .. }, _) => {
                    bar.push(b);
                    Ok(())
                }
            };
        }
        bar
    }

    /// Close the fence (and remove its file); later lines go nowhere.
    pub fn finish(&mut self) {
        let log = std::mem::replace(&mut self.log, LogStream::Plain(Box::new(std::io::sink())));
        match log {
            LogStream::Fenced(echo) => drop(echo.finish()),
            LogStream::Plain(mut out) => drop(out.flush()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use wheelwright_build::BuildEvent;

    /// A stream the test reads afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn write(runner: bool) -> (String, String, bool) {
        let (log, notes) = (Shared::default(), Shared::default());
        let mut w = ConsoleWriter::new(
            Box::new(log.clone()),
            Box::new(notes.clone()),
            runner,
            false,
        );
        let fence = w.fence_file().map(Path::to_path_buf);
        assert_eq!(fence.is_some(), runner);
        w.event(&JobEvent::Build(BuildEvent::Line(
            "::error::from the build",
        )));
        w.event(&JobEvent::Build(BuildEvent::Note("a note")));
        w.finish();
        assert!(
            fence.is_none_or(|f| !f.exists()),
            "the fence file goes with the fence"
        );
        (log.text(), notes.text(), runner)
    }

    #[test]
    fn off_a_runner_the_log_and_notes_go_to_their_streams() {
        let (log, notes, _) = write(false);
        assert_eq!(log, "::error::from the build\n");
        assert_eq!(notes, "wheelwright: a note\n");
    }

    #[test]
    fn on_a_runner_the_log_and_notes_go_inside_one_fence() {
        let (log, notes, _) = write(true);
        let lines: Vec<&str> = log.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").expect(&log);
        assert_eq!(
            &lines[1..],
            [
                "::error::from the build",
                "wheelwright: a note",
                &format!("::{token}::")
            ]
        );
        assert_eq!(notes, "");
    }
}
