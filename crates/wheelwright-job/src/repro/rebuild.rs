//! The rebuild of `wheelwright repro`: the report's spec with the user's
//! changes, taking from the report only what [`super::trust`] allows unless
//! told to trust it ([`prepare_rebuild`], which writes the report's plan
//! where the spec reads it, never through a link) and this host against the
//! report's ([`host_comparison`]).

use std::path::PathBuf;

use super::trust::{from_report, FromReport, HostTools};
use super::{compare_hosts, rebuild_spec, render_comparison};
use crate::report::{BuildReport, FactsSummary};
use crate::spec::JobSpec;
use wheelwright_base::safe_write::write_atomically;
use wheelwright_detect as detect;
use wheelwright_detect::DetectOptions;

/// The user's changes to a rebuild.
#[derive(Debug, Clone, Default)]
pub struct Rebuild {
    /// Plan MAX_JOBS and NVCC_THREADS for this host instead of the report's.
    pub replan: bool,
    /// The interpreter that builds [default: the report's, if it exists here].
    pub python: Option<PathBuf>,
    /// The work dir [default: the report's].
    pub work_dir: Option<PathBuf>,
    /// Where the wheel, build.log and report.json land [default: the report's].
    pub out_dir: Option<PathBuf>,
    /// Take everything the report asks for: its whole plan (every variable,
    /// every pip argument), its interpreter, its sccache, its `force`.
    pub trust_report: bool,
    /// This host's tools, where a compiler the report names must be.
    pub host: HostTools,
}

/// A rebuild ready to run: its spec, and what it takes from the report
/// (shown before it runs: [`super::render_from_report`]).
#[derive(Debug, Clone)]
pub struct PreparedRebuild {
    /// The spec to run.
    pub spec: JobSpec,
    /// What comes from the report, and what is left out.
    pub from_report: FromReport,
}

/// The report's plan could not be written for the rebuild.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct PlanFileError {
    /// The plan file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The spec that rebuilds the report's build with `rebuild`'s changes
/// ([`rebuild_spec`]), taking from the report only what [`from_report`]
/// allows unless `rebuild.trust_report`: this host's interpreter (or
/// `--python`), no sccache and no `force` of the report's, and its plan with
/// only the variables and pip arguments wheelwright would write. Unless it
/// re-plans, that plan is written to `repro-plan.json` in the work dir
/// (atomically: a link planted there is replaced, never followed), where
/// the spec reads it.
pub fn prepare_rebuild(
    report: &BuildReport,
    rebuild: &Rebuild,
) -> Result<PreparedRebuild, PlanFileError> {
    let plan_dir = rebuild
        .work_dir
        .clone()
        .unwrap_or_else(|| report.work_dir.clone());
    let mut spec = rebuild_spec(report, rebuild.replan, &plan_dir.join("repro-plan.json"));
    let mut from = from_report(report, &rebuild.host, &plan_dir);
    if rebuild.work_dir.is_none() {
        from.dirs
            .push(("work dir (--work-dir to choose)", spec.work_dir.clone()));
    }
    if rebuild.out_dir.is_none() {
        from.dirs
            .push(("out dir (--out to choose)", spec.out_dir.clone()));
    }
    let mut plan = report.plan.clone();
    if !rebuild.trust_report {
        spec.python = None;
        spec.compile_cache = None;
        spec.force = false;
        if let Some(plan) = plan.as_mut() {
            plan.env = from
                .variables
                .iter()
                .filter(|(k, _)| plan.env.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            plan.pip_args = from.pip_args.clone();
        }
    }
    spec.python = rebuild.python.clone().or(spec.python);
    spec.work_dir = rebuild.work_dir.clone().unwrap_or(spec.work_dir);
    spec.out_dir = rebuild.out_dir.clone().unwrap_or(spec.out_dir);
    if let (Some(path), Some(plan)) = (&spec.plan_file, &plan) {
        std::fs::create_dir_all(&plan_dir)
            .and_then(|()| write_atomically(path, &serde_json::to_vec_pretty(plan)?))
            .map_err(|source| PlanFileError {
                path: path.clone(),
                source,
            })?;
    }
    Ok(PreparedRebuild {
        spec,
        from_report: from,
    })
}

/// This host (detected with `detect`, probing the interpreter `spec` builds
/// with) against the report's: a heading and the table
/// ([`render_comparison`]); `None` when the report has no host facts.
pub fn host_comparison(
    report: &BuildReport,
    spec: &JobSpec,
    mut detect: DetectOptions,
) -> Option<String> {
    let theirs = report.facts.as_ref()?;
    detect.python = spec.python.clone().or(detect.python);
    let here = FactsSummary::from_facts(&detect::detect(&detect));
    let table = render_comparison(&compare_hosts(theirs, &here));
    Some(format!("== this host against the report's\n{table}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reports_plan_is_written_where_the_spec_reads_it() {
        let text = crate::test_support::fixture("builds/h200-flash-attn/report.json");
        let report: BuildReport = serde_json::from_str(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rebuild = Rebuild {
            work_dir: Some(dir.path().join("work")),
            out_dir: Some(dir.path().join("out")),
            ..Rebuild::default()
        };
        let spec = prepare_rebuild(&report, &rebuild).unwrap().spec;
        let plan_file = dir.path().join("work/repro-plan.json");
        assert_eq!(spec.plan_file.as_deref(), Some(plan_file.as_path()));
        assert_eq!(spec.out_dir, dir.path().join("out"));
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
        assert_eq!(written["archs"], serde_json::json!(["90"]));

        let replan = Rebuild {
            replan: true,
            work_dir: Some(dir.path().join("other")),
            ..Rebuild::default()
        };
        let spec = prepare_rebuild(&report, &replan).unwrap().spec;
        assert_eq!(spec.plan_file, None);
        assert!(!dir.path().join("other").exists(), "nothing to write");
    }
}
