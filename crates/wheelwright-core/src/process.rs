//! The one wrapper every subprocess goes through.
//!
//! It keeps the command line, the exit status or signal and the tail of
//! stdout/stderr, so an error says exactly what ran and how it ended, and it
//! enforces a timeout so a hung tool (a stuck `nvidia-smi`) never hangs us.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use wait_timeout::ChildExt;

/// Lines of output kept in an error message.
const TAIL_LINES: usize = 20;

/// Why a command could not give us its output.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed ({status}){tail}")]
    Failed {
        command: String,
        status: String,
        tail: String,
    },
    #[error("waiting for `{command}` failed: {source}")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub command: String,
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
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

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
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

/// A command line as a user would type it, for messages.
pub fn display_command(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
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
/// failing to start and running past `timeout` are.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, ProcessError> {
    let command = display_command(cmd);
    let start = Instant::now();
    // Its own process group, so a timeout kills the whole tree (a shell script's
    // children too), not only the direct child.
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
    let out_reader = spawn_reader(child.stdout.take());
    let err_reader = spawn_reader(child.stderr.take());
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(child.id());
            let _ = child.wait();
            return Err(ProcessError::Timeout { command, timeout });
        }
        Err(source) => return Err(ProcessError::Wait { command, source }),
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    Ok(Output {
        command,
        code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
        elapsed: start.elapsed(),
    })
}

/// Run a program by name or path with arguments; see [`run`].
pub fn run_program<I, S>(program: &Path, args: I, timeout: Duration) -> Result<Output, ProcessError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cmd = Command::new(program);
    cmd.args(args.into_iter().map(Into::into));
    run(&mut cmd, timeout)
}

/// SIGKILL the process group led by `pid`.
pub fn kill_group(pid: u32) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

fn spawn_reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
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
    fn missing_program_is_a_spawn_error() {
        let err = run_program(
            Path::new("/nonexistent/wheelwright-test"),
            ["x"],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, ProcessError::Spawn { .. }));
    }
}
