//! A job's events as console text: what `wheelwright build` shows while a
//! job runs, and what any other CI's log should show: the build's own output
//! line by line (secrets masked), wheelwright's notes (the attempt, its
//! settings and command, how it ended, retries, cancellation), the refused
//! plan's findings, and progress from ninja's `[n/m]` with the time left.
//!
//! [`ConsoleText`] turns each [`JobEvent`] into [`ConsoleLine`]s; the caller
//! writes them (the library never prints). Progress goes to a bar when the
//! caller has one, else it becomes a plain note at most every
//! [`PLAIN_PROGRESS_EVERY`] (and at the end), so a CI log is not flooded.

use std::time::{Duration, Instant};

use wheelwright_base::units::format_duration;
use wheelwright_build::progress::{EtaBasis, Progress};
use wheelwright_build::BuildEvent;
use wheelwright_job::JobEvent;

use super::build_report::findings_text;
use super::redact::redact_secrets;

mod writer;

pub use writer::ConsoleWriter;

/// How often a log without a progress bar gets a plain progress line.
pub const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// One piece of console output.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleLine {
    /// A line of the build's own output, secrets masked. Still untrusted: on
    /// GitHub Actions it goes inside the `::stop-commands::` fence
    /// ([`super::github::SafeEcho`]).
    Log(String),
    /// A line of wheelwright's own, `wheelwright: ...`. It may quote the spec
    /// or a path: on a runner it goes inside the same fence as the log.
    Note(String),
    /// A block of text for people (a refused plan's findings, several lines).
    Block(String),
    /// The new state of the caller's progress bar (only when it has one).
    Bar {
        /// Compile steps done.
        done: u32,
        /// Compile steps in all.
        total: u32,
        /// The time left (`about 12m 3s left (from the plan)`).
        message: String,
    },
}

/// Renders a job's events; keeps when the last plain progress line went out.
#[derive(Debug, Clone)]
pub struct ConsoleText {
    bar: bool,
    last_plain: Option<Instant>,
}

impl ConsoleText {
    /// A renderer for a console that shows a progress bar (`bar`: a
    /// terminal), or plain progress notes (a CI log).
    pub fn new(bar: bool) -> Self {
        ConsoleText {
            bar,
            last_plain: None,
        }
    }

    /// The lines for `e`, now.
    pub fn lines(&mut self, e: &JobEvent<'_>) -> Vec<ConsoleLine> {
        self.lines_at(e, Instant::now())
    }

    /// The lines for `e` at `now` (the clock of the progress throttle).
    pub fn lines_at(&mut self, e: &JobEvent<'_>, now: Instant) -> Vec<ConsoleLine> {
        let note = |text: String| vec![note_line(&text)];
        match e {
            JobEvent::Planning => Vec::new(),
            JobEvent::FetchingSource { what, how } => {
                note(format!("downloading the sdist of {what} ({how})"))
            }
            JobEvent::Refused { findings, forced } => {
                let mut out = vec![ConsoleLine::Block(findings_text(findings))];
                if *forced {
                    out.extend(note(
                        "--force: building although the plan refused it".into(),
                    ));
                }
                out
            }
            JobEvent::WaitingForWorkDir { work_dir, lock } => note(format!(
                "waiting for another build that uses {} (lock {})",
                work_dir.display(),
                lock.display()
            )),
            JobEvent::Building {
                source,
                recipe,
                max_jobs,
                nvcc_threads,
                out_dir,
            } => note(format!(
                "building {source} (recipe {recipe}) with MAX_JOBS={max_jobs} NVCC_THREADS={nvcc_threads}; log and report in {}",
                out_dir.display()
            )),
            JobEvent::Build(b) => self.build_lines(b, now),
            JobEvent::Publishing { wheel } => note(format!("publishing {}", wheel.display())),
            JobEvent::Published(r) => r
                .files
                .iter()
                .flat_map(|f| {
                    note(format!(
                        "{} {} {}{}",
                        f.status.as_str(),
                        f.target.as_str(),
                        f.file,
                        f.url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()
                    ))
                })
                .collect(),
        }
    }

    fn build_lines(&mut self, e: &BuildEvent<'_>, now: Instant) -> Vec<ConsoleLine> {
        let note = |text: String| vec![note_line(&text)];
        match e {
            BuildEvent::Line(line) => vec![ConsoleLine::Log(redact_secrets(line).into_owned())],
            BuildEvent::Progress(p) => self.progress(p, now),
            BuildEvent::AttemptStarted {
                number,
                max_jobs,
                nvcc_threads,
                command,
            } => note(format!(
                "attempt {number}: MAX_JOBS={max_jobs} NVCC_THREADS={nvcc_threads}: {command}"
            )),
            BuildEvent::Cancelling => {
                note("cancelled: stopping the build's process tree (SIGTERM, then SIGKILL)".into())
            }
            BuildEvent::AttemptFinished(a) => note(format!(
                "attempt ended: {} after {}",
                a.outcome.as_str(),
                format_duration(a.seconds)
            )),
            BuildEvent::Retrying { reason, .. } => note(reason.to_string()),
            BuildEvent::Note(text) => note(text.to_string()),
        }
    }

    fn progress(&mut self, p: &Progress, now: Instant) -> Vec<ConsoleLine> {
        let eta = eta_text(p);
        if self.bar {
            return vec![ConsoleLine::Bar {
                done: p.done,
                total: p.total,
                message: eta,
            }];
        }
        let due = self
            .last_plain
            .is_none_or(|t| now.saturating_duration_since(t) >= PLAIN_PROGRESS_EVERY);
        if !due && p.done != p.total {
            return Vec::new();
        }
        self.last_plain = Some(now);
        vec![note_line(&format!(
            "progress [{}/{}] {:.0}%, {} elapsed, {eta}",
            p.done,
            p.total,
            p.fraction() * 100.0,
            format_duration(p.elapsed_seconds)
        ))]
    }
}

/// `wheelwright: TEXT`, secrets masked (a note may quote the spec, a URL
/// with a token, or a retry reason that quotes the log).
fn note_line(text: &str) -> ConsoleLine {
    ConsoleLine::Note(redact_secrets(&format!("wheelwright: {text}")).into_owned())
}

/// `about 12m 3s left (from the plan)`, or `estimating time left`.
fn eta_text(p: &Progress) -> String {
    p.eta
        .map(|eta| {
            let basis = match eta.basis {
                EtaBasis::Plan => "from the plan",
                EtaBasis::Linear => "linear",
            };
            format!("about {} left ({basis})", format_duration(eta.seconds))
        })
        .unwrap_or_else(|| "estimating time left".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_base::finding::{Finding, Severity};
    use wheelwright_build::progress::Eta;

    fn progress(done: u32, total: u32) -> Progress {
        Progress {
            done,
            total,
            elapsed_seconds: 75.0,
            eta: Some(Eta {
                seconds: 600.0,
                basis: EtaBasis::Plan,
            }),
        }
    }

    fn build(e: BuildEvent<'_>) -> JobEvent<'_> {
        JobEvent::Build(e)
    }

    #[test]
    fn plain_progress_is_a_note_at_most_every_30s_and_at_the_end() {
        let mut c = ConsoleText::new(false);
        let t0 = Instant::now();
        let (p1, p2, p3, end) = (
            progress(1, 4),
            progress(2, 4),
            progress(3, 4),
            progress(4, 4),
        );
        let first = c.lines_at(&build(BuildEvent::Progress(p1)), t0);
        assert_eq!(
            first,
            [ConsoleLine::Note(
                "wheelwright: progress [1/4] 25%, 1m 15s elapsed, about 10m 00s left (from the plan)"
                    .into()
            )]
        );
        let soon = t0 + Duration::from_secs(29);
        assert!(c
            .lines_at(&build(BuildEvent::Progress(p2)), soon)
            .is_empty());
        let later = t0 + PLAIN_PROGRESS_EVERY;
        assert_eq!(c.lines_at(&build(BuildEvent::Progress(p3)), later).len(), 1);
        // The last step always shows, however soon.
        assert_eq!(
            c.lines_at(&build(BuildEvent::Progress(end)), later).len(),
            1
        );
    }

    #[test]
    fn a_bar_gets_every_step_and_no_note() {
        let mut c = ConsoleText::new(true);
        let mut p = progress(2, 4);
        p.eta = None;
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(
                c.lines_at(&build(BuildEvent::Progress(p)), t0),
                [ConsoleLine::Bar {
                    done: 2,
                    total: 4,
                    message: "estimating time left".into()
                }]
            );
        }
    }

    #[test]
    fn log_lines_are_masked_and_notes_say_who_speaks() {
        let mut c = ConsoleText::new(false);
        let token = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A";
        let line = format!("curl -H 'Authorization: token {token}'");
        let out = c.lines(&build(BuildEvent::Line(&line)));
        assert_eq!(
            out,
            [ConsoleLine::Log(
                "curl -H 'Authorization: token ghp_***'".into()
            )]
        );
        let out = c.lines(&build(BuildEvent::AttemptStarted {
            number: 2,
            max_jobs: 3,
            nvcc_threads: 2,
            command: "python -m pip wheel .",
        }));
        assert_eq!(
            out,
            [ConsoleLine::Note(
                "wheelwright: attempt 2: MAX_JOBS=3 NVCC_THREADS=2: python -m pip wheel .".into()
            )]
        );
        assert!(c.lines(&JobEvent::Planning).is_empty());
    }

    #[test]
    fn a_forced_refusal_shows_the_findings_then_says_it_builds_anyway() {
        let findings = [Finding::new(
            "memory-too-small",
            Severity::Error,
            "Not enough memory for even one compile",
            "One job peaks at 6.7 GiB.",
            "Give the build at least 8.0 GiB.",
        )];
        let mut c = ConsoleText::new(false);
        let out = c.lines(&JobEvent::Refused {
            findings: &findings,
            forced: true,
        });
        assert_eq!(out.len(), 2, "{out:?}");
        let ConsoleLine::Block(text) = &out[0] else {
            panic!("{out:?}")
        };
        assert!(
            text.contains("memory-too-small") && text.contains("8.0 GiB"),
            "{text}"
        );
        assert_eq!(
            out[1],
            ConsoleLine::Note("wheelwright: --force: building although the plan refused it".into())
        );
        let out = c.lines(&JobEvent::Refused {
            findings: &findings,
            forced: false,
        });
        assert_eq!(out.len(), 1);
    }
}
