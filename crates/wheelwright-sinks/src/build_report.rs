//! A build's [`BuildReport`] for people and for GitHub Actions: the plain
//! summary every CI log shows, and the annotations, step summary and outputs
//! (`outcome`, `wheel`, `wheel-sha256`, `report`, plus the findings') that the
//! Action publishes. The caller writes them where they go (stdout,
//! `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`).

use std::fmt::Write as _;

use super::github::{self, ActionsEnv, RunnerFileError};
use super::redact_secrets;
use wheelwright_base::finding::Finding;
use wheelwright_base::units::{format_bytes, format_duration};
use wheelwright_job::report::BuildReport;

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
    if let Some(p) = r.prebuilt.as_ref().filter(|p| p.used) {
        let _ = writeln!(out, "  {}", p.note);
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
    /// `outcome`, `wheel-path`, `wheel-name`, `sha256`, `report-path`,
    /// `archs`, `local-version`, `max-jobs`, `nvcc-threads`, `asset-urls`
    /// (one per line, when the job published), `prebuilt-url` (where the
    /// prebuilt wheel used instead of compiling came from), the aliases `wheel`,
    /// `wheel-sha256`, `report`, and the findings'.
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
        let path = w.path.display().to_string();
        // `wheel` and `wheel-sha256` are the names of the action's first release.
        for name in ["wheel-path", "wheel"] {
            put(name, &path);
        }
        put("wheel-name", &w.name);
        for name in ["sha256", "wheel-sha256"] {
            put(name, &w.sha256);
        }
    }
    if let Some(log) = &r.log {
        let report = log.with_file_name("report.json").display().to_string();
        for name in ["report-path", "report"] {
            put(name, &report);
        }
    }
    if let Some(plan) = &r.plan {
        put("archs", &plan.archs.join(";"));
        if let Some(label) = &plan.local_version {
            put("local-version", label);
        }
    }
    // What the last attempt ran with (after OOM retries, fewer jobs than planned).
    if let Some(a) = r.attempts.last() {
        put("max-jobs", &a.max_jobs.to_string());
        put("nvcc-threads", &a.nvcc_threads.to_string());
    } else if let Some(plan) = &r.plan {
        put("max-jobs", &plan.max_jobs.to_string());
        put("nvcc-threads", &plan.nvcc_threads.to_string());
    }
    if let Some(p) = r.prebuilt.as_ref().filter(|p| p.used) {
        let from = p
            .url
            .clone()
            .or_else(|| p.path.as_ref().map(|f| f.display().to_string()));
        put("prebuilt-url", from.as_deref().unwrap_or_default());
    }
    if let Some(publish) = &r.publish {
        outputs.push_str(&publish_outputs(publish));
    }
    GithubBuildReport {
        annotations: annotations.text,
        step_summary,
        outputs,
    }
}

/// Show a build's result on a GitHub Actions runner, as the Action does:
/// the findings' annotations to `annotations` (stdout, or stderr when stdout
/// carries a JSON report; secrets masked), the step summary and the outputs
/// appended to the files the runner names. Nothing off a runner. A write
/// error on `annotations` is ignored, as the console's are, so the runner
/// files are still written.
pub fn show_on_github(
    r: &BuildReport,
    env: &ActionsEnv,
    annotations: &mut dyn std::io::Write,
) -> Result<(), RunnerFileError> {
    if !env.active {
        return Ok(());
    }
    let g = github_build_report(r, env.workspace.clone());
    let _ = annotations
        .write_all(redact_secrets(&g.annotations).as_bytes())
        .and_then(|()| annotations.flush());
    env.append(&g.step_summary, &g.outputs)
}

/// `asset-urls` for `GITHUB_OUTPUT`: the http(s) URLs of the files a publish
/// uploaded or found already there, one per line (none for failed files or
/// local copies).
pub fn publish_outputs(r: &wheelwright_job::publish::PublishReport) -> String {
    let urls: Vec<&str> = r
        .files
        .iter()
        .filter(|f| f.status != wheelwright_job::publish::PublishStatus::Failed)
        .filter_map(|f| f.url.as_deref())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .collect();
    github::multiline_output("asset-urls", &urls.join("\n"))
}

/// On a runner, the publish's `asset-urls` ([`publish_outputs`]) appended to
/// the file `GITHUB_OUTPUT` names (the Action's output); nothing elsewhere.
pub fn publish_on_github(
    r: &wheelwright_job::publish::PublishReport,
    env: &ActionsEnv,
) -> Result<(), github::env_files::EnvFileError> {
    match (&env.output, env.active) {
        (Some(path), true) => github::env_files::append(path, &publish_outputs(r)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_base::finding::Severity;
    use wheelwright_build::Outcome;
    use wheelwright_wheel::file::WheelInfo;

    fn ninja_missing() -> Finding {
        Finding::new("ninja-missing", Severity::Warning, "t", "m", "f")
    }

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
        r.findings.push(ninja_missing());
        let g = github_build_report(&r, None);
        let wheel = "/out/x-1.0-cp312-cp312-linux_x86_64.whl";
        let sha = "ab".repeat(32);
        for (name, value) in [
            ("outcome", "ok"),
            ("wheel-path", wheel),
            ("wheel", wheel),
            ("wheel-name", "x-1.0-cp312-cp312-linux_x86_64.whl"),
            ("sha256", &sha),
            ("wheel-sha256", &sha),
            ("report-path", "/out/report.json"),
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
        assert!(!g.outputs.contains("asset-urls"), "nothing published");
        assert!(
            text.contains("warning[ninja-missing]: t\n  m\n  fix: f\n"),
            "{text}"
        );
    }

    /// The value of output `name` in `outputs` (`name<<DELIM` blocks).
    fn output(outputs: &str, name: &str) -> Option<String> {
        let block = outputs.split_once(&format!("{name}<<"))?.1;
        let (delim, rest) = block.split_once('\n')?;
        Some(rest.split_once(&format!("\n{delim}\n"))?.0.to_string())
    }

    #[test]
    fn outputs_of_a_real_build_carry_its_plan_last_attempt_and_published_urls() {
        let text = crate::test_support::fixture("builds/h200-flash-attn/report.json");
        let mut r: BuildReport = serde_json::from_str(&text).unwrap();
        let g = github_build_report(&r, None);
        for (name, value) in [
            ("archs", "90"),
            ("local-version", "cu13torch2.11cxx11abiTRUE"),
            ("max-jobs", "16"),
            ("nvcc-threads", "1"),
            (
                "wheel-name",
                "flash_attn-2.8.3+cu13torch2.11cxx11abitrue-cp312-cp312-linux_x86_64.whl",
            ),
            (
                "sha256",
                "a187ff51c6a571e09ed0c46f941b134b3b02b4c026cacaceff4656fa592fd30e",
            ),
        ] {
            assert_eq!(output(&g.outputs, name).as_deref(), Some(value), "{name}");
        }
        // After an OOM retry the outputs say what the wheel was built with.
        let mut retry = r.attempts[0].clone();
        retry.max_jobs = 8;
        r.attempts.push(retry);
        r.publish = Some(
            serde_json::from_str(
                r#"{"files": [
                {"target": "github_release", "file": "a.whl", "status": "uploaded", "url": "https://github.com/o/r/releases/download/v1/a.whl", "sha256": "ab"},
                {"target": "wheelhouse", "file": "a.whl", "status": "uploaded", "url": "/srv/wheelhouse/a.whl", "sha256": "ab"},
                {"target": "upload", "file": "a.whl", "status": "failed", "url": "https://pypi.example/a.whl", "sha256": "ab"},
                {"target": "index", "file": "a.whl", "status": "skipped", "url": "https://pages.example/simple/flash-attn/", "sha256": "ab"}
            ]}"#,
            )
            .unwrap(),
        );
        let g = github_build_report(&r, None);
        assert_eq!(output(&g.outputs, "max-jobs").as_deref(), Some("8"));
        let dir = tempfile::tempdir().unwrap();
        let mut env = ActionsEnv {
            output: Some(dir.path().join("output")),
            ..ActionsEnv::default()
        };
        let publish = r.publish.as_ref().unwrap();
        publish_on_github(publish, &env).unwrap();
        assert!(!dir.path().join("output").exists(), "not on a runner");
        env.active = true;
        publish_on_github(publish, &env).unwrap();
        let written = std::fs::read_to_string(dir.path().join("output")).unwrap();
        assert_eq!(
            output(&written, "asset-urls"),
            output(&g.outputs, "asset-urls")
        );
        assert_eq!(
            output(&g.outputs, "asset-urls").as_deref(),
            Some("https://github.com/o/r/releases/download/v1/a.whl\nhttps://pages.example/simple/flash-attn/")
        );
    }

    #[test]
    fn a_runner_gets_the_annotations_summary_and_outputs_and_others_nothing() {
        let text = crate::test_support::fixture("builds/h200-flash-attn/report.json");
        let mut r: BuildReport = serde_json::from_str(&text).unwrap();
        r.findings.push(ninja_missing());
        let dir = tempfile::tempdir().unwrap();
        let env = ActionsEnv {
            active: true,
            workspace: None,
            step_summary: Some(dir.path().join("summary.md")),
            output: Some(dir.path().join("output")),
        };
        let mut annotations = Vec::new();
        show_on_github(&r, &env, &mut annotations).unwrap();
        let annotations = String::from_utf8(annotations).unwrap();
        assert!(annotations.starts_with("::warning"), "{annotations}");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(read("summary.md").contains("ninja-missing"));
        assert_eq!(output(&read("output"), "archs").as_deref(), Some("90"));

        let mut none = Vec::new();
        let off = ActionsEnv {
            active: false,
            ..env
        };
        std::fs::remove_file(dir.path().join("output")).unwrap();
        show_on_github(&r, &off, &mut none).unwrap();
        assert!(none.is_empty() && !dir.path().join("output").exists());
    }
}
