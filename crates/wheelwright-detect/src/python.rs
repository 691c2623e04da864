//! Python, its packaging tools, and torch, from ONE interpreter start.
//!
//! Fallback chain for the interpreter: see [`super::resolve_python`]
//! (`--python` → `WHEELWRIGHT_PYTHON` → `$VIRTUAL_ENV/bin/python` → `python3`
//! on PATH). The embedded `PROBE_SCRIPT` (`probe.py`, standard library only,
//! Python 3.8+) runs as `python -c`; it reads package versions through
//! `importlib.metadata` without importing them, imports torch only when it is
//! installed, and reports every exception inside its JSON, which is the last
//! line of its stdout.
//!
//! The probe gets `PYTHON_TIMEOUT_FACTOR` times the probe timeout: importing
//! torch (and its CUDA libraries) from a cold disk takes tens of seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use wheelwright_base::env_vars;
use wheelwright_base::facts::{Problem, Python, Torch};
use wheelwright_process as process;

use super::{problem, DetectOptions};

/// How many probe timeouts the Python probe may take (30 s by default).
pub(crate) const PYTHON_TIMEOUT_FACTOR: u32 = 3;

/// The probe script the interpreter runs.
pub(crate) const PROBE_SCRIPT: &str = include_str!("probe.py");

/// The probe's JSON, as far as we read it. Unknown fields are ignored and
/// missing ones are `None`, so old and new probes stay readable.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ProbeOutput {
    pub probe_version: u32,
    pub errors: Vec<String>,
    pub python: Option<ProbePython>,
    pub packages: ProbePackages,
    pub torch: Option<ProbeTorch>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ProbePython {
    pub executable: Option<String>,
    pub version: Option<String>,
    pub implementation: Option<String>,
    pub prefix: Option<String>,
    pub base_prefix: Option<String>,
    /// `sysconfig.get_path("scripts")`: where pip puts `ninja`.
    pub scripts: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ProbePackages {
    pub pip: Option<String>,
    pub setuptools: Option<String>,
    pub wheel: Option<String>,
    pub packaging: Option<String>,
    pub psutil: Option<String>,
    pub ninja: Option<String>,
    pub torch: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ProbeTorch {
    pub version: Option<String>,
    pub cuda: Option<String>,
    pub cxx11_abi: Option<bool>,
    pub cuda_available: bool,
    /// Why `import torch` failed, if it did.
    pub error: Option<String>,
}

/// Read the probe's stdout: the last line that parses as a JSON object (so a
/// `sitecustomize` printing to stdout does not confuse us).
pub(crate) fn parse_probe_output(stdout: &str) -> Result<ProbeOutput, String> {
    let mut last_error = "no JSON object in its output".to_string();
    for line in stdout.lines().rev().map(str::trim) {
        if !line.starts_with('{') {
            continue;
        }
        match serde_json::from_str::<ProbeOutput>(line) {
            Ok(out) => return Ok(out),
            Err(e) => last_error = format!("its JSON did not parse: {e}"),
        }
    }
    Err(last_error)
}

/// What the Python probe found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PythonReport {
    /// The interpreter and its packaging tools.
    pub python: Option<Python>,
    /// torch, when the interpreter has it.
    pub torch: Option<Torch>,
    /// The interpreter's scripts directory, where ninja is looked up first.
    pub scripts_dir: Option<PathBuf>,
    /// What could not be probed.
    pub problems: Vec<Problem>,
}

/// Turn the probe's output into facts about the interpreter at `path`.
pub(crate) fn facts_from_probe(path: &Path, out: &ProbeOutput) -> PythonReport {
    let mut report = PythonReport::default();
    report.problems.extend(
        out.errors
            .iter()
            .map(|e| problem("python", format!("probe: {e}"))),
    );
    let py = out.python.clone().unwrap_or_default();
    let Some(version) = py.version else {
        report.problems.push(problem(
            "python",
            format!("{} did not report its version", path.display()),
        ));
        return report;
    };
    let p = &out.packages;
    report.python = Some(Python {
        path: path.display().to_string(),
        version,
        pip: p.pip.clone(),
        setuptools: p.setuptools.clone(),
        wheel: p.wheel.clone(),
        packaging: p.packaging.clone(),
        psutil: p.psutil.clone(),
    });
    report.scripts_dir = py.scripts.map(PathBuf::from);
    if let Some(t) = &out.torch {
        let version = t.version.clone().or_else(|| p.torch.clone());
        match (&t.error, version) {
            (Some(err), v) => report.problems.push(problem(
                "torch",
                format!(
                    "torch {} is installed but `import torch` failed: {err}. Reinstall torch for this interpreter ({})",
                    v.as_deref().unwrap_or("(unknown version)"),
                    path.display()
                ),
            )),
            (None, Some(version)) => {
                report.torch = Some(Torch {
                    version,
                    cuda: t.cuda.clone(),
                    cxx11_abi: t.cxx11_abi,
                    cuda_available: t.cuda_available,
                })
            }
            (None, None) => report
                .problems
                .push(problem("torch", "torch imported but reported no version")),
        }
    }
    report
}

/// Run the probe with `interpreter`; `None` means none was found (or
/// `skip_python`), which is a problem unless skipping was asked for.
pub fn probe(opts: &DetectOptions, interpreter: Option<&Path>) -> PythonReport {
    if opts.skip_python {
        return PythonReport::default();
    }
    let Some(python) = interpreter else {
        return PythonReport {
            problems: vec![problem(
                "python",
                "no python3 on PATH; pass --python or set WHEELWRIGHT_PYTHON (or skip with --no-python)",
            )],
            ..Default::default()
        };
    };
    // The probe runs in `/` (a `torch/` folder in the caller's directory would
    // shadow torch), so a relative path (`--python .venv/bin/python`) is made
    // absolute first; a bare name is looked up on PATH as it is.
    let absolute;
    let python = if python.components().count() > 1 {
        absolute = std::path::absolute(python).unwrap_or_else(|_| python.to_path_buf());
        absolute.as_path()
    } else {
        python
    };
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(PROBE_SCRIPT)
        .env(env_vars::PATH, &opts.path)
        .current_dir("/");
    let failed = |message: String| PythonReport {
        problems: vec![problem("python", message)],
        ..Default::default()
    };
    // Messages name `<python> -c <probe.py>`, not the whole script that ran.
    let shown = format!("{} -c <probe.py>", python.display());
    let timeout = opts.timeout * PYTHON_TIMEOUT_FACTOR;
    let out = match process::run(&mut cmd, timeout) {
        Ok(out) => out,
        Err(process::ProcessError::Timeout { .. }) => {
            return failed(format!(
                "`{shown}` did not finish within {timeout:?} and was killed; if importing torch is only slow, raise {} (seconds; the Python probe gets {PYTHON_TIMEOUT_FACTOR}x)",
                env_vars::WHEELWRIGHT_PROBE_TIMEOUT
            ))
        }
        Err(process::ProcessError::Spawn { source, .. }) => {
            return failed(format!(
                "could not start {}: {source}; pass a working interpreter with --python or WHEELWRIGHT_PYTHON",
                python.display()
            ))
        }
        Err(e) => return failed(format!("`{shown}`: {e}")),
    };
    match parse_probe_output(&out.stdout) {
        Ok(parsed) => facts_from_probe(python, &parsed),
        Err(why) => {
            failed(format!(
                "`{shown}` gave no facts ({why}; {}); is it a Python 3.8+ interpreter? Its output ended with:\n{}",
                out.status_text(),
                out.error_tail(10)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::host_fixture;

    #[test]
    fn reads_a_real_probe_without_torch() {
        // probe.py's real output on the development machine (Python 3.11.7).
        let out = parse_probe_output(&host_fixture("no-gpu/probe.json")).unwrap();
        let r = facts_from_probe(Path::new("/usr/bin/python3"), &out);
        let py = r.python.unwrap();
        assert_eq!(py.version, "3.11.7");
        assert_eq!(py.path, "/usr/bin/python3");
        assert!(py.pip.is_some());
        assert_eq!(py.wheel, None);
        assert_eq!(r.torch, None);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.scripts_dir.is_some());
    }

    #[test]
    fn reads_a_real_probe_with_torch() {
        // probe.py's real output on the H100 machine.
        let out = parse_probe_output(&host_fixture("h100-cuda13.0/probe.json")).unwrap();
        let r = facts_from_probe(Path::new("/venv/bin/python"), &out);
        let torch = r.torch.expect("torch");
        assert_eq!(torch.version, "2.11.0+cu130");
        assert_eq!(torch.cuda.as_deref(), Some("13.0"));
        assert_eq!(torch.cxx11_abi, Some(true));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn a_broken_torch_is_a_problem_not_a_torch() {
        let line = r#"{"probe_version": 1, "errors": [], "python": {"version": "3.10.12"}, "packages": {"torch": "2.4.0"}, "torch": {"version": "2.4.0", "error": "OSError: libcudnn.so.9: cannot open shared object file: No such file or directory"}}"#;
        let out = parse_probe_output(&format!("noise from sitecustomize\n{line}\n")).unwrap();
        let r = facts_from_probe(Path::new("/p"), &out);
        assert_eq!(r.torch, None);
        assert!(r.python.is_some());
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0].message.contains("libcudnn.so.9"),
            "{:?}",
            r.problems
        );
        assert!(r.problems[0].message.contains("2.4.0"));
    }

    #[test]
    fn output_without_json_says_so() {
        assert!(parse_probe_output("Python 2.7.18\n").is_err());
        assert!(parse_probe_output("{not json\n")
            .unwrap_err()
            .contains("did not parse"));
    }

    #[test]
    fn the_embedded_probe_runs_on_this_machines_python() {
        // Real run: skipped only where no python3 exists at all.
        let Some(python) = crate::test_support::real_tool("python3") else {
            crate::test_support::prerequisite_missing("python3 on PATH");
            return;
        };
        let out = process::run(
            Command::new(&python).arg("-c").arg(PROBE_SCRIPT),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        assert!(out.success(), "{}", out.stderr);
        let parsed = parse_probe_output(&out.stdout).unwrap();
        assert_eq!(parsed.probe_version, 1);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert!(parsed.python.unwrap().version.unwrap().starts_with('3'));
    }
}
