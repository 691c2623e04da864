//! `wheelwright wheel check`: verify wheels before they leave the machine
//! (identity, RECORD hashes, GPU archs, symbols, glibc and manylinux policy).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use wheelwright_core::wheel_check::{
    archs::OfficialArchVerdict, run_checks, CheckRequest, CheckRun, Purpose, WheelCheck,
    WheelOutcome,
};

use crate::exit;

/// `wheelwright wheel ...`.
#[derive(Debug, Subcommand)]
pub enum WheelCommand {
    /// Check wheels: name/WHEEL/METADATA agree, RECORD hashes, GPU archs, symbols, glibc, manylinux policy.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit status:
  0  every wheel passed (warnings do not fail)
  1  a check failed (an error finding)
  2  bad input: a file is missing or not a wheel, a bad --require-archs,
     an unreadable --report, a --python that cannot be run

The required archs come from --require-archs, else from the plan in --report.
Symbols are resolved against the torch of --python, else of the interpreter
that ran the build in --report; without either, symbols from libraries not
found here are listed as unresolved, not failed. The manylinux policy treats
libc10*, libtorch*, libcu* and libnv* as external; it is reported, not
required.")]
pub struct CheckArgs {
    /// The wheels to check.
    #[arg(value_name = "WHEEL", required = true)]
    pub wheels: Vec<PathBuf>,

    /// Architectures every binary with device code must carry as SASS:
    /// `80;90`, `8.0,9.0a`; `9.0+PTX` or `compute_90` also require PTX.
    #[arg(long, value_name = "LIST")]
    pub require_archs: Option<String>,

    /// The build's report.json: the archs it planned, the interpreter it used.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// The Python whose torch the wheel was built for (symbols resolve against it).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Check for publishing to an index: a METADATA version without the file
    /// name's local label is an error, not a warning.
    #[arg(long)]
    pub for_index: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: WheelCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WheelCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let req = CheckRequest {
        wheels: args.wheels,
        require_archs: args.require_archs,
        report: args.report,
        python: args.python,
        purpose: if args.for_index {
            Purpose::Index
        } else {
            Purpose::Local
        },
    };
    let result = run_checks(&req).map_err(|e| {
        exit::usage(
            e.to_string(),
            "--require-archs takes e.g. `80;90`; --report a wheelwright report.json; \
             --python an interpreter that runs",
        )
    })?;
    if args.json {
        super::print_json(&result)?;
    } else {
        super::print_text(&render(&result))?;
    }
    let code = result.exit_code();
    for w in &result.wheels {
        if let WheelOutcome::BadInput { path, error, hint } = w {
            super::eprint_text(&format!(
                "error: {}: {error}\nhint: {hint}\n",
                path.display()
            ))?;
        }
    }
    Ok(ExitCode::from(code))
}

fn render(run: &CheckRun) -> String {
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
