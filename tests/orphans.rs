//! No compiler outlives `wheelwright build` (issue 16, defect 3): the fake
//! build starts a compiler driver (child) that runs the compiler proper
//! (grandchild), and a daemon that double-forks into a session of its own
//! with its environment cleared (`setsid env -i`, so the build's marker
//! variable is gone too). Each writes its pid to a file and sleeps. Then
//! wheelwright is killed with SIGKILL, or cancelled with SIGINT, or cancelled
//! while one compiler ignores SIGTERM; every time, none of them may be left.

mod common;
mod fault_build;

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fault_build::{alive, send, survivors, wait_exit, FaultBuild, Reaper};

/// The build: real log lines, then the tree; `stubborn` adds a compiler that
/// ignores SIGTERM.
fn tree_build(stubborn: bool) -> String {
    let mut script = String::from(
        r#"echo $$ > "$FAULT_STATE/build.pid"
head -n 40 "$FAULT_LOG"
# A compiler driver (child) running the compiler proper (grandchild).
sh -c 'sh -c "echo \$\$ > \"\$0/grandchild.pid\"; exec sleep 300" "$0" & echo $$ > "$0/child.pid"; wait' "$FAULT_STATE" &
# A daemon: double fork, a session of its own, the environment cleared.
( setsid env -i sh -c 'echo $$ > "$0/escapee.pid"; exec sleep 300' "$FAULT_STATE" & )
"#,
    );
    if stubborn {
        script.push_str(
            r#"sh -c 'trap "" TERM; echo $$ > "$0/stubborn.pid"; exec sleep 300' "$FAULT_STATE" &
"#,
        );
    }
    script.push_str("wait\nexit 1\n");
    script
}

const TREE: [&str; 4] = ["build", "child", "grandchild", "escapee"];

/// Read a child's stream to its end on a thread (it ends when every process
/// holding it, the supervisor included, has closed it).
fn read_all(stream: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let mut stream = stream.expect("piped");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// Start the build with piped output; returns the child and its two readers.
fn start(
    fb: &FaultBuild,
    args: &[&str],
    runner: bool,
) -> (Child, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut cmd = fb.command();
    if runner {
        fb.on_runner(&mut cmd);
    }
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let out = read_all(child.stdout.take());
    let err = read_all(child.stderr.take());
    (child, out, err)
}

fn text(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the output stream was not closed within 30 s")
}

/// Regression (defect 3): after `kill -9` of wheelwright the build's tree
/// kept running under init, and the output fence stayed open. Now the
/// supervisor stops all of it within a few seconds, says so on
/// wheelwright's stderr, and ends the fence.
#[test]
fn kill_9_of_wheelwright_leaves_no_process_of_the_build_and_closes_the_fence() {
    let fb = FaultBuild::new(&tree_build(false));
    let (mut child, out, err) = start(&fb, &["--kill-grace", "2", "--no-verify"], true);
    let pids = fb.wait_for_pids(&mut child, &TREE);
    let _reaper = Reaper(pids.clone());
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");

    child.kill().unwrap();
    child.wait().unwrap();
    let left = survivors(&pids, Duration::from_secs(8));
    assert!(
        left.is_empty(),
        "processes of the build ({:?} = {pids:?}) outlived `kill -9` of wheelwright: {left:?}",
        TREE
    );
    let (stdout, stderr) = (text(&out), text(&err));
    assert!(
        stderr.contains("is gone; stopped its"),
        "the supervisor says what it did\n--- stderr\n{stderr}"
    );
    // The fence the killed wheelwright left open on stdout is ended.
    let token = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("a fence on stdout");
    assert!(
        !stdout.contains(&format!("::{token}::")),
        "wheelwright had no time to end it"
    );
    assert!(
        stderr.lines().any(|l| l == format!("::{token}::")),
        "the fence {token} stays open\n--- stderr\n{stderr}"
    );
}

/// Regression (defect 3): a double-forked `setsid` daemon with a cleared
/// environment survived a normal cancel. Ctrl-C (SIGINT) now stops every
/// process, and the records stay: report.json (cancelled, exit code 130)
/// and build.log.
#[test]
fn a_cancel_stops_the_whole_tree_setsid_daemon_included_and_keeps_the_records() {
    let fb = FaultBuild::new(&tree_build(false));
    let (mut child, _out, err) = start(&fb, &["--kill-grace", "2", "--no-verify"], false);
    let pids = fb.wait_for_pids(&mut child, &TREE);
    let _reaper = Reaper(pids.clone());

    send("INT", child.id());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let stderr = text(&err);
    assert_eq!(status.code(), Some(130), "{stderr}");
    let left = survivors(&pids, Duration::from_secs(3));
    assert!(
        left.is_empty(),
        "processes of the build ({:?} = {pids:?}) outlived the cancel: {left:?}",
        TREE
    );
    let r = fb.report();
    assert_eq!(r["outcome"], "cancelled");
    assert_eq!(r["exit_code"], 130);
    let log = fb.log();
    assert!(log.contains("cancelled"), "{log}");
    assert!(
        log.contains("struct alignment_of<long4>"),
        "the build's own lines are kept: {log}"
    );
}

/// A compiler that ignores SIGTERM is killed once the grace (`--kill-grace`)
/// is over, and the log and the console name it.
#[test]
fn a_compiler_that_ignores_sigterm_is_killed_after_the_grace_and_named() {
    let fb = FaultBuild::new(&tree_build(true));
    let (mut child, _out, err) = start(&fb, &["--kill-grace", "2", "--no-verify"], false);
    let mut names = TREE.to_vec();
    names.push("stubborn");
    let pids = fb.wait_for_pids(&mut child, &names);
    let _reaper = Reaper(pids.clone());
    let stubborn = pids[4];

    let start = Instant::now();
    send("TERM", child.id());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let took = start.elapsed();
    let stderr = text(&err);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        took >= Duration::from_secs(2),
        "the grace was not waited: {took:?}"
    );
    assert!(survivors(&pids, Duration::from_secs(3)).is_empty());
    let said = format!(
        "did not stop within 2s of SIGTERM and were killed with SIGKILL: sleep ({stubborn})"
    );
    let log = fb.log();
    assert!(log.contains(&said), "build.log lacks `{said}`:\n{log}");
    assert!(
        stderr.contains(&said),
        "the console lacks `{said}`:\n{stderr}"
    );
    assert_eq!(fb.report()["outcome"], "cancelled");
}
