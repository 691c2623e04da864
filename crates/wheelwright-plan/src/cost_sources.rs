//! Where a plan's unit costs came from: measured, a measured class's or
//! kind's mean, a stated estimate (flash-attn 3) or the generic cost; which
//! of the plan's gencodes rest on a measurement on the GPU machine and which
//! on the CPU box's per-gencode ratios; the plan's `costs` and its
//! `costs-estimated` notice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cost::{self, CostModel};
use super::gencode_cost::GencodeBasis;
use super::{fa3_cost, measurements, recipe};
use wheelwright_base::finding::{Finding, Severity};

/// Where the units' costs came from: the JSON says which units are not
/// measured and how their cost was found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CostSources {
    /// Units whose own compile was measured (on the GPU machine, in a real
    /// build, or on the CPU box: `measured_cpu_box` says how many).
    pub measured: u32,
    /// Of `measured`, the units measured by compiling them on the CPU box
    /// (flash-attn 3: PyPI's nvcc, converted to the reference host's
    /// seconds): their paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured_cpu_box: Vec<String>,
    /// Units measured on this host, in an earlier build of the same source
    /// with the same targets (`--calibrate`): their paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured_here: Vec<String>,
    /// Units whose peak memory was measured on this host, in an earlier
    /// build of the same source (`--calibrate`; the build's memory samples
    /// of each compile's process tree): their paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_measured_here: Vec<String>,
    /// Units priced at the mean of their measured class (same kind, head dim
    /// and causal mask; e.g. flash-attn main's `split_align` files).
    pub class_mean: u32,
    /// Units priced at their kind's mean.
    pub kind_mean: u32,
    /// Units estimated by a stated rule (flash-attn 3).
    pub estimated: u32,
    /// Units the model does not know, priced like an average flash-attn
    /// forward file (`.cu`) or `flash_api.cpp` (`.cpp`).
    pub generic: u32,
    /// The units not measured, with how each was priced
    /// (`class_mean`, `kind_mean`, `estimate`, `generic`).
    pub not_measured: BTreeMap<String, String>,
    /// How the estimates were made, one sentence per method used.
    pub methods: Vec<String>,
    /// The plan's gencodes and what each one's cost rests on: sm_90 is
    /// measured on the GPU machine (the per-unit times are sm_90 compiles),
    /// the others are scaled from it by the CPU box's ratios
    /// (`data/fa2_arch_costs_cpu.jsonl`). Absent in plans made before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gencodes: Vec<GencodeCost>,
}

/// One gencode of a plan and its cost against sm_90's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GencodeCost {
    /// The `-gencode` value, `arch=compute_100f,code=sm_100`.
    pub gencode: String,
    /// What the cost rests on.
    pub basis: GencodeBasis,
    /// The measured target it was priced as (`sm_100f`; `sm_100` for a
    /// plain `compute_100` when only the family target was measured).
    pub priced_as: Option<String>,
    /// Its own work in a compile, relative to an sm_90 gencode's.
    pub work: f64,
    /// Its compile's peak memory, relative to an sm_90 compile's.
    pub peak: f64,
    /// Units the ratio was measured on (0 for measured or assumed).
    pub units: u32,
}

/// How gencodes other than sm_90 are priced, for `costs.methods`.
pub const GENCODE_METHOD: &str = "gencodes: the per-unit times are sm_90 compiles measured on the GPU machine (H100 build log, H200 builds); another target is priced by its compile's CPU time against sm_90's on a CPU box (PyPI's nvcc 13.0, flash-attn 2.8.3 units: data/fa2_arch_costs_cpu.jsonl, bench/arch_costs/fit.py), a target not measured there by the same arch in another spelling, else like sm_90";

impl CostSources {
    pub(crate) fn of(
        model: &CostModel,
        units: &[recipe::TranslationUnit],
        gencode_flags: &[String],
    ) -> Self {
        use cost::CostBasis;
        let mut out = CostSources::default();
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        out.gencodes = model
            .gencode_factors_of(gencode_flags)
            .into_iter()
            .map(|(gencode, f, basis, from)| GencodeCost {
                gencode,
                basis,
                priced_as: from,
                work: r(f.work),
                peak: r(f.peak),
                units: f.units,
            })
            .collect();
        if out
            .gencodes
            .iter()
            .any(|g| g.basis != GencodeBasis::Measured)
        {
            out.methods.push(GENCODE_METHOD.to_string());
        }
        for u in units {
            let c = model.unit_cost(u);
            if c.memory_basis == CostBasis::Host {
                out.memory_measured_here.push(u.path.clone());
            }
            let (count, name) = match c.time_basis {
                CostBasis::Unit => {
                    out.measured += 1;
                    continue;
                }
                CostBasis::Host => {
                    out.measured += 1;
                    out.measured_here.push(u.path.clone());
                    continue;
                }
                CostBasis::CpuBox => {
                    out.measured += 1;
                    out.measured_cpu_box.push(u.path.clone());
                    continue;
                }
                CostBasis::Class => (&mut out.class_mean, "class_mean"),
                CostBasis::Kind => (&mut out.kind_mean, "kind_mean"),
                CostBasis::Estimate => (&mut out.estimated, "estimate"),
                CostBasis::Generic => (&mut out.generic, "generic"),
            };
            *count += 1;
            out.not_measured.insert(u.path.clone(), name.to_string());
        }
        if out.class_mean + out.kind_mean > 0 {
            out.methods.push(format!("class_mean/kind_mean: flash-attn {} was measured per file (a real 16-job build's ninja log, contention divided out); a file not in it costs the mean time and peak of the measured files of its class (kind, head dim, causal), else of its kind", measurements::REAL_BUILD_VERSION));
        }
        if out.estimated > 0 {
            out.methods.push(fa3_cost::FA3_ESTIMATE_METHOD.to_string());
        }
        if !out.measured_cpu_box.is_empty() {
            out.methods.push(format!("measured_cpu_box: {} flash-attn 3 units were measured by compiling each alone on a CPU box (PyPI's nvcc, the flags of hopper/setup.py, data/fa3_costs.tsv's cpu-unit rows), converted to the reference host's seconds by a flash-attn 2.8.3 unit compiled in the same run; a GPU-machine measurement of the unit wins where its switches are as near the plan's", out.measured_cpu_box.len()));
        }
        if !out.measured_here.is_empty() {
            out.methods.push(format!("measured_here: {} of the units were measured on this host in an earlier build of the same source with the same targets (`--calibrate`): their times, not the model's", out.measured_here.len()));
        }
        if !out.memory_measured_here.is_empty() {
            out.methods.push(format!("memory measured_here: {} of the units' peaks were measured on this host in an earlier build of the same source (`--calibrate`: its memory samples, each compile's process tree summed), not the model's", out.memory_measured_here.len()));
        }
        if out.generic > 0 {
            out.methods.push("generic: a file the model does not know costs like an average flash-attn 2 forward file (.cu) or flash_api.cpp (.cpp)".to_string());
        }
        out
    }

    /// The finding that says the plan rests on estimates, if it does.
    pub(crate) fn finding(&self, total: usize) -> Option<Finding> {
        let not = self.class_mean + self.kind_mean + self.estimated + self.generic;
        // flash-attn 2.8.3's built-in list has 4 files priced by class: the
        // calibration itself, not worth a notice on every plan.
        if self.estimated + self.generic == 0 && not <= 4 {
            return None;
        }
        Some(Finding::new(
            "costs-estimated",
            Severity::Notice,
            format!("{not} of {total} compile costs are estimates"),
            format!(
                "{} measured, {} at their class mean, {} at their kind mean, {} estimated, {} generic. {}",
                self.measured,
                self.class_mean,
                self.kind_mean,
                self.estimated,
                self.generic,
                self.methods.join(" ")
            ),
            "Treat the predicted time and peak as estimates; `plan --json` lists each estimated unit under costs.not_measured. A measured build replaces them (data/fa3_costs.tsv for flash-attn 3).",
        ))
    }
}
