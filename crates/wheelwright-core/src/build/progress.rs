//! Build progress from ninja's `[n/m]` status lines, with an ETA.
//!
//! torch's ninja build prints `[12/81] /usr/local/cuda/bin/nvcc ...` (ninja's
//! default `NINJA_STATUS` of `[%f/%t] `: edges finished / edges to run). On a
//! rebuild after an OOM kill, `m` counts only the edges left to run. The ETA
//! assumes the remaining edges go at the rate seen so far in this ninja run;
//! flash-attn's longest units often come last, so it leans optimistic near the end.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One `[n/m]` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NinjaStatus {
    pub done: u32,
    pub total: u32,
}

/// Parse a ninja status prefix, `[12/81] ...`, after optional leading spaces.
pub fn parse_ninja_status(line: &str) -> Option<NinjaStatus> {
    let rest = line.trim_start().strip_prefix('[')?;
    let close = rest.find(']')?;
    let (done, total) = rest[..close].split_once('/')?;
    let done: u32 = done.trim().parse().ok()?;
    let total: u32 = total.trim().parse().ok()?;
    if total == 0 || done > total {
        return None;
    }
    Some(NinjaStatus { done, total })
}

/// Where a build stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u32,
    pub total: u32,
    /// Seconds since the first status line of this ninja run.
    pub elapsed_seconds: f64,
    /// Estimated seconds left, once at least one edge finished after the first status.
    pub eta_seconds: Option<f64>,
}

impl Progress {
    /// Done as a fraction in `0..=1`.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.done) / f64::from(self.total)
        }
    }
}

/// Follows the status lines of one build attempt; a new ninja run (a different
/// total, or a count going backwards) restarts the clock.
#[derive(Debug, Default, Clone)]
pub struct ProgressTracker {
    run_start: Option<(Instant, u32)>,
    last: Option<NinjaStatus>,
}

impl ProgressTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one log line seen at `now`; returns the new progress if the line is a status.
    pub fn observe(&mut self, line: &str, now: Instant) -> Option<Progress> {
        let status = parse_ninja_status(line)?;
        let new_run = match self.last {
            Some(last) => last.total != status.total || status.done < last.done,
            None => true,
        };
        if new_run {
            self.run_start = Some((now, status.done));
        }
        self.last = Some(status);
        let (start, start_done) = self.run_start.unwrap_or((now, status.done));
        let elapsed = now.saturating_duration_since(start);
        Some(Progress {
            done: status.done,
            total: status.total,
            elapsed_seconds: elapsed.as_secs_f64(),
            eta_seconds: eta(status, start_done, elapsed),
        })
    }

    /// The last status seen, if any.
    pub fn last(&self) -> Option<NinjaStatus> {
        self.last
    }
}

fn eta(status: NinjaStatus, start_done: u32, elapsed: Duration) -> Option<f64> {
    let finished = status.done.checked_sub(start_done)?;
    if finished == 0 || elapsed.is_zero() {
        return None;
    }
    let per_edge = elapsed.as_secs_f64() / f64::from(finished);
    Some(per_edge * f64::from(status.total - status.done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(
            parse_ninja_status(
                "[12/81] /usr/local/cuda/bin/nvcc --generate-dependencies-with-compile"
            ),
            Some(NinjaStatus {
                done: 12,
                total: 81
            })
        );
        assert_eq!(
            parse_ninja_status("  [1/1] c++ -MMD -MF flash_api.o.d"),
            Some(NinjaStatus { done: 1, total: 1 })
        );
        assert_eq!(parse_ninja_status("[WARNING] something"), None);
        assert_eq!(parse_ninja_status("[3/0] x"), None);
        assert_eq!(parse_ninja_status("[9/3] x"), None);
        assert_eq!(
            parse_ninja_status("building 'flash_attn_2_cuda' extension"),
            None
        );
    }

    #[test]
    fn estimates_time_left_from_the_rate_so_far() {
        let t0 = Instant::now();
        let mut tr = ProgressTracker::new();
        let p = tr.observe("[1/10] nvcc a", t0).unwrap();
        assert_eq!(p.eta_seconds, None);
        assert!(tr.observe("not a status", t0).is_none());
        let p = tr
            .observe("[3/10] nvcc b", t0 + Duration::from_secs(20))
            .unwrap();
        // 2 edges in 20 s -> 10 s each, 7 left.
        assert_eq!(p.eta_seconds, Some(70.0));
        assert!((p.fraction() - 0.3).abs() < 1e-9);
        // A new ninja run (retry with fewer jobs) restarts the estimate.
        let p = tr
            .observe("[1/4] nvcc c", t0 + Duration::from_secs(30))
            .unwrap();
        assert_eq!((p.total, p.eta_seconds, p.elapsed_seconds), (4, None, 0.0));
    }
}
