//! `wheelwright plan --matrix`: the GitHub Actions matrix from the support
//! table, its filters, `--github-output`, and `--skip-published` against a
//! wheelhouse directory and a saved release listing.

mod common;

use common::{expect_code, TestContext};
use serde_json::Value;

fn matrix(ctx: &TestContext, args: &[&str]) -> (Value, String) {
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix"])
        .args(args)
        .output()
        .unwrap();
    let stdout = expect_code(&out, 0);
    (
        serde_json::from_str(&stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cells(m: &Value) -> &Vec<Value> {
    m["include"].as_array().unwrap()
}

/// Stderr of a `wheelwright` run that must be a usage error: exit 2 and a
/// `hint:` line.
fn usage_error(ctx: &TestContext, args: &[&str]) -> String {
    let out = ctx.wheelwright().args(args).output().unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("\nhint: ") || stderr.starts_with("hint: "),
        "{stderr}"
    );
    stderr
}

#[test]
fn default_matrix_is_flash_attns_publish_matrix() {
    let ctx = TestContext::new();
    let (m, stderr) = matrix(&ctx, &[]);
    assert_eq!(m.as_object().unwrap().len(), 1, "only `include`: {m}");
    let cells = cells(&m);
    assert!(cells.len() >= 4);
    assert_eq!(cells.len(), 32);
    for c in cells {
        for key in [
            "python",
            "torch",
            "torch-version",
            "cuda",
            "cxx11-abi",
            "archs",
            "variant",
            "wheel",
            "runs-on",
            "torch-index-url",
        ] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
        let wheel = c["wheel"].as_str().unwrap();
        assert!(
            wheel.contains(&format!("+{}-", c["variant"].as_str().unwrap())),
            "{c}"
        );
    }
    assert!(stderr.contains("12 combinations left out"), "{stderr}");
}

#[test]
fn filters_pick_the_axes() {
    let ctx = TestContext::new();
    let (m, _) = matrix(
        &ctx,
        &[
            "--python",
            "3.11,3.12",
            "--torch",
            "2.8,2.9",
            "--cuda",
            "12.8,13.0",
            "--runs-on",
            "gpu",
        ],
    );
    let got: Vec<String> = cells(&m)
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c["python"].as_str().unwrap(),
                c["torch"].as_str().unwrap(),
                c["cuda"].as_str().unwrap(),
                c["variant"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "3.11 2.8 12.8 cu12torch2.8cxx11abiTRUE",
            "3.12 2.8 12.8 cu12torch2.8cxx11abiTRUE",
            "3.11 2.9 12.8 cu12torch2.9cxx11abiTRUE",
            "3.12 2.9 12.8 cu12torch2.9cxx11abiTRUE",
            "3.11 2.9 13.0 cu13torch2.9cxx11abiTRUE",
            "3.12 2.9 13.0 cu13torch2.9cxx11abiTRUE",
        ]
    );
    assert_eq!(
        cells(&m)[0]["runs-on"],
        serde_json::json!(["self-hosted", "linux", "x64", "cuda-12.8", "gpu"])
    );
    // The fleet's archs, not this machine's GPU (it has none).
    let (m, _) = matrix(
        &ctx,
        &[
            "--torch", "2.9", "--cuda", "12.8", "--python", "3.12", "--archs", "80,90",
        ],
    );
    assert_eq!(cells(&m)[0]["archs"], "80;90");
}

#[test]
fn bad_filters_are_usage_errors() {
    let ctx = TestContext::new();
    let stderr = usage_error(&ctx, &["plan", "--matrix", "--torch", "1.13"]);
    assert!(stderr.contains("support table knows"), "{stderr}");
    usage_error(
        &ctx,
        &["plan", "--matrix", "--torch", "2.8", "--cuda", "13.0"],
    );
    usage_error(&ctx, &["plan", "--python", "3.12"]);
}

#[test]
fn github_output_gets_the_matrix() {
    let ctx = TestContext::new();
    let output = ctx.path().join("github_output");
    std::fs::write(&output, "earlier=1\n").unwrap();
    let out = ctx
        .wheelwright()
        .env("GITHUB_OUTPUT", &output)
        .args([
            "plan",
            "--matrix",
            "--github-output",
            "--torch",
            "2.9",
            "--python",
            "3.12",
        ])
        .output()
        .unwrap();
    let stdout = expect_code(&out, 0);
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("earlier=1"));
    let written = lines.next().unwrap().strip_prefix("matrix=").unwrap();
    assert_eq!(written, stdout.trim());
    assert_eq!(lines.next(), None);
    let m: Value = serde_json::from_str(written).unwrap();
    assert_eq!(cells(&m).len(), 2);
    // Without GITHUB_OUTPUT: a usage error, not a silent no-op.
    usage_error(&ctx, &["plan", "--matrix", "--github-output"]);
}

const PUBLISHED: &str = "flash_attn-2.8.3+cu12torch2.9cxx11abiTRUE-cp312-cp312-linux_x86_64.whl";

#[test]
fn skip_published_drops_cells_already_released() {
    let ctx = TestContext::new();
    let args = ["--torch", "2.9", "--cuda", "12.8", "--python", "3.11,3.12"];
    // A wheelhouse directory; pip's lower-cased label still matches.
    let house = ctx.path().join("house");
    std::fs::create_dir_all(&house).unwrap();
    std::fs::write(house.join(PUBLISHED.replace("TRUE", "true")), b"").unwrap();
    let (m, stderr) = matrix(
        &ctx,
        &[&args[..], &["--skip-published", house.to_str().unwrap()]].concat(),
    );
    assert_eq!(cells(&m).len(), 1);
    assert_eq!(cells(&m)[0]["python"], "3.11");
    assert!(
        stderr.contains("1 of 2 cells already published"),
        "{stderr}"
    );
    // GitHub's release JSON, saved to a file.
    let listing = ctx.path().join("release.json");
    std::fs::write(
        &listing,
        format!(r#"{{"tag_name": "v2.8.3", "assets": [{{"name": "{PUBLISHED}", "browser_download_url": "https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/{}"}}]}}"#, PUBLISHED.replace('+', "%2B")),
    )
    .unwrap();
    let (m, _) = matrix(
        &ctx,
        &[&args[..], &["--skip-published", listing.to_str().unwrap()]].concat(),
    );
    assert_eq!(cells(&m).len(), 1);
    // A listing that cannot be read is an error, never a full matrix.
    usage_error(
        &ctx,
        &[
            "plan",
            "--matrix",
            "--skip-published",
            "/nonexistent/x.json",
        ],
    );
}

/// `--skip-published URL`: the release JSON fetched from a local server
/// (`python3 -m http.server`) through the HTTP network layer; a server that
/// is not there is a usage error with a hint, never a full matrix.
#[test]
fn skip_published_fetches_a_url() {
    let Some(python) = common::required(common::on_path("python3"), "python3 on PATH") else {
        return;
    };
    let ctx = TestContext::new();
    let served = ctx.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(
        served.join("release.json"),
        format!(r#"{{"assets": [{{"name": "{PUBLISHED}"}}]}}"#),
    )
    .unwrap();
    let server = common::index_servers::Server::http(&python, &served, ctx.path().join("http.log"));
    let url = format!("{}/release.json", server.url);
    let args = [
        "--torch",
        "2.9",
        "--cuda",
        "12.8",
        "--python",
        "3.11,3.12",
        "--skip-published",
    ];
    let (m, _) = matrix(&ctx, &[&args[..], &[url.as_str()]].concat());
    assert_eq!(cells(&m).len(), 1);
    assert_eq!(cells(&m)[0]["python"], "3.11");
    let missing = format!("{}/nope.json", server.url);
    usage_error(
        &ctx,
        &[&["plan", "--matrix"], &args[..], &[missing.as_str()]].concat(),
    );
    drop(server);
    // Nothing listening: refused at once, not a hang.
    usage_error(
        &ctx,
        &[&["plan", "--matrix"], &args[..], &[url.as_str()]].concat(),
    );
}

/// Issue 27 items 3 and 5 through the CLI: two toolkits of one major give one
/// cell and a note naming the merge; a request nothing is left of says why.
#[test]
fn one_cell_per_wheel_file_and_every_refusal_says_why() {
    let ctx = TestContext::new();
    let (m, stderr) = matrix(
        &ctx,
        &["--python", "3.12", "--torch", "2.8", "--cuda", "12.8,12.9"],
    );
    let got: Vec<&str> = cells(&m)
        .iter()
        .map(|c| c["cuda"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["12.9"]);
    assert!(
        stderr.contains(
            "python 3.12 torch 2.8 cuda 12.8: makes the same wheel file as the CUDA 12.9 cell"
        ),
        "{stderr}"
    );

    let stderr = usage_error(
        &ctx,
        &[
            "plan", "--matrix", "--python", "3.12", "--torch", "2.7", "--cuda", "12.2",
        ],
    );
    assert!(stderr.contains("(1 left out):"), "{stderr}");
    assert!(
        stderr.contains("  python 3.12 torch 2.7 cuda 12.2: "),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// One cell's record, written by the reusable workflow's own script
/// (`action/cell-record.sh`) from the environment its step gives it.
fn record(ctx: &TestContext, dir: &std::path::Path, file: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new("bash");
    ctx.clean_env(&mut cmd)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("action/cell-record.sh"))
        .arg(dir.join(file));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    expect_code(&out, 0)
}

/// Issue 27 item 9: a matrix run ends with one summary across its cells
/// (built, reused, failed, published) in the step summary and the job's
/// outputs, and the failed cells come back as a matrix that runs only them:
/// `plan --matrix --only-failed` prints it, and the reusable workflow's plan
/// script takes it as its `matrix` input.
#[test]
fn matrix_summary_counts_the_cells_and_reruns_only_the_failed_ones() {
    let ctx = TestContext::new();
    let (m, _) = matrix(
        &ctx,
        &[
            "--torch",
            "2.9,2.10",
            "--cuda",
            "13.0",
            "--python",
            "3.11,3.12",
        ],
    );
    let names: Vec<String> = cells(&m)
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 4);
    let dir = ctx.path();
    std::fs::write(dir.join("matrix.json"), m.to_string()).unwrap();
    let records = dir.join("records");
    // One artifact folder per cell, as download-artifact lays them out.
    let said = record(
        &ctx,
        &records.join("wheelwright-cell-0"),
        "0.json",
        &[
            ("WW_CELL_NAME", &names[0]),
            ("WW_JOB_STATUS", "success"),
            ("WW_OUTCOME", "ok"),
            (
                "WW_WHEEL_NAME",
                "flash_attn-2.8.3+a-cp311-cp311-linux_x86_64.whl",
            ),
            ("WW_PUBLISH", "/srv/wheelhouse"),
            (
                "WW_INSTALL_COMMAND",
                "pip install --index-url https://w/a/simple/ flash_attn",
            ),
        ],
    );
    assert!(
        said.contains(&format!("cell {}: built", names[0])),
        "{said}"
    );
    record(
        &ctx,
        &records,
        "1.json",
        &[
            ("WW_CELL_NAME", &names[1]),
            ("WW_JOB_STATUS", "success"),
            ("WW_OUTCOME", "ok"),
            (
                "WW_PREBUILT_URL",
                "https://github.com/Dao-AILab/flash-attention/releases/x.whl",
            ),
            ("WW_PUBLISH", "v1"),
        ],
    );
    let said = record(
        &ctx,
        &records,
        "2.json",
        &[
            ("WW_CELL_NAME", &names[2]),
            ("WW_JOB_STATUS", "failure"),
            ("WW_OUTCOME", "oom-killed"),
            ("WW_PUBLISH", "v1"),
        ],
    );
    assert!(
        said.contains("failed (the build ended oom-killed)"),
        "{said}"
    );
    // names[3]: its job never wrote a record. A record of another run's cell
    // is listed and ignored; a link is not read.
    record(
        &ctx,
        &records,
        "9.json",
        &[
            ("WW_CELL_NAME", "py3.9 torch2.4 old"),
            ("WW_JOB_STATUS", "success"),
            ("WW_OUTCOME", "ok"),
        ],
    );
    std::os::unix::fs::symlink("/etc/passwd", records.join("link.json")).unwrap();

    let output = dir.join("github_output");
    let step_summary = dir.join("step_summary.md");
    let out = ctx
        .wheelwright()
        .args([
            "matrix-summary",
            "--matrix",
            "matrix.json",
            "--records",
            "records",
            "--github-output",
        ])
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .output()
        .unwrap();
    let stdout = expect_code(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("4 cells: 1 built, 1 reused, 2 failed; 2 published"),
        "{stderr}"
    );
    std::fs::write(dir.join("summary.json"), &stdout).unwrap();
    let s: Value = serde_json::from_str(&stdout).unwrap();
    let outcomes: Vec<&str> = s["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["built", "reused", "failed", "failed"]);
    assert_eq!(
        s["cells"][3]["detail"].as_str().unwrap(),
        wheelwright_core::plan::matrix::NO_RECORD
    );
    assert_eq!(s["unplanned"], serde_json::json!(["py3.9 torch2.4 old"]));
    let failed: Vec<&Value> = cells(&m).iter().skip(2).collect();
    assert_eq!(
        s["failed-matrix"]["include"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        failed
    );
    let gh = std::fs::read_to_string(&output).unwrap();
    let counts: Value = gh
        .lines()
        .find_map(|l| l.strip_prefix("summary="))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no summary output: {gh}"));
    assert_eq!(
        counts,
        serde_json::json!({"cells": 4, "built": 1, "reused": 1, "failed": 2, "published": 2})
    );
    assert!(gh.contains("failed<<") || gh.contains("failed=2"), "{gh}");
    let md = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        md.contains("### wheelwright matrix: 4 cells: 1 built, 1 reused, 2 failed; 2 published"),
        "{md}"
    );
    assert!(
        md.contains("| oom") || md.contains("the build ended oom-killed"),
        "{md}"
    );
    assert!(md.contains("Run the 2 failed cells again"), "{md}");

    // The failed cells, as plan prints them for a new run...
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix", "--only-failed", "summary.json"])
        .output()
        .unwrap();
    let rerun: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    assert_eq!(
        rerun["include"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        failed
    );
    // ...and as the reusable workflow's plan job takes them (its matrix input).
    let plan_output = dir.join("plan_output");
    let mut cmd = std::process::Command::new("bash");
    ctx.clean_env(&mut cmd)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("action/plan-matrix.sh"))
        .env("WW_MATRIX", rerun.to_string())
        .env("WW_EVENT", "workflow_dispatch")
        .env("GITHUB_OUTPUT", &plan_output)
        .env("GITHUB_STEP_SUMMARY", dir.join("plan_summary.md"));
    expect_code(&cmd.output().unwrap(), 0);
    let planned = std::fs::read_to_string(&plan_output).unwrap();
    assert!(planned.contains("cells=2\n"), "{planned}");

    // A stray file among the records: refused with a hint, exit 2.
    std::fs::write(records.join("junk.json"), "{\"name\": 3}").unwrap();
    let stderr = usage_error(
        &ctx,
        &[
            "matrix-summary",
            "--matrix",
            "matrix.json",
            "--records",
            "records",
        ],
    );
    assert!(stderr.contains("not a cell record"), "{stderr}");
    let stderr = usage_error(&ctx, &["plan", "--matrix", "--only-failed", "matrix.json"]);
    assert!(stderr.contains("not a matrix summary"), "{stderr}");
}
