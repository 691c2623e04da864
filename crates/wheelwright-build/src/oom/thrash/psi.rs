//! Memory pressure (PSI): the text of a `memory.pressure` file, where the
//! build's one lives, and the share of an attempt's own time that its tasks
//! stalled.
//!
//! A PSI line carries two kinds of number. `avg10`, `avg60`, `avg300` are the
//! kernel's exponential moving averages of the stalled share, updated every
//! 2 s; they remember what happened before an attempt began (10 s after a
//! thrash `avg10` still holds e^-1 of it). `total=` is the stall time in
//! microseconds since the cgroup (or boot) began, brought up to date on every
//! read. [`StallWindow`] takes differences of `total` between an attempt's
//! own samples, so the share it gives is exact and belongs to that attempt
//! alone.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wheelwright_detect::cgroup::own_v2_files;

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

pub(crate) fn read_pressure(path: &Path) -> Option<Pressure> {
    parse_pressure(&std::fs::read_to_string(path).ok()?)
}

/// The share of the last `span` of an attempt that all its tasks stalled on
/// memory, from the `full total=` readings of its own samples: (newest total
/// − oldest total) ÷ the wall time between them, over the samples at most
/// `span` old.
///
/// At the start of an attempt the window is shorter; it gives a share once
/// it spans 3/10 of `span` (3 s of the default 10 s: three 1 s samples apart,
/// past the kernel's 2 s update of `avg10`, and short enough that the peak
/// of an attempt of a few seconds is still reported). Before that a 1 s
/// window would read a one-second burst as the attempt's level. A total
/// lower than the one before (the file now counts another cgroup) starts
/// the window over.
#[derive(Debug)]
pub(crate) struct StallWindow {
    span: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl StallWindow {
    pub(crate) fn new(span: Duration) -> StallWindow {
        StallWindow {
            span,
            samples: VecDeque::new(),
        }
    }

    /// The shortest window that gives a share.
    pub(crate) fn min_span(&self) -> Duration {
        self.span * 3 / 10
    }

    /// Add the `full total=` (microseconds) read at `now`; the share of the
    /// window stalled (percent), or `None` while the window is too short.
    pub(crate) fn push(&mut self, now: Instant, total_usec: u64) -> Option<f64> {
        if self
            .samples
            .back()
            .is_some_and(|&(t, total)| now < t || total_usec < total)
        {
            self.samples.clear();
        }
        self.samples.push_back((now, total_usec));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now.duration_since(t) > self.span)
        {
            self.samples.pop_front();
        }
        let &(since, from) = self.samples.front()?;
        let wall = now.duration_since(since);
        if wall < self.min_span() || wall.is_zero() {
            return None;
        }
        let stalled = (total_usec - from) as f64 / 1e6;
        // Read a moment after `now`, the total can run past the wall time.
        Some((stalled / wall.as_secs_f64() * 100.0).min(100.0))
    }
}
