//! wheelwright-process: the one wrapper every subprocess of wheelwright goes
//! through, and the supervision that stops a build's whole process tree.
//!
//! The wrapper (this crate's root: [`run`], [`run_cancellable`],
//! [`run_supervised`], [`Output`], [`ProcessError`]) keeps the command line, the exit status or signal and the tail of
//! stdout/stderr, so an error says exactly what ran and how it ended, and it
//! enforces a timeout so a hung tool (a stuck `nvidia-smi`) never hangs us,
//! nor does a tool that exits but leaves a child holding its output open.
//! With a [`Supervisor`] ([`run_supervised`]) the command runs under
//! wheelwright's supervisor, so its tree dies with us even after `kill -9`.
//!
//! - [`supervisor`]: the program between wheelwright and a build that kills
//!   the build's tree when wheelwright dies;
//! - [`tree`]: a process tree found (through `sysinfo`) and stopped as one.
//!
//! Linux only (`/proc`, process groups, `PR_SET_PDEATHSIG`); it prints nothing.

#![warn(missing_docs)]

pub mod supervisor;
pub mod tree;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use wait_timeout::ChildExt;

use crate::supervisor::{console_stdio, Supervisor};
use wheelwright_base::secrets::redact_secrets;

/// Lines of output kept in an error message.
const TAIL_LINES: usize = 20;
/// How long the output readers get after the process group of a command
/// that exited, but whose pipes stayed open past the timeout, was killed.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// How often a running command is checked for cancellation.
const CANCEL_POLL: Duration = Duration::from_millis(100);
/// The grace a supervised command's tree gets between SIGTERM and SIGKILL.
pub const SUPERVISED_GRACE: Duration = Duration::from_secs(2);

/// Why a command could not give us its output.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started (not found, not executable).
    #[error("could not start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its timeout and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The command line.
        command: String,
        /// The time it was given.
        timeout: Duration,
    },
    /// It ended with a failure status ([`Output::check`]).
    #[error("`{command}` failed ({status}){tail}")]
    Failed {
        /// The command line.
        command: String,
        /// `exit code 1`, `signal 9`.
        status: String,
        /// The tail of its output, for the message (empty or starting with a newline).
        tail: String,
    },
    /// The caller's cancel flag was set: it was stopped and reaped.
    #[error("`{command}` was cancelled and killed")]
    Cancelled {
        /// The command line.
        command: String,
    },
    /// Waiting for it failed.
    #[error("waiting for `{command}` failed: {source}")]
    Wait {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, as shown in messages (secrets masked).
    pub command: String,
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Everything the command wrote to stdout.
    pub stdout: String,
    /// Everything the command wrote to stderr.
    pub stderr: String,
}

impl Output {
    /// It exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit status 1` or `killed by signal 9`.
    pub fn status_text(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "unknown status".to_string(),
        }
    }

    /// The last `n` lines of stderr, or of stdout when stderr has nothing to
    /// show: where a failed command usually says why.
    pub fn error_tail(&self, n: usize) -> String {
        let tail = tail_lines(&self.stderr, n);
        if tail.trim().is_empty() {
            tail_lines(&self.stdout, n)
        } else {
            tail
        }
    }

    /// The last `n` lines of stdout followed by stderr.
    pub fn combined_tail(&self, n: usize) -> String {
        tail_lines(&format!("{}{}", self.stdout, self.stderr), n)
    }

    /// Turn a non-zero exit into [`ProcessError::Failed`] with the output's tail.
    pub fn check(self) -> Result<Output, ProcessError> {
        if self.success() {
            return Ok(self);
        }
        let tail = self.error_tail(TAIL_LINES);
        let tail = if tail.trim().is_empty() {
            String::new()
        } else {
            format!("; its output ended with:\n{tail}")
        };
        Err(ProcessError::Failed {
            command: self.command.clone(),
            status: self.status_text(),
            tail,
        })
    }
}

/// The last `n` lines of a tool's output, for a message: tokens and URL
/// passwords in them are masked, since messages get printed and stored.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    redact_secrets(&lines[lines.len().saturating_sub(n)..].join("\n")).into_owned()
}

/// The JSON on the last non-empty line of `stdout`: how the embedded Python
/// scripts answer, after whatever the interpreter printed before.
pub fn parse_last_line_json<T: serde::de::DeserializeOwned>(stdout: &str) -> serde_json::Result<T> {
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last.trim())
}

/// A command line as a user would type it, for messages, with secrets in it
/// (a `--find-links https://user:password@host/`) masked.
pub fn display_command(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    let args: Vec<_> = cmd.get_args().collect();
    parts.extend(args.iter().enumerate().map(|(i, a)| {
        let a = a.to_string_lossy();
        // An inline script (`-c '<50 lines>'`) is named, not printed.
        if i > 0 && args[i - 1] == "-c" && a.contains('\n') {
            return "<script>".to_string();
        }
        let a = redact_secrets(&a);
        if a.contains(' ') || a.is_empty() {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

/// Run `cmd` to completion with a timeout, capturing stdout and stderr.
///
/// A non-zero exit is not an error here (callers decide, see [`Output::check`]);
/// failing to start and running past `timeout` are. The timeout covers the
/// output too: a command that exits but leaves a child holding its stdout or
/// stderr open (`tool &`) gets its process group killed at the deadline.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, ProcessError> {
    run_cancellable(cmd, timeout, &AtomicBool::new(false))
}

/// [`run`], and when `cancel` becomes true (SIGINT/SIGTERM seen by the
/// caller) the command's process group is killed and the result is
/// [`ProcessError::Cancelled`].
pub fn run_cancellable(
    cmd: &mut Command,
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<Output, ProcessError> {
    run_supervised(cmd, timeout, cancel, None)
}

/// [`run_cancellable`], under `supervisor` when one is given: the command's
/// whole tree (processes that left its group or session too) is stopped when
/// it is cancelled, times out, or when this process dies. Messages show the
/// command itself, not the supervisor.
pub fn run_supervised(
    cmd: &mut Command,
    timeout: Duration,
    cancel: &AtomicBool,
    supervisor: Option<&Supervisor>,
) -> Result<Output, ProcessError> {
    let command = display_command(cmd);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut wrapped = supervisor.map(|s| s.wrap(cmd, SUPERVISED_GRACE));
    let (to_run, stdin) = match wrapped.as_mut() {
        // The supervisor gives the command /dev/null; its own stdin is our console.
        Some(w) => (w, console_stdio()),
        None => (cmd, Stdio::null()),
    };
    // Its own process group, so a timeout kills the whole tree (a shell script's
    // children too), not only the direct child.
    let mut child = to_run
        .process_group(0)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
    let pid = child.id();
    let supervised = supervisor.is_some();
    let out_reader = spawn_reader(child.stdout.take());
    let err_reader = spawn_reader(child.stderr.take());
    let status = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.wait_timeout(left.min(CANCEL_POLL)) {
            Ok(Some(status)) => break status,
            Ok(None) if cancel.load(Ordering::SeqCst) => {
                stop(&mut child, supervised);
                return Err(ProcessError::Cancelled { command });
            }
            Ok(None) if left.is_zero() => {
                stop(&mut child, supervised);
                return Err(ProcessError::Timeout { command, timeout });
            }
            Ok(None) => {}
            Err(source) => {
                stop(&mut child, supervised);
                return Err(ProcessError::Wait { command, source });
            }
        }
    };
    let (Some(stdout), Some(stderr)) = (
        collect(&out_reader, deadline, pid),
        collect(&err_reader, deadline, pid),
    ) else {
        return Err(ProcessError::Timeout { command, timeout });
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(Output {
        command,
        code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
    })
}

/// Stop a command's tree and reap it. A supervisor is asked first (SIGTERM),
/// since only it reaches what left the group, and gets its grace; then the
/// group is killed.
fn stop(child: &mut std::process::Child, supervised: bool) {
    let pid = child.id();
    if supervised {
        use nix::sys::signal::{kill, Signal};
        let _ = kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM);
        if let Ok(Some(_)) = child.wait_timeout(SUPERVISED_GRACE + KILL_GRACE) {
            kill_group(pid);
            return;
        }
    }
    kill_group(pid);
    let _ = child.wait();
}

/// SIGKILL the process group led by `pid`.
pub fn kill_group(pid: u32) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

/// Read `pipe` to its end on a thread; the text arrives on the receiver.
fn spawn_reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// A reader's text once its pipe closes. Past `deadline` the process group
/// led by `pid` (the descendants still holding the pipe) is killed and the
/// reader gets a moment more; `None` when even that does not close the pipe
/// (a descendant that left the group).
fn collect(reader: &mpsc::Receiver<String>, deadline: Instant, pid: u32) -> Option<String> {
    let left = deadline.saturating_duration_since(Instant::now());
    reader.recv_timeout(left).ok().or_else(|| {
        kill_group(pid);
        reader.recv_timeout(KILL_GRACE).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.code, Some(3));
        let err = out.check().unwrap_err().to_string();
        assert!(err.contains("exit status 3"), "{err}");
        assert!(err.contains("err"), "{err}");
    }

    #[test]
    fn command_lines_are_shown_without_passwords() {
        let mut cmd = Command::new("python");
        cmd.args(["-m", "pip", "install", "--find-links"])
            .arg("https://ci:s3cr3t@wheels.example.com/")
            .arg("two words");
        assert_eq!(
            display_command(&cmd),
            "python -m pip install --find-links https://ci:***@wheels.example.com/ 'two words'"
        );
    }

    #[test]
    fn an_inline_script_is_named_not_printed() {
        let mut cmd = Command::new("/nonexistent/python");
        cmd.args(["-c", "import json\nprint(json.dumps({}))\n"]);
        assert_eq!(display_command(&cmd), "/nonexistent/python -c <script>");
        // A one-line `-c` stays readable.
        let mut one = Command::new("sh");
        one.args(["-c", "exit 1"]);
        assert_eq!(display_command(&one), "sh -c 'exit 1'");
        let err = run(&mut cmd, Duration::from_secs(5))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("-c <script>") && !err.contains("json.dumps"),
            "{err}"
        );
    }

    #[test]
    fn kills_a_hung_command() {
        let start = Instant::now();
        let err = run(
            Command::new("sh").args(["-c", "sleep 30"]),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(err, ProcessError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_left_holding_the_output_does_not_outlive_the_timeout() {
        let start = Instant::now();
        let out = run(
            Command::new("sh").args(["-c", "sleep 30 & echo out"]),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.code, Some(0));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run(
            &mut Command::new("/nonexistent/wheelwright-test"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, ProcessError::Spawn { .. }));
    }
}
