//! `wheel verify`: the GPU runner's half of a split build. A cell compiled
//! on a GPU-less runner (its archs given) is checked where a GPU is:
//!
//! 1. the GPUs here ([`wheelwright_detect::detect_gpus`]: NVML, then
//!    `nvidia-smi`); none is bad input, since the step runs on the wrong
//!    runner;
//! 2. `wheel check` of the wheel ([`crate::check::run_checks`]), with the
//!    build's report when given (its planned archs, and the wheel must be the
//!    file the report names, by sha256);
//! 3. each binary's device code against each GPU's compute capability
//!    ([`wheelwright_wheel::runs_on`]): a binary with device code none of
//!    which runs on a GPU here fails (`gpu-cannot-run`);
//! 4. with an [`ImportRequest`], the wheel's modules imported by the given
//!    interpreter, where the caller already installed the wheel: that
//!    environment must hold this wheel's version, and every module must load
//!    (an extension's undefined symbols, a torch of another ABI fail here).
//!
//! Nothing is installed, and nothing of the wheel runs but its modules at
//! step 4, which the caller asked for. The import runs a fixed script
//! (`wheel_verify.py`) with the module names as arguments (dotted
//! identifiers only), from an empty temporary directory, under a timeout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use wheelwright_base::archs::Arch;
use wheelwright_base::facts::{Driver, Gpu};
use wheelwright_base::finding::{Finding, Severity};
use wheelwright_detect::{detect_gpus, resolve_python, DetectOptions};
use wheelwright_process as process;
use wheelwright_wheel::file::WheelInfo;
use wheelwright_wheel::modules::{importable_modules, same_version, valid_module_name};
use wheelwright_wheel::runs_on::{fit_on, GpuFit};
use wheelwright_wheel::{Purpose, WheelName};

use crate::check::{
    read_report, run_checks, CheckRequest, CheckRequestError, CheckRun, WheelOutcome,
};

/// The script `--import` runs.
const IMPORT_SCRIPT: &str = include_str!("wheel_verify.py");

/// How long the import may take unless the caller says (torch's import
/// alone takes seconds on a cold disk).
pub const DEFAULT_IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// What to verify, as a user or a CI step says it.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The wheel.
    pub wheel: PathBuf,
    /// The build's `report.json`.
    pub report: Option<PathBuf>,
    /// `80;90`: the device code the wheel must carry; wins over the report.
    pub require_archs: Option<String>,
    /// The interpreter whose torch symbols resolve against, and that imports.
    pub python: Option<PathBuf>,
    /// Import the wheel's modules in that interpreter.
    pub import: Option<ImportRequest>,
    /// Where to look for GPUs (and, without `python`, the interpreter).
    pub detect: DetectOptions,
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Dotted module names; empty = the wheel's own
    /// ([`wheelwright_wheel::modules::importable_modules`]).
    pub modules: Vec<String>,
    /// The import's time limit.
    pub timeout: Duration,
}

/// A request that cannot be carried out (bad usage or the wrong runner: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The check's options (report, archs, interpreter).
    #[error(transparent)]
    Check(#[from] CheckRequestError),
    /// The wheel could not be read as a wheel.
    #[error("{path}: {error}")]
    Wheel {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: String,
        /// What to do.
        hint: String,
    },
    /// No GPU here.
    #[error("no GPU was detected on this machine{}", problems_text(.problems))]
    NoGpu {
        /// What the probe said.
        problems: Vec<String>,
    },
    /// A GPU whose compute capability is not known.
    #[error("GPU {index} ({name}) has no readable compute capability (`{capability}`)")]
    UnknownCapability {
        /// Its index.
        index: u32,
        /// Its name.
        name: String,
        /// What the probe read.
        capability: String,
    },
    /// A `--module` that is not a dotted module name.
    #[error("`{0}` is not a Python module name")]
    Module(String),
    /// No interpreter to import with.
    #[error("no Python interpreter to import the wheel with")]
    NoPython,
    /// The interpreter could not be run.
    #[error("could not run {python}: {why}")]
    Python {
        /// The interpreter.
        python: PathBuf,
        /// Why.
        why: String,
    },
}

fn problems_text(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!(" ({})", problems.join("; "))
    }
}

impl VerifyError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            VerifyError::Check(_) => "--require-archs takes e.g. `80;90`; --report a wheelwright \
                report.json; --python an interpreter that runs"
                .into(),
            VerifyError::Wheel { hint, .. } => hint.clone(),
            VerifyError::NoGpu { .. } => {
                "run `wheel verify` on a runner with an NVIDIA GPU and its \
                driver (the reusable workflow's verify-runs-on labels); `nvidia-smi` must list it"
                    .into()
            }
            VerifyError::UnknownCapability { .. } => {
                "update the NVIDIA driver (`nvidia-smi --query-gpu=compute_cap` must answer)".into()
            }
            VerifyError::Module(_) => {
                "--module takes a dotted name such as `flash_attn_2_cuda` or `pkg._C`".into()
            }
            VerifyError::NoPython | VerifyError::Python { .. } => {
                "pass the interpreter the wheel is installed in with --python".into()
            }
        }
    }
}

/// One binary's device code against the GPUs here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryFit {
    /// Its path in the wheel.
    pub path: String,
    /// Per GPU arch here (each once): what of it runs there.
    pub gpus: Vec<GpuFit>,
}

/// torch as the importing interpreter sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportTorch {
    /// `torch.__version__`.
    pub version: String,
    /// `torch.version.cuda`.
    #[serde(default)]
    pub cuda: Option<String>,
    /// `torch.cuda.is_available()`.
    #[serde(default)]
    pub cuda_available: Option<bool>,
    /// `torch.cuda.device_count()` when available.
    #[serde(default)]
    pub device_count: Option<u32>,
    /// What asking torch about CUDA raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One module's import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleImport {
    /// The dotted name.
    pub name: String,
    /// It imported.
    pub ok: bool,
    /// Where it was loaded from.
    #[serde(default)]
    pub file: Option<String>,
    /// What the import raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the import found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    /// The interpreter (`sys.executable`).
    pub python: PathBuf,
    /// The version of the wheel's distribution installed there, if any.
    pub installed_version: Option<String>,
    /// torch there, if installed.
    pub torch: Option<ImportTorch>,
    /// Each module, in the order imported.
    pub modules: Vec<ModuleImport>,
}

/// Everything one `wheel verify` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRun {
    /// The wheel.
    pub wheel: PathBuf,
    /// No error finding here or in the check.
    pub passed: bool,
    /// The GPUs here.
    pub gpus: Vec<Gpu>,
    /// Their driver.
    pub driver: Option<Driver>,
    /// Each binary with device code against them.
    pub binaries: Vec<BinaryFit>,
    /// The import, when asked for.
    pub import: Option<ImportResult>,
    /// What verify found (the check's own findings are in `check`).
    pub findings: Vec<Finding>,
    /// The `wheel check` run.
    pub check: CheckRun,
}

impl VerifyRun {
    /// 0 passed, 1 a check failed.
    pub fn exit_code(&self) -> u8 {
        if self.passed {
            0
        } else {
            1
        }
    }
}

/// Verify the wheel on this machine's GPUs; see the module docs.
pub fn verify_wheel(req: &VerifyRequest) -> Result<VerifyRun, VerifyError> {
    let found = detect_gpus(&req.detect);
    if found.gpus.is_empty() {
        return Err(VerifyError::NoGpu {
            problems: found.problems.iter().map(|p| p.message.clone()).collect(),
        });
    }
    let mut archs: Vec<Arch> = Vec::new();
    for g in &found.gpus {
        let arch = Arch::from_compute_capability(&g.compute_capability).ok_or_else(|| {
            VerifyError::UnknownCapability {
                index: g.index,
                name: g.name.clone(),
                capability: g.compute_capability.clone(),
            }
        })?;
        if !archs.contains(&arch) {
            archs.push(arch);
        }
    }
    let modules = match &req.import {
        Some(i) => {
            if let Some(bad) = i.modules.iter().find(|m| !valid_module_name(m)) {
                return Err(VerifyError::Module(bad.clone()));
            }
            i.modules.clone()
        }
        None => Vec::new(),
    };
    let check = run_checks(&CheckRequest {
        wheels: vec![req.wheel.clone()],
        require_archs: req.require_archs.clone(),
        report: req.report.clone(),
        python: req.python.clone(),
        purpose: Purpose::Local,
    })?;
    let checked = match check.wheels.first() {
        Some(WheelOutcome::Checked(c)) => c.clone(),
        Some(WheelOutcome::BadInput { path, error, hint }) => {
            return Err(VerifyError::Wheel {
                path: path.clone(),
                error: error.clone(),
                hint: hint.clone(),
            })
        }
        None => unreachable!("one wheel was asked for"),
    };

    let mut findings = Vec::new();
    let mut binaries = Vec::new();
    for b in checked
        .binaries
        .iter()
        .filter(|b| !b.sass.is_empty() || !b.ptx.is_empty())
    {
        let fits: Vec<GpuFit> = archs.iter().map(|a| fit_on(&b.sass, &b.ptx, *a)).collect();
        for fit in fits.iter().filter(|f| !f.runs()) {
            let gpus: Vec<&str> = found
                .gpus
                .iter()
                .filter(|g| {
                    Arch::from_compute_capability(&g.compute_capability)
                        .is_some_and(|a| a.sm() == fit.gpu)
                })
                .map(|g| g.name.as_str())
                .collect();
            let has: Vec<&str> = b.sass.iter().chain(&b.ptx).map(String::as_str).collect();
            findings.push(Finding::new(
                "gpu-cannot-run",
                Severity::Error,
                "The wheel has no device code this GPU can run",
                format!(
                    "{} carries {} and none of it runs on {} ({}): SASS runs only on the same major \
                     compute capability at an equal or newer minor, PTX is compiled by the driver only \
                     for its own or a newer compute capability",
                    b.path,
                    has.join(", "),
                    fit.gpu,
                    gpus.join(", ")
                ),
                format!(
                    "build the cell with {} in its archs (e.g. --archs '{}'), or add PTX of an older arch (`8.0+PTX`)",
                    fit.gpu,
                    fit.gpu.trim_start_matches("sm_")
                ),
            ));
        }
        binaries.push(BinaryFit {
            path: b.path.clone(),
            gpus: fits,
        });
    }
    if binaries.is_empty() {
        findings.push(Finding::new(
            "no-device-code",
            Severity::Notice,
            "No binary of the wheel carries device code",
            format!("{}: nothing in it runs on the GPU", checked.name.file_name()),
            "nothing to do for a wheel without CUDA kernels; a CUDA extension without them was built without nvcc's gencodes",
        ));
    }
    if let Some(path) = &req.report {
        findings.extend(same_file_as_report(&req.wheel, path)?);
    }

    let import = match &req.import {
        None => None,
        Some(i) => {
            let python = req
                .python
                .clone()
                .or_else(|| resolve_python(&req.detect))
                .ok_or(VerifyError::NoPython)?;
            let modules = if modules.is_empty() {
                importable_modules(&req.wheel).map_err(|e| VerifyError::Wheel {
                    path: req.wheel.clone(),
                    hint: e.hint().to_string(),
                    error: e.to_string(),
                })?
            } else {
                modules
            };
            let result = import_modules(&python, &checked.name, &modules, i.timeout)?;
            findings.extend(import_findings(
                &result,
                &checked.name,
                !found.gpus.is_empty(),
            ));
            Some(result)
        }
    };
    let passed = checked.passed && !findings.iter().any(Finding::is_error);
    Ok(VerifyRun {
        wheel: req.wheel.clone(),
        passed,
        gpus: found.gpus,
        driver: found.driver,
        binaries,
        import,
        findings,
        check,
    })
}

/// The wheel must be a file the report's build produced: the same name
/// and sha256 as its wheel, or as its PEP 825 variant wheel (`--variants`:
/// the same code under another name).
fn same_file_as_report(wheel: &Path, report: &Path) -> Result<Vec<Finding>, VerifyError> {
    let report = read_report(report)?;
    let Some(mut built) = report.wheel else {
        return Ok(vec![not_the_built_one("the report names no wheel".into())]);
    };
    let info = WheelInfo::from_file(wheel).map_err(|e| VerifyError::Wheel {
        path: wheel.to_path_buf(),
        error: e.to_string(),
        hint: "check the path: give the .whl file itself".into(),
    })?;
    if let Some(v) = report.variant.filter(|v| v.wheel.name == info.name) {
        built = v.wheel;
    }
    let mut out = Vec::new();
    if info.name != built.name {
        out.push(not_the_built_one(format!(
            "the report's build made {}, not {}",
            built.name, info.name
        )));
    } else if info.sha256 != built.sha256 {
        out.push(not_the_built_one(format!(
            "{} has sha256 {}, the report recorded {}",
            info.name, info.sha256, built.sha256
        )));
    }
    Ok(out)
}

fn not_the_built_one(message: String) -> Finding {
    Finding::new(
        "wheel-not-the-built-one",
        Severity::Error,
        "The wheel is not the file the report's build produced",
        message,
        "verify the wheel and the report.json of the same build (one artifact of the build job)",
    )
}

/// Run the import script in `python`.
fn import_modules(
    python: &Path,
    name: &WheelName,
    modules: &[String],
    timeout: Duration,
) -> Result<ImportResult, VerifyError> {
    let fail = |why: String| VerifyError::Python {
        python: python.to_path_buf(),
        why,
    };
    // An empty working directory: `-c` puts it first on sys.path, and a
    // source checkout there would shadow the installed wheel.
    let cwd = tempfile::Builder::new()
        .prefix("wheelwright-verify-")
        .tempdir()
        .map_err(|e| fail(format!("no temporary directory: {e}")))?;
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(IMPORT_SCRIPT)
        .arg(&name.distribution)
        .arg(&name.version)
        .args(modules)
        .current_dir(cwd.path());
    let out = process::run(&mut cmd, timeout).map_err(|e| fail(e.to_string()))?;
    process::parse_last_line_json(&out.stdout).map_err(|_| {
        fail(format!(
            "it did not answer ({}): {}",
            out.status_text(),
            out.error_tail(20)
        ))
    })
}

fn import_findings(result: &ImportResult, name: &WheelName, gpus_here: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let install = format!(
        "install the wheel into that environment first (`{} -m pip install --no-deps {}`), or pass the interpreter it is installed in with --python",
        result.python.display(),
        name.file_name()
    );
    match &result.installed_version {
        None => out.push(Finding::new(
            "wheel-not-installed",
            Severity::Error,
            "The wheel is not installed where it is imported",
            format!(
                "{} has no distribution {} installed",
                result.python.display(),
                name.distribution
            ),
            install,
        )),
        Some(v) if !same_version(v, &name.version) => out.push(Finding::new(
            "other-version-installed",
            Severity::Error,
            "Another version of the package is installed where the wheel is imported",
            format!(
                "{} has {} {v} installed, the wheel is {}",
                result.python.display(),
                name.distribution,
                name.version
            ),
            install,
        )),
        Some(_) => {}
    }
    for m in result.modules.iter().filter(|m| !m.ok) {
        out.push(Finding::new(
            "import-failed",
            Severity::Error,
            "A module of the wheel does not import",
            format!(
                "import {}: {}",
                m.name,
                m.error.as_deref().unwrap_or("failed")
            ),
            "an undefined symbol means another torch (minor or C++ ABI) than the wheel's; \
             `wheel check --python` lists the symbols; rebuild against this torch",
        ));
    }
    if let Some(t) = result
        .torch
        .as_ref()
        .filter(|t| gpus_here && t.cuda_available == Some(false))
    {
        out.push(Finding::new(
            "torch-sees-no-gpu",
            Severity::Warning,
            "torch sees no GPU where the wheel was imported",
            format!(
                "torch {} (CUDA {}) in {}: torch.cuda.is_available() is False although this machine has a GPU",
                t.version,
                t.cuda.as_deref().unwrap_or("none"),
                result.python.display()
            ),
            "install a CUDA build of torch (from download.pytorch.org/whl/cuXYZ) and check the driver",
        ));
    }
    out
}
