//! Stopping a build's whole process tree, so no `nvcc`, `cicc` or `ptxas` is
//! left running after a cancel or a finished build.
//!
//! A build runs in its own process group, and its environment carries a marker
//! variable ([`env_vars::WHEELWRIGHT_BUILD_ID`]) that every descendant inherits. A tree is found
//! three ways, and the union is signalled: the process group, the descendants by
//! parent pid, and any process whose environment carries the marker — which catches a process that left the group (`setsid`)
//! and whose parent already died, so it was reparented to init. This is how
//! Jenkins' ProcessTreeKiller finds strays (its `BUILD_ID`). Linux only.
//!
//! The host's processes (pid, parent, name, state, environment) come from
//! `sysinfo`; the process group from `getpgid(2)`, which `sysinfo` does not
//! report. `/proc/PID/stat` is still read by hand for one thing: whether a
//! single process is alive or a zombie ([`is_alive`]), where a whole
//! `sysinfo` refresh would be the slower way to one letter.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, Pid};
use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

use wheelwright_base::env_vars;

/// One process of the host, the fields a tree needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The process id.
    pub pid: u32,
    /// The command name (at most 15 bytes, as the kernel keeps it).
    pub comm: String,
    /// `R`, `S`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// The parent's pid (0 for none).
    pub ppid: u32,
    /// The process group (0 when it could not be read: the process is gone).
    pub pgrp: u32,
}

/// Parse `/proc/PID/stat`: `pid (comm) state ppid pgrp ...`; `comm` may hold
/// spaces and parentheses, so split at the last `)`. Kept for the callers
/// that read one process's line; listing goes through `sysinfo`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        comm,
        state,
        ppid,
        pgrp,
    })
}

/// `sysinfo`'s status as `/proc/PID/stat`'s letter (what [`ProcStat::state`] holds).
fn state_letter(status: ProcessStatus) -> char {
    match status {
        ProcessStatus::Run => 'R',
        ProcessStatus::Sleep => 'S',
        ProcessStatus::Idle => 'I',
        ProcessStatus::Stop => 'T',
        ProcessStatus::Tracing => 't',
        ProcessStatus::Zombie => 'Z',
        ProcessStatus::Dead => 'X',
        ProcessStatus::UninterruptibleDiskSleep => 'D',
        ProcessStatus::Wakekill => 'K',
        ProcessStatus::Waking => 'W',
        ProcessStatus::Parked => 'P',
        _ => '?',
    }
}

/// Every process of the host (threads left out), read by `sysinfo`; with
/// `environ`, each one's environment too (for the marker). The process group
/// is `getpgid(2)`'s: `sysinfo` has no field for it.
fn scan(environ: bool) -> Vec<(ProcStat, Vec<std::ffi::OsString>)> {
    let Ok(mut sys) = System::new() else {
        return Vec::new();
    };
    let mut kind = ProcessRefreshKind::nothing().without_tasks();
    if environ {
        kind = kind.with_environ(UpdateKind::Always);
    }
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    sys.processes()
        .values()
        .filter(|p| p.thread_kind().is_none())
        .map(|p| {
            let pid = p.pid().as_u32();
            let pgrp = getpgid(Some(Pid::from_raw(pid as i32))).map_or(0, |g| g.as_raw() as u32);
            let stat = ProcStat {
                pid,
                comm: p.name().to_string_lossy().into_owned(),
                state: state_letter(p.status()),
                ppid: p.parent().map_or(0, |pp| pp.as_u32()),
                pgrp,
            };
            (
                stat,
                if environ {
                    p.environ().to_vec()
                } else {
                    Vec::new()
                },
            )
        })
        .collect()
}

/// Every process of the host (those that vanish while we read are skipped).
pub fn list_processes() -> Vec<ProcStat> {
    scan(false).into_iter().map(|(p, _)| p).collect()
}

/// Pids of all descendants of `root` (not `root` itself) in a process list.
pub fn descendants(root: u32, procs: &[ProcStat]) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in procs {
            if p.ppid == parent && p.pid != root && found.insert(p.pid) {
                frontier.push(p.pid);
            }
        }
    }
    found
}

/// Whether an environment holds `KEY=VALUE` exactly.
fn has_marker(environ: &[std::ffi::OsString], entry: &str) -> bool {
    environ.iter().any(|kv| kv == entry)
}

/// The processes of one build: its group leader (our direct child) and the
/// marker value its environment carries.
#[derive(Debug, Clone)]
pub struct BuildTree {
    /// The group leader's pid.
    pub leader: u32,
    /// The value of [`env_vars::WHEELWRIGHT_BUILD_ID`] in the tree's environment.
    pub marker_value: String,
    /// The leader is wheelwright's supervisor ([`crate::supervisor`]): it is
    /// spared the SIGKILL, so that it reaps the tree and exits by itself.
    pub supervised: bool,
}

impl BuildTree {
    /// The tree led by `leader` whose processes carry `marker_value`.
    pub fn new(leader: u32, marker_value: impl Into<String>) -> Self {
        BuildTree {
            leader,
            marker_value: marker_value.into(),
            supervised: false,
        }
    }

    /// A tree led by the supervisor.
    pub fn supervised(mut self) -> Self {
        self.supervised = true;
        self
    }

    /// Live (non-zombie) members other than this process: the group, the
    /// descendants of the leader, and every process carrying the marker.
    pub fn members(&self) -> BTreeSet<u32> {
        let scanned = scan(true);
        let procs: Vec<ProcStat> = scanned.iter().map(|(p, _)| p.clone()).collect();
        let me = std::process::id();
        let entry = format!("{}={}", env_vars::WHEELWRIGHT_BUILD_ID, self.marker_value);
        let mut set = descendants(self.leader, &procs);
        for p in &procs {
            if p.pgrp == self.leader || p.pid == self.leader {
                set.insert(p.pid);
            }
        }
        for (p, environ) in &scanned {
            if !set.contains(&p.pid) && p.pid != me && has_marker(environ, &entry) {
                set.insert(p.pid);
            }
        }
        let live: BTreeSet<u32> = procs
            .iter()
            .filter(|p| p.state != 'Z' && p.state != 'X')
            .map(|p| p.pid)
            .collect();
        set.retain(|pid| *pid != me && live.contains(pid));
        set
    }

    /// Send `signal` to the group and to every member; returns how many were signalled.
    pub fn signal(&self, signal: Signal) -> usize {
        let members = self.members();
        let _ = killpg(Pid::from_raw(self.leader as i32), signal);
        for pid in &members {
            let _ = kill(Pid::from_raw(*pid as i32), signal);
        }
        members.len()
    }

    /// SIGTERM the tree, wait up to `grace` for it to go, then SIGKILL whatever
    /// is left (looking again, for processes started during the grace period).
    /// Returns what was done, for the log.
    pub fn terminate(&self, grace: Duration) -> TerminateSummary {
        let termed = self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        let mut summary = TerminateSummary {
            terminated: termed,
            killed: BTreeMap::new(),
        };
        while Instant::now() < deadline {
            if self.members().is_empty() {
                return summary;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The supervisor is spared: while it lives, whatever leaves the
        // tree now becomes its child, not init's, and is found next round.
        let spared = self.supervised.then_some(self.leader);
        for _ in 0..5 {
            let mut members = self.members();
            members.retain(|p| Some(*p) != spared);
            if members.is_empty() {
                break;
            }
            for p in list_processes() {
                if members.contains(&p.pid) {
                    summary.killed.entry(p.pid).or_insert(p.comm);
                }
            }
            if spared.is_none() {
                let _ = killpg(Pid::from_raw(self.leader as i32), Signal::SIGKILL);
            }
            for pid in &members {
                let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(leader) = spared {
            // Its tree gone, it exits; should it not, it is killed too.
            let deadline = Instant::now() + Duration::from_secs(5);
            while is_alive(leader) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if is_alive(leader) {
                let _ = kill(Pid::from_raw(leader as i32), Signal::SIGKILL);
            }
        }
        summary
    }
}

/// How a tree was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminateSummary {
    /// Processes sent SIGTERM.
    pub terminated: usize,
    /// Processes still alive after the grace period, sent SIGKILL: pid and name.
    pub killed: BTreeMap<u32, String>,
}

impl TerminateSummary {
    /// What happened, for the log: `sent SIGTERM to 3 process(es)`, and the
    /// names of those that outlived the grace and were killed.
    pub fn describe(&self, grace: Duration) -> String {
        let mut text = format!("sent SIGTERM to {} process(es)", self.terminated);
        if self.killed.is_empty() {
            text.push_str(&format!("; all ended within the grace of {grace:.0?}"));
        } else {
            text.push_str(&format!(
                "; {} did not stop within {grace:.0?} of SIGTERM and were killed with SIGKILL: {}",
                self.killed.len(),
                names(&self.killed)
            ));
        }
        text
    }
}

/// Whether a process exists (a zombie counts as gone).
pub fn is_alive(pid: u32) -> bool {
    if kill(Pid::from_raw(pid as i32), None) == Err(Errno::ESRCH) {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => parse_stat(&text).is_some_and(|s| s.state != 'Z' && s.state != 'X'),
        Err(_) => false,
    }
}

/// `nvcc (123), cc1plus (124)`.
pub fn names(killed: &BTreeMap<u32, String>) -> String {
    killed
        .iter()
        .map(|(pid, comm)| format!("{comm} ({pid})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    #[test]
    fn parses_stat_with_odd_comm() {
        let s = parse_stat("4242 (cc1plus (x) y) S 4200 4100 4100 0 -1 4194560 ...").unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "cc1plus (x) y");
        assert_eq!((s.state, s.ppid, s.pgrp), ('S', 4200, 4100));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn finds_descendants() {
        let p = |pid, ppid| ProcStat {
            pid,
            comm: String::new(),
            state: 'S',
            ppid,
            pgrp: 1,
        };
        let procs = vec![p(10, 1), p(11, 10), p(12, 11), p(13, 1), p(14, 12)];
        assert_eq!(
            descendants(10, &procs).into_iter().collect::<Vec<_>>(),
            vec![11, 12, 14]
        );
    }

    #[test]
    fn kills_a_tree_including_an_escaped_process() {
        let marker = format!("tree-test-{}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("escaped.pid");
        // The child starts a grandchild in a new session (out of the group),
        // and a plain sleeping grandchild.
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 300' & sleep 300 & wait",
            pidfile.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .env(env_vars::WHEELWRIGHT_BUILD_ID, &marker)
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let leader = child.id();
        let start = Instant::now();
        while !pidfile.exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        let escaped: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let tree = BuildTree::new(leader, &marker);
        let members = tree.members();
        assert!(members.contains(&escaped), "{members:?} lacks {escaped}");
        assert!(members.len() >= 3, "{members:?}");
        let summary = tree.terminate(Duration::from_secs(5));
        assert!(summary.terminated >= 3, "{summary:?}");
        let _ = child.wait();
        assert!(!is_alive(escaped), "escaped process {escaped} survived");
        assert!(tree.members().is_empty());
    }
}
