//! From the host's facts and the plan to the settings a build runs with; and
//! the diagnoser that watches each attempt. A thin adapter over `detect`,
//! `plan` and `diagnose`, kept apart from the rendering in `build.rs`.

use wheelwright_core::builder::{FactsSummary, LineWatcher, SourceSpec};
use wheelwright_core::detect::{self, DetectOptions};
use wheelwright_core::diagnose::{DiagnoseContext, Diagnoser};
use wheelwright_core::plan::{Plan, PlanError, PlanRequest, Recipe, ScheduleBasis};

use super::{BuildArgs, BuildSettings};
use crate::cmd::host::{detect_and_plan, planned_threads, speed_from};
use crate::exit;

/// Detect the host and plan the build (or read `--plan FILE`); the command
/// line's `--archs`, `--max-jobs` and `--nvcc-threads` go into the plan request.
/// The plan's units come along for the ETA where they can be resolved.
pub fn resolve(
    args: &BuildArgs,
    recipe: &str,
    source: &SourceSpec,
    dopts: &DetectOptions,
) -> anyhow::Result<BuildSettings> {
    let source_path = match source {
        SourceSpec::Tree(p) | SourceSpec::Sdist(p) => Some(p.clone()),
        SourceSpec::Requirement(_) => None,
    };
    let recipe_for = |version: Option<&str>| match (recipe, &source_path) {
        ("flash-attn", _) => Some(Recipe::flash_attn(
            version.or(version_in(&args.spec)).unwrap_or("2.8.3"),
        )),
        (_, Some(p)) => Some(Recipe::torch_ext(p.clone())),
        (_, None) => None,
    };
    let (facts, plan, recipe) = match &args.plan {
        Some(path) => {
            let plan = read_plan(path)?;
            let recipe = recipe_for(plan.recipe_version.as_deref());
            (detect::detect(dopts), plan, recipe)
        }
        None => {
            let Some(recipe) = recipe_for(None) else {
                return Err(exit::usage(
                    format!("cannot plan `{}` before its source is here", args.spec),
                    "pass the sdist or the source tree",
                ));
            };
            let req = PlanRequest {
                archs: args.archs.clone().map(|a| vec![a]),
                max_jobs: args.max_jobs,
                nvcc_threads: args.nvcc_threads,
                source: source_path.clone(),
                memory_limit_override: None,
                speed: args.calibrate.as_deref().map(speed_from).transpose()?,
            };
            let (facts, plan) = detect_and_plan(&recipe, &req, dopts);
            let plan = plan.map_err(|e| {
                // `build` takes the source as its spec, not as --source.
                let hint = match e {
                    PlanError::NoUnits { .. } | PlanError::Source { .. } => {
                        "give the package's root (the folder with setup.py), its .tar.gz sdist, or a requirement as the spec".to_string()
                    }
                    PlanError::UnknownVersion { .. } => {
                        "pass the sdist (`pip download --no-deps --no-binary :all: flash-attn==VERSION`) as the spec".to_string()
                    }
                    _ => e.hint(),
                };
                exit::usage(format!("cannot plan the build: {e}"), hint)
            })?;
            (facts, plan, Some(recipe))
        }
    };
    // Without it the ETA goes by the rate so far: not worth failing the build over.
    let units_req = PlanRequest {
        source: source_path,
        ..PlanRequest::default()
    };
    let schedule = recipe.and_then(|r| ScheduleBasis::resolve(&r, &units_req, &plan).ok());
    let mut s = BuildSettings {
        facts: Some(FactsSummary::from_facts(&facts)),
        host: Some(facts),
        env: plan.env.clone(),
        max_jobs: args.max_jobs.unwrap_or(plan.max_jobs).max(1),
        nvcc_threads: args.nvcc_threads.unwrap_or(plan.nvcc_threads).max(1),
        memory_ceiling_bytes: Some(plan.memory_ceiling_bytes).filter(|b| *b > 0),
        preflight: plan.findings.clone(),
        pip_args: plan.pip_args.clone(),
        plan: None,
        schedule,
    };
    s.plan = Some(plan);
    Ok(s)
}

fn read_plan(path: &std::path::Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        exit::usage(
            format!("cannot read the plan {}: {e}", path.display()),
            "write one with `wheelwright plan --json > plan.json`",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        exit::usage(
            format!("{} is not a plan: {e}", path.display()),
            "write one with `wheelwright plan --json > plan.json`",
        )
    })
}

/// The version a spec names: `flash-attn==2.8.3`, `flash_attn-2.8.3.tar.gz`.
fn version_in(spec: &str) -> Option<&str> {
    let name = spec.rsplit('/').next().unwrap_or(spec);
    let after = name
        .split_once("==")
        .map(|(_, v)| v)
        .or_else(|| name.split_once('-').map(|(_, v)| v))?;
    let v = after
        .trim_end_matches(".tar.gz")
        .trim_end_matches(".tgz")
        .trim();
    (v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    .then_some(v)
}

/// A fresh diagnoser for each attempt, knowing the host (for concrete fixes).
/// Its OOM fix names the planner's MAX_JOBS (with its NVCC_THREADS, where the
/// build reads that) only when that is fewer jobs than the attempt ran with;
/// otherwise (the plan's own choice was killed, or the user forced it) it
/// says to halve what the log shows.
pub fn new_watcher(settings: &BuildSettings) -> impl FnMut(u32) -> Box<dyn LineWatcher> {
    let planned = settings.plan.as_ref().map(|p| p.max_jobs);
    let threads = settings.plan.as_ref().and_then(planned_threads);
    let facts = settings.host.clone();
    move |attempt_jobs| {
        let suggested_max_jobs = planned.filter(|p| *p < attempt_jobs);
        let ctx = DiagnoseContext {
            suggested_max_jobs,
            suggested_nvcc_threads: threads.filter(|_| suggested_max_jobs.is_some()),
            facts: facts.clone(),
        };
        Box::new(Diagnoser::new(ctx)) as Box<dyn LineWatcher>
    }
}

#[cfg(test)]
mod tests {
    use super::version_in;

    #[test]
    fn finds_versions_in_specs() {
        assert_eq!(version_in("flash-attn==2.8.3"), Some("2.8.3"));
        assert_eq!(version_in("dl/flash_attn-2.8.3.tar.gz"), Some("2.8.3"));
        assert_eq!(version_in("flash-attn"), None);
        assert_eq!(version_in("flash-attn>=2"), None);
    }
}
