//! A stable sha256 of a source tree, for `report.json`'s `source_sha256`
//! when the source was a directory rather than an sdist: the same files with
//! the same contents give the same hash on any machine, whatever the order
//! the file system lists them in, their timestamps or the tree's location.
//!
//! What is hashed, in order of the files' relative paths (`/`-separated, byte
//! order): for each regular file `F` or `X` (executable), its path, a NUL,
//! its length in decimal, a NUL, then its bytes; for each symlink `L`, its
//! path, a NUL, its target, a NUL (never followed). Directories themselves
//! add nothing (an empty one does not change the hash).
//!
//! Left out, because they are not source: version-control metadata (`.git`,
//! `.hg`, `.svn`, at any depth: a submodule's `.git` file too), Python and
//! tool caches (`__pycache__`, `*.egg-info`, `.eggs`, `.tox`, `.nox`, `.venv`,
//! `.wheelwright`), and at the tree's top the build outputs a `pip wheel` of
//! it writes (`build`, `dist`); plus any directory the caller names (the
//! job's work and out dirs when they lie inside the tree).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Directory names skipped at any depth.
const SKIPPED_ANYWHERE: [&str; 10] = [
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".eggs",
    ".tox",
    ".nox",
    ".venv",
    ".wheelwright",
    ".mypy_cache",
];
/// Directory names skipped at the top of the tree (a build's outputs).
const SKIPPED_AT_TOP: [&str; 2] = ["build", "dist"];

/// The sha256 (lower-case hex) of the tree at `root`, leaving out the
/// directories in `exclude` (absolute or relative to the current directory;
/// ones outside the tree do nothing). See the module docs for what is hashed.
pub fn tree_sha256(root: &Path, exclude: &[PathBuf]) -> io::Result<String> {
    let root = std::fs::canonicalize(root)?;
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut files = Vec::new();
    collect(&root, &root, &exclude, &mut files)?;
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    for (rel, path) in &files {
        let meta = std::fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path)?;
            hasher.update(b"L");
            hasher.update(rel.as_bytes());
            hasher.update(b"\0");
            hasher.update(target.as_os_str().as_encoded_bytes());
            hasher.update(b"\0");
            continue;
        }
        hasher.update(if is_executable(&meta) { b"X" } else { b"F" });
        hasher.update(rel.as_bytes());
        hasher.update(format!("\0{}\0", meta.len()).as_bytes());
        let mut f = std::fs::File::open(path)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    Ok(wheelwright_base::digest::hex(&hasher.finalize()))
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// The files and symlinks under `dir`, as (relative path, path).
fn collect(
    root: &Path,
    dir: &Path,
    exclude: &[PathBuf],
    out: &mut Vec<(String, PathBuf)>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let at_top = dir == root;
            if SKIPPED_ANYWHERE.contains(&name.as_ref())
                || name.ends_with(".egg-info")
                || (at_top && SKIPPED_AT_TOP.contains(&name.as_ref()))
                || exclude.iter().any(|e| e == &path)
            {
                continue;
            }
            collect(root, &path, exclude, out)?;
        } else if kind.is_file() || kind.is_symlink() {
            // `.git` is a file in a submodule's checkout.
            if SKIPPED_ANYWHERE.contains(&name.as_ref()) {
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.push((rel, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::write_file;
    use std::os::unix::fs::PermissionsExt;

    fn tree(root: &Path) {
        write_file(root, "setup.py", "from setuptools import setup\nsetup()\n");
        write_file(root, "csrc/a.cu", "__global__ void a() {}\n");
        write_file(root, "csrc/b/b.cpp", "int b;\n");
    }

    #[test]
    fn same_files_same_hash_anywhere_and_every_change_shows() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(a.path());
        // Written in another order, in another place.
        write_file(b.path(), "csrc/b/b.cpp", "int b;\n");
        write_file(b.path(), "csrc/a.cu", "__global__ void a() {}\n");
        write_file(
            b.path(),
            "setup.py",
            "from setuptools import setup\nsetup()\n",
        );
        let h = tree_sha256(a.path(), &[]).unwrap();
        assert_eq!(h.len(), 64);
        assert_eq!(h, tree_sha256(b.path(), &[]).unwrap());

        // A changed byte, a renamed file, an added file, an executable bit.
        write_file(b.path(), "csrc/a.cu", "__global__ void a() { }\n");
        let changed = tree_sha256(b.path(), &[]).unwrap();
        assert_ne!(changed, h);
        write_file(b.path(), "csrc/a.cu", "__global__ void a() {}\n");
        assert_eq!(tree_sha256(b.path(), &[]).unwrap(), h);
        std::fs::rename(b.path().join("csrc/b/b.cpp"), b.path().join("csrc/b/c.cpp")).unwrap();
        assert_ne!(tree_sha256(b.path(), &[]).unwrap(), h);
        std::fs::rename(b.path().join("csrc/b/c.cpp"), b.path().join("csrc/b/b.cpp")).unwrap();
        write_file(b.path(), "csrc/new.h", "");
        assert_ne!(tree_sha256(b.path(), &[]).unwrap(), h);
        std::fs::remove_file(b.path().join("csrc/new.h")).unwrap();
        let setup = b.path().join("setup.py");
        std::fs::set_permissions(&setup, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(tree_sha256(b.path(), &[]).unwrap(), h);
        std::fs::set_permissions(&setup, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(tree_sha256(b.path(), &[]).unwrap(), h);
        // Content moving across a file boundary changes it too.
        write_file(b.path(), "csrc/b/b.cpp", "int b;\n__global__");
        write_file(b.path(), "csrc/a.cu", " void a() {}\n");
        assert_ne!(tree_sha256(b.path(), &[]).unwrap(), h);
    }

    #[test]
    fn build_outputs_vcs_and_named_dirs_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root);
        let h = tree_sha256(root, &[]).unwrap();
        write_file(root, ".git/HEAD", "ref: refs/heads/main\n");
        write_file(
            root,
            "csrc/cutlass/.git",
            "gitdir: ../../.git/modules/cutlass\n",
        );
        write_file(root, "build/temp.linux-x86_64-cpython-312/csrc/a.o", "obj");
        write_file(root, "dist/x-1.0.tar.gz", "sdist");
        write_file(root, "x.egg-info/PKG-INFO", "Name: x\n");
        write_file(root, "csrc/__pycache__/m.pyc", "pyc");
        write_file(root, "wheelhouse/report.json", "{}");
        let out = root.join("wheelhouse");
        assert_eq!(tree_sha256(root, &[out]).unwrap(), h);
        // `build` below the top is source (csrc/build/ is a real name).
        write_file(root, "csrc/build/k.cu", "");
        assert_ne!(tree_sha256(root, &[root.join("wheelhouse")]).unwrap(), h);
    }

    #[test]
    fn symlinks_are_hashed_as_links_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        tree(&root);
        let outside = dir.path().join("secret");
        std::fs::write(&outside, "one").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let h = tree_sha256(&root, &[]).unwrap();
        std::fs::write(&outside, "two").unwrap();
        assert_eq!(tree_sha256(&root, &[]).unwrap(), h);
    }
}
