//! Proving a built wheel works: install it, import it, and for flash-attn run a
//! tiny forward pass on the GPU against a PyTorch reference attention.
//!
//! The wheel goes into a scratch directory with `pip install --no-deps
//! --no-index --target`, using the build interpreter, so it sees the same torch
//! and never touches the environment; `verify.py` puts that directory first on
//! `sys.path` and checks each module really came from it. Without a GPU the
//! forward pass is skipped with a reason, not failed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process;

/// The check script, run by the build interpreter.
pub const VERIFY_SCRIPT: &str = include_str!("verify.py");

/// What the check found; the field names are a contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub imported: bool,
    /// flash-attn: the largest |flash_attn_func − reference| over the test inputs.
    pub max_abs_error: Option<f64>,
    pub tolerance: Option<f64>,
    /// Why a part of the check did not run (no GPU, `--no-verify`, torch-ext).
    pub skipped_reason: Option<String>,
    /// What went wrong, when the check failed.
    pub error: Option<String>,
    #[serde(default)]
    pub modules: Vec<String>,
    pub torch_version: Option<String>,
    pub device: Option<String>,
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
    /// Where to make the scratch install (removed afterwards).
    pub scratch_parent: PathBuf,
    /// Extra environment for both steps (e.g. the interpreter's bin dir on PATH).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// Install and check the wheel. Problems are reported in the result, not as an
/// error, so the build report always gets a `verify` section.
pub fn verify_wheel(req: &VerifyRequest) -> VerifyResult {
    match run_checks(req) {
        Ok(r) => r,
        Err(message) => VerifyResult {
            error: Some(message),
            ..Default::default()
        },
    }
}

fn run_checks(req: &VerifyRequest) -> Result<VerifyResult, String> {
    std::fs::create_dir_all(&req.scratch_parent)
        .map_err(|e| format!("cannot create {}: {e}", req.scratch_parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("verify-")
        .tempdir_in(&req.scratch_parent)
        .map_err(|e| format!("cannot create a scratch dir: {e}"))?;
    let target = scratch.path().join("site");
    let script = scratch.path().join("verify.py");
    std::fs::write(&script, VERIFY_SCRIPT).map_err(|e| format!("cannot write verify.py: {e}"))?;

    let mut install = Command::new(&req.python);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&target)
        .arg(&req.wheel)
        .current_dir(scratch.path());
    install.envs(req.env.iter().map(|(k, v)| (k, v)));
    let out = process::run(&mut install, req.timeout).map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!(
            "installing the wheel failed (`{}`, {}):\n{}",
            out.command,
            out.status_text(),
            out.combined_tail(15)
        ));
    }

    let mut check = Command::new(&req.python);
    check
        .arg(&script)
        .arg(&target)
        .arg(&req.recipe)
        .current_dir(scratch.path());
    check.envs(req.env.iter().map(|(k, v)| (k, v)));
    let out = process::run(&mut check, req.timeout).map_err(|e| e.to_string())?;
    parse_verify_output(&out.stdout).ok_or_else(|| {
        format!(
            "the check script printed no result ({}):\n{}",
            out.status_text(),
            out.combined_tail(15)
        )
    })
}

/// The JSON object on the last non-empty line of the script's stdout.
pub fn parse_verify_output(stdout: &str) -> Option<VerifyResult> {
    process::parse_last_line_json(stdout).ok()
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
        let r = parse_verify_output(
            "torch noise\n{\"imported\": true, \"modules\": [\"flash_attn\"], \"max_abs_error\": 0.0078, \"tolerance\": 0.02, \"skipped_reason\": null, \"error\": null, \"torch_version\": \"2.8.0\", \"device\": \"NVIDIA H100\"}\n",
        )
        .unwrap();
        assert!(r.imported && r.passed());
        assert_eq!(r.max_abs_error, Some(0.0078));
        assert!(parse_verify_output("no json\n").is_none());
        assert!(VerifyResult::skipped("--no-verify").passed());
    }

    /// The real script against a real interpreter and a real (tiny) wheel,
    /// when a `python3` with pip is on this machine.
    #[test]
    fn verifies_a_tiny_wheel_with_the_real_script() {
        let Some(python) = crate::test_support::real_tool("python3") else {
            eprintln!("skipped: no python3 on PATH");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("tinyext-0.1-py3-none-any.whl");
        let mk = format!(
            "import zipfile\nz=zipfile.ZipFile({w:?},'w')\nz.writestr('tinyext/__init__.py','X=1\\n')\nz.writestr('tinyext-0.1.dist-info/METADATA','Metadata-Version: 2.1\\nName: tinyext\\nVersion: 0.1\\n')\nz.writestr('tinyext-0.1.dist-info/WHEEL','Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\nz.writestr('tinyext-0.1.dist-info/RECORD','')\nz.close()\n",
            w = wheel.display().to_string()
        );
        let made = Command::new(&python).args(["-c", &mk]).status().unwrap();
        assert!(made.success());
        let r = verify_wheel(&VerifyRequest {
            python,
            wheel,
            recipe: "torch-ext".into(),
            scratch_parent: dir.path().join("scratch"),
            env: Vec::new(),
            timeout: Duration::from_secs(120),
        });
        if r.error
            .as_deref()
            .is_some_and(|e| e.contains("No module named pip"))
        {
            eprintln!("skipped: python3 has no pip");
            return;
        }
        assert!(r.imported, "{r:?}");
        assert_eq!(r.modules, ["tinyext"]);
        assert_eq!(r.skipped_reason.as_deref(), Some("torch-ext: import only"));
        assert!(r.passed());
    }
}
