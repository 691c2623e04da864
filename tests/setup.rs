//! `wheelwright setup` without a network: a fake interpreter that answers the
//! setup probe with a real probe's output and logs `pip install` (see
//! tests/fixtures/build-setup/), a broken ninja that prints the real output of
//! a pip shim whose package is gone, and real interpreters where the test only
//! reads (dry runs, the system-Python refusal).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{expect_code, fixture, tool_failing, write_executable, TestContext};
use serde_json::Value;

/// A fake venv at `<tmp>/venv` whose interpreter answers from `state/probe.json`.
struct FakeVenv {
    ctx: TestContext,
    python: PathBuf,
    state: PathBuf,
}

impl FakeVenv {
    fn new() -> Self {
        let ctx = TestContext::new();
        let python = write_executable(
            &ctx.path().join("venv/bin/python"),
            &std::fs::read_to_string(fixture("build-setup/fake-python")).unwrap(),
        );
        let state = ctx.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let v = FakeVenv { ctx, python, state };
        v.write_probe("probe.json", |_| {});
        v
    }

    /// The captured venv probe, moved into this temp dir and edited by `edit`.
    fn probe(&self, edit: impl FnOnce(&mut Value)) -> Value {
        let mut p: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("build-setup/probe-venv.json")).unwrap(),
        )
        .unwrap();
        let venv = self.ctx.path().join("venv");
        p["executable"] = Value::from(self.python.display().to_string());
        p["prefix"] = Value::from(venv.display().to_string());
        p["scripts"] = Value::from(venv.join("bin").display().to_string());
        p["purelib"] = Value::from(
            venv.join("lib/python3.11/site-packages")
                .display()
                .to_string(),
        );
        edit(&mut p);
        p
    }

    fn write_probe(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        let p = self.probe(edit);
        std::fs::write(self.state.join(name), p.to_string()).unwrap();
    }

    fn command(&self) -> Command {
        let mut cmd = self.ctx.wheelwright();
        cmd.env("FAKESETUP_STATE", &self.state)
            .env("FAKESETUP_NINJA", fixture("build-setup/fake-ninja"))
            .arg("setup")
            .arg("--python")
            .arg(&self.python);
        cmd
    }

    fn pip_log(&self) -> String {
        std::fs::read_to_string(self.state.join("pip.log")).unwrap_or_default()
    }

    /// How many times the interpreter was probed.
    fn probes(&self) -> usize {
        std::fs::read_to_string(self.state.join("probes.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// A ninja in the test bin/ that fails like a pip shim without its package.
    fn broken_ninja(&self) {
        tool_failing(
            &self.ctx.bin.join("ninja"),
            &fixture("hosts/broken-ninja/ninja-stderr.txt"),
        );
    }
}

#[test]
fn dry_run_plans_and_changes_nothing() {
    let v = FakeVenv::new();
    v.broken_ninja();
    let out = v.command().arg("--dry-run").output().unwrap();
    let stdout = expect_code(&out, 0);
    assert!(stdout.contains("dry run: nothing changed"), "{stdout}");
    assert!(
        stdout.contains("would upgrade pip 23.0.1, setuptools 66.1.1, wheel 0.38.4"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would install packaging, psutil"),
        "{stdout}"
    );
    assert!(
        stdout.contains("No module named 'ninja'"),
        "the broken ninja's own error: {stdout}"
    );
    assert!(stdout.contains("--force-reinstall"), "{stdout}");
    assert_eq!(v.pip_log(), "", "a dry run ran pip");
    assert!(!v.ctx.path().join("venv/bin/ninja").exists());
}

#[test]
fn dry_run_json() {
    let v = FakeVenv::new();
    let out = v.command().args(["--dry-run", "--json"]).output().unwrap();
    let r: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    assert_eq!(r["dry_run"], true);
    let steps = r["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["upgrade-packaging-tools", "install-missing", "ninja"]);
    assert!(steps.iter().all(|s| s["status"] == "would-change"), "{r}");
    assert_eq!(
        steps[1]["command"].as_array().unwrap().last().unwrap(),
        "ninja",
        "missing ninja is installed with packaging and psutil"
    );
}

#[test]
fn broken_ninja_is_reinstalled_and_proven() {
    let v = FakeVenv::new();
    v.broken_ninja();
    v.write_probe("probe.json", |p| {
        p["packages"]["packaging"] = Value::from("24.0");
        p["packages"]["psutil"] = Value::from("5.9.8");
        p["packages"]["ninja"] = Value::from("1.11.1.1");
    });
    v.write_probe("probe-upgraded.json", |p| {
        p["packages"]["pip"] = Value::from("24.0");
        p["packages"]["setuptools"] = Value::from("69.5.1");
        p["packages"]["wheel"] = Value::from("0.43.0");
        p["packages"]["packaging"] = Value::from("24.0");
        p["packages"]["psutil"] = Value::from("5.9.8");
        p["packages"]["ninja"] = Value::from("1.11.1.1");
    });
    let out = v
        .command()
        .args(["--json", "--find-links", "/wheels", "--no-index"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "changed");
    assert!(
        steps[0]["detail"]
            .as_str()
            .unwrap()
            .contains("pip 23.0.1 -> 24.0"),
        "{r}"
    );
    assert_eq!(steps[1]["status"], "already-fine");
    assert_eq!(steps[2]["status"], "changed");
    assert!(
        steps[2]["detail"]
            .as_str()
            .unwrap()
            .contains("No module named 'ninja'"),
        "{r}"
    );
    assert_eq!(r["ninja"]["proven"], true);
    assert_eq!(r["ninja"]["version"], "1.11.1.git.kitware.jobserver-1");
    let ninja_path = PathBuf::from(r["ninja"]["path"].as_str().unwrap());
    assert_eq!(ninja_path, v.ctx.path().join("venv/bin/ninja"));
    let log = v.pip_log();
    assert!(log.contains("install --disable-pip-version-check --upgrade --no-index --find-links /wheels pip setuptools wheel"), "{log}");
    assert!(
        log.contains("--force-reinstall --no-index --find-links /wheels ninja"),
        "{log}"
    );
    assert!(!log.contains("--break-system-packages"), "{log}");
    // Before, after the upgrade, and after the ninja reinstall.
    assert_eq!(v.probes(), 3);
}

#[test]
fn a_second_run_reports_everything_already_fine() {
    let v = FakeVenv::new();
    std::fs::copy(
        fixture("build-setup/fake-ninja"),
        v.ctx.path().join("venv/bin/ninja"),
    )
    .unwrap();
    v.write_probe("probe.json", |p| {
        for (k, ver) in [
            ("packaging", "24.0"),
            ("psutil", "5.9.8"),
            ("ninja", "1.11.1.1"),
        ] {
            p["packages"][k] = Value::from(ver);
        }
    });
    let out = v.command().output().unwrap();
    let stdout = expect_code(&out, 0);
    assert_eq!(stdout.matches("already fine").count(), 3, "{stdout}");
    assert!(
        stdout.contains("already up to date: pip 23.0.1"),
        "{stdout}"
    );
    // Before, and after the one pip run: nothing changed since, no third probe.
    assert_eq!(v.probes(), 2);
}

#[test]
fn a_ninja_that_stays_broken_fails_setup() {
    let v = FakeVenv::new();
    v.broken_ninja();
    // The "reinstalled" ninja is broken too.
    let broken = v.ctx.path().join("still-broken-ninja");
    write_executable(&broken, "#!/bin/sh\nexit 1\n");
    let out = v
        .command()
        .env("FAKESETUP_NINJA", &broken)
        .output()
        .unwrap();
    let stdout = expect_code(&out, 1);
    assert!(
        stdout.contains("FAILED") && stdout.contains("still broken"),
        "{stdout}"
    );
}

#[test]
fn refuses_a_system_interpreter_unless_allowed() {
    let v = FakeVenv::new();
    let system: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("build-setup/probe-debian-system.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(v.state.join("probe.json"), system.to_string()).unwrap();
    let out = v.command().arg("--dry-run").output().unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("EXTERNALLY-MANAGED"), "{stderr}");
    assert!(
        stderr.contains("hint:") && stderr.contains("-m venv"),
        "{stderr}"
    );

    let out = v
        .command()
        .args(["--dry-run", "--allow-system", "--json"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    let cmd = r["steps"][0]["command"].as_array().unwrap();
    assert!(cmd.iter().any(|a| a == "--break-system-packages"), "{r}");
    assert_eq!(v.pip_log(), "");
}

/// Real interpreters, read only: a real venv is planned; the real system
/// interpreter is refused when it is not a venv.
#[test]
fn real_interpreters() {
    let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.prefix != sys.base_prefix)",
        ])
        .output()
    else {
        common::prerequisite_missing("python3");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let python = PathBuf::from(lines.next().unwrap_or_default());
    let in_venv = lines.next() == Some("True");
    let ctx = TestContext::new();
    if !in_venv {
        let out = ctx
            .wheelwright()
            .arg("setup")
            .arg("--python")
            .arg(&python)
            .arg("--dry-run")
            .output()
            .unwrap();
        expect_code(&out, 2);
    }
    let venv = ctx.path().join("venv");
    let made = Command::new(&python)
        .args(["-m", "venv", "--system-site-packages"])
        .arg(&venv)
        .output()
        .unwrap();
    if !made.status.success() {
        common::prerequisite_missing(&format!(
            "a python3 that makes venvs: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
        return;
    }
    let out = ctx
        .wheelwright()
        .arg("setup")
        .arg("--python")
        .arg(venv.join("bin/python"))
        .args(["--dry-run", "--json"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    assert_eq!(r["python"]["prefix"], venv.display().to_string());
    assert_eq!(r["steps"][0]["status"], "would-change");
}

/// A package pip brings in as a dependency of another (`packaging` with the
/// `wheel` upgrade) is reported by the step that installed it.
#[test]
fn a_dependency_installed_along_the_way_is_reported() {
    let v = FakeVenv::new();
    v.write_probe("probe-upgraded.json", |p| {
        p["packages"]["pip"] = Value::from("24.0");
        p["packages"]["packaging"] = Value::from("24.1");
    });
    v.write_probe("probe-installed.json", |p| {
        p["packages"]["pip"] = Value::from("24.0");
        p["packages"]["packaging"] = Value::from("24.1");
        p["packages"]["psutil"] = Value::from("5.9.8");
        p["packages"]["ninja"] = Value::from("1.11.1.1");
    });
    let out = v.command().arg("--json").output().unwrap();
    let r: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    let detail = r["steps"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("packaging (none) -> 24.1"), "{r}");
    assert!(detail.contains("pip 23.0.1 -> 24.0"), "{r}");
}

/// A site-packages this user cannot write is refused before pip runs: pip
/// would fall back to a user install whose ninja the build would not find.
#[test]
fn an_unwritable_site_packages_is_refused_with_a_venv_hint() {
    let v = FakeVenv::new();
    v.write_probe("probe.json", |p| {
        p["purelib_writable"] = Value::from(false);
    });
    let out = v.command().output().unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not writable by this user"), "{stderr}");
    assert!(stderr.contains("hint: pip would fall back"), "{stderr}");
    assert!(
        stderr.contains("-m venv --system-site-packages"),
        "{stderr}"
    );
    assert_eq!(v.pip_log(), "", "pip ran");
}
