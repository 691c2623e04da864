//! What lets two matrix cells share cache keys: cells that differ only in
//! the Python version compile the same kernels, but sccache 0.16 hashes
//! three things that differ between them (measured in
//! `bench/fleet-cache/README.md`):
//! - the source's absolute path, which nvcc passes to `cudafe++` and `cicc`
//!   as arguments: the same work-dir path on every runner settles it;
//! - the venv's path in the line markers of every torch header the
//!   preprocessed text includes: `SCCACHE_BASEDIRS` with the build Python's
//!   site-packages (and the work dir) strips it ([`base_dirs`]);
//! - the headers' mtimes: torch's `ATen/ops` holds `#pragma once` headers of
//!   identical content, and GCC takes two such files for one when their
//!   size, content and mtime are equal. pip writes each file at install
//!   time, so which of them are merged differs between two installs and the
//!   preprocessed text with it. [`normalize_header_mtimes`] gives every
//!   header under torch's `include/` one mtime, so every install merges the
//!   same ones.
//!
//! Setting the mtimes changes files of the build's venv: only their
//! timestamps, to a date older than any build (2000-01-01), which no make or
//! ninja reads as a change. An object built against other header contents
//! under the same torch version would not be rebuilt by ninja on that
//! account; the work dir is keyed by the torch version, so that takes two
//! different torch builds with one version string.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The mtime [`normalize_header_mtimes`] gives: 2000-01-01T00:00:00Z.
pub const HEADER_MTIME_SECONDS: u64 = 946_684_800;

/// Where the build's Python keeps its packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonPaths {
    /// `purelib` and `platlib` (once when they are the same).
    pub site_dirs: Vec<PathBuf>,
    /// `<site dir>/torch/include`, when torch is installed there.
    pub torch_include: Option<PathBuf>,
}

/// `python`'s site dirs from `sysconfig` (one interpreter start, torch not
/// imported); `None` when it does not answer.
pub fn python_paths(python: &Path) -> Option<PythonPaths> {
    let out = Command::new(python)
        .args([
            "-I",
            "-c",
            "import sysconfig; p = sysconfig.get_paths(); print(p['purelib']); print(p['platlib'])",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(parse_site_dirs(&String::from_utf8_lossy(&out.stdout)))
}

/// The site dirs of `python_paths`' output, one per line, and torch's
/// include dir in the first that has one.
pub fn parse_site_dirs(text: &str) -> PythonPaths {
    let mut site_dirs: Vec<PathBuf> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let dir = PathBuf::from(line);
        if dir.is_absolute() && !site_dirs.contains(&dir) {
            site_dirs.push(dir);
        }
    }
    let torch_include = site_dirs
        .iter()
        .map(|d| d.join("torch").join("include"))
        .find(|d| d.is_dir());
    PythonPaths {
        site_dirs,
        torch_include,
    }
}

/// `SCCACHE_BASEDIRS` for a build in `work_dir` with these site dirs:
/// absolute paths joined by `:`, longest first is not needed (sccache takes
/// the longest match).
pub fn base_dirs(work_dir: &Path, paths: &PythonPaths) -> String {
    let mut dirs: Vec<String> = Vec::new();
    let work = std::path::absolute(work_dir).unwrap_or_else(|_| work_dir.to_path_buf());
    for d in std::iter::once(&work).chain(&paths.site_dirs) {
        let s = d.display().to_string();
        if !s.is_empty() && !dirs.contains(&s) {
            dirs.push(s);
        }
    }
    dirs.join(":")
}

/// Give every file under `dir` the mtime [`HEADER_MTIME_SECONDS`] (links
/// are not followed). Returns (files seen, files changed).
pub fn normalize_header_mtimes(dir: &Path) -> std::io::Result<(usize, usize)> {
    let target = SystemTime::UNIX_EPOCH + Duration::from_secs(HEADER_MTIME_SECONDS);
    let (mut seen, mut changed) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                seen += 1;
                if entry.metadata()?.modified()? != target {
                    // futimens needs ownership, not write access.
                    std::fs::File::open(entry.path())?.set_modified(target)?;
                    changed += 1;
                }
            }
        }
    }
    Ok((seen, changed))
}

/// The base dirs a running server reports (`sccache --show-stats
/// --stats-format json`, its `basedirs`), without trailing slashes.
pub fn server_base_dirs(stats_json: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(stats_json)
        .ok()
        .and_then(|v| v.get("basedirs").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d.as_str())
        .map(|d| d.trim_end_matches('/').to_string())
        .collect()
}
