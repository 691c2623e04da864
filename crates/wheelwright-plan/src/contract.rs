//! What a plan says: the JSON contract of `wheelwright plan --json`
//! ([`Plan`]) and its parts, a setting's [`Prediction`], the [`Baseline`]s
//! priced beside it and the cost model's constants ([`ModelSummary`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cost::{self, CostModel};
use super::simulate::{self, Simulation};
#[cfg(doc)]
use super::{schedule, PLAN_SCHEMA_VERSION};
use super::{CostSources, SpeedCalibration};
use wheelwright_base::finding::Finding;

/// Predicted wall time and peak memory of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Prediction {
    /// ninja's compile phase (all objects), not pip's setup or the link.
    pub wall_seconds: f64,
    /// Compiles plus the build's own overhead (pip, setup.py with torch).
    pub peak_memory_bytes: u64,
}

impl Prediction {
    pub(super) fn of(sim: &Simulation) -> Self {
        Prediction {
            wall_seconds: (sim.wall_seconds * 10.0).round() / 10.0,
            peak_memory_bytes: sim.peak_memory_bytes,
        }
    }
}

/// Another way to set the build up, priced on the same host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Baseline {
    /// `flash-attn-auto`, `seed` or `torch-default`.
    pub name: String,
    /// What it is, in a sentence.
    pub description: String,
    /// Its MAX_JOBS.
    pub max_jobs: u32,
    /// Its NVCC_THREADS.
    pub nvcc_threads: u32,
    /// Its predicted time and peak.
    pub predicted: Prediction,
    /// Its predicted peak is above the memory ceiling: expect OOM kills.
    pub exceeds_memory: bool,
}

/// The fitted constants a plan was made with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ModelSummary {
    /// c in the slowdown `1 + c·load·(n−1)/n`.
    pub contention: f64,
    /// Share of a one-gencode compile that does not repeat per gencode.
    pub serial_share: f64,
    /// Extra peak per gencode compiled in parallel (`--threads`).
    pub thread_memory_growth: f64,
    /// A compile's memory: start, peak at `ramp_end` of its progress, then tail.
    pub profile: cost::MemoryProfile,
}

impl ModelSummary {
    pub(super) fn of(m: &CostModel) -> Self {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        ModelSummary {
            contention: r(m.contention),
            serial_share: r(m.serial_share),
            thread_memory_growth: r(m.thread_memory_growth),
            profile: m.profile,
        }
    }
}

/// The plan: the JSON contract of `wheelwright plan --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Plan {
    /// The version of this contract: [`PLAN_SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// `flash-attn` or `torch-ext`.
    pub recipe: String,
    /// The package version, when known.
    pub recipe_version: Option<String>,
    /// Where the units came from.
    pub source: String,
    /// flash-attn spellings: `["80", "90"]`.
    pub archs: Vec<String>,
    /// Gencodes per nvcc compile (`-gencode` flags).
    pub gencodes: u32,
    /// The `-gencode` flags nvcc gets.
    pub gencode_flags: Vec<String>,
    /// MAX_JOBS (the first attempt's; retries use fewer after an OOM kill).
    pub max_jobs: u32,
    /// NVCC_THREADS (fixed across retries).
    pub nvcc_threads: u32,
    /// The build's environment.
    pub env: BTreeMap<String, String>,
    /// pip arguments the build needs.
    pub pip_args: Vec<String>,
    /// In ninja's own order (sorted object paths): a build run without
    /// wheelwright (plain `pip wheel`) with this plan's environment.
    pub predicted: Prediction,
    /// Longest first: the order `wheelwright build` makes ninja take by
    /// reordering its manifest (`builder::ninja_order`); released ninja
    /// (≤ 1.13.2) would not do it from `.ninja_log` times
    /// (`bench/ninja-log-order.md`).
    pub predicted_longest_first: Prediction,
    /// Other settings, priced on the same host.
    pub baselines: Vec<Baseline>,
    /// `cu13torch2.11cxx11abiTRUE`, flash-attn's prebuilt-wheel label.
    pub local_version: Option<String>,
    /// The memory the build may use: the basis minus the margin.
    pub memory_ceiling_bytes: u64,
    /// Memory kept for everything else.
    pub memory_margin_bytes: u64,
    /// `cgroup limit`, `total memory` or `override`.
    pub memory_basis: String,
    /// CPUs planned for (logical, capped by the quota).
    pub cpus: u32,
    /// Translation units compiled.
    pub units: u32,
    /// Settings simulated to choose this one.
    pub candidates_evaluated: u32,
    /// The cost model's fitted constants (see `plan::cost`).
    #[serde(default)]
    pub model: ModelSummary,
    /// Which units' costs were measured and how the others were estimated.
    #[serde(default)]
    pub costs: CostSources,
    /// Preflight findings, most severe first.
    pub findings: Vec<Finding>,
    /// What was assumed about a host not detected (filled by the caller).
    #[serde(default)]
    pub assumptions: Vec<String>,
    /// The host-speed calibration the times were scaled by, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<SpeedCalibration>,
    /// The simulated schedule in ninja's order, when asked for ([`schedule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<simulate::SimulatedJob>>,
    /// A torch extension whose `setup.py` was run: each unit as the build
    /// compiles it (extension, gencodes, targets, threads, cost basis).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unit_plan: Vec<super::torch_ext::PlannedUnit>,
    /// A torch extension: how its units were learned and what its setup.py
    /// does (switches set, backend, a prebuilt download it tries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_py: Option<super::recipe::setup_probe::SetupPyFacts>,
}

impl Plan {
    /// An error finding refuses the plan.
    pub fn refused(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}
