//! Files a test lays out: plain files under a root and executables (fake
//! tools, fake interpreters). Shared, by `#[path]`, by the library's unit
//! tests (`src/test_support.rs`), the binary's tests (`tests/common/`) and
//! the fake Actions runner (`tests/fake_runner/`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Write `text` to `root/rel`, creating its directories.
pub fn write_file(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Write `script` to `path` (creating its directory) and make it executable.
pub fn write_executable(path: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}
