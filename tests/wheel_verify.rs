//! `wheelwright wheel verify`, the GPU runner's half of a split build, on
//! real wheels: shared objects compiled here by real nvcc (PyPI's
//! `nvidia-cuda-nvcc`, `WHEELWRIGHT_TEST_NVCC`) for the archs each test
//! names, packed by the real `wheel pack`, checked against the GPU of the
//! project's H100 box as its captured `nvidia-smi` output describes it
//! (`tests/fixtures/hosts/h100-cuda13.0`, no NVML), and imported by real
//! Python from a venv the real pip installed the wheel into.
//!
//! Tools: nvcc, `python3` with the `wheel` package and a pip that takes
//! `--python` (22.3+). `.ci/run` installs them; when `CI` is set a missing
//! tool fails the test instead of skipping it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::device_code::{nvcc_so, test_nvcc};
use common::h100_host::h100;
use common::{expect_code, on_path, run_ok, TestContext};
use serde_json::Value;

struct Tools {
    nvcc: PathBuf,
    python: PathBuf,
}

fn tools() -> Option<Tools> {
    let found = (|| -> Result<Tools, String> {
        let nvcc = test_nvcc().ok_or("no nvcc (set WHEELWRIGHT_TEST_NVCC or put nvcc on PATH)")?;
        let python = on_path("python3").ok_or("no python3 on PATH")?;
        let ok = Command::new(&python)
            .args(["-m", "wheel", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return Err(format!("{} has no `wheel` package", python.display()));
        }
        Ok(Tools { nvcc, python })
    })();
    match found {
        Ok(t) => Some(t),
        Err(why) => {
            common::prerequisite_missing(&format!("a real tool for the wheel verify tests: {why}"));
            None
        }
    }
}

/// `kpkg-1.0`: `kpkg/__init__.py` loading `kpkg/libk.so` (the device code
/// of `gencodes`) through ctypes, packed by `wheel pack`.
fn kpkg(t: &Tools, dir: &Path, gencodes: &[&str]) -> PathBuf {
    let so = nvcc_so(&t.nvcc, &dir.join("obj"), "libk.so", gencodes, &[]);
    let tree = dir.join("tree");
    let pkg = tree.join("kpkg");
    let info = tree.join("kpkg-1.0.dist-info");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::create_dir_all(&info).unwrap();
    std::fs::copy(&so, pkg.join("libk.so")).unwrap();
    std::fs::write(
        pkg.join("__init__.py"),
        "import ctypes, os\nlib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), 'libk.so'))\nlaunch = lib.launch\n",
    )
    .unwrap();
    std::fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: kpkg\nVersion: 1.0\n",
    )
    .unwrap();
    std::fs::write(
        info.join("WHEEL"),
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-linux_x86_64\n",
    )
    .unwrap();
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    run_ok(
        Command::new(&t.python)
            .args(["-m", "wheel", "pack"])
            .arg(&tree)
            .arg("-d")
            .arg(&dist),
    );
    dist.join("kpkg-1.0-py3-none-linux_x86_64.whl")
}

/// `wheel verify --json ARGS` on the H100 box's GPU, expecting `code`.
fn verify(ctx: &TestContext, args: &[&str], code: i32) -> Value {
    let out = ctx
        .wheelwright()
        .args(["wheel", "verify", "--json"])
        .args(args)
        .env("WHEELWRIGHT_NVML", "off")
        .output()
        .unwrap();
    serde_json::from_str(&expect_code(&out, code)).unwrap()
}

fn ids(run: &Value) -> Vec<String> {
    run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn device_code_is_matched_to_the_gpu_here() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    h100().nvidia_smi(&ctx.bin);

    // sm_80 only: no SASS of major 9 and no PTX, so nothing runs on the H100.
    let only_80 = kpkg(&t, &ctx.path().join("80"), &["arch=compute_80,code=sm_80"]);
    let run = verify(&ctx, &[only_80.to_str().unwrap()], 1);
    assert_eq!(run["passed"], false);
    assert_eq!(run["gpus"][0]["compute_capability"], "9.0");
    assert_eq!(run["gpus"][0]["name"], "NVIDIA H100 80GB HBM3");
    let fit = &run["binaries"][0]["gpus"][0];
    assert_eq!(fit["gpu"], "sm_90");
    assert_eq!(fit["sass"], serde_json::json!([]));
    assert_eq!(ids(&run), ["gpu-cannot-run"]);
    // The wheel check itself passed: only the GPU refuses it.
    assert_eq!(run["check"]["wheels"][0]["passed"], true, "{run}");
    let out = ctx
        .wheelwright()
        .args(["wheel", "verify"])
        .arg(&only_80)
        .env("WHEELWRIGHT_NVML", "off")
        .output()
        .unwrap();
    let text = expect_code(&out, 1);
    assert!(text.contains("kpkg/libk.so on sm_90: CANNOT RUN"), "{text}");
    assert!(text.contains("fix: build the cell with sm_90"), "{text}");

    // The same with PTX for 8.0: the driver compiles it for 9.0.
    let with_ptx = kpkg(
        &t,
        &ctx.path().join("80ptx"),
        &["arch=compute_80,code=[sm_80,compute_80]"],
    );
    let run = verify(&ctx, &[with_ptx.to_str().unwrap()], 0);
    let fit = &run["binaries"][0]["gpus"][0];
    assert_eq!(fit["ptx"], serde_json::json!(["compute_80"]));
    assert_eq!(fit["sass"], serde_json::json!([]));

    // sm_90a SASS runs on 9.0; the required archs still apply.
    let a90 = kpkg(
        &t,
        &ctx.path().join("90a"),
        &["arch=compute_90a,code=sm_90a"],
    );
    let w = a90.to_str().unwrap();
    let run = verify(&ctx, &[w], 0);
    assert_eq!(
        run["binaries"][0]["gpus"][0]["sass"],
        serde_json::json!(["sm_90a"])
    );
    let run = verify(&ctx, &[w, "--require-archs", "80;90"], 1);
    assert_eq!(run["check"]["wheels"][0]["passed"], false);
    assert!(ids(&run).is_empty(), "{run}");
}

#[test]
fn no_gpu_is_the_wrong_runner() {
    let ctx = TestContext::new();
    // No nvidia-smi on PATH and NVML off: a GPU-less runner. The wheel is
    // never opened (GPUs are looked for first), so any path shows it.
    let out = ctx
        .wheelwright()
        .args(["wheel", "verify", "some-1.0-py3-none-any.whl"])
        .env("WHEELWRIGHT_NVML", "off")
        .output()
        .unwrap();
    let err = expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
    assert!(stderr.contains("no GPU was detected"), "{stderr}");
    assert!(
        stderr.contains("hint: run `wheel verify` on a runner with an NVIDIA GPU"),
        "{stderr}"
    );
    // A bad module name is refused before anything runs.
    h100().nvidia_smi(&ctx.bin);
    let out = ctx
        .wheelwright()
        .args([
            "wheel",
            "verify",
            "x-1.0-py3-none-any.whl",
            "--module",
            "os;import sys",
        ])
        .env("WHEELWRIGHT_NVML", "off")
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a Python module name"));
}

#[test]
fn import_proves_the_installed_wheel_loads_in_that_environment() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    h100().nvidia_smi(&ctx.bin);
    let wheel = kpkg(&t, ctx.path(), &["arch=compute_90,code=sm_90"]);
    let w = wheel.to_str().unwrap();
    let venv = ctx.path().join("venv");
    run_ok(
        Command::new(&t.python)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    let py = venv.join("bin/python");
    let p = py.to_str().unwrap();

    // Not installed there yet: refused, and the import fails.
    let run = verify(&ctx, &[w, "--import", "--python", p], 1);
    assert_eq!(ids(&run), ["wheel-not-installed", "import-failed"], "{run}");
    assert!(run["import"]["modules"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("ModuleNotFoundError"));

    // The real pip installs it; the package (and its libk.so) loads.
    run_ok(
        Command::new(&t.python)
            .args([
                "-m",
                "pip",
                "--python",
                p,
                "install",
                "--quiet",
                "--no-deps",
            ])
            .arg(&wheel)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
    );
    let run = verify(&ctx, &[w, "--import", "--python", p], 0);
    assert_eq!(run["import"]["installed_version"], "1.0");
    let modules = run["import"]["modules"].as_array().unwrap();
    assert_eq!(
        modules.len(),
        1,
        "libk.so is a library, not a module: {run}"
    );
    assert_eq!(modules[0]["name"], "kpkg");
    assert_eq!(modules[0]["ok"], true);
    assert!(modules[0]["file"]
        .as_str()
        .unwrap()
        .starts_with(venv.to_str().unwrap()));

    // A module the wheel does not have: named, imported, failed.
    let run = verify(&ctx, &[w, "--module", "kpkg._missing", "--python", p], 1);
    assert_eq!(ids(&run), ["import-failed"]);
}
