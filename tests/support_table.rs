//! The support table is generated from the committed registry snapshot by
//! `scripts/refresh-support-table.py`: its `--check` passes on the committed
//! files and fails, with a hint, when the snapshot changes and the table does
//! not; and the table reaches the newest torch PyPI serves in the snapshot
//! (`plan --matrix --torch 2.13` and `2.15` plan; issue 27 item 9). The
//! table's rows against the snapshot, field by field, and its invariants are
//! checked in `wheelwright-base` (`support::tests`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{expect_code, on_path, required, TestContext};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const SCRIPT: &str = "scripts/refresh-support-table.py";
const SNAPSHOT: &str = "crates/wheelwright-base/src/support/registry.json";
const TABLE: &str = "crates/wheelwright-base/src/support/torch_releases.in";

#[test]
fn the_committed_table_is_what_the_script_makes_of_the_snapshot() {
    let Some(python) = required(on_path("python3"), "python3") else {
        return;
    };
    let out = Command::new(&python)
        .arg(repo().join(SCRIPT))
        .arg("--check")
        .output()
        .unwrap();
    expect_code(&out, 0);

    // A copy of the three files, the snapshot given a new torch: --check fails
    // and says what to run; regenerating makes the row.
    let ctx = TestContext::new();
    let root = ctx.path().join("repo");
    for rel in [SCRIPT, SNAPSHOT, TABLE] {
        std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(repo().join(rel), root.join(rel)).unwrap();
    }
    let mut snap: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(SNAPSHOT)).unwrap()).unwrap();
    for p in ["3.11", "3.12"] {
        snap["pypi"]["versions_by_python"][p]
            .as_array_mut()
            .unwrap()
            .insert(0, "2.99.0".into());
    }
    std::fs::write(root.join(SNAPSHOT), snap.to_string()).unwrap();
    let check = || {
        Command::new(&python)
            .arg(root.join(SCRIPT))
            .arg("--check")
            .output()
            .unwrap()
    };
    // PyPI has it, the snapshot names no CUDA variant of it: refused, saying why.
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("torch 2.99.0 is on PyPI but the snapshot names no CUDA variant"),
        "{err}"
    );
    snap["pytorch_index"]["variants_by_version"]["2.99.0"] =
        serde_json::json!({"cuda": ["13.2"], "source": "test"});
    std::fs::write(root.join(SNAPSHOT), snap.to_string()).unwrap();
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("hint: run scripts/refresh-support-table.py"),
        "{err}"
    );
    let out = Command::new(&python)
        .arg(root.join(SCRIPT))
        .output()
        .unwrap();
    expect_code(&out, 0);
    let table = std::fs::read_to_string(root.join(TABLE)).unwrap();
    assert!(
        table.contains("minor: \"2.99\",\n        version: \"2.99.0\",\n        python: (\"3.11\", \"3.12\"),\n        cuda: &[\"13.2\"],"),
        "{table}"
    );
    expect_code(&check(), 0);
}

/// Issue 27 item 9: `plan --matrix --torch 2.13` failed (the table stopped at
/// 2.11); the newest minors plan with their own Python and CUDA ranges.
#[test]
fn the_matrix_plans_the_newest_torch_releases() {
    let ctx = TestContext::new();
    let run = |args: &[&str]| {
        let out = ctx
            .wheelwright()
            .args(["plan", "--matrix"])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), common::both(&out))
    };
    let (code, text) = run(&["--torch", "2.13", "--cuda", "13.2", "--python", "3.12"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"torch-version\":\"2.13.0\""), "{text}");
    assert!(text.contains("\"torch-cuda\":\"13.2\""), "{text}");
    // 2.15: Python 3.11-3.15 on PyPI, no CUDA 12 variant.
    let (code, text) = run(&[
        "--torch",
        "2.15",
        "--cuda",
        "12.9,13.2",
        "--python",
        "3.10,3.15",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"torch-version\":\"2.15.0\""), "{text}");
    assert!(text.contains("cp315"), "{text}");
    assert!(!text.contains("cp310-cp310"), "{text}");
    assert!(text.contains("3 combinations left out"), "{text}");
}
