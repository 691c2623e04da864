//! A wheelhouse: a folder holding the wheels themselves, each with its PEP 658
//! `NAME.whl.metadata` beside it, and the static index (see [`crate::index`])
//! over them, so that `python -m http.server` or any static host serves a
//! complete index.

use std::path::{Path, PathBuf};

use wheelwright_base::safe_write::{copy_atomically, write_atomically};
use wheelwright_job::publish::PublishStatus;

use crate::atomic::ensure_dir;
use crate::wheel_file::WheelFile;
use crate::PublishError;

/// What adding one wheel to the wheelhouse did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// Copied (`Uploaded`), already there with the same sha256 (`Skipped`),
    /// or refused (`Failed`: another file of that name is there).
    pub status: PublishStatus,
    /// The wheel's path in the wheelhouse.
    pub dest: PathBuf,
    /// Why it was skipped or refused.
    pub message: Option<String>,
}

/// Copy `wheel` into `dir` (its source is only read) and write its
/// `.metadata` file. A file of the same name with the same sha256 is kept; one
/// with other bytes is refused unless `clobber`; a symlink in its place is
/// always refused.
pub fn add_wheel(dir: &Path, wheel: &WheelFile, clobber: bool) -> Result<Added, PublishError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PublishError::Io { path, source }
    };
    ensure_dir(dir, Path::new("")).map_err(io(dir))?;
    let dest = dir.join(&wheel.file_name);
    let metadata_dest = dir.join(format!("{}.metadata", wheel.file_name));
    let (status, message) = match std::fs::symlink_metadata(&dest) {
        Ok(m) if m.file_type().is_symlink() || !m.is_file() => {
            return Ok(Added {
                status: PublishStatus::Failed,
                dest: dest.clone(),
                message: Some(format!(
                    "{} exists and is not a regular file; refusing to replace it",
                    dest.display()
                )),
            })
        }
        Ok(_) => {
            let there = wheelwright_base::digest::sha256_file(&dest).map_err(io(&dest))?;
            if there == wheel.sha256 {
                (
                    PublishStatus::Skipped,
                    Some("already in the wheelhouse with the same sha256".to_string()),
                )
            } else if clobber {
                copy_atomically(&wheel.path, &dest).map_err(io(&dest))?;
                (
                    PublishStatus::Uploaded,
                    Some(format!("replaced a file with sha256 {there}")),
                )
            } else {
                return Ok(Added {
                    status: PublishStatus::Failed,
                    dest,
                    message: Some(format!(
                        "the wheelhouse already holds {} with sha256 {there}, this file has {}; pass --clobber to replace it",
                        wheel.file_name, wheel.sha256
                    )),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            copy_atomically(&wheel.path, &dest).map_err(io(&dest))?;
            (PublishStatus::Uploaded, None)
        }
        Err(e) => return Err(io(&dest)(e)),
    };
    write_atomically(&metadata_dest, &wheel.metadata_bytes).map_err(io(&metadata_dest))?;
    Ok(Added {
        status,
        dest,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wheel::write_wheel;

    #[test]
    fn copies_once_and_refuses_other_bytes() {
        let src = tempfile::tempdir().unwrap();
        let house = tempfile::tempdir().unwrap();
        let path = write_wheel(src.path(), "tiny", "1.0+a", ">=3.8");
        let before = std::fs::read(&path).unwrap();
        let w = WheelFile::read(&path).unwrap();
        let added = add_wheel(house.path(), &w, false).unwrap();
        assert_eq!(added.status, PublishStatus::Uploaded);
        assert_eq!(std::fs::read(&added.dest).unwrap(), before);
        assert_eq!(
            std::fs::read(house.path().join(format!("{}.metadata", w.file_name))).unwrap(),
            w.metadata_bytes
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "source untouched");

        assert_eq!(
            add_wheel(house.path(), &w, false).unwrap().status,
            PublishStatus::Skipped
        );

        std::fs::write(&added.dest, "other bytes").unwrap();
        let refused = add_wheel(house.path(), &w, false).unwrap();
        assert_eq!(refused.status, PublishStatus::Failed);
        assert!(refused.message.unwrap().contains("--clobber"));
        assert_eq!(std::fs::read_to_string(&added.dest).unwrap(), "other bytes");
        let replaced = add_wheel(house.path(), &w, true).unwrap();
        assert_eq!(replaced.status, PublishStatus::Uploaded);
        assert_eq!(std::fs::read(&added.dest).unwrap(), before);
    }

    #[test]
    fn a_symlink_in_the_wheels_place_is_refused() {
        let src = tempfile::tempdir().unwrap();
        let house = tempfile::tempdir().unwrap();
        let w = WheelFile::read(&write_wheel(src.path(), "tiny", "1.0", ">=3.8")).unwrap();
        let victim = src.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, house.path().join(&w.file_name)).unwrap();
        let r = add_wheel(house.path(), &w, true).unwrap();
        assert_eq!(r.status, PublishStatus::Failed);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
