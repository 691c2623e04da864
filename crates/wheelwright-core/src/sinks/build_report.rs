//! A build's [`BuildReport`] for people and for GitHub Actions: the plain
//! summary every CI log shows, and the annotations, step summary and outputs
//! (`outcome`, `wheel`, `wheel-sha256`, `report`, plus the findings') that the
//! Action publishes. The caller writes them where they go (stdout,
//! `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`).

use std::fmt::Write as _;

use super::github;
use crate::builder::BuildReport;
use crate::finding::Finding;
use crate::units::{format_bytes, format_duration};

/// One finding as plain text: `error[id]: title`, then its message, place and fix.
pub fn finding_text(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "{}[{}]: {}", f.severity.as_str(), f.id, f.title);
    if !f.message.is_empty() {
        let _ = writeln!(out, "  {}", f.message.replace('\n', "\n  "));
    }
    if let (Some(file), line) = (&f.file, f.line) {
        let _ = match line {
            Some(l) => writeln!(out, "  at {file}:{l}"),
            None => writeln!(out, "  at {file}"),
        };
    }
    if !f.fix.is_empty() {
        let _ = writeln!(out, "  fix: {}", f.fix);
    }
}

/// The findings as plain text, one [`finding_text`] block each.
pub fn findings_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        finding_text(&mut out, f);
    }
    out
}

/// The build's outcome, attempts, wheel, verification and findings, for people.
pub fn summary(r: &BuildReport) -> String {
    let mut out = String::new();
    let outcome = r.outcome.map_or("unknown", |o| o.as_str());
    let peak = r
        .peak_memory
        .build_usage_bytes()
        .map(|b| format!("; build peak memory {}", format_bytes(b)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "wheelwright: build {outcome} in {}{peak}",
        format_duration(r.duration_seconds)
    );
    for (i, a) in r.attempts.iter().enumerate() {
        let _ = writeln!(
            out,
            "  attempt {}: MAX_JOBS={} NVCC_THREADS={} {} after {}",
            i + 1,
            a.max_jobs,
            a.nvcc_threads,
            a.outcome.as_str(),
            format_duration(a.seconds)
        );
    }
    if r.time_lost_seconds > 0.0 && r.attempts.len() > 1 {
        let _ = writeln!(
            out,
            "  time lost to failed attempts: {}",
            format_duration(r.time_lost_seconds)
        );
    }
    if let Some(c) = &r.compile_cache {
        let _ = writeln!(
            out,
            "  compile cache: {} hits of {} ({:.0} %), about {} saved",
            c.counts.hits,
            c.counts.hits + c.counts.misses,
            c.hit_rate * 100.0,
            format_duration(c.saved_seconds)
        );
    }
    if let Some(w) = &r.wheel {
        let _ = writeln!(
            out,
            "  wheel:  {} ({}, sha256 {})",
            w.path.display(),
            format_bytes(w.size),
            w.sha256
        );
    }
    if let Some(v) = &r.verify {
        let text = match (&v.error, v.max_abs_error, &v.skipped_reason) {
            (Some(e), _, _) => format!("FAILED: {e}"),
            (None, Some(err), _) => {
                format!("imported; flash_attn_func max abs error {err:.3e} against the reference")
            }
            (None, None, Some(reason)) if v.imported => format!("imported; {reason}"),
            (None, None, Some(reason)) => format!("skipped: {reason}"),
            (None, None, None) => "imported".to_string(),
        };
        let _ = writeln!(out, "  verify: {text}");
    }
    if let Some(log) = &r.log {
        let _ = writeln!(out, "  log:    {}", log.display());
    }
    out.push_str(&findings_text(&r.findings));
    out
}

/// What a build shows on GitHub Actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubBuildReport {
    /// Workflow commands for the findings' annotations (to stdout or stderr).
    pub annotations: String,
    /// Markdown to append to the file `GITHUB_STEP_SUMMARY` names.
    pub step_summary: String,
    /// `name<<DELIM` blocks to append to the file `GITHUB_OUTPUT` names:
    /// `outcome`, `wheel`, `wheel-sha256`, `report`, and the findings'.
    pub outputs: String,
}

/// The annotations, step summary and outputs of a build; `workspace`
/// (`GITHUB_WORKSPACE`) makes the findings' file paths relative to the checkout.
pub fn github_build_report(r: &BuildReport, workspace: Option<String>) -> GithubBuildReport {
    let opts = github::GithubOptions {
        workspace,
        ..Default::default()
    };
    let annotations = github::render_annotations(&r.findings, &opts);
    let step_summary = github::render_step_summary(&r.findings, annotations.omitted);
    let mut outputs = github::render_outputs(&r.findings);
    let mut put =
        |name: &str, value: &str| outputs.push_str(&github::multiline_output(name, value));
    put("outcome", r.outcome.map_or("unknown", |o| o.as_str()));
    if let Some(w) = &r.wheel {
        put("wheel", &w.path.display().to_string());
        put("wheel-sha256", &w.sha256);
    }
    if let Some(log) = &r.log {
        put(
            "report",
            &log.with_file_name("report.json").display().to_string(),
        );
    }
    GithubBuildReport {
        annotations: annotations.text,
        step_summary,
        outputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{Outcome, WheelInfo};
    use crate::finding::Severity;

    #[test]
    fn outputs_name_the_outcome_wheel_and_report() {
        let mut r = BuildReport::started("x", "torch-ext", std::path::Path::new("/w"));
        r.outcome = Some(Outcome::Ok);
        r.log = Some("/out/build.log".into());
        r.wheel = Some(WheelInfo {
            path: "/out/x-1.0-cp312-cp312-linux_x86_64.whl".into(),
            name: "x-1.0-cp312-cp312-linux_x86_64.whl".into(),
            size: 10,
            sha256: "ab".repeat(32),
        });
        r.findings.push(Finding::new(
            "ninja-missing",
            Severity::Warning,
            "t",
            "m",
            "f",
        ));
        let g = github_build_report(&r, None);
        for (name, value) in [
            ("outcome", "ok"),
            ("wheel", "/out/x-1.0-cp312-cp312-linux_x86_64.whl"),
            ("wheel-sha256", &"ab".repeat(32)),
            ("report", "/out/report.json"),
        ] {
            let block = g
                .outputs
                .split_once(&format!("{name}<<"))
                .unwrap_or_else(|| panic!("no {name} in {}", g.outputs))
                .1;
            assert_eq!(block.lines().nth(1), Some(value), "{}", g.outputs);
        }
        assert!(g.annotations.starts_with("::warning"), "{}", g.annotations);
        assert!(
            g.step_summary.contains("ninja-missing"),
            "{}",
            g.step_summary
        );
        let text = summary(&r);
        assert!(text.starts_with("wheelwright: build ok in"), "{text}");
        assert!(
            text.contains("warning[ninja-missing]: t\n  m\n  fix: f\n"),
            "{text}"
        );
    }
}
