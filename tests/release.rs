//! The release of wheelwright's own binaries: `action/check-glibc.sh` (the
//! release workflow's proof that a binary runs on glibc 2.17) on real ELF
//! files, the table of recorded binaries, and the workflow's asset names
//! against the ones `action/install.sh` downloads.

mod common;

use std::path::Path;
use std::process::Command;

use yaml_rust2::YamlLoader;

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
    assert!(publish.contains(r#"printf '%s %s %s\n' "$VERSION" "$target" "$sha" >>"$table""#));
    assert!(
        publish.contains("git/refs"),
        "the tag is made on the table's commit"
    );
}
