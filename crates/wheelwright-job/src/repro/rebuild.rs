//! The rebuild of `wheelwright repro`: the report's spec with the user's
//! changes ([`prepare_rebuild`], which writes the report's plan where the
//! spec reads it) and this host against the report's ([`host_comparison`]).

use std::path::PathBuf;

use super::{compare_hosts, rebuild_spec, render_comparison};
use crate::report::{BuildReport, FactsSummary};
use crate::spec::JobSpec;
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
/// ([`rebuild_spec`]); unless it re-plans, the report's plan is written to
/// `repro-plan.json` in the work dir, where the spec reads it.
pub fn prepare_rebuild(report: &BuildReport, rebuild: &Rebuild) -> Result<JobSpec, PlanFileError> {
    let plan_dir = rebuild
        .work_dir
        .clone()
        .unwrap_or_else(|| report.work_dir.clone());
    let mut spec = rebuild_spec(report, rebuild.replan, &plan_dir.join("repro-plan.json"));
    spec.python = rebuild.python.clone().or(spec.python);
    spec.work_dir = rebuild.work_dir.clone().unwrap_or(spec.work_dir);
    spec.out_dir = rebuild.out_dir.clone().unwrap_or(spec.out_dir);
    if let (Some(path), Some(plan)) = (&spec.plan_file, &report.plan) {
        std::fs::create_dir_all(&plan_dir)
            .and_then(|()| std::fs::write(path, serde_json::to_vec_pretty(plan)?))
            .map_err(|source| PlanFileError {
                path: path.clone(),
                source,
            })?;
    }
    Ok(spec)
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
        let spec = prepare_rebuild(&report, &rebuild).unwrap();
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
        let spec = prepare_rebuild(&report, &replan).unwrap();
        assert_eq!(spec.plan_file, None);
        assert!(!dir.path().join("other").exists(), "nothing to write");
    }
}
