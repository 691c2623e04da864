//! Writing into a published folder without ever leaving a half-written file
//! or writing through a symlink: each file is written by
//! [`wheelwright_base::safe_write`] (a temp file created exclusively,
//! which never follows a link, beside its destination, then renamed over it:
//! a rename replaces a link itself, not its target). Folders below the
//! published root are created one component at a time and refused when one
//! is a symlink or not a folder.

use std::io;
use std::path::{Component, Path, PathBuf};

/// `root/rel` as a real folder: every component below `root` is created when
/// missing and must not be a symlink (the caller's `root` itself is trusted).
pub fn ensure_dir(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    let mut dir = root.to_path_buf();
    std::fs::create_dir_all(root)?;
    for comp in rel.components() {
        let Component::Normal(part) = comp else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", rel.display()),
            ));
        };
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{} is a symlink; refusing to write through it",
                    dir.display()
                )))
            }
            Ok(m) if !m.is_dir() => {
                return Err(io::Error::other(format!(
                    "{} exists and is not a folder",
                    dir.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use wheelwright_base::safe_write::{copy_atomically, write_atomically};

    use super::*;

    #[test]
    fn writes_replace_a_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let dest = dir.path().join("index.html");
        std::os::unix::fs::symlink(&victim, &dest).unwrap();
        write_atomically(&dest, b"page").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "page");
        assert!(!std::fs::symlink_metadata(&dest)
            .unwrap()
            .file_type()
            .is_symlink());
        // No temp file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn folders_through_a_symlink_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("simple")).unwrap();
        let e = ensure_dir(&root, Path::new("simple/pkg")).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
        let made = ensure_dir(&root, Path::new("cu12/simple/pkg")).unwrap();
        assert!(made.is_dir());
        assert!(ensure_dir(&root, Path::new("../x")).is_err());
    }

    #[test]
    fn copies_leave_the_source_alone() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.whl");
        std::fs::write(&src, "wheel bytes").unwrap();
        let dest = dir.path().join("house/a.whl");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        copy_atomically(&src, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "wheel bytes");
        assert_eq!(std::fs::read_to_string(&src).unwrap(), "wheel bytes");
        assert!(copy_atomically(&dir.path().join("missing"), &dest).is_err());
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "wheel bytes");
    }
}
