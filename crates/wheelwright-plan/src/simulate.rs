//! The schedule simulator: list-schedules compiles on MAX_JOBS slots the way
//! ninja does and reports the wall time and the peak memory.
//!
//! Jobs start in the given order whenever a slot is free. ninja's own order
//! for a first build of a torch extension is the sorted object paths (released
//! ninja, 1.13.2 included, weighs every edge 1 and reads `.ninja_log` only for
//! its ETA: `bench/ninja-log-order.md`). `wheelwright build` starts them
//! longest first by reordering the manifest before ninja reads it
//! (`builder::ninja_order`).
//!
//! Running compiles share the cores: each progresses at `1 / s(load)` of its
//! speed alone (`CostModel::slowdown`). Memory follows each compile's
//! `MemoryProfile`; the sum is piecewise linear between events, so its
//! maximum is found exactly at the events (starts, peaks, finishes).

use serde::{Deserialize, Serialize};

use super::cost::{CostModel, JobCost};

/// The order jobs are started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// As given (ninja's order: sorted object paths).
    AsGiven,
    /// Longest first (by the cost model's time alone): what `wheelwright
    /// build` makes ninja do through its manifest shim.
    LongestFirst,
}

/// When one job ran in the simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Its fields say what they are (a unit's name, its start and end in
// seconds); doc comments would also change the committed Plan schema.
#[allow(missing_docs)]
pub struct SimulatedJob {
    pub name: String,
    pub start_seconds: f64,
    pub end_seconds: f64,
}

/// The outcome of one simulated build.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulation {
    /// When the last job ends.
    pub wall_seconds: f64,
    /// The compiles' peak plus the build's own overhead.
    pub peak_memory_bytes: u64,
    /// In start order.
    pub jobs: Vec<SimulatedJob>,
}

impl Simulation {
    /// The ninja phase against its bound: wall ÷ (Σ job durations ÷ `slots`),
    /// as `bench/ninja_ratio.py` computes it from a real `.ninja_log`.
    /// 1.0 means every slot was busy to the end; 0.0 for an empty build.
    pub(crate) fn bound_ratio(&self, slots: u32) -> f64 {
        let busy: f64 = self
            .jobs
            .iter()
            .map(|j| j.end_seconds - j.start_seconds)
            .sum();
        if busy <= 0.0 {
            return 0.0;
        }
        self.wall_seconds / (busy / f64::from(slots.max(1)))
    }
}

struct Running {
    index: usize,
    total: f64,
    remaining: f64,
    peak: f64,
    demand: f64,
    start: f64,
    peaked: bool,
}

const EPS: f64 = 1e-9;

/// Simulate `jobs` on `slots` parallel slots on a host with `cpus` cores.
pub fn simulate(
    model: &CostModel,
    jobs: &[JobCost],
    slots: u32,
    cpus: u32,
    order: Order,
) -> Simulation {
    let mut queue: Vec<usize> = (0..jobs.len()).collect();
    if order == Order::LongestFirst {
        // Stable: equal lengths keep ninja's order.
        queue.sort_by(|&a, &b| jobs[b].alone_seconds.total_cmp(&jobs[a].alone_seconds));
    }
    let mut queue = queue.into_iter();
    // More slots than jobs change nothing.
    let slots = (slots.max(1) as usize).min(jobs.len().max(1));
    let profile = model.profile;
    let memory = |r: &Running| -> f64 {
        let x = 1.0 - r.remaining / r.total;
        if r.peaked && x <= profile.ramp_end + EPS {
            r.peak
        } else {
            r.peak * profile.at(x)
        }
    };

    let mut now = 0.0_f64;
    let mut running: Vec<Running> = Vec::with_capacity(slots);
    let mut done: Vec<SimulatedJob> = Vec::with_capacity(jobs.len());
    let mut peak = 0.0_f64;
    // Bounded: every iteration finishes or peaks at least one job.
    for _ in 0..(4 * jobs.len() + 4) {
        while running.len() < slots {
            let Some(i) = queue.next() else { break };
            let job = &jobs[i];
            let total = job.alone_seconds.max(EPS);
            running.push(Running {
                index: i,
                total,
                remaining: total,
                peak: job.peak_bytes as f64,
                demand: job.cpu_demand.max(0.0),
                start: now,
                peaked: false,
            });
        }
        // Right limit after starts and finishes.
        peak = peak.max(running.iter().map(memory).sum());
        if running.is_empty() {
            break;
        }
        let demand: f64 = running.iter().map(|r| r.demand).sum();
        let rate = 1.0 / model.slowdown(demand, cpus);
        // The next event: a job finishing or reaching its memory peak.
        let dt = running
            .iter()
            .map(|r| {
                let to_peak = r.remaining - (1.0 - profile.ramp_end) * r.total;
                if !r.peaked && to_peak > EPS {
                    to_peak.min(r.remaining) / rate
                } else {
                    r.remaining / rate
                }
            })
            .fold(f64::INFINITY, f64::min);
        now += dt;
        for r in &mut running {
            r.remaining -= dt * rate;
            let to_peak = r.remaining - (1.0 - profile.ramp_end) * r.total;
            if !r.peaked && to_peak <= EPS * r.total.max(1.0) {
                r.peaked = true;
            }
        }
        // Left limit: every job at its value just before the event.
        peak = peak.max(running.iter().map(memory).sum());
        running.retain(|r| {
            if r.remaining <= EPS * r.total.max(1.0) {
                done.push(SimulatedJob {
                    name: jobs[r.index].name.clone(),
                    start_seconds: r.start,
                    end_seconds: now,
                });
                false
            } else {
                true
            }
        });
    }
    done.sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
    Simulation {
        wall_seconds: now,
        peak_memory_bytes: peak as u64 + model.build_overhead_bytes,
        jobs: done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelwright_base::units::GIB;

    fn job(name: &str, secs: f64, gib: u64) -> JobCost {
        JobCost {
            name: name.into(),
            alone_seconds: secs,
            peak_bytes: gib * GIB,
            cpu_demand: 1.0,
        }
    }

    fn model() -> CostModel {
        let mut m = CostModel::measured();
        m.contention = 0.0;
        m.build_overhead_bytes = 0;
        m
    }

    #[test]
    fn one_slot_runs_jobs_back_to_back() {
        let jobs = [job("a", 10.0, 1), job("b", 20.0, 2)];
        let s = simulate(&model(), &jobs, 1, 4, Order::AsGiven);
        assert!((s.wall_seconds - 30.0).abs() < 1e-6);
        assert_eq!(s.peak_memory_bytes, 2 * GIB);
        assert_eq!(s.jobs[1].name, "b");
        assert!((s.jobs[1].start_seconds - 10.0).abs() < 1e-6);
    }

    #[test]
    fn parallel_peaks_add_up_when_aligned() {
        let jobs = [job("a", 10.0, 3), job("b", 10.0, 3)];
        let s = simulate(&model(), &jobs, 2, 4, Order::AsGiven);
        assert!((s.wall_seconds - 10.0).abs() < 1e-6);
        assert_eq!(s.peak_memory_bytes, 6 * GIB);
    }

    #[test]
    fn oversubscription_stretches_time() {
        // 4 jobs of 10 s on 2 cores: time-sliced, 20 s in all.
        let jobs: Vec<JobCost> = (0..4).map(|i| job(&i.to_string(), 10.0, 1)).collect();
        let s = simulate(&model(), &jobs, 4, 2, Order::AsGiven);
        assert!((s.wall_seconds - 20.0).abs() < 1e-6, "{}", s.wall_seconds);
    }

    #[test]
    fn longest_first_shortens_the_tail() {
        let mut jobs: Vec<JobCost> = (0..6).map(|i| job(&i.to_string(), 10.0, 1)).collect();
        jobs.push(job("long", 30.0, 1));
        let given = simulate(&model(), &jobs, 2, 2, Order::AsGiven);
        let lpt = simulate(&model(), &jobs, 2, 2, Order::LongestFirst);
        assert!(
            (given.wall_seconds - 60.0).abs() < 1e-6,
            "{}",
            given.wall_seconds
        );
        assert!(
            (lpt.wall_seconds - 50.0).abs() < 1e-6,
            "{}",
            lpt.wall_seconds
        );
        // 90 s of work on 2 slots: the bound is 45 s.
        assert!((given.bound_ratio(2) - 60.0 / 45.0).abs() < 1e-9);
        assert!((lpt.bound_ratio(2) - 50.0 / 45.0).abs() < 1e-9);
    }

    #[test]
    fn empty_build_takes_no_time() {
        let s = simulate(&model(), &[], 4, 4, Order::AsGiven);
        assert_eq!(s.wall_seconds, 0.0);
        assert!(s.jobs.is_empty());
    }
}
