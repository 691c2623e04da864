//! `runner check`: what a self-hosted GPU runner needs, checked, and where no
//! root is needed fixed idempotently (a second run changes nothing and says
//! so). What needs root is returned as commands for a person to run.
//!
//! Checks, in order:
//! 1. `venv`, `torch`: the Python venv with the requested torch from
//!    PyTorch's index for that CUDA ([`venv`]);
//! 2. `build-tools`: pip, setuptools, wheel, packaging, psutil and a proven
//!    ninja in that venv, through [`crate::setup`] (its dry run when checking);
//! 3. `cuda-toolkit`: the installed toolkit (among `/usr/local/cuda-*`) that
//!    matches torch's CUDA ([`toolkits`]);
//! 4. `driver`: the NVIDIA driver (NVML, else `nvidia-smi`) against that
//!    toolkit's minimum ([`wheelwright_base::support::driver_support`]);
//! 5. `host-gcc`: a host GCC within nvcc's maximum, an installed `gcc-N`
//!    picked through CC/CXX/NVCC_CCBIN otherwise (the plan's own preflight);
//! 6. `exports`: CUDA_HOME, PATH, CC/CXX/NVCC_CCBIN and WHEELWRIGHT_PYTHON for
//!    later steps, written to `GITHUB_ENV`/`GITHUB_PATH` through the validating
//!    sink ([`wheelwright_base::env_files`]); already in the environment →
//!    nothing written;
//! 7. `disk`: free space where the work dir lives;
//! 8. `swap`: a warning when swap is on (it hides OOM kills and slows builds);
//! 9. `open-files`: the soft `RLIMIT_NOFILE` (`/proc/self/limits`).
//!
//! It runs on a machine without GPU or CUDA too: each missing part is a check
//! that says so. `/proc` and `/usr/local` are read under the detection root, so
//! tests use fake roots.

pub mod labels;
pub mod toolkits;
pub mod venv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use wheelwright_base::archs::CudaVersion;
use wheelwright_base::env_files;
use wheelwright_base::env_files::EnvFileError;
use wheelwright_base::env_vars;
use wheelwright_base::facts::{Cuda, Facts};
use wheelwright_base::support::{driver_support, min_driver, DriverSupport};
use wheelwright_base::units::{format_bytes, GIB};
use wheelwright_detect::{detect, DetectOptions};
use wheelwright_plan::{preflight, Recipe};

pub use toolkits::Toolkit;
pub use venv::{TorchRequest, TorchRequestError};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Fine as it is.
    Ok,
    /// Fixed by this run.
    Changed,
    /// Would be fixed by `--fix` (no root needed).
    WouldChange,
    /// Works, with a caveat.
    Warning,
    /// Missing or broken; the root commands or the fix say what to do.
    Failed,
}

impl CheckStatus {
    /// Lower-case words for people.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Changed => "changed",
            CheckStatus::WouldChange => "would change",
            CheckStatus::Warning => "warning",
            CheckStatus::Failed => "FAILED",
        }
    }
}

/// One check of the runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `venv`, `torch`, `cuda-toolkit`, `driver`, ...
    pub id: String,
    /// How it ended.
    pub status: CheckStatus,
    /// What was found or done, in words.
    pub detail: String,
    /// The command (no root needed) that fixes it, or that this run ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Commands that need root: printed for a person, never run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_commands: Vec<String>,
}

impl Check {
    /// A check without a fix.
    pub fn new(id: &str, status: CheckStatus, detail: impl Into<String>) -> Check {
        Check {
            id: id.to_string(),
            status,
            detail: detail.into(),
            fix: None,
            root_commands: Vec::new(),
        }
    }

    /// With the command that fixes it (or that ran).
    pub fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    /// With commands that need root.
    pub fn with_root(mut self, commands: impl IntoIterator<Item = String>) -> Check {
        self.root_commands.extend(commands);
        self
    }
}

/// What to check and how.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Where and how to detect (root, PATH, the followed variables).
    pub detect: DetectOptions,
    /// Fix what needs no root (else check only).
    pub fix: bool,
    /// The venv to check or create; `None` = the interpreter detection finds.
    pub venv: Option<PathBuf>,
    /// The interpreter that creates the venv (`python3` on PATH otherwise).
    pub base_python: Option<PathBuf>,
    /// The torch the runner should have.
    pub torch: Option<TorchRequest>,
    /// The CUDA to build with when no torch says (`--cuda` without `--torch`).
    pub cuda: Option<CudaVersion>,
    /// The work dir whose disk must have room.
    pub work_dir: PathBuf,
    /// Free space the work dir needs.
    pub min_disk_bytes: u64,
    /// The soft open-file limit below which to warn.
    pub min_open_files: u64,
    /// `GITHUB_ENV`, where exports go (none: printed as `export` lines).
    pub github_env: Option<PathBuf>,
    /// `GITHUB_PATH`.
    pub github_path: Option<PathBuf>,
    /// `--find-links` for pip in the build-tools step.
    pub find_links: Vec<String>,
    /// `--no-index` for pip in the build-tools step.
    pub no_index: bool,
    /// Timeout of pip and venv runs.
    pub pip_timeout: Duration,
}

/// Free space a flash-attn work dir wants by default: a venv with torch
/// (~6 GiB), the sdist's build tree with its objects (~5 GiB), the wheel and
/// some slack.
pub const DEFAULT_MIN_DISK: u64 = 30 * GIB;
/// Open files ninja, nvcc and pip may hold at once with many jobs.
pub const DEFAULT_MIN_OPEN_FILES: u64 = 4096;

impl RunnerOptions {
    /// Defaults around `detect`: check only, no venv, the current directory
    /// as work dir.
    pub fn new(detect: DetectOptions) -> RunnerOptions {
        RunnerOptions {
            work_dir: detect.disk_path.clone(),
            detect,
            fix: false,
            venv: None,
            base_python: None,
            torch: None,
            cuda: None,
            min_disk_bytes: DEFAULT_MIN_DISK,
            min_open_files: DEFAULT_MIN_OPEN_FILES,
            github_env: None,
            github_path: None,
            find_links: Vec::new(),
            no_index: false,
            pip_timeout: Duration::from_secs(1800),
        }
    }
}

/// What `runner check` found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerReport {
    /// Whether fixes were allowed.
    pub fix: bool,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The toolkit chosen for builds.
    pub toolkit: Option<Toolkit>,
    /// Every toolkit found.
    pub toolkits: Vec<Toolkit>,
    /// Variables for later steps (written to GITHUB_ENV when given).
    pub env: BTreeMap<String, String>,
    /// Directories for later steps' PATH (written to GITHUB_PATH when given).
    pub path: Vec<String>,
    /// The runner's labels ([`labels::runner_labels`]).
    pub labels: Vec<String>,
    /// The facts the checks read (after the venv step).
    pub facts: Facts,
    /// No check failed.
    pub ok: bool,
    /// Whether this run changed anything.
    pub changed: bool,
}

/// Check the runner; see the module docs.
pub fn check_runner(opts: &RunnerOptions) -> RunnerReport {
    let mut checks = Vec::new();
    let mut dopts = opts.detect.clone();
    dopts.disk_path = existing_ancestor(&opts.work_dir);

    // 1. venv and torch.
    if let Some(dir) = &opts.venv {
        let v = venv::VenvOptions {
            dir: dir.clone(),
            base_python: opts.base_python.clone(),
            torch: opts.torch.clone(),
            path: dopts.path.clone(),
            fix: opts.fix,
            timeout: opts.pip_timeout,
        };
        checks.extend(venv::check_venv(&v, &dopts));
        dopts.python = Some(venv::venv_python(dir));
    }
    let facts = detect(&dopts);
    if opts.venv.is_none() {
        checks.push(torch_of_detected(&facts));
    }

    // 2. build tools, through setup.
    if let Some(py) = facts.python.as_ref().map(|p| PathBuf::from(&p.path)) {
        checks.push(build_tools(opts, &dopts, &py));
    }

    // 3. the toolkit.
    let toolkits = toolkits::installed_toolkits(&dopts, &facts);
    let want = opts
        .torch
        .as_ref()
        .map(|t| t.cuda)
        .or_else(|| {
            facts
                .torch
                .as_ref()
                .and_then(|t| t.cuda.as_deref())
                .and_then(CudaVersion::parse)
        })
        .or(opts.cuda);
    let (toolkit_check, chosen) = toolkit_check(&toolkits, want);
    checks.push(toolkit_check);
    let chosen = chosen.cloned();

    // 4. driver.
    checks.push(driver_check(&facts, chosen.as_ref()));

    // 5. host gcc, with the chosen toolkit in the facts.
    let mut with_toolkit = facts.clone();
    if let Some(t) = &chosen {
        with_toolkit.cuda = Some(Cuda {
            home: t.home.display().to_string(),
            nvcc: t.home.join("bin/nvcc").display().to_string(),
            version: t.version.clone(),
            max_gcc_major: t.max_gcc_major,
        });
    }
    let (gcc_check, gcc_env) = gcc_check(&with_toolkit);
    checks.push(gcc_check);

    // 6. exports.
    let mut env = gcc_env;
    let mut path = Vec::new();
    if let Some(t) = &chosen {
        env.insert(env_vars::CUDA_HOME.into(), t.home.display().to_string());
        path.push(t.home.join("bin").display().to_string());
    }
    if let Some(dir) = &opts.venv {
        env.insert(
            env_vars::WHEELWRIGHT_PYTHON.into(),
            venv::venv_python(dir).display().to_string(),
        );
    }
    checks.push(exports_check(opts, &env, &path));

    // 7-9. disk, swap, open files.
    checks.push(disk_check(&facts, &opts.work_dir, opts.min_disk_bytes));
    checks.push(swap_check(&dopts));
    checks.push(open_files_check(&dopts, opts.min_open_files));

    let labels = labels::runner_labels(&facts, &toolkits);
    let ok = checks.iter().all(|c| c.status != CheckStatus::Failed);
    let changed = checks.iter().any(|c| c.status == CheckStatus::Changed);
    RunnerReport {
        fix: opts.fix,
        checks,
        toolkit: chosen,
        toolkits,
        env,
        path,
        labels,
        facts,
        ok,
        changed,
    }
}

/// The path itself if it exists, else its nearest existing ancestor (the
/// disk a work dir about to be created will live on).
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn build_tools(opts: &RunnerOptions, dopts: &DetectOptions, python: &Path) -> Check {
    let mut s = crate::setup::SetupOptions::new(python.to_path_buf(), dopts.path.clone());
    s.dry_run = !opts.fix;
    s.find_links = opts.find_links.clone();
    s.no_index = opts.no_index;
    s.pip_timeout = opts.pip_timeout;
    let fix = format!("wheelwright setup --python {}", python.display());
    let report = match crate::setup::setup(&s) {
        Ok(r) => r,
        Err(e @ crate::setup::SetupError::SystemPython { .. }) if opts.venv.is_none() => {
            return Check::new(
                "build-tools",
                CheckStatus::Warning,
                format!("{e}; builds want a venv"),
            )
            .with_fix("wheelwright runner check --fix --venv DIR --torch X.Y --cuda X.Y")
        }
        Err(e) => {
            return Check::new(
                "build-tools",
                CheckStatus::Failed,
                format!("{e}; {}", e.hint()),
            )
        }
    };
    use crate::setup::StepStatus;
    // A dry run always "would upgrade" pip, setuptools and wheel; only what is
    // missing or broken counts when checking.
    let counted: Vec<_> = report
        .steps
        .iter()
        .filter(|st| !(report.dry_run && st.id == "upgrade-packaging-tools"))
        .collect();
    let worst = |want: StepStatus| {
        counted
            .iter()
            .filter(|st| st.status == want)
            .map(|st| format!("{}: {}", st.id, st.detail))
            .collect::<Vec<_>>()
    };
    let failed = worst(StepStatus::Failed);
    let would = worst(StepStatus::WouldChange);
    let changed = worst(StepStatus::Changed);
    if !failed.is_empty() {
        Check::new("build-tools", CheckStatus::Failed, failed.join("; ")).with_fix(fix)
    } else if !would.is_empty() {
        Check::new("build-tools", CheckStatus::WouldChange, would.join("; ")).with_fix(fix)
    } else if !changed.is_empty() {
        Check::new("build-tools", CheckStatus::Changed, changed.join("; ")).with_fix(fix)
    } else {
        let ninja = report.ninja.version.clone().unwrap_or_else(|| "?".into());
        Check::new(
            "build-tools",
            CheckStatus::Ok,
            format!(
                "pip, setuptools, wheel, packaging, psutil and ninja {ninja} (proven) are in place"
            ),
        )
    }
}

/// The torch of the interpreter detection found, when no venv was named.
fn torch_of_detected(facts: &Facts) -> Check {
    let fix = "wheelwright runner check --fix --venv DIR --torch X.Y --cuda X.Y";
    match (&facts.python, &facts.torch) {
        (_, Some(t)) if t.cuda.is_some() => Check::new(
            "torch",
            CheckStatus::Ok,
            format!(
                "torch {} (CUDA {})",
                t.version,
                t.cuda.as_deref().unwrap_or("?")
            ),
        ),
        (_, Some(t)) => Check::new(
            "torch",
            CheckStatus::Failed,
            format!("torch {} is a CPU-only build", t.version),
        )
        .with_fix(fix),
        (Some(p), None) => Check::new(
            "torch",
            CheckStatus::Failed,
            format!("{} (Python {}) has no torch", p.path, p.version),
        )
        .with_fix(fix),
        (None, None) => {
            Check::new("torch", CheckStatus::Failed, "no Python interpreter found").with_fix(fix)
        }
    }
}

fn toolkit_check(toolkits: &[Toolkit], want: Option<CudaVersion>) -> (Check, Option<&Toolkit>) {
    let listed = if toolkits.is_empty() {
        "none installed".to_string()
    } else {
        toolkits
            .iter()
            .map(|t| format!("{} ({})", t.version, t.home.display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let install = |v: CudaVersion| {
        format!(
            "sudo apt-get install -y cuda-toolkit-{}-{}",
            v.major, v.minor
        )
    };
    let Some(want) = want else {
        let newest = toolkits.last();
        return match newest {
            Some(t) => (
                Check::new(
                    "cuda-toolkit",
                    CheckStatus::Warning,
                    format!("no torch and no --cuda to match; using the newest toolkit, {} (found: {listed})", t.version),
                ),
                Some(t),
            ),
            None => (
                Check::new("cuda-toolkit", CheckStatus::Failed, "no CUDA toolkit (no /usr/local/cuda-*, CUDA_HOME or nvcc on PATH), and no torch or --cuda to say which")
                    .with_root([install(CudaVersion::new(12, 8))]),
                None,
            ),
        };
    };
    match toolkits::choose_toolkit(toolkits, want) {
        Some(t) => {
            let exact = t.cuda() == Some(want);
            let status = if exact || t.cuda().is_some_and(|c| c > want) { CheckStatus::Ok } else { CheckStatus::Warning };
            let how = if exact {
                "matches torch's CUDA".to_string()
            } else {
                format!("same major as torch's CUDA {want} (torch only warns about another minor)")
            };
            (
                Check::new(
                    "cuda-toolkit",
                    status,
                    format!("CUDA {} at {}: {how} (found: {listed})", t.version, t.home.display()),
                ),
                Some(t),
            )
        }
        None => (
            Check::new(
                "cuda-toolkit",
                CheckStatus::Failed,
                format!("no CUDA {}.x toolkit for torch's CUDA {want} (found: {listed}); torch refuses another major", want.major),
            )
            .with_root([install(want)]),
            None,
        ),
    }
}

fn driver_check(facts: &Facts, toolkit: Option<&Toolkit>) -> Check {
    let cuda = toolkit.and_then(Toolkit::cuda);
    let need = cuda.and_then(min_driver);
    let install = need.map(|d| {
        let branch = d.split('.').next().unwrap_or(d);
        format!("sudo apt-get install -y nvidia-driver-{branch}-server   # or newer; then reboot")
    });
    let Some(driver) = &facts.driver else {
        let why = facts
            .problems
            .iter()
            .find(|p| p.probe == "gpu")
            .map(|p| format!(" ({})", p.message))
            .unwrap_or_default();
        return Check::new(
            "driver",
            CheckStatus::Warning,
            format!("no NVIDIA driver (NVML cannot be loaded and there is no nvidia-smi){why}: wheels still compile, but nothing can run on a GPU here"),
        )
        .with_root(install);
    };
    let gpus = facts.gpus.len();
    let Some(cuda) = cuda else {
        return Check::new(
            "driver",
            CheckStatus::Ok,
            format!(
                "driver {}, {gpus} GPU(s); no toolkit to compare with",
                driver.version
            ),
        );
    };
    let min = need.unwrap_or("?");
    match driver_support(cuda, &driver.version) {
        DriverSupport::Full => Check::new(
            "driver",
            CheckStatus::Ok,
            format!("driver {} ≥ {min}, the minimum of CUDA {cuda}; {gpus} GPU(s)", driver.version),
        ),
        DriverSupport::MinorCompat => Check::new(
            "driver",
            CheckStatus::Warning,
            format!(
                "driver {} is below CUDA {cuda}'s minimum {min} but runs it through minor-version compatibility (PTX of CUDA {cuda} cannot be JIT-compiled here)",
                driver.version
            ),
        )
        .with_root(install),
        DriverSupport::TooOld => Check::new(
            "driver",
            CheckStatus::Failed,
            format!("driver {} is too old for CUDA {cuda} (needs {min}; not even minor-version compatibility covers it)", driver.version),
        )
        .with_root(install),
        DriverSupport::Unknown => Check::new(
            "driver",
            CheckStatus::Warning,
            format!("driver {}; CUDA {cuda} is newer than wheelwright's driver table", driver.version),
        ),
    }
}

fn gcc_check(facts: &Facts) -> (Check, BTreeMap<String, String>) {
    let pre = preflight::check_toolchain(
        facts,
        &Recipe::flash_attn(wheelwright_plan::recipe::DEFAULT_FLASH_ATTN_VERSION),
    );
    let env: BTreeMap<String, String> = pre
        .env
        .iter()
        .filter(|(k, _)| [env_vars::CC, env_vars::CXX, env_vars::NVCC_CCBIN].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let max = facts.cuda.as_ref().and_then(|c| c.max_gcc_major);
    let finding = pre.findings.iter().find(|f| f.id.starts_with("gcc-"));
    let check = match (finding, preflight::default_gcc(facts)) {
        (Some(f), _) if f.is_error() => {
            let n = max.unwrap_or(12);
            let cmd = if f.id == "gcc-missing" {
                format!("sudo apt-get install -y gcc-{n} g++-{n}")
            } else {
                format!("sudo apt-get install -y gcc-{n} g++-{n}   # the newest GCC nvcc accepts")
            };
            Check::new("host-gcc", CheckStatus::Failed, f.message.clone()).with_root([cmd])
        }
        (Some(f), _) => Check::new("host-gcc", CheckStatus::Ok, f.message.clone()),
        (None, Some(g)) => Check::new(
            "host-gcc",
            CheckStatus::Ok,
            match max {
                Some(m) => format!(
                    "GCC {} ({}) is within nvcc's maximum, GCC {m}",
                    g.major, g.path
                ),
                None => format!("GCC {} ({}); nvcc's maximum is unknown", g.major, g.path),
            },
        ),
        (None, None) => Check::new("host-gcc", CheckStatus::Failed, "no gcc found")
            .with_root(["sudo apt-get install -y build-essential".to_string()]),
    };
    (check, env)
}

/// Whether the current environment already has every export.
fn already_exported(
    dopts: &DetectOptions,
    env: &BTreeMap<String, String>,
    path: &[String],
) -> bool {
    let entries: Vec<PathBuf> = std::env::split_paths(&dopts.path).collect();
    env.iter().all(|(k, v)| dopts.env.get(k) == Some(v))
        && path
            .iter()
            .all(|d| entries.iter().any(|e| e == Path::new(d)))
}

fn exports_check(opts: &RunnerOptions, env: &BTreeMap<String, String>, path: &[String]) -> Check {
    if env.is_empty() && path.is_empty() {
        return Check::new("exports", CheckStatus::Ok, "nothing to export");
    }
    let shown = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(path.iter().map(|d| format!("PATH+={d}")))
        .collect::<Vec<_>>()
        .join(" ");
    if already_exported(&opts.detect, env, path) {
        return Check::new(
            "exports",
            CheckStatus::Ok,
            format!("already in the environment: {shown}"),
        );
    }
    let lines: Result<(String, String), EnvFileError> = (|| {
        let mut e = String::new();
        for (k, v) in env {
            e.push_str(&env_files::env_line(k, v)?);
        }
        let mut p = String::new();
        for d in path {
            p.push_str(&env_files::path_line(Path::new(d))?);
        }
        Ok((e, p))
    })();
    let (env_lines, path_lines) = match lines {
        Ok(l) => l,
        Err(e) => return Check::new("exports", CheckStatus::Failed, e.to_string()),
    };
    let export_cmd = format!(
        "export {}{}",
        env.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        if path.is_empty() {
            String::new()
        } else {
            format!(" PATH={}:$PATH", path.join(":"))
        }
    );
    match (&opts.github_env, &opts.github_path, opts.fix) {
        (Some(genv), Some(gpath), true) => {
            let written = env_files::append(genv, &env_lines)
                .and_then(|()| env_files::append(gpath, &path_lines));
            match written {
                Ok(()) => Check::new(
                    "exports",
                    CheckStatus::Changed,
                    format!("written to GITHUB_ENV and GITHUB_PATH for later steps: {shown}"),
                ),
                Err(e) => Check::new("exports", CheckStatus::Failed, e.to_string()),
            }
        }
        (Some(_), Some(_), false) => Check::new(
            "exports",
            CheckStatus::WouldChange,
            format!("would write to GITHUB_ENV and GITHUB_PATH: {shown}"),
        )
        .with_fix("wheelwright runner check --fix"),
        _ => Check::new(
            "exports",
            CheckStatus::WouldChange,
            format!("not in this environment: {shown}"),
        )
        .with_fix(export_cmd),
    }
}

fn disk_check(facts: &Facts, work_dir: &Path, min: u64) -> Check {
    match facts.host.disk_free_bytes {
        Some(free) if free >= min => Check::new(
            "disk",
            CheckStatus::Ok,
            format!(
                "{} free for {} (wants {})",
                format_bytes(free),
                work_dir.display(),
                format_bytes(min)
            ),
        ),
        Some(free) => Check::new(
            "disk",
            CheckStatus::Failed,
            format!(
                "{} free for {}, below the {} a build wants (torch venv, build tree, wheel)",
                format_bytes(free),
                work_dir.display(),
                format_bytes(min)
            ),
        )
        .with_fix(format!(
            "free space on that disk, or pass --work-dir on a larger one (check: df -h {})",
            work_dir.display()
        )),
        None => Check::new(
            "disk",
            CheckStatus::Warning,
            format!("free space of {} could not be read", work_dir.display()),
        ),
    }
}

fn swap_check(dopts: &DetectOptions) -> Check {
    let meminfo = std::fs::read_to_string(dopts.rooted("/proc/meminfo")).unwrap_or_default();
    match wheelwright_detect::host::proc_field_bytes(&meminfo, "SwapTotal") {
        Some(0) => Check::new("swap", CheckStatus::Ok, "no swap: an out-of-memory compile is killed at once and retried with fewer jobs"),
        Some(bytes) => Check::new(
            "swap",
            CheckStatus::Warning,
            format!("{} of swap: a build that runs out of memory crawls instead of being killed (and retried with fewer jobs), and OOM kills are hidden", format_bytes(bytes)),
        )
        .with_root([
            "sudo swapoff -a".to_string(),
            "sudo sed -i.bak '/\\sswap\\s/s/^/#/' /etc/fstab   # keep it off after a reboot".to_string(),
        ]),
        None => Check::new("swap", CheckStatus::Warning, "SwapTotal not found in /proc/meminfo"),
    }
}

/// (soft, hard) of `Max open files` in `/proc/self/limits`; `None` = unlimited.
pub fn parse_open_files_limit(limits: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut it = line["Max open files".len()..].split_whitespace();
    let read = |s: Option<&str>| -> Option<Option<u64>> {
        match s? {
            "unlimited" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    Some((read(it.next())?, read(it.next())?))
}

fn open_files_check(dopts: &DetectOptions, min: u64) -> Check {
    let limits = std::fs::read_to_string(dopts.rooted("/proc/self/limits")).unwrap_or_default();
    let service = "sudo systemctl edit 'actions.runner.*.service'   # add: [Service] LimitNOFILE=65536, then restart the runner".to_string();
    match parse_open_files_limit(&limits) {
        Some((None, _)) => Check::new("open-files", CheckStatus::Ok, "open files: unlimited"),
        Some((Some(soft), _)) if soft >= min => Check::new(
            "open-files",
            CheckStatus::Ok,
            format!("open files: {soft} (wants {min})"),
        ),
        Some((Some(soft), hard)) => {
            let raise = match hard {
                Some(h) if h < min => format!("the hard limit {h} is below {min} too"),
                _ => format!("`ulimit -n {min}` raises it for one shell; the runner's service keeps the low default"),
            };
            Check::new(
                "open-files",
                CheckStatus::Warning,
                format!("open files: soft limit {soft}, below {min} (many parallel compiles and pip can run out); {raise}"),
            )
            .with_root([service])
        }
        None => Check::new(
            "open-files",
            CheckStatus::Warning,
            "`Max open files` not found in /proc/self/limits",
        ),
    }
}

#[cfg(test)]
mod tests;
