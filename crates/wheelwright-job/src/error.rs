//! [`JobError`]: why a job stopped before its build could run, what to do
//! about it, and which documented exit code it means.

use std::path::PathBuf;

use wheelwright_base::finding::Finding;
use wheelwright_build::source::SourceError;
use wheelwright_build::workdir::WorkDirError;
use wheelwright_build::BuildError;
use wheelwright_plan::PlanError;

use crate::report::BuildReport;

/// Why a job stopped before its build could run (a failed build is a report,
/// not an error). [`JobError::hint`] says what to do, [`JobError::exit_code`]
/// which documented exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The spec is not a requirement, an sdist, a source tree or a URL.
    #[error(transparent)]
    BadSource(SourceError),
    /// The out or work dir cannot be created or written.
    #[error("{flag} {} cannot be used: {error}", path.display())]
    UnusableDir {
        /// `--out` or `--work-dir`.
        flag: &'static str,
        /// The directory.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// No interpreter was given and none was found.
    #[error("no Python interpreter found (no --python, no active venv, no python3 on PATH)")]
    NoPython,
    /// A torch-ext requirement cannot be planned before its sdist is here.
    #[error("cannot plan `{spec}` before its source is here")]
    NoSource {
        /// The spec as given.
        spec: String,
    },
    /// The planner could not plan (bad input; refusals are [`JobError::Refused`]).
    #[error("cannot plan the build: {error}")]
    Plan {
        /// The planner's error.
        error: PlanError,
        /// What to do about it.
        hint: String,
    },
    /// The plan file could not be read or is not a plan.
    #[error("{message}")]
    PlanFile {
        /// The plan file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The calibration report could not be used.
    #[error("{message}")]
    Calibrate {
        /// What is wrong.
        message: String,
        /// What to do about it.
        hint: String,
    },
    /// The plan's preflight checks refused the build (and `force` was not set).
    #[error("the plan refused this build ({} error(s) above)", findings.len())]
    Refused {
        /// The error findings.
        findings: Vec<Finding>,
    },
    /// The source could not be downloaded (or the download was cancelled):
    /// `build.log` and `report.json` were written as for a failed build.
    #[error("{message}")]
    SourceUnavailable {
        /// The records left in the out dir.
        report: Box<BuildReport>,
        /// What failed.
        message: String,
        /// The download was cancelled (exit 130), not failed (exit 1).
        cancelled: bool,
    },
    /// The build's records (`build.log`, `report.json`) could not be written.
    #[error("the build could not keep its records")]
    Records(#[source] BuildError),
    /// The work dir could not be locked (or the wait for it was cancelled).
    #[error(transparent)]
    WorkDir(WorkDirError),
    /// The spec names a C++ ABI the build's torch does not have (or whose
    /// ABI could not be read).
    #[error("this build asks for cxx11abi{}, but {}", abi_word(*.wanted), torch_abi_text(torch, *found))]
    AbiMismatch {
        /// The ABI asked for.
        wanted: bool,
        /// torch's version, when detected.
        torch: Option<String>,
        /// torch's ABI, when it could be read.
        found: Option<bool>,
    },
}

fn abi_word(abi: bool) -> &'static str {
    wheelwright_wheel::abi::abi_word(abi)
}

fn torch_abi_text(torch: &Option<String>, found: Option<bool>) -> String {
    match (torch, found) {
        (None, _) => "no torch was found for the build's interpreter".into(),
        (Some(v), None) => {
            format!("torch {v}'s C++ ABI (torch._C._GLIBCXX_USE_CXX11_ABI) could not be read")
        }
        (Some(v), Some(abi)) => format!("torch {v} was built with cxx11abi{}", abi_word(abi)),
    }
}

impl JobError {
    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            JobError::BadSource(e) => format!("{}; an http(s) URL of an sdist is fetched as it is", e.hint()),
            JobError::UnusableDir { flag, .. } => format!("give {flag} a directory this user can create and write"),
            JobError::NoPython => "pass the interpreter that has torch with --python".into(),
            JobError::NoSource { .. } => "pass the sdist or the source tree".into(),
            JobError::Plan { hint, .. } | JobError::Calibrate { hint, .. } => hint.clone(),
            JobError::PlanFile { .. } => "write one with `wheelwright plan --json > plan.json`".into(),
            JobError::Refused { .. } => "fix what the findings say (or override with --archs/--max-jobs/--nvcc-threads), or pass --force to build anyway".into(),
            JobError::SourceUnavailable { .. } => SOURCE_HINT.into(),
            JobError::Records(_) => "check that the out and work dirs are writable and have space".into(),
            JobError::WorkDir(e) => e.hint(),
            JobError::AbiMismatch { wanted, .. } => format!(
                "PyPI's torch <= 2.6 ships only the old ABI (FALSE), >= 2.7 only the new one (TRUE): build with a torch of ABI {} (--python pointing at it, or the cell's torch-index-url), or leave this cell out of the matrix",
                abi_word(*wanted)
            ),
        }
    }

    /// The documented exit code: 2 bad input or refused, 1 the source could
    /// not be had, 130 cancelled, 3 the records could not be written.
    pub fn exit_code(&self) -> u8 {
        match self {
            JobError::SourceUnavailable {
                cancelled: true, ..
            } => 130,
            JobError::SourceUnavailable { .. } => 1,
            JobError::Records(_) => 3,
            JobError::WorkDir(WorkDirError::Cancelled { .. }) => 130,
            JobError::WorkDir(WorkDirError::Io { .. }) => 3,
            _ => 2,
        }
    }

    /// The report the job left before it stopped, if it left one.
    pub fn report(&self) -> Option<&BuildReport> {
        match self {
            JobError::SourceUnavailable { report, .. } => Some(report),
            _ => None,
        }
    }
}

/// What to do about a source that could not be had.
pub(crate) const SOURCE_HINT: &str = "check that pip reaches its index (PIP_INDEX_URL, pip.conf, --find-links in PIP_FIND_LINKS) and that the build interpreter has setuptools and wheel (`wheelwright setup`), or download the sdist elsewhere and pass its path";
