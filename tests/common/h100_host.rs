//! The build host of the `wheelwright build` tests (`tests/build.rs`,
//! `tests/repro.rs`, `tests/fault_build/`): the project's real H100 machine
//! as its detect captures describe it (`tests/fixtures/hosts/h100-cuda13.0`),
//! laid out in a test's temp dir so that detect and plan run as on the real
//! box, and the fake package's tree (`tests/fixtures/fakepkg`) to build.
//! Each test brings its own fake interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{copy_tree, fixture, h100_host_config, write_executable, HostCaptures, TestContext};

/// The fake package, `tests/fixtures/fakepkg` (read only).
pub fn fakepkg() -> PathBuf {
    fixture("fakepkg")
}

/// The detect captures of the project's real H100 machine (read only).
pub fn h100() -> HostCaptures {
    HostCaptures::new("h100-cuda13.0")
}

/// Lay out in `ctx` the H100 host: its fixture root at `root/`, its
/// `nvidia-smi` and `gcc-13`/`g++-13` (also as `gcc`/`g++`) in `bin/`, CUDA
/// 13.0 at `cuda-13.0/` and ninja in `venv/bin/`; and a copy of the fake
/// package's tree (`setup.py`, `csrc/`, `flash_attn/`) at `src/fakepkg`,
/// which is returned. Commands that build there want [`on_h100`].
pub fn h100_with_fakepkg(ctx: &TestContext) -> PathBuf {
    let tree = ctx.path().join("src/fakepkg");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::copy(fakepkg().join("setup.py"), tree.join("setup.py")).unwrap();
    copy_tree(&fakepkg().join("csrc"), &tree.join("csrc"));
    copy_tree(&fakepkg().join("flash_attn"), &tree.join("flash_attn"));
    let h100 = h100();
    copy_tree(&h100.file("root"), &ctx.path().join("root"));
    h100.nvidia_smi(&ctx.bin);
    h100.cuda(&ctx.path().join("cuda-13.0"), &h100_host_config());
    for c in ["gcc-13", "g++-13"] {
        h100.compiler(
            &ctx.bin,
            c,
            &format!("{c}-dumpfullversion.txt"),
            &format!("{c}-version.txt"),
        );
    }
    std::os::unix::fs::symlink("gcc-13", ctx.bin.join("gcc")).unwrap();
    std::os::unix::fs::symlink("g++-13", ctx.bin.join("g++")).unwrap();
    h100.ninja(&ctx.path().join("venv/bin"));
    tree
}

/// What [`fakepkg_build`] lays out besides the host.
pub struct FakepkgBuild {
    /// The fake package's tree, `src/fakepkg`.
    pub tree: PathBuf,
    /// The fake package's interpreter, `venv/bin/python`.
    pub python: PathBuf,
    /// Its state dir, `state/` (empty).
    pub state: PathBuf,
}

/// [`h100_with_fakepkg`] with the fake package's own interpreter
/// (`tests/fixtures/fakepkg/fake-python`, as `venv/bin/python`) and an empty
/// state dir for it.
pub fn fakepkg_build(ctx: &TestContext) -> FakepkgBuild {
    let tree = h100_with_fakepkg(ctx);
    let python = write_executable(
        &ctx.path().join("venv/bin/python"),
        &std::fs::read_to_string(fakepkg().join("fake-python")).unwrap(),
    );
    let state = ctx.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    FakepkgBuild {
        tree,
        python,
        state,
    }
}

/// Point `cmd`'s detection at the host [`h100_with_fakepkg`] laid out in
/// `ctx`: no NVML, the fixture root, its CUDA_HOME.
pub fn on_h100<'a>(cmd: &'a mut Command, ctx: &TestContext) -> &'a mut Command {
    cmd.env("WHEELWRIGHT_NVML", "off")
        .env("WHEELWRIGHT_ROOT", ctx.path().join("root"))
        .env("CUDA_HOME", ctx.path().join("cuda-13.0"))
}

/// [`on_h100`] with the variables the fake package's interpreter reads: its
/// fixture dir, the `state` dir it records into, its `mode` (`ok`, `oom`,
/// ...), the real Python it hands `-m venv` and the verify script to, and
/// the H100's torch probe.
pub fn fakepkg_on_h100<'a>(
    cmd: &'a mut Command,
    ctx: &TestContext,
    state: &Path,
    mode: &str,
    real_python: &Path,
) -> &'a mut Command {
    on_h100(cmd, ctx)
        .env("FAKEPKG_DIR", fakepkg())
        .env("FAKEPKG_STATE", state)
        .env("FAKEPKG_MODE", mode)
        .env("FAKEPKG_REAL_PYTHON", real_python)
        .env("FAKEPKG_PROBE_JSON", h100().file("probe.json"))
}

/// `build SPEC --python PYTHON --recipe flash-attn --max-jobs JOBS
/// --nvcc-threads 2`, its work dir `work/` and out dir `out/` in `ctx`: the
/// build of the tests' fake package, added to `cmd`.
pub fn build_args<'a>(
    cmd: &'a mut Command,
    ctx: &TestContext,
    spec: &Path,
    python: &Path,
    max_jobs: &str,
) -> &'a mut Command {
    cmd.arg("build")
        .arg(spec)
        .arg("--python")
        .arg(python)
        .args([
            "--recipe",
            "flash-attn",
            "--max-jobs",
            max_jobs,
            "--nvcc-threads",
            "2",
        ])
        .arg("--work-dir")
        .arg(ctx.path().join("work"))
        .arg("--out")
        .arg(ctx.path().join("out"))
}
