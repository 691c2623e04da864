//! Real device code for the tests that read it (`wheel check`, the
//! prebuilt-wheel check of `build --prefer-prebuilt`): the test's nvcc
//! (`WHEELWRIGHT_TEST_NVCC`, which `.ci/run` points at PyPI's CUDA 13 nvcc,
//! else `nvcc` on PATH) and a small kernel compiled into a shared object for
//! the `-gencode`s a test asks for.

use std::path::{Path, PathBuf};
use std::process::Command;

use wheelwright_core::env_vars;

/// The kernel every test shared object holds.
const KERNEL: &str = r#"
__global__ void add(float* a, const float* b, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) a[i] += b[i];
}
extern "C" int launch(float* a, const float* b, int n) {
  add<<<(n + 255) / 256, 256>>>(a, b, n);
  return 0;
}
"#;

/// `WHEELWRIGHT_TEST_NVCC`, else `nvcc` on PATH.
pub fn test_nvcc() -> Option<PathBuf> {
    std::env::var_os(env_vars::WHEELWRIGHT_TEST_NVCC)
        .map(PathBuf::from)
        .or_else(|| super::on_path("nvcc"))
}

/// Compile the test kernel into `dir/name`, a shared object with these
/// `-gencode`s and `extra` arguments.
pub fn nvcc_so(nvcc: &Path, dir: &Path, name: &str, gencodes: &[&str], extra: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join("kernel.cu");
    std::fs::write(&src, KERNEL).unwrap();
    let out = dir.join(name);
    let mut cmd = Command::new(nvcc);
    cmd.args(["-shared", "-Xcompiler", "-fPIC", "-o"])
        .arg(&out)
        .arg(&src)
        .args(extra);
    for g in gencodes {
        cmd.args(["-gencode", g]);
    }
    super::run_ok(&mut cmd);
    out
}
