//! JSON: the findings array with summary counts, the contract other tools read.
//!
//! ```json
//! { "schema_version": 1, "summary": { "findings": 1, "errors": 1, ... }, "findings": [ ... ] }
//! ```

use serde::{Deserialize, Serialize};

use crate::finding::Finding;

use super::Summary;

/// Version of the diagnose JSON contract.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// What `--format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub summary: Summary,
    pub findings: Vec<Finding>,
}

impl Report {
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
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

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
}
