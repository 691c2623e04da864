//! A whole build driven by another CI system through `wheelwright-core`
//! alone: a [`JobSpec`] read from a JSON file (or the source on the command
//! line), [`job::run`] with plain-text progress, then the results in the
//! formats GitLab shows: a JUnit report (`junit.xml`) and a code-quality
//! report (`gl-code-quality-report.json`), next to `report.json`.
//!
//! ```text
//! cargo run --example ci_job -- SPEC.json|SOURCE
//! ```
//!
//! ```yaml
//! # .gitlab-ci.yml
//! build-wheel:
//!   script: [ "ci_job job.json" ]
//!   artifacts:
//!     reports: { junit: wheelhouse/junit.xml, codequality: wheelhouse/gl-code-quality-report.json }
//! ```
//!
//! Exit status: 0 built, 1 the build failed, 2 bad input or refused, 3 the
//! records could not be written, 130 cancelled.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use wheelwright_core::builder::{BuildEvent, Outcome};
use wheelwright_core::detect::DetectOptions;
use wheelwright_core::job::{self, JobContext, JobEvent, JobSpec};
use wheelwright_core::net::Offline;
use wheelwright_core::sinks::{build_report, gitlab, junit};

fn main() -> ExitCode {
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: ci_job SPEC.json|SOURCE");
        return ExitCode::from(2);
    };
    let spec = if arg.ends_with(".json") {
        let parsed = std::fs::read_to_string(&arg)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<JobSpec>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(spec) => spec,
            Err(e) => {
                eprintln!("error: {arg}: {e}\nhint: write a JobSpec, e.g. {{\"source\": \"flash-attn==2.8.3\"}}");
                return ExitCode::from(2);
            }
        }
    } else {
        JobSpec::new(arg)
    };

    // A real CI wrapper would set this from SIGTERM (e.g. with signal-hook).
    let cancel = AtomicBool::new(false);
    let ctx = JobContext {
        detect: DetectOptions::from_process_env(),
        network: &Offline,
        cancel: &cancel,
        // A program that answers `wheelwright_core::supervisor::SUBCOMMAND`
        // could pass itself here; this one runs the build directly.
        supervisor: None,
    };
    let result = job::run(&spec, &ctx, &mut |event| match event {
        JobEvent::Build(BuildEvent::Line(line)) => println!("{line}"),
        JobEvent::Build(BuildEvent::Note(note)) => eprintln!("ci_job: {note}"),
        JobEvent::Building {
            max_jobs,
            nvcc_threads,
            ..
        } => {
            eprintln!("ci_job: building with MAX_JOBS={max_jobs} NVCC_THREADS={nvcc_threads}")
        }
        _ => {}
    });
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}\nhint: {}", e.hint());
            return ExitCode::from(e.exit_code());
        }
    };
    eprint!("{}", build_report::summary(&report));

    let log = report.log.clone().unwrap_or_default();
    let junit_xml = junit::render(&report.findings, "wheelwright build");
    let quality = gitlab::render(&report.findings, &log.display().to_string());
    for (name, text) in [
        ("junit.xml", junit_xml),
        ("gl-code-quality-report.json", quality),
    ] {
        let path = spec.out_dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(3);
        }
    }
    ExitCode::from(match report.outcome {
        Some(Outcome::Ok) => 0,
        Some(Outcome::Cancelled) => 130,
        _ => 1,
    })
}
