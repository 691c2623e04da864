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
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix", "--torch", "1.13"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("support table knows") && stderr.contains("hint:"),
        "{stderr}"
    );
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix", "--torch", "2.8", "--cuda", "13.0"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let out = ctx
        .wheelwright()
        .args(["plan", "--python", "3.12"])
        .output()
        .unwrap();
    expect_code(&out, 2);
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
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix", "--github-output"])
        .output()
        .unwrap();
    expect_code(&out, 2);
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
    let out = ctx
        .wheelwright()
        .args([
            "plan",
            "--matrix",
            "--skip-published",
            "/nonexistent/x.json",
        ])
        .output()
        .unwrap();
    expect_code(&out, 2);
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
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix"])
        .args(args)
        .arg(&missing)
        .output()
        .unwrap();
    expect_code(&out, 2);
    drop(server);
    // Nothing listening: refused at once, not a hang.
    let out = ctx
        .wheelwright()
        .args(["plan", "--matrix"])
        .args(args)
        .arg(&url)
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
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

    let out = ctx
        .wheelwright()
        .args([
            "plan", "--matrix", "--python", "3.12", "--torch", "2.7", "--cuda", "12.2",
        ])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(1 left out):"), "{stderr}");
    assert!(
        stderr.contains("  python 3.12 torch 2.7 cuda 12.2: "),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}
