//! Replaying a build from its `report.json`: read the report (schema 1 or 2,
//! from a path or through the [`Network`]), compare this host with the one
//! it was built on, and turn it back into a [`JobSpec`] (the same archs,
//! jobs, threads and environment, or re-planned for this host), a plain
//! shell script that runs the same command without wheelwright, or a
//! diagnosis of the saved log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::spec::{JobSpec, RecipeKind};
use crate::net;
use crate::net::{FetchOptions, Network};
use crate::report::READABLE_SCHEMA_VERSIONS;
use crate::report::{BuildReport, FactsSummary};
use wheelwright_base::env_vars;
use wheelwright_base::finding::Finding;
use wheelwright_base::safe_read::read_small_file;
use wheelwright_base::units::format_bytes;
use wheelwright_build::BuildEnvironment;
use wheelwright_diagnose::{diagnose_reader, open_log, DiagnoseContext};

mod rebuild;
mod script;
mod trust;

pub use rebuild::{host_comparison, prepare_rebuild, PlanFileError, PreparedRebuild, Rebuild};
pub use script::{
    check_script_values, is_shell_name, one_line, sh_quote, shell_script, UnsafeValue,
};
pub use trust::{from_report, render_from_report, Difference, FromReport, HostTools};

/// The most a report may hold, read from a file or a URL: real reports are
/// about 10 KB (the H200 box's whole flash-attn build: 4.8 KB), and one
/// with a thousand findings stays under 1 MiB; anything near this cap is
/// not a report (a log, a wheel, `/dev/zero`).
pub const MAX_REPORT_BYTES: u64 = 16 << 20;

/// Why a report cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    /// The report could not be read (a path) or fetched (a URL).
    #[error("cannot read {location}: {message}")]
    Read {
        /// The path or URL.
        location: String,
        /// What failed.
        message: String,
    },
    /// The file is not a `report.json` of `wheelwright build`.
    #[error("{location} is not a wheelwright build report: {message}")]
    NotAReport {
        /// The path or URL.
        location: String,
        /// What is missing or wrong.
        message: String,
    },
    /// The report's `schema_version` is newer (or older) than this wheelwright reads.
    #[error("{location} has schema_version {version}; this wheelwright reads {readable}", readable = READABLE_SCHEMA_VERSIONS.map(|v| v.to_string()).join(" and "))]
    UnknownSchema {
        /// The path or URL.
        location: String,
        /// The version the report declares.
        version: u64,
    },
    /// A value of the report cannot be written into a shell script as it
    /// is (a variable name that is not a shell identifier, a NUL byte).
    #[error("the report cannot be turned into a script: {0}")]
    Unsafe(#[source] UnsafeValue),
    /// The report holds too little to reproduce the build (it ended before
    /// the build command ran).
    #[error("the report has no build command to reproduce ({message})")]
    Incomplete {
        /// What is missing.
        message: String,
    },
}

impl ReproError {
    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            ReproError::Read { .. } => "give the path or http(s) URL of a report.json that `wheelwright build` wrote (a regular file of at most 16 MiB)".into(),
            ReproError::Unsafe(_) => "wheelwright never writes such a report: it was changed by hand or by a hostile build; use the report of the build itself".into(),
            ReproError::NotAReport { .. } => "give the report.json that `wheelwright build` writes next to build.log (not a plan or facts JSON)".into(),
            ReproError::UnknownSchema { .. } => "use the wheelwright version that wrote the report (its `wheelwright_version`), or a newer one".into(),
            ReproError::Incomplete { .. } => "rebuild without --print-script (`wheelwright repro REPORT`), or look at the report's findings for why the build never started".into(),
        }
    }
}

/// Parse a `report.json`: schema 1 (no job spec; read from what it holds) or 2.
pub fn parse_report(text: &str, location: &str) -> Result<BuildReport, ReproError> {
    let not_a_report = |message: String| ReproError::NotAReport {
        location: location.to_string(),
        message,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| not_a_report(format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| not_a_report("not a JSON object".into()))?;
    let version = obj
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| not_a_report("no schema_version".into()))?;
    for key in ["spec", "recipe", "attempts", "work_dir"] {
        if !obj.contains_key(key) {
            return Err(not_a_report(format!("no `{key}`")));
        }
    }
    if !READABLE_SCHEMA_VERSIONS
        .iter()
        .any(|v| u64::from(*v) == version)
    {
        return Err(ReproError::UnknownSchema {
            location: location.to_string(),
            version,
        });
    }
    serde_json::from_value(value).map_err(|e| not_a_report(e.to_string()))
}

/// Read a report from a path, or from an `http(s)://` URL through `network`
/// (downloaded into a temp dir, removed after, the size capped in the
/// request); either way a regular file of
/// at most [`MAX_REPORT_BYTES`], its type checked before a byte is read
/// ([`read_small_file`]: `/dev/zero` or a FIFO are refused at once).
pub fn load_report(location: &str, network: &dyn Network) -> Result<BuildReport, ReproError> {
    let read = |message: String| ReproError::Read {
        location: location.to_string(),
        message,
    };
    let text = if net::is_http_url(location) {
        let scratch = tempfile::Builder::new()
            .prefix("wheelwright-repro-")
            .tempdir()
            .map_err(|e| read(e.to_string()))?;
        let dest = scratch.path().join("report.json");
        // The cap goes with the request: a larger body is refused from its
        // Content-Length, or as soon as the count passes it, never written
        // out in full first.
        let options = FetchOptions {
            max_bytes: Some(MAX_REPORT_BYTES),
            ..FetchOptions::default()
        };
        let fetched = network
            .fetch(location, &dest, &options)
            .map_err(|e| read(e.to_string()))?;
        read_small_file(&fetched.path, MAX_REPORT_BYTES)
    } else {
        read_small_file(Path::new(location), MAX_REPORT_BYTES)
    };
    parse_report(&text.map_err(|e| read(e.to_string()))?, location)
}

/// How a fact of this host compares with the report's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// The same value.
    Same,
    /// Both known, and they differ.
    Different,
    /// Known on one side only.
    Missing,
}

impl Comparison {
    /// `same`, `different`, `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Same => "same",
            Comparison::Different => "different",
            Comparison::Missing => "missing",
        }
    }
}

/// One row of the host comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    /// The fact (`torch`, `CUDA (nvcc)`, ...).
    pub fact: &'static str,
    /// Its value in the report.
    pub report: Option<String>,
    /// Its value on this host.
    pub here: Option<String>,
    /// How they compare.
    pub comparison: Comparison,
    /// What a difference is likely to change.
    pub effect: &'static str,
}

/// Compare the report's host with this one, fact by fact.
pub fn compare_hosts(report: &FactsSummary, here: &FactsSummary) -> Vec<HostRow> {
    fn cpus(f: &FactsSummary) -> Option<String> {
        Some(match f.cpu_quota {
            Some(q) => format!("{} (quota {q})", f.logical_cpus),
            None => f.logical_cpus.to_string(),
        })
    }
    fn memory(f: &FactsSummary) -> Option<String> {
        Some(match f.memory_limit_bytes {
            Some(l) if l < f.memory_total_bytes => format!(
                "{} (limit {})",
                format_bytes(f.memory_total_bytes),
                format_bytes(l)
            ),
            _ => format_bytes(f.memory_total_bytes),
        })
    }
    type Get = fn(&FactsSummary) -> Option<String>;
    let rows: [(&'static str, Get, &'static str); 12] = [
        ("platform", |f| Some(format!("{} {}", f.os, f.arch)), "another platform tag: the wheel does not install there"),
        ("python", |f| f.python.clone(), "another CPython ABI tag (cpXY): the wheel is for another Python"),
        ("torch", |f| f.torch.clone(), "compiled against torch's headers and ABI: the wheel may not import with another torch; the local version label changes"),
        ("torch CUDA", |f| f.torch_cuda.clone(), "torch's CUDA major must match nvcc's; the local version label changes"),
        ("CUDA (nvcc)", |f| f.cuda.clone(), "another nvcc: other SASS/PTX, another newest accepted GCC, other compile errors"),
        ("C++11 ABI", |f| f.cxx11_abi.map(|b| b.to_string()), "a mismatch with torch's ABI gives undefined symbols on import"),
        ("gcc", |f| f.gcc.clone(), "nvcc refuses a GCC newer than it supports (`unsupported GNU version`)"),
        ("GPUs", |f| (!f.gpus.is_empty()).then(|| f.gpus.join(", ")), "only the default arch list and the verify step depend on them (the rebuild keeps the report's archs)"),
        ("driver", |f| f.driver.clone(), "only the verify step (running the kernels) depends on it"),
        ("CPUs", cpus, "the planned MAX_JOBS/NVCC_THREADS and the wall time (`--replan` plans for this host)"),
        ("memory", memory, "how many compile jobs fit: an OOM kill where the report had none, or the reverse (`--replan`)"),
        ("ninja", |f| f.ninja.clone(), "without a working ninja torch builds serially (hours)"),
    ];
    rows.into_iter()
        .map(|(fact, get, effect)| {
            let (r, h) = (get(report), get(here));
            let comparison = match (&r, &h) {
                (Some(a), Some(b)) if a == b => Comparison::Same,
                (Some(_), Some(_)) => Comparison::Different,
                _ => Comparison::Missing,
            };
            HostRow {
                fact,
                report: r,
                here: h,
                comparison,
                effect,
            }
        })
        .collect()
}

/// The comparison as a text table; the effect only where the values differ.
pub fn render_comparison(rows: &[HostRow]) -> String {
    let mut out = format!(
        "{:<12} {:<10} {:<28} {}\n",
        "fact", "", "in the report", "on this host"
    );
    for r in rows {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<12} {:<10} {:<28} {}",
            r.fact,
            r.comparison.as_str(),
            show(&r.report),
            show(&r.here)
        );
        if r.comparison != Comparison::Same {
            let _ = writeln!(out, "{:<23} → {}", "", r.effect);
        }
    }
    out
}

/// The report's command and the environment it ran in; for a schema-1
/// report the environment is rebuilt from its plan and first attempt as the
/// runner sets it.
pub fn reproduction(report: &BuildReport) -> Result<(Vec<String>, BuildEnvironment), ReproError> {
    if report.command.is_empty() {
        return Err(ReproError::Incomplete {
            message: "`command` is empty".into(),
        });
    }
    if let Some(env) = &report.environment {
        return Ok((report.command.clone(), env.clone()));
    }
    let plan = report.plan.as_ref().ok_or_else(|| ReproError::Incomplete {
        message: "no `plan` and no `environment`".into(),
    })?;
    let mut set: BTreeMap<String, String> = plan.env.clone();
    let (jobs, threads) = report
        .attempts
        .first()
        .map_or((plan.max_jobs, plan.nvcc_threads), |a| {
            (a.max_jobs, a.nvcc_threads)
        });
    for (k, v) in [
        (env_vars::MAX_JOBS, jobs.to_string()),
        (env_vars::NVCC_THREADS, threads.to_string()),
        (env_vars::PYTHONUNBUFFERED, "1".to_string()),
        (env_vars::PIP_NO_INPUT, "1".to_string()),
    ] {
        set.insert(k.to_string(), v);
    }
    let python = Path::new(&report.command[0]);
    let env = BuildEnvironment {
        set,
        removed: Vec::new(),
        path_prepend: python
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .into_iter()
            .collect(),
        cwd: report.work_dir.clone(),
    };
    Ok((report.command.clone(), env))
}

/// The spec that rebuilds the report's build: its job spec (or, for schema
/// 1, its spec and recipe) with the first attempt's jobs and threads and the
/// plan's archs, and no publish targets; `replan` leaves jobs and threads to this host's planner.
/// Without `replan` the caller writes the report's plan to `plan_file`
/// ([`BuildReport::plan`]) so the environment is the report's.
pub fn rebuild_spec(report: &BuildReport, replan: bool, plan_file: &Path) -> JobSpec {
    let mut spec = report.job.clone().unwrap_or_else(|| {
        let mut s = JobSpec::new(&report.spec);
        s.recipe = RecipeKind::from_name(&report.recipe);
        s.work_dir = report.work_dir.clone();
        if let Some(out) = report.log.as_ref().and_then(|l| l.parent()) {
            s.out_dir = out.to_path_buf();
        }
        s.python = report.command.first().map(PathBuf::from);
        s
    });
    // The interpreter of another machine is no use here.
    spec.python = spec.python.filter(|p| p.exists());
    // A reproduction builds; it does not publish again, nor take a prebuilt wheel.
    spec.publish = Default::default();
    if spec.prebuilt == super::spec::PrebuiltPolicy::Prefer {
        spec.prebuilt = super::spec::PrebuiltPolicy::Build;
    }
    // Planned anew below, or replaced by the report's plan.
    spec.calibrate_report = None;
    spec.plan_file = None;
    if let Some(plan) = &report.plan {
        if !plan.archs.is_empty() {
            spec.archs = Some(plan.archs.join(";"));
        }
    }
    if replan {
        spec.max_jobs = None;
        spec.nvcc_threads = None;
    } else {
        if let Some(a) = report.attempts.first() {
            spec.max_jobs = Some(a.max_jobs);
            spec.nvcc_threads = Some(a.nvcc_threads);
        }
        if report.plan.is_some() {
            spec.plan_file = Some(plan_file.to_path_buf());
        }
    }
    spec
}

/// Where the report's log is: `build.log` beside the report (the file that
/// came with it), else the report's `log` path; `None` when neither is a
/// file here. A URL's report has no file beside it.
pub fn saved_log(report: &BuildReport, report_path: Option<&Path>) -> Option<PathBuf> {
    report_path
        .and_then(Path::parent)
        .map(|d| d.join("build.log"))
        .filter(|p| p.is_file())
        .or_else(|| report.log.clone().filter(|p| p.is_file()))
}

/// Diagnose the saved log again (with today's rules), with the fixes naming
/// the report's planned MAX_JOBS where that is fewer than the last attempt ran.
pub fn diagnose_saved_log(report: &BuildReport, log: &Path) -> std::io::Result<Vec<Finding>> {
    let planned = report.plan.as_ref().map(|p| p.max_jobs);
    let last = report.attempts.last().map(|a| a.max_jobs);
    let suggested_max_jobs = planned.filter(|p| last.is_some_and(|l| *p < l));
    let ctx = DiagnoseContext {
        suggested_max_jobs,
        suggested_nvcc_threads: None,
        facts: None,
        force_build_switch: report
            .plan
            .as_ref()
            .and_then(super::settings::force_build_switch),
    };
    diagnose_reader(open_log(log)?, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H200: &str = include_str!("../../../bench/results/h200-full-build/report.json");

    #[test]
    fn a_schema_1_report_is_read_and_its_environment_rebuilt() {
        let r = parse_report(H200, "h200").unwrap();
        assert_eq!(r.schema_version, 1);
        let (cmd, env) = reproduction(&r).unwrap();
        assert_eq!(cmd[0], "/opt/torch/.venv/bin/python3");
        assert_eq!(env.set["MAX_JOBS"], "16");
        assert_eq!(env.set["FLASH_ATTN_CUDA_ARCHS"], "90");
        assert_eq!(env.path_prepend, [PathBuf::from("/opt/torch/.venv/bin")]);
        let script = shell_script(&r).unwrap();
        assert!(script.contains("export MAX_JOBS=16\n"), "{script}");
        assert!(
            script.ends_with("exec /opt/torch/.venv/bin/python3 -m pip wheel --no-build-isolation --use-pep517 --no-deps -v --disable-pip-version-check --no-index /tmp/fullbuild/work/src/flash_attn-2.8.3 -w /tmp/fullbuild/work/dist\n"),
            "{script}"
        );
        let spec = rebuild_spec(&r, false, Path::new("/w/plan.json"));
        assert_eq!(spec.archs.as_deref(), Some("90"));
        assert_eq!((spec.max_jobs, spec.nvcc_threads), (Some(16), Some(1)));
        assert_eq!(spec.plan_file.as_deref(), Some(Path::new("/w/plan.json")));
        let replan = rebuild_spec(&r, true, Path::new("/w/plan.json"));
        assert_eq!((replan.max_jobs, replan.plan_file), (None, None));
    }

    #[test]
    fn unknown_schemas_and_other_json_are_told_apart() {
        let mut v: Value = serde_json::from_str(H200).unwrap();
        v["schema_version"] = 99.into();
        let e = parse_report(&v.to_string(), "r.json").unwrap_err();
        assert!(
            matches!(e, ReproError::UnknownSchema { version: 99, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("reads 1 and 2"), "{e}");
        let plan = include_str!("../../../bench/results/h200-full-build/plan.json");
        let e = parse_report(plan, "plan.json").unwrap_err();
        assert!(matches!(e, ReproError::NotAReport { .. }), "{e}");
        assert!(matches!(
            parse_report("not json", "x").unwrap_err(),
            ReproError::NotAReport { .. }
        ));
    }

    #[test]
    fn differences_are_named_with_their_effect() {
        let r = parse_report(H200, "h200").unwrap();
        let ours = r.facts.clone().unwrap();
        let mut here = ours.clone();
        here.torch = Some("2.7.1+cu126".into());
        here.ninja = None;
        let rows = compare_hosts(&ours, &here);
        let get = |f: &str| rows.iter().find(|r| r.fact == f).unwrap().comparison;
        assert_eq!(get("torch"), Comparison::Different);
        assert_eq!(get("ninja"), Comparison::Missing);
        assert_eq!(get("python"), Comparison::Same);
        let table = render_comparison(&rows);
        assert!(
            table.contains("torch        different  2.11.0+cu130"),
            "{table}"
        );
        assert!(
            table.contains("may not import with another torch"),
            "{table}"
        );
    }
}
