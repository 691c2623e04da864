//! This host's facts and the plan wheelwright would make on it: the one path
//! from detection to a plan, shared by `doctor`, `build` and `diagnose` (the
//! last asks it for the MAX_JOBS and NVCC_THREADS its `oom-killed` fix names).

use std::path::Path;

use wheelwright_core::builder::BuildReport;
use wheelwright_core::detect::{self, DetectOptions};
use wheelwright_core::env_vars;
use wheelwright_core::facts::Facts;
use wheelwright_core::plan::{self, Plan, PlanError, PlanRequest, Recipe, SpeedCalibration};

use crate::exit;

/// Detect the host with `dopts`, then plan `recipe` on it. The facts come
/// back whatever the planner says: its error is the caller's to judge
/// (`doctor` and `build` stop, `diagnose` falls back to what the log shows).
pub fn detect_and_plan(
    recipe: &Recipe,
    request: &PlanRequest,
    dopts: &DetectOptions,
) -> (Facts, Result<Plan, PlanError>) {
    let facts = detect::detect(dopts);
    let plan = plan::plan(recipe, &facts, request);
    (facts, plan)
}

/// The plan's NVCC_THREADS where the build reads it (flash-attn, and
/// extensions whose setup.py does: the plan then sets it); `None` where it
/// has no effect.
pub fn planned_threads(plan: &Plan) -> Option<u32> {
    plan.env
        .contains_key(env_vars::NVCC_THREADS)
        .then_some(plan.nvcc_threads)
}

/// `--calibrate REPORT`: this host's compile speed from an earlier build's
/// report (and the .ninja_log its work dir kept).
pub fn speed_from(report: &Path) -> anyhow::Result<SpeedCalibration> {
    let r = BuildReport::read(report).map_err(|e| {
        exit::usage(
            format!("cannot read the build report {}: {e}", report.display()),
            "give the report.json that `wheelwright build` wrote on this host",
        )
    })?;
    r.speed_calibration().map_err(|e| {
        let hint = e.hint();
        exit::usage(e.to_string(), hint)
    })
}
