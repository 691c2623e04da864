//! Choosing MAX_JOBS and NVCC_THREADS: simulate every candidate and keep the
//! fastest whose peak stays under the memory ceiling.
//!
//! Candidates: jobs 1 … min(units, CPUs) (more jobs than cores only adds
//! memory: time-sliced cores give no more throughput), threads 1 … G (more
//! threads than gencodes do nothing). A candidate fits when its peak stays
//! under the ceiling in both ninja's order and longest-first (the order
//! `wheelwright build` gives ninja; a plain `pip wheel` keeps ninja's own), so
//! either way of running it is safe. Among
//! those that fit, the fastest in ninja's order wins; candidates within 1 %
//! of it count as ties, broken toward less memory, then fewer jobs and threads.
//!
//! The build's shape comes from the units: torch builds a package's
//! extensions one after another, a ninja run each (units of consecutive
//! extensions are simulated group after group), and a package that turns
//! ninja off (`use_ninja=False`) compiles one file at a time whatever MAX_JOBS
//! says ([`Space::serial`]): then only nvcc's threads are searched.

use super::cost::{CostModel, JobCost};
use super::recipe::TranslationUnit;
use super::simulate::{simulate, Order, Simulation};

/// Walls within this fraction of the best count as ties.
pub(crate) const TIE_TOLERANCE: f64 = 0.01;
/// Stop raising the jobs after this many candidates in a row that do not fit.
const MISSES_BEFORE_STOP: u32 = 4;

/// One simulated setting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub jobs: u32,
    pub threads: u32,
    pub ninja: Simulation,
    pub longest_first: Simulation,
}

impl Candidate {
    /// The higher of the two orders' peaks.
    pub(crate) fn peak(&self) -> u64 {
        self.ninja
            .peak_memory_bytes
            .max(self.longest_first.peak_memory_bytes)
    }
}

/// The units as jobs for `gencodes` and `threads`.
pub(crate) fn jobs_for(
    model: &CostModel,
    units: &[TranslationUnit],
    gencodes: u32,
    threads: u32,
) -> Vec<JobCost> {
    units
        .iter()
        .map(|u| model.job(u, gencodes, threads))
        .collect()
}

/// Simulate one setting in both orders.
pub(crate) fn evaluate(
    model: &CostModel,
    units: &[TranslationUnit],
    gencodes: u32,
    jobs: u32,
    threads: u32,
    cpus: u32,
) -> Candidate {
    evaluate_shaped(model, units, gencodes, jobs, threads, cpus, false)
}

/// [`evaluate`] for a build that compiles one file at a time when `serial`.
pub(crate) fn evaluate_shaped(
    model: &CostModel,
    units: &[TranslationUnit],
    gencodes: u32,
    jobs: u32,
    threads: u32,
    cpus: u32,
    serial: bool,
) -> Candidate {
    let costs = jobs_for(model, units, gencodes, threads);
    let slots = if serial { 1 } else { jobs };
    // Without ninja nothing reorders the compiles.
    let longest = if serial {
        Order::AsGiven
    } else {
        Order::LongestFirst
    };
    Candidate {
        jobs,
        threads,
        ninja: simulate_groups(model, units, &costs, slots, cpus, Order::AsGiven),
        longest_first: simulate_groups(model, units, &costs, slots, cpus, longest),
    }
}

/// The units' extensions in build order: index ranges of consecutive units
/// of one extension (one range for a recipe that does not name them).
pub(crate) fn extension_groups(units: &[TranslationUnit]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=units.len() {
        if i == units.len() || units[i].extension != units[start].extension {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// Each extension's compiles after the previous one's, as torch runs them.
fn simulate_groups(
    model: &CostModel,
    units: &[TranslationUnit],
    costs: &[JobCost],
    slots: u32,
    cpus: u32,
    order: Order,
) -> Simulation {
    let groups = extension_groups(units);
    if groups.len() <= 1 {
        return simulate(model, costs, slots, cpus, order);
    }
    let mut out = Simulation {
        wall_seconds: 0.0,
        peak_memory_bytes: 0,
        jobs: Vec::with_capacity(costs.len()),
    };
    for g in groups {
        let sim = simulate(model, &costs[g], slots, cpus, order);
        let offset = out.wall_seconds;
        out.jobs.extend(sim.jobs.into_iter().map(|mut j| {
            j.start_seconds += offset;
            j.end_seconds += offset;
            j
        }));
        out.wall_seconds += sim.wall_seconds;
        out.peak_memory_bytes = out.peak_memory_bytes.max(sim.peak_memory_bytes);
    }
    out
}

/// The search space and its limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Space {
    pub gencodes: u32,
    pub cpus: u32,
    pub ceiling: u64,
    /// A user's MAX_JOBS, searched alone.
    pub fixed_jobs: Option<u32>,
    /// A user's NVCC_THREADS, searched alone.
    pub fixed_threads: Option<u32>,
    /// Highest threads to try (G for flash-attn, 1 for a plain torch extension).
    pub max_threads: u32,
    /// The build compiles one file at a time (torch's distutils backend):
    /// MAX_JOBS is not searched.
    pub serial: bool,
}

/// The chosen setting, and whether it fits under the ceiling (`false` only
/// when nothing does, or the user fixed a setting that does not).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    pub best: Candidate,
    pub fits: bool,
    /// How many settings were simulated.
    pub evaluated: u32,
}

pub(crate) fn choose(model: &CostModel, units: &[TranslationUnit], space: Space) -> Choice {
    let job_range: Vec<u32> = match space.fixed_jobs {
        Some(j) => vec![j.max(1)],
        None if space.serial => vec![1],
        None => (1..=(units.len() as u32).min(space.cpus).max(1)).collect(),
    };
    let thread_range: Vec<u32> = match space.fixed_threads {
        Some(t) => vec![t.max(1)],
        None => (1..=space.max_threads.max(1)).collect(),
    };
    let mut fitting: Vec<Candidate> = Vec::new();
    let mut smallest: Option<Candidate> = None;
    let mut evaluated = 0;
    for &threads in &thread_range {
        let mut misses = 0;
        for &jobs in &job_range {
            let c = evaluate_shaped(
                model,
                units,
                space.gencodes,
                jobs,
                threads,
                space.cpus,
                space.serial,
            );
            evaluated += 1;
            let fits = c.peak() <= space.ceiling;
            if smallest.as_ref().is_none_or(|s| c.peak() < s.peak()) {
                smallest = Some(c.clone());
            }
            if fits {
                misses = 0;
                fitting.push(c);
            } else {
                misses += 1;
                if misses >= MISSES_BEFORE_STOP {
                    break;
                }
            }
        }
    }
    let best_wall = fitting
        .iter()
        .map(|c| c.ninja.wall_seconds)
        .fold(f64::INFINITY, f64::min);
    let best = fitting
        .into_iter()
        .filter(|c| c.ninja.wall_seconds <= best_wall * (1.0 + TIE_TOLERANCE))
        .min_by(|a, b| (a.peak(), a.jobs, a.threads).cmp(&(b.peak(), b.jobs, b.threads)));
    match best {
        Some(best) => Choice {
            best,
            fits: true,
            evaluated,
        },
        None => {
            // Nothing fits: report the least memory-hungry setting tried.
            let best = smallest.unwrap_or_else(|| {
                evaluate_shaped(
                    model,
                    units,
                    space.gencodes,
                    job_range[0],
                    thread_range[0],
                    space.cpus,
                    space.serial,
                )
            });
            Choice {
                best,
                fits: false,
                evaluated,
            }
        }
    }
}
