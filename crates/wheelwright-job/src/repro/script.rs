//! `repro --print-script`: a plain POSIX shell script that runs a report's
//! build command in its environment, without wheelwright.
//!
//! Every value in a report is data: anyone who can shape a CI artifact can
//! shape one. So the script quotes every value and path it writes
//! ([`sh_quote`]), names only shell identifiers as variables (a report that
//! names anything else is refused: [`UnsafeValue`]), keeps every comment on
//! one line ([`one_line`]), and prints messages with a fixed `printf` format
//! whose arguments are quoted values. Nothing of the report is ever placed
//! where the shell expands it.

use std::fmt::Write as _;

pub use wheelwright_base::text::one_line;

use super::{reproduction, ReproError};
use crate::report::BuildReport;

/// What in a report cannot be written into a shell script as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeValue {
    /// An environment variable's name that is not a shell identifier
    /// (`[A-Za-z_][A-Za-z0-9_]*`): written as it is, it would be shell code.
    #[error("`{}` (in {field}) is not a shell variable name", one_line(.name))]
    NotAName {
        /// Where in the report it is.
        field: &'static str,
        /// The name.
        name: String,
    },
    /// A NUL byte in an argument, a value or a path: no process can be
    /// given one.
    #[error("{field} holds a NUL byte, which no argument, value or path can hold")]
    Nul {
        /// Where in the report it is.
        field: &'static str,
    },
}

/// Is `name` a shell identifier (`[A-Za-z_][A-Za-z0-9_]*`)?
pub fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `s` quoted for a POSIX shell: as it is when it holds only characters no
/// shell treats specially, else in single quotes.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A path as the shell's `cd` takes it literally: a relative one starts
/// with `./`, so neither `CDPATH` nor a leading `-` changes its meaning.
fn cd_operand(path: &str) -> String {
    if path.starts_with('/') {
        sh_quote(path)
    } else {
        sh_quote(&format!("./{path}"))
    }
}

/// Refuse `report` if any name it would export or unset is not a shell
/// identifier, or anything the script passes on holds a NUL.
pub fn check_script_values(report: &BuildReport) -> Result<(), UnsafeValue> {
    let names_field = if report.environment.is_some() {
        "environment.set"
    } else {
        "plan.env"
    };
    let nul = |field, s: &str| {
        if s.contains('\0') {
            Err(UnsafeValue::Nul { field })
        } else {
            Ok(())
        }
    };
    let env_names = report
        .environment
        .as_ref()
        .map(|e| e.set.keys().collect::<Vec<_>>())
        .or_else(|| report.plan.as_ref().map(|p| p.env.keys().collect()))
        .unwrap_or_default();
    for name in env_names {
        if !is_shell_name(name) {
            return Err(UnsafeValue::NotAName {
                field: names_field,
                name: name.clone(),
            });
        }
    }
    if let Some(env) = &report.environment {
        for name in &env.removed {
            if !is_shell_name(name) {
                return Err(UnsafeValue::NotAName {
                    field: "environment.removed",
                    name: name.clone(),
                });
            }
        }
        for v in env.set.values() {
            nul("environment.set", v)?;
        }
        for d in &env.path_prepend {
            nul("environment.path_prepend", &d.to_string_lossy())?;
        }
        nul("environment.cwd", &env.cwd.to_string_lossy())?;
    } else if let Some(plan) = &report.plan {
        for v in plan.env.values() {
            nul("plan.env", v)?;
        }
    }
    for a in &report.command {
        nul("command", a)?;
    }
    nul("work_dir", &report.work_dir.to_string_lossy())?;
    if let Some(src) = &report.source_dir {
        nul("source_dir", &src.to_string_lossy())?;
    }
    Ok(())
}

/// A POSIX shell script that runs the report's build command in its
/// environment, without wheelwright; every value of the report in it is
/// quoted, every comment one line. A report whose names are not shell
/// identifiers is refused ([`ReproError::Unsafe`]).
pub fn shell_script(report: &BuildReport) -> Result<String, ReproError> {
    check_script_values(report).map_err(ReproError::Unsafe)?;
    let (command, env) = reproduction(report)?;
    let mut s = String::from("#!/bin/sh\n");
    let _ = writeln!(
        s,
        "# Reproduces the build of {} (recipe {}) that wheelwright {} ran at {},\n# without wheelwright: the same environment, then the same pip command.",
        one_line(&report.spec),
        one_line(&report.recipe),
        one_line(&report.wheelwright_version),
        one_line(&report.start)
    );
    if report.environment.is_none() {
        s.push_str(
            "# (schema 1 report: the environment is rebuilt from its plan and first attempt)\n",
        );
    }
    if let Some(f) = &report.facts {
        let fact = |v: &Option<String>| one_line(v.as_deref().unwrap_or("?"));
        let _ = writeln!(
            s,
            "# Built on: CUDA {}, torch {} (CUDA {}), python {}, {} CPUs.",
            fact(&f.cuda),
            fact(&f.torch),
            fact(&f.torch_cuda),
            fact(&f.python),
            f.logical_cpus
        );
    }
    if let Some(sha) = &report.source_sha256 {
        let _ = writeln!(
            s,
            "# The source's sha256 (the sdist's, or the tree's files'): {}",
            one_line(sha)
        );
    }
    s.push_str("set -eu\n");
    if let Some(src) = &report.source_dir {
        let src = sh_quote(&src.to_string_lossy());
        let _ = writeln!(
            s,
            "[ -d {src} ] || {{ printf 'the source tree %s is missing: extract the sdist there (or rerun wheelwright repro)\\n' {src} >&2; exit 2; }}"
        );
    }
    let _ = writeln!(s, "cd {}", cd_operand(&env.cwd.to_string_lossy()));
    for k in &env.removed {
        let _ = writeln!(s, "unset {k}");
    }
    for (k, v) in &env.set {
        let _ = writeln!(s, "export {k}={}", sh_quote(v));
    }
    if !env.path_prepend.is_empty() {
        let dirs: Vec<String> = env
            .path_prepend
            .iter()
            .map(|d| sh_quote(&d.to_string_lossy()))
            .collect();
        let _ = writeln!(s, "export PATH={}:\"$PATH\"", dirs.join(":"));
    }
    let argv: Vec<String> = command.iter().map(|a| sh_quote(a)).collect();
    // `exec -x` would be an option of exec, not the program `-x`.
    let end = if command[0].starts_with('-') {
        "-- "
    } else {
        ""
    };
    let _ = writeln!(s, "exec {end}{}", argv.join(" "));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(sh_quote("a/b-1.0"), "a/b-1.0");
        assert_eq!(sh_quote("9.0+PTX"), "9.0+PTX");
        assert_eq!(sh_quote("it's $x"), r"'it'\''s $x'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(cd_operand("-P"), "./-P");
        assert_eq!(cd_operand("/a b"), "'/a b'");
    }

    #[test]
    fn names_are_shell_identifiers() {
        for ok in ["A", "_", "MAX_JOBS", "a1"] {
            assert!(is_shell_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A=1; touch x; B", "A-B", "Ä", "A B"] {
            assert!(!is_shell_name(bad), "{bad}");
        }
    }
}
