//! ninja: without a working one, torch's `cpp_extension` falls back to the
//! slow, serial distutils backend.
//!
//! Fallback chain: `ninja` in the Python environment (the interpreter's own
//! directory, a venv's `bin`, then its `sysconfig` scripts directory: `pip
//! install ninja` puts it there), then on the options' PATH. Absent = `None`,
//! not a problem.
//!
//! Health is what torch checks: `ninja --version` exits 0. A ninja that fails
//! or hangs is reported with `healthy: false` and a problem carrying its output.

use std::path::PathBuf;

use wheelwright_base::facts::{Ninja, Problem};

use super::{describe, failure, is_executable, problem, which, DetectOptions};

/// The version `ninja --version` printed (`1.11.1.git.kitware.jobserver-1`).
pub fn parse_ninja_version(stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    line.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit())
        .then(|| line.to_string())
}

/// Find and check ninja; `env_dirs` are the Python environment's directories,
/// searched before PATH.
pub(crate) fn probe(opts: &DetectOptions, env_dirs: &[PathBuf]) -> (Option<Ninja>, Vec<Problem>) {
    let Some(path) = env_dirs
        .iter()
        .map(|d| d.join("ninja"))
        .find(|p| is_executable(p))
        .or_else(|| which("ninja", &opts.path))
    else {
        return (None, Vec::new());
    };
    let mut problems = Vec::new();
    let (version, healthy) = match opts.run_tool(&path, &["--version"]) {
        Ok(out) if out.success() => (parse_ninja_version(&out.stdout), true),
        Ok(out) => {
            let msg = failure(out);
            problems.push(problem(
                "ninja",
                format!("{msg}\nninja is broken, so torch would build without it (slowly); reinstall it (`pip install --force-reinstall ninja`) or remove {}", path.display()),
            ));
            (None, false)
        }
        Err(e) => {
            problems.push(problem("ninja", describe(&e)));
            (None, false)
        }
    };
    let ninja = Ninja {
        path: path.display().to_string(),
        version,
        healthy,
    };
    (Some(ninja), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions() {
        assert_eq!(
            parse_ninja_version("1.11.1.git.kitware.jobserver-1\n").as_deref(),
            Some("1.11.1.git.kitware.jobserver-1")
        );
        assert_eq!(parse_ninja_version("1.10.1\n").as_deref(), Some("1.10.1"));
        assert_eq!(parse_ninja_version(""), None);
        assert_eq!(
            parse_ninja_version("Traceback (most recent call last):"),
            None
        );
    }
}
