//! A matrix cell's wheel, as issue 27 asks for it (the fleet path):
//! - the C++ ABI axis: `build --cxx11-abi` refuses a torch of the other ABI
//!   before anything compiles; `wheel check` reads the ABI from real g++
//!   shared objects (`-D_GLIBCXX_USE_CXX11_ABI=0` and `=1`) and fails a
//!   wheel whose label names the other one;
//! - the torch pin: the built wheel requires `torch==X.Y.*` of the torch it
//!   was built against, and real pip (and uv, where installed) refuse to
//!   install it with another torch minor from a local index of two fake
//!   torches;
//! - reproducible bytes: the same build twice gives the same wheel sha256,
//!   though the (fake) backend stamps its zip with the time of the build.
//!
//! The builds run the fake package on the H100's captured host
//! (`tests/fixtures/fakepkg`, `tests/common/h100_host.rs`); the tools are
//! real: `g++`, `python3` with pip (its `venv`), and `uv` when on PATH.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fake_torch::fake_torch;
use common::fakepkg_cell::{read_member, sha256, Cell};
use common::{both, expect_code, finding, fixture, on_path, python_with_pip, run_ok, TestContext};
use serde_json::Value;

macro_rules! require {
    ($tool:expr, $what:expr) => {
        match common::required($tool, $what) {
            Some(t) => t,
            None => return,
        }
    };
}

#[test]
fn a_cell_whose_torch_has_the_other_abi_is_refused_before_compiling() {
    let python = require!(python_with_pip(), "python3 with pip");
    let cell = Cell::new(python);
    let out = cell
        .command()
        .args(["--cxx11-abi", "false"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "this build asks for cxx11abiFALSE, but torch 2.11.0+cu130 was built with cxx11abiTRUE"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: PyPI's torch <= 2.6"), "{stderr}");
    // Nothing compiled: the fake build never ran.
    assert!(!cell.build.state.join("attempts").exists());

    // A bad value is a usage error too.
    let out = cell
        .command()
        .args(["--cxx11-abi", "maybe"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(both(&out).contains("is not a C++ ABI"), "{}", both(&out));
}

#[test]
fn the_wheel_pins_its_torch_and_its_bytes_repeat() {
    let python = require!(python_with_pip(), "python3 with pip");
    let cell = Cell::new(python.clone());
    let out = cell
        .command()
        .args(["--cxx11-abi", "TRUE"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let (wheel, first_sha) = cell.wheel();
    assert_eq!(sha256(&wheel), first_sha);
    let metadata = read_member(&python, &wheel, ".dist-info/METADATA");
    assert!(
        metadata.contains("Requires-Dist: torch==2.11.*\n"),
        "{metadata}"
    );
    assert!(!metadata.contains("Requires-Dist: torch\n"), "{metadata}");
    assert!(metadata.contains("Requires-Dist: einops\n"), "{metadata}");
    // The rewritten wheel is whole: its RECORD matches (wheel check passes).
    let check = cell
        .ctx
        .wheelwright()
        .args(["wheel", "check", "--json"])
        .arg(&wheel)
        .output()
        .unwrap();
    let check: Value = serde_json::from_str(&expect_code(&check, 0)).unwrap();
    assert_eq!(check["wheels"][0]["passed"], true, "{check}");
    let pip_wheel = cell
        .ctx
        .path()
        .join("work/dist")
        .join(wheel.file_name().unwrap());
    let first_pip = std::fs::read(&pip_wheel).unwrap();

    // The same cell again, a few seconds later: the backend's zip differs
    // (its timestamps), the wheel wheelwright records does not.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    std::fs::remove_file(cell.build.state.join("attempts")).unwrap();
    let out = cell
        .command()
        .args(["--cxx11-abi", "true"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let (again, second_sha) = cell.wheel();
    assert_ne!(
        std::fs::read(&pip_wheel).unwrap(),
        first_pip,
        "the fake backend's zips should differ"
    );
    assert_eq!(again.file_name(), wheel.file_name());
    assert_eq!(second_sha, first_sha, "same inputs, other wheel bytes");

    // Off: pip's wheel as it is, torch unpinned.
    let out = cell.command().arg("--no-torch-pin").output().unwrap();
    expect_code(&out, 0);
    let (plain, _) = cell.wheel();
    let metadata = read_member(&python, &plain, ".dist-info/METADATA");
    assert!(metadata.contains("Requires-Dist: torch\n"), "{metadata}");
}

#[test]
fn pip_and_uv_refuse_the_pinned_wheel_with_another_torch_minor() {
    let python = require!(python_with_pip(), "python3 with pip");
    let cell = Cell::new(python.clone());
    expect_code(&cell.command().output().unwrap(), 0);
    let (wheel, _) = cell.wheel();

    // A local index: the wheel and two torches of two minors, ABI alike.
    let index = cell.ctx.path().join("index");
    std::fs::create_dir_all(&index).unwrap();
    std::fs::copy(&wheel, index.join(wheel.file_name().unwrap())).unwrap();
    fake_torch(&index, "2.11.0", "13.0", true);
    fake_torch(&index, "2.10.0", "13.0", true);
    // flash-attn's other requirement.
    run_ok(
        Command::new(&python)
            .arg(fixture("fleet/make_wheel.py"))
            .arg(&index)
            .args(["einops", "0.8.1"]),
    );
    let venv = cell.ctx.path().join("venv-pip");
    run_ok(Command::new(&python).args(["-m", "venv"]).arg(&venv));
    let pip = |extra: &[&str]| {
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
        ])
        .arg(&index)
        .arg("flash_attn")
        .args(extra);
        cmd.output().unwrap()
    };
    let refused = pip(&["torch==2.10.0"]);
    assert!(!refused.status.success(), "{}", both(&refused));
    let text = both(&refused);
    assert!(
        text.contains("torch==2.11.*") && text.contains("ResolutionImpossible"),
        "{text}"
    );
    let paired = pip(&[]);
    assert!(paired.status.success(), "{}", both(&paired));
    let listed = run_ok(Command::new(venv.join("bin/python")).args([
        "-m",
        "pip",
        "list",
        "--format=freeze",
    ]));
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("torch==2.11.0"), "{listed}");

    match on_path("uv") {
        Some(uv) => {
            let venv = cell.ctx.path().join("venv-uv");
            run_ok(Command::new(&python).args(["-m", "venv"]).arg(&venv));
            let out = Command::new(uv)
                .args(["pip", "install", "--offline", "--no-index", "--find-links"])
                .arg(&index)
                .arg("--python")
                .arg(venv.join("bin/python"))
                .args(["flash_attn", "torch==2.10.0"])
                .output()
                .unwrap();
            assert!(!out.status.success(), "{}", both(&out));
            // uv says the pin its own way: `torch>=2.11.dev0` (and below 2.12).
            let text = both(&out);
            assert!(
                text.contains("flash-attn depend on torch") && text.contains("unsatisfiable"),
                "{text}"
            );
        }
        None => common::prerequisite_missing("uv on PATH (the uv half of the pin test)"),
    }
}

/// A shared object of `source` compiled by the real g++ with
/// `-D_GLIBCXX_USE_CXX11_ABI=<abi>`.
fn gxx_so(dir: &Path, abi: u8) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join("ext.cpp");
    std::fs::write(
        &src,
        "#include <string>\n\
         std::string greet(const std::string& who) { return \"hello \" + who; }\n\
         extern \"C\" int launch() { return (int)greet(\"x\").size(); }\n",
    )
    .unwrap();
    let so = dir.join(format!("ext-abi{abi}.so"));
    run_ok(
        Command::new("g++")
            .args(["-shared", "-fPIC", "-O1"])
            .arg(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
            .arg("-o")
            .arg(&so)
            .arg(&src),
    );
    so
}

/// A wheel `abiext-1.0+<label>` holding `so` as `abiext/_ext.so`.
fn so_wheel(python: &Path, dir: &Path, label: &str, so: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let out = run_ok(
        Command::new(python)
            .arg(fixture("fleet/make_wheel.py"))
            .arg(dir)
            .arg("abiext")
            .arg(format!("1.0+{label}"))
            .arg("abiext/__init__.py=")
            .arg(format!("abiext/_ext.so=@{}", so.display())),
    );
    dir.join(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn wheel_check_reads_the_abi_from_the_symbols_of_real_gxx_objects() {
    let python = require!(python_with_pip(), "python3 with pip");
    require!(on_path("g++"), "g++ on PATH");
    let ctx = TestContext::new();
    let old = gxx_so(&ctx.path().join("old"), 0);
    let new = gxx_so(&ctx.path().join("new"), 1);
    let check = |wheel: &Path, code: i32| -> Value {
        let out = ctx
            .wheelwright()
            .args(["wheel", "check", "--json"])
            .arg(wheel)
            .output()
            .unwrap();
        let v: Value = serde_json::from_str(&expect_code(&out, code)).unwrap();
        v["wheels"][0].clone()
    };
    let ids = |w: &Value| -> Vec<String> {
        w["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };

    // Each ABI, labelled as it is: read, and passed.
    for (so, label, abi) in [
        (&old, "cu12torch2.6cxx11abiFALSE", false),
        (&new, "cu12torch2.8cxx11abiTRUE", true),
    ] {
        let w = check(&so_wheel(&python, &ctx.path().join(label), label, so), 0);
        assert_eq!(w["cxx11_abi"], abi, "{w}");
        let evidence = &w["binaries"][0]["cxx_abi"];
        let (mine, other) = if abi {
            ("new_abi_symbols", "old_abi_symbols")
        } else {
            ("old_abi_symbols", "new_abi_symbols")
        };
        assert!(evidence[mine].as_u64().unwrap() > 0, "{evidence}");
        assert_eq!(evidence[other], 0, "{evidence}");
        assert!(!ids(&w).contains(&"abi-mismatch".to_string()), "{w}");
    }

    // The old-ABI object under a label that says TRUE: the check fails.
    let lying = so_wheel(
        &python,
        &ctx.path().join("lying"),
        "cu12torch2.8cxx11abiTRUE",
        &old,
    );
    let w = check(&lying, 1);
    assert!(ids(&w).contains(&"abi-mismatch".to_string()), "{w}");
    let f = finding(&w, "abi-mismatch");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("abiext/_ext.so say(s) cxx11abiFALSE")
            && message.contains("the wheel's label `cu12torch2.8cxx11abiTRUE` says cxx11abiTRUE"),
        "{message}"
    );
    assert!(f["evidence"][0].as_str().unwrap().contains("Ss"), "{f}");

    // No label: nothing to compare, the ABI is still read.
    let unlabelled = so_wheel(&python, &ctx.path().join("plain"), "local1", &new);
    let w = check(&unlabelled, 0);
    assert_eq!(w["cxx11_abi"], true, "{w}");
}

#[test]
fn build_retags_to_manylinux_and_publish_never_changes_a_wheel() {
    let python = require!(python_with_pip(), "python3 with pip");
    require!(on_path("g++"), "g++ on PATH");
    let cell = Cell::new(python.clone());
    // Without binaries there is no platform to tag: the build fails, saying so.
    let out = cell.command().arg("--manylinux").output().unwrap();
    expect_code(&out, 1);
    let r = cell.report();
    let f = finding(&r, "wheel-not-copied");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("no binaries to tag"),
        "{f}"
    );

    // With a real g++ object: retagged, pinned, recorded as such.
    let so = gxx_so(&cell.ctx.path().join("so"), 1);
    let out = cell
        .command()
        .arg("--manylinux")
        .env("FAKEPKG_SO", &so)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let (wheel, sha) = cell.wheel();
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-py3-none-manylinux_"),
        "{name}"
    );
    let tags = read_member(&python, &wheel, ".dist-info/WHEEL");
    assert!(tags.contains("Tag: py3-none-manylinux_"), "{tags}");
    assert!(!tags.contains("Tag: py3-none-any"), "{tags}");
    let metadata = read_member(&python, &wheel, ".dist-info/METADATA");
    assert!(
        metadata.contains("Requires-Dist: torch==2.11.*"),
        "{metadata}"
    );

    // publish takes it byte for byte; --manylinux there is refused.
    let house = cell.ctx.path().join("house");
    let out = cell
        .ctx
        .wheelwright()
        .args(["publish", "--manylinux", "--wheelhouse"])
        .arg(&house)
        .arg(&wheel)
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("publish never changes a wheel") && stderr.contains("hint:"),
        "{stderr}"
    );
    let out = cell.publish_to_wheelhouse(&house);
    expect_code(&out, 0);
    assert_eq!(sha256(&house.join(&name)), sha);
}
