//! Writing `GITHUB_ENV`, `GITHUB_PATH` and `GITHUB_OUTPUT` safely: every value
//! is validated before a line is written, so nothing that reaches these files
//! can set a variable or a path it was not meant to.
//!
//! `GITHUB_ENV` takes `NAME=value` lines (a multiline value needs a
//! `NAME<<DELIM` block: see [`multiline_output`]); a value with a
//! newline would start a second assignment, so single-line values with `\n`,
//! `\r` or NUL are refused. Names are `[A-Za-z_][A-Za-z0-9_]*`, and the
//! runner's own (`GITHUB_*`, `RUNNER_*`) and `NODE_OPTIONS` (which the runner
//! blocks, as it would run code in every later JavaScript action) are refused.
//! `GITHUB_PATH` takes one directory per line: absolute, valid UTF-8, without
//! newline, NUL or `:` (which would add a second PATH entry).

use std::io::Write;
use std::path::Path;

use crate::text::random_token;

/// A value that may not be written to a runner file.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// The variable name is not a plain identifier, or is reserved.
    #[error("`{name}` cannot be exported: {why}")]
    BadName {
        /// The name as given (control characters escaped).
        name: String,
        /// Why it was refused.
        why: &'static str,
    },
    /// The value holds a character that would end the assignment.
    #[error("the value of {name} holds a newline, carriage return or NUL and cannot be exported")]
    BadValue {
        /// The variable whose value was refused.
        name: String,
    },
    /// The directory cannot go on PATH.
    #[error("`{dir}` cannot be added to PATH: {why}")]
    BadPath {
        /// The directory as given (control characters escaped).
        dir: String,
        /// Why it was refused.
        why: &'static str,
    },
    /// Appending to the file failed.
    #[error("cannot append to {path}: {source}")]
    Io {
        /// The runner file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn check_name(name: &str) -> Result<(), EnvFileError> {
    let bad = |why| EnvFileError::BadName {
        name: name.escape_debug().to_string(),
        why,
    };
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return Err(bad("a name starts with a letter or `_`")),
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad("a name holds only letters, digits and `_`"));
    }
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("GITHUB_") || upper.starts_with("RUNNER_") || upper == "NODE_OPTIONS" {
        return Err(bad("the runner's own variables are not ours to set"));
    }
    Ok(())
}

/// `NAME=value\n` for `GITHUB_ENV` (or `GITHUB_OUTPUT`), validated.
pub fn env_line(name: &str, value: &str) -> Result<String, EnvFileError> {
    check_name(name)?;
    if value.contains(['\n', '\r', '\0']) {
        return Err(EnvFileError::BadValue {
            name: name.to_string(),
        });
    }
    Ok(format!("{name}={value}\n"))
}

/// `dir\n` for `GITHUB_PATH`, validated.
pub fn path_line(dir: &Path) -> Result<String, EnvFileError> {
    let shown = dir.display().to_string().escape_debug().to_string();
    let bad = |why| EnvFileError::BadPath {
        dir: shown.clone(),
        why,
    };
    let text = dir.to_str().ok_or_else(|| bad("it is not valid UTF-8"))?;
    if !dir.is_absolute() {
        return Err(bad("it is not absolute"));
    }
    if text.contains(['\n', '\r', '\0', ':']) {
        return Err(bad("it holds a newline, carriage return, NUL or `:`"));
    }
    Ok(format!("{text}\n"))
}

/// Append already validated lines to a runner file (created if missing),
/// secrets masked ([`crate::secrets::redact_secrets`]): every write of ours to
/// `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY`
/// goes through here.
pub fn append(file: &Path, lines: &str) -> Result<(), EnvFileError> {
    let lines = crate::secrets::redact_secrets(lines);
    let io = |source| EnvFileError::Io {
        path: file.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(io)?;
    f.write_all(lines.as_bytes()).map_err(io)?;
    f.flush().map_err(io)
}

/// `name<<DELIM\nvalue\nDELIM\n` with a random delimiter not found in `value`.
pub fn multiline_output(name: &str, value: &str) -> String {
    let mut delim = format!("ghadelimiter_{}", random_token());
    while value.contains(&delim) {
        delim = format!("ghadelimiter_{}", random_token());
    }
    format!("{name}<<{delim}\n{value}\n{delim}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_refuse_injection() {
        assert_eq!(
            env_line("CUDA_HOME", "/usr/local/cuda-12.8").unwrap(),
            "CUDA_HOME=/usr/local/cuda-12.8\n"
        );
        assert!(matches!(
            env_line("CC", "gcc\nNODE_OPTIONS=--require=/x"),
            Err(EnvFileError::BadValue { .. })
        ));
        assert!(env_line("CC", "gcc\r").is_err());
        for name in [
            "",
            "1X",
            "A-B",
            "A=B",
            "NODE_OPTIONS",
            "GITHUB_PATH",
            "runner_temp",
            "A\nB",
        ] {
            assert!(
                matches!(env_line(name, "x"), Err(EnvFileError::BadName { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn path_lines_are_one_absolute_entry() {
        assert_eq!(
            path_line(Path::new("/usr/local/cuda-12.8/bin")).unwrap(),
            "/usr/local/cuda-12.8/bin\n"
        );
        for bad in ["bin", "/a:/b", "/a\n/b", "/a\r"] {
            assert!(path_line(Path::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn appends_to_the_runner_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "A=1\n").unwrap();
        append(&f, &env_line("B", "2").unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "A=1\nB=2\n");
    }
}
