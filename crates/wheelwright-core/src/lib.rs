//! wheelwright-core: detect a build host, plan a CUDA extension build from
//! measured costs, run it while watching memory, and diagnose what went wrong.
//!
//! This crate is the facade: it re-exports the layered crates under the paths
//! a CI integrator uses (`wheelwright_core::plan`, `::job`, `::sinks`, ...),
//! and holds the JSON schemas of the contracts and the tests that cross
//! stages. A program that needs one stage can depend on its crate alone:
//! `wheelwright-diagnose` to diagnose a log, `wheelwright-wheel` to check a
//! wheel, `wheelwright-plan` to plan; `docs/ARCHITECTURE.md` draws the graph.
//!
//! The stages exchange plain serde types ([`Facts`], [`plan::Plan`],
//! [`Finding`], [`builder::BuildReport`]), so each can run on its own and any
//! CI system can read them; with the `schema` feature, the `schema` module
//! gives their JSON schemas. The library never prints and keeps no global state: progress
//! comes back as events, text for people as strings ([`sinks`]).
//!
//! - [`detect`] → [`Facts`]: CPUs, memory and its cgroup limit, GPUs, CUDA,
//!   compilers, Python, torch, ninja;
//! - [`plan`] → [`plan::Plan`]: archs, MAX_JOBS, NVCC_THREADS and the build's
//!   environment from a cost model, with predictions and preflight findings;
//! - [`job`]: the whole build from a [`job::JobSpec`] in one call
//!   ([`job::run`]), returning the [`builder::BuildReport`] it also writes as
//!   `report.json`; [`job::repro`] replays a report;
//! - [`diagnose`] → [`Finding`]s from a build log, live or saved;
//! - [`sinks`]: findings and reports for GitHub Actions, JUnit, GitLab, JSON
//!   and plain text; [`wheel_check`] and [`publish`] for the wheel after.
//!
//! # Planning for a host described in code
//!
//! No GPU, no CUDA and no detection needed: the host is a [`plan::HostSpec`]
//! (what `wheelwright plan --cpus 64 --memory 512GiB --gpu sm_80` builds).
//!
//! ```
//! use wheelwright_core::plan::{self, HostSpec, PlanRequest, Recipe};
//!
//! // 64 CPUs, 512 GiB, one A100 (sm_80), CUDA 12.8 and torch 2.8.
//! let host = HostSpec {
//!     cpus: Some(64),
//!     memory_bytes: Some(512 << 30),
//!     gpus: Some(vec!["sm_80".into()]),
//!     cuda: Some("12.8".into()),
//!     torch: Some("2.8".into()),
//!     ..HostSpec::default()
//! };
//! let (facts, _assumed) = host.hypothetical_facts()?;
//! let plan = plan::plan(&Recipe::flash_attn("2.8.3"), &facts, &PlanRequest::default())?;
//!
//! assert!(!plan.refused(), "{:?}", plan.findings);
//! assert_eq!(plan.archs, ["80"]);
//! // Never more memory than the host has, less the margin.
//! assert!(plan.predicted.peak_memory_bytes <= plan.memory_ceiling_bytes);
//! // The build's environment carries the choice.
//! assert_eq!(plan.env["MAX_JOBS"], plan.max_jobs.to_string());
//! assert_eq!(plan.env["FLASH_ATTN_CUDA_ARCHS"], "80");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Running a whole job
//!
//! What `wheelwright build` does, from another CI system: a spec (here from
//! JSON), a context (how to detect, the network, a cancel flag), events as
//! they come, the report at the end.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use wheelwright_core::detect::DetectOptions;
//! use wheelwright_core::job::{self, JobContext, JobSpec};
//! use wheelwright_core::net::Offline;
//! use wheelwright_core::sinks::console::{ConsoleLine, ConsoleText};
//!
//! let spec: JobSpec = serde_json::from_str(r#"{"source": "flash-attn==2.8.3", "archs": "90"}"#)?;
//! let cancel = AtomicBool::new(false);
//! let ctx = JobContext {
//!     detect: DetectOptions::from_process_env(),
//!     network: &Offline,
//!     cancel: &cancel,
//!     // A program that answers `supervisor::SUBCOMMAND` passes itself here,
//!     // so the build's processes die with it even after `kill -9`.
//!     supervisor: None,
//! };
//! let mut console = ConsoleText::new(false);
//! let report = job::run(&spec, &ctx, &mut |event| {
//!     for line in console.lines(&event) {
//!         if let ConsoleLine::Log(text) | ConsoleLine::Note(text) = line {
//!             eprintln!("{text}");
//!         }
//!     }
//! })?;
//! println!("{:?}: {:?}", report.outcome, report.wheel.map(|w| w.path));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub use wheelwright_base::{digest, env_vars, facts, finding, safe_write, support, units};
pub use wheelwright_build::{runner_setup, setup, workdir};
pub use wheelwright_detect as detect;
pub use wheelwright_diagnose as diagnose;
pub use wheelwright_job::{net, prebuilt, publish};
pub use wheelwright_plan as plan;
pub use wheelwright_process::supervisor;
pub use wheelwright_sinks as sinks;

/// The build runner ([`wheelwright_build`]), with the report contract the
/// Job assembles from its record ([`builder::report`],
/// [`builder::BuildReport`]) and wheel file names ([`builder::wheel`]) where
/// they were before the crates split.
pub mod builder {
    pub use wheelwright_build::*;
    pub use wheelwright_job::report::{BuildReport, FactsSummary};
    pub use wheelwright_wheel::file as wheel;

    /// `BuildReport`: what one `wheelwright build` did, as one serializable
    /// value ([`wheelwright_job::report`]).
    pub mod report {
        pub use wheelwright_job::report::*;
    }
}

/// The Job ([`wheelwright_job`]): the whole build from a [`job::JobSpec`]
/// in one call ([`job::run`]).
pub mod job {
    pub use wheelwright_job::*;
}

/// `wheel check` and `retag` ([`wheelwright_wheel`]), and the check of several
/// wheels against a build's report ([`wheelwright_job::check`]).
pub mod wheel_check {
    pub use wheelwright_job::check::{
        run_checks, CheckRequest, CheckRequestError, CheckRun, WheelOutcome,
    };
    pub use wheelwright_wheel::*;
}

#[cfg(feature = "schema")]
pub mod schema;

pub use facts::Facts;
pub use finding::{Finding, Severity};
