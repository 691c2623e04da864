//! A test's prerequisites from outside the repository (a tool on PATH, a
//! `python3` with pip) and the one rule for a missing one: off CI the test
//! says it is skipped and returns; in CI (`CI` set, as `.ci/run` runs, which
//! installs every prerequisite) it fails. Shared, by `#[path]`, by the
//! library's unit tests (`src/test_support.rs`), the binary's tests
//! (`tests/common/`) and the publish crate's tests, so that all of them
//! follow the same rule.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A prerequisite of a test is missing: in CI that fails the test; elsewhere
/// the test says `skipped: ...` on the terminal (not captured) and returns.
pub fn prerequisite_missing(what: &str) {
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !in_ci,
        "CI is set but a prerequisite of this test is missing: {what} (.ci/run installs it)"
    );
    // Straight to the process's stderr: libtest captures `eprintln!` of a
    // passing test, and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {what}");
}

/// `Some(tool)`, or `None` after [`prerequisite_missing`] said why (a
/// failure in CI).
pub fn required<T>(tool: Option<T>, what: &str) -> Option<T> {
    if tool.is_none() {
        prerequisite_missing(what);
    }
    tool
}

/// An executable `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The real interpreter behind `python3` if it has pip.
pub fn python_with_pip() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sys, pip; print(sys.executable)"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
