//! The simulator against the one real build we have: flash-attn 2.8.3, sm_90,
//! MAX_JOBS=16, NVCC_THREADS=1 on 16 cores (`.ninja_log` and memory trace in
//! [`super::measurements`]).
//!
//! The build was stopped after 69 of its 73 objects, so the wall time compared
//! is when the 69th logged object finished. Caveat, stated plainly: the
//! per-class times are calibrated on this same log (contention divided out,
//! fp16/bf16 twins averaged), so the wall comparison checks the simulator's
//! scheduling and contention model rather than the times themselves; the peak
//! memory comes from separately measured per-TU peaks and the fitted profile.

use serde::Serialize;

use super::cost::CostModel;
use super::measurements::{
    parse_memory_trace, parse_ninja_log, REAL_BUILD_CPUS, REAL_BUILD_JOBS, REAL_BUILD_MEMORY_TRACE,
    REAL_BUILD_NINJA_LOG,
};
use super::recipe::{resolve_units, Recipe};
use super::search::jobs_for;
use super::simulate::{simulate, Order};

/// Simulated against measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// When the 69 logged objects were all done.
    pub measured_69_seconds: f64,
    /// When the simulation had the same 69 objects done.
    pub simulated_69_seconds: f64,
    /// All 73 objects (the real build never got there).
    pub simulated_full_seconds: f64,
    /// Longest-first on the same setting.
    pub simulated_full_longest_first_seconds: f64,
    /// The build's measured peak (cgroup).
    pub measured_peak_bytes: u64,
    /// The simulation's peak.
    pub simulated_peak_bytes: u64,
    /// Mean |simulated − logged| start time of the logged objects.
    pub mean_start_error_seconds: f64,
    /// The simulated ninja phase against its bound (wall ÷ Σ job time ÷
    /// MAX_JOBS), in ninja's order and longest first.
    pub simulated_bound_ratio: f64,
    /// [`Validation::simulated_bound_ratio`], longest first.
    pub simulated_bound_ratio_longest_first: f64,
}

impl Validation {
    /// Relative error of the simulated wall time (0.05 = 5 % long).
    pub fn wall_error(&self) -> f64 {
        self.simulated_69_seconds / self.measured_69_seconds - 1.0
    }

    /// Relative error of the simulated peak.
    pub fn peak_error(&self) -> f64 {
        self.simulated_peak_bytes as f64 / self.measured_peak_bytes as f64 - 1.0
    }
}

/// Simulate the real build's setting with the embedded cost model and compare.
pub fn validate_real_build() -> Validation {
    validate_real_build_with(&CostModel::measured())
}

/// [`validate_real_build`] with another cost model.
pub(crate) fn validate_real_build_with(model: &CostModel) -> Validation {
    let log = parse_ninja_log(REAL_BUILD_NINJA_LOG);
    let trace = parse_memory_trace(REAL_BUILD_MEMORY_TRACE);
    let units = resolve_units(&Recipe::flash_attn("2.8.3"), None)
        .map(|s| s.units)
        .unwrap_or_default();
    let jobs = jobs_for(model, &units, 1, 1);
    let sim = simulate(
        model,
        &jobs,
        REAL_BUILD_JOBS,
        REAL_BUILD_CPUS,
        Order::AsGiven,
    );
    let lpt = simulate(
        model,
        &jobs,
        REAL_BUILD_JOBS,
        REAL_BUILD_CPUS,
        Order::LongestFirst,
    );
    let mut simulated_69: f64 = 0.0;
    let mut start_err = Vec::new();
    for entry in &log {
        if let Some(j) = sim
            .jobs
            .iter()
            .find(|j| super::measurements::file_stem(&j.name) == entry.stem())
        {
            simulated_69 = simulated_69.max(j.end_seconds);
            start_err.push((j.start_seconds - entry.start_ms as f64 / 1000.0).abs());
        }
    }
    Validation {
        measured_69_seconds: log.iter().map(|e| e.end_ms).max().unwrap_or(0) as f64 / 1000.0,
        simulated_69_seconds: simulated_69,
        simulated_full_seconds: sim.wall_seconds,
        simulated_full_longest_first_seconds: lpt.wall_seconds,
        measured_peak_bytes: trace.iter().map(|p| p.1).max().unwrap_or(0),
        simulated_peak_bytes: sim.peak_memory_bytes,
        mean_start_error_seconds: start_err.iter().sum::<f64>() / start_err.len().max(1) as f64,
        simulated_bound_ratio: sim.bound_ratio(REAL_BUILD_JOBS),
        simulated_bound_ratio_longest_first: lpt.bound_ratio(REAL_BUILD_JOBS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_reproduces_the_real_build_within_15_percent() {
        let v = validate_real_build();
        eprintln!("{v:#?}");
        assert!(
            v.wall_error().abs() <= 0.15,
            "wall off by {:.1}%",
            v.wall_error() * 100.0
        );
        assert!(
            v.peak_error().abs() <= 0.15,
            "peak off by {:.1}%",
            v.peak_error() * 100.0
        );
        // The unfinished split-KV files make the full build longer, and
        // longest-first shortens it.
        assert!(v.simulated_full_seconds > v.simulated_69_seconds);
        assert!(v.simulated_full_longest_first_seconds < v.simulated_full_seconds);
        assert!(v.simulated_bound_ratio_longest_first < v.simulated_bound_ratio);
        assert!(v.simulated_bound_ratio_longest_first >= 1.0);
        // ninja's order of the logged objects is reproduced.
        assert!(v.mean_start_error_seconds < 30.0);
    }
}
