//! The baselines every plan is priced against on the same host: flash-attn's
//! own automatic choice and the seed recipe (all cores), or for a plain torch
//! extension torch's default (ninja's CPUs + 2) and all cores.

use super::cost::CostModel;
use super::recipe::{Recipe, TranslationUnit};
use super::{search, Baseline, Prediction};
use wheelwright_base::facts::Facts;
use wheelwright_base::units::GIB;

/// What the baselines are priced with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Setting {
    pub gencodes: u32,
    pub cpus: u32,
    pub ceiling: u64,
    /// NVCC_THREADS the package uses when it is unset.
    pub default_threads: u32,
    /// flash-attn's own MAX_JOBS is main's `available GB / (5 × NVCC_THREADS)`
    /// rather than 2.8.3's `available GB / 9`.
    pub fa_auto_per_thread: bool,
    /// The build compiles one file at a time whatever MAX_JOBS says.
    pub serial: bool,
}

/// Price the baselines of `recipe` on this host.
pub(crate) fn baselines(
    model: &CostModel,
    recipe: &Recipe,
    units: &[TranslationUnit],
    facts: &Facts,
    s: Setting,
) -> Vec<Baseline> {
    let logical = facts.host.logical_cpus.max(1);
    let mut out = Vec::new();
    let mut price = |name: &str, description: String, jobs: u32, threads: u32| {
        let c = search::evaluate_shaped(model, units, s.gencodes, jobs, threads, s.cpus, s.serial);
        out.push(Baseline {
            name: name.into(),
            description,
            max_jobs: jobs,
            nvcc_threads: threads,
            predicted: Prediction::of(&c.ninja),
            exceeds_memory: c.ninja.peak_memory_bytes > s.ceiling,
        });
    };
    if recipe.is_flash_attn() {
        // setup.py 2.8.3 when MAX_JOBS is unset: os.cpu_count() and psutil's
        // available memory, neither of which sees cgroup limits.
        let avail_gb = facts.host.memory_available_bytes as f64 / GIB as f64;
        let threads = super::FLASH_ATTN_DEFAULT_NVCC_THREADS;
        let (per_job_gb, formula) = if s.fa_auto_per_thread {
            (
                5.0 * f64::from(threads),
                "available GB / (5 x NVCC_THREADS)",
            )
        } else {
            (9.0, "available GB / 9")
        };
        let jobs = (logical / 2)
            .max(1)
            .min((avail_gb / per_job_gb) as u32)
            .max(1);
        price(
            "flash-attn-auto",
            format!("flash-attn's own choice: MAX_JOBS = min(cpu_count // 2, {formula}), NVCC_THREADS 4"),
            jobs,
            threads,
        );
        price(
            "seed",
            "MAX_JOBS = all cores, NVCC_THREADS 4 (the seed recipe)".into(),
            logical,
            super::FLASH_ATTN_DEFAULT_NVCC_THREADS,
        );
    } else {
        // ninja's default parallelism: CPUs + 2 (3 on 2 CPUs, 2 on 1).
        let ninja = match logical {
            1 => 2,
            2 => 3,
            n => n.saturating_add(2),
        };
        price(
            "torch-default",
            "torch with MAX_JOBS unset: ninja's default, CPUs + 2".into(),
            ninja,
            s.default_threads,
        );
        price(
            "seed",
            "MAX_JOBS = all cores".into(),
            logical,
            s.default_threads,
        );
    }
    out
}
