//! Runner setup: a Python environment with pip, setuptools, wheel, packaging,
//! psutil and a proven ninja, prepared idempotently.
//!
//! The interpreter is `--python`, else the active venv (`$VIRTUAL_ENV/bin/python`),
//! else `python3` on PATH. One probe (`probe.py`) says whether it is a venv (or
//! conda env), whether its stdlib carries PEP 668's `EXTERNALLY-MANAGED`
//! marker, and which packages it has. A system interpreter (not in a venv) is
//! refused unless the caller allows it, with `python3 -m venv` as the fix. pip
//! runs with the user's configuration untouched (PIP_INDEX_URL, pip.conf,
//! mirrors) plus `--find-links`/`--no-index` for air-gapped runners. No root needed.
//!
//! Steps, each reported as changed, already fine, would change (dry run) or failed:
//! 1. `pip install --upgrade pip setuptools wheel`;
//! 2. `pip install` of packaging, psutil and ninja, those missing;
//! 3. ninja: `ninja --version`, then a two-target build with `-j 2`; broken →
//!    `pip install --force-reinstall ninja` → proven again.

pub(crate) mod ninja;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runner::path_with_python_dir;
use wheelwright_base::secrets::redact_secrets;
use wheelwright_process as process;
use wheelwright_process::tail_lines;

pub use ninja::NinjaHealth;

/// The interpreter probe.
pub const SETUP_PROBE: &str = include_str!("probe.py");

/// Packages upgraded every time.
pub const UPGRADED: [&str; 3] = ["pip", "setuptools", "wheel"];
/// Packages installed when missing.
pub const REQUIRED: [&str; 3] = ["packaging", "psutil", "ninja"];

/// How to set up.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The interpreter (already resolved: `--python`, venv, `python3`).
    pub python: PathBuf,
    /// PATH to find ninja on (the interpreter's dir is put first).
    pub path: OsString,
    /// Allow changing an interpreter that is not in a venv.
    pub allow_system: bool,
    /// Probe and check, change nothing.
    pub dry_run: bool,
    /// `--find-links` for pip (a wheel directory on an air-gapped runner).
    pub find_links: Vec<String>,
    /// `--no-index` for pip.
    pub no_index: bool,
    /// Timeout of each pip run.
    pub pip_timeout: Duration,
    /// Timeout of the probe and each ninja run.
    pub probe_timeout: Duration,
}

impl SetupOptions {
    /// Options for `python` with the `PATH` to find ninja on: no changes to a system interpreter, real run, PyPI, 15 min per pip run.
    pub fn new(python: PathBuf, path: OsString) -> Self {
        SetupOptions {
            python,
            path,
            allow_system: false,
            dry_run: false,
            find_links: Vec::new(),
            no_index: false,
            pip_timeout: Duration::from_secs(900),
            probe_timeout: Duration::from_secs(60),
        }
    }
}

/// What the probe said about the interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonEnv {
    /// `sys.executable`.
    pub executable: String,
    /// `3.12.3`.
    pub version: String,
    /// `sys.prefix`.
    pub prefix: String,
    /// `sys.base_prefix`.
    pub base_prefix: String,
    #[serde(default)]
    /// A conda environment.
    pub conda: bool,
    /// Where console scripts are installed.
    pub scripts: Option<String>,
    /// Where packages are installed.
    pub purelib: Option<String>,
    /// Path of PEP 668's marker, when the stdlib carries one.
    pub externally_managed: Option<String>,
    #[serde(default)]
    /// The current user can write [`PythonEnv::purelib`].
    pub purelib_writable: bool,
    /// Installed version of each package we care about, `None` = missing.
    pub packages: BTreeMap<String, Option<String>>,
}

impl PythonEnv {
    /// A venv (prefix differs from base prefix) or a conda env.
    pub fn is_environment(&self) -> bool {
        self.prefix != self.base_prefix || self.conda
    }

    /// `venv`, `conda env` or `system interpreter`, for people.
    pub fn kind(&self) -> &'static str {
        if self.prefix != self.base_prefix {
            "venv"
        } else if self.conda {
            "conda env"
        } else {
            "system interpreter"
        }
    }

    /// The installed version of `package`, if it is installed.
    pub fn version_of(&self, package: &str) -> Option<&str> {
        self.packages.get(package).and_then(|v| v.as_deref())
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// It changed something.
    Changed,
    /// Nothing needed changing.
    AlreadyFine,
    /// It would change something (a dry run).
    WouldChange,
    /// It failed.
    Failed,
}

/// One step of the setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `upgrade-packaging-tools`, `install-missing`, `ninja`.
    pub id: String,
    /// How it ended.
    pub status: StepStatus,
    /// What changed, what was fine, or what went wrong, in words.
    pub detail: String,
    /// The pip command run (or that would run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// What `setup` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupReport {
    /// The interpreter, as probed before the steps.
    pub python: PythonEnv,
    /// Nothing was changed (`--dry-run`).
    pub dry_run: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// ninja after the steps.
    pub ninja: NinjaHealth,
    /// Every step ended changed or already fine (or would change, in a dry run).
    pub ok: bool,
}

/// Why setup stopped before doing anything.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("probing `{python}` failed: {message}")]
    /// The interpreter could not be probed.
    Probe {
        /// The interpreter.
        python: PathBuf,
        /// Why.
        message: String,
    },
    #[error("`{python}` is a system interpreter ({why}); wheelwright will not modify it")]
    /// A system interpreter (not a venv or conda env): not modified.
    SystemPython {
        /// The interpreter.
        python: PathBuf,
        /// What shows it is one.
        why: String,
    },
    #[error("`{purelib}`, where `{python}` installs packages, is not writable by this user")]
    /// The interpreter's package dir is not writable by this user.
    NotWritable {
        /// The interpreter.
        python: PathBuf,
        /// Its package dir.
        purelib: String,
    },
}

impl SetupError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            SetupError::Probe { .. } => {
                "pass a working interpreter with --python (e.g. .venv/bin/python)".to_string()
            }
            SetupError::SystemPython { python, .. } => format!(
                "create a venv that still sees the system's torch: `{} -m venv --system-site-packages .venv`, then `wheelwright setup --python .venv/bin/python` (or pass --allow-system to modify this interpreter anyway)",
                python.display()
            ),
            SetupError::NotWritable { python, .. } => format!(
                "pip would fall back to a per-user install whose scripts (ninja) are not where the build looks; make a venv you own: `{} -m venv --system-site-packages .venv`, then `wheelwright setup --python .venv/bin/python` (or run setup as the interpreter's owner)",
                python.display()
            ),
        }
    }
}

/// Run the probe on `python`.
pub fn probe(python: &Path, timeout: Duration) -> Result<PythonEnv, SetupError> {
    let fail = |message: String| SetupError::Probe {
        python: python.to_path_buf(),
        message,
    };
    let mut cmd = Command::new(python);
    cmd.args(["-c", SETUP_PROBE]);
    let out = process::run(&mut cmd, timeout).map_err(|e| fail(e.to_string()))?;
    let out = out.check().map_err(|e| fail(e.to_string()))?;
    process::parse_last_line_json(&out.stdout).map_err(|e| {
        fail(format!(
            "its output is not the probe's JSON ({e}):\n{}",
            tail_lines(&out.stdout, 5)
        ))
    })
}

/// The `pip install` command line (after the interpreter) for `packages`.
pub fn pip_install_args(
    opts: &SetupOptions,
    env: &PythonEnv,
    extra: &[&str],
    packages: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["-m", "pip", "install", "--disable-pip-version-check"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    if opts.no_index {
        args.push("--no-index".into());
    }
    for link in &opts.find_links {
        args.push("--find-links".into());
        args.push(link.clone());
    }
    if opts.allow_system && !env.is_environment() && env.externally_managed.is_some() {
        args.push("--break-system-packages".into());
    }
    args.extend(packages.iter().map(|s| s.to_string()));
    args
}

/// Prepare the interpreter; see the module docs for the steps.
pub fn setup(opts: &SetupOptions) -> Result<SetupReport, SetupError> {
    let before = probe(&opts.python, opts.probe_timeout)?;
    if !before.is_environment() && !opts.allow_system {
        let why = match &before.externally_managed {
            Some(marker) => format!("not in a venv, and marked externally managed by {marker}"),
            None => format!(
                "not in a venv: sys.prefix is its base prefix {}",
                before.prefix
            ),
        };
        return Err(SetupError::SystemPython {
            python: opts.python.clone(),
            why,
        });
    }
    if !before.purelib_writable && !opts.dry_run {
        return Err(SetupError::NotWritable {
            python: opts.python.clone(),
            purelib: before.purelib.clone().unwrap_or_default(),
        });
    }
    let mut path = path_with_python_dir(&opts.python, Some(opts.path.clone()));
    if let Some(scripts) = before.scripts.as_deref() {
        // Where pip puts `ninja` for this interpreter, when that is not its own dir.
        let mut dirs = vec![PathBuf::from(scripts)];
        dirs.extend(std::env::split_paths(&path).filter(|d| d != Path::new(scripts)));
        path = std::env::join_paths(dirs).unwrap_or(path);
    }
    let mut steps = Vec::new();
    // `current` is what the last probe said; after a pip run that was not
    // probed (a failed step, the ninja reinstall) it may be out of date.
    let mut probed = true;

    // 1. pip, setuptools, wheel: always upgrade.
    let args = pip_install_args(opts, &before, &["--upgrade"], &UPGRADED);
    let now = versions_text(&before, &UPGRADED);
    let mut current = before.clone();
    if opts.dry_run {
        steps.push(step(
            "upgrade-packaging-tools",
            StepStatus::WouldChange,
            format!("would upgrade {now}"),
            &opts.python,
            &args,
        ));
    } else {
        let (s, env) = run_pip_step(
            opts,
            &path,
            "upgrade-packaging-tools",
            &args,
            &current,
            &UPGRADED,
        )?;
        probed &= s.status != StepStatus::Failed;
        steps.push(s);
        current = env;
    }

    // 2. packaging, psutil, ninja: install the missing ones.
    let ninja_on_path = wheelwright_detect::which("ninja", &path).is_some();
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|p| current.version_of(p).is_none() && !(*p == "ninja" && ninja_on_path))
        .collect();
    if missing.is_empty() {
        steps.push(step(
            "install-missing",
            StepStatus::AlreadyFine,
            format!(
                "already installed: {}",
                present_text(&current, &REQUIRED, ninja_on_path)
            ),
            &opts.python,
            &[],
        ));
    } else {
        let args = pip_install_args(opts, &current, &[], &missing);
        if opts.dry_run {
            steps.push(step(
                "install-missing",
                StepStatus::WouldChange,
                format!("would install {}", missing.join(", ")),
                &opts.python,
                &args,
            ));
        } else {
            let (s, env) = run_pip_step(opts, &path, "install-missing", &args, &current, &missing)?;
            probed &= s.status != StepStatus::Failed;
            steps.push(s);
            current = env;
        }
    }

    // 3. ninja: check, prove, reinstall once if broken.
    let installed_now = missing.contains(&"ninja");
    let mut health = ninja::check(&path, opts.probe_timeout);
    if opts.dry_run && installed_now {
        steps.push(step(
            "ninja",
            StepStatus::WouldChange,
            "would be installed by install-missing, then checked (--version) and proven (2 targets, -j 2)".to_string(),
            &opts.python,
            &[],
        ));
    } else if health.healthy() {
        let (status, how) = if installed_now {
            (StepStatus::Changed, "installed")
        } else {
            (StepStatus::AlreadyFine, "already there")
        };
        steps.push(step(
            "ninja",
            status,
            format!(
                "{how}: {} {} answers --version and built 2 targets with -j 2",
                display_opt(&health.path),
                health.version.as_deref().unwrap_or("?")
            ),
            &opts.python,
            &[],
        ));
    } else {
        let problem = health.problem.clone().unwrap_or_default();
        let args = pip_install_args(opts, &current, &["--force-reinstall"], &["ninja"]);
        if opts.dry_run {
            steps.push(step(
                "ninja",
                StepStatus::WouldChange,
                format!("ninja is broken ({problem}); would reinstall it"),
                &opts.python,
                &args,
            ));
        } else {
            let out = run_pip(opts, &path, &args);
            probed = false;
            health = ninja::check(&path, opts.probe_timeout);
            let (status, detail) = match (&out, health.healthy()) {
                (Ok(_), true) => (
                    StepStatus::Changed,
                    format!(
                        "ninja was broken ({problem}); reinstalled {} {}, proven with a 2-target build",
                        display_opt(&health.path),
                        health.version.as_deref().unwrap_or("?")
                    ),
                ),
                (Ok(_), false) => (
                    StepStatus::Failed,
                    format!(
                        "ninja was broken ({problem}); still broken after `pip install --force-reinstall ninja`: {}",
                        health.problem.clone().unwrap_or_default()
                    ),
                ),
                (Err(e), _) => (
                    StepStatus::Failed,
                    format!("ninja is broken ({problem}); reinstalling it failed: {e}"),
                ),
            };
            steps.push(step("ninja", status, detail, &opts.python, &args));
        }
    }

    let python = if probed {
        current
    } else {
        probe(&opts.python, opts.probe_timeout)?
    };
    let ok = steps.iter().all(|s| s.status != StepStatus::Failed);
    Ok(SetupReport {
        python,
        dry_run: opts.dry_run,
        steps,
        ninja: health,
        ok,
    })
}

fn step(id: &str, status: StepStatus, detail: String, python: &Path, args: &[String]) -> Step {
    // Shown and stored: a `--find-links` URL's password is masked.
    let command = (!args.is_empty()).then(|| {
        std::iter::once(python.display().to_string())
            .chain(args.iter().map(|a| redact_secrets(a).into_owned()))
            .collect()
    });
    Step {
        id: id.to_string(),
        status,
        detail,
        command,
    }
}

fn run_pip(
    opts: &SetupOptions,
    path: &OsString,
    args: &[String],
) -> Result<process::Output, String> {
    let mut cmd = Command::new(&opts.python);
    cmd.args(args)
        .env(wheelwright_base::env_vars::PATH, path)
        .env(wheelwright_base::env_vars::PIP_NO_INPUT, "1");
    let out = process::run(&mut cmd, opts.pip_timeout).map_err(|e| e.to_string())?;
    out.check().map_err(|e| e.to_string())
}

/// Run one pip step and tell, from the versions before and after, whether it changed anything.
fn run_pip_step(
    opts: &SetupOptions,
    path: &OsString,
    id: &str,
    args: &[String],
    before: &PythonEnv,
    packages: &[&str],
) -> Result<(Step, PythonEnv), SetupError> {
    match run_pip(opts, path, args) {
        Err(e) => Ok((
            step(id, StepStatus::Failed, e, &opts.python, args),
            before.clone(),
        )),
        Ok(_) => {
            let after = probe(&opts.python, opts.probe_timeout)?;
            // Every package the probe knows: pip may bring one in as a
            // dependency of another (`packaging` with `wheel`).
            let known: std::collections::BTreeSet<&str> = before
                .packages
                .keys()
                .chain(after.packages.keys())
                .map(String::as_str)
                .collect();
            let changed: Vec<String> = known
                .iter()
                .filter(|p| before.version_of(p) != after.version_of(p))
                .map(|p| {
                    format!(
                        "{p} {} -> {}",
                        before.version_of(p).unwrap_or("(none)"),
                        after.version_of(p).unwrap_or("(none)")
                    )
                })
                .collect();
            let s = if changed.is_empty() {
                step(
                    id,
                    StepStatus::AlreadyFine,
                    format!("already up to date: {}", versions_text(&after, packages)),
                    &opts.python,
                    args,
                )
            } else {
                step(
                    id,
                    StepStatus::Changed,
                    changed.join(", "),
                    &opts.python,
                    args,
                )
            };
            Ok((s, after))
        }
    }
}

fn versions_text(env: &PythonEnv, packages: &[&str]) -> String {
    packages
        .iter()
        .map(|p| format!("{p} {}", env.version_of(p).unwrap_or("(none)")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn present_text(env: &PythonEnv, packages: &[&str], ninja_on_path: bool) -> String {
    packages
        .iter()
        .map(|p| match env.version_of(p) {
            Some(v) => format!("{p} {v}"),
            None if *p == "ninja" && ninja_on_path => "ninja (on PATH)".to_string(),
            None => format!("{p} (none)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_opt(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or_else(|| "ninja".to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(prefix: &str, base: &str, marker: Option<&str>) -> PythonEnv {
        PythonEnv {
            executable: "/x/bin/python".into(),
            version: "3.12.3".into(),
            prefix: prefix.into(),
            base_prefix: base.into(),
            conda: false,
            scripts: None,
            purelib: None,
            externally_managed: marker.map(String::from),
            purelib_writable: true,
            packages: BTreeMap::new(),
        }
    }

    #[test]
    fn venvs_and_system_pythons() {
        assert!(env("/v", "/usr", Some("/usr/lib/python3.12/EXTERNALLY-MANAGED")).is_environment());
        assert!(!env("/usr", "/usr", None).is_environment());
        assert_eq!(env("/v", "/usr", None).kind(), "venv");
        assert_eq!(env("/usr", "/usr", None).kind(), "system interpreter");
        let conda = PythonEnv {
            conda: true,
            ..env("/opt/conda", "/opt/conda", None)
        };
        assert!(conda.is_environment());
        assert_eq!(conda.kind(), "conda env");
    }

    #[test]
    fn pip_args_honour_air_gapped_options() {
        let mut o = SetupOptions::new("/x/bin/python".into(), OsString::new());
        o.no_index = true;
        o.find_links = vec!["/wheels".into()];
        let a = pip_install_args(&o, &env("/v", "/usr", None), &["--upgrade"], &UPGRADED);
        assert_eq!(
            a.join(" "),
            "-m pip install --disable-pip-version-check --upgrade --no-index --find-links /wheels pip setuptools wheel"
        );
        o.allow_system = true;
        let sys = env(
            "/usr",
            "/usr",
            Some("/usr/lib/python3.12/EXTERNALLY-MANAGED"),
        );
        assert!(pip_install_args(&o, &sys, &[], &["psutil"])
            .contains(&"--break-system-packages".to_string()));
    }

    #[test]
    fn step_commands_mask_url_passwords() {
        let args = [
            "--find-links".to_string(),
            "https://ci:s3cr3t@h/w".to_string(),
        ];
        let s = step(
            "x",
            StepStatus::Failed,
            String::new(),
            Path::new("/p"),
            &args,
        );
        assert_eq!(
            s.command.unwrap(),
            ["/p", "--find-links", "https://ci:***@h/w"]
        );
    }

    /// The probe on the real interpreter running these tests' `python3`.
    #[test]
    fn probes_a_real_python() {
        let Some(py) = crate::test_support::real_tool("python3") else {
            crate::test_support::prerequisite_missing("python3 on PATH");
            return;
        };
        let e = probe(&py, Duration::from_secs(60)).unwrap();
        assert!(e.version.starts_with('3'), "{e:?}");
        assert!(e.packages.contains_key("pip"));
    }
}
