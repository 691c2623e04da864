//! The CUDA toolkit a build would use: its home, `nvcc`, version, and the
//! newest host GCC it accepts.
//!
//! Fallback chain for the home, first with an executable `bin/nvcc` wins (the
//! order torch's `cpp_extension` uses):
//! 1. `CUDA_HOME`;
//! 2. `CUDA_PATH`;
//! 3. `nvcc` on the options' PATH, home = the parent of its `bin` directory
//!    (symlinks not resolved, as torch does);
//! 4. `/usr/local/cuda` under the options' root.
//!
//! A `CUDA_HOME`/`CUDA_PATH` without `bin/nvcc` is reported as a problem (torch
//! would use it anyway and fail) and the chain goes on.
//!
//! Version: `nvcc --version` (`Cuda compilation tools, release 12.2,
//! V12.2.140`) → `<home>/version.json` (`"cuda": {"version": "12.2.140"}`) →
//! `<home>/version.txt` (`CUDA Version 10.2.89`).
//!
//! Newest GCC: `<home>/include/crt/host_config.h` (or
//! `<home>/targets/*/include/crt/host_config.h`), the `#if __GNUC__ > 12`
//! guarding `#error -- unsupported GNU version! gcc versions later than 12 are
//! not supported!`.

use std::path::{Path, PathBuf};

use wheelwright_base::env_vars;
use wheelwright_base::facts::{Cuda, Problem};

use super::{is_executable, problem, which, DetectOptions};

/// `"12.2"` from the `release 12.2,` of `nvcc --version`.
pub fn parse_nvcc_version(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = &l[l.find("release ")? + "release ".len()..];
        let v = rest.split([',', ' ']).next()?.trim();
        major_minor(v)
    })
}

/// `"12.2"` from `version.json`'s `cuda.version` (`"12.2.140"`).
pub fn parse_version_json(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    major_minor(v.get("cuda")?.get("version")?.as_str()?)
}

/// `"10.2"` from `version.txt` (`CUDA Version 10.2.89`).
pub fn parse_version_txt(text: &str) -> Option<String> {
    let rest = &text[text.find("CUDA Version")? + "CUDA Version".len()..];
    major_minor(rest.split_whitespace().next()?)
}

/// `"12.2"` from `"12.2.140"` or `"12.2"`; `None` unless both parts are numbers.
fn major_minor(v: &str) -> Option<String> {
    let mut it = v.split('.');
    let major: u32 = it.next()?.parse().ok()?;
    let minor: u32 = it.next()?.parse().ok()?;
    Some(format!("{major}.{minor}"))
}

/// The newest GCC major that `crt/host_config.h` lets through.
///
/// Reads the condition guarding each `#error -- unsupported GNU version!`
/// line: `#if __GNUC__ > 12` → 12, `#if __GNUC__ >= 13` → 12, `#if __GNUC__ >
/// 4 || (__GNUC__ == 4 && __GNUC_MINOR__ > 9)` → 4. Without a readable
/// condition the message's `gcc versions later than 12` is used. The lowest of
/// several upper bounds wins; checks for too-old compilers are ignored.
pub fn parse_max_gcc_major(header: &str) -> Option<u32> {
    let lines: Vec<&str> = header.lines().collect();
    let mut best: Option<u32> = None;
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("unsupported GNU version") {
            continue;
        }
        let guard = lines[..i]
            .iter()
            .rev()
            .take(30)
            .take_while(|l| !l.contains("#error"))
            .map(|l| l.trim_start())
            .find(|l| (l.starts_with("#if") || l.starts_with("#elif")) && l.contains("__GNUC__"))
            .and_then(gnuc_upper_bound);
        let from_message = line
            .find("later than ")
            .map(|at| &line[at + "later than ".len()..])
            .and_then(leading_number);
        if let Some(max) = guard.or(from_message) {
            best = Some(best.map_or(max, |b| b.min(max)));
        }
    }
    best
}

/// The bound of the first `__GNUC__ > N` / `__GNUC__ >= N` in a condition.
fn gnuc_upper_bound(cond: &str) -> Option<u32> {
    let mut rest = cond;
    while let Some(at) = rest.find("__GNUC__") {
        rest = &rest[at + "__GNUC__".len()..];
        let op = rest.trim_start();
        if let Some(n) = op.strip_prefix(">=") {
            return leading_number(n.trim_start())?.checked_sub(1);
        }
        if let Some(n) = op.strip_prefix('>') {
            return leading_number(n.trim_start());
        }
    }
    None
}

fn leading_number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// Find the toolkit; see the module docs for the chain.
pub(crate) fn probe(opts: &DetectOptions) -> (Option<Cuda>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut candidates: Vec<(String, PathBuf)> = Vec::new();
    for var in [env_vars::CUDA_HOME, env_vars::CUDA_PATH] {
        if let Some(v) = opts.var(var) {
            candidates.push((format!("{var}={v}"), PathBuf::from(v)));
        }
    }
    if let Some(nvcc) = which("nvcc", &opts.path) {
        if let Some(home) = nvcc.parent().and_then(Path::parent) {
            candidates.push((
                format!("nvcc on PATH ({})", nvcc.display()),
                home.to_path_buf(),
            ));
        }
    }
    candidates.push((
        "/usr/local/cuda".to_string(),
        opts.rooted("/usr/local/cuda"),
    ));

    for (source, home) in candidates {
        let nvcc = home.join("bin").join("nvcc");
        if !is_executable(&nvcc) {
            if source.starts_with("CUDA_") {
                problems.push(problem(
                    "cuda",
                    format!(
                        "{source} has no executable bin/nvcc; torch would still use it and fail. Point it at a CUDA toolkit or unset it"
                    ),
                ));
            }
            continue;
        }
        let version = toolkit_version(opts, &home, &nvcc, &mut problems);
        let Some(version) = version else {
            problems.push(problem(
                "cuda",
                format!(
                    "found {} (from {source}) but could not tell its CUDA version; check that `{} --version` runs",
                    nvcc.display(),
                    nvcc.display()
                ),
            ));
            return (None, problems);
        };
        let max_gcc_major = match host_config(&home) {
            Some((path, text)) => {
                let max = parse_max_gcc_major(&text);
                if max.is_none() {
                    problems.push(problem(
                        "cuda",
                        format!(
                            "{} has no `unsupported GNU version` check that could be read; the newest accepted gcc is unknown",
                            path.display()
                        ),
                    ));
                }
                max
            }
            None => {
                problems.push(problem(
                    "cuda",
                    format!(
                        "no include/crt/host_config.h under {}; the newest gcc nvcc accepts is unknown",
                        home.display()
                    ),
                ));
                None
            }
        };
        let cuda = Cuda {
            home: home.display().to_string(),
            nvcc: nvcc.display().to_string(),
            version,
            max_gcc_major,
        };
        return (Some(cuda), problems);
    }
    (None, problems)
}

fn toolkit_version(
    opts: &DetectOptions,
    home: &Path,
    nvcc: &Path,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match opts.run_tool_ok(nvcc, &["--version"]) {
        Ok(out) => {
            if let Some(v) = parse_nvcc_version(&out.stdout) {
                return Some(v);
            }
            problems.push(problem(
                "cuda",
                format!(
                    "`{}` printed no `release X.Y`; read the version from the toolkit's files instead",
                    out.command
                ),
            ));
        }
        Err(e) => problems.push(problem("cuda", e)),
    }
    let read = |name: &str| std::fs::read_to_string(home.join(name)).ok();
    read("version.json")
        .and_then(|t| parse_version_json(&t))
        .or_else(|| read("version.txt").and_then(|t| parse_version_txt(&t)))
}

/// `crt/host_config.h` of the toolkit, and where it was found.
pub fn host_config(home: &Path) -> Option<(PathBuf, String)> {
    let mut candidates = vec![home.join("include/crt/host_config.h")];
    if let Ok(targets) = std::fs::read_dir(home.join("targets")) {
        let mut more: Vec<PathBuf> = targets
            .flatten()
            .map(|t| t.path().join("include/crt/host_config.h"))
            .collect();
        more.sort();
        candidates.extend(more);
    }
    candidates
        .into_iter()
        .find_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture, host_fixture};

    #[test]
    fn parses_nvcc_banners() {
        assert_eq!(
            parse_nvcc_version(&host_fixture("a800-cuda12.2/nvcc-version.txt")).as_deref(),
            Some("12.2")
        );
        assert_eq!(
            parse_nvcc_version(&host_fixture("h100-cuda13.0/nvcc-version.txt")).as_deref(),
            Some("13.0")
        );
        assert_eq!(parse_nvcc_version("nvcc: command not found"), None);
    }

    #[test]
    fn parses_version_files() {
        let json = r#"{"cuda": {"name": "CUDA SDK", "version": "12.2.2"}, "cuda_nvcc": {"version": "12.2.140"}}"#;
        assert_eq!(parse_version_json(json).as_deref(), Some("12.2"));
        assert_eq!(parse_version_json("{}"), None);
        assert_eq!(
            parse_version_txt("CUDA Version 10.2.89\n").as_deref(),
            Some("10.2")
        );
        assert_eq!(parse_version_txt("nothing"), None);
    }

    #[test]
    fn reads_the_gcc_limit_of_real_headers() {
        assert_eq!(
            parse_max_gcc_major(&host_fixture("a800-cuda12.2/host_config.h")),
            Some(12)
        );
        // CUDA 13.0's header as captured on the H100 machine.
        assert_eq!(
            parse_max_gcc_major(&fixture("device/host_config.h")),
            Some(15)
        );
    }

    #[test]
    fn reads_other_guard_shapes() {
        let old = "#if __GNUC__ > 4 || (__GNUC__ == 4 && __GNUC_MINOR__ > 9)\n\
                   #error -- unsupported GNU version! gcc versions later than 4.9 are not supported!\n\
                   #endif\n";
        assert_eq!(parse_max_gcc_major(old), Some(4));
        let ge = "#if __GNUC__ >= 14\n\n#error -- unsupported GNU version! gcc 14 and later are not supported!\n";
        assert_eq!(parse_max_gcc_major(ge), Some(13));
        let message_only = "#if SOMETHING_ELSE\n#error -- unsupported GNU version! gcc versions later than 11 are not supported!\n";
        assert_eq!(parse_max_gcc_major(message_only), Some(11));
        // A clang check does not count as a gcc limit.
        let clang = "#if (__clang_major__ >= 17)\n#error -- unsupported clang version! clang version must be less than 17\n";
        assert_eq!(parse_max_gcc_major(clang), None);
        assert_eq!(parse_max_gcc_major(""), None);
    }
}
