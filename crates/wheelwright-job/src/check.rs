//! One `wheel check` run over several wheels: resolve the required archs
//! (`--require-archs`, else the report's plan: per extension and unit where
//! the plan ran the package's setup.py) and the torch to resolve
//! symbols against (`--python`, else the interpreter the report's build
//! ran), once, then check each wheel. Here, above wheelwright-wheel, because
//! it reads a build's report; the check itself needs neither report nor plan.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use wheelwright_plan::Plan;
use wheelwright_wheel::archs::{RequiredArchs, RequiredArchsError};
use wheelwright_wheel::extension_archs::{ExtensionArchs, UnitArchs};
use wheelwright_wheel::torch::{TorchEnv, TorchProbeError};
use wheelwright_wheel::{check_wheel, CheckOptions, ExpectedAbi, Purpose, WheelCheck};

use crate::report::BuildReport;

/// What to check, as a user or a CI step says it.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// The wheels.
    pub wheels: Vec<PathBuf>,
    /// `80;90`: the device code each wheel must carry; wins over the report.
    pub require_archs: Option<String>,
    /// The build's `report.json`: its planned archs, its interpreter.
    pub report: Option<PathBuf>,
    /// The interpreter whose torch the wheel was built for; wins over the report.
    pub python: Option<PathBuf>,
    /// Local use or an index.
    pub purpose: Purpose,
}

/// A request that cannot be carried out (bad usage: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckRequestError {
    /// `--report` could not be read.
    #[error("cannot read the report {path}: {why}")]
    Report {
        /// The report.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The required archs could not be read.
    #[error("{source} ({origin})")]
    Archs {
        /// `--require-archs` or the report.
        origin: String,
        /// The cause.
        #[source]
        source: RequiredArchsError,
    },
    /// `--python` could not be asked where torch is.
    #[error(transparent)]
    Python(#[from] TorchProbeError),
}

/// The outcome for one wheel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum WheelOutcome {
    /// It was checked (passed or not).
    Checked(Box<WheelCheck>),
    /// It could not be checked: not a wheel, missing, unreadable.
    BadInput {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: String,
        /// What to do.
        hint: String,
    },
}

/// Everything one run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    /// The required archs every wheel was compared with.
    pub required_archs: Option<RequiredArchs>,
    /// Per extension, each nvcc unit's planned targets (the report's plan
    /// of a package whose setup.py was run): binaries of these extensions
    /// were compared with them instead of `required_archs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<ExtensionArchs>,
    /// The torch symbols were resolved against.
    pub torch: Option<TorchEnv>,
    /// Things worth knowing about the run (torch version differs from the
    /// report's, the report's interpreter is not on this machine).
    pub notes: Vec<String>,
    /// One outcome per wheel, in the order asked.
    pub wheels: Vec<WheelOutcome>,
}

impl CheckRun {
    /// 0 all passed, 1 a check failed, 2 a wheel could not be checked.
    pub fn exit_code(&self) -> u8 {
        if self
            .wheels
            .iter()
            .any(|w| matches!(w, WheelOutcome::BadInput { .. }))
        {
            2
        } else if self
            .wheels
            .iter()
            .any(|w| matches!(w, WheelOutcome::Checked(c) if !c.passed))
        {
            1
        } else {
            0
        }
    }
}

/// Resolve the request's options and check every wheel.
pub fn run_checks(req: &CheckRequest) -> Result<CheckRun, CheckRequestError> {
    let report = req.report.as_deref().map(read_report).transpose()?;
    let mut notes = Vec::new();
    let required_archs = match (&req.require_archs, &report) {
        (Some(list), _) => Some(RequiredArchs::parse(list, "--require-archs").map_err(
            |source| CheckRequestError::Archs {
                origin: "--require-archs".into(),
                source,
            },
        )?),
        (None, Some(r)) => Some(report_archs(r).map_err(|source| CheckRequestError::Archs {
            origin: "--report".into(),
            source,
        })?),
        (None, None) => None,
    };
    // `--require-archs` is one list for every binary; a plan knows each
    // extension's units.
    let extensions = match (&req.require_archs, &report) {
        (None, Some(r)) => r.plan.as_ref().map(plan_extensions).unwrap_or_default(),
        _ => Vec::new(),
    };
    let report_python = report
        .as_ref()
        .and_then(|r| r.command.first())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let python = match (&req.python, &report_python) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(p)) if p.is_file() => Some(p.clone()),
        (None, Some(p)) => {
            notes.push(format!(
                "the report's interpreter {} is not on this machine: symbols from torch \
                 are listed as unresolved (use --python)",
                p.display()
            ));
            None
        }
        (None, None) => None,
    };
    let torch = python.as_deref().map(TorchEnv::probe).transpose()?;
    if let Some(t) = &torch {
        match &t.version {
            None => notes.push(format!(
                "{} has no torch installed: symbols from torch are listed as unresolved",
                t.python.display()
            )),
            Some(v) => {
                let built = report
                    .as_ref()
                    .and_then(|r| r.facts.as_ref())
                    .and_then(|f| f.torch.clone());
                if let Some(built) = built.filter(|b| b != v) {
                    notes.push(format!(
                        "the wheel was built with torch {built}, symbols were resolved \
                         against torch {v} ({})",
                        t.python.display()
                    ));
                }
            }
        }
    }
    let opts = CheckOptions {
        purpose: req.purpose,
        required_archs: required_archs.clone(),
        extensions: extensions.clone(),
        torch: torch.clone(),
        exclude: Vec::new(),
        cxx11_abi: report
            .as_ref()
            .and_then(|r| r.facts.as_ref())
            .and_then(|f| f.cxx11_abi)
            .map(|abi| ExpectedAbi {
                cxx11_abi: abi,
                source: "report.json (the build's torch)".into(),
            }),
    };
    let wheels = req
        .wheels
        .iter()
        .map(|w| match check_wheel(w, &opts) {
            Ok(c) => WheelOutcome::Checked(Box::new(c)),
            Err(e) => WheelOutcome::BadInput {
                path: w.clone(),
                hint: e.hint().to_string(),
                error: e.to_string(),
            },
        })
        .collect();
    Ok(CheckRun {
        required_archs,
        extensions,
        torch,
        notes,
        wheels,
    })
}

/// The archs the report's build planned ([`plan_archs`] of its plan).
fn report_archs(report: &BuildReport) -> Result<RequiredArchs, RequiredArchsError> {
    let plan = report.plan.as_ref().ok_or(RequiredArchsError::NoPlan)?;
    plan_archs(plan, "report.json plan")
}

/// The archs `plan` compiles: its `-gencode` flags, else its arch list
/// ([`RequiredArchs::from_gencodes`]); `source` says where the list came from.
pub fn plan_archs(plan: &Plan, source: &str) -> Result<RequiredArchs, RequiredArchsError> {
    RequiredArchs::from_gencodes(&plan.gencode_flags, &plan.archs, source)
}

/// Each extension's nvcc units and their targets, from a plan that ran the
/// package's setup.py (`unit_plan`); empty for other plans. Units whose
/// extension is not named cannot be told apart and are left out.
pub fn plan_extensions(plan: &Plan) -> Vec<ExtensionArchs> {
    let mut out: Vec<ExtensionArchs> = Vec::new();
    for u in plan.unit_plan.iter().filter(|u| u.compiler == "nvcc") {
        let Some(name) = &u.extension else { continue };
        let unit = UnitArchs {
            path: u.path.clone(),
            targets: u.targets.clone(),
        };
        match out.iter_mut().find(|e| &e.extension == name) {
            Some(e) => e.units.push(unit),
            None => out.push(ExtensionArchs {
                extension: name.clone(),
                units: vec![unit],
            }),
        }
    }
    out
}

pub(crate) fn read_report(path: &Path) -> Result<BuildReport, CheckRequestError> {
    let err = |why: String| CheckRequestError::Report {
        path: path.to_path_buf(),
        why,
    };
    // Data from elsewhere (a build on another runner): bounded, type checked first.
    let text = wheelwright_base::safe_read::read_small_file(path, crate::repro::MAX_REPORT_BYTES)
        .map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(format!("not a wheelwright build report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_plan_of_a_real_report() {
        let report: BuildReport = serde_json::from_str(include_str!(
            "../../../bench/results/h200-full-build/report.json"
        ))
        .unwrap();
        let r = report_archs(&report).unwrap();
        assert_eq!(r.sass, ["sm_90"]);
        assert!(r.ptx.is_empty());
    }
}
