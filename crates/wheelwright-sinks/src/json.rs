//! JSON: the findings array with summary counts, the contract other tools read.
//!
//! ```json
//! { "schema_version": 1, "summary": { "findings": 1, "errors": 1, ... }, "findings": [ ... ] }
//! ```
//!
//! Printed in GitHub Actions, JSON holding log text must not act as a
//! workflow command ([`defuse_workflow_commands`]).

use serde::{Deserialize, Serialize};

use wheelwright_base::finding::Finding;

use super::github::LEGACY_COMMAND_PREFIX;
use super::Summary;

/// Version of the diagnose JSON contract.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// What `--format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Counts by severity.
    pub summary: Summary,
    /// The findings, most important first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The report of `findings`.
    pub fn new(findings: &[Finding]) -> Report {
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            summary: Summary::of(findings),
            findings: findings.to_vec(),
        }
    }
}

/// The report as pretty JSON, with a trailing newline.
pub fn render(findings: &[Finding]) -> String {
    let mut s =
        serde_json::to_string_pretty(&Report::new(findings)).unwrap_or_else(|_| "{}".to_string());
    s.push('\n');
    defuse_workflow_commands(s)
}

/// `json` with every `##[` written `#\u0023[`: the same JSON value, but
/// printed in GitHub Actions no line of it is a legacy `##[name]` workflow
/// command. (A `::name::` command must start a line, which no line of JSON
/// does: strings escape their line breaks.) For any JSON that carries log
/// text and may reach a runner's output.
pub fn defuse_workflow_commands(json: String) -> String {
    if json.contains(LEGACY_COMMAND_PREFIX) {
        json.replace(LEGACY_COMMAND_PREFIX, "#\\u0023[")
    } else {
        json
    }
}

/// JSON text ready to print: secrets masked in its strings (through the
/// installed [`super::secrets::SecretSet`], so the document stays JSON), a
/// newline at the end, and no line a workflow command
/// ([`defuse_workflow_commands`]).
pub fn printable(json: &str) -> String {
    let mut json = super::secrets::installed().mask_json_text(json);
    if !json.ends_with('\n') {
        json.push('\n');
    }
    defuse_workflow_commands(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_base::finding::Severity;

    #[test]
    fn round_trips() {
        let f = vec![Finding::new(
            "oom-killed",
            Severity::Error,
            "t",
            "m \"quoted\" \u{1b}",
            "f",
        )];
        let text = render(&f);
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back.findings, f);
        assert_eq!(back.summary.errors, 1);
        assert_eq!(back.schema_version, REPORT_SCHEMA_VERSION);
    }

    #[test]
    fn holds_no_workflow_command_and_reads_back_the_same() {
        let mut f = Finding::new(
            "compile-error",
            Severity::Error,
            "t",
            "##[set-output name=x;]pwned ###[x]",
            "f",
        );
        f.evidence = vec!["::add-mask::y".into(), "  ::error::z".into()];
        let text = render(std::slice::from_ref(&f));
        assert!(!text.contains("##["), "{text}");
        assert!(
            crate::github::tests::runner_commands(&text).is_empty(),
            "{text}"
        );
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back.findings, [f.clone()]);
        let printed = printable(&serde_json::to_string(&f).unwrap());
        assert!(
            printed.ends_with("}\n") && !printed.contains("##["),
            "{printed}"
        );
        assert_eq!(serde_json::from_str::<Finding>(&printed).unwrap(), f);
    }
}
