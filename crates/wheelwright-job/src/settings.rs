//! From the host's facts and the plan (made here, or read from a plan file)
//! to the settings a build runs with, and the diagnoser that watches each
//! attempt.

use std::path::{Path, PathBuf};

use crate::report::{BuildReport, FactsSummary};
use wheelwright_base::env_vars;
use wheelwright_base::facts::Facts;
use wheelwright_base::finding::Finding;
use wheelwright_build::{LineWatcher, SourceSpec};
use wheelwright_detect as detect;
use wheelwright_detect::DetectOptions;
use wheelwright_diagnose::{DiagnoseContext, Diagnoser};
use wheelwright_plan as plan;
use wheelwright_plan::recipe::DEFAULT_FLASH_ATTN_VERSION;
use wheelwright_plan::{Plan, PlanError, PlanRequest, Recipe, ScheduleBasis, SpeedCalibration};

use crate::error::JobError;
use crate::spec::JobSpec;

/// What the plan (or the plan file) decided, in the form the build needs.
#[derive(Debug)]
pub(crate) struct BuildSettings {
    pub env: std::collections::BTreeMap<String, String>,
    pub max_jobs: u32,
    pub nvcc_threads: u32,
    pub memory_ceiling_bytes: Option<u64>,
    pub facts: FactsSummary,
    pub plan: Plan,
    pub preflight: Vec<Finding>,
    /// pip arguments the plan asks for.
    pub pip_args: Vec<String>,
    /// The detected host, for the diagnoser's fixes.
    pub host: Facts,
    /// The plan's units, for the ETA.
    pub schedule: Option<ScheduleBasis>,
}

/// Detect the host with `dopts`, then plan `recipe` on it. The facts come
/// back whatever the planner says: its error is the caller's to judge
/// (`doctor` and `build` stop, `diagnose` falls back to what the log shows).
pub fn detect_and_plan(
    recipe: &Recipe,
    request: &PlanRequest,
    dopts: &DetectOptions,
) -> (Facts, Result<Plan, PlanError>) {
    let facts = detect::detect(dopts);
    let mut request = request.clone();
    if request.setup_probe.is_none() {
        request.setup_probe = probe_setup_py(recipe, &facts, &request);
    }
    let plan = plan::plan(recipe, &facts, &request);
    (facts, plan)
}

/// A torch extension's `setup.py` run by the setup.py probe under the
/// detected interpreter and its torch, with the environment the build will
/// set ([`plan::probe_env`]); `None` for other recipes (and when the plan
/// will refuse the request anyway). Its timeout is
/// [`env_vars::WHEELWRIGHT_SETUP_PROBE_TIMEOUT`] seconds when set.
pub fn probe_setup_py(
    recipe: &Recipe,
    facts: &Facts,
    req: &PlanRequest,
) -> Option<Result<plan::recipe::setup_probe::SetupProbe, plan::recipe::setup_probe::ProbeGap>> {
    use plan::recipe::setup_probe::{self, ProbeGap};
    let Recipe::TorchExt { source } = recipe else {
        return None;
    };
    let source = req.source.as_deref().unwrap_or(source);
    let Some(python) = facts.python.as_ref() else {
        return Some(Err(ProbeGap::NotRun(
            "no Python interpreter was found to run it with".into(),
        )));
    };
    if facts.torch.is_none() {
        return Some(Err(ProbeGap::NoTorch(format!(
            "{} has no importable torch",
            python.path
        ))));
    }
    let env = plan::probe_env(recipe, facts, req).ok()?;
    let timeout = std::env::var(env_vars::WHEELWRIGHT_SETUP_PROBE_TIMEOUT)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(
            setup_probe::SETUP_PROBE_TIMEOUT,
            std::time::Duration::from_secs,
        );
    Some(setup_probe::run(
        Path::new(&python.path),
        source,
        &env,
        timeout,
    ))
}

/// What makes a saved log's fixes concrete: the host's facts (`saved`, else
/// detected with `detect`, without the Python probe, which would import
/// torch: seconds; `None`: not detected) and, with a `recipe`, the plan on
/// them, whose MAX_JOBS (unless `max_jobs_hint` names one) and NVCC_THREADS
/// the `oom-killed` fix names. Never an error: a plan that fails leaves the
/// fixes to what the log shows, and its error comes back to be mentioned.
pub fn fix_context(
    saved: Option<Facts>,
    detect: Option<DetectOptions>,
    recipe: Option<&Recipe>,
    request: &PlanRequest,
    max_jobs_hint: Option<u32>,
) -> (DiagnoseContext, Option<PlanError>) {
    let (facts, plan) = match (saved, recipe, detect) {
        (Some(facts), Some(recipe), _) => {
            let plan = plan::plan(recipe, &facts, request);
            (Some(facts), Some(plan))
        }
        (Some(facts), None, _) => (Some(facts), None),
        (None, Some(recipe), Some(mut dopts)) => {
            dopts.skip_python = true;
            let (facts, plan) = detect_and_plan(recipe, request, &dopts);
            (Some(facts), Some(plan))
        }
        (None, _, _) => (None, None),
    };
    let (plan, error) = match plan {
        Some(Ok(p)) => (Some(p), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let context = DiagnoseContext {
        suggested_max_jobs: max_jobs_hint.or(plan.as_ref().map(|p| p.max_jobs)),
        suggested_nvcc_threads: plan.as_ref().and_then(planned_threads),
        facts,
        force_build_switch: plan.as_ref().and_then(force_build_switch),
    };
    (context, error)
}

/// The package's switch against a prebuilt download, as the plan knows it:
/// the one its setup.py probe found, else flash-attn's own.
pub fn force_build_switch(plan: &Plan) -> Option<(String, String)> {
    let probed = plan
        .setup_py
        .as_ref()
        .and_then(|s| s.switches.iter().find(|w| w.purpose == "build-offline"))
        .map(|w| (w.name.clone(), w.value.clone()));
    probed.or_else(|| {
        plan.env
            .get_key_value(env_vars::FLASH_ATTENTION_FORCE_BUILD)
            .map(|(k, v)| (k.clone(), v.clone()))
    })
}

/// The plan's NVCC_THREADS where the build reads it (flash-attn, and
/// extensions whose setup.py does: the plan then sets it); `None` where it
/// has no effect.
pub fn planned_threads(plan: &Plan) -> Option<u32> {
    plan.env
        .contains_key(env_vars::NVCC_THREADS)
        .then_some(plan.nvcc_threads)
}

/// This host's compile speed from an earlier build's `report.json` (and the
/// `.ninja_log` its work dir kept).
pub fn speed_from_report(report: &Path) -> Result<SpeedCalibration, JobError> {
    let r = BuildReport::read(report).map_err(|e| JobError::Calibrate {
        message: format!("cannot read the build report {}: {e}", report.display()),
        hint: "give the report.json that `wheelwright build` wrote on this host".into(),
    })?;
    r.speed_calibration().map_err(|e| JobError::Calibrate {
        hint: e.hint(),
        message: e.to_string(),
    })
}

/// What `--calibrate REPORT` gives a plan of `source` on this host: the
/// host's speed factor (when the report's log has enough of the recipe's
/// compiles) and, when the report built the same source (same sha256), each
/// unit's measured cost. An error only when neither can be had.
pub fn calibration_from_report(
    report: &Path,
    source: Option<&Path>,
) -> Result<(Option<SpeedCalibration>, Option<plan::HostCosts>), JobError> {
    let r = BuildReport::read(report).map_err(|e| JobError::Calibrate {
        message: format!("cannot read the build report {}: {e}", report.display()),
        hint: "give the report.json that `wheelwright build` wrote on this host".into(),
    })?;
    let same_source = match (source, r.source_sha256.as_deref()) {
        (Some(src), Some(sha)) => source_sha256(src).is_some_and(|s| s == sha),
        _ => false,
    };
    let host = if same_source {
        r.host_costs().ok()
    } else {
        None
    };
    match r.speed_calibration() {
        Ok(speed) => Ok((Some(speed), host)),
        Err(_) if host.as_ref().is_some_and(|h| !h.units.is_empty()) => Ok((None, host)),
        Err(e) => Err(JobError::Calibrate {
            hint: e.hint(),
            message: e.to_string(),
        }),
    }
}

/// The sha256 a build records for `source`: the sdist's, or the tree's files'.
fn source_sha256(source: &Path) -> Option<String> {
    if source.is_dir() {
        wheelwright_build::tree_hash::tree_sha256(source, &[]).ok()
    } else {
        wheelwright_base::digest::sha256_file(source).ok()
    }
}

/// Detect the host and plan the build (or read the plan file); the spec's
/// archs, jobs and threads go into the plan request. The plan's units come
/// along for the ETA where they can be resolved.
pub(crate) fn resolve(
    spec: &JobSpec,
    recipe: &str,
    source: &SourceSpec,
    dopts: &DetectOptions,
) -> Result<BuildSettings, JobError> {
    let source_path = match source {
        SourceSpec::Tree(p) | SourceSpec::Sdist(p) => Some(p.clone()),
        SourceSpec::Requirement(_) => None,
    };
    let recipe_for = |version: Option<&str>| match (recipe, &source_path) {
        ("flash-attn", _) => Some(Recipe::flash_attn(
            version
                .or(version_in(&spec.source))
                .unwrap_or(DEFAULT_FLASH_ATTN_VERSION),
        )),
        ("flash-attn-3", _) => Some(Recipe::flash_attn_3()),
        (_, Some(p)) => Some(Recipe::torch_ext(p.clone())),
        (_, None) => None,
    };
    let (facts, plan, recipe) = match &spec.plan_file {
        Some(path) => {
            let plan = read_plan(path)?;
            let recipe = recipe_for(plan.recipe_version.as_deref());
            (detect::detect(dopts), plan, recipe)
        }
        None => {
            let Some(recipe) = recipe_for(None) else {
                return Err(JobError::NoSource {
                    spec: spec.source.clone(),
                });
            };
            let calibration = match spec.calibrate_report.as_deref() {
                Some(r) => calibration_from_report(r, source_path.as_deref())?,
                None => (None, None),
            };
            let req = PlanRequest {
                archs: spec.archs.clone().map(|a| vec![a]),
                max_jobs: spec.max_jobs,
                nvcc_threads: spec.nvcc_threads,
                source: source_path.clone(),
                memory_limit_override: None,
                // The build inherits this process's environment: flash-attn
                // 3's switches in it change what it compiles.
                env: wheelwright_plan::recipe_env(std::env::vars()),
                speed: calibration.0,
                host_costs: calibration.1,
                setup_probe: None,
            };
            let (facts, plan) = detect_and_plan(&recipe, &req, dopts);
            let plan = plan.map_err(|e| {
                // The job takes the source as its spec, not as `--source`.
                let hint = match e {
                    PlanError::NoUnits { .. } | PlanError::Source { .. } => {
                        "give the package's root (the folder with setup.py), its .tar.gz sdist, or a requirement as the spec".to_string()
                    }
                    PlanError::UnknownVersion { .. } => {
                        "pass the sdist (`pip download --no-deps --no-binary :all: flash-attn==VERSION`) as the spec".to_string()
                    }
                    _ => e.hint(),
                };
                JobError::Plan { error: e, hint }
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
    Ok(BuildSettings {
        facts: FactsSummary::from_facts(&facts),
        host: facts,
        env: plan.env.clone(),
        max_jobs: spec.max_jobs.unwrap_or(plan.max_jobs).max(1),
        nvcc_threads: spec.nvcc_threads.unwrap_or(plan.nvcc_threads).max(1),
        memory_ceiling_bytes: Some(plan.memory_ceiling_bytes).filter(|b| *b > 0),
        preflight: plan.findings.clone(),
        pip_args: plan.pip_args.clone(),
        plan,
        schedule,
    })
}

fn read_plan(path: &Path) -> Result<Plan, JobError> {
    let bad = |message: String| JobError::PlanFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read the plan {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("{} is not a plan: {e}", path.display())))
}

/// The version a spec names: `flash-attn==2.8.3`, `flash_attn-2.8.3.tar.gz`.
pub(super) fn version_in(spec: &str) -> Option<&str> {
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
pub(crate) fn new_watcher(settings: &BuildSettings) -> impl FnMut(u32) -> Box<dyn LineWatcher> {
    let planned = settings.plan.max_jobs;
    let threads = planned_threads(&settings.plan);
    let switch = force_build_switch(&settings.plan);
    let facts = settings.host.clone();
    move |attempt_jobs| {
        let suggested_max_jobs = Some(planned).filter(|p| *p < attempt_jobs);
        let ctx = DiagnoseContext {
            suggested_max_jobs,
            suggested_nvcc_threads: threads.filter(|_| suggested_max_jobs.is_some()),
            facts: Some(facts.clone()),
            force_build_switch: switch.clone(),
        };
        Box::new(Diagnoser::new(ctx)) as Box<dyn LineWatcher>
    }
}

/// Where a URL's sdist lands in the work dir: `<work>/download/<file name>`.
pub(crate) fn url_download_path(work_dir: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next()?;
    let ok = (name.ends_with(".tar.gz") || name.ends_with(".tgz"))
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    ok.then(|| work_dir.join("download").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_versions_in_specs() {
        assert_eq!(version_in("flash-attn==2.8.3"), Some("2.8.3"));
        assert_eq!(version_in("dl/flash_attn-2.8.3.tar.gz"), Some("2.8.3"));
        assert_eq!(version_in("flash-attn"), None);
        assert_eq!(version_in("flash-attn>=2"), None);
    }

    #[test]
    fn a_url_names_its_sdist_or_nothing() {
        let w = Path::new("/w");
        assert_eq!(
            url_download_path(w, "https://h/p/flash_attn-2.8.3.tar.gz?x=1"),
            Some(PathBuf::from("/w/download/flash_attn-2.8.3.tar.gz"))
        );
        assert_eq!(url_download_path(w, "https://h/p/x.whl"), None);
        assert_eq!(url_download_path(w, "https://h/p/..tar.gz"), None);
        assert_eq!(url_download_path(w, "https://h/"), None);
    }
}
