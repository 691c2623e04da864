//! A fake `torch` for the fleet tests (tests/executor.rs,
//! tests/workflow_scripts.rs): a real wheel, `torch-<version>-py3-none-any.whl`,
//! whose module answers what wheelwright's probe, the workflow's venv step and
//! the verify script ask (`__version__`, `version.cuda`,
//! `_C._GLIBCXX_USE_CXX11_ABI`, `cuda.is_available()` = False), put where a
//! PEP 503 index serves it (`<index>/<flavour>/torch/`).

use std::path::Path;
use std::process::Command;

/// Write the fake torch `version` (`2.9.1+cu130`) built for `cuda` with C++
/// ABI `abi` into `dir` (a project folder of an index: `.../cu130/torch`).
pub fn fake_torch(dir: &Path, version: &str, cuda: &str, abi: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let module = format!(
        "__version__ = {version:?}\nclass version:\n    cuda = {cuda:?}\nclass _C:\n    _GLIBCXX_USE_CXX11_ABI = {}\nclass cuda:\n    @staticmethod\n    def is_available():\n        return False\n",
        if abi { "True" } else { "False" }
    );
    super::run_ok(
        Command::new("python3")
            .arg(super::fixture("fleet/make_wheel.py"))
            .arg(dir)
            .args(["torch", version])
            .arg(format!("torch/__init__.py={module}")),
    );
}
