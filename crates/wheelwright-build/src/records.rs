//! `build.log` kept through faults.
//!
//! The log is written through [`LogFile`], which masks secrets on the way in
//! ([`MaskingWriter`]), and which remembers the first write
//! error (a full disk, a file-size limit: `ENOSPC`, `EFBIG`) and how much was
//! lost after it, so the report can say the log is incomplete instead of the
//! loss going unnoticed; and which puts the log back when the out dir (or the
//! log) was removed while the build ran ([`LogFile::restore`]): the open file
//! still holds everything written, so it is copied, through
//! `/proc/self/fd`, into a new `build.log` that the rest of the build
//! appends to.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use wheelwright_base::finding::{Finding, Severity};
use wheelwright_base::masking_writer::MaskingWriter;
use wheelwright_base::secrets::SecretSet;

type Masked = MaskingWriter<'static, BufWriter<File>>;

/// Finding: `build.log` could not be written to its end.
pub const LOG_INCOMPLETE: &str = "log-incomplete";
/// Finding: the out dir was removed during the build, and made again.
pub const OUT_DIR_REMOVED: &str = "out-dir-removed";

/// `build.log`, open for the whole build.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    /// Taken only while [`LogFile::restore`] swaps files.
    out: Option<Masked>,
    secrets: &'static SecretSet,
    /// Bytes handed to the log, written or not.
    offered: u64,
    /// The first write error, and the bytes offered before it.
    failed: Option<(io::Error, u64)>,
}

impl LogFile {
    /// Create `path` (never through a planted symlink),
    /// masking `secrets`.
    pub fn create(path: &Path, secrets: &'static SecretSet) -> io::Result<LogFile> {
        Ok(LogFile {
            path: path.to_path_buf(),
            out: Some(Self::masked(
                wheelwright_base::safe_write::create_fresh(path)?,
                secrets,
            )),
            secrets,
            offered: 0,
            failed: None,
        })
    }

    fn masked(file: File, secrets: &'static SecretSet) -> Masked {
        MaskingWriter::new(BufWriter::new(file), secrets)
    }

    fn out(&mut self) -> &mut Masked {
        self.out.as_mut().expect("present outside restore")
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// If the log (or its whole dir) is gone from its path, make the dir
    /// again and copy what the open file holds into a new log there, which
    /// later lines go to. `Ok(false)`: it was in place.
    pub fn restore(&mut self) -> io::Result<bool> {
        if std::fs::symlink_metadata(&self.path).is_ok() {
            return Ok(false);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut new = wheelwright_base::safe_write::create_fresh(&self.path)?;
        // The removed file lives on while it is open: read it through our
        // descriptor, after what is held back (an unfinished line) went in.
        let fd = self.out().get_ref().get_ref().as_raw_fd();
        let mut old = File::open(format!("/proc/self/fd/{fd}"))?;
        let finished = self.out.take().map(MaskingWriter::finish);
        let copied = io::copy(&mut old, &mut new);
        self.out = Some(Self::masked(new, self.secrets));
        finished.transpose()?;
        copied?;
        Ok(true)
    }

    /// A warning finding when some of the log could not be written.
    pub fn problem(&self) -> Option<Finding> {
        let (error, written) = self.failed.as_ref()?;
        Some(Finding::new(
            LOG_INCOMPLETE,
            Severity::Warning,
            "build.log is incomplete",
            format!(
                "writing {} failed after {written} bytes ({error}); the {} bytes after that are not in it (the console showed them).",
                self.path.display(),
                self.offered - written
            ),
            "Free space where --out is (or raise the file-size limit, `ulimit -f`) and rebuild: the build dir keeps what was compiled.",
        ))
    }

    fn fail(&mut self, error: io::Error, before: u64) -> io::Error {
        let copy = io::Error::new(error.kind(), error.to_string());
        self.failed.get_or_insert((error, before));
        copy
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let before = self.offered;
        self.offered += buf.len() as u64;
        if let Some((e, _)) = &self.failed {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        // Whole buffers: what failed is counted as lost, not retried in parts.
        match self.out().write_all(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => Err(self.fail(e, before)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.failed.is_some() {
            return Ok(());
        }
        let before = self.offered;
        let flushed = self.out().flush();
        flushed.map_err(|e| self.fail(e, before))
    }
}

/// A warning finding for an out dir that had to be made again.
pub fn out_dir_removed(out_dir: &Path) -> Finding {
    Finding::new(
        OUT_DIR_REMOVED,
        Severity::Warning,
        "The out dir was removed during the build",
        format!(
            "{} disappeared while the build ran; wheelwright made it again and put build.log back from its open file (report.json and the wheel are written after).",
            out_dir.display()
        ),
        "Keep the out dir while a build runs: look for a clean-up step or another build using the same --out.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_log_is_put_back_with_everything_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let secrets = wheelwright_base::secrets::installed();
        let mut log = LogFile::create(&out.join("build.log"), secrets).unwrap();
        writeln!(log, "line 1").unwrap();
        assert!(!log.restore().unwrap());
        std::fs::remove_dir_all(&out).unwrap();
        writeln!(log, "line 2").unwrap();
        assert!(log.restore().unwrap());
        writeln!(log, "line 3").unwrap();
        log.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("build.log")).unwrap(),
            "line 1\nline 2\nline 3\n"
        );
        assert!(log.problem().is_none());
    }

    /// `/dev/full` fails every write with ENOSPC, as a full disk does.
    #[test]
    fn a_full_disk_is_remembered_not_lost() {
        let full = File::options().write(true).open("/dev/full").unwrap();
        let secrets = wheelwright_base::secrets::installed();
        let mut log = LogFile {
            path: "/dev/full".into(),
            out: Some(MaskingWriter::new(
                BufWriter::with_capacity(16, full),
                secrets,
            )),
            secrets,
            offered: 0,
            failed: None,
        };
        assert!(log.write_all(b"0123456789abcdef0123456789\n").is_err());
        assert!(log.write_all(b"more\n").is_err());
        let _ = log.flush();
        let f = log.problem().expect("a finding");
        assert_eq!(f.id, LOG_INCOMPLETE);
        assert!(
            f.message.contains("No space left on device"),
            "{}",
            f.message
        );
        assert!(f.message.contains("failed after 0 bytes"), "{}", f.message);
        assert!(f.message.contains("the 32 bytes after"), "{}", f.message);
    }
}
