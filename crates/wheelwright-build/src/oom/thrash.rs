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
//! host's `/proc/pressure/memory`. From the `full total=` counter of its own
//! samples it takes the attempt's **stall share** ([`psi::StallWindow`]): the
//! share of the last [`WINDOW`] of this attempt in which all of the build's
//! non-idle tasks stalled on memory. The attempt is **thrashing** when, on
//! every sample for [`SUSTAINED`] in a row,
//! - the stall share ≥ [`FULL_PERCENT`], and
//! - memory in use ≥ [`super::AT_CEILING_FRACTION`] of the ceiling: the
//!   cgroup's `memory.current` against its limit, else the host's MemTotal −
//!   MemAvailable against MemTotal (or the plan's ceiling where none is
//!   readable), as the memory sampler (`builder::memory`) read them last:
//!   one reading a tick serves both. Pressure below the ceiling is not ours
//!   to cure with fewer jobs.
//!
//! The report's `memory_pressure_peak` of the attempt is the highest stall
//! share the watchdog saw ([`ThrashWatch::peak`]): the report and the stop
//! test speak of the same number.
//!
//! Why the attempt's own share, not the kernel's `full avg10` (which this
//! watchdog read first): `avg10` is an exponential average that remembers
//! the time before the attempt. On the H200 (`bench/results/
//! h200-oom-cgroup-watchdog`) attempt 2, started right after attempt 1 was
//! stopped for thrashing, reported an `avg10` peak of 76.31 % though its
//! memory never rose above 34 of the 48 GiB: its first samples carried
//! attempt 1's stall. The stop test had the same flaw: an inherited 85 %
//! stays above 50 % for about 5 s (10 s × ln(85/50)) with no stall of the new
//! attempt at all, so a retry could be stopped with less than 30 s of its own
//! thrashing. And `avg10` moves in 2 s steps with a tail longer than 10 s,
//! while a difference of `total` (brought up to date by the kernel on every
//! read) is exactly the stall of the seconds between two samples. With the
//! window at 10 s, the policy reads as before: all tasks stalled at least
//! half of the last 10 s, on every sample for 30 s.
//!
//! Why these numbers:
//! - 50 % `full`: at that level the build gets at most half of its wall time
//!   for work, so fewer jobs that fit run faster than more that thrash. The
//!   measured thrash sat at 84-88 %; a busy but healthy box (the shared
//!   2-core development box, 4-5 compilers) shows about 1 %, and reclaiming
//!   page cache at a cgroup's limit is cheap and stalls little.
//! - a 10 s window, 30 s on every sample: a burst of full stall of `s`
//!   seconds holds the share of the last 10 s at 50 % or more for about `s`
//!   seconds (from 5 s into it to 5 s after it; never when it is under 5 s),
//!   so a link step or a burst of page-cache reclaim of 10-20 s does not trip
//!   it, and a thrash is stopped about 35 s after it begins. Waiting that
//!   long costs about 3 % of the 1,025 s subset build the planner predicted
//!   for that cgroup, against the 16 minutes measured.
//! - one sample a second: one small file read a second costs nothing. At the
//!   start of an attempt the window gives a share once it spans 3 s.
//!
//! When the watchdog fires, the runner stops the attempt as a cancel does
//! (the whole process tree, with the kill grace), records it as
//! [`crate::Outcome::Thrashing`] with the evidence, and retries like
//! after an OOM kill: [`super::retry_jobs`] re-plans the units still to build
//! against the cgroup's limit. Where no PSI file is readable (a kernel
//! without `CONFIG_PSI`, booted with `psi=0`, cgroup v1 without it) there is
//! no watchdog, and the attempt's notes say so: nothing is guessed from
//! memory use alone. `WHEELWRIGHT_THRASH_SECONDS` changes [`SUSTAINED`]
//! (`off` or `0`: no watchdog).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::memory::{cgroup_memory_file, Reading};
use wheelwright_base::units::format_bytes;

use super::AT_CEILING_FRACTION;

mod psi;
use psi::{pressure_candidates, read_pressure, StallWindow};

/// A stall share (`full`, percent of the window) at or above this, with
/// memory at the ceiling, counts as thrashing.
pub const FULL_PERCENT: f64 = 50.0;
/// How long every sample must say thrashing before the attempt is stopped.
pub const SUSTAINED: Duration = Duration::from_secs(30);
/// The stretch of the attempt's latest samples the stall share is taken
/// over (as `avg10`'s 10 s, without its memory of earlier attempts).
pub const WINDOW: Duration = Duration::from_secs(10);
/// Time between samples.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// How the thrash watchdog judges. The default: stop an attempt when all of
/// its tasks stalled on memory ≥ 50 % of the last 10 s (PSI `full total`)
/// on every sample (one a second) for 30 s while memory stands at ≥ 90 % of
/// the memory limit.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrashPolicy {
    /// Watch at all.
    pub enabled: bool,
    /// Stall share (percent of the window) at or above which a sample
    /// counts as stalled.
    pub full_percent: f64,
    /// How long every sample must say thrashing.
    pub sustained: Duration,
    /// The stretch the stall share is taken over.
    pub window: Duration,
    /// Time between samples.
    pub interval: Duration,
}

impl Default for ThrashPolicy {
    fn default() -> Self {
        ThrashPolicy {
            enabled: true,
            full_percent: FULL_PERCENT,
            sustained: SUSTAINED,
            window: WINDOW,
            interval: SAMPLE_INTERVAL,
        }
    }
}

impl ThrashPolicy {
    /// The policy with `WHEELWRIGHT_THRASH_SECONDS` applied: `off` or `0`
    /// turns the watchdog off, a number of seconds replaces the default 30 s
    /// (under 30 s the window shrinks to a third of it and sampling to a
    /// tenth, as in the default's 10 s and 1 s). A value that is neither
    /// keeps the default and says so in the second field, as detection does
    /// with `WHEELWRIGHT_PROBE_TIMEOUT`.
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
                policy.window = WINDOW.min(policy.sustained / 3);
                policy.interval = SAMPLE_INTERVAL.min(policy.sustained / 10);
                (policy, None)
            }
            _ => (
                policy,
                Some(format!(
                    "{}={v:?} is not a number of seconds or `off`; the thrash watchdog waits the default {} s",
                    wheelwright_base::env_vars::WHEELWRIGHT_THRASH_SECONDS,
                    SUSTAINED.as_secs()
                )),
            ),
        }
    }
}

/// Which of the memory sampler's figures the watchdog compares with its
/// ceiling.
#[derive(Debug, Clone, Copy)]
enum Usage {
    /// The cgroup's `memory.current` (v1 `memory.usage_in_bytes`).
    Cgroup,
    /// The host's MemTotal − MemAvailable.
    Host,
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
    /// Lowest stall share and sample count of that run.
    run_min_full: f64,
    run_samples: u64,
    /// The attempt's own `full total` readings.
    window: StallWindow,
    /// Highest stall share seen in the attempt.
    peak: Option<f64>,
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
                wheelwright_base::env_vars::WHEELWRIGHT_THRASH_SECONDS
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
            .and_then(|t| wheelwright_detect::host::proc_field_bytes(&t, "MemTotal"))
            .filter(|b| *b > 0);
        let (usage, ceiling, ceiling_what) = match (
            super::cgroup_limit(root),
            cgroup_memory_file(root),
            total,
            plan_ceiling.filter(|b| *b > 0),
        ) {
            (Some(limit), Some(_), _, _) => (Usage::Cgroup, limit, "cgroup limit"),
            (_, _, Some(total), _) => (Usage::Host, total, "memory total"),
            (_, _, None, Some(c)) => (Usage::Host, c, "memory ceiling"),
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
            window: StallWindow::new(policy.window),
            peak: None,
        })
    }

    /// What it watches, in words, for the log.
    pub(crate) fn describe(&self) -> String {
        format!(
            "thrash watchdog on {}: stops the attempt when all its tasks stalled on memory ≥ {:.0} % of the last {} s (full total) on every sample for {} s with memory ≥ {:.0} % of the {} {}",
            self.pressure_file.display(),
            self.policy.full_percent,
            seconds(self.policy.window),
            seconds(self.policy.sustained),
            AT_CEILING_FRACTION * 100.0,
            format_bytes(self.ceiling),
            self.ceiling_what
        )
    }

    /// Take a sample when one is due: read the PSI file, and take memory in
    /// use from `memory`, the memory sampler's latest reading
    /// ([`crate::memory::MemorySampler::latest`], read under the
    /// same root), so memory is read once a tick. `Some` when the attempt has
    /// thrashed for the policy's time.
    pub(crate) fn poll(&mut self, now: Instant, memory: Option<Reading>) -> Option<ThrashStop> {
        if self.next_sample.is_some_and(|t| now < t) {
            return None;
        }
        self.next_sample = Some(now + self.policy.interval);
        let total = read_pressure(&self.pressure_file)
            .and_then(|p| p.full)
            .map(|f| f.total_usec);
        let used = memory.and_then(|m| match self.usage {
            Usage::Cgroup => m.cgroup,
            Usage::Host => m.host_used,
        });
        self.observe(now, total, used)
    }

    /// The highest stall share of the attempt so far (percent, to a
    /// hundredth as PSI writes its averages); `None` before its window
    /// spans 3/10 of [`ThrashPolicy::window`] or where no sample was read.
    pub(crate) fn peak(&self) -> Option<f64> {
        self.peak.map(|p| (p * 100.0).round() / 100.0)
    }

    /// Judge one sample taken at `now`: the `full total=` of the PSI file
    /// (microseconds) and the memory in use (see the module docs). A sample
    /// that could not be read, or too early in the attempt to give a share,
    /// ends a run: nothing is guessed.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        full_total_usec: Option<u64>,
        used: Option<u64>,
    ) -> Option<ThrashStop> {
        let share = full_total_usec.and_then(|t| self.window.push(now, t));
        if let Some(f) = share {
            self.peak = Some(self.peak.map_or(f, |p| p.max(f)));
        }
        let at_ceiling =
            used.is_some_and(|u| u as f64 >= AT_CEILING_FRACTION * self.ceiling as f64);
        let (Some(full), true) = (share, at_ceiling) else {
            self.since = None;
            return None;
        };
        if full < self.policy.full_percent {
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
        let window = seconds(self.policy.window);
        let file = if file == "memory" {
            self.pressure_file.display().to_string()
        } else {
            file
        };
        Some(ThrashStop {
            evidence: format!(
                "tasks stalled on memory {full:.0} % of the last {window} s at the {} {} for {} s: thrashing ({file} full total: stalled ≥ {:.0} % of the last {window} s on each of {} samples, memory at {})",
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
