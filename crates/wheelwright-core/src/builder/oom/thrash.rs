//! The thrash watchdog: stop an attempt that is stalled on memory at its
//! ceiling instead of waiting for the kernel's OOM killer.
//!
//! Measured on the H200 box (`bench/results/h200-oom-cgroup-thrash`): 16
//! compile jobs in a cgroup with `memory.max=48G` were not OOM-killed for 16
//! minutes. The kernel reclaimed the compilers' file pages over and over
//! instead (`memory.events` `max` rising by millions, `oom_kill 0`), and the
//! cgroup's `memory.pressure` said `full avg10=87.32 avg60=87.88
//! avg300=84.43`: all of the build's tasks stalled on memory 84-88 % of the
//! time. A build that waits for a kill loses those minutes.
//!
//! So while an attempt runs, [`ThrashWatch`] reads memory pressure (PSI) every
//! [`SAMPLE_INTERVAL`]: the build's own cgroup's `memory.pressure` (cgroup v2,
//! found as [`super::memory_events_file`] finds `memory.events`: beside this
//! process's cgroup, else the cgroup root inside a container), else the
//! host's `/proc/pressure/memory`. The attempt is **thrashing** when, on every
//! sample for [`SUSTAINED`] in a row,
//! - `full avg10` ≥ [`FULL_AVG10_PERCENT`]: all non-idle tasks stalled on
//!   memory at least half of the last 10 s (the kernel's running average), and
//! - memory in use ≥ [`super::AT_CEILING_FRACTION`] of the ceiling: the
//!   cgroup's `memory.current` against its limit, else the host's MemTotal −
//!   MemAvailable against MemTotal (or the plan's ceiling where none is
//!   readable). Pressure below the ceiling is not ours to cure with fewer jobs.
//!
//! Why these numbers:
//! - 50 % `full`: at that level the build gets at most half of its wall time
//!   for work, so fewer jobs that fit run faster than more that thrash. The
//!   measured thrash sat at 84-88 %; a busy but healthy box (the shared
//!   2-core development box, 4-5 compilers) shows about 1 %, and reclaiming
//!   page cache at a cgroup's limit is cheap and stalls little.
//! - 30 s on every sample: `avg10` is a 10 s exponential average, so a burst
//!   of full stall of `s` seconds holds it above 50 % for well under `s`
//!   seconds (a link step or a burst of page-cache reclaim of 10-20 s does
//!   not trip it). Waiting 30 s costs about 3 % of the 1,025 s subset build
//!   the planner predicted for that cgroup, against the 16 minutes measured.
//! - one sample a second: the kernel updates the averages every 2 s; one
//!   small file read a second costs nothing.
//!
//! When the watchdog fires, the runner stops the attempt as a cancel does
//! (the whole process tree, with the kill grace), records it as
//! [`crate::builder::Outcome::Thrashing`] with the evidence, and retries like
//! after an OOM kill: [`super::retry_jobs`] re-plans the units still to build
//! against the cgroup's limit. Where no PSI file is readable (a kernel
//! without `CONFIG_PSI`, booted with `psi=0`, cgroup v1 without it) there is
//! no watchdog, and the attempt's notes say so: nothing is guessed from
//! memory use alone. `WHEELWRIGHT_THRASH_SECONDS` changes [`SUSTAINED`]
//! (`off` or `0`: no watchdog).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::builder::memory::{cgroup_memory_file, parse_meminfo_used, read_u64};
use crate::detect::cgroup::own_v2_files;
use crate::units::format_bytes;

use super::AT_CEILING_FRACTION;

/// `full avg10` at or above this percentage (with memory at the ceiling)
/// counts as thrashing.
pub const FULL_AVG10_PERCENT: f64 = 50.0;
/// How long every sample must say thrashing before the attempt is stopped.
pub const SUSTAINED: Duration = Duration::from_secs(30);
/// Time between samples (the kernel updates the averages every 2 s).
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// One line of a PSI file: the share of time stalled over 10 s, 60 s and
/// 300 s (percent) and the total stall time (microseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_usec: u64,
}

/// A PSI file: `some` (at least one task stalled) and `full` (all non-idle
/// tasks stalled), the latter absent where the kernel does not write it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pressure {
    pub some: PsiLine,
    pub full: Option<PsiLine>,
}

fn parse_line(rest: &str) -> Option<PsiLine> {
    let mut avg10 = None;
    let mut avg60 = None;
    let mut avg300 = None;
    let mut total = None;
    for field in rest.split_whitespace() {
        let (k, v) = field.split_once('=')?;
        match k {
            "avg10" => avg10 = v.parse::<f64>().ok(),
            "avg60" => avg60 = v.parse::<f64>().ok(),
            "avg300" => avg300 = v.parse::<f64>().ok(),
            "total" => total = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    Some(PsiLine {
        avg10: avg10?,
        avg60: avg60?,
        avg300: avg300?,
        total_usec: total?,
    })
}

/// A PSI text (`some avg10=… avg60=… avg300=… total=…`, then `full …`);
/// `None` without a well-formed `some` line.
pub(crate) fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("some", rest)) => some = parse_line(rest),
            Some(("full", rest)) => full = parse_line(rest),
            _ => {}
        }
    }
    Some(Pressure { some: some?, full })
}

/// The memory PSI files to try under `root`, in order: this process's cgroup
/// v2 `memory.pressure`, the cgroup root's (a container's), the host's.
pub(crate) fn pressure_candidates(root: &Path) -> Vec<PathBuf> {
    let mut candidates = own_v2_files(root, "memory.pressure");
    candidates.push(root.join("proc/pressure/memory"));
    candidates.dedup();
    candidates
}

fn read_pressure(path: &Path) -> Option<Pressure> {
    parse_pressure(&std::fs::read_to_string(path).ok()?)
}

/// How the thrash watchdog judges. The default: stop an attempt when PSI
/// `full avg10` ≥ 50 % on every sample (one a second) for 30 s while memory
/// stands at ≥ 90 % of the memory limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrashPolicy {
    /// Watch at all.
    pub enabled: bool,
    /// `full avg10` (percent) at or above which a sample counts as stalled.
    pub full_avg10_percent: f64,
    /// How long every sample must say thrashing.
    pub sustained: Duration,
    /// Time between samples.
    pub interval: Duration,
}

impl Default for ThrashPolicy {
    fn default() -> Self {
        ThrashPolicy {
            enabled: true,
            full_avg10_percent: FULL_AVG10_PERCENT,
            sustained: SUSTAINED,
            interval: SAMPLE_INTERVAL,
        }
    }
}

impl ThrashPolicy {
    /// The policy with `WHEELWRIGHT_THRASH_SECONDS` applied: `off` or `0`
    /// turns the watchdog off, a number of seconds replaces the default 30 s
    /// (sampling ten times in that time when it is under 10 s). A value that
    /// is neither keeps the default and says so in the second field.
    pub fn with_override(value: Option<&str>) -> (ThrashPolicy, Option<String>) {
        let mut policy = ThrashPolicy::default();
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return (policy, None);
        };
        if v.eq_ignore_ascii_case("off") {
            policy.enabled = false;
            return (policy, None);
        }
        match v.parse::<f64>() {
            Ok(0.0) => {
                policy.enabled = false;
                (policy, None)
            }
            Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                policy.sustained = Duration::from_secs_f64(s);
                policy.interval = SAMPLE_INTERVAL.min(policy.sustained / 10);
                (policy, None)
            }
            _ => (
                policy,
                Some(format!(
                    "{}={v:?} is not a number of seconds or `off`; the thrash watchdog waits the default {} s",
                    crate::env_vars::WHEELWRIGHT_THRASH_SECONDS,
                    SUSTAINED.as_secs()
                )),
            ),
        }
    }
}

/// The ceiling the watchdog compares memory in use with, and how to read
/// that use.
#[derive(Debug, Clone)]
enum Usage {
    /// The cgroup's `memory.current` (v1 `memory.usage_in_bytes`).
    Cgroup(PathBuf),
    /// MemTotal − MemAvailable from this `meminfo`.
    Host(PathBuf),
}

/// Why the watchdog stopped an attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ThrashStop {
    /// In words, for the log, the report and the retry's reason.
    pub evidence: String,
}

/// The watchdog of one attempt (see the module docs).
#[derive(Debug)]
pub(crate) struct ThrashWatch {
    policy: ThrashPolicy,
    pressure_file: PathBuf,
    usage: Usage,
    ceiling: u64,
    /// `cgroup limit`, `memory ceiling`, `memory total`.
    ceiling_what: &'static str,
    next_sample: Option<Instant>,
    /// First sample of the current run of thrashing samples.
    since: Option<Instant>,
    /// Lowest `full avg10` and sample count of that run.
    run_min_full: f64,
    run_samples: u64,
    /// Highest `full avg10` seen in the attempt.
    pub(crate) peak_full_avg10: Option<f64>,
}

impl ThrashWatch {
    /// Arm the watchdog under `root` for an attempt, or say in words why
    /// there is none. `plan_ceiling` is used where no cgroup limit and no
    /// MemTotal is readable.
    pub(crate) fn start(
        root: &Path,
        policy: &ThrashPolicy,
        plan_ceiling: Option<u64>,
    ) -> Result<ThrashWatch, String> {
        if !policy.enabled {
            return Err(format!(
                "no thrash watchdog: turned off ({}=off)",
                crate::env_vars::WHEELWRIGHT_THRASH_SECONDS
            ));
        }
        let candidates = pressure_candidates(root);
        let Some((pressure_file, first)) = candidates
            .iter()
            .find_map(|p| read_pressure(p).map(|x| (p.clone(), x)))
        else {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "no thrash watchdog: memory pressure (PSI) is not readable here (tried {}); an attempt that thrashes runs until the kernel's OOM killer acts",
                tried.join(", ")
            ));
        };
        if first.full.is_none() {
            return Err(format!(
                "no thrash watchdog: {} has no `full` line; an attempt that thrashes runs until the kernel's OOM killer acts",
                pressure_file.display()
            ));
        }
        let meminfo = root.join("proc/meminfo");
        let total = std::fs::read_to_string(&meminfo)
            .ok()
            .and_then(|t| crate::detect::host::proc_field_bytes(&t, "MemTotal"))
            .filter(|b| *b > 0);
        let (usage, ceiling, ceiling_what) = match (
            super::cgroup_limit(root),
            cgroup_memory_file(root),
            total,
            plan_ceiling.filter(|b| *b > 0),
        ) {
            (Some(limit), Some(current), _, _) => (Usage::Cgroup(current), limit, "cgroup limit"),
            (_, _, Some(total), _) => (Usage::Host(meminfo), total, "memory total"),
            (_, _, None, Some(c)) => (Usage::Host(meminfo), c, "memory ceiling"),
            _ => {
                return Err(
                    "no thrash watchdog: no memory limit or total is readable to tell a thrash at the ceiling".into(),
                )
            }
        };
        Ok(ThrashWatch {
            policy: policy.clone(),
            pressure_file,
            usage,
            ceiling,
            ceiling_what,
            next_sample: None,
            since: None,
            run_min_full: f64::INFINITY,
            run_samples: 0,
            peak_full_avg10: None,
        })
    }

    /// What it watches, in words, for the log.
    pub(crate) fn describe(&self) -> String {
        format!(
            "thrash watchdog on {}: stops the attempt when full avg10 ≥ {:.0} % on every sample for {} s with memory ≥ {:.0} % of the {} {}",
            self.pressure_file.display(),
            self.policy.full_avg10_percent,
            seconds(self.policy.sustained),
            AT_CEILING_FRACTION * 100.0,
            format_bytes(self.ceiling),
            self.ceiling_what
        )
    }

    /// Take a sample when one is due; `Some` when the attempt has thrashed
    /// for the policy's time.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<ThrashStop> {
        if self.next_sample.is_some_and(|t| now < t) {
            return None;
        }
        self.next_sample = Some(now + self.policy.interval);
        let full = read_pressure(&self.pressure_file)
            .and_then(|p| p.full)
            .map(|f| f.avg10);
        let used = match &self.usage {
            Usage::Cgroup(p) => read_u64(p),
            Usage::Host(p) => std::fs::read_to_string(p)
                .ok()
                .and_then(|t| parse_meminfo_used(&t)),
        };
        self.observe(now, full, used)
    }

    /// Judge one sample taken at `now` (see the module docs). A sample that
    /// could not be read ends a run: nothing is guessed.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        full_avg10: Option<f64>,
        used: Option<u64>,
    ) -> Option<ThrashStop> {
        if let Some(f) = full_avg10 {
            self.peak_full_avg10 = Some(self.peak_full_avg10.map_or(f, |p| p.max(f)));
        }
        let at_ceiling =
            used.is_some_and(|u| u as f64 >= AT_CEILING_FRACTION * self.ceiling as f64);
        let (Some(full), true) = (full_avg10, at_ceiling) else {
            self.since = None;
            return None;
        };
        if full < self.policy.full_avg10_percent {
            self.since = None;
            return None;
        }
        let since = match self.since {
            Some(s) => s,
            None => {
                self.run_min_full = f64::INFINITY;
                self.run_samples = 0;
                self.since = Some(now);
                now
            }
        };
        self.run_min_full = self.run_min_full.min(full);
        self.run_samples += 1;
        let held = now.saturating_duration_since(since);
        if held < self.policy.sustained {
            return None;
        }
        let file = self
            .pressure_file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let file = if file == "memory" {
            self.pressure_file.display().to_string()
        } else {
            file
        };
        Some(ThrashStop {
            evidence: format!(
                "tasks stalled on memory {full:.0} % of the last 10 s at the {} {} for {} s: thrashing ({file} full avg10 ≥ {:.0} % on each of {} samples, memory at {})",
                format_bytes(self.ceiling),
                self.ceiling_what,
                seconds(held),
                self.run_min_full.floor(),
                self.run_samples,
                format_bytes(used.unwrap_or(0))
            ),
        })
    }
}

/// `30`, `1.5`: seconds to a tenth, without a trailing `.0`.
fn seconds(d: Duration) -> String {
    let text = format!("{:.1}", d.as_secs_f64());
    text.strip_suffix(".0").unwrap_or(&text).to_string()
}

#[cfg(test)]
mod tests;
