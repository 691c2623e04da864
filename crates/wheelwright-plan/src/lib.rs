//! wheelwright-plan: build planning, from a [`Recipe`] and the host's [`Facts`] to a [`Plan`]:
//! the CUDA archs, MAX_JOBS and NVCC_THREADS chosen by simulating the build
//! with a measured cost model, the build's environment, predictions for the
//! plan and for two baselines, and preflight findings with fixes.
//!
//! - [`recipe`]: which units a package compiles (built in, source tree, sdist);
//!   [`setup_py`]: flash-attn 2's arch default and gencodes from its `setup.py`;
//!   [`fa3`]: flash-attn 3's units, switches and archs; `fa3_cost`: its
//!   stated cost estimate;
//! - [`archs`]: arch spellings, toolkit support, gencode counting;
//! - [`measurements`] and `cost`: the data and the model fitted to it ([`CostModel`]);
//! - [`simulate`](fn@simulate): the schedule simulator; `search`: the choice;
//!   `host_fit`: the memory a build may use and the choice under it;
//!   `build_env`: how a recipe's build takes the settings, and its environment;
//! - `targets`: which archs to build; `baselines`: the settings compared ([`Baseline`]);
//! - `preflight`: toolchain and disk checks; [`hypothetical`]: hosts from flags;
//! - [`matrix`]: the publish matrix; [`fleet`]: the matrix on N runners, with
//!   kernels shared between cells through the compile cache;
//! - [`gencode_cost`]: what each gencode costs against sm_90 (the CPU box's
//!   per-gencode ratios);
//! - [`validation`]: the simulator against the real build's log and memory trace.
//!
//! The memory ceiling is the cgroup limit when one is set (else total memory)
//! minus a margin of max(2 GiB, 10 %) for the OS, page cache and whatever else
//! runs; CPUs are the logical CPUs, capped by the cgroup CPU quota. A host too
//! small for even one compile under that margin still gets a plan when one
//! compile fits under the smaller one-job margin ([`small_host_margin`]):
//! MAX_JOBS=1 with a warning that names the expected time; only a host where
//! the largest unit cannot fit is refused.
//!
//! The planner reads [`Facts`] (wheelwright-base's type) and never detects,
//! builds or publishes: the matrix's lookup of already published wheels
//! fetches through wheelwright-base's [`Fetch`](wheelwright_base::net::Fetch)
//! trait, and [`archs`] is wheelwright-base's, re-exported here.

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

pub use wheelwright_base::archs;
pub(crate) mod baselines;
mod build_env;
pub mod calibrate;
mod contract;
pub(crate) mod cost;
pub mod cost_sources;
pub mod fa3;
pub(crate) mod fa3_cost;
pub mod fleet;
pub mod gencode_cost;
mod host_fit;
pub mod hypothetical;
pub mod matrix;
pub mod measurements;
pub mod preflight;
pub mod published;
pub mod recipe;
mod schedule_basis;
pub(crate) mod search;
pub mod setup_py;
pub mod simulate;
pub(crate) mod targets;
pub mod torch_ext;
pub mod validation;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use calibrate::{CalibrateError, HostCosts, PastBuild, SpeedCalibration};
pub use contract::{Baseline, ModelSummary, Plan, Prediction};
pub use cost::CostModel;
pub use cost_sources::CostSources;
pub use host_fit::{effective_cpus, local_version, memory_margin, small_host_margin};
pub use hypothetical::HostSpec;
pub use recipe::Recipe;
pub(crate) use schedule_basis::is_object_of;
pub use schedule_basis::{schedule, ScheduleBasis};
pub use simulate::{simulate, Order, Simulation};

use archs::{Arch, ArchError, CudaVersion};
use build_env::{build_env, BuildKind};
use host_fit::{choose_setting, memory_in_use_finding, MemoryBudget};
use search::Space;

use wheelwright_base::facts::Facts;
use wheelwright_base::finding::{Finding, Severity};
use wheelwright_base::units::GIB;

/// Version of the `Plan` JSON contract.
pub const PLAN_SCHEMA_VERSION: u32 = 1;
/// The memory margin is the larger of this …
pub const MEMORY_MARGIN_MIN_BYTES: u64 = 2 * GIB;
/// … and this fraction of the memory.
pub const MEMORY_MARGIN_FRACTION: f64 = 0.10;
/// The one-job margin is the larger of this …
pub const SMALL_HOST_MARGIN_MIN_BYTES: u64 = GIB / 2;
/// … and this fraction of the memory.
pub const SMALL_HOST_MARGIN_FRACTION: f64 = 0.05;
/// The finding id of a plan that fits only one compile at a time, under the
/// one-job margin ([`small_host_margin`]).
pub const SMALL_HOST: &str = "small-host";
/// The finding id of a forced MAX_JOBS/NVCC_THREADS predicted to exceed the
/// memory ceiling (the build repeats it before compiling).
pub const MEMORY_OVER_CEILING: &str = "memory-over-ceiling";
/// flash-attn 2.8.3's `NVCC_THREADS` when unset.
pub const FLASH_ATTN_DEFAULT_NVCC_THREADS: u32 = 4;

/// What the caller asks for beyond the recipe and the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanRequest {
    /// Archs in any spelling (`80,90`, `8.0;9.0`, `sm_80`); entries may be lists.
    pub archs: Option<Vec<String>>,
    /// Fix MAX_JOBS instead of choosing it.
    pub max_jobs: Option<u32>,
    /// Fix NVCC_THREADS instead of choosing it.
    pub nvcc_threads: Option<u32>,
    /// A source tree or sdist (`.tar.gz`) to read the units from.
    pub source: Option<PathBuf>,
    /// Plan for this much memory instead of the cgroup limit / total memory
    /// (the margin is still taken off).
    pub memory_limit_override: Option<u64>,
    /// This host's compile speed from an earlier build here
    /// (wheelwright-job's `BuildReport::speed_calibration`); without it, times
    /// are the measured machine's.
    pub speed: Option<SpeedCalibration>,
    /// The environment the build will see, as far as recipes read it
    /// (flash-attn 3's `FLASH_ATTENTION_DISABLE_*` switches; see
    /// [`recipe_env`]). Empty: none set.
    pub env: BTreeMap<String, String>,
    /// Compile costs measured on this host in an earlier build of the same
    /// source ([`HostCosts`], from `--calibrate`): the units they cover take
    /// them.
    pub host_costs: Option<HostCosts>,
    /// A torch extension's `setup.py` as [`recipe::setup_probe::run`] ran it
    /// under the build's torch and [`probe_env`] (or why it could not): the
    /// units, their gencodes and threads, and the package's switches.
    /// `None`: not run (the units come from a file scan).
    pub setup_probe: Option<Result<recipe::setup_probe::SetupProbe, recipe::setup_probe::ProbeGap>>,
}

/// The variables of `vars` (e.g. `std::env::vars()`) that recipes read from
/// the build's environment: `FLASH_ATTENTION_DISABLE_*` and
/// `FLASH_ATTENTION_ENABLE_*`, which change flash-attn 3's units, and
/// `FLASH_ATTENTION_OFFLINE_BUILD`.
pub fn recipe_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(k, _)| {
            k.starts_with("FLASH_ATTENTION_DISABLE_")
                || k.starts_with("FLASH_ATTENTION_ENABLE_")
                || k == fa3::FA3_OFFLINE_VAR
                || k == wheelwright_base::env_vars::NVCC_APPEND_FLAGS
        })
        .collect()
}

/// Why no plan could be made at all (bad input; refusals are findings).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("flash-attn {version} has no built-in file list (built in: {known}); pass its sdist or source tree as the source (`--source`)", known = recipe::KNOWN_FLASH_ATTN_VERSIONS.join(", "))]
    /// A flash-attn version without a built-in file list (and no source given).
    UnknownVersion {
        /// The version asked for.
        version: String,
    },
    #[error("cannot read the source {}: {message}", path.display())]
    /// The source tree or sdist could not be read.
    Source {
        /// The source.
        path: PathBuf,
        /// Why.
        message: String,
    },
    #[error("{} has no {wanted} to compile", source_path.display())]
    /// The source has no files of the kind the recipe compiles.
    NoUnits {
        /// The source.
        source_path: PathBuf,
        /// What was looked for (`.cu` files).
        wanted: String,
    },
    #[error(transparent)]
    /// An arch list that cannot be parsed.
    Arch(#[from] ArchError),
    #[error("{what} `{value}` is not valid: expected {expected}")]
    /// A value outside what it may be.
    BadInput {
        /// What it is (`MAX_JOBS`).
        what: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
}

impl PlanError {
    /// What the user should do.
    pub fn hint(&self) -> String {
        match self {
            PlanError::UnknownVersion { .. } => {
                "download the sdist (`pip download --no-deps --no-binary :all: flash-attn==VERSION`) and pass it with --source".into()
            }
            PlanError::Source { .. } => "pass an existing source folder or .tar.gz sdist".into(),
            PlanError::NoUnits { .. } => "point --source at the package's root (the folder with setup.py)".into(),
            PlanError::Arch(_) => "write archs like `80,90`, `8.0;9.0` or `sm_80`".into(),
            PlanError::BadInput { expected, .. } => format!("give {expected}"),
        }
    }
}

/// Plan `recipe` on the host `facts` describes.
///
/// The steps: the units the build compiles, the archs and `-gencode` flags,
/// the memory the build may use and the setting chosen under it, the
/// preflight checks, the build's environment, the baselines and what the
/// costs rest on; findings gather along the way, most severe first at the end.
pub fn plan(recipe: &Recipe, facts: &Facts, req: &PlanRequest) -> Result<Plan, PlanError> {
    check_request(req)?;
    let cuda = facts
        .cuda
        .as_ref()
        .and_then(|c| CudaVersion::parse(&c.version));
    let mut findings = Vec::new();
    let su = units_for_build(recipe, facts, req, &mut findings)?;
    let kind = BuildKind::of(recipe, &su, req);
    let archs = if kind.fa3 {
        targets::fa3_archs()
    } else {
        targets::resolve_archs(recipe, &su, facts, req, cuda, &mut findings)?
    };
    let gencode_flags = targets::gencode_flags(kind, &su, &archs, cuda);
    let gencodes = targets::gencodes_per_compile(kind, &su, &gencode_flags);
    findings.extend(torch_ext::setup_py_findings(&su));

    let cpus = effective_cpus(facts);
    let mut memory = MemoryBudget::of(facts, req);
    let mut model = CostModel::measured()
        .with_speed(req.speed.as_ref().map_or(1.0, |c| c.factor))
        .with_gencodes(&gencode_flags);
    if let Some(host) = &req.host_costs {
        model = model.with_host_costs(host);
    }
    let units = &su.units;
    let space = Space {
        gencodes,
        cpus,
        ceiling: memory.ceiling,
        fixed_jobs: req.max_jobs,
        fixed_threads: req.nvcc_threads,
        max_threads: kind.max_threads(gencodes),
        serial: kind.serial,
    };
    let choice = choose_setting(&model, units, space, req, &mut memory, &mut findings);
    let best = &choice.best;
    findings.extend(memory_in_use_finding(&memory, facts, best.jobs));
    if kind.probed {
        // Would more memory have bought a faster setting? (a reason for idle cores)
        let free = search::choose(
            &model,
            units,
            Space {
                ceiling: u64::MAX,
                ..space
            },
        );
        let limited = free.best.ninja.wall_seconds < best.ninja.wall_seconds * 0.99;
        findings.extend(torch_ext::cores_idle_finding(
            &model, units, gencodes, best, kind, cpus, limited,
        ));
    }

    let pre = preflight::check_toolchain(facts, recipe);
    findings.extend(pre.findings);
    if kind.fa3 {
        findings.extend(fa3::preflight(cuda, &req.env));
    }
    let disk = preflight::disk_needed_bytes(units.len(), gencodes, best.jobs);
    findings.extend(preflight::check_disk(facts, disk));

    let local_version = local_version(facts);
    let env = build_env(
        pre.env,
        kind,
        &su,
        &archs,
        best,
        local_version.as_deref(),
        facts,
    );
    let setting = kind.baseline_setting(gencodes, cpus, memory.ceiling);
    let baselines = baselines::baselines(&model, recipe, units, facts, setting);
    // flash-attn 3's units are costed per unit at their own targets.
    let priced_flags: &[String] = if kind.fa3 { &[] } else { &gencode_flags };
    let costs = CostSources::of(&model, units, priced_flags);
    findings.extend(costs.finding(units.len()));
    findings.sort_by_key(|f| f.severity);
    let unit_plan = torch_ext::planned_units(&model, &su, kind, best);
    let plan_archs = if kind.probed {
        archs_of(&gencode_flags)
    } else {
        archs.iter().map(Arch::compact).collect()
    };
    Ok(Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        recipe: recipe.name().into(),
        recipe_version: recipe_version(recipe, &su),
        source: su.origin.clone(),
        archs: plan_archs,
        gencodes: gencode_flags.len() as u32,
        gencode_flags,
        max_jobs: best.jobs,
        nvcc_threads: best.threads,
        env,
        pip_args: vec!["--no-build-isolation".into(), "--no-deps".into()],
        predicted: Prediction::of(&best.ninja),
        predicted_longest_first: Prediction::of(&best.longest_first),
        baselines,
        local_version,
        memory_ceiling_bytes: memory.ceiling,
        memory_margin_bytes: memory.margin,
        memory_basis: memory.basis,
        cpus,
        units: units.len() as u32,
        candidates_evaluated: choice.evaluated,
        model: ModelSummary::of(&model),
        costs,
        findings,
        assumptions: Vec::new(),
        speed: req.speed.clone(),
        schedule: None,
        unit_plan,
        setup_py: su.setup_py_facts.clone(),
    })
}

/// The archs `-gencode` flags put into the wheel, SASS first, in flash-attn's
/// spelling (`90`, `90a`), each once.
fn archs_of(flags: &[String]) -> Vec<String> {
    let args: Vec<&str> = flags
        .iter()
        .flat_map(|g| ["-gencode", g.as_str()])
        .collect();
    let (sass, ptx) = recipe::nvcc_flags::NvccTargets::parse(&args).codes();
    let mut out: Vec<Arch> = sass
        .iter()
        .chain(&ptx)
        .filter_map(|c| Arch::parse(c).ok())
        .collect();
    out.sort();
    out.dedup();
    out.iter().map(Arch::compact).collect()
}

/// The environment a torch extension's `setup.py` sees in the build, as far
/// as it is known before its units are: the toolchain's (CUDA_HOME, a host
/// compiler nvcc accepts), `TORCH_CUDA_ARCH_LIST` for the archs the plan
/// builds, and the request's. The setup.py probe runs under it
/// ([`recipe::setup_probe::run`]).
pub fn probe_env(
    recipe: &Recipe,
    facts: &Facts,
    req: &PlanRequest,
) -> Result<BTreeMap<String, String>, PlanError> {
    let cuda = facts
        .cuda
        .as_ref()
        .and_then(|c| CudaVersion::parse(&c.version));
    let empty = recipe::SourceUnits::default_for(recipe);
    let archs = targets::resolve_archs(recipe, &empty, facts, req, cuda, &mut Vec::new())?;
    let mut env = preflight::check_toolchain(facts, recipe).env;
    if !archs.is_empty() {
        env.insert(
            wheelwright_base::env_vars::TORCH_CUDA_ARCH_LIST.into(),
            archs::torch_arch_list(&archs),
        );
    }
    env.extend(req.env.clone());
    Ok(env)
}

/// Refuse a MAX_JOBS or NVCC_THREADS of 0.
fn check_request(req: &PlanRequest) -> Result<(), PlanError> {
    if req.max_jobs == Some(0) || req.nvcc_threads == Some(0) {
        return Err(PlanError::BadInput {
            what: "MAX_JOBS / NVCC_THREADS".into(),
            value: "0".into(),
            expected: "a number of at least 1".into(),
        });
    }
    Ok(())
}

/// The units the build compiles under its environment: the request's, plus
/// `FLASH_ATTENTION_DISABLE_SM80=TRUE` for a flash-attn 3 build without 8.x
/// archs; the recipe's notes on the list become warnings.
fn units_for_build(
    recipe: &Recipe,
    facts: &Facts,
    req: &PlanRequest,
    findings: &mut Vec<Finding>,
) -> Result<recipe::SourceUnits, PlanError> {
    let mut build_env = req.env.clone();
    if recipe.is_flash_attn_3() && targets::fa3_without_sm80(facts, req, findings)? {
        build_env.insert(fa3::disable_var("SM80"), "TRUE".into());
    }
    let su = recipe::resolve_units_with(
        recipe,
        req.source.as_deref(),
        recipe::UnitContext {
            env: Some(&build_env),
            torch_version: facts.torch.as_ref().map(|t| t.version.as_str()),
            probe: req.setup_probe.as_ref(),
        },
    )?;
    for note in &su.notes {
        findings.push(Finding::new(
            "recipe-note",
            Severity::Warning,
            "The build may not compile what the plan counts",
            note.clone(),
            "Check the variables and the tree; the plan's units follow the recipe's reading of setup.py.",
        ));
    }
    Ok(su)
}

/// The package version: the tree's when read, else the recipe's own
/// (flash-attn); a torch extension has none but its tree's.
fn recipe_version(recipe: &Recipe, su: &recipe::SourceUnits) -> Option<String> {
    match recipe {
        Recipe::FlashAttn { version } | Recipe::FlashAttn3 { version } => {
            su.version.clone().or(Some(version.clone()))
        }
        Recipe::TorchExt { .. } => su.version.clone(),
    }
}

#[cfg(test)]
mod recipe_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod torch_ext_tests;
