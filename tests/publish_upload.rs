//! `wheelwright publish --index-url` against a real pypiserver on 127.0.0.1
//! (the legacy upload API twine speaks): each file uploaded once, the same
//! bytes skipped on the next run, other bytes under a published name refused;
//! a password file that wants the TWINE_* variables; pip and uv install what
//! was uploaded; an index that refuses connections or never answers fails in
//! time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::index_servers::{
    free_port, installed_variant, make_wheel, pip_install, uv_install, Server,
};
use common::{both, expect_code, on_path, python_with_pip, required, TestContext};
use serde_json::Value;

const CU12: &str = "1.0+cu12torch2.4";
const CU13: &str = "1.0+cu13torch2.11";

struct Tools {
    python: PathBuf,
    uv: PathBuf,
    pypiserver: PathBuf,
}

fn tools() -> Option<Tools> {
    Some(Tools {
        python: required(python_with_pip(), "python3 with pip")?,
        uv: required(on_path("uv"), "uv (PyPI `uv`)")?,
        pypiserver: required(on_path("pypi-server"), "pypi-server (PyPI `pypiserver`)")?,
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `(status, message)` of every entry.
fn outcomes(v: &Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["status"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn statuses(v: &Value) -> Vec<String> {
    outcomes(v).into_iter().map(|(s, _)| s).collect()
}

/// The first entry of `v` failed, and its message says `needle`.
fn assert_failed_with(v: &Value, needle: &str) {
    let (status, message) = &outcomes(v)[0];
    assert_eq!(status, "failed");
    assert!(message.contains(needle), "{message}");
}

/// `tinyvar-VERSION-py3-none-any.whl` (Requires-Python `>=3.8`) in `dist/`.
fn tinyvar(t: &Tools, ctx: &TestContext, version: &str) -> PathBuf {
    make_wheel(
        &t.python,
        &ctx.path().join("dist"),
        "tinyvar",
        version,
        ">=3.8",
    )
}

/// pypiserver with the `auth` flags on a free port, serving `packages/`
/// (made here): the server and that folder.
fn pypiserver(t: &Tools, ctx: &TestContext, auth: &[&str]) -> (Server, PathBuf) {
    let packages = ctx.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    let server = Server::pypiserver(
        &t.pypiserver,
        free_port(),
        auth,
        &packages,
        ctx.path().join("pypi.log"),
    );
    (server, packages)
}

fn upload(
    ctx: &TestContext,
    wheels: &[&Path],
    url: &str,
    code: i32,
    env: &[(&str, &str)],
) -> Value {
    let mut cmd = ctx.wheelwright();
    cmd.arg("publish")
        .args(wheels)
        .args(["--index-url", url, "--json", "--timeout", "30"])
        .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    serde_json::from_str(&expect_code(&out, code)).unwrap()
}

#[test]
fn uploads_to_pypiserver_once_and_pip_and_uv_install_from_it() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let a = tinyvar(&t, &ctx, CU12);
    let b = tinyvar(&t, &ctx, CU13);
    let (server, packages) = pypiserver(&t, &ctx, &["-a", ".", "-P", "."]);
    let url = format!("{}/", server.url);

    let v = upload(&ctx, &[&a, &b], &url, 0, &[]);
    assert_eq!(statuses(&v), ["uploaded", "uploaded"], "{v:#}");
    assert_eq!(v["files"][0]["target"], "upload");
    assert_eq!(
        v["files"][0]["url"],
        format!("{}/simple/tinyvar/", server.url)
    );
    assert_eq!(
        std::fs::read(packages.join(a.file_name().unwrap())).unwrap(),
        std::fs::read(&a).unwrap(),
        "the server holds the very bytes"
    );

    // Again: the index answers 409, its page has the same sha256: skipped.
    let v = upload(&ctx, &[&a, &b], &url, 0, &[]);
    assert_eq!(statuses(&v), ["skipped", "skipped"], "{v:#}");

    // Other bytes under a published name: refused, exit 1, nothing replaced.
    let other = make_wheel(
        &t.python,
        &ctx.path().join("other"),
        "tinyvar",
        CU12,
        ">=3.7",
    );
    let v = upload(&ctx, &[&other], &url, 1, &[]);
    assert_failed_with(&v, "never replaces a file");
    assert_eq!(
        std::fs::read(packages.join(a.file_name().unwrap())).unwrap(),
        std::fs::read(&a).unwrap()
    );

    let simple = format!("{}/simple/", server.url);
    let target = ctx.path().join("pip");
    let out = pip_install(&t.python, &simple, &target, &format!("tinyvar=={CU12}"));
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(installed_variant(&t.python, &target, "tinyvar"), CU12);
    let target = ctx.path().join("uv");
    let out = uv_install(
        &t.uv,
        &t.python,
        &simple,
        &target,
        &format!("tinyvar=={CU13}"),
    );
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(installed_variant(&t.python, &target, "tinyvar"), CU13);
}

#[test]
fn a_password_file_wants_the_twine_variables_and_the_password_is_never_shown() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let htpasswd = ctx.path().join("htpasswd");
    let made = Command::new(&t.python)
        .args(["-c", "import sys; from passlib.apache import HtpasswdFile as H; h = H(sys.argv[1], new=True); h.set_password('uploader', 's3cret-pw'); h.save()"])
        .arg(&htpasswd)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "passlib (PyPI `passlib`) is needed: {}",
        both(&made)
    );
    let (server, packages) = pypiserver(&t, &ctx, &["-a", "update", "-P", s(&htpasswd)]);
    let url = format!("{}/", server.url);
    let a = tinyvar(&t, &ctx, CU12);

    let v = upload(&ctx, &[&a], &url, 1, &[]);
    assert_failed_with(&v, "TWINE_USERNAME");
    let v = upload(
        &ctx,
        &[&a],
        &url,
        1,
        &[
            ("TWINE_USERNAME", "uploader"),
            ("TWINE_PASSWORD", "wrong-pw"),
        ],
    );
    assert_eq!(statuses(&v), ["failed"]);
    assert!(!v.to_string().contains("wrong-pw"));

    let mut cmd = ctx.wheelwright();
    cmd.args(["publish", s(&a), "--index-url", &url])
        .env("TWINE_USERNAME", "uploader")
        .env("TWINE_PASSWORD", "s3cret-pw");
    let out = cmd.output().unwrap();
    let text = expect_code(&out, 0);
    assert!(
        text.contains("uploaded  upload          tinyvar-1.0+cu12torch2.4-py3-none-any.whl"),
        "{text}"
    );
    assert!(!both(&out).contains("s3cret-pw"));
    assert!(packages.join(a.file_name().unwrap()).is_file());
}

#[test]
fn an_index_that_refuses_or_never_answers_fails_in_time() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let a = tinyvar(&t, &ctx, CU12);

    // Nothing listens: refused at once.
    let url = format!("http://127.0.0.1:{}/", free_port());
    let v = upload(&ctx, &[&a], &url, 1, &[]);
    assert_failed_with(&v, "cannot connect");

    // A server that takes the connection and never answers: the timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let out = ctx
        .wheelwright()
        .args(["publish", s(&a), "--json", "--timeout", "2", "--index-url"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let took = started.elapsed();
    let v: Value = serde_json::from_str(&expect_code(&out, 1)).unwrap();
    assert_failed_with(&v, "within 2 s");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    drop(silent);

    // Not an http URL: a usage error before anything is sent.
    let out = ctx
        .wheelwright()
        .args(["publish", s(&a), "--index-url", "ftp://x/"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
}
