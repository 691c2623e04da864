//! Reports of the commands around a build, for people: `runner check`,
//! `setup`, `publish` and `wheel check`, as the CLI prints them and as
//! another CI can put them in its log (the data is the library's; this is
//! only how it reads).

use std::fmt::Write as _;

use wheelwright_build::runner_setup::{CheckStatus, RunnerReport};
use wheelwright_build::setup::{SetupReport, StepStatus};
use wheelwright_job::check::{CheckRun, WheelOutcome};
use wheelwright_job::publish::{PublishReport, PublishStatus};
use wheelwright_job::wheel_verify::VerifyRun;
use wheelwright_wheel::archs::OfficialArchVerdict;
use wheelwright_wheel::WheelCheck;

/// The report for people: one line per check, then its fix and root commands.
pub fn runner_check_text(r: &RunnerReport) -> String {
    let mut out = String::new();
    let mode = if r.fix {
        "fix"
    } else {
        "check only: nothing changed"
    };
    let _ = writeln!(out, "wheelwright runner check ({mode})");
    for c in &r.checks {
        let _ = writeln!(out, "  {:<13} {:<13} {}", c.status.as_str(), c.id, c.detail);
        if c.status != CheckStatus::Ok {
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "  {:<13} {:<13} $ {fix}", "", "");
            }
        }
        for cmd in &c.root_commands {
            let _ = writeln!(out, "  {:<13} {:<13} (root) $ {cmd}", "", "");
        }
    }
    let _ = writeln!(out, "  labels: {}", r.labels.join(","));
    let summary = if !r.ok {
        "some checks FAILED"
    } else if r.changed {
        "fixed what needed no root; run it again to confirm nothing is left"
    } else if r
        .checks
        .iter()
        .any(|c| c.status == CheckStatus::WouldChange)
    {
        "--fix would change what is marked `would change`"
    } else {
        "nothing to change"
    };
    let _ = writeln!(out, "{summary}");
    out
}

/// The report for people: the interpreter, then one line per step (with its
/// command when it would change or failed).
pub fn setup_text(r: &SetupReport) -> String {
    let mut out = String::new();
    let head = if r.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "wheelwright setup: {} (Python {}, {}){head}",
        r.python.executable,
        r.python.version,
        r.python.kind()
    );
    for s in &r.steps {
        let status = match s.status {
            StepStatus::Changed => "changed",
            StepStatus::AlreadyFine => "already fine",
            StepStatus::WouldChange => "would change",
            StepStatus::Failed => "FAILED",
        };
        let _ = writeln!(out, "  {status:<13} {:<24} {}", s.id, s.detail);
        if matches!(s.status, StepStatus::WouldChange | StepStatus::Failed) {
            if let Some(cmd) = &s.command {
                let _ = writeln!(out, "  {:<13} {:<24} $ {}", "", "", cmd.join(" "));
            }
        }
    }
    out
}

/// One line per file and target: status, target, file, then its URL, sha256
/// and message indented below.
pub fn publish_text(r: &PublishReport) -> String {
    let mut out = String::new();
    for f in &r.files {
        let _ = writeln!(
            out,
            "{:<9} {:<15} {}",
            f.status.as_str(),
            f.target.as_str(),
            f.file
        );
        if let Some(url) = &f.url {
            let _ = writeln!(out, "          url:    {url}");
        }
        if !f.sha256.is_empty() {
            let _ = writeln!(out, "          sha256: {}", f.sha256);
        }
        if let Some(m) = &f.message {
            let _ = writeln!(out, "          {m}");
        }
    }
    let _ = writeln!(
        out,
        "{} uploaded, {} skipped, {} failed",
        r.count(PublishStatus::Uploaded),
        r.count(PublishStatus::Skipped),
        r.count(PublishStatus::Failed)
    );
    out
}

/// `wheelwright wheel check`'s report: the required archs, torch, notes,
/// then per wheel its verdict, binaries, policy and findings.
pub fn wheel_check_text(run: &CheckRun) -> String {
    let mut out = String::new();
    if let Some(r) = &run.required_archs {
        let all: Vec<&str> = r.sass.iter().chain(&r.ptx).map(String::as_str).collect();
        let _ = writeln!(
            out,
            "required archs: {} (from {})",
            all.join(", "),
            r.source
        );
    }
    if let Some(t) = &run.torch {
        let _ = writeln!(
            out,
            "torch: {} from {}{}",
            t.version.as_deref().unwrap_or("not installed"),
            t.python.display(),
            t.lib_dir
                .as_ref()
                .map(|l| format!(" ({})", l.display()))
                .unwrap_or_default()
        );
    }
    for note in &run.notes {
        let _ = writeln!(out, "note: {note}");
    }
    for w in &run.wheels {
        match w {
            WheelOutcome::Checked(c) => render_wheel(&mut out, c),
            WheelOutcome::BadInput { path, error, .. } => {
                let _ = writeln!(out, "\n{}: NOT CHECKED: {error}", path.display());
            }
        }
    }
    out
}

/// `wheel verify` for people: the GPUs, the wheel check, each binary's
/// device code against the GPUs, the import, and what failed with its fix.
pub fn wheel_verify_text(run: &VerifyRun) -> String {
    let mut out = String::new();
    for g in &run.gpus {
        let _ = writeln!(
            out,
            "GPU {}: {} (compute capability {})",
            g.index, g.name, g.compute_capability
        );
    }
    if let Some(d) = &run.driver {
        let _ = writeln!(
            out,
            "driver {}{}",
            d.version,
            d.cuda_driver_version
                .as_deref()
                .map(|c| format!(" (CUDA {c})"))
                .unwrap_or_default()
        );
    }
    out.push_str(&wheel_check_text(&run.check));
    if !run.binaries.is_empty() {
        let _ = writeln!(out, "\non the GPUs here:");
    }
    for b in &run.binaries {
        for f in &b.gpus {
            let runs: Vec<&str> = f
                .sass
                .iter()
                .map(String::as_str)
                .chain(f.ptx.iter().map(|p| p.as_str()))
                .collect();
            let verdict = if f.runs() {
                format!("runs ({})", runs.join(", "))
            } else {
                "CANNOT RUN".to_string()
            };
            let _ = writeln!(out, "  {} on {}: {verdict}", b.path, f.gpu);
        }
    }
    if let Some(i) = &run.import {
        let _ = writeln!(
            out,
            "\nimport in {}: {} {}{}",
            i.python.display(),
            run.check
                .wheels
                .first()
                .and_then(|w| match w {
                    wheelwright_job::check::WheelOutcome::Checked(c) =>
                        Some(c.name.distribution.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            i.installed_version.as_deref().unwrap_or("not installed"),
            i.torch
                .as_ref()
                .map(|t| format!(
                    ", torch {} (CUDA available: {})",
                    t.version,
                    t.cuda_available
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "?".into())
                ))
                .unwrap_or_default()
        );
        for m in &i.modules {
            if m.ok {
                let _ = writeln!(
                    out,
                    "  import {}: ok ({})",
                    m.name,
                    m.file.as_deref().unwrap_or("built in")
                );
            } else {
                let _ = writeln!(
                    out,
                    "  import {}: FAILED: {}",
                    m.name,
                    m.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    for f in &run.findings {
        let _ = writeln!(out, "{}: [{}] {}", f.severity.as_str(), f.id, f.message);
        if f.is_error() {
            let _ = writeln!(out, "  fix: {}", f.fix);
        }
    }
    let _ = writeln!(
        out,
        "\nwheel verify: {}",
        if run.passed { "passed" } else { "FAILED" }
    );
    out
}

fn render_wheel(out: &mut String, c: &WheelCheck) {
    let errors = c.errors().count();
    let warnings = c.findings.len() - errors;
    let file = c
        .path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let verdict = if c.passed { "passed" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\n{file}: {verdict} ({errors} errors, {warnings} warnings)"
    );
    let _ = writeln!(
        out,
        "  METADATA version {}, WHEEL tags {}, RECORD: {} files verified",
        c.metadata_version.as_deref().unwrap_or("?"),
        c.wheel_tags.join(", "),
        c.record_verified
    );
    for b in &c.binaries {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "  {}: SASS {}; PTX {} ({} fatbin entries)",
            b.path,
            list(&b.sass),
            list(&b.ptx),
            b.fatbin_entries
        );
        if let Some(a) = &b.archs {
            let _ = writeln!(
                out,
                "    archs: missing {}; extra {}",
                list(&a.missing),
                list(&a.extra)
            );
        }
        if let Some(e) = &b.extension {
            let as_planned = e
                .units
                .iter()
                .filter(|u| u.missing.is_empty() && u.extra.is_empty())
                .count();
            let _ = writeln!(
                out,
                "    extension {}: {} of {} planned nvcc units found as planned ({})",
                e.extension,
                as_planned,
                e.units.len(),
                list(&e.planned)
            );
            for u in e
                .units
                .iter()
                .filter(|u| !u.missing.is_empty() || !u.extra.is_empty())
            {
                let _ = writeln!(
                    out,
                    "      {}: planned {}; found {}",
                    u.path,
                    list(&u.targets),
                    u.found.as_deref().map_or("no container".to_string(), list)
                );
            }
        }
        let s = &b.symbols;
        let _ = writeln!(
            out,
            "    symbols: {} undefined, {} resolved, {} missing, {} unresolved",
            s.undefined, s.resolved, s.missing_count, s.unresolved_count
        );
        if !s.libraries_not_found.is_empty() {
            let libs: Vec<&str> = s
                .libraries_not_found
                .iter()
                .map(|l| l.name.as_str())
                .collect();
            let _ = writeln!(out, "    libraries not found: {}", libs.join(", "));
        }
        if !b.versions.is_empty() {
            let v: Vec<&str> = b.versions.values().map(String::as_str).collect();
            let _ = writeln!(out, "    needs {}", v.join(", "));
        }
    }
    if let Some(p) = &c.policy {
        let _ = writeln!(
            out,
            "  manylinux policy (torch and CUDA libraries external): {}{}",
            p.platform_tag,
            if p.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.reasons.join("; "))
            }
        );
    }
    match &c.official_archs {
        Some(OfficialArchVerdict::Meets { required }) => {
            let _ = writeln!(
                out,
                "  flash-attn release archs ({}): all present",
                required.join(", ")
            );
        }
        Some(OfficialArchVerdict::Missing { required, missing }) => {
            let _ = writeln!(
                out,
                "  flash-attn release archs ({}): missing {}; publish under a local label that says so, not flash-attn's asset name",
                required.join(", "),
                missing.join(", ")
            );
        }
        Some(OfficialArchVerdict::UnknownVersion { version }) => {
            let _ = writeln!(out, "  flash-attn release archs: unknown for {version}");
        }
        None => {}
    }
    for f in &c.findings {
        let _ = writeln!(out, "  {}[{}]: {}", f.severity.as_str(), f.id, f.message);
        let _ = writeln!(out, "    fix: {}", f.fix);
    }
}
