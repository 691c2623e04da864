//! `wheelwright publish` against what it shares and what it reads back:
//! twenty publishes into one wheelhouse at once (the matrix's cells do that),
//! and a `wheelwright-index.json` written by someone else.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::index_servers::make_wheel;
use common::{expect_code, python_with_pip, required, TestContext};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// 20 processes each publish two wheels (two variants) into one wheelhouse,
/// all at once: every one succeeds, and the manifest and every page list all
/// 40 wheels (before the manifest was locked, 3 of 40 were left).
#[test]
fn twenty_concurrent_publishes_into_one_wheelhouse_keep_every_entry() {
    const PROCESSES: usize = 20;
    let Some(python) = required(python_with_pip(), "python3 with pip") else {
        return;
    };
    let ctx = TestContext::new();
    let house = ctx.path().join("house");
    let batches: Vec<[PathBuf; 2]> = (0..PROCESSES)
        .map(|i| {
            let dist = ctx.path().join(format!("dist{i}"));
            [
                make_wheel(
                    &python,
                    &dist,
                    "tinyvar",
                    &format!("1.{i}+cu12torch2.4"),
                    ">=3.8",
                ),
                make_wheel(
                    &python,
                    &dist,
                    "tinyvar",
                    &format!("1.{i}+cu13torch2.11"),
                    ">=3.8",
                ),
            ]
        })
        .collect();
    let children: Vec<_> = batches
        .iter()
        .map(|[a, b]| {
            ctx.wheelwright()
                .args(["publish", s(a), s(b), "--wheelhouse", s(&house), "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
        assert!(
            v["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["status"] == "uploaded"),
            "{v:#}"
        );
    }

    let names: BTreeSet<String> = batches
        .iter()
        .flatten()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2 * PROCESSES);
    let manifest = read_json(&house.join("wheelwright-index.json"));
    let listed: BTreeMap<String, String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed.keys().cloned().collect::<BTreeSet<_>>(),
        names,
        "the manifest lost entries"
    );
    for (file, sha) in &listed {
        let bytes = std::fs::read(house.join(file)).unwrap();
        assert_eq!(&sha256_hex(&bytes), sha, "{file}");
    }
    let page = |rel: &str| std::fs::read_to_string(house.join(rel).join("index.html")).unwrap();
    let all = page("simple/tinyvar");
    let cu12 = page("cu12torch2.4/simple/tinyvar");
    let cu13 = page("cu13torch2.11/simple/tinyvar");
    for name in &names {
        let link = format!(">{name}</a>");
        assert!(all.contains(&link), "{name} missing from simple/");
        let variant = if name.contains("cu12") { &cu12 } else { &cu13 };
        assert!(variant.contains(&link), "{name} missing from its variant");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under `dir` (relative path → bytes; folders as `None`).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                todo.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        match bytes {
            None => std::fs::create_dir_all(to.join(rel)).unwrap(),
            Some(b) => {
                std::fs::create_dir_all(to.join(&rel).parent().unwrap()).unwrap();
                std::fs::write(to.join(rel), b).unwrap();
            }
        }
    }
}

/// A manifest with markup, paths or non-hex digests in its rows (what a
/// shared folder may hold) is refused as a whole before anything is written:
/// exit 2, a hint that says how to restore it, and not one file changed.
#[test]
fn a_hostile_manifest_is_refused_before_anything_is_written() {
    let Some(python) = required(python_with_pip(), "python3 with pip") else {
        return;
    };
    let ctx = TestContext::new();
    let dist = ctx.path().join("dist");
    let first = make_wheel(&python, &dist, "tinyvar", "1.0+cu12torch2.4", ">=3.8");
    let second = make_wheel(&python, &dist, "tinyvar", "2.0+cu12torch2.4", ">=3.8");
    let clean = ctx.path().join("clean");
    let out = ctx
        .wheelwright()
        .args(["publish", s(&first), "--wheelhouse", s(&clean)])
        .output()
        .unwrap();
    expect_code(&out, 0);
    let script = "\"><script>alert(1)</script><a x='";
    let bad: &[(&str, &str)] = &[
        ("file", "<script>alert(1)</script>-1.0-py3-none-any.whl"),
        ("file", "../../outside-1.0-py3-none-any.whl"),
        ("file", "not a wheel"),
        ("project", script),
        ("project", ".."),
        ("project", "a/b"),
        ("project", ""),
        ("version", "9.9"),
        ("label", ""),
        ("label", "a/b"),
        ("label", ".."),
        ("label", "simple"),
        ("sha256", script),
        ("sha256", "abc"),
        ("metadata_sha256", "x\" onmouseover=\"alert(1)"),
        ("url", "javascript:alert(1)"),
        ("url", "http://h/x.whl\" onmouseover=\"alert(1)"),
        ("url", "file:///etc/passwd"),
        ("requires_python", ">=3.8\n<script>"),
    ];
    let mut cases: Vec<(String, Value)> = bad
        .iter()
        .map(|(field, value)| {
            let mut m = read_json(&clean.join("wheelwright-index.json"));
            m["files"][0][*field] = Value::from(*value);
            (format!("{field} = {value:?}"), m)
        })
        .collect();
    let mut twice = read_json(&clean.join("wheelwright-index.json"));
    let row = twice["files"][0].clone();
    twice["files"].as_array_mut().unwrap().push(row);
    cases.push(("the same file listed twice".into(), twice));

    for (i, (what, manifest)) in cases.iter().enumerate() {
        for index_dir in [false, true] {
            let dir = ctx.path().join(format!("case{i}-{index_dir}"));
            copy_dir(&clean, &dir);
            let manifest_path = dir.join("wheelwright-index.json");
            std::fs::write(&manifest_path, serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
            let before = tree(&dir);
            let mut cmd = ctx.wheelwright();
            cmd.args(["publish", s(&second)]);
            if index_dir {
                cmd.args([
                    "--index-dir",
                    s(&dir),
                    "--base-url",
                    "https://h.example/files",
                ]);
            } else {
                cmd.args(["--wheelhouse", s(&dir)]);
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
            assert!(
                stderr.contains("wheelwright-index.json") && stderr.contains("hint:"),
                "{what}: {stderr}"
            );
            assert!(stderr.contains("restore"), "{what}: {stderr}");
            assert!(tree(&dir) == before, "{what}: the folder changed");
        }
    }
}
