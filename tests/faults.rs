//! Faults injected into a real `wheelwright build` (issue 16, "tests that
//! search"): the disk filling up while build.log, the wheel or report.json is
//! written (a
//! real kernel limit: RLIMIT_FSIZE set with `prlimit`, so writes past it fail
//! with EFBIG as they would with ENOSPC on a full disk), the out dir removed
//! mid-build, SIGTERM and SIGKILL during the verification. Each run must end
//! with its records kept where they can be, a clear message and the
//! documented exit code (README, "Exit codes"). SIGKILL and SIGINT during the
//! compile and a compiler that ignores SIGTERM are in `tests/orphans.rs`.

mod common;
mod fault_build;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::finding;
use fault_build::{alive, make_wheel, send, survivors, wait_exit, FaultBuild, Reaper};

const KIB: u64 = 1024;

/// `prlimit` from util-linux, which sets RLIMIT_FSIZE on the command it runs.
fn prlimit() -> Option<PathBuf> {
    ["/usr/bin/prlimit", "/bin/prlimit"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

macro_rules! require_prlimit {
    () => {
        match prlimit() {
            Some(p) => p,
            None => {
                common::prerequisite_missing("prlimit (util-linux)");
                return;
            }
        }
    };
}

/// `cmd` run with its files limited to `soft` bytes (the hard limit
/// unlimited, so a process of the build may raise its own).
fn with_file_limit(prlimit: &Path, cmd: &Command, soft: u64) -> Command {
    let mut limited = Command::new(prlimit);
    limited
        .arg(format!("--fsize={soft}:unlimited"))
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            limited.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        limited.current_dir(dir);
    }
    limited
}

fn streams(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The disk fills while build.log is written: the build goes on (the
/// console still shows every line), the wheel is kept, and the report says
/// how much of the log is missing and why. Exit 0: the wheel is good.
/// (Before: SIGXFSZ killed wheelwright and report.json was never finished.)
#[test]
fn a_full_disk_under_the_log_is_reported_and_the_wheel_is_kept() {
    let prlimit = require_prlimit!();
    let build = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do cat \"$FAULT_LOG\"; done\n{}",
        make_wheel(4096)
    );
    let fb = FaultBuild::new(&build);
    let out = with_file_limit(&prlimit, fb.command().arg("--no-verify"), 128 * KIB)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", streams(&out));
    let r = fb.report();
    assert_eq!(r["outcome"], "ok");
    let f = finding(&r, "log-incomplete");
    assert_eq!(f["severity"], "warning");
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("File too large"), "{message}");
    // The console got every line the log lost: all 12 copies.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let copying = "copying build/lib.linux-x86_64-cpython-312/fa_subset";
    assert_eq!(stdout.matches(copying).count(), 12, "{}", streams(&out));
    let log_size = std::fs::metadata(fb.out().join("build.log")).unwrap().len();
    assert!(log_size <= 128 * KIB, "{log_size}");
    let log = fb.log();
    assert!(log.starts_with("=== wheelwright"), "what fit is kept");
    assert!(log.matches(copying).count() < 12, "the log is cut");
    assert!(fb.wheel().is_file());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("build.log is incomplete"),
        "{}",
        streams(&out)
    );
}

/// The disk fills while the wheel is copied into the out dir: the build
/// fails (exit 1) with a finding that says where the wheel still is; no
/// partial wheel is left in the out dir; build.log and report.json are kept.
#[test]
fn a_full_disk_under_the_wheel_fails_the_build_and_keeps_the_records() {
    let prlimit = require_prlimit!();
    // The build lifts its own limit: the disk fills after pip wrote the wheel.
    let build = format!(
        "ulimit -f unlimited\nhead -n 20 \"$FAULT_LOG\"\n{}",
        make_wheel(1024 * 1024)
    );
    let fb = FaultBuild::new(&build);
    let out = with_file_limit(&prlimit, fb.command().arg("--no-verify"), 256 * KIB)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", streams(&out));
    let r = fb.report();
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["exit_code"], 1);
    let f = finding(&r, "wheel-not-copied");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("File too large") && message.contains("it is still at"),
        "{message}"
    );
    let left: Vec<_> = std::fs::read_dir(fb.out())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".whl"))
        .collect();
    assert!(left.is_empty(), "a partial wheel was left: {left:?}");
    assert!(fb.log().contains("struct alignment_of<long4>"));
}

/// The disk is full from the start: report.json cannot be written. The
/// build does not run blind: it stops with exit 3, the cause and a hint.
/// (Before: SIGXFSZ killed wheelwright without a word.)
#[test]
fn a_full_disk_under_the_report_stops_with_exit_3_and_a_hint() {
    let prlimit = require_prlimit!();
    let fb = FaultBuild::new(&format!("touch \"$FAULT_STATE/ran\"\n{}", make_wheel(4096)));
    let out = with_file_limit(&prlimit, fb.command().arg("--no-verify"), 512)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", streams(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for said in [
        "the build could not keep its records",
        "report.json",
        "File too large",
        "hint: check that the out and work dirs are writable and have space",
    ] {
        assert!(stderr.contains(said), "stderr lacks `{said}`:\n{stderr}");
    }
    assert!(
        !fb.state.join("ran").exists() && !fb.ctx.path().join("work/dist").exists(),
        "the build ran without records"
    );
}

/// The out dir is removed while the build runs: it is made again, build.log
/// is put back whole (from wheelwright's open file), the wheel and
/// report.json land in it, and a warning says what happened. Exit 0.
/// (Before: the wheel could not be copied and report.json not written: exit 3.)
#[test]
fn an_out_dir_removed_mid_build_is_made_again_with_the_whole_log() {
    let build = format!(
        "echo 'before the removal'\nrm -rf \"$FAULT_OUT\"\necho 'after the removal'\nhead -n 20 \"$FAULT_LOG\"\n{}",
        make_wheel(4096)
    );
    let fb = FaultBuild::new(&build);
    let out = fb.command().arg("--no-verify").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", streams(&out));
    let r = fb.report();
    assert_eq!(r["outcome"], "ok");
    let f = finding(&r, "out-dir-removed");
    assert_eq!(f["severity"], "warning");
    let log = fb.log();
    for line in [
        "=== wheelwright attempt 1",
        "before the removal",
        "after the removal",
    ] {
        assert!(log.contains(line), "build.log lacks `{line}`:\n{log}");
    }
    assert!(fb.wheel().is_file());
}

/// The verification's `pip install`: a child and a `setsid env -i` daemon,
/// each writing its pid, then waiting.
const HANGING_INSTALL: &str = r#"echo $$ > "$FAULT_STATE/installer.pid"
( setsid env -i sh -c 'echo $$ > "$0/installer-daemon.pid"; exec sleep 300' "$FAULT_STATE" & )
sleep 300 &
echo $! > "$FAULT_STATE/installer-child.pid"
wait
"#;

const INSTALLERS: [&str; 3] = ["installer", "installer-daemon", "installer-child"];

/// A build whose verification hangs in [`HANGING_INSTALL`], started (its
/// output dropped) and waited on until each of [`INSTALLERS`] wrote its pid:
/// the build, its process, those pids and their reaper.
fn hanging_in_verification() -> (FaultBuild, Child, Vec<u32>, Reaper) {
    let fb = FaultBuild::new(&make_wheel(4096)).with_install(HANGING_INSTALL);
    let mut child = fb
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pids = fb.wait_for_pids(&mut child, &INSTALLERS);
    let reaper = Reaper(pids.clone());
    (fb, child, pids, reaper)
}

/// SIGTERM while the wheel is verified: the verification stops (all of its
/// processes), the wheel stays in the out dir, unchecked, and the report
/// says cancelled (exit 130).
#[test]
fn sigterm_during_verification_stops_it_and_keeps_the_wheel() {
    let (fb, mut child, pids, _reaper) = hanging_in_verification();
    assert!(pids.iter().all(|p| alive(*p)));

    send("TERM", child.id());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    let left = survivors(&pids, Duration::from_secs(3));
    assert!(
        left.is_empty(),
        "the verification's processes ({INSTALLERS:?} = {pids:?}) outlived the cancel: {left:?}"
    );
    let r = fb.report();
    assert_eq!(r["outcome"], "cancelled");
    assert_eq!(r["exit_code"], 130);
    assert!(r["wheel"]["sha256"].is_string(), "the wheel is kept: {r}");
    assert!(fb.wheel().is_file());
}

/// SIGKILL while the wheel is verified: nothing of the verification is left.
#[test]
fn kill_9_during_verification_leaves_no_process() {
    // `_fb` keeps the temp dir until the end.
    let (_fb, mut child, pids, _reaper) = hanging_in_verification();

    child.kill().unwrap();
    child.wait().unwrap();
    let left = survivors(&pids, Duration::from_secs(8));
    assert!(
        left.is_empty(),
        "the verification's processes ({INSTALLERS:?} = {pids:?}) outlived `kill -9` of wheelwright: {left:?}"
    );
}
