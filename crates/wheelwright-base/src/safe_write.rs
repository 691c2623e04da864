//! Files wheelwright creates, never written through a symlink.
//!
//! The out and work dirs may be shared or planted (a CI cache, a workspace
//! another step wrote): a `build.log` or `report.json.tmp` there that is a
//! symlink to another file must not make a build overwrite that file.
//!
//! - [`create_fresh`]: the entry at the path (a symlink, a hard link, an
//!   earlier file) is unlinked, never followed, and a new file is created
//!   exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`): if something is planted again
//!   in between, creation fails instead of following it.
//! - [`write_atomically`] and [`copy_atomically`]: the content goes to a
//!   temp file with a unique name, created exclusively in the same directory,
//!   is synced to disk, and is renamed over the path; a rename replaces a
//!   symlink itself, not its target, and a reader never sees half a file.
//!   `wheelwright-publish` writes its wheelhouse and index files with them.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Create `path` as a new, empty file for writing (mode 0644 less the
/// umask), replacing whatever entry was there without following it. A
/// directory at `path` is an error.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a directory", path.display()),
            ))
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
}

/// Write `bytes` to `path` atomically: a uniquely named temp file in the
/// same directory, created exclusively, synced, then renamed over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, |file| file.write_all(bytes))
}

/// Copy the file `from` to `path` atomically, as [`write_atomically`].
pub fn copy_atomically(from: &Path, path: &Path) -> io::Result<()> {
    let mut source = File::open(from)?;
    replace_with(path, |file| io::copy(&mut source, file).map(|_| ()))
}

fn replace_with(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Regression (issue 16, defect 2): a planted symlink was written through.
    #[test]
    fn never_writes_through_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let log = dir.path().join("build.log");
        symlink(&victim, &log).unwrap();
        let mut f = create_fresh(&log).unwrap();
        f.write_all(b"log\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!std::fs::symlink_metadata(&log).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "log\n");

        let report = dir.path().join("report.json");
        symlink(&victim, &report).unwrap();
        symlink(&victim, dir.path().join("report.json.tmp")).unwrap();
        write_atomically(&report, b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "{}\n");
        assert!(!std::fs::symlink_metadata(&report).unwrap().is_symlink());

        let wheel = dir.path().join("x-1.0-py3-none-any.whl");
        symlink(&victim, &wheel).unwrap();
        let built = dir.path().join("built.whl");
        std::fs::write(&built, "PK").unwrap();
        copy_atomically(&built, &wheel).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read_to_string(&wheel).unwrap(), "PK");
        // No temp file left behind; a hard link's other name is untouched too.
        let linked = dir.path().join("linked");
        std::fs::hard_link(&victim, &linked).unwrap();
        create_fresh(&linked).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let temps: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .filter(|e| !e.file_type().unwrap().is_symlink())
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
        // A directory is refused, not removed.
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert!(create_fresh(&dir.path().join("d")).is_err());
    }
}
