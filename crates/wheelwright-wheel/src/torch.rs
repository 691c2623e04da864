//! The torch a wheel was built for, as installed on this machine: where its
//! libraries are, so undefined symbols resolve against them.
//!
//! One interpreter start with an embedded script that prints JSON. torch is
//! located with `importlib.util.find_spec`, not imported: no CUDA
//! initialisation, works on a machine without a GPU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use wheelwright_process as process;
use wheelwright_process::ProcessError;

/// How long the probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

const PROBE: &str = r#"
import glob, importlib.metadata, importlib.util, json, os, site, sys, sysconfig
out = {"executable": sys.executable, "libdir": sysconfig.get_config_var("LIBDIR"),
       "version": None, "lib_dir": None, "nvidia_lib_dirs": []}
sites = list(site.getsitepackages())
spec = importlib.util.find_spec("torch")
if spec is not None and spec.origin:
    root = os.path.dirname(spec.origin)
    out["lib_dir"] = os.path.join(root, "lib")
    try:
        out["version"] = importlib.metadata.version("torch")
    except Exception:
        pass
    sites.insert(0, os.path.dirname(root))
dirs = []
for s in sites:
    for d in sorted(glob.glob(os.path.join(s, "nvidia", "*", "lib")) + glob.glob(os.path.join(s, "nvidia", "*", "*", "lib"))):
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
out["nvidia_lib_dirs"] = dirs
print(json.dumps(out))
"#;

/// A Python interpreter and the torch installed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorchEnv {
    /// The interpreter asked (`--python`, or the report's build command).
    pub python: PathBuf,
    /// `sys.executable`.
    pub executable: PathBuf,
    /// `sysconfig` `LIBDIR`, where a shared `libpython` lives.
    pub libdir: Option<PathBuf>,
    /// torch's version (`2.11.0+cu130`); `None` when torch is not installed.
    pub version: Option<String>,
    /// `torch/lib`.
    pub lib_dir: Option<PathBuf>,
    /// `site-packages/nvidia/*/lib` (and `nvidia/cu13/lib`) of torch's and the
    /// interpreter's site directories: the CUDA libraries torch loads.
    pub nvidia_lib_dirs: Vec<PathBuf>,
}

/// Why the interpreter could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum TorchProbeError {
    /// It did not run, or failed.
    #[error("could not ask {python} where torch is: {source}")]
    Run {
        /// The interpreter.
        python: String,
        /// The cause.
        #[source]
        source: ProcessError,
    },
    /// It printed something else than the probe's JSON.
    #[error("{python} answered the torch probe with something unreadable: {why}")]
    Parse {
        /// The interpreter.
        python: String,
        /// What was wrong.
        why: String,
    },
}

impl TorchEnv {
    /// Ask `python` where its torch and libpython are.
    pub fn probe(python: &Path) -> Result<TorchEnv, TorchProbeError> {
        let shown = python.display().to_string();
        let out = process::run(
            Command::new(python).arg("-I").arg("-c").arg(PROBE),
            PROBE_TIMEOUT,
        )
        .and_then(process::Output::check)
        .map_err(|source| TorchProbeError::Run {
            python: shown.clone(),
            source,
        })?;
        #[derive(Deserialize)]
        struct Answer {
            executable: PathBuf,
            libdir: Option<PathBuf>,
            version: Option<String>,
            lib_dir: Option<PathBuf>,
            nvidia_lib_dirs: Vec<PathBuf>,
        }
        let a: Answer =
            process::parse_last_line_json(&out.stdout).map_err(|e| TorchProbeError::Parse {
                python: shown,
                why: e.to_string(),
            })?;
        Ok(TorchEnv {
            python: python.to_path_buf(),
            executable: a.executable,
            libdir: a.libdir,
            version: a.version,
            lib_dir: a.lib_dir,
            nvidia_lib_dirs: a.nvidia_lib_dirs,
        })
    }

    /// The directories to search before the system's: `torch/lib`, then the
    /// `nvidia/*/lib` wheels.
    pub(crate) fn library_dirs(&self) -> Vec<PathBuf> {
        self.lib_dir
            .iter()
            .chain(&self.nvidia_lib_dirs)
            .cloned()
            .collect()
    }
}
