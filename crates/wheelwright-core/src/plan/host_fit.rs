//! How a plan fits its host: the memory margins kept under the ceiling, the
//! findings of a plan that fits only one compile or runs over the ceiling,
//! the CPUs a plan counts and the wheel's local version label.

use super::archs::CudaVersion;
use super::search::Candidate;
use super::{
    PlanRequest, MEMORY_MARGIN_FRACTION, MEMORY_MARGIN_MIN_BYTES, MEMORY_OVER_CEILING, SMALL_HOST,
    SMALL_HOST_MARGIN_FRACTION, SMALL_HOST_MARGIN_MIN_BYTES,
};
use crate::facts::Facts;
use crate::finding::{Finding, Severity};
use crate::units::{format_bytes, format_duration, GIB};

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
pub(super) fn small_host_finding(
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

pub(super) fn memory_finding(
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
