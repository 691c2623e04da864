//! The terminal side of a job: the cancel flag set by Ctrl-C/SIGTERM/SIGHUP,
//! the live log (fenced by `::stop-commands::` on GitHub Actions, so a log
//! line can never run a workflow command), a progress bar on a TTY or
//! periodic lines in CI, and the Action's annotations, summary and outputs.

use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use wheelwright_core::builder::progress::EtaBasis;
use wheelwright_core::builder::{BuildEvent, BuildReport};
use wheelwright_core::env_vars;
use wheelwright_core::job::JobEvent;
use wheelwright_core::sinks::build_report::{findings_text, github_build_report};
use wheelwright_core::sinks::github::{env_files, SafeEcho};
use wheelwright_core::sinks::redact::redact_secrets;
use wheelwright_core::units::format_duration;

/// A flag that Ctrl-C, SIGTERM (a cancelled CI job) and SIGHUP set: the job
/// then stops what runs (the download too) and still leaves its records.
pub fn cancel_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("cannot install the signal handler")?;
    }
    Ok(cancel)
}

/// Renders a job's events.
pub struct Console {
    log_to_stderr: bool,
    /// On GitHub Actions: the fence around the untrusted build output.
    echo: Option<SafeEcho<Box<dyn Write>>>,
    bar: Option<ProgressBar>,
    last_plain: Option<Instant>,
}

/// How often CI gets a plain progress line.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(30);

impl Console {
    pub fn new(json: bool) -> Self {
        let gha = super::super::in_github_actions();
        let tty = std::io::stderr().is_terminal() && !gha && !json;
        let bar = tty.then(|| {
            let pb = ProgressBar::new(0);
            pb.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb
        });
        let echo = if gha {
            let out: Box<dyn Write> = if json {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::stdout())
            };
            SafeEcho::new(out).ok()
        } else {
            None
        };
        Console {
            log_to_stderr: json,
            echo,
            bar,
            last_plain: None,
        }
    }

    /// One line of the build's (untrusted) output.
    fn out(&mut self, line: &str) {
        if let Some(echo) = self.echo.as_mut() {
            let _ = echo.echo(line);
            return;
        }
        // Off a runner too: a token the build echoed is not for the console.
        let line = redact_secrets(line);
        let to_stderr = self.log_to_stderr;
        let print = || {
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        };
        match &self.bar {
            Some(pb) => pb.suspend(print),
            None => print(),
        }
    }

    /// A line of our own. It may quote the spec or a path, so on a runner it
    /// goes inside the fence that opened before anything was printed, on the
    /// same stream as the log (two streams interleave in any order).
    fn note(&mut self, text: &str) {
        let line = format!("wheelwright: {text}");
        if let Some(echo) = self.echo.as_mut() {
            let _ = echo.echo(&line);
            return;
        }
        let line = redact_secrets(&line);
        match &self.bar {
            Some(pb) => pb.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    pub fn event(&mut self, e: JobEvent<'_>) {
        match e {
            JobEvent::Planning => {}
            JobEvent::FetchingSource { what, how } => {
                self.note(&format!("downloading the sdist of {what} ({how})"))
            }
            JobEvent::Refused { findings, forced } => {
                // Findings quote tool output: fenced on a runner.
                let _ = super::super::eprint_text(&findings_text(findings));
                if forced {
                    self.note("--force: building although the plan refused it");
                }
            }
            JobEvent::WaitingForWorkDir { work_dir, lock } => self.note(&format!(
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
            } => self.note(&format!(
                "building {source} (recipe {recipe}) with MAX_JOBS={max_jobs} NVCC_THREADS={nvcc_threads}; log and report in {}",
                out_dir.display()
            )),
            JobEvent::Build(e) => self.build_event(e),
            JobEvent::Publishing { wheel } => {
                self.note(&format!("publishing {}", wheel.display()))
            }
            JobEvent::Published(r) => {
                for f in &r.files {
                    self.note(&format!(
                        "{} {} {}{}",
                        f.status.as_str(),
                        f.target.as_str(),
                        f.file,
                        f.url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()
                    ));
                }
            }
        }
    }

    fn build_event(&mut self, e: BuildEvent<'_>) {
        match e {
            BuildEvent::Line(line) => self.out(line),
            BuildEvent::Progress(p) => {
                let eta = p
                    .eta
                    .map(|eta| {
                        let basis = match eta.basis {
                            EtaBasis::Plan => "from the plan",
                            EtaBasis::Linear => "linear",
                        };
                        format!("about {} left ({basis})", format_duration(eta.seconds))
                    })
                    .unwrap_or_else(|| "estimating time left".to_string());
                if let Some(pb) = &self.bar {
                    pb.set_length(u64::from(p.total));
                    pb.set_position(u64::from(p.done));
                    pb.set_message(eta);
                } else if self
                    .last_plain
                    .is_none_or(|t| t.elapsed() >= PLAIN_PROGRESS_EVERY)
                    || p.done == p.total
                {
                    self.last_plain = Some(Instant::now());
                    self.note(&format!(
                        "progress [{}/{}] {:.0}%, {} elapsed, {eta}",
                        p.done,
                        p.total,
                        p.fraction() * 100.0,
                        format_duration(p.elapsed_seconds)
                    ));
                }
            }
            BuildEvent::AttemptStarted {
                number,
                max_jobs,
                nvcc_threads,
                command,
            } => {
                self.note(&format!(
                    "attempt {number}: MAX_JOBS={max_jobs} NVCC_THREADS={nvcc_threads}: {command}"
                ));
            }
            BuildEvent::Cancelling => {
                self.note("cancelled: stopping the build's process tree (SIGTERM, then SIGKILL)")
            }
            BuildEvent::AttemptFinished(a) => self.note(&format!(
                "attempt ended: {} after {}",
                a.outcome.as_str(),
                format_duration(a.seconds)
            )),
            BuildEvent::Retrying { reason, .. } => self.note(reason),
            BuildEvent::Note(text) => self.note(text),
        }
    }

    pub fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        if let Some(echo) = self.echo.take() {
            let _ = echo.finish();
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.finish();
    }
}

/// On GitHub Actions: annotations for the findings (stdout, or stderr with
/// `--json`), the step summary, and the outputs.
pub fn github_report(r: &BuildReport, json: bool) -> anyhow::Result<()> {
    let g = github_build_report(r, std::env::var(env_vars::GITHUB_WORKSPACE).ok());
    let annotations = redact_secrets(&g.annotations);
    if json {
        eprint!("{annotations}");
    } else {
        print!("{annotations}");
    }
    append(env_vars::GITHUB_STEP_SUMMARY, &g.step_summary)?;
    append(env_vars::GITHUB_OUTPUT, &g.outputs)
}

/// Append `text` to the file the variable `var` names, if it is set (secrets
/// masked by [`env_files::append`]).
fn append(var: &str, text: &str) -> anyhow::Result<()> {
    if let Some(path) = std::env::var_os(var) {
        env_files::append(std::path::Path::new(&path), text)
            .with_context(|| format!("cannot write {var}"))?;
    }
    Ok(())
}
