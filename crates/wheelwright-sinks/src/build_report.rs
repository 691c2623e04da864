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
use wheelwright_build::Outcome;
use wheelwright_job::report::BuildReport;
use wheelwright_job::repro::sh_quote;

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
    /// `variant-wheel-path` and `variant-wheel-name` (with `--variants`),
    /// `archs`, `local-version` (the label the wheel made carries), `max-jobs`, `nvcc-threads`, `asset-urls`
    /// (one per line, when the job published), `prebuilt-url` (where the
    /// prebuilt wheel used instead of compiling came from), the aliases `wheel`,
    /// `wheel-sha256`, `report`, and the findings'.
    pub outputs: String,
}

/// How many lines of the end of `build.log` a failed build shows.
pub const LOG_TAIL_LINES: usize = 30;

/// The annotations, step summary and outputs of a build; `workspace`
/// (`GITHUB_WORKSPACE`) makes the findings' file paths relative to the checkout;
/// `log_tail` is the end of its `build.log` ([`log_tail`]).
///
/// A failed build always gets an error annotation: its findings' when a rule
/// recognised the failure, else one naming the failing command with the log's
/// last lines; its step summary starts with that command and the log's tail,
/// fenced. A successful build's summary starts with the wheel, its archs, the
/// time against the plan's, the peak memory against the plan's, and the jobs.
pub fn github_build_report(
    r: &BuildReport,
    workspace: Option<String>,
    log_tail: &[String],
) -> GithubBuildReport {
    let opts = github::GithubOptions {
        workspace,
        ..Default::default()
    };
    let annotations = github::render_annotations(&r.findings, &opts);
    let mut annotation_text = annotations.text;
    let mut step_summary = String::new();
    match r.outcome {
        Some(Outcome::Ok) => step_summary.push_str(&success_summary(r)),
        Some(_) | None => {
            // A failure no rule recognised still gets an error annotation.
            if !r.findings.iter().any(|f| f.is_error()) {
                annotation_text.push_str(&failure_annotation(r, log_tail));
                annotation_text.push('\n');
            }
            step_summary.push_str(&failure_summary(r, log_tail));
        }
    }
    step_summary.push_str(&github::render_step_summary(
        &r.findings,
        annotations.omitted,
    ));
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
    if let Some(v) = &r.variant {
        put("variant-wheel-path", &v.wheel.path.display().to_string());
        put("variant-wheel-name", &v.wheel.name);
    }
    if let Some(log) = &r.log {
        let report = log.with_file_name("report.json").display().to_string();
        for name in ["report-path", "report"] {
            put(name, &report);
        }
    }
    if let Some(plan) = &r.plan {
        put("archs", &plan.archs.join(";"));
    }
    if let Some(label) = made_local_version(r) {
        put("local-version", &label);
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
        annotations: annotation_text,
        step_summary,
        outputs,
    }
}

/// The local version label of the wheel the build made (issue 27 item 6):
/// the plan's spelling when the wheel carries that label (pip lower-cases it:
/// flash-attn's `cxx11abiTRUE` is the file's `cxx11abitrue`), else the
/// wheel's own; none when the wheel has no label (a torch-ext recipe's
/// `flash_attn-2.8.3-py3-none-any.whl`, whatever the plan named) or no wheel
/// was made.
fn made_local_version(r: &BuildReport) -> Option<String> {
    let wheel = r.wheel.as_ref()?;
    // `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`: `-` in a
    // name or version is escaped, so the version is the second field.
    let made = wheel.name.split('-').nth(1)?.split_once('+')?.1;
    match r.plan.as_ref().and_then(|p| p.local_version.as_deref()) {
        Some(planned) if planned.eq_ignore_ascii_case(made) => Some(planned.to_string()),
        _ => Some(made.to_string()),
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
    let tail = r
        .log
        .as_deref()
        .map(|log| log_tail(log, LOG_TAIL_LINES))
        .unwrap_or_default();
    let g = github_build_report(r, env.workspace.clone(), &tail);
    let _ = annotations
        .write_all(redact_secrets(&g.annotations).as_bytes())
        .and_then(|()| annotations.flush());
    env.append(&g.step_summary, &g.outputs)
}

/// The last `lines` lines of the log at `path` (at most 64 KiB read from its
/// end; lossy UTF-8); empty when it cannot be read.
pub fn log_tail(path: &std::path::Path, lines: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 64 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(MAX))).is_err()
        || f.take(MAX).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    // A first line cut by the 64 KiB window is dropped.
    let from = all.len().saturating_sub(lines).max(usize::from(len > MAX));
    all[from.min(all.len())..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The build's command line, quoted for a shell.
fn command_line(r: &BuildReport) -> String {
    let words: Vec<String> = r.command.iter().map(|w| sh_quote(w)).collect();
    if words.is_empty() {
        "the build".to_string()
    } else {
        words.join(" ")
    }
}

/// `exited with 1`, `was killed by signal 9`, or the outcome.
fn how_it_ended(r: &BuildReport) -> String {
    let outcome = r.outcome.map_or("unknown", |o| o.as_str());
    match (r.exit_code, r.attempts.last().and_then(|a| a.signal)) {
        (_, Some(sig)) => format!("was killed by signal {sig} ({outcome})"),
        (Some(code), None) => format!("exited with {code} ({outcome})"),
        (None, None) => format!("ended: {outcome}"),
    }
}

/// The error annotation of a failure no rule recognised: the failing command
/// and the log's last lines, within GitHub's 4096 characters (the lines
/// nearest the end kept).
fn failure_annotation(r: &BuildReport, tail: &[String]) -> String {
    let head = format!("{} {}.", command_line(r), how_it_ended(r));
    let budget = github::MAX_MESSAGE_CHARS - 200 - head.chars().count().min(2000);
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0;
    for line in tail.iter().rev() {
        used += line.chars().count() + 1;
        if used > budget {
            break;
        }
        kept.push(line);
    }
    kept.reverse();
    let message = format!(
        "{}\n\nLast lines of build.log:\n```\n{}\n```",
        head.chars().take(2000).collect::<String>(),
        kept.join("\n")
    );
    format!(
        "::error title={}::{}",
        github::escape_property("wheelwright: the build failed"),
        github::escape_data(&message)
    )
}

/// The top of a failed build's step summary: the command, how it ended, the
/// log's tail in a fence no log line can close.
fn failure_summary(r: &BuildReport, tail: &[String]) -> String {
    let mut out = format!(
        "### wheelwright build failed\n\n{} {}\n\n",
        github::code_span(&command_line(r)),
        github::markdown_cell(&how_it_ended(r))
    );
    if let Some(log) = &r.log {
        let _ = writeln!(
            out,
            "The last {} lines of {}:\n",
            tail.len(),
            github::code_span(&log.display().to_string())
        );
    }
    out.push_str(&github::code_block(tail));
    out.push('\n');
    out
}

/// The top of a successful build's step summary: wheel, archs, time and peak
/// memory against the plan, jobs and threads, retries.
fn success_summary(r: &BuildReport) -> String {
    let mut out = String::from("### wheelwright build\n\n| | |\n| --- | --- |\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {} |", github::markdown_cell(&v));
    };
    if let Some(w) = &r.wheel {
        row("wheel", format!("{} ({})", w.name, format_bytes(w.size)));
        row("sha256", w.sha256.clone());
    }
    let plan = r.plan.as_ref();
    if let Some(p) = plan {
        row("archs", p.archs.join(";"));
    }
    let planned = plan.map(|p| p.predicted_longest_first.wall_seconds);
    row(
        "time",
        match planned.filter(|s| *s > 0.0) {
            Some(p) => format!(
                "{} (planned {}, ×{:.2})",
                format_duration(r.duration_seconds),
                format_duration(p),
                r.duration_seconds / p
            ),
            None => format_duration(r.duration_seconds),
        },
    );
    let planned_peak = plan.map(|p| p.predicted_longest_first.peak_memory_bytes);
    if let Some(peak) = r.peak_memory.build_usage_bytes() {
        row(
            "peak memory",
            match planned_peak.filter(|b| *b > 0) {
                Some(p) => format!("{} (planned {})", format_bytes(peak), format_bytes(p)),
                None => format_bytes(peak),
            },
        );
    }
    if let Some(a) = r.attempts.last() {
        row(
            "jobs",
            format!("MAX_JOBS={} NVCC_THREADS={}", a.max_jobs, a.nvcc_threads),
        );
    }
    if r.attempts.len() > 1 {
        row(
            "attempts",
            format!(
                "{} ({} lost to retries)",
                r.attempts.len(),
                format_duration(r.time_lost_seconds)
            ),
        );
    }
    out.push('\n');
    out
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
    use crate::github::markdown_cell;
    use wheelwright_base::finding::Severity;
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
        let g = github_build_report(&r, None, &[]);
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
        let g = github_build_report(&r, None, &[]);
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
        // The label is the wheel's (issue 27 item 6): a wheel without one
        // gets no local-version, whatever the plan named; another label is
        // the wheel's own.
        let mut other = r.clone();
        other.wheel.as_mut().unwrap().name = "flash_attn-2.8.3-py3-none-any.whl".into();
        let g = github_build_report(&other, None, &[]);
        assert_eq!(output(&g.outputs, "local-version"), None, "{}", g.outputs);
        other.wheel.as_mut().unwrap().name =
            "spatial_correlation_sampler-0.5.0+cu130-cp312-cp312-linux_x86_64.whl".into();
        let g = github_build_report(&other, None, &[]);
        assert_eq!(
            output(&g.outputs, "local-version").as_deref(),
            Some("cu130")
        );
        other.wheel = None;
        let g = github_build_report(&other, None, &[]);
        assert_eq!(output(&g.outputs, "local-version"), None, "no wheel made");
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
        let g = github_build_report(&r, None, &[]);
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

    /// A real captured log of a failed compile (`tests/fixtures/logs/public`).
    fn real_log() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/logs/public/compile_error_gxx_lc0.log")
    }

    /// Issue 27 item 7: a failure no rule recognised still gets an error
    /// annotation with the failing command and the log's last lines, and the
    /// summary shows them fenced.
    #[test]
    fn an_unrecognised_failure_gets_an_error_annotation_with_command_and_log_tail() {
        let mut r = BuildReport::started(
            "flash-attn==2.8.3",
            "flash-attn",
            std::path::Path::new("/w"),
        );
        r.outcome = Some(Outcome::Failed);
        r.exit_code = Some(1);
        r.command = vec![
            "/venv/bin/python".into(),
            "-m".into(),
            "pip".into(),
            "wheel".into(),
            "my tree".into(),
        ];
        r.log = Some(real_log());
        let tail = log_tail(&real_log(), LOG_TAIL_LINES);
        let text = std::fs::read_to_string(real_log()).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(tail.last().map(String::as_str), Some(last));
        assert!(tail.len() <= LOG_TAIL_LINES);

        let g = github_build_report(&r, None, &tail);
        let errors: Vec<&str> = g
            .annotations
            .lines()
            .filter(|l| l.starts_with("::error "))
            .collect();
        assert_eq!(errors.len(), 1, "{}", g.annotations);
        let e = errors[0];
        assert!(e.starts_with("::error title=wheelwright%3A the build failed::/venv/bin/python -m pip wheel 'my tree' exited with 1 (failed)."), "{e}");
        assert!(e.contains("%0A%0ALast lines of build.log:%0A```%0A"), "{e}");
        assert!(e.contains(&github::escape_data(last)), "{e}");
        assert!(
            e.chars().count() <= github::MAX_MESSAGE_CHARS + 64,
            "{}",
            e.len()
        );
        assert!(g.step_summary.starts_with("### wheelwright build failed\n\n`/venv/bin/python -m pip wheel 'my tree'` exited with 1 (failed)"), "{}", g.step_summary);
        assert!(
            g.step_summary.contains(&format!("{last}\n```")),
            "{}",
            g.step_summary
        );

        // With a recognised error, its annotation is the one; the tail still shows.
        r.findings
            .push(Finding::new("gcc-too-new", Severity::Error, "t", "m", "f"));
        let g = github_build_report(&r, None, &tail);
        assert_eq!(
            g.annotations
                .lines()
                .filter(|l| l.starts_with("::error "))
                .count(),
            1
        );
        assert!(g.annotations.contains("gcc-too-new"), "{}", g.annotations);
        assert!(g.step_summary.contains("### wheelwright build failed"));
        // No log at all: still one error annotation.
        r.findings.clear();
        let g = github_build_report(&r, None, &[]);
        assert!(g.annotations.starts_with("::error "), "{}", g.annotations);
    }

    /// Issue 27 item 7: a successful build's summary shows the wheel, its
    /// archs, the time and peak memory against the plan's, and the jobs.
    #[test]
    fn a_successful_build_summary_shows_wheel_archs_time_and_memory_against_the_plan() {
        let text = crate::test_support::fixture("builds/h200-flash-attn/report.json");
        let r: BuildReport = serde_json::from_str(&text).unwrap();
        let g = github_build_report(&r, None, &[]);
        let s = &g.step_summary;
        assert!(s.starts_with("### wheelwright build\n"), "{s}");
        let w = r.wheel.as_ref().unwrap();
        let plan = r.plan.as_ref().unwrap();
        let expect = [
            format!(
                "| wheel | {} |",
                markdown_cell(&format!("{} ({})", w.name, format_bytes(w.size)))
            ),
            "| archs | 90 |".to_string(),
            format!(
                "| time | {} |",
                markdown_cell(&format!(
                    "{} (planned {}, ×{:.2})",
                    format_duration(r.duration_seconds),
                    format_duration(plan.predicted_longest_first.wall_seconds),
                    r.duration_seconds / plan.predicted_longest_first.wall_seconds
                ))
            ),
            format!(
                "| peak memory | {} |",
                markdown_cell(&format!(
                    "{} (planned {})",
                    format_bytes(r.peak_memory.build_usage_bytes().unwrap()),
                    format_bytes(plan.predicted_longest_first.peak_memory_bytes)
                ))
            ),
            "| jobs | MAX\\_JOBS=16 NVCC\\_THREADS=1 |".to_string(),
        ];
        for row in expect {
            assert!(s.contains(&row), "{row}\n{s}");
        }
        // The measured build took less than planned on the faster H200.
        assert!(s.contains("×0."), "{s}");
        assert!(!g.annotations.contains("::error"), "{}", g.annotations);
    }

    #[test]
    fn the_log_tail_of_a_long_log_is_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build.log");
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path, 3);
        assert_eq!(tail, ["line 19997", "line 19998", "line 19999"]);
        assert!(log_tail(&dir.path().join("missing"), 3).is_empty());
    }
}
