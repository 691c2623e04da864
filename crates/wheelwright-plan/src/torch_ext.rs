//! What a plan says about a torch extension beyond its settings: each unit as
//! the build compiles it ([`PlannedUnit`]), the findings of its `setup.py`
//! (a force-build or CUDA switch set, a setup.py that could not be run) and
//! why a plan leaves most cores idle, when it does.

use serde::{Deserialize, Serialize};

use super::build_env::BuildKind;
use super::cost::{CostBasis, CostModel};
use super::recipe::nvcc_flags::NvccTargets;
use super::recipe::{SourceUnits, TranslationUnit};
use super::search::{self, Candidate};
use wheelwright_base::finding::{Finding, Severity};
use wheelwright_base::units::format_duration;

/// The finding id of a plan that keeps fewer than half the cores busy.
pub const CORES_IDLE: &str = "cores-idle";
/// The finding id of a torch extension planned without running its setup.py.
pub const SETUP_PY_UNKNOWN: &str = "setup-py-unknown";
/// The finding id of a switch the plan sets because the package's setup.py
/// reads it (a force-build switch, a switch that turns CUDA on).
pub const SETUP_PY_SWITCH: &str = "setup-py-switch";
/// Below this share of the cores kept busy a plan says why.
pub const IDLE_SHARE: f64 = 0.5;

/// One unit as the plan compiles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlannedUnit {
    /// Relative to the source root.
    pub path: String,
    /// The extension it is compiled into (`torch_scatter._scatter_cuda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// `nvcc` or `cxx`.
    pub compiler: String,
    /// Device targets nvcc compiles (0 for a C++ unit).
    pub gencodes: u32,
    /// SASS archs (`sm_90`) and PTX (`compute_90`) it puts into the wheel.
    pub targets: Vec<String>,
    /// nvcc's `--threads` in the build (the plan's, over the package's own).
    pub threads: u32,
    /// How its time was found (`measured`, `measured_here`, `generic`, ...).
    pub cost: String,
    /// How its peak memory was found (`measured_here`: this host's earlier
    /// build of the same source; else the model's `class_mean`, `generic`, ...).
    #[serde(default)]
    pub memory: String,
}

/// The units as the plan compiles them, for a torch extension whose
/// setup.py was run (empty otherwise).
pub(super) fn planned_units(
    model: &CostModel,
    su: &SourceUnits,
    kind: BuildKind,
    best: &Candidate,
) -> Vec<PlannedUnit> {
    if !kind.probed {
        return Vec::new();
    }
    su.units
        .iter()
        .map(|u| {
            let targets = NvccTargets::parse(
                &u.gencode_flags
                    .iter()
                    .flat_map(|g| ["-gencode", g.as_str()])
                    .collect::<Vec<_>>(),
            );
            let (sass, ptx) = targets.codes();
            PlannedUnit {
                path: u.path.clone(),
                extension: u.extension.clone(),
                compiler: if u.is_cuda() { "nvcc" } else { "cxx" }.into(),
                gencodes: if u.is_cuda() {
                    u.gencodes.unwrap_or(1)
                } else {
                    0
                },
                targets: sass.into_iter().chain(ptx).collect(),
                threads: if u.is_cuda() { best.threads } else { 1 },
                cost: basis_name(model.unit_cost(u).time_basis).into(),
                memory: basis_name(model.unit_cost(u).memory_basis).into(),
            }
        })
        .collect()
}

fn basis_name(b: CostBasis) -> &'static str {
    match b {
        CostBasis::Unit => "measured",
        CostBasis::Class => "class_mean",
        CostBasis::Kind => "kind_mean",
        CostBasis::Generic => "generic",
        CostBasis::Estimate => "estimate",
        CostBasis::Host => "measured_here",
        CostBasis::CpuBox => "measured_cpu_box",
    }
}

/// The findings of the package's setup.py: the switches set, or why it
/// could not be run.
pub(super) fn setup_py_findings(su: &SourceUnits) -> Vec<Finding> {
    let Some(f) = su.setup_py_facts.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(why) = &f.unknown {
        out.push(Finding::new(
            SETUP_PY_UNKNOWN,
            Severity::Warning,
            "The units come from a file scan, not from the package's setup.py",
            format!(
                "{why}. Unknown therefore: which files setup.py really compiles and into how many extensions, each unit's own -gencode list and --threads (every .cu is counted at the plan's TORCH_CUDA_ARCH_LIST), whether it turns ninja off, and the switches it reads (a force-build switch against a prebuilt download is not set)."
            ),
            "Plan on the build host with the build's interpreter (`--python`, with torch and the CUDA toolkit) so wheelwright can run the package's setup.py offline.",
        ));
    }
    for sw in &f.switches {
        let (title, what) = match sw.purpose.as_str() {
            "build-offline" => (
                "setup.py downloads a prebuilt wheel unless told to build",
                format!(
                    "Run offline, the package's setup.py tried to download a prebuilt wheel{} before compiling; with {}={} it compiles without trying{}.",
                    f.download
                        .as_ref()
                        .and_then(|d| d.urls.first())
                        .map(|u| format!(" ({u})"))
                        .unwrap_or_default(),
                    sw.name,
                    sw.value,
                    f.download
                        .as_ref()
                        .and_then(|d| d.error.as_deref())
                        .map(|e| format!(" (offline the attempt ended in `{e}`)"))
                        .unwrap_or_default()
                ),
            ),
            _ => (
                "setup.py compiles its CUDA code only when told to",
                format!(
                    "Under the build's environment the package's setup.py compiled no CUDA unit (torch sees no GPU here); with {}={} it does.",
                    sw.name, sw.value
                ),
            ),
        };
        out.push(Finding::new(
            SETUP_PY_SWITCH,
            Severity::Notice,
            title,
            what,
            format!("The plan sets {}={}; found by running setup.py with each variable it compares, not from a list of names.", sw.name, sw.value),
        ));
    }
    out
}

/// A notice when the chosen setting keeps fewer than [`IDLE_SHARE`] of the
/// cores busy on average, with the reasons the plan could not do better.
pub(super) fn cores_idle_finding(
    model: &CostModel,
    units: &[TranslationUnit],
    gencodes: u32,
    best: &Candidate,
    kind: BuildKind,
    cpus: u32,
    memory_limited: bool,
) -> Option<Finding> {
    let wall = best.ninja.wall_seconds;
    if wall <= 0.0 || cpus <= 1 {
        return None;
    }
    let jobs = search::jobs_for(model, units, gencodes, best.threads);
    let busy: f64 = jobs.iter().map(|j| j.alone_seconds * j.cpu_demand).sum();
    let share = busy / (wall * f64::from(cpus));
    if share >= IDLE_SHARE {
        return None;
    }
    let mut why = Vec::new();
    if kind.serial {
        why.push("the package's setup.py turns torch's ninja backend off (`use_ninja=False`), so torch compiles one file at a time and MAX_JOBS does nothing".to_string());
    }
    let groups = search::extension_groups(units);
    if groups.len() > 1 && !kind.serial {
        let largest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
        why.push(format!(
            "torch builds the {} extensions one after another, a ninja run each: at most {largest} compiles run at once",
            groups.len()
        ));
    }
    let cuda: Vec<&TranslationUnit> = units.iter().filter(|u| u.is_cuda()).collect();
    let most_gencodes = cuda
        .iter()
        .map(|u| u.gencodes.unwrap_or(gencodes))
        .max()
        .unwrap_or(0);
    if (units.len() as u32) < cpus {
        why.push(format!(
            "{} units for {cpus} cores, nvcc's threads capped at their gencodes (at most {most_gencodes} a unit; {} chosen)",
            units.len(),
            best.threads
        ));
    }
    if memory_limited {
        why.push("more jobs or threads would pass the memory ceiling".to_string());
    }
    let longest = best
        .ninja
        .jobs
        .iter()
        .map(|j| (j.end_seconds - j.start_seconds, j.name.as_str()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((secs, name)) = longest {
        why.push(format!(
            "the longest compile ({name}, {}) bounds the build",
            format_duration(secs)
        ));
    }
    Some(Finding::new(
        CORES_IDLE,
        Severity::Notice,
        format!(
            "The build keeps {:.1} of {cpus} cores busy on average",
            share * f64::from(cpus)
        ),
        format!(
            "{:.0} % of the cores over the predicted {}: {}.",
            share * 100.0,
            format_duration(wall),
            why.join("; ")
        ),
        "Nothing to change in the plan: it already takes the fastest setting that fits. Build several packages or variants on this host at once to use the rest.",
    ))
}
