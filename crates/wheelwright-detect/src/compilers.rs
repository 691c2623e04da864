//! Host C and C++ compilers: what could serve as nvcc's host compiler.
//!
//! Fallback chain (all are collected, deduplicated by canonical path, the first
//! path seen is reported):
//! 1. `CC`, then `CXX` (the first word, or the second after a `ccache`/`sccache`
//!    launcher; a bare name is looked up on PATH);
//! 2. every `gcc`, `g++`, `gcc-N` and `g++-N` in the PATH directories, in PATH
//!    order and by name within a directory.
//!
//! Version: `<compiler> -dumpfullversion` (`11.4.0`) → the last version-looking
//! word of the first line of `<compiler> --version` (`gcc (Ubuntu
//! 11.4.0-1ubuntu1~22.04) 11.4.0`). A compiler that answers neither is a problem.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wheelwright_base::env_vars;
use wheelwright_base::facts::{Compiler, Problem};

use super::{is_executable, problem, which, DetectOptions};

/// `gcc`, `g++`, `gcc-13`, `g++-4.8`: the names scanned for on PATH.
pub(crate) fn is_gcc_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("gcc")
        .or_else(|| name.strip_prefix("g++"));
    match rest {
        Some("") => true,
        Some(r) => r.strip_prefix('-').is_some_and(|v| {
            !v.is_empty()
                && v.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        }),
        None => false,
    }
}

/// The family a compiler file belongs to: `gcc`, `g++`, `clang`, `clang++`, ...
/// (its file name without a `-N` version suffix).
pub(crate) fn compiler_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match file.rsplit_once('-') {
        Some((base, v)) if v.split('.').all(|p| p.parse::<u32>().is_ok()) => base.to_string(),
        _ => file,
    }
}

/// A version from `-dumpfullversion` (`"12.2.0"`) or the first line of
/// `--version`; `None` if neither looks like one.
pub(crate) fn parse_compiler_version(text: &str) -> Option<String> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if looks_like_version(first) {
        return Some(first.to_string());
    }
    first
        .split_whitespace()
        .rev()
        .map(|w| w.split(['-', '~', '+']).next().unwrap_or(w))
        .find(|w| looks_like_version(w) && w.contains('.'))
        .map(str::to_string)
}

fn looks_like_version(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The compiler a `CC`/`CXX` value names, skipping a cache launcher.
fn from_env_value(value: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    let mut words = value.split_whitespace();
    let mut first = words.next()?;
    if matches!(
        compiler_name(Path::new(first)).as_str(),
        "ccache" | "sccache"
    ) {
        first = words.next()?;
    }
    which(first, path)
}

/// Collect compilers; see the module docs for the chain.
pub(crate) fn probe(opts: &DetectOptions) -> (Vec<Compiler>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut found: Vec<PathBuf> = Vec::new();
    for var in [env_vars::CC, env_vars::CXX] {
        if let Some(value) = opts.var(var) {
            match from_env_value(value, &opts.path) {
                Some(p) => found.push(p),
                None => problems.push(problem(
                    "compilers",
                    format!("{var}={value} is not an executable on PATH; fix or unset it"),
                )),
            }
        }
    }
    for dir in std::env::split_paths(&opts.path).filter(|d| !d.as_os_str().is_empty()) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_gcc_name(n))
            .collect();
        names.sort();
        found.extend(
            names
                .into_iter()
                .map(|n| dir.join(n))
                .filter(|p| is_executable(p)),
        );
    }

    let mut seen = BTreeSet::new();
    let mut compilers = Vec::new();
    for path in found {
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(canonical) {
            continue;
        }
        match version_of(opts, &path) {
            Ok(version) => {
                let major = version
                    .split('.')
                    .next()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                compilers.push(Compiler {
                    path: path.display().to_string(),
                    name: compiler_name(&path),
                    version,
                    major,
                });
            }
            Err(e) => problems.push(problem("compilers", e)),
        }
    }
    (compilers, problems)
}

fn version_of(opts: &DetectOptions, compiler: &Path) -> Result<String, String> {
    let mut last_error = String::new();
    for arg in ["-dumpfullversion", "--version"] {
        match opts.run_tool_ok(compiler, &[arg]) {
            Ok(out) => {
                if let Some(v) = parse_compiler_version(&out.stdout) {
                    return Ok(v);
                }
                last_error = format!("`{}` printed no version", out.command);
            }
            Err(e) => last_error = e,
        }
    }
    Err(format!(
        "{last_error}; skipped {} (remove it from PATH if it is broken)",
        compiler.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{host_fixture, write_executable};
    use crate::DetectOptions;

    #[test]
    fn names_scanned_on_path() {
        for n in ["gcc", "g++", "gcc-13", "g++-11", "gcc-4.8"] {
            assert!(is_gcc_name(n), "{n}");
        }
        for n in [
            "gcc-ar",
            "gcc-ar-12",
            "gcc-",
            "g++-x",
            "x86_64-linux-gnu-gcc-12",
            "gccgo",
            "cc",
        ] {
            assert!(!is_gcc_name(n), "{n}");
        }
    }

    #[test]
    fn families_drop_the_version_suffix() {
        assert_eq!(compiler_name(Path::new("/usr/bin/gcc-13")), "gcc");
        assert_eq!(compiler_name(Path::new("/usr/bin/g++")), "g++");
        assert_eq!(compiler_name(Path::new("/usr/bin/clang++-17")), "clang++");
        assert_eq!(
            compiler_name(Path::new("/usr/bin/x86_64-linux-gnu-gcc-12")),
            "x86_64-linux-gnu-gcc"
        );
    }

    #[test]
    fn parses_real_version_output() {
        // Captured on the development machine (Debian 12, gcc 12.2).
        assert_eq!(
            parse_compiler_version(&host_fixture("no-gpu/gcc-dumpfullversion.txt")).as_deref(),
            Some("12.2.0")
        );
        assert_eq!(
            parse_compiler_version(&host_fixture("no-gpu/gcc-version.txt")).as_deref(),
            Some("12.2.0")
        );
        assert_eq!(
            parse_compiler_version("gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0\n").as_deref(),
            Some("11.4.0")
        );
        assert_eq!(
            parse_compiler_version("Ubuntu clang version 14.0.0-1ubuntu1.1\n").as_deref(),
            Some("14.0.0")
        );
        assert_eq!(
            parse_compiler_version("gcc: fatal error: no input files\n"),
            None
        );
        assert_eq!(parse_compiler_version(""), None);
    }

    #[test]
    fn env_compilers_come_first_skip_launchers_and_dedupe_by_target() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let gcc11 = write_executable(
            &bin.join("gcc-11"),
            "#!/bin/sh\n[ \"$1\" = -dumpfullversion ] && echo 11.4.0\n",
        );
        std::os::unix::fs::symlink("gcc-11", bin.join("gcc")).unwrap();
        let opts = DetectOptions {
            env: [("CC".to_string(), "ccache gcc-11".to_string())].into(),
            ..DetectOptions::isolated(dir.path(), bin.as_os_str())
        };
        let (compilers, problems) = probe(&opts);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(compilers.len(), 1, "{compilers:?}");
        assert_eq!(compilers[0].path, gcc11.display().to_string());
        assert_eq!(compilers[0].name, "gcc");
        assert_eq!(compilers[0].major, 11);

        let opts = DetectOptions {
            env: [("CXX".to_string(), "g++-99".to_string())].into(),
            ..opts
        };
        let (_, problems) = probe(&opts);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("CXX=g++-99"), "{problems:?}");
    }
}
