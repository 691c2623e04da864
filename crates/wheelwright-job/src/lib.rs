//! wheelwright-job: the Job, one call that runs a whole build the same way
//! for every CI system.
//!
//! [`run`] takes a [`JobSpec`] (what to build and how) and a [`JobContext`]
//! (how to detect, the network, the cancel flag) and runs the stages in
//! order: resolve the source → lock the work dir → find the interpreter →
//! a prebuilt wheel? → fetch the source → plan and preflight → build
//! (attempts, verify) → publish. It reports progress through [`JobEvent`]s
//! and returns the [`BuildReport`] it also wrote as `report.json`; with
//! `prebuilt: prefer` a matching prebuilt wheel that passes its checks is
//! used instead of compiling ([`crate::prebuilt`]). A build that ran and
//! failed is a report with outcome `failed`, not an error; [`JobError`] is
//! for what stops a job before it can build (bad input, a refused plan, a
//! source that cannot be had).
//!
//! The CLI's `wheelwright build`, the GitHub Action and any other CI call
//! this one function; wheelwright-sinks' `build_report` renders its report
//! for them.
//!
//! The Job sits above the stages and holds what only it knows: the
//! [`JobSpec`], the [`report::BuildReport`] it assembles from the stages'
//! results (the builder's [`wheelwright_build::BuildRecord`] among them),
//! the [`prebuilt`] lookup, [`repro`], `wheel check` against a report
//! ([`check`]), and the contract of the network ([`net::Network`]) and of
//! publishing ([`publish`]), which `wheelwright-publish` implements.

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

pub mod check;
mod context;
mod error;
pub mod net;
pub mod prebuilt;
pub mod publish;
pub mod report;
pub mod repro;
mod settings;
mod spec;
mod stages;
pub mod wheel_verify;

// Named as the documentation of the report contract names them (the
// committed JSON schemas quote those docs): `crate::detect::resolve_python`,
// `super::tree_hash::tree_sha256`. Used by those docs alone.
#[allow(unused_imports)]
use {wheelwright_build::tree_hash, wheelwright_detect as detect};

pub use context::{JobContext, JobEvent};
pub use error::JobError;
pub use settings::{
    calibration_from_report, detect_and_plan, fix_context, planned_threads, probe_setup_py,
    speed_from_report,
};
pub use spec::{JobSpec, PrebuiltPolicy, RecipeKind};

use crate::report::BuildReport;

/// Run the job: the stages in order, leaving the wheel, `build.log` and
/// `report.json` in the spec's out dir. Each stage takes what the ones
/// before it made (one function each, in the `stages` module).
pub fn run(
    spec: &JobSpec,
    ctx: &JobContext<'_>,
    on_event: &mut dyn FnMut(JobEvent<'_>),
) -> Result<BuildReport, JobError> {
    let dirs = [(&*spec.out_dir, "--out"), (&*spec.work_dir, "--work-dir")];
    let source = stages::resolve_source(&spec.source, spec.recipe, dirs)?;
    let _work_dir_lock = stages::lock_work_dir(&spec.work_dir, ctx.cancel, on_event)?;
    let python = stages::find_python(spec.python.as_deref(), &spec.work_dir, &ctx.detect)?;
    let prebuilt = match stages::look_for_prebuilt(spec, &source, &python, ctx, on_event) {
        stages::prebuilt::Stage::Use(found) => {
            let report = stages::prebuilt::record(*found, spec, &source, &python, on_event)?;
            return stages::publish(&spec.publish, &spec.out_dir, report, ctx.network, on_event);
        }
        stages::prebuilt::Stage::Compile(record) => record,
    };
    let sdist = stages::fetch(spec, &source, &python, prebuilt.as_ref(), ctx, on_event)?;
    let settings = stages::plan(spec, source.recipe, &sdist, &python, on_event)?;
    let report = stages::build(
        spec,
        source.recipe,
        sdist,
        settings,
        &python,
        prebuilt,
        ctx,
        on_event,
    )?;
    stages::publish(&spec.publish, &spec.out_dir, report, ctx.network, on_event)
}
