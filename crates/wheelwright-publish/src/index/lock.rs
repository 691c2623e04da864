//! One writer at a time per index folder. Several publishes may write one
//! wheelhouse at once (the matrix's cells do); each reads the manifest,
//! adds its rows and writes it back, so without a lock the last writer
//! drops the others' rows. [`IndexLock`] is an exclusive `flock` on
//! `DIR/.wheelwright-index.lock`, held from before the manifest is read
//! until after it is written; the kernel releases it when its holder exits,
//! however it exits, so a lock is never left stale.
//!
//! The lock file is opened with `O_NOFOLLOW` (a planted symlink is refused,
//! never followed) and `O_NONBLOCK` (a planted pipe is refused, never waited
//! on), and must be a regular file.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg, OFlag};

use crate::atomic::ensure_dir;
use crate::PublishError;

/// The lock file's name inside the index folder.
pub const LOCK_NAME: &str = ".wheelwright-index.lock";

/// How long [`IndexLock::acquire`] waits for another publish (one holds it
/// for seconds: copying its wheels and rewriting the pages).
pub const LOCK_WAIT: Duration = Duration::from_secs(600);

/// The exclusive lock on an index folder, held until dropped.
#[derive(Debug)]
pub struct IndexLock {
    _held: Flock<File>,
    dir: PathBuf,
}

impl IndexLock {
    /// Lock `dir` (created when missing), waiting up to [`LOCK_WAIT`] while
    /// another publish holds it.
    pub fn acquire(dir: &Path) -> Result<IndexLock, PublishError> {
        Self::acquire_within(dir, LOCK_WAIT)
    }

    /// Lock `dir`, waiting up to `wait`.
    pub fn acquire_within(dir: &Path, wait: Duration) -> Result<IndexLock, PublishError> {
        let path = dir.join(LOCK_NAME);
        let io = |source| PublishError::Io {
            path: path.clone(),
            source,
        };
        ensure_dir(dir, Path::new("")).map_err(|source| PublishError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
            .open(&path)
            .map_err(io)?;
        if !file.metadata().map_err(io)?.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        let start = Instant::now();
        let mut file = file;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(held) => {
                    return Ok(IndexLock {
                        _held: held,
                        dir: dir.to_path_buf(),
                    })
                }
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                    file = f;
                    // Spread the waiters out.
                    std::thread::sleep(Duration::from_millis(20 + fastrand::u64(0..60)));
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    return Err(PublishError::Locked {
                        path,
                        waited_seconds: start.elapsed().as_secs(),
                    })
                }
                Err((_, e)) => return Err(io(e.into())),
            }
        }
    }

    /// The folder it locks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_then_gives_up_naming_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = IndexLock::acquire(dir.path()).unwrap();
        let e = IndexLock::acquire_within(dir.path(), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, PublishError::Locked { .. }), "{e}");
        assert!(e.to_string().contains(LOCK_NAME), "{e}");
        drop(held);
        IndexLock::acquire_within(dir.path(), Duration::from_millis(200)).unwrap();
    }

    #[test]
    fn a_planted_symlink_or_pipe_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        let site = dir.path().join("site");
        std::fs::create_dir(&site).unwrap();
        std::os::unix::fs::symlink(&victim, site.join(LOCK_NAME)).unwrap();
        assert!(IndexLock::acquire(&site).is_err());
        assert!(!victim.exists(), "the symlink was followed");

        let pipe_site = dir.path().join("pipe");
        std::fs::create_dir(&pipe_site).unwrap();
        nix::unistd::mkfifo(
            &pipe_site.join(LOCK_NAME),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        assert!(IndexLock::acquire(&pipe_site).is_err());
    }
}
