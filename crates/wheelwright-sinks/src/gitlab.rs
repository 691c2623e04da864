//! GitLab Code Quality: a JSON array of issues (`description`, `check_name`,
//! `fingerprint`, `severity`, `location.path`, `location.lines.begin`) that
//! GitLab shows in merge requests when a job uploads it as
//! `artifacts:reports:codequality`. Defused like [`super::json`] for when it
//! is printed in GitHub Actions.

use serde::Serialize;
use sha2::{Digest, Sha256};

use wheelwright_base::finding::{Finding, Severity};

#[derive(Debug, Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Debug, Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Debug, Serialize)]
struct Lines {
    begin: u32,
}

/// GitLab's severities: `blocker`, `critical`, `major`, `minor`, `info`.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "critical",
        Severity::Warning => "major",
        Severity::Notice => "info",
    }
}

/// A stable fingerprint: the same finding at the same place in two pipelines
/// gets the same one (counts and evidence do not enter it).
pub fn fingerprint(f: &Finding, path: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        f.id.as_str(),
        path,
        &f.line.unwrap_or(0).to_string(),
        f.title.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    wheelwright_base::digest::hex(&h.finalize())
}

/// The Code Quality report. Findings without a source file are reported
/// against `log_path` (the diagnosed log), line 1.
pub fn render(findings: &[Finding], log_path: &str) -> String {
    let issues: Vec<Issue> = findings
        .iter()
        .map(|f| {
            let path = f.file.as_deref().unwrap_or(log_path);
            Issue {
                description: format!("{}: {} Fix: {}", f.title, f.message, f.fix),
                check_name: &f.id,
                fingerprint: fingerprint(f, path),
                severity: severity(f.severity),
                location: Location {
                    path,
                    lines: Lines {
                        begin: f.line.unwrap_or(1).max(1),
                    },
                },
            }
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&issues).unwrap_or_else(|_| "[]".to_string());
    s.push('\n');
    super::json::defuse_workflow_commands(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shape() {
        let mut f = Finding::new(
            "compile-error",
            Severity::Error,
            "Compile error",
            "boom",
            "fix it",
        );
        f.file = Some("csrc/a.cu".into());
        f.line = Some(12);
        let g = Finding::new(
            "ninja-missing",
            Severity::Warning,
            "ninja",
            "slow",
            "pip install ninja",
        );
        let v: serde_json::Value =
            serde_json::from_str(&render(&[f.clone(), g], "build.log")).unwrap();
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0]["check_name"], "compile-error");
        assert_eq!(a[0]["severity"], "critical");
        assert_eq!(a[0]["location"]["path"], "csrc/a.cu");
        assert_eq!(a[0]["location"]["lines"]["begin"], 12);
        assert_eq!(a[1]["location"]["path"], "build.log");
        assert_eq!(a[1]["location"]["lines"]["begin"], 1);
        assert_eq!(a[1]["severity"], "major");
        assert_eq!(a[0]["fingerprint"].as_str().unwrap().len(), 64);
        // Stable: counts do not change it, places do.
        let mut again = f.clone();
        again.count = 7;
        assert_eq!(
            fingerprint(&f, "csrc/a.cu"),
            fingerprint(&again, "csrc/a.cu")
        );
        again.line = Some(13);
        assert_ne!(
            fingerprint(&f, "csrc/a.cu"),
            fingerprint(&again, "csrc/a.cu")
        );
    }
}
