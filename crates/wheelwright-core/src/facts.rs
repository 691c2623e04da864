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
    pub schema_version: u32,
    pub host: Host,
    pub gpus: Vec<Gpu>,
    pub driver: Option<Driver>,
    pub cuda: Option<Cuda>,
    pub compilers: Vec<Compiler>,
    pub python: Option<Python>,
    pub torch: Option<Torch>,
    pub ninja: Option<Ninja>,
    /// Probes that failed; a failed probe never aborts detection.
    pub problems: Vec<Problem>,
}

/// CPUs, memory and disk of the host, with container limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Host {
    pub os: String,
    pub arch: String,
    pub kernel: Option<String>,
    pub logical_cpus: u32,
    pub physical_cpus: Option<u32>,
    /// cgroup `cpu.max` (or v1 `cfs_quota_us / cfs_period_us`) in cores; `None` if unlimited.
    pub cpu_quota: Option<f64>,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    /// cgroup v1/v2 memory limit; `None` if unlimited.
    pub memory_limit_bytes: Option<u64>,
    pub disk_free_bytes: Option<u64>,
    pub disk_path: String,
}

/// One GPU as NVML (or `nvidia-smi`) reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gpu {
    pub index: u32,
    pub name: String,
    pub uuid: Option<String>,
    /// `"major.minor"`, e.g. `"8.0"` for an A100/A800, `"9.0"` for an H100.
    pub compute_capability: String,
    pub memory_total_bytes: Option<u64>,
}

/// The NVIDIA driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Driver {
    pub version: String,
    /// The newest CUDA the driver supports, `"major.minor"`.
    pub cuda_driver_version: Option<String>,
}

/// The CUDA toolkit that a build would use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cuda {
    pub home: String,
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
    pub path: String,
    /// `"gcc"` or `"g++"`.
    pub name: String,
    pub version: String,
    pub major: u32,
}

/// The Python interpreter a build would use, with its packaging tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Python {
    pub path: String,
    pub version: String,
    pub pip: Option<String>,
    pub setuptools: Option<String>,
    pub wheel: Option<String>,
    pub packaging: Option<String>,
    pub psutil: Option<String>,
}

/// The installed torch, as that interpreter sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Torch {
    pub version: String,
    /// `torch.version.cuda`, `None` for a CPU-only torch.
    pub cuda: Option<String>,
    pub cxx11_abi: Option<bool>,
    pub cuda_available: bool,
}

/// The ninja that torch's build would find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Ninja {
    pub path: String,
    pub version: Option<String>,
    /// `ninja --version` exited 0.
    pub healthy: bool,
}

/// A probe that failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Problem {
    pub probe: String,
    pub message: String,
}
