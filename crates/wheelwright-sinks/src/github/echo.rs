//! Echoing untrusted text on a runner: [`SafeEcho`] fences log lines between
//! `::stop-commands::TOKEN` and `::TOKEN::`, and can keep the open fence's
//! token in a private file ([`SafeEcho::recorded`]) for the supervisor to end
//! the fence when this process is killed before it can
//! ([`wheelwright_process::supervisor`]); [`write_untrusted`] writes a block of text for
//! people, fenced on a runner.

use std::io::{self, Write};
use std::path::Path;

use super::{random_token, redact_secrets};

/// Whether `haystack` holds `needle` in any ASCII letter case.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The token of the open output fence, kept in a private temp file (removed
/// with it), so that the supervisor can end the fence if this process is
/// killed before it can. A build that reads it learns nothing useful:
/// [`SafeEcho`] switches tokens before echoing any line that holds the
/// current one.
#[derive(Debug)]
struct FenceRecord {
    file: tempfile::NamedTempFile,
}

impl FenceRecord {
    /// A new file holding `token`; `None` where no temp file can be made.
    fn new(token: &str) -> Option<Self> {
        let file = tempfile::Builder::new()
            .prefix("wheelwright-fence-")
            .tempfile()
            .ok()?;
        let record = FenceRecord { file };
        record.keep(token);
        Some(record)
    }

    /// Keep `token` in the file, in place of the one before.
    fn keep(&self, token: &str) {
        use std::os::unix::fs::FileExt;
        let f = self.file.as_file();
        let _ = f
            .set_len(0)
            .and_then(|()| f.write_all_at(token.as_bytes(), 0));
    }
}

/// Echoes untrusted log lines so that none can act as a workflow command: the
/// lines go between `::stop-commands::TOKEN` and `::TOKEN::`, the token is
/// random, and a line that contains the token in any letter case (which would
/// end the stop) makes the echo switch to a fresh one first. Tokens in lines
/// are masked.
///
/// Dropping it without [`SafeEcho::finish`] still resumes commands (best
/// effort, errors ignored).
#[derive(Debug)]
pub struct SafeEcho<W: Write> {
    out: Option<W>,
    token: String,
    record: Option<FenceRecord>,
}

impl<W: Write> SafeEcho<W> {
    /// Start echoing to `out` (writes `::stop-commands::TOKEN`).
    pub fn new(mut out: W) -> io::Result<SafeEcho<W>> {
        let token = random_token();
        writeln!(out, "::stop-commands::{token}")?;
        Ok(SafeEcho {
            out: Some(out),
            token,
            record: None,
        })
    }

    /// Also keep the open fence's token in a private temp file, for a
    /// supervisor to end the fence ([`SafeEcho::fence_file`]); the file goes
    /// when the echo finishes. Where no temp file can be made, there is none.
    pub fn recorded(mut self) -> Self {
        self.record = FenceRecord::new(&self.token);
        self
    }

    /// The file that holds the open fence's token, if [`SafeEcho::recorded`]
    /// made one.
    pub fn fence_file(&self) -> Option<&Path> {
        self.record.as_ref().map(|r| r.file.path())
    }

    /// The current token (tests; never print it elsewhere).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Echo one line.
    pub fn echo(&mut self, line: &str) -> io::Result<()> {
        let line = redact_secrets(line);
        while contains_ignore_ascii_case(&line, &self.token) {
            self.rotate()?;
        }
        let out = self.out.as_mut().expect("present until finish");
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    }

    /// End the stop with a fresh token: nothing untrusted is written between
    /// the resume and the new stop.
    fn rotate(&mut self) -> io::Result<()> {
        let next = random_token();
        let out = self.out.as_mut().expect("present until finish");
        writeln!(out, "::{}::", self.token)?;
        writeln!(out, "::stop-commands::{next}")?;
        self.token = next;
        if let Some(r) = &self.record {
            r.keep(&self.token);
        }
        Ok(())
    }

    /// Resume commands (writes `::TOKEN::`) and give the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        let mut out = self.out.take().expect("present until finish");
        writeln!(out, "::{}::", self.token)?;
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Drop for SafeEcho<W> {
    fn drop(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = writeln!(out, "::{}::", self.token);
            let _ = out.flush();
        }
    }
}

/// Write `text` for people to `out`, secrets masked; `fenced` (on a runner:
/// it may quote a tool's or a build's output), between `::stop-commands::`
/// and its end, so no line of it can act as a workflow command.
pub fn write_untrusted(out: &mut impl Write, text: &str, fenced: bool) -> io::Result<()> {
    if fenced {
        let mut echo = SafeEcho::new(&mut *out)?;
        text.lines().try_for_each(|line| echo.echo(line))?;
        echo.finish().map(drop)
    } else {
        // (The fence masks each line it echoes.)
        out.write_all(redact_secrets(text).as_bytes())?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_follows_the_token_and_goes_with_the_fence() {
        let mut echo = SafeEcho::new(Vec::new()).unwrap().recorded();
        let file = echo.fence_file().expect("a temp dir").to_path_buf();
        let read = || wheelwright_process::supervisor::read_fence_token(&file);
        assert_eq!(read().as_deref(), Some(echo.token()));
        let first = echo.token().to_string();
        echo.echo(&format!("a line that holds {first}")).unwrap();
        assert_ne!(echo.token(), first, "the token switched");
        assert_eq!(
            read().as_deref(),
            Some(echo.token()),
            "and the file with it"
        );
        let out = String::from_utf8(echo.finish().unwrap()).unwrap();
        assert!(!file.exists(), "the record goes when the fence ends");
        assert!(out.ends_with("::\n"), "{out}");
    }

    #[test]
    fn untrusted_text_is_fenced_on_a_runner_and_masked_anywhere() {
        let mut fenced = Vec::new();
        write_untrusted(&mut fenced, "::error::hostile\nsecond\n", true).unwrap();
        let fenced = String::from_utf8(fenced).unwrap();
        let lines: Vec<&str> = fenced.lines().collect();
        assert!(lines[0].starts_with("::stop-commands::"), "{fenced}");
        assert_eq!(&lines[1..3], ["::error::hostile", "second"]);
        assert_eq!(lines.len(), 4, "{fenced}");
        let mut plain = Vec::new();
        write_untrusted(&mut plain, "two\nlines\n", false).unwrap();
        assert_eq!(plain, b"two\nlines\n");
    }
}
