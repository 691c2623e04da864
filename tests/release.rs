//! The release of wheelwright's own binaries: `action/check-glibc.sh` (the
//! release workflow's proof that a binary runs on glibc 2.17) on real ELF
//! files, the table of recorded binaries, the workflow's asset names against
//! the ones `action/install.sh` downloads, and the release path end to end:
//! this test's own binary packaged as the release job packages it, served
//! from a local server as a "release", recorded by `action/record-release.sh`
//! (the release workflow's recording step) and installed by the action's
//! Install step in its default mode. The cold glibc-2.17 zigbuild itself
//! (23-30 min on a 2-core box) is a bench, not CI.

mod common;
// fake_runner includes two files of common/ itself: the same code twice, harmless.
#[allow(clippy::duplicate_mod)]
mod fake_runner;

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_runner::{FakeRunner, HttpServer};
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check_glibc(bin: &Path, max: &str) -> (i32, String) {
    let out = Command::new("bash")
        .arg(repo().join("action/check-glibc.sh"))
        .arg(bin)
        .arg(max)
        .output()
        .unwrap();
    let text = common::both(&out);
    (out.status.code().unwrap(), text)
}

#[test]
fn check_glibc_finds_the_highest_glibc_version_a_real_binary_needs() {
    // The test build of wheelwright, linked against this host's glibc.
    let bin = Path::new(env!("CARGO_BIN_EXE_wheelwright"));
    let (code, text) = check_glibc(bin, "999");
    assert_eq!(code, 0, "{text}");
    let highest = text
        .split("the highest is GLIBC_")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    assert!(
        text.contains("GLIBC_2.2.5") || text.contains(" 2.17"),
        "{text}"
    );
    // A limit below it fails, naming it.
    let (code, text) = check_glibc(bin, "2.1");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("requires GLIBC_{highest}, newer than 2.1")),
        "{text}"
    );
    // A limit equal to it passes.
    assert_eq!(check_glibc(bin, &highest).0, 0);
}

#[test]
fn check_glibc_refuses_what_is_not_a_glibc_binary_and_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("wheelwright");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let (code, text) = check_glibc(&script, "2.17");
    assert_eq!(code, 1);
    assert!(text.contains("not an ELF"), "{text}");
    assert_eq!(check_glibc(&dir.path().join("missing"), "2.17").0, 2);
    assert_eq!(check_glibc(&script, "2.17; rm -rf /").0, 2);
}

#[test]
fn the_table_of_binaries_is_well_formed() {
    let text = std::fs::read_to_string(repo().join("action/binaries.txt")).unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "VERSION TARGET SHA256: {line:?}");
        assert!(
            fields[0].split('.').count() == 3
                && fields[0].split('.').all(|p| p.parse::<u32>().is_ok()),
            "{line}"
        );
        assert!(
            ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"].contains(&fields[1]),
            "{line}"
        );
        assert!(
            fields[2].len() == 64 && fields[2].chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
    }
}

#[test]
fn the_release_workflow_builds_checks_and_names_what_the_install_script_downloads() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    let wf = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let targets: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["target"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
    );
    let scripts: String = wf["jobs"]["build"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(scripts.contains(r#"cargo zigbuild --release --locked --target "$TARGET.2.17""#));
    assert!(scripts.contains(r#"bash action/check-glibc.sh "$bin" 2.17"#));
    assert!(scripts.contains(r#"name="wheelwright-$VERSION-$TARGET""#));
    assert!(scripts.contains(r#"sha256sum "$name" >"$name.sha256""#));
    let install = std::fs::read_to_string(repo().join("action/install.sh")).unwrap();
    assert!(install.contains(r#"url="$releases_url/v$version/wheelwright-$version-$target""#));
    // The publish job appends "VERSION TARGET SHA256" lines, as the table reads.
    let publish: String = wf["jobs"]["publish"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(publish.contains(r#"bash action/record-release.sh "$VERSION" dist "$table""#));
    assert!(
        publish.contains("git/refs"),
        "the tag is made on the table's commit"
    );
}

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-gnu",
        "aarch64" => "aarch64-unknown-linux-gnu",
        other => panic!("no release target for {other}"),
    }
}

fn record(version: &str, dist: &Path, table: &Path) -> (i32, String) {
    let out = Command::new("bash")
        .arg(repo().join("action/record-release.sh"))
        .args([Path::new(version), dist, table])
        .output()
        .unwrap();
    (out.status.code().unwrap(), common::both(&out))
}

/// `dist/` as the release workflow's build job leaves it: the binary named
/// `wheelwright-VERSION-TARGET` beside `sha256sum`'s line for it.
fn package(dir: &Path, version: &str, binary: &Path) -> PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let name = format!("wheelwright-{version}-{}", target());
    std::fs::copy(binary, dist.join(&name)).unwrap();
    let sums = Command::new("sha256sum")
        .arg(&name)
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(sums.status.success());
    std::fs::write(dist.join(format!("{name}.sha256")), sums.stdout).unwrap();
    dist
}

/// The action checked out at a commit whose table records the release: its
/// `action.yml` and `action/` copied into `dir/action-checkout`.
fn action_checkout(dir: &Path) -> PathBuf {
    let checkout = dir.join("action-checkout");
    common::copy_tree(&repo().join("action"), &checkout.join("action"));
    std::fs::copy(repo().join("action.yml"), checkout.join("action.yml")).unwrap();
    checkout
}

/// `action.yml` cut after its Install step: the steps a release install runs.
fn install_steps_only(checkout: &Path) -> Yaml {
    let text = std::fs::read_to_string(checkout.join("action.yml")).unwrap();
    let mut action = YamlLoader::load_from_str(&text).unwrap().remove(0);
    let Yaml::Hash(runs) = &mut action["runs"] else {
        panic!("runs")
    };
    let steps = runs
        .get_mut(&Yaml::String("steps".into()))
        .and_then(|s| s.as_mut_vec())
        .expect("runs.steps");
    let install = steps
        .iter()
        .position(|s| s["id"].as_str() == Some("install"))
        .expect("an install step");
    steps.truncate(install + 1);
    action
}

#[test]
fn a_served_release_recorded_by_the_script_installs_through_the_actions_default_mode() {
    let dir = tempfile::tempdir().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let dist = package(
        dir.path(),
        version,
        Path::new(env!("CARGO_BIN_EXE_wheelwright")),
    );
    let checkout = action_checkout(dir.path());
    let table = checkout.join("action/binaries.txt");
    let before = std::fs::read_to_string(&table).unwrap();

    // The workflow's recording step, on the packaged binary.
    let (code, text) = record(version, &dist, &table);
    assert_eq!(code, 0, "{text}");
    let sha =
        std::fs::read_to_string(dist.join(format!("wheelwright-{version}-{}.sha256", target())))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
    let line = format!("{version} {} {sha}", target());
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        format!("{before}{line}\n")
    );
    // A re-run of the release job records nothing twice.
    let (code, text) = record(version, &dist, &table);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("already recorded"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        format!("{before}{line}\n")
    );

    // The "release": vVERSION/ on a local server, as GitHub serves its assets.
    let served = dir.path().join("served");
    common::copy_tree(&dist, &served.join(format!("v{version}")));
    let server = HttpServer::serve(&served);
    let mut runner = FakeRunner::new();
    runner
        .runner_env
        .push(("WW_RELEASES_URL".into(), server.url.clone()));
    // No install input: the default mode, the newest recorded release.
    let run = runner.run_action(&install_steps_only(&checkout), &checkout, &[]);
    assert!(run.succeeded(), "{}", run.log());
    let installed = runner
        .tool_cache
        .join(format!("wheelwright/{version}/{}/wheelwright", target()));
    assert_eq!(run.outputs["wheelwright"], installed.display().to_string());
    let out = Command::new(&installed).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("wheelwright {version}")
    );
}

#[test]
fn the_recording_script_refuses_a_changed_binary_and_a_changed_record() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake");
    std::fs::write(&fake, "#!/bin/sh\necho one\n").unwrap();
    let dist = package(dir.path(), "1.2.3", &fake);
    let table = dir.path().join("binaries.txt");
    std::fs::write(&table, "# VERSION TARGET SHA256\n").unwrap();

    // The binary changed after it was hashed: refused, nothing recorded.
    let binary = dist.join(format!("wheelwright-1.2.3-{}", target()));
    std::fs::write(&binary, "#!/bin/sh\necho two\n").unwrap();
    let (code, text) = record("1.2.3", &dist, &table);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("does not have the sha256"), "{text}");
    assert!(text.contains("\nhint: "), "{text}");
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        "# VERSION TARGET SHA256\n"
    );

    // Another sha256 for a version already recorded: refused.
    std::fs::write(
        &table,
        format!(
            "# VERSION TARGET SHA256\n1.2.3 {} {}\n",
            target(),
            "a".repeat(64)
        ),
    )
    .unwrap();
    let dist = package(&dir.path().join("again"), "1.2.3", &fake);
    let (code, text) = record("1.2.3", &dist, &table);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("already recorded with sha256"), "{text}");

    // Bad usage.
    assert_eq!(record("1.2", &dist, &table).0, 2);
    assert_eq!(record("1.2.4", &dist, &table).0, 2, "no binaries of 1.2.4");
    assert_eq!(record("1.2.3", &dist, &dir.path().join("missing")).0, 2);
}
