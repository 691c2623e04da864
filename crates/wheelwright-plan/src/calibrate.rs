//! Host speed: how fast this host compiles compared with the machine the cost
//! model was measured on, from a real build's `.ninja_log` on this host.
//!
//! The model's per-file times come from one machine (the H100 box of
//! `data/README.md`); another host's CPUs can be faster or slower throughout: a
//! full flash-attn build on an H200 box took 0.70 of the predicted wall
//! (`bench/results/README.md`). So each compile in the log is set against the
//! model's time for it *under the load it ran at* (the compiles that overlapped
//! it in that same log, weighed by their CPU demand), and the factor is
//! Σ observed / Σ predicted over the compiles of the recipe, divided by the
//! same ratio taken on the build the model was fitted on (0.93: the model's own
//! bias, which a ratio of ratios cancels, so that machine is 1.0 exactly).
//! Taking the load from the log makes the factor independent of the MAX_JOBS
//! that build used.
//! Entries of different ninja runs (a retry after an OOM kill) are put on one
//! clock by the output mtimes ninja records. The factor scales times only:
//! a compile's memory does not depend on the CPU's speed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cost::CostModel;
use super::measurements::{parse_ninja_log, NinjaLogEntry, REAL_BUILD_CPUS, REAL_BUILD_NINJA_LOG};
use super::recipe::{flash_attn_2_8_3_units, TranslationUnit};

/// Fewer compiles than this say too little about a host.
pub(crate) const MIN_UNITS: usize = 5;

/// The host's speed relative to the model, as a plan records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SpeedCalibration {
    /// This host's compile time over the model's: 0.64 compiles in 64 % of
    /// the time the model predicts. Every predicted time is multiplied by it.
    pub factor: f64,
    /// Compiles compared.
    pub units: u32,
    /// Their summed durations in the log.
    pub observed_seconds: f64,
    /// The model's durations for them, at the load each ran at.
    pub predicted_seconds: f64,
    /// observed / predicted on the measured machine's own build, which
    /// `factor` is relative to.
    pub reference_ratio: f64,
    /// Where the log came from.
    pub basis: String,
}

/// A finished build on this host, as the calibration needs it.
#[derive(Debug, Clone)]
pub struct PastBuild<'a> {
    /// The recipe's units; log entries of other outputs only add load.
    pub units: &'a [TranslationUnit],
    /// The build's `.ninja_log`.
    pub log: &'a [NinjaLogEntry],
    /// Gencodes per nvcc compile in that build.
    pub gencodes: u32,
    /// `nvcc --threads` as the compiles got it (1 where the build ignores it).
    pub threads: u32,
    /// CPUs of that build's host.
    pub cpus: u32,
    /// Where the log came from, for messages.
    pub basis: String,
}

#[derive(Debug, thiserror::Error)]
/// Why no calibration could be made.
pub enum CalibrateError {
    #[error("{basis} has {found} compiles of the recipe's files; calibrating needs at least {MIN_UNITS}")]
    /// Too few of the recipe's compiles in the log to measure a speed.
    TooFew {
        /// Where the log came from.
        basis: String,
        /// Compiles found.
        found: usize,
    },
    #[error("cannot calibrate from {path}: {message}")]
    /// The report or its log could not be used.
    Input {
        /// The report or log.
        path: String,
        /// Why.
        message: String,
    },
}

impl CalibrateError {
    /// What the user should do.
    pub fn hint(&self) -> String {
        match self {
            CalibrateError::TooFew { .. } => {
                "calibrate from a build that compiled most of the package (its `report.json`), or plan without --calibrate".into()
            }
            CalibrateError::Input { .. } => {
                "give the report.json of a finished `wheelwright build` on this host, with its work dir (and .ninja_log) still there".into()
            }
        }
    }
}

/// One logged compile on a common clock.
struct Span {
    start: f64,
    end: f64,
    demand: f64,
    /// The model's seconds alone, for the recipe's units.
    alone: Option<f64>,
    /// Which of the recipe's units it compiled.
    unit: Option<usize>,
}

/// Compile costs measured on this host: a finished build's time for each of
/// its units, for the next plan of the same source here (`--calibrate`).
///
/// Each unit's time in the build's `.ninja_log` has the contention of what
/// ran beside it divided out (the model's slowdown at the CPU demand that
/// overlapped it, as [`calibrate`] weighs it) and its gencodes and threads
/// (the model's time factor), leaving its seconds alone at one gencode and
/// `--threads 1` on this host. Units are keyed by extension, path and device
/// targets ([`super::recipe::TranslationUnit::cost_key`]); the costs apply
/// only to a plan of the source with this sha256. Each unit's peak comes
/// from the build's memory samples where the build recorded it per unit
/// ([`unit_peaks`]); the others keep the model's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HostCosts {
    /// sha256 of the sdist (or source tree) that was built.
    pub source_sha256: String,
    /// The log they come from.
    pub basis: String,
    /// Seconds alone at one gencode and `--threads 1`, by unit key.
    pub units: BTreeMap<String, f64>,
    /// Peak bytes at one gencode and `--threads 1`, by unit key: the
    /// build's per-unit peak (its compile's process tree at the memory
    /// samples) over the model's memory factor for the gencodes and threads
    /// it ran with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peaks: BTreeMap<String, u64>,
}

/// Each unit's peak at one gencode and `--threads 1` from a build's
/// per-unit peaks (`measured`: by the source path the compile was given,
/// usually absolute), by [`TranslationUnit::cost_key`]: a unit takes the
/// peak of the one source that is its path or ends in `/` and its path.
pub fn unit_peaks(
    model: &CostModel,
    units: &[TranslationUnit],
    gencodes: u32,
    threads: u32,
    measured: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for u in units {
        let suffix = format!("/{}", u.path);
        let mut found = measured
            .iter()
            .filter(|(src, _)| **src == u.path || src.ends_with(&suffix));
        let (Some((_, peak)), None) = (found.next(), found.next()) else {
            continue;
        };
        if *peak == 0 {
            continue;
        }
        let factor = if u.is_cuda() {
            model
                .gencode_factors(&model.unit_gencodes(u, gencodes), threads)
                .2
        } else {
            1.0
        };
        out.insert(u.cost_key(), (*peak as f64 / factor) as u64);
    }
    out
}

/// The per-unit costs of `past` on its host (see [`HostCosts`]).
pub fn host_costs(model: &CostModel, past: &PastBuild, source_sha256: &str) -> HostCosts {
    let base = model.clone().with_speed(1.0);
    let spans = spans(&base, past);
    let mut units = BTreeMap::new();
    for s in &spans {
        let Some(i) = s.unit else { continue };
        let seconds = s.end - s.start;
        if seconds <= 0.0 {
            continue;
        }
        let u = &past.units[i];
        let alone = seconds / base.slowdown(busy_over(&spans, s) / seconds, past.cpus);
        let factor = if u.is_cuda() {
            base.gencode_factors(&base.unit_gencodes(u, past.gencodes), past.threads)
                .0
        } else {
            1.0
        };
        let r = (alone / factor * 10.0).round() / 10.0;
        units.insert(u.cost_key(), r);
    }
    HostCosts {
        source_sha256: source_sha256.to_string(),
        basis: past.basis.clone(),
        units,
        peaks: BTreeMap::new(),
    }
}

/// This host's speed factor from `past`.
pub fn calibrate(model: &CostModel, past: &PastBuild) -> Result<SpeedCalibration, CalibrateError> {
    let base = model.clone().with_speed(1.0);
    let (observed, predicted, units) = compare(&base, past);
    if units < MIN_UNITS || predicted <= 0.0 {
        return Err(CalibrateError::TooFew {
            basis: past.basis.clone(),
            found: units,
        });
    }
    let reference = reference_ratio(&base);
    let r = |x: f64, scale: f64| (x * scale).round() / scale;
    Ok(SpeedCalibration {
        factor: r(observed / predicted / reference, 1000.0),
        units: units as u32,
        observed_seconds: r(observed, 10.0),
        predicted_seconds: r(predicted, 10.0),
        reference_ratio: r(reference, 1000.0),
        basis: past.basis.clone(),
    })
}

/// observed / predicted for the real build the model was fitted on.
fn reference_ratio(base: &CostModel) -> f64 {
    let units = flash_attn_2_8_3_units();
    let log = parse_ninja_log(REAL_BUILD_NINJA_LOG);
    let (observed, predicted, _) = compare(
        base,
        &PastBuild {
            units: &units,
            log: &log,
            gencodes: 1,
            threads: 1,
            cpus: REAL_BUILD_CPUS,
            basis: String::new(),
        },
    );
    if predicted > 0.0 {
        observed / predicted
    } else {
        1.0
    }
}

/// (Σ observed seconds, Σ predicted seconds, compiles) over the recipe's
/// compiles in the log, each predicted at the load it ran at.
fn compare(base: &CostModel, past: &PastBuild) -> (f64, f64, usize) {
    let spans = spans(base, past);
    let (mut observed, mut predicted, mut units) = (0.0, 0.0, 0usize);
    for s in &spans {
        let Some(alone) = s.alone else { continue };
        let seconds = s.end - s.start;
        if seconds <= 0.0 {
            continue;
        }
        predicted += alone * base.slowdown(busy_over(&spans, s) / seconds, past.cpus);
        observed += seconds;
        units += 1;
    }
    (observed, predicted, units)
}

/// The CPU demand that overlapped `s` (its own included), summed over its life.
fn busy_over(spans: &[Span], s: &Span) -> f64 {
    spans
        .iter()
        .map(|o| o.demand * (s.end.min(o.end) - s.start.max(o.start)).max(0.0))
        .sum()
}

/// The log's compiles on one clock, with the model's time and demand for
/// the recipe's units.
fn spans(base: &CostModel, past: &PastBuild) -> Vec<Span> {
    // One clock for all entries when ninja recorded every mtime, else each
    // run's own (right for a build of one ninja run).
    let absolute = past.log.iter().all(|e| e.mtime_ns > 0);
    past.log
        .iter()
        .map(|e| {
            let seconds = e.seconds();
            let (start, end) = if absolute {
                let end = e.mtime_ns as f64 / 1e9;
                (end - seconds, end)
            } else {
                (e.start_ms as f64 / 1000.0, e.end_ms as f64 / 1000.0)
            };
            let unit = past
                .units
                .iter()
                .position(|u| super::is_object_of(&e.output, u));
            let (alone, demand) = match unit {
                Some(i) => {
                    let job = base.job(&past.units[i], past.gencodes, past.threads);
                    (Some(job.alone_seconds), job.cpu_demand)
                }
                None => (None, 1.0),
            };
            Span {
                start,
                end,
                demand,
                alone,
                unit,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::{resolve_units, Recipe};
    use crate::search::jobs_for;
    use crate::simulate::{simulate, Order};

    fn units() -> Vec<TranslationUnit> {
        resolve_units(&Recipe::flash_attn("2.8.3"), None)
            .unwrap()
            .units
    }

    fn past<'a>(
        units: &'a [TranslationUnit],
        log: &'a [NinjaLogEntry],
        cpus: u32,
    ) -> PastBuild<'a> {
        PastBuild {
            units,
            log,
            gencodes: 1,
            threads: 1,
            cpus,
            basis: "test".into(),
        }
    }

    /// A `.ninja_log` of the model's own schedule at `speed`, as `runs` ninja
    /// runs (each counting from its own start, mtimes on one clock).
    fn simulated_log(speed: f64, jobs: u32, cpus: u32, runs: usize) -> Vec<NinjaLogEntry> {
        let model = CostModel::measured().with_speed(speed);
        let units = units();
        let per_run = units.len().div_ceil(runs);
        let mut log = Vec::new();
        let mut clock = 1_700_000_000.0;
        for chunk in units.chunks(per_run) {
            let costs = jobs_for(&model, chunk, 1, 1);
            let sim = simulate(&model, &costs, jobs, cpus, Order::AsGiven);
            for j in &sim.jobs {
                log.push(NinjaLogEntry {
                    start_ms: (j.start_seconds * 1000.0) as u64,
                    end_ms: (j.end_seconds * 1000.0) as u64,
                    output: format!(
                        "/w/build/temp/{}",
                        j.name.replace(".cu", ".o").replace(".cpp", ".o")
                    ),
                    mtime_ns: ((clock + j.end_seconds) * 1e9) as u64,
                });
            }
            clock += sim.wall_seconds + 30.0;
        }
        log
    }

    #[test]
    fn recovers_the_speed_of_a_simulated_build() {
        let units = units();
        for (speed, jobs) in [(0.5, 4), (1.0, 16), (1.7, 8)] {
            let log = simulated_log(speed, jobs, 16, 1);
            let c = calibrate(&CostModel::measured(), &past(&units, &log, 16)).unwrap();
            assert_eq!(c.units, 73);
            // The model is exact on its own schedule: the raw ratio is the speed,
            // and the factor is it relative to the measured machine's.
            let raw = c.observed_seconds / c.predicted_seconds;
            assert!(
                (raw - speed).abs() < 0.02 * speed,
                "{speed} at {jobs} jobs: {c:?}"
            );
            let relative = c.factor * c.reference_ratio;
            assert!((relative - raw).abs() < 0.002 * raw.max(1.0), "{c:?}");
        }
    }

    /// A retry's entries count from their own run's start; the mtimes keep
    /// them apart, so they do not pile onto the first run's load.
    #[test]
    fn entries_of_several_ninja_runs_share_one_clock() {
        let units = units();
        let log = simulated_log(0.7, 16, 16, 2);
        let c = calibrate(&CostModel::measured(), &past(&units, &log, 16)).unwrap();
        let raw = |c: &SpeedCalibration| c.observed_seconds / c.predicted_seconds;
        assert!((raw(&c) - 0.7).abs() < 0.02, "{c:?}");
        // Without mtimes the runs overlap on one clock: more load, a wrong factor.
        let mut stripped = log.clone();
        for e in &mut stripped {
            e.mtime_ns = 0;
        }
        let wrong = calibrate(&CostModel::measured(), &past(&units, &stripped, 16)).unwrap();
        assert!(raw(&wrong) < 0.6, "{wrong:?}");
    }

    /// The real build the model was fitted on is speed 1 (by construction),
    /// and the model's own bias there is small.
    #[test]
    fn the_measured_machine_is_speed_one() {
        let units = units();
        let log = parse_ninja_log(REAL_BUILD_NINJA_LOG);
        let c = calibrate(&CostModel::measured(), &past(&units, &log, REAL_BUILD_CPUS)).unwrap();
        assert!(c.units >= 60, "{c:?}");
        assert_eq!(c.factor, 1.0, "{c:?}");
        assert!((c.reference_ratio - 1.0).abs() < 0.1, "{c:?}");
    }

    #[test]
    fn too_few_compiles_are_refused() {
        let units = flash_attn_2_8_3_units();
        let log = parse_ninja_log(REAL_BUILD_NINJA_LOG);
        let err = calibrate(&CostModel::measured(), &past(&units, &log[..3], 16)).unwrap_err();
        assert!(
            matches!(err, CalibrateError::TooFew { found: 3, .. }),
            "{err}"
        );
        assert!(err.hint().contains("report.json"));
    }

    /// Each unit's measured time, with its contention and its gencodes and
    /// threads divided out, is the time the model would give it on a host
    /// `speed` times as slow: causal-conv1d's four real units (nine
    /// gencodes per .cu, from its probe) on 16 CPUs, four jobs, 3 threads.
    #[test]
    fn host_costs_recover_each_units_own_time() {
        use crate::recipe::{resolve_units_with, UnitContext};
        let probe = crate::recipe::setup_probe::SetupProbe::parse(include_str!(
            "fixtures/torch-ext/causal_conv1d-1.7.0.json"
        ))
        .unwrap();
        let probe = Ok(probe);
        let su = resolve_units_with(
            &crate::Recipe::torch_ext("x.tar.gz"),
            None,
            UnitContext {
                probe: Some(&probe),
                ..UnitContext::default()
            },
        )
        .unwrap();
        let speed = 1.3;
        let model = CostModel::measured().with_speed(speed);
        let costs = jobs_for(&model, &su.units, 1, 3);
        let sim = simulate(&model, &costs, 4, 16, Order::AsGiven);
        let log: Vec<NinjaLogEntry> = sim
            .jobs
            .iter()
            .map(|j| NinjaLogEntry {
                start_ms: (j.start_seconds * 1000.0) as u64,
                end_ms: (j.end_seconds * 1000.0) as u64,
                output: format!(
                    "/w/build/temp/{}",
                    j.name.replace(".cu", ".o").replace(".cpp", ".o")
                ),
                mtime_ns: 0,
            })
            .collect();
        let past = PastBuild {
            units: &su.units,
            log: &log,
            gencodes: 1,
            threads: 3,
            cpus: 16,
            basis: "simulated".into(),
        };
        let host = host_costs(&CostModel::measured(), &past, "abc");
        assert_eq!(host.units.len(), 4);
        assert_eq!(host.source_sha256, "abc");
        let base = CostModel::measured();
        for u in &su.units {
            let want = base.unit_cost(u).seconds * speed;
            let got = host.units[&u.cost_key()];
            assert!(
                (got - want).abs() / want < 0.02,
                "{}: {got} vs {want}",
                u.path
            );
        }
        // A plan with them prices those units as measured here.
        let planned = CostModel::measured().with_host_costs(&host);
        for u in &su.units {
            assert_eq!(
                planned.unit_cost(u).time_basis,
                super::super::cost::CostBasis::Host
            );
        }
    }
}
