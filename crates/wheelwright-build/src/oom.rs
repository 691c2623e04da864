//! Out-of-memory kills: telling them apart from other deaths by evidence, and
//! the setting of the retry after one.
//!
//! An attempt counts as killed for memory only on evidence
//! ([`judge`]), strongest first:
//! 1. the cgroup's `memory.events` `oom_kill` counter rose during the attempt
//!    (cgroup v2; the kernel counts every OOM kill in the cgroup there);
//! 2. the kernel logged an OOM kill during the attempt (`/dev/kmsg`, readable
//!    as root or with `dmesg_restrict=0`: `Out of memory: Killed process …`,
//!    `Memory cgroup out of memory: …`, `oom-kill:…`);
//! 3. a compiler or the build was killed by SIGKILL (exit 137, `Killed
//!    signal terminated program`, `died due to signal 9`) while memory stood
//!    within [`AT_CEILING_FRACTION`] of the ceiling.
//!
//! A kill with none of these (a CI job's timeout, an operator's `kill -9`) and
//! any other signal (a `ptxas` segfault is signal 11) is a failure, not
//! retried: fewer jobs would not help. Only when no memory figure could be
//! read at all is a SIGKILL still taken for an OOM kill, and the evidence says
//! so.
//!
//! The retry ([`retry_jobs`]) re-plans the units still to build with the
//! per-unit cost model against the ceiling the kill revealed: the cgroup's
//! limit re-read now (`memory.max`, v1 `memory.limit_in_bytes`), else the
//! memory in use when the kernel killed (the kill says that is all there
//! was), never above what `MemAvailable` says is free now (re-read: VMs whose
//! memory balloons change it), less the plan's margin. It never divides the
//! ceiling by a sampled per-job peak: that sample is cut short by the kill
//! itself and underestimates, so its retry is killed again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::memory::MemoryPeak;
use wheelwright_base::units::format_bytes;
use wheelwright_detect::cgroup::own_v2_files;
use wheelwright_detect::host::proc_field_bytes;
use wheelwright_plan::ScheduleBasis;

/// Memory at or above this fraction of the ceiling counts as "at the ceiling".
pub(crate) const AT_CEILING_FRACTION: f64 = 0.9;
const SIGKILL: i32 = 9;

/// The cgroup v2 `memory.events` of this process under `root`: beside its
/// own cgroup's files, else the cgroup root (inside a container).
pub(crate) fn memory_events_file(root: &Path) -> Option<PathBuf> {
    own_v2_files(root, "memory.events")
        .into_iter()
        .find(|p| p.is_file())
}

/// The `oom_kill N` counter of a `memory.events` text.
pub(crate) fn parse_oom_kill_count(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == "oom_kill").then(|| value.trim().parse().ok())?
    })
}

/// The kernel's OOM-kill messages in `/dev/kmsg` records (`pri,seq,usec,flags;text`)
/// stamped at or after `since_usec` (microseconds since boot).
pub(crate) fn kernel_oom_messages(records: &str, since_usec: u64) -> Vec<String> {
    records
        .lines()
        .filter_map(|r| {
            let (head, text) = r.split_once(';')?;
            let usec: u64 = head.split(',').nth(2)?.parse().ok()?;
            let lower = text.to_ascii_lowercase();
            let oom = lower.starts_with("oom-kill:")
                || (lower.contains("out of memory") && lower.contains("killed process"));
            (usec >= since_usec && oom).then(|| text.trim().to_string())
        })
        .collect()
}

/// Microseconds since boot from `proc/uptime` under `root`: the time base of
/// `/dev/kmsg` records (they differ only by time spent suspended); 0 when
/// unreadable, which keeps every record.
pub(crate) fn uptime_usec(root: &Path) -> u64 {
    std::fs::read_to_string(root.join("proc/uptime"))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |s| (s * 1e6) as u64)
}

/// What `/dev/kmsg` under `root` holds now, as text (empty when unreadable:
/// `dmesg_restrict`, no such device). Reads without blocking.
pub(crate) fn read_kmsg(root: &Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join("dev/kmsg");
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&path)
    else {
        return String::new();
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // The device returns one record per read; a plain file (a test's fake
    // root) reads like any file. Bounded: the kernel's ring holds at most a
    // few MiB.
    for _ in 0..100_000 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            // EPIPE: records overwritten while reading; go on.
            Err(e) if e.raw_os_error() == Some(nix::libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The OOM evidence sources, read when an attempt starts.
#[derive(Debug, Clone)]
pub(crate) struct OomWatch {
    root: PathBuf,
    events: Option<PathBuf>,
    oom_kills_at_start: Option<u64>,
    started_usec: u64,
}

impl OomWatch {
    /// Note the counters under `root` now, before an attempt.
    pub(crate) fn start(root: &Path) -> Self {
        let events = memory_events_file(root);
        let oom_kills_at_start = events.as_deref().and_then(read_oom_kills);
        OomWatch {
            root: root.to_path_buf(),
            events,
            oom_kills_at_start,
            started_usec: uptime_usec(root),
        }
    }

    /// What the kernel recorded since [`OomWatch::start`].
    pub(crate) fn finish(&self) -> KernelEvidence {
        // The file may appear only with the first event (a fake root) or
        // after a cgroup move; look again.
        let events = self
            .events
            .clone()
            .or_else(|| memory_events_file(&self.root));
        let now = events.as_deref().and_then(read_oom_kills);
        let cgroup_oom_kills = match (now, self.oom_kills_at_start) {
            (Some(n), Some(s)) => Some(n.saturating_sub(s)),
            (Some(n), None) => Some(n),
            _ => None,
        };
        KernelEvidence {
            cgroup_oom_kills,
            kernel_messages: kernel_oom_messages(&read_kmsg(&self.root), self.started_usec),
        }
    }
}

fn read_oom_kills(path: &Path) -> Option<u64> {
    parse_oom_kill_count(&std::fs::read_to_string(path).ok()?)
}

/// What the kernel says about one attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KernelEvidence {
    /// How much the cgroup's `oom_kill` counter rose; `None` where unreadable.
    pub cgroup_oom_kills: Option<u64>,
    /// OOM-kill lines the kernel logged during the attempt.
    pub kernel_messages: Vec<String>,
}

/// Everything [`judge`] weighs.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AttemptDeath {
    /// The build command's signal, if a signal ended it.
    pub signal: Option<i32>,
    /// The log shows a compiler killed by SIGKILL (the diagnoser's `oom-killed`).
    pub log_shows_kill: bool,
    /// What the kernel recorded.
    pub kernel: KernelEvidence,
    /// The attempt's memory peaks.
    pub peak: MemoryPeak,
    /// The memory ceiling the attempt ran under (cgroup limit or total).
    pub ceiling_bytes: Option<u64>,
}

/// The verdict on a death: OOM or not, and the evidence in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    /// Killed for memory: a retry with fewer jobs can help.
    pub out_of_memory: bool,
    /// Why, for the log and the report.
    pub evidence: String,
}

/// The highest memory figure of an attempt that compares with the ceiling:
/// the cgroup's (the OOM killer of a container acts on it), else the host's.
pub(crate) fn memory_at_kill(peak: &MemoryPeak) -> Option<u64> {
    peak.cgroup_peak_bytes
        .max(peak.cgroup_bytes)
        .or(peak.host_used_bytes)
        .filter(|b| *b > 0)
}

/// OOM or not, from the evidence (see the module docs for the order).
pub(crate) fn judge(d: &AttemptDeath) -> Verdict {
    let yes = |evidence: String| Verdict {
        out_of_memory: true,
        evidence,
    };
    let no = |evidence: String| Verdict {
        out_of_memory: false,
        evidence,
    };
    if let Some(n) = d.kernel.cgroup_oom_kills.filter(|n| *n > 0) {
        return yes(format!(
            "the cgroup's memory.events oom_kill counter rose by {n}"
        ));
    }
    if let Some(m) = d.kernel.kernel_messages.first() {
        return yes(format!("the kernel logged: {m}"));
    }
    let killed = d.signal == Some(SIGKILL) || d.log_shows_kill;
    let how = if d.signal == Some(SIGKILL) {
        "the build was killed by SIGKILL"
    } else {
        "a compiler was killed by SIGKILL (exit 137)"
    };
    if !killed {
        return match d.signal {
            Some(s) => no(format!(
                "the build died of signal {s}, not an out-of-memory kill"
            )),
            None => no("no process was killed".into()),
        };
    }
    match (memory_at_kill(&d.peak), d.ceiling_bytes.filter(|c| *c > 0)) {
        (Some(used), Some(ceiling)) if used as f64 >= AT_CEILING_FRACTION * ceiling as f64 => {
            yes(format!(
                "{how} with memory at {} of the {} ceiling",
                format_bytes(used),
                format_bytes(ceiling)
            ))
        }
        (Some(used), Some(ceiling)) => no(format!(
            "{how}, but memory peaked at {} of the {} ceiling and the kernel recorded no OOM kill: something else killed it (a timeout, an operator); not retried",
            format_bytes(used),
            format_bytes(ceiling)
        )),
        _ => yes(format!(
            "{how}; no memory figure or kernel record was readable, so it is taken for an out-of-memory kill"
        )),
    }
}

/// The cgroup memory limit that applies to this process under `root`, read
/// the way `detect` reads it (the smallest up the hierarchy, v2 or v1).
pub(crate) fn cgroup_limit(root: &Path) -> Option<u64> {
    let opts = wheelwright_detect::DetectOptions {
        root: root.to_path_buf(),
        path: Default::default(),
        env: Default::default(),
        python: None,
        skip_python: true,
        nvml: false,
        disk_path: root.to_path_buf(),
        timeout: std::time::Duration::from_secs(1),
    };
    wheelwright_detect::cgroup::probe(&opts)
        .0
        .memory_limit_bytes
}

/// The limit an attempt's memory runs into under `root`: the cgroup's
/// (`memory.max` up the hierarchy, v1 `memory.limit_in_bytes`), else MemTotal.
pub(crate) fn memory_limit(root: &Path) -> Option<u64> {
    cgroup_limit(root)
        .or_else(|| {
            std::fs::read_to_string(root.join("proc/meminfo"))
                .ok()
                .and_then(|t| proc_field_bytes(&t, "MemTotal"))
        })
        .filter(|b| *b > 0)
}

/// The memory a retry may plan for, and where that figure came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ceiling {
    /// Bytes, before the plan's margin is taken off.
    pub bytes: u64,
    /// `cgroup limit`, `usage at the kill`, `available memory`.
    pub basis: String,
}

/// The ceiling the kill revealed, re-read now under `root`: the cgroup's limit,
/// else the memory in use at the kill; at most what `MemAvailable` says is
/// free now (nothing of ours runs between attempts).
pub(crate) fn revealed_ceiling(root: &Path, peak: &MemoryPeak) -> Option<Ceiling> {
    let limit = cgroup_limit(root);
    let available = std::fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|t| proc_field_bytes(&t, "MemAvailable"))
        .filter(|b| *b > 0);
    let revealed = match limit {
        Some(l) => Some((l, "cgroup limit")),
        None => memory_at_kill(peak).map(|u| (u, "usage at the kill")),
    };
    match (revealed, available) {
        (Some((r, _)), Some(a)) if a < r => Some(Ceiling {
            bytes: a,
            basis: "available memory".into(),
        }),
        (Some((r, basis)), _) => Some(Ceiling {
            bytes: r,
            basis: basis.into(),
        }),
        (None, Some(a)) => Some(Ceiling {
            bytes: a,
            basis: "available memory".into(),
        }),
        (None, None) => None,
    }
}

/// MAX_JOBS for the retry: the planner's choice for the units not built yet,
/// at the fixed NVCC_THREADS, under `ceiling` less the plan's margin; strictly
/// fewer than `old_jobs` and at least 1. Without a plan's units (`basis`
/// `None`) or a ceiling: half the jobs. `None` when already at 1.
pub(crate) fn retry_jobs(
    old_jobs: u32,
    threads: u32,
    basis: Option<&ScheduleBasis>,
    built: &[String],
    ceiling: Option<&Ceiling>,
) -> Option<u32> {
    if old_jobs <= 1 {
        return None;
    }
    let planned = match (basis, ceiling) {
        (Some(b), Some(c)) => {
            let margin = wheelwright_plan::memory_margin(c.bytes);
            b.jobs_under(threads, built, c.bytes.saturating_sub(margin))
        }
        _ => None,
    };
    Some(planned.unwrap_or(old_jobs / 2).min(old_jobs - 1).max(1))
}

pub(crate) mod thrash;

#[cfg(test)]
mod tests;
