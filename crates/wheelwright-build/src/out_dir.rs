//! The out dir holds only what this build produced.
//!
//! A failed build once left three wheels from earlier runs in `--out`, and a
//! workflow that uploads that folder with `if: always()` published them. So a
//! build starts by moving every wheel already in the out dir into
//! `OUT/.stale-<UTC timestamp>/` (never deleting anything) and says so in an
//! event and a finding of the report.

use std::io;
use std::path::{Path, PathBuf};

use wheelwright_base::finding::{Finding, Severity};

/// Wheels of earlier runs that were moved out of the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaleWheels {
    /// The folder they were moved into (`OUT/.stale-20261202T060109Z`).
    pub dir: PathBuf,
    /// Their file names, sorted.
    pub names: Vec<String>,
}

impl StaleWheels {
    /// The one-line note a console shows.
    pub(crate) fn note(&self) -> String {
        format!(
            "moved {} wheel(s) of earlier runs out of the out dir into {}: {}",
            self.names.len(),
            self.dir.display(),
            self.names.join(", ")
        )
    }

    /// The report's record of the move.
    pub(crate) fn finding(&self) -> Finding {
        Finding::new(
            "stale-wheels-moved",
            Severity::Notice,
            "Wheels of earlier runs were moved out of the out dir",
            self.note(),
            format!(
                "Only the wheel this build produces is in the out dir; the older ones are kept in {} (delete it when you no longer need them).",
                self.dir.display()
            ),
        )
    }
}

/// Move every `*.whl` directly in `out_dir` (files and symlinks alike; the
/// link itself moves, never its target) into a new `.stale-<stamp>` folder
/// there. `stamp` names the folder (a UTC timestamp); a folder of that name
/// that already exists is never reused (`-2`, `-3`, ... are tried). Returns
/// `None` when there was nothing to move.
pub(crate) fn set_aside_stale_wheels(
    out_dir: &Path,
    stamp: &str,
) -> io::Result<Option<StaleWheels>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(out_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let kind = entry.file_type()?;
        if name.ends_with(".whl") && (kind.is_file() || kind.is_symlink()) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    names.sort();
    let dir = create_unique_dir(out_dir, &format!(".stale-{stamp}"))?;
    for name in &names {
        std::fs::rename(out_dir.join(name), dir.join(name))?;
    }
    Ok(Some(StaleWheels { dir, names }))
}

/// Now as a compact UTC stamp for a folder name, `20261202T060109Z`.
pub(crate) fn utc_stamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Create `parent/base` (or `base-2`, `base-3`, ...), never an existing one.
fn create_unique_dir(parent: &Path, base: &str) -> io::Result<PathBuf> {
    for n in 1..1000 {
        let dir = if n == 1 {
            parent.join(base)
        } else {
            parent.join(format!("{base}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "no free name for {base} in {}",
        parent.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_are_moved_aside_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for n in ["a-1.0-py3-none-any.whl", "b-2.0-py3-none-any.whl"] {
            std::fs::write(out.join(n), n).unwrap();
        }
        std::fs::write(out.join("build.log"), "old log").unwrap();
        std::fs::create_dir(out.join("sub")).unwrap();
        std::fs::write(out.join("sub/c-1.0-py3-none-any.whl"), "c").unwrap();
        // A symlink to a wheel elsewhere moves as a link; its target stays.
        let elsewhere = dir.path().join("sub/c-1.0-py3-none-any.whl");
        std::os::unix::fs::symlink(&elsewhere, out.join("link-1.0-py3-none-any.whl")).unwrap();

        let moved = set_aside_stale_wheels(out, "20260101T000000Z")
            .unwrap()
            .expect("three wheels to move");
        assert_eq!(moved.dir, out.join(".stale-20260101T000000Z"));
        assert_eq!(
            moved.names,
            [
                "a-1.0-py3-none-any.whl",
                "b-2.0-py3-none-any.whl",
                "link-1.0-py3-none-any.whl"
            ]
        );
        assert_eq!(
            std::fs::read_to_string(moved.dir.join("a-1.0-py3-none-any.whl")).unwrap(),
            "a-1.0-py3-none-any.whl"
        );
        assert!(
            std::fs::symlink_metadata(moved.dir.join("link-1.0-py3-none-any.whl"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(elsewhere.exists());
        assert!(!out.join("a-1.0-py3-none-any.whl").exists());
        assert_eq!(
            std::fs::read_to_string(out.join("build.log")).unwrap(),
            "old log"
        );
        assert!(moved.note().contains("moved 3 wheel(s)"));
        assert_eq!(moved.finding().id, "stale-wheels-moved");

        // Same stamp again: a new folder, the first one untouched.
        std::fs::write(out.join("d-1.0-py3-none-any.whl"), "d").unwrap();
        let again = set_aside_stale_wheels(out, "20260101T000000Z")
            .unwrap()
            .unwrap();
        assert_eq!(again.dir, out.join(".stale-20260101T000000Z-2"));
        assert_eq!(again.names, ["d-1.0-py3-none-any.whl"]);
        assert!(moved.dir.join("b-2.0-py3-none-any.whl").exists());
    }

    #[test]
    fn an_out_dir_without_wheels_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.json"), "{}").unwrap();
        assert_eq!(set_aside_stale_wheels(dir.path(), "x").unwrap(), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_stamp_is_compact_utc() {
        let s = utc_stamp();
        assert_eq!(s.len(), 16, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[8] == b'T', "{s}");
    }
}
