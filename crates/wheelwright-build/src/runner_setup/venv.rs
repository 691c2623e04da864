//! The runner's Python venv with the requested torch, installed from
//! PyTorch's own index for the wanted CUDA (`--torch 2.8 --cuda 12.8` →
//! `https://download.pytorch.org/whl/cu128`, or an index the caller names).
//!
//! Checked: the venv's interpreter exists; its torch is of the requested minor
//! and built for the requested CUDA. Fixed (no root): `python3 -m venv DIR`,
//! then `pip install torch==X.Y.* --index-url URL` into it. What the venv
//! holds afterwards is probed again, never assumed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wheelwright_base::archs::CudaVersion;
use wheelwright_base::facts::Torch;
use wheelwright_base::support::{cu_tag, pytorch_index_url, TorchRelease};
use wheelwright_detect::{detect, DetectOptions};
use wheelwright_process as process;

use super::{Check, CheckStatus};

/// The torch a runner should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchRequest {
    /// The release (`2.8`).
    pub release: &'static TorchRelease,
    /// PyTorch's CUDA variant (`12.8` = `cu128`).
    pub cuda: CudaVersion,
    /// The index to install from.
    pub index_url: String,
}

/// Why a torch request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TorchRequestError {
    /// The release is not in the support table.
    #[error("torch {0} is not in wheelwright's support table (it knows {1})")]
    UnknownRelease(String, String),
    /// PyTorch publishes no build of that release for that CUDA.
    #[error("PyTorch publishes no torch {release} for CUDA {cuda} (its CUDA builds: {published})")]
    NoVariant {
        /// The torch release.
        release: String,
        /// The CUDA asked for.
        cuda: String,
        /// What PyTorch does publish.
        published: String,
    },
    /// Not a version.
    #[error("`{0}` is not a CUDA version; write e.g. `12.8`")]
    BadCuda(String),
}

impl TorchRequest {
    /// Resolve `--torch` and `--cuda` against the support table. Without a
    /// CUDA, the newest variant of the release; with an index URL given, a
    /// variant PyTorch does not list is accepted (a mirror may have it).
    pub fn resolve(
        torch: &str,
        cuda: Option<&str>,
        index_url: Option<&str>,
    ) -> Result<TorchRequest, TorchRequestError> {
        let release = TorchRelease::find(torch).ok_or_else(|| {
            TorchRequestError::UnknownRelease(
                torch.to_string(),
                wheelwright_base::support::TORCH_RELEASES
                    .iter()
                    .map(|r| r.minor)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
        let cuda = match cuda {
            Some(c) => CudaVersion::parse(c).ok_or_else(|| TorchRequestError::BadCuda(c.into()))?,
            None => *release
                .cuda_variants()
                .last()
                .ok_or_else(|| TorchRequestError::BadCuda(String::new()))?,
        };
        if !release.publishes(cuda) && index_url.is_none() {
            return Err(TorchRequestError::NoVariant {
                release: release.minor.into(),
                cuda: cuda.to_string(),
                published: release.cuda.join(", "),
            });
        }
        Ok(TorchRequest {
            release,
            cuda,
            index_url: index_url.map_or_else(|| pytorch_index_url(cuda), str::to_string),
        })
    }

    /// Whether an installed torch is this one (same minor, same CUDA).
    pub fn satisfied_by(&self, t: &Torch) -> bool {
        TorchRelease::find(&t.version).is_some_and(|r| r.minor == self.release.minor)
            && t.cuda.as_deref().and_then(CudaVersion::parse) == Some(self.cuda)
    }

    /// `torch==2.8.*`.
    pub fn requirement(&self) -> String {
        format!("torch=={}.*", self.release.minor)
    }
}

/// What the venv step needs.
#[derive(Debug, Clone)]
pub struct VenvOptions {
    /// The venv directory.
    pub dir: PathBuf,
    /// The interpreter that creates it (`python3`).
    pub base_python: Option<PathBuf>,
    /// The torch to have, if any was asked for.
    pub torch: Option<TorchRequest>,
    /// PATH for pip and the venv module.
    pub path: OsString,
    /// Change things (else only check).
    pub fix: bool,
    /// Timeout of `venv` and each pip run.
    pub timeout: Duration,
}

/// The venv's interpreter.
pub fn venv_python(dir: &Path) -> PathBuf {
    dir.join("bin/python")
}

/// The torch the interpreter has, probed with detection's one-start probe.
pub fn probe_torch(python: &Path, detect_opts: &DetectOptions) -> (Option<Torch>, Option<String>) {
    let mut o = detect_opts.clone();
    o.python = Some(python.to_path_buf());
    o.skip_python = false;
    let report = wheelwright_detect::python::probe(&o, Some(python));
    let problem = report.problems.first().map(|p| p.message.clone());
    (report.torch, problem)
}

/// Check (and with `fix`, create) the venv and its torch.
pub fn check_venv(opts: &VenvOptions, detect_opts: &DetectOptions) -> Vec<Check> {
    let python = venv_python(&opts.dir);
    let mut checks = Vec::new();
    let exists = wheelwright_detect::is_executable(&python);
    let create = format!(
        "{} -m venv {}",
        opts.base_python
            .as_deref()
            .map_or_else(|| "python3".to_string(), |p| p.display().to_string()),
        opts.dir.display()
    );
    if exists {
        checks.push(Check::new(
            "venv",
            CheckStatus::Ok,
            format!("{} exists", python.display()),
        ));
    } else if !opts.fix {
        checks.push(
            Check::new(
                "venv",
                CheckStatus::WouldChange,
                format!("no venv at {}", opts.dir.display()),
            )
            .with_fix(create),
        );
        if let Some(t) = &opts.torch {
            checks.push(
                Check::new(
                    "torch",
                    CheckStatus::WouldChange,
                    format!(
                        "would install torch {} for CUDA {} into the new venv",
                        t.release.minor, t.cuda
                    ),
                )
                .with_fix(pip_command(&python, t).join(" ")),
            );
        }
        return checks;
    } else {
        let base = opts
            .base_python
            .clone()
            .or_else(|| wheelwright_detect::which("python3", &opts.path));
        let result = match base {
            None => Err("no python3 on PATH to create it with; pass --python".to_string()),
            Some(base) => {
                let mut cmd = Command::new(&base);
                cmd.arg("-m")
                    .arg("venv")
                    .arg(&opts.dir)
                    .env(wheelwright_base::env_vars::PATH, &opts.path);
                process::run(&mut cmd, opts.timeout)
                    .and_then(process::Output::check)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        };
        match result {
            Ok(()) => checks.push(
                Check::new(
                    "venv",
                    CheckStatus::Changed,
                    format!("created {}", opts.dir.display()),
                )
                .with_fix(create),
            ),
            Err(e) => {
                checks.push(Check::new("venv", CheckStatus::Failed, e).with_fix(create));
                return checks;
            }
        }
    }

    let (before, problem) = probe_torch(&python, detect_opts);
    let Some(want) = &opts.torch else {
        checks.push(match &before {
            Some(t) if t.cuda.is_some() => Check::new(
                "torch",
                CheckStatus::Ok,
                format!("torch {} (CUDA {})", t.version, t.cuda.as_deref().unwrap_or("?")),
            ),
            Some(t) => Check::new(
                "torch",
                CheckStatus::Failed,
                format!("torch {} is a CPU-only build; pass --torch X.Y --cuda X.Y to install a CUDA build", t.version),
            ),
            None => Check::new(
                "torch",
                CheckStatus::Failed,
                format!(
                    "no torch in {}{}; pass --torch X.Y --cuda X.Y to install one",
                    opts.dir.display(),
                    problem.map(|p| format!(" ({p})")).unwrap_or_default()
                ),
            ),
        });
        return checks;
    };
    let describe = |t: &Option<Torch>| match t {
        Some(t) => format!(
            "torch {} (CUDA {})",
            t.version,
            t.cuda.as_deref().unwrap_or("none")
        ),
        None => "no torch".to_string(),
    };
    if before.as_ref().is_some_and(|t| want.satisfied_by(t)) {
        checks.push(Check::new(
            "torch",
            CheckStatus::Ok,
            format!("already {}", describe(&before)),
        ));
        return checks;
    }
    let cmd = pip_command(&python, want);
    if !opts.fix {
        checks.push(
            Check::new(
                "torch",
                CheckStatus::WouldChange,
                format!(
                    "{} is not torch {} for CUDA {} ({})",
                    describe(&before),
                    want.release.minor,
                    want.cuda,
                    cu_tag(want.cuda)
                ),
            )
            .with_fix(cmd.join(" ")),
        );
        return checks;
    }
    let mut run = Command::new(&python);
    run.args(&cmd[1..])
        .env(wheelwright_base::env_vars::PATH, &opts.path)
        .env(wheelwright_base::env_vars::PIP_NO_INPUT, "1");
    let result = process::run(&mut run, opts.timeout).and_then(process::Output::check);
    let (after, _) = probe_torch(&python, detect_opts);
    let check = match (result, after.as_ref().is_some_and(|t| want.satisfied_by(t))) {
        (Ok(_), true) => Check::new(
            "torch",
            CheckStatus::Changed,
            format!("{} -> {}", describe(&before), describe(&after)),
        ),
        (Ok(_), false) => Check::new(
            "torch",
            CheckStatus::Failed,
            format!(
                "pip installed, but the venv now has {}, not torch {} for CUDA {}",
                describe(&after),
                want.release.minor,
                want.cuda
            ),
        ),
        (Err(e), _) => Check::new("torch", CheckStatus::Failed, format!("pip failed: {e}")),
    };
    checks.push(check.with_fix(cmd.join(" ")));
    checks
}

/// `PYTHON -m pip install --disable-pip-version-check torch==X.Y.* --index-url URL`.
pub fn pip_command(python: &Path, want: &TorchRequest) -> Vec<String> {
    vec![
        python.display().to_string(),
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--disable-pip-version-check".into(),
        want.requirement(),
        "--index-url".into(),
        wheelwright_base::secrets::redact_secrets(&want.index_url).into_owned(),
    ]
}

/// Detect again with the venv's interpreter, after the venv step.
pub fn detect_with(python: &Path, detect_opts: &DetectOptions) -> wheelwright_base::facts::Facts {
    let mut o = detect_opts.clone();
    o.python = Some(python.to_path_buf());
    o.skip_python = false;
    detect(&o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_resolve_against_the_support_table() {
        let r = TorchRequest::resolve("2.8", Some("12.8"), None).unwrap();
        assert_eq!(r.index_url, "https://download.pytorch.org/whl/cu128");
        assert_eq!(r.requirement(), "torch==2.8.*");
        let newest = TorchRequest::resolve("2.9", None, None).unwrap();
        assert_eq!(newest.cuda, CudaVersion::new(13, 0));
        assert!(matches!(
            TorchRequest::resolve("2.8", Some("12.2"), None),
            Err(TorchRequestError::NoVariant { .. })
        ));
        // A mirror may carry what PyTorch's index lists differently.
        let m =
            TorchRequest::resolve("2.8", Some("12.2"), Some("http://127.0.0.1:1/simple")).unwrap();
        assert_eq!(m.index_url, "http://127.0.0.1:1/simple");
        assert!(TorchRequest::resolve("1.0", None, None).is_err());

        let t = |v: &str, c: Option<&str>| Torch {
            version: v.into(),
            cuda: c.map(String::from),
            cxx11_abi: Some(true),
            cuda_available: false,
        };
        assert!(r.satisfied_by(&t("2.8.0+cu128", Some("12.8"))));
        assert!(!r.satisfied_by(&t("2.8.0+cu126", Some("12.6"))));
        assert!(!r.satisfied_by(&t("2.9.1+cu128", Some("12.8"))));
        assert!(!r.satisfied_by(&t("2.8.0+cpu", None)));
    }
}
