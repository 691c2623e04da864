//! `Facts`: everything `detect` learns about a host, as one serializable value.
//!
//! The field names are a contract read by other tools and by `plan`; add fields
//! freely, never rename. `schema_version` changes only on a breaking change.

use serde::{Deserialize, Serialize};

/// Version of the `Facts` JSON contract.
pub const FACTS_SCHEMA_VERSION: u32 = 1;

/// Everything known about one build host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Facts {
    /// The version of this contract: [`FACTS_SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// CPUs, memory and disk.
    pub host: Host,
    /// The NVIDIA GPUs, in index order; empty without a driver.
    pub gpus: Vec<Gpu>,
    /// The NVIDIA driver, when one answered.
    pub driver: Option<Driver>,
    /// The CUDA toolkit found, if any.
    pub cuda: Option<Cuda>,
    /// Host C/C++ compilers found (gcc, g++, every gcc-N, CC/CXX).
    pub compilers: Vec<Compiler>,
    /// The build interpreter and its packaging tools.
    pub python: Option<Python>,
    /// torch in the build interpreter.
    pub torch: Option<Torch>,
    /// ninja on PATH (the interpreter's dir first).
    pub ninja: Option<Ninja>,
    /// Probes that failed; a failed probe never aborts detection.
    pub problems: Vec<Problem>,
}

/// CPUs, memory and disk of the host, with container limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Host {
    /// `linux`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// The kernel release (`uname -r`).
    pub kernel: Option<String>,
    /// Logical CPUs.
    pub logical_cpus: u32,
    /// Physical cores, when known.
    pub physical_cpus: Option<u32>,
    /// cgroup `cpu.max` (or v1 `cfs_quota_us / cfs_period_us`) in cores; `None` if unlimited.
    pub cpu_quota: Option<f64>,
    /// Total memory (MemTotal).
    pub memory_total_bytes: u64,
    /// Memory available now (MemAvailable).
    pub memory_available_bytes: u64,
    /// cgroup v1/v2 memory limit; `None` if unlimited.
    pub memory_limit_bytes: Option<u64>,
    /// Free space where the build runs, when it could be read.
    pub disk_free_bytes: Option<u64>,
    /// The directory whose free space was read.
    pub disk_path: String,
}

/// One GPU as NVML (or `nvidia-smi`) reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gpu {
    /// NVML's (or nvidia-smi's) index.
    pub index: u32,
    /// `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// The GPU's UUID.
    pub uuid: Option<String>,
    /// `"major.minor"`, e.g. `"8.0"` for an A100/A800, `"9.0"` for an H100.
    pub compute_capability: String,
    /// The GPU's memory.
    pub memory_total_bytes: Option<u64>,
}

/// The NVIDIA driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Driver {
    /// The driver's version (`550.54.15`).
    pub version: String,
    /// The newest CUDA the driver supports, `"major.minor"`.
    pub cuda_driver_version: Option<String>,
}

/// The CUDA toolkit that a build would use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cuda {
    /// CUDA_HOME (the toolkit's root).
    pub home: String,
    /// The nvcc executable.
    pub nvcc: String,
    /// `"major.minor"` from `nvcc --version`.
    pub version: String,
    /// The newest GCC major the toolkit's `crt/host_config.h` accepts.
    pub max_gcc_major: Option<u32>,
}

/// One installed C or C++ compiler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Compiler {
    /// The compiler executable.
    pub path: String,
    /// `"gcc"` or `"g++"`.
    pub name: String,
    /// Its full version (`13.3.0`).
    pub version: String,
    /// Its major version.
    pub major: u32,
}

/// The Python interpreter a build would use, with its packaging tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Python {
    /// The interpreter (`sys.executable`).
    pub path: String,
    /// `3.12.3`.
    pub version: String,
    /// pip's version, if installed.
    pub pip: Option<String>,
    /// setuptools' version, if installed.
    pub setuptools: Option<String>,
    /// wheel's version, if installed.
    pub wheel: Option<String>,
    /// packaging's version, if installed.
    pub packaging: Option<String>,
    /// psutil's version, if installed.
    pub psutil: Option<String>,
}

/// The installed torch, as that interpreter sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Torch {
    /// `2.8.0+cu128`.
    pub version: String,
    /// `torch.version.cuda`, `None` for a CPU-only torch.
    pub cuda: Option<String>,
    /// `torch._C._GLIBCXX_USE_CXX11_ABI`, when it could be read.
    pub cxx11_abi: Option<bool>,
    /// `torch.cuda.is_available()`.
    pub cuda_available: bool,
}

/// The ninja that torch's build would find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Ninja {
    /// The ninja executable.
    pub path: String,
    /// `ninja --version`, when it answered.
    pub version: Option<String>,
    /// `ninja --version` exited 0.
    pub healthy: bool,
}

/// A probe that failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Problem {
    /// The probe that had the problem (`gpu`, `cuda`, `python`).
    pub probe: String,
    /// What went wrong.
    pub message: String,
}
