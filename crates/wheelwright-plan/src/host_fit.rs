//! How a plan fits its host: the memory a build may use ([`MemoryBudget`]:
//! the basis, the margin kept under it, the ceiling), the setting chosen
//! under that ceiling ([`choose_setting`], with its one-job fallback on a
//! small host), the findings of a plan that fits only one compile, runs over
//! the ceiling or shares the host's memory, the CPUs a plan counts and the
//! wheel's local version label.

use super::archs::CudaVersion;
use super::cost::CostModel;
use super::recipe::TranslationUnit;
use super::search::{self, Candidate, Choice, Space};
use super::{
    PlanRequest, MEMORY_MARGIN_FRACTION, MEMORY_MARGIN_MIN_BYTES, MEMORY_OVER_CEILING, SMALL_HOST,
    SMALL_HOST_MARGIN_FRACTION, SMALL_HOST_MARGIN_MIN_BYTES,
};
use wheelwright_base::facts::Facts;
use wheelwright_base::finding::{Finding, Severity};
use wheelwright_base::units::{format_bytes, format_duration, GIB};

/// The memory a plan may use and what it was taken from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MemoryBudget {
    /// The memory planned for: the override, the cgroup limit or the total.
    pub base: u64,
    /// What `base` is, or what lowered the ceiling below it, in words.
    pub basis: String,
    /// Memory kept for everything else: `base − ceiling`.
    pub margin: u64,
    /// The memory the build may use.
    pub ceiling: u64,
    /// `MemAvailable` now (0: not known).
    pub available: u64,
    /// Other processes hold memory the margin could not absorb: the ceiling
    /// is what is available now.
    pub in_use: bool,
}

impl MemoryBudget {
    /// The basis (the override, else a cgroup limit below the total, else the
    /// total) minus [`memory_margin`].
    ///
    /// On a shared machine the build gets what is free, not what is
    /// installed: memory other processes hold now (MemTotal − MemAvailable)
    /// first eats into the margin, and beyond it lowers the ceiling to
    /// `MemAvailable`. An override is the user's word and stays as given.
    pub fn of(facts: &Facts, req: &PlanRequest) -> Self {
        let (base, basis) = match (req.memory_limit_override, facts.host.memory_limit_bytes) {
            (Some(o), _) => (o, "override".to_string()),
            (None, Some(l)) if l < facts.host.memory_total_bytes => (l, "cgroup limit".to_string()),
            _ => (facts.host.memory_total_bytes, "total memory".to_string()),
        };
        let margin = memory_margin(base);
        let mut budget = MemoryBudget {
            base,
            basis,
            margin,
            ceiling: base.saturating_sub(margin),
            available: facts.host.memory_available_bytes,
            in_use: false,
        };
        let available = budget.available;
        if req.memory_limit_override.is_none() && available > 0 && available < budget.ceiling {
            budget.basis = format!(
                "memory available now ({} of {} free: other processes hold the rest)",
                format_bytes(available),
                format_bytes(facts.host.memory_total_bytes)
            );
            budget.ceiling = available;
            budget.margin = base - available;
            budget.in_use = true;
        }
        budget
    }

    /// The margin and ceiling for one compile at a time: `base` minus
    /// [`small_host_margin`], no more than is available now (unless the
    /// memory is an override).
    fn one_job(&self, req: &PlanRequest) -> (u64, u64) {
        let mut ceiling = self.base.saturating_sub(small_host_margin(self.base));
        if req.memory_limit_override.is_none() && self.available > 0 {
            ceiling = ceiling.min(self.available);
        }
        (self.base - ceiling, ceiling)
    }
}

/// MAX_JOBS and NVCC_THREADS in `space` (whose ceiling is `memory`'s).
///
/// When nothing fits and the user fixed neither, one compile at a time needs
/// less room than a full schedule: MAX_JOBS=1 is planned under the one-job
/// margin, with a warning, when the largest unit fits there, and `memory`
/// then carries that margin and ceiling. A choice that still does not fit
/// gets its finding (a refusal, or a warning for a setting the user fixed).
pub(super) fn choose_setting(
    model: &CostModel,
    units: &[TranslationUnit],
    space: Space,
    req: &PlanRequest,
    memory: &mut MemoryBudget,
    findings: &mut Vec<Finding>,
) -> Choice {
    let mut choice = search::choose(model, units, space);
    if !choice.fits && req.max_jobs.is_none() && req.nvcc_threads.is_none() {
        let (small_margin, small_ceiling) = memory.one_job(req);
        let one = search::choose(
            model,
            units,
            Space {
                ceiling: small_ceiling,
                fixed_jobs: Some(1),
                fixed_threads: None,
                ..space
            },
        );
        if one.fits {
            findings.push(small_host_finding(
                &one.best,
                memory.base,
                &memory.basis,
                small_margin,
                memory.margin,
            ));
            choice = Choice {
                evaluated: choice.evaluated + one.evaluated,
                ..one
            };
        } else {
            choice.evaluated += one.evaluated;
        }
        (memory.margin, memory.ceiling) = (small_margin, small_ceiling);
    }
    if !choice.fits {
        findings.push(memory_finding(
            &choice.best,
            req,
            memory.ceiling,
            memory.base,
            &memory.basis,
            memory.margin,
        ));
    }
    choice
}

/// The warning of a plan made for the memory available now rather than the
/// limit or the total, because other processes hold the rest.
pub(super) fn memory_in_use_finding(
    memory: &MemoryBudget,
    facts: &Facts,
    jobs: u32,
) -> Option<Finding> {
    if !memory.in_use {
        return None;
    }
    let total = facts.host.memory_total_bytes;
    Some(Finding::new(
        "memory-in-use",
        Severity::Warning,
        "Other processes hold memory the build could use",
        format!(
            "Only {} of {} is available now: the plan is for that (MAX_JOBS={jobs}), not for the {}.",
            format_bytes(memory.available),
            format_bytes(total),
            if facts.host.memory_limit_bytes.is_some_and(|l| l < total) {
                "cgroup limit"
            } else {
                "total memory"
            },
        ),
        "Stop what else uses memory here for a faster build, or give the plan a size with --memory-limit (at your own risk of OOM kills).",
    ))
}

/// max(2 GiB, 10 %) of `memory`.
pub fn memory_margin(memory: u64) -> u64 {
    MEMORY_MARGIN_MIN_BYTES.max((memory as f64 * MEMORY_MARGIN_FRACTION) as u64)
}

/// The margin kept when only one compile runs (MAX_JOBS=1 on a host too
/// small for [`memory_margin`]): max(0.5 GiB, 5 %) of `memory`.
///
/// Why that much: [`memory_margin`]'s 2 GiB / 10 % covers a full schedule,
/// where several compilers' peaks can coincide and the simulator's per-unit
/// peaks add up their errors. With one compile there is one peak, measured
/// (`measurements/`) as that unit's whole resident set, and what else runs is
/// the kernel, the runner's agent and the build's own parents (pip, setuptools,
/// ninja: a few hundred MiB together); 0.5 GiB, or 5 % of a larger host, is
/// headroom for those. Less would trade a plan for an OOM kill that the build
/// cannot retry (it is already at one job).
pub fn small_host_margin(memory: u64) -> u64 {
    SMALL_HOST_MARGIN_MIN_BYTES.max((memory as f64 * SMALL_HOST_MARGIN_FRACTION) as u64)
}

/// The least memory on which a compile that peaks at `peak` fits under the
/// one-job margin, rounded up to a whole GiB.
fn memory_needed_for(peak: u64) -> u64 {
    let by_min = peak + SMALL_HOST_MARGIN_MIN_BYTES;
    let by_fraction = (peak as f64 / (1.0 - SMALL_HOST_MARGIN_FRACTION)).ceil() as u64;
    by_min.max(by_fraction).div_ceil(GIB) * GIB
}

/// The warning of a plan that fits only one compile at a time.
fn small_host_finding(
    best: &Candidate,
    base: u64,
    basis: &str,
    small_margin: u64,
    margin: u64,
) -> Finding {
    Finding::new(
        SMALL_HOST,
        Severity::Warning,
        "Only one compile at a time fits in memory",
        format!(
            "MAX_JOBS=1 NVCC_THREADS={}: the largest compile is predicted to peak at {}, under the {basis} {} minus a {} one-job margin (the usual {} margin leaves no room for one). Expect the build to take about {} (longest first: {}).",
            best.threads,
            format_bytes(best.peak()),
            format_bytes(base),
            format_bytes(small_margin),
            format_bytes(margin),
            format_duration(best.ninja.wall_seconds),
            format_duration(best.longest_first.wall_seconds),
        ),
        "Give the build more memory (or stop what else runs) for parallel compiles, or build on a larger machine and install the wheel here.",
    )
}

/// Logical CPUs, capped by the cgroup quota (rounded down, at least 1).
pub fn effective_cpus(facts: &Facts) -> u32 {
    let logical = facts.host.logical_cpus.max(1);
    match facts.host.cpu_quota {
        Some(q) if q.is_finite() && q > 0.0 => logical.min((q.floor() as u32).max(1)),
        _ => logical,
    }
}

/// flash-attn's wheel label: `cu{torch CUDA major}torch{major.minor}cxx11abi{TRUE|FALSE}`.
pub fn local_version(facts: &Facts) -> Option<String> {
    let t = facts.torch.as_ref()?;
    let cuda = CudaVersion::parse(t.cuda.as_deref()?)?;
    let mut parts = t.version.split(['.', '+']);
    let (major, minor) = (parts.next()?, parts.next()?);
    let abi = if t.cxx11_abi? { "TRUE" } else { "FALSE" };
    Some(format!("cu{}torch{major}.{minor}cxx11abi{abi}", cuda.major))
}

/// The finding of a setting over the ceiling: a warning for one the user
/// fixed, else the refusal of a host where not even one compile fits.
fn memory_finding(
    best: &Candidate,
    req: &PlanRequest,
    ceiling: u64,
    base: u64,
    basis: &str,
    margin: u64,
) -> Finding {
    let peak = best.peak();
    let room = format!(
        "{} ({basis} {} minus a {} margin)",
        format_bytes(ceiling),
        format_bytes(base),
        format_bytes(margin)
    );
    if req.max_jobs.is_some() || req.nvcc_threads.is_some() {
        return Finding::new(
            MEMORY_OVER_CEILING,
            Severity::Warning,
            "The requested setting does not fit in memory",
            format!(
                "MAX_JOBS={} NVCC_THREADS={} is predicted to peak at {}, above the {room} this host allows: expect compilers killed for memory.",
                best.jobs, best.threads, format_bytes(peak)
            ),
            "Drop --max-jobs/--nvcc-threads and let wheelwright choose, or lower them.",
        );
    }
    Finding::new(
        "memory-too-small",
        Severity::Error,
        "Not enough memory for even one compile",
        format!(
            "One job at a time with NVCC_THREADS=1 is predicted to peak at {}; even with the one-job margin this host allows {room}.",
            format_bytes(peak)
        ),
        format!(
            "Give the build at least {} (raise the container's memory limit, or add memory), or build on a larger machine and install the wheel here. Fewer archs do not help: at NVCC_THREADS=1 one compile's peak does not depend on them.",
            format_bytes(memory_needed_for(peak))
        ),
    )
}
