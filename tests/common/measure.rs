//! Run one child and measure it alone: its peak resident set size and the
//! CPU time it used, from `wait4(2)` on its pid (not `RUSAGE_CHILDREN`,
//! which mixes every child the test binary's other threads have reaped),
//! with a wall-clock limit after which it is killed.
//!
//! The kernel counts in a child's `ru_maxrss` the peak of the memory it was
//! forked from (at `exec`, the old address space's high-water mark is kept:
//! `exec_mmap`), so a test that measures must keep the test process small:
//! crafted input is streamed to disk, never held whole. A panic in another
//! test of the same binary raises it too (printing a backtrace maps the
//! debug info: about 130 MiB), so the first failure is the one to read.
//! [`Measured`] shows the test process's own peak at the spawn beside the
//! child's.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// What a measured child did.
#[derive(Debug)]
pub struct Measured {
    /// Its exit status and what it printed.
    pub output: Output,
    /// Its own peak resident set size, KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
    /// The test process's own peak RSS when it spawned the child, KiB: a
    /// floor under `max_rss_kib`.
    pub parent_rss_kib: u64,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Wall-clock time.
    pub wall: Duration,
    /// It ran past the limit and was killed (SIGKILL).
    pub timed_out: bool,
}

impl Measured {
    /// Peak RSS in MiB, for messages.
    pub fn max_rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    /// One line for assertion messages: exit, RSS, CPU, wall, output.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?} (signal {:?}), max RSS {:.1} MiB (the test process's: {:.1} MiB), CPU {:.2?}, wall {:.2?}{}\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status.code(),
            self.output.status.signal(),
            self.max_rss_mib(),
            self.parent_rss_kib as f64 / 1024.0,
            self.cpu,
            self.wall,
            if self.timed_out { ", KILLED at the time limit" } else { "" },
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr),
        )
    }
}

/// Run `cmd` (stdin empty, stdout and stderr captured) for at most `limit`.
// The child is reaped by `wait4(2)` on its pid, which clippy does not see.
#[allow(clippy::zombie_processes)]
pub fn measure(cmd: &mut Command, limit: Duration) -> Measured {
    let parent_rss_kib = own_peak_rss_kib();
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the measured program starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    let (status, usage) = loop {
        if let Some(done) = wait4(pid, libc::WNOHANG) {
            break done;
        }
        if !timed_out && start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break wait4(pid, 0).expect("the killed child is reaped");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        output: Output {
            status: ExitStatus::from_raw(status),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        max_rss_kib: usage.ru_maxrss as u64,
        parent_rss_kib,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        wall,
        timed_out,
    }
}

/// This process's own peak RSS (`VmHWM`, its address space's high-water
/// mark), KiB; not `RUSAGE_SELF`, which holds cargo's peak from the exec.
fn own_peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `wait4(pid, options)`: its wait status and resource usage once it has
/// exited; `None` while it runs (with `WNOHANG`).
#[allow(unsafe_code)] // wait4 has no safe wrapper in std or nix
fn wait4(pid: libc::pid_t, options: libc::c_int) -> Option<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain old data that wait4 fills in; both pointers
    // are valid for the duration of the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above; `pid` is our own unreaped child.
        let got = unsafe { libc::wait4(pid, &mut status, options, &mut usage) };
        match got {
            0 => return None,
            p if p == pid => return Some((status, usage)),
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
                continue
            }
            _ => panic!("wait4({pid}): {}", std::io::Error::last_os_error()),
        }
    }
}
