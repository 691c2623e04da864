//! `wheelwright publish` end to end with real parts: tiny real wheels of two
//! variants of one version, the generated wheelhouse and index served by
//! `python -m http.server` on 127.0.0.1, real pip and real uv installing the
//! right variant from its own root (and refusing a file whose hash is not the
//! page's), both spellings of a label (`cxx11abitrue`, `cxx11abiTRUE`), and
//! bad input.

mod common;

use std::path::{Path, PathBuf};

use common::fakepkg_cell::sha256;
use common::index_servers::{installed_variant, make_wheel, pip_install, uv_install, Server};
use common::{both, expect_code, on_path, python_with_pip, required, TestContext};
use serde_json::Value;
use wheelwright_core::builder::{BuildReport, Outcome, WheelInfo};

const CU12: &str = "1.0+cu12torch2.4";
const CU13: &str = "1.0+cu13torch2.11";

/// Python with pip and uv, or `None` (skip; a failure on CI).
fn tools() -> Option<(PathBuf, PathBuf)> {
    let python = required(python_with_pip(), "python3 with pip")?;
    let uv = required(on_path("uv"), "uv (PyPI `uv`)")?;
    Some((python, uv))
}

fn publish_json(ctx: &TestContext, args: &[&str], code: i32) -> Value {
    let out = ctx
        .wheelwright()
        .arg("publish")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_str(&expect_code(&out, code)).unwrap()
}

/// `(target, status)` of every entry, in order.
fn statuses(v: &Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["target"].as_str().unwrap().into(),
                f["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_wheelhouse_over_http_gives_pip_and_uv_the_variant_of_its_root() {
    let Some((python, uv)) = tools() else { return };
    let ctx = TestContext::new();
    let src = ctx.path().join("dist");
    let a = make_wheel(&python, &src, "tinyvar", CU12, ">=3.8");
    let b = make_wheel(&python, &src, "tinyvar", CU13, ">=3.8");
    let (sha_a, sha_b) = (sha256(&a), sha256(&b));
    let house = ctx.path().join("house");

    let v = publish_json(&ctx, &[s(&a), s(&b), "--wheelhouse", s(&house)], 0);
    let all = |t: &str, st: &str| vec![(t.to_string(), st.to_string()); 2];
    let expect = [all("wheelhouse", "uploaded"), all("index", "uploaded")].concat();
    assert_eq!(statuses(&v), expect, "{v:#}");
    assert_eq!(v["files"][0]["sha256"], sha_a.as_str());
    // Again: the same bytes are skipped, nothing is listed twice.
    let v = publish_json(&ctx, &[s(&a), s(&b), "--wheelhouse", s(&house)], 0);
    let expect = [all("wheelhouse", "skipped"), all("index", "skipped")].concat();
    assert_eq!(statuses(&v), expect, "{v:#}");
    assert_eq!(
        (sha256(&a), sha256(&b)),
        (sha_a.clone(), sha_b),
        "local files untouched"
    );

    let server = Server::http(&python, &house, ctx.path().join("http.log"));
    let root = |label: &str| format!("{}/{label}/simple/", server.url);
    for (label, want) in [("cu12torch2.4", CU12), ("cu13torch2.11", CU13)] {
        let target = ctx.path().join(format!("pip-{label}"));
        let out = pip_install(&python, &root(label), &target, "tinyvar==1.0");
        assert!(out.status.success(), "{}", both(&out));
        assert_eq!(installed_variant(&python, &target, "tinyvar"), want);
    }
    // The lower label from its own root with uv too.
    let target = ctx.path().join("uv-cu12");
    let out = uv_install(&uv, &python, &root("cu12torch2.4"), &target, "tinyvar==1.0");
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(installed_variant(&python, &target, "tinyvar"), CU12);
    // Why the roots exist: from the page of every variant pip takes the highest label.
    let target = ctx.path().join("pip-all");
    let out = pip_install(
        &python,
        &format!("{}/simple/", server.url),
        &target,
        "tinyvar==1.0",
    );
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(installed_variant(&python, &target, "tinyvar"), CU13);
    // Both installers read the PEP 658 metadata file instead of the wheel first.
    let log = server.log_text();
    assert!(
        log.contains("GET /tinyvar-1.0%2Bcu12torch2.4-py3-none-any.whl.metadata HTTP/1.1\" 200"),
        "{log}"
    );

    // Another valid wheel under the listed name: the page's #sha256 refuses it.
    let other = make_wheel(&python, &ctx.path().join("other"), "tinyvar", CU12, ">=3.7");
    std::fs::copy(&other, house.join(a.file_name().unwrap())).unwrap();
    let target = ctx.path().join("pip-bad");
    let out = pip_install(&python, &root("cu12torch2.4"), &target, "tinyvar==1.0");
    assert!(!out.status.success(), "{}", both(&out));
    assert!(
        both(&out).contains(&format!("Expected sha256 {sha_a}")),
        "{}",
        both(&out)
    );
    assert!(!target.join("tinyvar").exists());
    let target = ctx.path().join("uv-bad");
    let out = uv_install(&uv, &python, &root("cu12torch2.4"), &target, "tinyvar==1.0");
    assert!(!out.status.success(), "{}", both(&out));
    assert!(both(&out).contains("Hash mismatch"), "{}", both(&out));
    assert!(!target.join("tinyvar").exists());
}

#[test]
fn index_pages_link_to_wheels_served_elsewhere_and_only_grow() {
    let Some((python, uv)) = tools() else { return };
    let ctx = TestContext::new();
    let site = ctx.path().join("www");
    let files = site.join("files");
    let a = make_wheel(&python, &files, "tinyvar", CU12, ">=3.8");
    let b = make_wheel(&python, &files, "tinyvar", CU13, ">=3.8");
    let server = Server::http(&python, &site, ctx.path().join("http.log"));
    let base = format!("{}/files", server.url);
    let pages = site.join("index");

    let v = publish_json(
        &ctx,
        &[s(&a), s(&b), "--index-dir", s(&pages), "--base-url", &base],
        0,
    );
    assert_eq!(
        statuses(&v),
        vec![("index".to_string(), "uploaded".to_string()); 2],
        "{v:#}"
    );
    // The .metadata files are not known to be served beside the wheels: not announced.
    let page =
        std::fs::read_to_string(pages.join("cu12torch2.4/simple/tinyvar/index.html")).unwrap();
    assert!(!page.contains("data-core-metadata"), "{page}");
    assert!(
        page.contains(&format!(
            "href=\"{base}/tinyvar-1.0%2Bcu12torch2.4-py3-none-any.whl#sha256={}\"",
            sha256(&a)
        )),
        "{page}"
    );

    let root = format!("{}/index/cu12torch2.4/simple/", server.url);
    let target = ctx.path().join("uv");
    let out = uv_install(&uv, &python, &root, &target, "tinyvar");
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(installed_variant(&python, &target, "tinyvar"), CU12);

    // A later run with only a newer cu12 wheel keeps every earlier listing.
    let c = make_wheel(&python, &files, "tinyvar", "2.0+cu12torch2.4", ">=3.8");
    let v = publish_json(
        &ctx,
        &[s(&c), "--index-dir", s(&pages), "--base-url", &base],
        0,
    );
    assert_eq!(
        statuses(&v),
        vec![("index".to_string(), "uploaded".to_string())]
    );
    let all = std::fs::read_to_string(pages.join("simple/tinyvar/index.html")).unwrap();
    for w in [&a, &b, &c] {
        let name = w.file_name().unwrap().to_str().unwrap();
        assert!(
            all.contains(&format!(">{name}</a>")),
            "{name} missing: {all}"
        );
    }
    let target = ctx.path().join("pip");
    let out = pip_install(&python, &root, &target, "tinyvar");
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(
        installed_variant(&python, &target, "tinyvar"),
        "2.0+cu12torch2.4"
    );
}

#[test]
fn bad_files_fail_alone_and_nothing_local_changes() {
    let Some((python, _)) = tools() else { return };
    let ctx = TestContext::new();
    let dist = ctx.path().join("dist");
    let good = make_wheel(&python, &dist, "tinyvar", CU12, ">=3.8");
    let not_zip = dist.join("fake-1.0-py3-none-any.whl");
    std::fs::write(&not_zip, "this is not a zip").unwrap();
    let odd_label = make_wheel(&python, &dist, "tinyvar", "1.0+cu12..x", ">=3.8");
    let missing = dist.join("missing-1.0-py3-none-any.whl");
    let readme = dist.join("README.txt");
    std::fs::write(&readme, "hello").unwrap();
    let house = ctx.path().join("house");

    let args = [
        s(&good),
        s(&not_zip),
        s(&odd_label),
        s(&missing),
        s(&readme),
        "--wheelhouse",
        s(&house),
    ];
    let v = publish_json(&ctx, &args, 1);
    let files = v["files"].as_array().unwrap();
    let failed: Vec<(&str, &str)> = files
        .iter()
        .filter(|f| f["status"] == "failed")
        .map(|f| (f["file"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(failed.len(), 4, "{v:#}");
    assert!(failed[0].1.contains("not a zip archive"), "{failed:?}");
    assert!(failed[1].1.contains("not a PEP 440 version"), "{failed:?}");
    assert!(failed[2].1.contains("No such file"), "{failed:?}");
    assert!(failed[3].1.contains("not a wheel file name"), "{failed:?}");
    assert!(files
        .iter()
        .all(|f| f["status"] != "failed" || f["target"] == "check"));
    let published: Vec<&str> = files
        .iter()
        .filter(|f| f["status"] == "uploaded")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(published, [good.file_name().unwrap().to_str().unwrap(); 2]);
    assert!(!house.join(odd_label.file_name().unwrap()).exists());
    assert_eq!(
        std::fs::read_to_string(&not_zip).unwrap(),
        "this is not a zip"
    );

    // Text output: each file's fate and a hint, exit 1.
    let out = ctx
        .wheelwright()
        .arg("publish")
        .args(&args[..5])
        .arg("--wheelhouse")
        .arg(&house)
        .output()
        .unwrap();
    let text = expect_code(&out, 1);
    assert!(
        text.contains("failed    check           fake-1.0-py3-none-any.whl"),
        "{text}"
    );
    assert!(
        text.contains("skipped   wheelhouse      tinyvar-1.0+cu12torch2.4-py3-none-any.whl"),
        "{text}"
    );
    assert!(text.contains("2 skipped, 4 failed"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
}

/// `wheel check` runs before anything leaves, with an index's strictness: a
/// wheel renamed after the build (METADATA without the file name's local
/// label, as flash-attn's release wheels) would be refused by pip on an
/// index, so it is not published.
#[test]
fn a_wheel_failing_its_check_goes_nowhere() {
    let Some((python, _)) = tools() else { return };
    let ctx = TestContext::new();
    let dist = ctx.path().join("dist");
    let renamed = dist.join("renamed");
    std::fs::create_dir_all(&renamed).unwrap();
    let w = common::index_servers::make_wheel_with_metadata_version(
        &python, &renamed, "tinyvar", CU12, "1.0",
    );
    let house = ctx.path().join("house");
    let v = publish_json(&ctx, &[s(&w), "--wheelhouse", s(&house)], 1);
    assert_eq!(
        statuses(&v),
        [("check".to_string(), "failed".to_string())],
        "{v:#}"
    );
    let message = v["files"][0]["message"].as_str().unwrap();
    assert!(message.contains("wheel check failed"), "{message}");
    assert!(!house.join(w.file_name().unwrap()).exists());
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let ctx = TestContext::new();
    let w = ctx.path().join("x-1.0-py3-none-any.whl");
    for (args, says) in [
        (vec![s(&w)], "no target"),
        (vec![s(&w), "--index-dir", "site"], "--base-url"),
    ] {
        let out = ctx
            .wheelwright()
            .arg("publish")
            .args(&args)
            .output()
            .unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// `--report` publishes exactly the wheel a successful build's report names,
/// whatever else sits beside it; a failed build's report publishes nothing.
#[test]
fn a_report_names_the_one_wheel_to_publish() {
    let Some((python, _)) = tools() else { return };
    let ctx = TestContext::new();
    let out_dir = ctx.path().join("out");
    let built = make_wheel(&python, &out_dir, "tinyvar", CU13, ">=3.8");
    let _stale = make_wheel(&python, &out_dir, "tinyvar", CU12, ">=3.8");
    // The report as `wheelwright build` writes it, its wheel path from
    // another machine (the file is found beside the report).
    let report = |outcome: Outcome, sha: &str| {
        let mut r = BuildReport::started("tinyvar", "torch-ext", Path::new("/nonexistent"));
        r.outcome = Some(outcome);
        let mut info = WheelInfo::from_file(&built).unwrap();
        info.path = PathBuf::from("/elsewhere").join(&info.name);
        info.sha256 = sha.to_string();
        r.wheel = Some(info);
        serde_json::to_string(&r).unwrap()
    };
    let path = out_dir.join("report.json");
    let house = ctx.path().join("house");
    std::fs::write(&path, report(Outcome::Ok, &sha256(&built))).unwrap();
    let v = publish_json(&ctx, &["--report", s(&path), "--wheelhouse", s(&house)], 0);
    let names: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [built.file_name().unwrap().to_str().unwrap(); 2],
        "{v:#}"
    );

    for (outcome, sha, says) in [
        (Outcome::Failed, sha256(&built), "outcome is `failed`"),
        (
            Outcome::Ok,
            "0".repeat(64),
            "not the file the build produced",
        ),
    ] {
        std::fs::write(&path, report(outcome, &sha)).unwrap();
        let out = ctx
            .wheelwright()
            .args(["publish", "--report", s(&path), "--wheelhouse", s(&house)])
            .output()
            .unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(says) && stderr.contains("hint:"),
            "{stderr}"
        );
    }
}

/// Issue 27 item 6: a variant's index answers the spelling its wheel carries
/// (pip's, lower case) and the one `local-version` prints (flash-attn's,
/// `cxx11abiTRUE`): real pip and uv install from both.
#[test]
fn a_variant_index_answers_both_spellings_of_its_label() {
    let Some((python, uv)) = tools() else { return };
    let ctx = TestContext::new();
    let wheel = make_wheel(
        &python,
        &ctx.path().join("dist"),
        "tinyvar",
        "1.0+cu12torch2.8cxx11abitrue",
        ">=3.8",
    );
    let house = ctx.path().join("house");
    publish_json(&ctx, &[s(&wheel), "--wheelhouse", s(&house)], 0);
    let server = Server::http(&python, &house, ctx.path().join("http.log"));
    for (n, label) in ["cu12torch2.8cxx11abitrue", "cu12torch2.8cxx11abiTRUE"]
        .iter()
        .enumerate()
    {
        let root = format!("{}/{label}/simple/", server.url);
        let target = ctx.path().join(format!("pip-{n}"));
        let out = pip_install(&python, &root, &target, "tinyvar");
        assert!(out.status.success(), "{root}: {}", both(&out));
        assert_eq!(
            installed_variant(&python, &target, "tinyvar"),
            "1.0+cu12torch2.8cxx11abitrue"
        );
        let target = ctx.path().join(format!("uv-{n}"));
        let out = uv_install(&uv, &python, &root, &target, "tinyvar");
        assert!(out.status.success(), "{root}: {}", both(&out));
        assert!(target.join("tinyvar").exists(), "{root}");
    }
    // Any other case is not a folder (a static host serves paths as written).
    assert!(!house.join("CU12torch2.8cxx11abiTRUE").exists());
}
