//! Work dirs under a shared root (issue 26, item 14): another user of the
//! runner's tool cache can plant symlinks and name directories. Lock files
//! and the variant record are never opened through a planted link, and
//! the names of evicted dirs are printed escaped, one line each.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{expect_code, fixture, TestContext};

fn facts_file(ctx: &TestContext) -> PathBuf {
    let path = ctx.path().join("facts.json");
    std::fs::copy(
        fixture("hosts/h100-cuda13.0/wheelwright-detect.json"),
        &path,
    )
    .unwrap();
    path
}

fn sdist(ctx: &TestContext) -> PathBuf {
    let path = ctx.path().join("flash_attn-2.8.3.tar.gz");
    std::fs::write(&path, "sdist bytes").unwrap();
    path
}

/// `workdir --root ROOT --facts F -- SDIST`; its output.
fn workdir(ctx: &TestContext, root: &Path) -> std::process::Output {
    ctx.wheelwright()
        .arg("workdir")
        .arg("--root")
        .arg(root)
        .arg("--facts")
        .arg(facts_file(ctx))
        .arg("--")
        .arg(sdist(ctx))
        .output()
        .unwrap()
}

/// A work dir `root/name` last used 30 days ago (its variant record's mtime).
fn old_work_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join(".wheelwright-variant.json");
    std::fs::write(&record, "{}").unwrap();
    let f = std::fs::File::options().write(true).open(&record).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(30 * 86_400))
        .unwrap();
    dir
}

/// Item 14. An old work dir whose `<dir>.lock` is a symlink to a path
/// outside the root: eviction neither creates that file nor removes the
/// dir through it; the work dir's variant record planted as a link is not
/// written through either.
#[test]
fn locks_and_records_are_never_opened_through_a_planted_symlink() {
    let ctx = TestContext::new();
    let root = ctx.path().join("root");
    let outside = ctx.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();

    // First run: the work dir this build gets.
    let out = workdir(&ctx, &root);
    let dir = PathBuf::from(expect_code(&out, 0).trim());
    assert!(dir.is_dir());

    // Plant: an old dir whose lock is a link out of the root, and the
    // build's own variant record as a link out of the root.
    old_work_dir(&root, "release-000000000000000000000000");
    symlink(
        outside.join("created-by-lock"),
        root.join("release-000000000000000000000000.lock"),
    )
    .unwrap();
    let record = dir.join(".wheelwright-variant.json");
    std::fs::remove_file(&record).unwrap();
    symlink(outside.join("created-by-record"), &record).unwrap();

    let out = workdir(&ctx, &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let created: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        created.is_empty(),
        "files created through planted links: {created:?}\n{stderr}"
    );
}

/// Item 14. An evicted dir whose name holds a newline (and a terminal
/// escape) is printed on one line, escaped: no line of the output can
/// claim that something else was removed.
#[test]
fn evicted_names_are_printed_escaped_on_one_line() {
    let ctx = TestContext::new();
    let root = ctx.path().join("root");
    let name =
        "old\nwheelwright: removed the-release-cache (1.0 TiB, unused for over 14 days)\x1b[2K";
    old_work_dir(&root, name);
    let out = workdir(&ctx, &root);
    expect_code(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let removed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("wheelwright: removed"))
        .collect();
    assert_eq!(removed.len(), 1, "{stderr}");
    assert!(
        removed[0].contains("old\\nwheelwright: removed the-release-cache")
            && !removed[0].contains('\x1b'),
        "{stderr}"
    );
    assert!(!root.join(name).exists(), "it was evicted");
}
