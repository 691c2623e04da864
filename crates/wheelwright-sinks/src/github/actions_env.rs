//! What a GitHub Actions runner tells a step through its environment
//! ([`ActionsEnv`]): whether this runs on one, the checkout, and the files
//! the step's summary and outputs are appended to.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::env_files::{self, EnvFileError};
use super::{render_outputs, render_step_summary};
use wheelwright_base::env_vars;
use wheelwright_base::finding::Finding;
use wheelwright_base::secrets::redact_secrets;

/// The runner's environment for a step (empty off a runner).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionsEnv {
    /// `GITHUB_ACTIONS=true`: this runs on a runner.
    pub active: bool,
    /// `GITHUB_WORKSPACE`: the checkout, which findings' paths are made
    /// relative to.
    pub workspace: Option<String>,
    /// `GITHUB_STEP_SUMMARY`: the file the step's Markdown summary goes to.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`: the file the step's outputs go to.
    pub output: Option<PathBuf>,
}

/// A runner file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {var}")]
pub struct RunnerFileError {
    /// The variable that names the file (`GITHUB_OUTPUT`, ...).
    pub var: &'static str,
    /// Why.
    #[source]
    pub source: EnvFileError,
}

/// A diagnosis's summary or outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FindingsFileError {
    /// The summary file the user named.
    #[error("could not write the summary to {}", path.display())]
    Summary {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A runner file.
    #[error("could not write to {}", path.display())]
    Runner {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: EnvFileError,
    },
}

/// Where a diagnosis's findings go besides the report itself: the Markdown
/// summary (secrets masked; `omitted`: findings that got no annotation) to
/// `summary_file` if given, else on a runner to its step summary; on a
/// runner the counts to its outputs (`findings`, `errors`, ...,
/// `first-error`, `findings-json`).
pub fn write_findings_files(
    findings: &[Finding],
    omitted: usize,
    summary_file: Option<&Path>,
    env: &ActionsEnv,
) -> Result<(), FindingsFileError> {
    let summary = redact_secrets(&render_step_summary(findings, omitted)).into_owned();
    if let Some(path) = summary_file {
        std::fs::write(path, summary.as_bytes()).map_err(|source| FindingsFileError::Summary {
            path: path.to_path_buf(),
            source,
        })?;
    }
    if !env.active {
        return Ok(());
    }
    let append = |path: &Path, text: &str| {
        env_files::append(path, text).map_err(|source| FindingsFileError::Runner {
            path: path.to_path_buf(),
            source,
        })
    };
    if let (None, Some(path)) = (summary_file, &env.step_summary) {
        append(path, &summary)?;
    }
    if let Some(path) = &env.output {
        append(path, &render_outputs(findings))?;
    }
    Ok(())
}

impl ActionsEnv {
    /// The runner's environment as this process sees it.
    pub fn from_process_env() -> Self {
        Self::from_env(|name| std::env::var_os(name))
    }

    /// The runner's environment read through `lookup`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        ActionsEnv {
            active: lookup(env_vars::GITHUB_ACTIONS).is_some_and(|v| v == "true"),
            workspace: lookup(env_vars::GITHUB_WORKSPACE).and_then(|w| w.into_string().ok()),
            step_summary: lookup(env_vars::GITHUB_STEP_SUMMARY).map(PathBuf::from),
            output: lookup(env_vars::GITHUB_OUTPUT).map(PathBuf::from),
        }
    }

    /// Append the step summary and the outputs to the files the runner
    /// named (those it did not name are left out), secrets masked.
    pub fn append(&self, step_summary: &str, outputs: &str) -> Result<(), RunnerFileError> {
        for (var, file, text) in [
            (
                env_vars::GITHUB_STEP_SUMMARY,
                &self.step_summary,
                step_summary,
            ),
            (env_vars::GITHUB_OUTPUT, &self.output, outputs),
        ] {
            if let Some(path) = file {
                env_files::append(path, text).map_err(|source| RunnerFileError { var, source })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runner_and_appends_to_the_files_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        let vars = [
            (env_vars::GITHUB_ACTIONS, "true"),
            (env_vars::GITHUB_OUTPUT, out.to_str().unwrap()),
        ];
        let env = ActionsEnv::from_env(|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| OsString::from(v))
        });
        assert!(env.active);
        assert_eq!(
            (env.workspace.as_deref(), env.step_summary.as_deref()),
            (None, None)
        );
        env.append("# summary\n", "a=1\n").unwrap();
        env.append("", "b=2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a=1\nb=2\n");

        let off = ActionsEnv::from_env(|n| (n == env_vars::GITHUB_ACTIONS).then(|| "false".into()));
        assert_eq!(off, ActionsEnv::default());
        let broken = ActionsEnv {
            output: Some(dir.path().join("no/such/dir/output")),
            ..env
        };
        let e = broken.append("", "a=1\n").unwrap_err();
        assert_eq!(e.to_string(), "cannot write GITHUB_OUTPUT");
    }

    #[test]
    fn findings_go_to_the_summary_file_or_the_runners() {
        let dir = tempfile::tempdir().unwrap();
        let findings = [Finding::new(
            "oom-killed",
            wheelwright_base::finding::Severity::Error,
            "t",
            "m",
            "f",
        )];
        let env = ActionsEnv {
            active: true,
            workspace: None,
            step_summary: Some(dir.path().join("step.md")),
            output: Some(dir.path().join("output")),
        };
        let mine = dir.path().join("mine.md");
        write_findings_files(&findings, 0, Some(&mine), &env).unwrap();
        assert!(std::fs::read_to_string(&mine)
            .unwrap()
            .contains("oom-killed"));
        assert!(
            !dir.path().join("step.md").exists(),
            "the user's file instead"
        );
        assert!(std::fs::read_to_string(dir.path().join("output"))
            .unwrap()
            .contains("errors=1\n"));
        write_findings_files(&findings, 0, None, &env).unwrap();
        assert!(std::fs::read_to_string(dir.path().join("step.md"))
            .unwrap()
            .contains("oom-killed"));
        let off = ActionsEnv::default();
        write_findings_files(&findings, 0, Some(&dir.path().join("no/such/dir")), &off)
            .unwrap_err();
    }
}
