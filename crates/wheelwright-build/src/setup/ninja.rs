//! Is ninja usable? First the check torch itself makes (`ninja --version` and
//! its exit status: torch's `verify_ninja_availability`), then a proof: a
//! two-target `build.ninja` built with `-j 2` in a temp dir, both outputs
//! checked. A ninja that answers `--version` but cannot build (a broken pip
//! shim, a wrong-arch binary behind a wrapper) fails the proof, and torch would
//! otherwise fall back to its slow serial backend or fail mid-build.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use wheelwright_detect::ninja::parse_ninja_version;
use wheelwright_detect::which;
use wheelwright_process as process;

/// A two-target build file; each target is written by its own edge, so `-j 2`
/// runs two jobs.
pub(crate) const PROOF_BUILD_NINJA: &str = "\
rule write
  command = echo $out > $out
  description = write $out
build a.txt: write
build b.txt: write
default a.txt b.txt
";

/// What was found out about one ninja.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NinjaHealth {
    /// The executable found on PATH (with the interpreter's dir first).
    pub path: Option<PathBuf>,
    /// `ninja --version`, when it answered.
    pub version: Option<String>,
    /// `ninja --version` exited 0.
    pub version_ok: bool,
    /// The two-target build ran and wrote both outputs.
    pub proven: bool,
    /// What failed, when something did.
    pub problem: Option<String>,
}

impl NinjaHealth {
    /// ninja answered its version and built the two-target check.
    pub(crate) fn healthy(&self) -> bool {
        self.version_ok && self.proven
    }
}

/// Find `ninja` on `path` and check it; `None` path means not found.
pub(crate) fn check(path: &OsString, timeout: Duration) -> NinjaHealth {
    let Some(ninja) = which("ninja", path) else {
        return NinjaHealth {
            path: None,
            version: None,
            version_ok: false,
            proven: false,
            problem: Some("no `ninja` on PATH".to_string()),
        };
    };
    check_at(&ninja, path, timeout)
}

/// Check the ninja at `ninja`: `--version`, then the proof build.
pub(crate) fn check_at(ninja: &Path, path: &OsString, timeout: Duration) -> NinjaHealth {
    let mut health = NinjaHealth {
        path: Some(ninja.to_path_buf()),
        version: None,
        version_ok: false,
        proven: false,
        problem: None,
    };
    let mut cmd = std::process::Command::new(ninja);
    cmd.arg("--version")
        .env(wheelwright_base::env_vars::PATH, path);
    match process::run(&mut cmd, timeout) {
        Ok(out) if out.success() => {
            health.version_ok = true;
            health.version = parse_ninja_version(&out.stdout);
        }
        Ok(out) => {
            health.problem = Some(format!(
                "`{} --version` ended with {}: {}",
                ninja.display(),
                out.status_text(),
                out.combined_tail(3).trim()
            ));
            return health;
        }
        Err(e) => {
            health.problem = Some(e.to_string());
            return health;
        }
    }
    match prove(ninja, path, timeout) {
        Ok(()) => health.proven = true,
        Err(e) => health.problem = Some(e),
    }
    health
}

/// Build [`PROOF_BUILD_NINJA`] with `-j 2` in a temp dir.
pub(crate) fn prove(ninja: &Path, path: &OsString, timeout: Duration) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("wheelwright-ninja-proof-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    std::fs::write(dir.path().join("build.ninja"), PROOF_BUILD_NINJA)
        .map_err(|e| format!("cannot write build.ninja: {e}"))?;
    let mut cmd = std::process::Command::new(ninja);
    cmd.arg("-C")
        .arg(dir.path())
        .args(["-j", "2"])
        .env(wheelwright_base::env_vars::PATH, path);
    let out = process::run(&mut cmd, timeout).map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!(
            "`{}` failed to build a two-target build.ninja ({}): {}",
            out.command,
            out.status_text(),
            out.combined_tail(5).trim()
        ));
    }
    for target in ["a.txt", "b.txt"] {
        let p = dir.path().join(target);
        if !p.is_file() {
            return Err(format!(
                "`{}` exited 0 but did not build {target}",
                out.command
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::write_executable;

    #[test]
    fn missing_ninja_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let h = check(&dir.path().as_os_str().to_owned(), Duration::from_secs(5));
        assert!(!h.healthy());
        assert_eq!(h.path, None);
    }

    #[test]
    fn a_ninja_that_answers_but_cannot_build_fails_the_proof() {
        let dir = tempfile::tempdir().unwrap();
        write_executable(
            &dir.path().join("ninja"),
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 1.11.1; exit 0; fi\nexit 0\n",
        );
        let h = check(&dir.path().as_os_str().to_owned(), Duration::from_secs(5));
        assert!(h.version_ok && !h.proven, "{h:?}");
        assert_eq!(h.version.as_deref(), Some("1.11.1"));
        assert!(h.problem.unwrap().contains("did not build a.txt"));
    }

    #[test]
    fn a_failing_version_check_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        write_executable(
            &dir.path().join("ninja"),
            "#!/bin/sh\necho 'ImportError: No module named ninja' >&2\nexit 1\n",
        );
        let h = check(&dir.path().as_os_str().to_owned(), Duration::from_secs(5));
        assert!(!h.version_ok);
        assert!(h.problem.unwrap().contains("No module named ninja"));
    }

    /// The proof against a real ninja, where one is installed.
    #[test]
    fn a_real_ninja_passes_the_proof() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        if which("ninja", &path).is_none() {
            crate::test_support::prerequisite_missing("ninja on PATH");
            return;
        }
        let h = check(&path, Duration::from_secs(30));
        assert!(h.healthy(), "{h:?}");
    }
}
