//! Small files that came from elsewhere (a `report.json` from a CI
//! artifact, a downloaded one), read within bounds.
//!
//! [`read_small_file`] opens without blocking (`O_NONBLOCK`: a FIFO does not
//! wait for a writer), checks the type of what it opened before reading a
//! byte (`/dev/zero`, a FIFO, a directory are refused at once), then its
//! size against the caller's cap, and reads at most the cap, so memory is
//! bounded by the cap even for a file that grows while it is read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::units::format_bytes;

/// Why a small file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SmallFileError {
    /// Not a regular file: a device, a FIFO, a socket, a directory.
    #[error("not a regular file ({kind})")]
    NotRegular {
        /// What it is instead.
        kind: &'static str,
    },
    /// Larger than the cap.
    #[error("larger than {} ({size} bytes)", format_bytes(*.max))]
    TooLarge {
        /// Its size (at least this: it may have grown while it was read).
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotText,
    /// The file system refused.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The text of the regular file `path` (symlinks followed), of at most
/// `max` bytes.
pub fn read_small_file(path: &Path, max: u64) -> Result<String, SmallFileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    read_small(file, max)
}

/// As [`read_small_file`], but a symlink at `path` is not followed: it is
/// an error (`ELOOP`), for files wheelwright wrote itself in a shared
/// directory, where a link can only have been planted.
pub fn read_own_small_file(path: &Path, max: u64) -> Result<String, SmallFileError> {
    use nix::fcntl::OFlag;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits())
        .open(path)?;
    read_small(file, max)
}

fn read_small(file: File, max: u64) -> Result<String, SmallFileError> {
    let meta = file.metadata()?;
    let t = meta.file_type();
    let kind = if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    };
    if let Some(kind) = kind {
        return Err(SmallFileError::NotRegular { kind });
    }
    if meta.len() > max {
        return Err(SmallFileError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        // It grew while it was read.
        return Err(SmallFileError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    String::from_utf8(bytes).map_err(|_| SmallFileError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_before_a_read() {
        let e = read_small_file(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                SmallFileError::NotRegular {
                    kind: "a character device"
                }
            ),
            "{e}"
        );
        assert_eq!(e.to_string(), "not a regular file (a character device)");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // No writer: a blocking open would wait for ever.
        let e = read_small_file(&fifo, 1 << 20).unwrap_err();
        assert!(
            matches!(e, SmallFileError::NotRegular { kind: "a FIFO" }),
            "{e}"
        );
        let e = read_small_file(dir.path(), 1 << 20).unwrap_err();
        assert!(matches!(e, SmallFileError::NotRegular { .. }), "{e}");
    }

    #[test]
    fn an_own_file_is_not_read_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_small_file(&link, 10).unwrap(), "x");
        let e = read_own_small_file(&link, 10).unwrap_err();
        assert!(
            matches!(&e, SmallFileError::Io(io) if io.raw_os_error() == Some(nix::libc::ELOOP)),
            "{e}"
        );
        assert_eq!(read_own_small_file(&target, 10).unwrap(), "x");
    }

    #[test]
    fn the_cap_is_checked_from_the_size_and_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(3 << 20)
            .unwrap();
        let e = read_small_file(&big, 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "larger than 1 MiB (3145728 bytes)");
        let small = dir.path().join("small");
        std::fs::write(&small, "{}\n").unwrap();
        assert_eq!(read_small_file(&small, 3).unwrap(), "{}\n");
        assert!(matches!(
            read_small_file(&small, 2).unwrap_err(),
            SmallFileError::TooLarge { size: 3, max: 2 }
        ));
        std::fs::write(&small, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_small_file(&small, 10).unwrap_err(),
            SmallFileError::NotText
        ));
    }
}
