//! wheelwright-sinks: render findings for GitHub Actions, JSON, JUnit, GitLab Code Quality
//! and plain text, a build's report for people and for the Action
//! ([`build_report`]), a running job's console text ([`console`]), the
//! host's and a plan's tables ([`tables`]), the other commands' reports
//! ([`reports`]).
//!
//! Each sink turns `&[Finding]` (already sorted, most important first) into a
//! `String`; the caller decides where it goes (stdout, `GITHUB_STEP_SUMMARY`,
//! a report file). Build output is untrusted: every value taken from a log is
//! escaped for the format it lands in, and secrets are masked, by shape and
//! by the values of the process's secret variables ([`redact::redact_secrets`],
//! [`secrets`]).

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

pub mod build_report;
pub mod console;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod junit;
pub mod reports;
pub mod tables;
pub mod text;

use serde::{Deserialize, Serialize};

use wheelwright_base::finding::{Finding, Severity};

// Masking is the library's, below every stage; the sinks show it where the
// renderers are.
pub use wheelwright_base::secrets::redact_secrets;
pub use wheelwright_base::{masking_writer, secrets};

/// Masking tokens by their shape (wheelwright-base's `redact`), and by the
/// values this process knows as well ([`redact_secrets`]).
pub mod redact {
    pub use wheelwright_base::redact::*;
    pub use wheelwright_base::secrets::redact_secrets;
}

/// The output formats a user can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// GitHub Actions annotations, step summary and outputs.
    Github,
    /// A JSON document ([`json::Report`]).
    Json,
    /// JUnit XML, one test case per finding.
    Junit,
    /// GitLab Code Quality JSON.
    Gitlab,
    /// Plain text for a terminal or a log.
    Text,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Github,
        Format::Json,
        Format::Junit,
        Format::Gitlab,
        Format::Text,
    ];

    /// The format's name, as `--format` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Github => "github",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Gitlab => "gitlab",
            Format::Text => "text",
        }
    }

    /// `github` when running in GitHub Actions (`GITHUB_ACTIONS=true`), else
    /// `text`.
    pub fn auto(github_actions: Option<&str>) -> Format {
        if github_actions == Some("true") {
            Format::Github
        } else {
            Format::Text
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown format `{s}`; use github, json, junit, gitlab or text"))
    }
}

/// What [`render`] needs besides the findings.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// `GITHUB_WORKSPACE`: annotations name files relative to it.
    pub workspace: Option<String>,
    /// The log's name, for JUnit and GitLab.
    pub log_name: String,
    /// Plain text in colour (a terminal without `NO_COLOR`: [`text::use_color`]).
    pub color: bool,
}

/// Findings rendered in one format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The document (annotations, JSON, XML or text).
    pub text: String,
    /// Findings that got no annotation (GitHub's limits), for the step
    /// summary to say so ([`github::render_step_summary`]).
    pub omitted: usize,
}

/// `findings` in `format`.
pub fn render(format: Format, findings: &[Finding], opts: &RenderOptions) -> Rendered {
    let text = match format {
        Format::Github => {
            let gh_opts = github::GithubOptions {
                workspace: opts.workspace.clone(),
                ..Default::default()
            };
            let annotations = github::render_annotations(findings, &gh_opts);
            return Rendered {
                text: annotations.text,
                omitted: annotations.omitted,
            };
        }
        Format::Json => json::render(findings),
        Format::Junit => junit::render(findings, &opts.log_name),
        Format::Gitlab => gitlab::render(findings, &opts.log_name),
        Format::Text => text::render(findings, opts.color),
    };
    Rendered { text, omitted: 0 }
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// All findings.
    pub findings: usize,
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Notices.
    pub notices: usize,
}

impl Summary {
    /// The counts of `findings`.
    pub fn of(findings: &[Finding]) -> Summary {
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        Summary {
            findings: findings.len(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            notices: count(Severity::Notice),
        }
    }

    /// `2 errors, 1 warning, 0 notices`.
    pub fn describe(&self) -> String {
        let n =
            |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        format!(
            "{}, {}, {}",
            n(self.errors, "error", "errors"),
            n(self.warnings, "warning", "warnings"),
            n(self.notices, "notice", "notices")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_auto() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().is_err());
        assert_eq!(Format::auto(Some("true")), Format::Github);
        assert_eq!(Format::auto(Some("false")), Format::Text);
        assert_eq!(Format::auto(None), Format::Text);
    }

    #[test]
    fn every_format_renders_the_findings() {
        let findings: Vec<Finding> = (0..12)
            .map(|i| Finding::new(format!("e{i}"), Severity::Error, "t", "m", "f"))
            .collect();
        let opts = RenderOptions {
            log_name: "build.log".into(),
            ..RenderOptions::default()
        };
        for f in Format::ALL {
            let r = render(f, &findings, &opts);
            assert!(r.text.contains("e0"), "{f:?}: {}", r.text);
            let omitted = if f == Format::Github { 2 } else { 0 };
            assert_eq!(r.omitted, omitted, "{f:?}: ten errors per step");
        }
    }

    #[test]
    fn summary_counts() {
        let f = |s| Finding::new("x", s, "t", "m", "f");
        let s = Summary::of(&[f(Severity::Error), f(Severity::Warning), f(Severity::Error)]);
        assert_eq!((s.findings, s.errors, s.warnings, s.notices), (3, 2, 1, 0));
        assert_eq!(s.describe(), "2 errors, 1 warning, 0 notices");
    }
}
