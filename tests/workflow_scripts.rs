//! The reusable workflow's scripts, run as its steps run them (bash, a clean
//! environment, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files):
//! - `action/plan-matrix.sh` with the real `wheelwright plan --matrix`: what a
//!   pull request builds (one smoke cell, none, all), what a tag or a dispatch
//!   builds (every cell), the cells and the ones left out with why in the
//!   summary;
//! - `action/cell-venv.sh` with the real pip and a fake torch served by a local
//!   index: two cells of one venv at once on one host (one makes it, at its
//!   final path, the other waits), a half-made venv made again, and a cell whose
//!   torch has another C++ ABI refused.
//!
//! tests/executor.rs runs both inside the workflow under nektos/act.

mod common;
// fake_runner includes two files of common/ itself: the same code twice, harmless.
#[allow(clippy::duplicate_mod)]
mod fake_runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fake_runner::{parse_env_file, HttpServer, RecordingWheelwright};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct StepRun {
    out: Output,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl StepRun {
    fn text(&self) -> String {
        common::both(&self.out)
    }
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
}

/// Run `action/<script>` in `dir` with `env` as a workflow step does.
fn step(dir: &Path, script: &str, env: &[(&str, String)]) -> std::process::Child {
    let n = std::fs::read_dir(dir).unwrap().count();
    let output = dir.join(format!("output-{n}"));
    let summary = dir.join(format!("summary-{n}"));
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(repo().join("action").join(script))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child, dir: &Path, n: usize) -> StepRun {
    let out = child.wait_with_output().unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(format!("{name}-{n}"))).unwrap();
    StepRun {
        outputs: parse_env_file(&read("output")),
        summary: read("summary"),
        out,
    }
}

fn run(dir: &Path, script: &str, env: &[(&str, String)]) -> StepRun {
    let n = std::fs::read_dir(dir).unwrap().count();
    finish(step(dir, script, env), dir, n)
}

fn plan(dir: &Path, event: &str, pull_request: &str, extra: &[(&str, &str)]) -> StepRun {
    let mut env = vec![
        ("WHEELWRIGHT", env!("CARGO_BIN_EXE_wheelwright").to_string()),
        ("WW_EVENT", event.to_string()),
        ("WW_PULL_REQUEST", pull_request.to_string()),
        ("WW_PYTHON", "3.12".to_string()),
        ("WW_TORCH", "2.8,2.9".to_string()),
        ("WW_CUDA", "12.8".to_string()),
        ("WW_ARCHS", "90".to_string()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k, v.to_string()));
    }
    run(dir, "plan-matrix.sh", &env)
}

fn cells(run: &StepRun) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_str(&run.outputs["matrix"]).unwrap();
    m["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Item 8: a pull request builds one smoke cell (or none, or all, as asked);
/// a tag or a dispatch builds every cell.
#[test]
fn a_pull_request_builds_one_smoke_cell_and_a_tag_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let all = [
        "py3.12 torch2.8 cu12.8 abiTRUE",
        "py3.12 torch2.9 cu12.8 abiTRUE",
    ];

    let r = plan(dir.path(), "push", "smoke", &[]);
    assert_eq!(r.code(), 0, "{}", r.text());
    assert_eq!(cells(&r), all);
    assert_eq!(r.outputs["cells"], "2");
    // The summary shows the plan: each cell, its runner labels, archs, wheel.
    assert!(
        r.summary.contains("### wheelwright plan: 2 cells"),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains(
            "| `py3.12 torch2.8 cu12.8 abiTRUE` | `self-hosted, linux, x64, cuda-12.8` | `90` | `flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl` |"
        ),
        "{}",
        r.summary
    );

    let r = plan(dir.path(), "pull_request", "smoke", &[]);
    assert_eq!(cells(&r), all[..1]);
    assert!(
        r.summary.contains("a pull request builds the first cell"),
        "{}",
        r.summary
    );
    let r = plan(dir.path(), "pull_request", "None", &[]);
    assert_eq!(cells(&r), Vec::<String>::new());
    assert_eq!(r.outputs["cells"], "0", "the build job is skipped");
    let r = plan(dir.path(), "pull_request", "all", &[]);
    assert_eq!(cells(&r), all);
    let r = plan(dir.path(), "workflow_dispatch", "smoke", &[]);
    assert_eq!(cells(&r), all);

    let r = plan(dir.path(), "pull_request", "some", &[]);
    assert_eq!(r.code(), 2);
    assert!(
        r.text().contains("pull-request must be smoke, none or all"),
        "{}",
        r.text()
    );
}

/// Item 5 (the workflow's half): cells left out are in the summary with why,
/// also when none is left; a matrix given as input is used as is.
#[test]
fn the_summary_says_why_cells_were_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let r = plan(
        dir.path(),
        "push",
        "smoke",
        &[("WW_TORCH", "2.6,2.8"), ("WW_CUDA", "12.4,12.8")],
    );
    assert_eq!(r.code(), 0, "{}", r.text());
    assert!(r.summary.contains("Left out:"), "{}", r.summary);
    assert!(
        r.summary
            .contains("python 3.12 torch 2.8 cuda 12.4: PyTorch publishes torch 2.8 for CUDA"),
        "{}",
        r.summary
    );
    // Nothing left to build: the planner's refusal and its reasons.
    let r = plan(dir.path(), "push", "smoke", &[("WW_CUDA", "12.2")]);
    assert_eq!(r.code(), 2, "{}", r.text());
    assert!(
        r.summary.contains("### wheelwright plan: no matrix"),
        "{}",
        r.summary
    );
    assert!(r.summary.contains("hint:"), "{}", r.summary);

    let given = r#"{"include":[{"name":"a","python":"3.12"},{"name":"b","python":"3.12"}]}"#;
    let r = plan(dir.path(), "pull_request", "smoke", &[("WW_MATRIX", given)]);
    assert_eq!(r.code(), 0, "{}", r.text());
    assert_eq!(cells(&r), ["a"]);
    let r = plan(dir.path(), "push", "smoke", &[("WW_MATRIX", "{not json")]);
    assert_eq!(r.code(), 2, "{}", r.text());
}

/// `python3.X` for this host's python3 in `bin/`, and the step's variables.
fn venv_env(
    dir: &Path,
    index: &str,
    abi: &str,
    ww: &RecordingWheelwright,
) -> Vec<(&'static str, String)> {
    let out = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let py = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = common::on_path("python3").unwrap();
    let link = bin.join(format!("python{py}"));
    if !link.exists() {
        std::os::unix::fs::symlink(real, link).unwrap();
    }
    vec![
        (
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
        (
            "RUNNER_TOOL_CACHE",
            dir.join("tool-cache").display().to_string(),
        ),
        ("WHEELWRIGHT", ww.path.display().to_string()),
        ("WW_PYTHON_VERSION", py),
        ("WW_TORCH_VERSION", "2.10.0".into()),
        (
            "WW_TORCH_INDEX",
            "https://download.pytorch.org/whl/cu130".into(),
        ),
        ("WW_TORCH_INDEX_BASE", index.to_string()),
        ("WW_CXX11_ABI", abi.into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK", "1".into()),
    ]
}

/// One cell's venv step on a host of its own: a local index serving the
/// fake torch 2.10.0+cu130 (C++11 ABI), a recording `wheelwright` for
/// `setup`, and the step's variables for a cell of C++ ABI `abi`.
struct VenvCell {
    dir: tempfile::TempDir,
    steps: PathBuf,
    ww: RecordingWheelwright,
    env: Vec<(&'static str, String)>,
    _server: HttpServer,
}

impl VenvCell {
    fn new(abi: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let steps = dir.path().join("steps");
        std::fs::create_dir_all(&steps).unwrap();
        let served = dir.path().join("served");
        common::fake_torch::fake_torch(&served.join("cu130/torch"), "2.10.0+cu130", "13.0", true);
        let server = HttpServer::serve(&served);
        let ww = RecordingWheelwright::new(dir.path());
        let env = venv_env(dir.path(), &server.url, abi, &ww);
        VenvCell {
            dir,
            steps,
            ww,
            env,
            _server: server,
        }
    }
}

/// Item 2: concurrent cells on one host make their venv once, under a lock,
/// at its final path (the scripts' shebangs name it), keyed by the ABI.
#[test]
fn two_cells_at_once_make_one_venv_at_its_final_path_under_a_lock() {
    let Some(_) = common::required(common::python_with_pip(), "python3 with pip") else {
        return;
    };
    let VenvCell {
        dir,
        steps,
        ww,
        env,
        _server: _serving, // served until the test ends
    } = VenvCell::new("TRUE");

    let first = step(&steps, "cell-venv.sh", &env);
    let second = step(&steps, "cell-venv.sh", &env);
    let runs = [finish(first, &steps, 0), finish(second, &steps, 2)];
    let venv = dir.path().join(format!(
        "tool-cache/wheelwright/venvs/py{}-torch2.10.0-cu130-abitrue",
        env[3].1
    ));
    let made: usize = runs
        .iter()
        .map(|r| r.text().matches("wheelwright venv: making").count())
        .sum();
    for r in &runs {
        assert_eq!(r.code(), 0, "{}", r.text());
        assert_eq!(
            r.outputs["python"],
            format!("{}/bin/python", venv.display())
        );
    }
    assert_eq!(made, 1, "{}\n{}", runs[0].text(), runs[1].text());
    assert!(venv.join(".wheelwright-ready").is_file());
    let pip = std::fs::read_to_string(venv.join("bin/pip")).unwrap();
    assert!(
        pip.starts_with(&format!("#!{}/bin/python", venv.display())),
        "{pip}"
    );
    // `wheelwright setup` ran for each cell, in the venv, under the lock.
    let setups: Vec<_> = ww.calls().into_iter().filter(|c| c[0] == "setup").collect();
    assert_eq!(setups.len(), 2);
    assert_eq!(
        setups[0],
        [
            "setup",
            "--python",
            &format!("{}/bin/python", venv.display())
        ]
    );

    // A venv a killed job left half made (no ready mark) is made again.
    std::fs::remove_file(venv.join(".wheelwright-ready")).unwrap();
    let r = run(&steps, "cell-venv.sh", &env);
    assert_eq!(r.code(), 0, "{}", r.text());
    assert!(r.text().contains("was left half made"), "{}", r.text());
}

/// Item 2: a cell whose torch was built with another C++ ABI is refused,
/// naming both and what to do.
#[test]
fn a_cell_whose_torch_has_another_abi_is_refused() {
    let Some(_) = common::required(common::python_with_pip(), "python3 with pip") else {
        return;
    };
    let cell = VenvCell::new("FALSE");
    let (steps, ww) = (&cell.steps, &cell.ww);
    let r = run(steps, "cell-venv.sh", &cell.env);
    assert_eq!(r.code(), 2, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains(
            "::error title=wheelwright venv::this cell asks for cxx11-abi FALSE, but torch 2.10.0"
        ),
        "{text}"
    );
    assert!(text.contains("was built with cxx11-abi TRUE"), "{text}");
    assert!(
        text.contains("hint: PyPI's torch <= 2.6 ships only the old ABI"),
        "{text}"
    );
    assert!(!r.outputs.contains_key("python"));
    assert!(ww.calls().is_empty(), "no setup for a refused cell");

    // Bad cells never reach pip.
    let mut env = cell.env.clone();
    env.retain(|(k, _)| *k != "WW_TORCH_VERSION");
    env.push(("WW_TORCH_VERSION", "2.10; rm -rf /".into()));
    let r = run(steps, "cell-venv.sh", &env);
    assert_eq!(r.code(), 2, "{}", r.text());
}
