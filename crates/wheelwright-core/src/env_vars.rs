//! Every environment variable wheelwright reads or sets, in one place.
//!
//! Reading: our own overrides (`WHEELWRIGHT_*`) and the toolchain's variables
//! that detection follows. Setting: the variables a package's build honours.

/// Root to read `/proc` and `/sys` under instead of `/` (tests, containers).
pub const WHEELWRIGHT_ROOT: &str = "WHEELWRIGHT_ROOT";
/// Python interpreter to probe and build with.
pub const WHEELWRIGHT_PYTHON: &str = "WHEELWRIGHT_PYTHON";
/// `off` (or `0`, `false`, `no`): skip NVML and ask `nvidia-smi` for the GPUs.
pub const WHEELWRIGHT_NVML: &str = "WHEELWRIGHT_NVML";
/// Timeout of each external probe, in seconds.
pub const WHEELWRIGHT_PROBE_TIMEOUT: &str = "WHEELWRIGHT_PROBE_TIMEOUT";

/// The CUDA toolkit, as torch's `cpp_extension` looks it up (first wins).
pub const CUDA_HOME: &str = "CUDA_HOME";
pub const CUDA_PATH: &str = "CUDA_PATH";
/// Active virtual environment.
pub const VIRTUAL_ENV: &str = "VIRTUAL_ENV";
pub const PATH: &str = "PATH";
/// Host compilers.
pub const CC: &str = "CC";
pub const CXX: &str = "CXX";
/// Host compiler nvcc uses (torch passes it as `-ccbin`).
pub const NVCC_CCBIN: &str = "NVCC_CCBIN";

/// Parallel compile jobs for torch's ninja build.
pub const MAX_JOBS: &str = "MAX_JOBS";
/// `nvcc --threads` in flash-attn's build.
pub const NVCC_THREADS: &str = "NVCC_THREADS";
/// flash-attn's target architectures, `80;90`.
pub const FLASH_ATTN_CUDA_ARCHS: &str = "FLASH_ATTN_CUDA_ARCHS";
/// torch's target architectures for any `CUDAExtension`, `8.0;9.0+PTX`.
pub const TORCH_CUDA_ARCH_LIST: &str = "TORCH_CUDA_ARCH_LIST";
/// Build from source instead of downloading a prebuilt wheel.
pub const FLASH_ATTENTION_FORCE_BUILD: &str = "FLASH_ATTENTION_FORCE_BUILD";
pub const FLASH_ATTENTION_FORCE_CXX11_ABI: &str = "FLASH_ATTENTION_FORCE_CXX11_ABI";
pub const FLASH_ATTENTION_SKIP_CUDA_BUILD: &str = "FLASH_ATTENTION_SKIP_CUDA_BUILD";
/// Local version label of the built wheel.
pub const FLASH_ATTN_LOCAL_VERSION: &str = "FLASH_ATTN_LOCAL_VERSION";

/// Set by GitHub Actions.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
pub const GITHUB_ENV: &str = "GITHUB_ENV";
