//! Proving a built wheel works: install it into a fresh venv that sees the same
//! torch, import it, and for flash-attn run a tiny forward pass on the GPU
//! against a PyTorch reference attention.
//!
//! The venv is made by the build interpreter (`-m venv --without-pip`, so no
//! ensurepip is needed); a `.pth` in it adds the build interpreter's site dirs
//! *after* its own, so torch (and pip) come from the build environment while the
//! new wheel, installed with `pip install --no-deps --no-index
//! --ignore-installed`, wins over any copy installed there. The environment the
//! build ran in is never touched, and `verify.py check` proves each module came
//! from the venv. The modules imported are the wheel's own top-level ones,
//! read from its archive's names ([`importable_modules`]). Without a GPU the
//! forward pass is skipped with a reason, not failed. The venv is removed
//! afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use wheelwright_process as process;
use wheelwright_wheel::modules::importable_modules;

/// The check script, run by the build interpreter and by the fresh venv.
pub const VERIFY_SCRIPT: &str = include_str!("verify.py");

/// What the check found; the field names are a contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerifyResult {
    /// The wheel installed and its module imported.
    pub imported: bool,
    /// flash-attn: the largest |flash_attn_func − reference| over the test inputs.
    pub max_abs_error: Option<f64>,
    /// flash-attn: the largest error the forward pass accepts.
    pub tolerance: Option<f64>,
    /// Why a part of the check did not run (no GPU, `--no-verify`, torch-ext).
    pub skipped_reason: Option<String>,
    /// What went wrong, when the check failed.
    pub error: Option<String>,
    #[serde(default)]
    /// The modules imported.
    pub modules: Vec<String>,
    /// torch's version in the verification venv.
    pub torch_version: Option<String>,
    /// The device the forward pass ran on (`cuda:0`).
    pub device: Option<String>,
    /// Where the wheel was installed for the check, and what that venv saw.
    #[serde(default)]
    pub environment: Option<String>,
}

impl VerifyResult {
    /// A check that did not run at all.
    pub fn skipped(reason: impl Into<String>) -> Self {
        VerifyResult {
            skipped_reason: Some(reason.into()),
            ..Default::default()
        }
    }

    /// True unless the check ran and found a problem.
    pub fn passed(&self) -> bool {
        self.error.is_none() && (self.imported || self.skipped_reason.is_some())
    }
}

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    pub python: PathBuf,
    pub wheel: PathBuf,
    /// `flash-attn` runs the forward pass; anything else imports only.
    pub recipe: String,
    /// Where to make the scratch venv (removed afterwards).
    pub scratch_parent: PathBuf,
    /// Extra environment for every step (e.g. the interpreter's bin dir on PATH).
    pub env: Vec<(String, String)>,
    /// For each step.
    pub timeout: Duration,
    /// Run each step under it, so nothing outlives this process.
    pub supervisor: Option<wheelwright_process::supervisor::Supervisor>,
}

/// Install and check the wheel. Problems are reported in the result, not as an
/// error, so the build report always gets a `verify` section.
pub fn verify_wheel(req: &VerifyRequest, cancel: &AtomicBool) -> VerifyResult {
    match run_checks(req, cancel) {
        Ok(r) => r,
        Err(message) => VerifyResult {
            error: Some(message),
            ..Default::default()
        },
    }
}

#[derive(Deserialize)]
struct Sites {
    sites: Vec<String>,
}

#[derive(Deserialize)]
struct Linked {
    prefix: String,
}

/// The steps of one check, all in the scratch dir with the request's environment.
struct Steps<'a> {
    req: &'a VerifyRequest,
    scratch: &'a Path,
    cancel: &'a AtomicBool,
}

impl Steps<'_> {
    fn command(&self, python: &Path) -> Command {
        let mut cmd = Command::new(python);
        cmd.current_dir(self.scratch);
        cmd.envs(self.req.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Run `cmd`; on failure, `what` and the output's tail.
    fn run(&self, mut cmd: Command, what: &str) -> Result<process::Output, String> {
        let supervisor = self.req.supervisor.as_ref();
        let out = process::run_supervised(&mut cmd, self.req.timeout, self.cancel, supervisor)
            .map_err(|e| e.to_string())?;
        if out.success() {
            Ok(out)
        } else {
            Err(format!(
                "{what} failed (`{}`, {}):\n{}",
                out.command,
                out.status_text(),
                out.combined_tail(15)
            ))
        }
    }

    /// Run a step of `verify.py` and parse its JSON line.
    fn script<T: DeserializeOwned>(
        &self,
        python: &Path,
        args: &[&str],
        what: &str,
    ) -> Result<T, String> {
        let mut cmd = self.command(python);
        cmd.arg(self.scratch.join("verify.py")).args(args);
        let out = self.run(cmd, what)?;
        process::parse_last_line_json(&out.stdout).map_err(|e| {
            format!(
                "{what}: no result from verify.py ({e}):\n{}",
                out.combined_tail(15)
            )
        })
    }
}

fn run_checks(req: &VerifyRequest, cancel: &AtomicBool) -> Result<VerifyResult, String> {
    std::fs::create_dir_all(&req.scratch_parent)
        .map_err(|e| format!("cannot create {}: {e}", req.scratch_parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("verify-")
        .tempdir_in(&req.scratch_parent)
        .map_err(|e| format!("cannot create a scratch dir: {e}"))?;
    std::fs::write(scratch.path().join("verify.py"), VERIFY_SCRIPT)
        .map_err(|e| format!("cannot write verify.py: {e}"))?;
    let steps = Steps {
        req,
        scratch: scratch.path(),
        cancel,
    };

    let sites: Sites = steps.script(
        &req.python,
        &["sites"],
        "listing the build interpreter's site dirs",
    )?;
    let venv = scratch.path().join("venv");
    let mut make = steps.command(&req.python);
    make.args(["-m", "venv", "--without-pip"]).arg(&venv);
    steps.run(make, "making a fresh venv")?;
    let venv_python = venv.join("bin").join("python");
    let mut link_args = vec!["link"];
    link_args.extend(sites.sites.iter().map(String::as_str));
    let linked: Linked = steps.script(
        &venv_python,
        &link_args,
        "pointing the venv at the build's site dirs",
    )?;

    let mut install = steps.command(&venv_python);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--ignore-installed",
            "--disable-pip-version-check",
        ])
        .arg(&req.wheel);
    steps.run(install, "installing the wheel into the fresh venv")?;

    // The modules to import, from the archive's names once pip took it (the
    // list `wheel verify --import` starts from; nothing of the wheel runs
    // here): the top-level ones, as a user's `import` reaches them. A package
    // imports its own extensions; `wheel verify --import` also imports each
    // nested extension module by name.
    let mut modules = importable_modules(&req.wheel).map_err(|e| e.to_string())?;
    modules.retain(|m| !m.contains('.'));

    let mut check_args = vec!["check", req.recipe.as_str()];
    check_args.extend(modules.iter().map(String::as_str));
    let mut result: VerifyResult = steps.script(&venv_python, &check_args, "the import check")?;
    result.environment = Some(format!(
        "fresh venv {} that also sees {}",
        linked.prefix,
        if sites.sites.is_empty() {
            "no other site dir".to_string()
        } else {
            sites.sites.join(", ")
        }
    ));
    Ok(result)
}

/// Where a scratch install may go, next to the work dir.
pub fn default_scratch(work_dir: &Path) -> PathBuf {
    work_dir.join("verify")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_output() {
        let r = process::parse_last_line_json::<VerifyResult>(
            "torch noise\n{\"imported\": true, \"modules\": [\"flash_attn\"], \"max_abs_error\": 0.0078, \"tolerance\": 0.02, \"skipped_reason\": null, \"error\": null, \"torch_version\": \"2.8.0\", \"device\": \"NVIDIA H100\"}\n",
        )
        .unwrap();
        assert!(r.imported && r.passed());
        assert_eq!(r.max_abs_error, Some(0.0078));
        assert!(process::parse_last_line_json::<VerifyResult>("no json\n").is_err());
        assert!(VerifyResult::skipped("--no-verify").passed());
    }

    /// A tiny pure wheel `tinyext-0.1` made by the real `python`.
    fn tiny_wheel(python: &Path, dir: &Path) -> PathBuf {
        let wheel = dir.join("tinyext-0.1-py3-none-any.whl");
        let mk = format!(
            "import zipfile\nz=zipfile.ZipFile({w:?},'w')\nz.writestr('tinyext/__init__.py','X=1\\n')\nz.writestr('tinyext-0.1.dist-info/METADATA','Metadata-Version: 2.1\\nName: tinyext\\nVersion: 0.1\\n')\nz.writestr('tinyext-0.1.dist-info/WHEEL','Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\nz.writestr('tinyext-0.1.dist-info/RECORD','')\nz.close()\n",
            w = wheel.display().to_string()
        );
        let made = Command::new(python).args(["-c", &mk]).status().unwrap();
        assert!(made.success());
        wheel
    }

    /// Verify a tiny wheel with the real `python3` and the real script, the
    /// build environment extended by `env`; `None` (the test skips) when this
    /// machine has no python3 with pip.
    fn verify_tiny(dir: &Path, env: Vec<(String, String)>) -> Option<VerifyResult> {
        let Some(python) = crate::test_support::real_tool("python3") else {
            crate::test_support::prerequisite_missing("python3 on PATH");
            return None;
        };
        let wheel = tiny_wheel(&python, dir);
        let r = verify_wheel(
            &VerifyRequest {
                python,
                wheel,
                recipe: "torch-ext".into(),
                scratch_parent: dir.join("scratch"),
                env,
                timeout: Duration::from_secs(120),
                supervisor: None,
            },
            &AtomicBool::new(false),
        );
        let no_pip = r
            .error
            .as_deref()
            .is_some_and(|e| e.contains("No module named pip"));
        if no_pip {
            crate::test_support::prerequisite_missing("pip in python3");
            return None;
        }
        Some(r)
    }

    /// The real script against a real interpreter and a real (tiny) wheel,
    /// when a `python3` with pip is on this machine.
    #[test]
    fn verifies_a_tiny_wheel_with_the_real_script() {
        let dir = tempfile::tempdir().unwrap();
        let Some(r) = verify_tiny(dir.path(), Vec::new()) else {
            return;
        };
        assert!(r.imported, "{r:?}");
        assert_eq!(r.modules, ["tinyext"]);
        let env = r.environment.as_deref().unwrap();
        assert!(env.starts_with("fresh venv "), "{env}");
        assert!(env.contains("site-packages"), "{env}");
        // The venv is removed afterwards.
        let left = std::fs::read_dir(dir.path().join("scratch"))
            .unwrap()
            .count();
        assert_eq!(left, 0);
        assert_eq!(r.skipped_reason.as_deref(), Some("torch-ext: import only"));
        assert!(r.passed());
    }

    /// A copy of the module that shadows the new wheel (here through
    /// PYTHONPATH, which goes before site-packages) fails the check instead of
    /// passing it with the wrong code.
    #[test]
    fn a_shadowing_copy_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let shadow = dir.path().join("shadow");
        std::fs::create_dir_all(shadow.join("tinyext")).unwrap();
        std::fs::write(shadow.join("tinyext/__init__.py"), "X=0\n").unwrap();
        let env = vec![("PYTHONPATH".to_string(), shadow.display().to_string())];
        let Some(r) = verify_tiny(dir.path(), env) else {
            return;
        };
        assert!(!r.passed(), "{r:?}");
        let error = r.error.as_deref().unwrap();
        assert!(error.contains("not from the new wheel"), "{error}");
        assert!(error.contains("shadow"), "{error}");
    }
}
