//! What a torch extension's own `setup.py` compiles, as its build would: the
//! output of the setup.py probe (`setup_probe.py`, embedded), read into units
//! with their flags, targets and threads, the switches the package reads, and
//! whether it tried to download a prebuilt wheel.
//!
//! The probe runs the package's `setup.py` under the build's interpreter and
//! torch with `setup()` and torch's `BuildExtension` intercepted (nothing is
//! compiled or downloaded; see the script's docstring). This module only reads
//! its JSON: running it is [`run`]'s job, with a timeout, in a copy of the
//! source.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::nvcc_flags::NvccTargets;

/// The probe script, run as `python - SOURCE_DIR` (see its docstring).
pub const SETUP_PROBE_SCRIPT: &str = include_str!("setup_probe.py");
/// The output version this reader understands.
pub const SETUP_PROBE_VERSION: u32 = 1;

/// An exception the probe caught: in `setup.py` itself, in its build_ext, or
/// in its bdist_wheel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeException {
    /// `URLError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its message.
    pub message: String,
    /// `setup.py:330`: the package's innermost line on the way.
    pub site: Option<String>,
    /// The traceback's tail.
    pub traceback: String,
}

/// The torch the probe saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeTorch {
    /// `torch.__version__` (`2.11.0+cu130`).
    pub version: String,
    /// `torch.version.cuda`.
    pub cuda: Option<String>,
    /// torch's `CUDA_HOME`.
    pub cuda_home: Option<String>,
    /// The test stub of `tests/fixtures/torch-ext/stub-torch`, not torch.
    pub stub: bool,
    /// `_get_cuda_arch_flags()` under the build's environment.
    pub arch_flags: Option<Vec<String>>,
    /// Why `_get_cuda_arch_flags()` failed (no GPU and no `TORCH_CUDA_ARCH_LIST`).
    pub arch_flags_error: Option<String>,
}

/// One `Extension` of `setup(ext_modules=...)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeExtension {
    /// `torch_scatter._scatter_cuda`.
    pub name: String,
    /// Its sources as given.
    pub sources: Vec<String>,
    /// It has `.cu` sources.
    pub cuda: bool,
    /// Its own nvcc flags (`extra_compile_args["nvcc"]`).
    pub nvcc_args: Vec<String>,
    /// `package` when those name an arch (torch then adds none), else `torch`.
    pub arch_flags_from: String,
}

/// One compile, as torch's build_ext would run it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeUnit {
    /// The extension it is compiled into.
    pub extension: Option<String>,
    /// Relative to the source root when inside it.
    pub source: String,
    /// Relative to the build's temp dir.
    pub object: String,
    /// `nvcc` or `cxx`.
    pub compiler: String,
    /// The compiler as torch runs it.
    pub program: Option<String>,
    /// Every flag but the source and `-o OBJECT`.
    pub flags: Vec<String>,
    /// `ninja` or `distutils` (one file at a time).
    pub backend: String,
}

/// The package's build_ext as the probe ran it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeBuildExt {
    /// `torch.utils.cpp_extension.BuildExtension`, or the package's subclass.
    pub class: String,
    /// It is torch's `BuildExtension` or a subclass.
    pub torch_build_extension: bool,
    /// torch's ninja backend; `false`: one file at a time.
    pub use_ninja: Option<bool>,
    /// Each compile it would run, in order.
    pub units: Vec<ProbeUnit>,
    /// What it raised, if anything.
    pub error: Option<ProbeException>,
    /// ninja runs it started (one per extension).
    pub ninja_runs: u32,
}

/// A name resolution, connection or URL the package tried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAttempt {
    /// `resolve`, `connect` or `url`.
    pub kind: String,
    /// The host name or address.
    pub host: Option<String>,
    /// The port.
    pub port: Option<u16>,
    /// The URL urllib opened.
    pub url: Option<String>,
    /// The package's line that made it.
    pub site: Option<String>,
    /// `setup.py`, `build_ext` or `bdist_wheel`.
    pub phase: String,
}

/// The package's own `bdist_wheel`, run with the real build stubbed out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbePrebuilt {
    /// The command's class.
    pub class: String,
    /// The network attempts it made.
    pub network: Vec<NetworkAttempt>,
    /// The URLs it opened.
    pub urls: Vec<String>,
    /// It went on to build.
    pub built: bool,
    /// What it raised, if anything.
    pub error: Option<ProbeException>,
}

/// An environment variable the package's own code read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvRead {
    /// The variable's name.
    pub name: String,
    /// Set when read (the value is never recorded).
    pub set: bool,
    /// The default its code passed.
    pub default: Option<String>,
    /// Literals its value was compared with (`TRUE`).
    pub compared_to: Vec<String>,
    /// `setup.py:43`.
    pub sites: Vec<String>,
}

/// A switch found by what it does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Switch {
    /// `build-offline`: with it the package builds instead of downloading;
    /// `cuda`: with it the package compiles its CUDA units.
    pub purpose: String,
    /// The environment variable (`CAUSAL_CONV1D_FORCE_BUILD`).
    pub name: String,
    /// The value it is set to (`TRUE`): the literal its setup.py compares with.
    pub value: String,
}

/// The first run, when switches changed what the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirstRun {
    /// What it raised, if anything.
    pub error: Option<ProbeException>,
    /// The package's own bdist_wheel as run, if it has one.
    pub prebuilt: Option<ProbePrebuilt>,
    /// The network attempts it made.
    pub network: Vec<NetworkAttempt>,
}

/// The probe's whole output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetupProbe {
    /// The output's version ([`SETUP_PROBE_VERSION`]).
    pub probe_version: u32,
    /// The interpreter that ran it.
    pub python: String,
    /// The package root it ran in.
    pub source: String,
    /// The torch it ran under; `None`: none imported.
    pub torch: Option<ProbeTorch>,
    /// Why torch did not import.
    pub torch_error: Option<String>,
    /// setup.py or the probe itself failed.
    pub error: Option<ProbeException>,
    /// `setup(name=...)`.
    pub name: Option<String>,
    /// `setup(version=...)`.
    pub version: Option<String>,
    /// How often `setup()` was called.
    pub setup_calls: u32,
    /// `setup(ext_modules=...)`.
    pub extensions: Vec<ProbeExtension>,
    /// The package's build_ext as run.
    pub build_ext: Option<ProbeBuildExt>,
    /// The package's own bdist_wheel as run, if it has one.
    pub prebuilt: Option<ProbePrebuilt>,
    /// Environment variables its own code read.
    pub env_reads: Vec<EnvRead>,
    /// The network attempts it made.
    pub network: Vec<NetworkAttempt>,
    /// The run without switches, when switches were set for the reported one.
    pub first_run: Option<FirstRun>,
    /// The switches found, set for the reported run.
    pub switches: Vec<Switch>,
}

/// Why the probe's output says nothing about the units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeGap {
    /// Not the probe's JSON, or of another version.
    #[error("the setup.py probe's output could not be read: {0}")]
    Unreadable(String),
    /// No torch to run setup.py with.
    #[error("no torch in the build's interpreter ({0})")]
    NoTorch(String),
    /// setup.py raised, exited non-zero or never called setup().
    #[error("setup.py failed under the probe: {0}")]
    SetupFailed(String),
    /// setup() was called without extensions.
    #[error("setup.py declares no extension modules")]
    NoExtensions,
    /// The extensions are not built by torch's BuildExtension.
    #[error("setup.py builds its extensions with {0}, not torch's BuildExtension")]
    NotTorch(String),
    /// build_ext raised before every compile was seen.
    #[error("the package's build_ext failed under the probe: {0}")]
    BuildExtFailed(String),
    /// The probe could not be run (no interpreter, a timeout, an sdist that
    /// does not unpack).
    #[error("the setup.py probe could not run: {0}")]
    NotRun(String),
}

/// How long the probe may take: one torch import per run of setup.py (the
/// first, one per switch tried, at most 6) on a busy host.
pub const SETUP_PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// Run the probe on `source` (a tree or an sdist, unpacked into a temp dir)
/// with `python`, whose torch is the build's, under the build's `env` (on top
/// of this process's), within `timeout`.
pub fn run(
    python: &Path,
    source: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<SetupProbe, ProbeGap> {
    let not_run = |m: String| ProbeGap::NotRun(m);
    let tmp = tempfile::Builder::new()
        .prefix("wheelwright-setup-probe-")
        .tempdir()
        .map_err(|e| not_run(e.to_string()))?;
    let root = if source.is_dir() {
        package_root(source)
    } else {
        unpack_sdist(source, &tmp.path().join("src"))?
    };
    let script = tmp.path().join("setup_probe.py");
    std::fs::write(&script, SETUP_PROBE_SCRIPT).map_err(|e| not_run(e.to_string()))?;
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(&root).current_dir(&root).envs(env);
    let out = wheelwright_process::run(&mut cmd, timeout).map_err(|e| not_run(e.to_string()))?;
    if !out.success() {
        return Err(not_run(format!(
            "`{}` ended with {}: {}",
            out.command,
            out.status_text(),
            out.stderr
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .join(" | ")
        )));
    }
    SetupProbe::parse(&out.stdout)
}

/// The folder with `setup.py`: `dir`, or its only child folder (an
/// unpacked sdist's parent).
fn package_root(dir: &Path) -> PathBuf {
    if dir.join("setup.py").is_file() {
        return dir.to_path_buf();
    }
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match children.as_slice() {
        [only] if only.join("setup.py").is_file() => only.clone(),
        _ => dir.to_path_buf(),
    }
}

/// Unpack an sdist (`.tar.gz`, `.tar`) under `into`; its package root.
/// `tar` refuses members that would land outside `into`.
fn unpack_sdist(sdist: &Path, into: &Path) -> Result<PathBuf, ProbeGap> {
    let err = |e: std::io::Error| ProbeGap::NotRun(format!("{}: {e}", sdist.display()));
    let file = File::open(sdist).map_err(err)?;
    let reader: Box<dyn std::io::Read> = if sdist.to_string_lossy().ends_with(".tar") {
        Box::new(file)
    } else {
        Box::new(flate2::read::GzDecoder::new(file))
    };
    std::fs::create_dir_all(into).map_err(err)?;
    tar::Archive::new(reader).unpack(into).map_err(err)?;
    Ok(package_root(into))
}

/// One unit as the plan takes it: what it compiles, for which targets, with
/// how many threads, in which group of the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbedUnit {
    /// Relative to the source root.
    pub path: String,
    /// The extension it is compiled into.
    pub extension: Option<String>,
    /// The object path, relative to the build's temp dir.
    pub object: String,
    /// Compiled by nvcc.
    pub cuda: bool,
    /// nvcc's targets and threads from the unit's own flags.
    pub targets: NvccTargets,
    /// Its flags, as torch computes them.
    pub flags: Vec<String>,
    /// The extension named its own arch flags (torch added none).
    pub own_archs: bool,
}

impl SetupProbe {
    /// Read the probe's stdout.
    pub fn parse(json: &str) -> Result<Self, ProbeGap> {
        let probe: SetupProbe =
            serde_json::from_str(json).map_err(|e| ProbeGap::Unreadable(e.to_string()))?;
        if probe.probe_version != SETUP_PROBE_VERSION {
            return Err(ProbeGap::Unreadable(format!(
                "version {} (this wheelwright reads {SETUP_PROBE_VERSION})",
                probe.probe_version
            )));
        }
        Ok(probe)
    }

    /// The units, or why they are not known.
    pub fn units(&self) -> Result<Vec<ProbedUnit>, ProbeGap> {
        if self.torch.is_none() {
            return Err(ProbeGap::NoTorch(
                self.torch_error
                    .clone()
                    .unwrap_or_else(|| "torch did not import".into()),
            ));
        }
        if let Some(e) = &self.error {
            return Err(ProbeGap::SetupFailed(exception_text(e)));
        }
        if self.setup_calls == 0 {
            return Err(ProbeGap::SetupFailed("setup() was never called".into()));
        }
        if self.extensions.is_empty() {
            return Err(ProbeGap::NoExtensions);
        }
        let Some(be) = &self.build_ext else {
            return Err(ProbeGap::NoExtensions);
        };
        if !be.torch_build_extension {
            return Err(ProbeGap::NotTorch(be.class.clone()));
        }
        if let Some(e) = &be.error {
            return Err(ProbeGap::BuildExtFailed(exception_text(e)));
        }
        let own: BTreeMap<&str, bool> = self
            .extensions
            .iter()
            .map(|e| (e.name.as_str(), e.arch_flags_from == "package"))
            .collect();
        Ok(be
            .units
            .iter()
            .map(|u| {
                let cuda = u.compiler == "nvcc";
                ProbedUnit {
                    path: u.source.clone(),
                    extension: u.extension.clone(),
                    object: u.object.clone(),
                    cuda,
                    targets: if cuda {
                        NvccTargets::parse(&u.flags)
                    } else {
                        NvccTargets::default()
                    },
                    flags: u.flags.clone(),
                    own_archs: u
                        .extension
                        .as_deref()
                        .and_then(|e| own.get(e).copied())
                        .unwrap_or(false),
                }
            })
            .collect())
    }

    /// torch compiles one file at a time (the package turned ninja off, or
    /// no ninja was found).
    pub fn one_file_at_a_time(&self) -> bool {
        self.build_ext.as_ref().and_then(|b| b.use_ninja) == Some(false)
    }

    /// The package's own code reads `name` from the environment.
    pub fn reads_env(&self, name: &str) -> bool {
        self.env_reads.iter().any(|r| r.name == name)
    }

    /// The download the package tried before building: the URLs and the
    /// error it ended in (from the run without switches).
    pub fn download_attempt(&self) -> Option<&ProbePrebuilt> {
        let first = self.first_run.as_ref().and_then(|f| f.prebuilt.as_ref());
        first
            .or(self.prebuilt.as_ref())
            .filter(|p| !p.network.is_empty())
    }
}

/// What the plan says about the package's `setup.py`: how its units were
/// learned, the switches set for the build, and what the package does
/// beyond compiling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SetupPyFacts {
    /// `setup.py`: run under the build's torch with setup() intercepted;
    /// `file scan`: every C++/CUDA file of the tree (setup.py could not be run).
    pub method: String,
    /// Why setup.py could not be run, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The torch it ran under (`2.11.0+cu130`; a test stub says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<String>,
    /// `setup(name=...)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Extensions in `ext_modules`, in the order torch builds them (each its
    /// own ninja run, one after another).
    pub extensions: Vec<String>,
    /// `ninja`, or `one file at a time` (the package turned ninja off, or
    /// none was found: MAX_JOBS then does nothing).
    pub backend: String,
    /// Switches found by what they do, set in the build's environment.
    pub switches: Vec<Switch>,
    /// The environment variables the package's own code reads.
    pub reads_env: Vec<String>,
    /// The prebuilt wheel it tried to download before building, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadAttempt>,
}

/// A download a setup.py tried instead of building.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DownloadAttempt {
    /// The URLs it opened.
    pub urls: Vec<String>,
    /// Hosts it resolved or connected to.
    pub hosts: Vec<String>,
    /// How it ended offline (`URLError: <urlopen error ...>`), if it raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// It built from source after the failed download.
    pub fell_back: bool,
}

impl SetupProbe {
    /// The plan's summary of this probe.
    pub fn facts(&self) -> SetupPyFacts {
        let mut extensions: Vec<String> = Vec::new();
        if let Some(be) = &self.build_ext {
            for u in &be.units {
                if let Some(e) = &u.extension {
                    if !extensions.contains(e) {
                        extensions.push(e.clone());
                    }
                }
            }
        }
        SetupPyFacts {
            method: "setup.py".into(),
            unknown: None,
            torch: self.torch.as_ref().map(|t| {
                if t.stub {
                    format!("{} (a test stub, not torch)", t.version)
                } else {
                    t.version.clone()
                }
            }),
            package: self.name.clone(),
            extensions,
            backend: if self.one_file_at_a_time() {
                "one file at a time".into()
            } else {
                "ninja".into()
            },
            switches: self.switches.clone(),
            reads_env: self.env_reads.iter().map(|r| r.name.clone()).collect(),
            download: self.download_attempt().map(|p| {
                let mut hosts: Vec<String> = Vec::new();
                for a in &p.network {
                    if let Some(h) = &a.host {
                        if !hosts.contains(h) {
                            hosts.push(h.clone());
                        }
                    }
                }
                DownloadAttempt {
                    urls: p.urls.clone(),
                    hosts,
                    error: p
                        .error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.kind, e.message)),
                    fell_back: p.built,
                }
            }),
        }
    }
}

fn exception_text(e: &ProbeException) -> String {
    match &e.site {
        Some(site) => format!("{}: {} (at {site})", e.kind, e.message),
        None => format!("{}: {}", e.kind, e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(name: &str) -> SetupProbe {
        let path = format!(
            "{}/src/fixtures/torch-ext/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        SetupProbe::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn causal_conv1d_nine_package_gencodes_and_its_switch() {
        let p = real("causal_conv1d-1.7.0");
        let units = p.units().unwrap();
        assert_eq!(units.len(), 4);
        let cu: Vec<&ProbedUnit> = units.iter().filter(|u| u.cuda).collect();
        assert_eq!(cu.len(), 3);
        for u in &cu {
            assert_eq!(u.targets.count(), 9, "{}", u.path);
            assert_eq!(u.targets.threads, Some(4));
            assert!(u.own_archs);
            let (sass, ptx) = u.targets.codes();
            assert!(ptx.is_empty());
            assert_eq!(sass[0], "sm_75");
        }
        assert_eq!(
            p.switches,
            [Switch {
                purpose: "build-offline".into(),
                name: "CAUSAL_CONV1D_FORCE_BUILD".into(),
                value: "TRUE".into()
            }]
        );
        let tried = p.download_attempt().unwrap();
        assert!(tried.urls[0]
            .starts_with("https://github.com/Dao-AILab/causal-conv1d/releases/download/v1.7.0/"));
        assert!(tried
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("Temporary failure in name resolution"));
        assert!(!p.reads_env("NVCC_THREADS"));
        assert!(!p.one_file_at_a_time());
    }

    #[test]
    fn torch_scatter_is_one_file_at_a_time_with_a_cuda_switch() {
        let p = real("torch_scatter-2.1.2");
        let units = p.units().unwrap();
        assert_eq!(units.len(), 17);
        assert_eq!(units.iter().filter(|u| u.cuda).count(), 3);
        assert!(p.one_file_at_a_time());
        assert_eq!(p.switches[0].name, "FORCE_CUDA");
        assert_eq!(p.switches[0].purpose, "cuda");
        for u in units.iter().filter(|u| u.cuda) {
            assert!(!u.own_archs);
            assert_eq!(
                u.targets.codes(),
                (vec!["sm_90".to_string()], vec!["compute_90".to_string()])
            );
        }
    }

    /// The python3 on PATH when it has setuptools and wheel (the packages'
    /// setup.py files import them), else `None` after saying why.
    fn python_with_setuptools() -> Option<std::path::PathBuf> {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys, setuptools, wheel; print(sys.executable)"])
            .output()
            .ok()
            .filter(|o| o.status.success());
        if out.is_none() {
            crate::test_support::prerequisite_missing("python3 with setuptools and wheel");
        }
        out.map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    }

    /// The probe run for real on the three real sdists, with the LABELLED
    /// STUB torch of `tests/fixtures/torch-ext/stub-torch` on PYTHONPATH (CI
    /// has no torch) and a fake nvcc that prints the real `nvcc --version`
    /// of CUDA 13.0: setup() and BuildExtension intercepted, the download
    /// blocked and its switch found, the env reads, ninja off. The same
    /// probe under the real torch made `fixtures/torch-ext/*.json`.
    #[test]
    fn the_probe_reads_real_setup_py_files_with_the_stub_torch() {
        let Some(python) = python_with_setuptools() else {
            return;
        };
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let tmp = tempfile::tempdir().unwrap();
        let cuda = tmp.path().join("cuda");
        std::fs::create_dir_all(cuda.join("bin")).unwrap();
        let banner = repo.join("tests/fixtures/hosts/h100-cuda13.0/nvcc-version.txt");
        crate::test_support::write_executable(
            &cuda.join("bin/nvcc"),
            &format!("#!/bin/sh\ncat '{}'\n", banner.display()),
        );
        let stub = repo.join("tests/fixtures/torch-ext/stub-torch");
        let env: BTreeMap<String, String> = [
            ("PYTHONPATH", stub.display().to_string()),
            ("CUDA_HOME", cuda.display().to_string()),
            ("TORCH_CUDA_ARCH_LIST", "9.0+PTX".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let sdist = |n: &str| repo.join("tests/fixtures/torch-ext").join(n);
        let run_on = |n: &str| run(&python, &sdist(n), &env, SETUP_PROBE_TIMEOUT).unwrap();

        let cc = run_on("causal_conv1d-1.7.0.tar.gz");
        assert!(cc.torch.as_ref().unwrap().stub, "the stub says it is one");
        let units = cc.units().unwrap();
        assert_eq!(units.len(), 4);
        assert!(units
            .iter()
            .filter(|u| u.cuda)
            .all(|u| u.targets.count() == 9));
        assert_eq!(cc.switches[0].name, "CAUSAL_CONV1D_FORCE_BUILD");
        let tried = cc.download_attempt().unwrap();
        assert!(tried.urls[0].contains("/causal-conv1d/releases/download/v1.7.0/"));
        assert!(tried
            .network
            .iter()
            .any(|a| a.host.as_deref() == Some("github.com")));
        assert!(cc.reads_env("CAUSAL_CONV1D_SKIP_CUDA_BUILD"));

        let sc = run_on("spatial_correlation_sampler-0.5.0.tar.gz");
        let units = sc.units().unwrap();
        let cu: Vec<&ProbedUnit> = units.iter().filter(|u| u.cuda).collect();
        assert_eq!(cu.len(), 1);
        assert!(!cu[0].own_archs, "torch's arch flags");
        assert_eq!(
            cu[0].targets.codes(),
            (vec!["sm_90".to_string()], vec!["compute_90".to_string()])
        );
        assert!(sc.switches.is_empty());

        let ts = run_on("torch_scatter-2.1.2.tar.gz");
        assert!(ts.one_file_at_a_time());
        assert_eq!(ts.units().unwrap().len(), 17);
        assert_eq!(ts.switches[0].name, "FORCE_CUDA");
    }
}
