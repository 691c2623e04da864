//! What each gencode of a compile costs, relative to sm_90's, and how a
//! compile's gencodes add up.
//!
//! The per-unit times the model is calibrated on are sm_90 compiles on the
//! GPU machine (and sm_80 ones scaled to them). Other targets are priced
//! by factors measured on a CPU box with PyPI's nvcc 13.0
//! (`data/fa2_arch_costs_cpu.jsonl`, `bench/arch_costs/`: flash-attn 2.8.3
//! units compiled once per gencode with flash-attn's own command, CPU
//! seconds and the process tree's peak, and with several gencodes in one
//! compile). The fit, reproduced by `bench/arch_costs/fit.py --sigma σ`:
//! - σ, the gencode-independent share of an sm_90 compile, is the GPU
//!   machine's (a backward unit at one and at two virtual archs, wall time:
//!   0.12); the CPU box's estimate, F = (Σ c_a − c_S) / (|S| − 1) and
//!   F / c_90 from a compile of a set S at `--threads 1`, is reported
//!   (`ArchFit::cpu_sigma`) and not used (`ArchFit::fit` says why);
//! - a target's work w_a = (c_a − σ·c_90) / ((1 − σ)·c_90), its own work
//!   relative to sm_90's (w_90 = 1), the mean over the units;
//! - a target's peak factor: the geometric mean of peak_a / peak_90;
//! - ρ, the peak growth per gencode compiled in parallel:
//!   (peak(S, T=k) / peak(S, T=1) − 1) / (k − 1), the largest measured.
//!
//! nvcc runs `cicc` once per virtual arch (`arch=compute_90` with
//! `code=sm_90` and `code=compute_90` is one run, one `ptxas`) and
//! `--threads` parallelises over those: the model's gencodes of a compile
//! are its virtual arch groups (`compile_groups`), each costed as its
//! dearest target (a PTX code beside a SASS code of its arch adds nothing).
//!
//! A compile of gencodes with works w at `--threads k` takes
//! `b·(σ + (1−σ)·M)`, M the makespan of the w scheduled longest first on k
//! workers (⌈G/k⌉ when every w is 1), keeps `(σ + (1−σ)·Σw) / (σ + (1−σ)·M)`
//! cores busy, and peaks at `p·max(peak factor)·(1 + ρ·(k−1))`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::measurements::ArchCompile;

/// The reference target: the GPU machine's per-unit times are sm_90 compiles.
pub(crate) const REFERENCE_TARGET: &str = "sm_90";

/// One target's cost against sm_90's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TargetFactor {
    /// Its own work relative to sm_90's own work.
    pub work: f64,
    /// Its compile's peak over sm_90's.
    pub peak: f64,
    /// Units both were measured on.
    pub units: u32,
}

/// A `-gencode` value, its factor, what the factor rests on and the
/// measured target it was priced as.
pub(crate) type PricedGencode = (String, TargetFactor, GencodeBasis, Option<String>);

/// What the CPU box's compiles give.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ArchFit {
    /// Per target key (`sm_100f`, `sm_120`, `compute_120`), each target's
    /// own work at the σ the model uses (the GPU machine's).
    pub targets: BTreeMap<String, TargetFactor>,
    /// σ as the CPU box's multi-gencode compiles at `--threads 1` give it:
    /// reported, not used (see [`ArchFit::fit`]).
    pub cpu_sigma: Option<f64>,
    /// ρ from the multi-gencode compiles at `--threads k`.
    pub rho: Option<f64>,
}

/// The key of a `-gencode` value: `sm_100f` for
/// `arch=compute_100f,code=sm_100` (a family target), `sm_100` for
/// `arch=compute_100,code=sm_100`, `sm_90a` for the arch-specific
/// `compute_90a`, and `compute_120` for PTX (`code=compute_120`).
pub(crate) fn target_key(flag: &str) -> Option<String> {
    let mut arch = None;
    let mut code = None;
    for part in flag.trim().trim_start_matches("-gencode=").split(',') {
        match part.trim().split_once('=') {
            Some(("arch", v)) => arch = Some(v.trim()),
            Some(("code", v)) => code = Some(v.trim().trim_matches(['[', ']'])),
            _ => {}
        }
    }
    let code = code?;
    if code.starts_with("compute_") {
        return Some(code.to_string());
    }
    let sm = code.strip_prefix("sm_")?;
    let digits: String = sm.chars().take_while(char::is_ascii_digit).collect();
    let suffix = arch
        .and_then(|a| a.strip_prefix("compute_"))
        .and_then(|a| a.strip_prefix(digits.as_str()))
        .filter(|s| !s.is_empty())
        .or_else(|| Some(&sm[digits.len()..]).filter(|s| !s.is_empty()))
        .unwrap_or("");
    Some(format!("sm_{digits}{suffix}"))
}

/// The virtual arch of a `-gencode` value: `compute_100f` of
/// `arch=compute_100f,code=sm_100`.
pub(crate) fn virtual_arch(flag: &str) -> Option<&str> {
    flag.trim()
        .trim_start_matches("-gencode=")
        .split(',')
        .find_map(|p| p.trim().strip_prefix("arch="))
        .map(str::trim)
}

/// `flags` grouped by virtual arch, in the order first seen: one `cicc` run
/// per group.
pub(crate) fn compile_groups(flags: &[String]) -> Vec<Vec<&str>> {
    let mut groups: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
    for f in flags {
        let v = virtual_arch(f);
        match groups.iter_mut().find(|(g, _)| v.is_some() && *g == v) {
            Some((_, members)) => members.push(f.as_str()),
            None => groups.push((v, vec![f.as_str()])),
        }
    }
    groups.into_iter().map(|(_, m)| m).collect()
}

/// The arch number of a key (`100` for `sm_100f`, `120` for `compute_120`).
fn arch_number(key: &str) -> Option<u32> {
    key.trim_start_matches("sm_")
        .trim_start_matches("compute_")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// Where a target's factor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum GencodeBasis {
    /// Measured on the GPU machine: the per-unit times themselves (sm_90).
    Measured,
    /// The CPU box's ratio to sm_90 for this target.
    CpuRatio,
    /// The CPU box's ratio for another spelling of the same arch (`sm_100`
    /// for `sm_100f`, the PTX of another arch).
    CpuRatioOfKin,
    /// Not measured: costed like sm_90.
    Assumed,
}

impl ArchFit {
    /// Fit the compiles at the model's σ `sigma`; see the module docs.
    ///
    /// σ is not taken from these compiles: the one multi-gencode compile on
    /// the CPU box gives 0.60, which its own single compiles contradict (a
    /// PTX-only `compute_120` compile takes 0.48–0.61 of sm_90's CPU time,
    /// so the shared part cannot be 0.60 of it and its own work positive),
    /// while the GPU machine's wall times give 0.12. The box's σ is kept in
    /// [`ArchFit::cpu_sigma`]; the multi-arch validation on the GPU machine
    /// (`bench/device/RUN.md`) decides.
    pub(crate) fn fit(compiles: &[ArchCompile], sigma: f64) -> Self {
        let ok: Vec<&ArchCompile> = compiles.iter().filter(|c| c.usable()).collect();
        let mut single: BTreeMap<(&str, &str), &ArchCompile> = BTreeMap::new();
        for c in &ok {
            if c.targets.len() == 1 && c.nvcc_threads == 1 {
                let key = (c.unit.as_str(), c.targets[0].as_str());
                if single.get(&key).is_none_or(|old| old.rep > c.rep) {
                    single.insert(key, c);
                }
            }
        }
        // σ from each multi-gencode compile at --threads 1.
        let sigmas: Vec<f64> = ok
            .iter()
            .filter(|c| c.targets.len() > 1 && c.nvcc_threads == 1)
            .filter_map(|c| {
                let parts: Option<Vec<f64>> = c
                    .targets
                    .iter()
                    .map(|t| single.get(&(c.unit.as_str(), t.as_str())).map(|s| s.cpu_s))
                    .collect();
                let reference = single.get(&(c.unit.as_str(), REFERENCE_TARGET))?;
                let shared = (parts?.iter().sum::<f64>() - c.cpu_s) / (c.targets.len() - 1) as f64;
                Some(shared / reference.cpu_s)
            })
            .filter(|s| s.is_finite())
            .collect();
        let cpu_sigma = mean(&sigmas);
        let s = sigma.clamp(0.0, 0.95);
        let mut targets = BTreeMap::new();
        let names: std::collections::BTreeSet<&str> = single.keys().map(|(_, t)| *t).collect();
        for t in names {
            let (mut works, mut peaks) = (Vec::new(), Vec::new());
            for ((unit, target), c) in &single {
                if *target != t {
                    continue;
                }
                let Some(reference) = single.get(&(*unit, REFERENCE_TARGET)) else {
                    continue;
                };
                works.push((c.cpu_s - s * reference.cpu_s) / ((1.0 - s) * reference.cpu_s));
                peaks.push(
                    c.peak_tree_rss_bytes as f64 / reference.peak_tree_rss_bytes.max(1) as f64,
                );
            }
            if let (Some(work), Some(peak)) = (mean(&works), geometric_mean(&peaks)) {
                targets.insert(
                    t.to_string(),
                    TargetFactor {
                        work: work.max(0.05),
                        peak,
                        units: works.len() as u32,
                    },
                );
            }
        }
        // ρ from --threads k against --threads 1 of the same unit and set.
        let rho = ok
            .iter()
            .filter(|c| c.nvcc_threads.min(c.targets.len() as u32) > 1)
            .filter_map(|many| {
                let one = ok.iter().find(|c| {
                    c.unit == many.unit && c.targets == many.targets && c.nvcc_threads == 1
                })?;
                let k = many.nvcc_threads.min(many.targets.len() as u32);
                let ratio = many.peak_tree_rss_bytes as f64 / one.peak_tree_rss_bytes.max(1) as f64;
                Some(((ratio - 1.0) / f64::from(k - 1)).max(0.0))
            })
            .reduce(f64::max);
        ArchFit {
            targets,
            cpu_sigma,
            rho,
        }
    }

    /// The factor for a `-gencode` value and where it comes from: sm_90 is
    /// the reference; a target measured on the CPU box is its ratio; else the
    /// ratio of the same arch in another spelling (plain, family `f`,
    /// arch-specific `a`), or for PTX the measured PTX of the nearest arch;
    /// else assumed like sm_90.
    pub(crate) fn factor(&self, flag: &str) -> (TargetFactor, GencodeBasis, Option<String>) {
        let one = TargetFactor {
            work: 1.0,
            peak: 1.0,
            units: 0,
        };
        let Some(key) = target_key(flag) else {
            return (one, GencodeBasis::Assumed, None);
        };
        let number = arch_number(&key);
        let ptx = key.starts_with("compute_");
        if !ptx && number == Some(90) && !key.ends_with('f') {
            return (one, GencodeBasis::Measured, Some(key));
        }
        if let Some(f) = self.targets.get(&key) {
            return (*f, GencodeBasis::CpuRatio, Some(key));
        }
        let kin = self
            .targets
            .iter()
            .filter(|(k, _)| k.starts_with("compute_") == ptx)
            .filter(|(k, _)| ptx || arch_number(k) == number)
            .min_by_key(|(k, _)| arch_number(k).zip(number).map(|(a, b)| a.abs_diff(b)));
        match kin {
            Some((k, f)) => (*f, GencodeBasis::CpuRatioOfKin, Some(k.clone())),
            None => (one, GencodeBasis::Assumed, None),
        }
    }
}

/// The gencodes of one compile as the model costs them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GencodeSet {
    /// Each gencode's own work relative to sm_90's.
    pub work: Vec<f64>,
    /// The largest peak factor among them.
    pub peak: f64,
}

impl GencodeSet {
    /// `n` gencodes costed like sm_90.
    pub(crate) fn uniform(n: u32) -> Self {
        GencodeSet {
            work: vec![1.0; n.max(1) as usize],
            peak: 1.0,
        }
    }

    /// How many gencodes.
    pub(crate) fn len(&self) -> u32 {
        self.work.len() as u32
    }

    /// Σ of the works.
    pub(crate) fn total(&self) -> f64 {
        self.work.iter().sum()
    }

    /// The gencode part's duration on `k` workers, longest first.
    pub(crate) fn makespan(&self, k: u32) -> f64 {
        let mut w = self.work.clone();
        w.sort_by(|a, b| b.total_cmp(a));
        let mut workers = vec![0.0_f64; k.max(1) as usize];
        for x in w {
            let least = workers
                .iter_mut()
                .min_by(|a, b| a.total_cmp(b))
                .expect("at least one worker");
            *least += x;
        }
        workers.into_iter().fold(0.0, f64::max)
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn geometric_mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty() && v.iter().all(|x| *x > 0.0))
        .then(|| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::{parse_jsonl, ARCH_COSTS_JSONL};

    /// flash-attn's CUDA 13 release targets (setup.py `add_cuda_gencodes`).
    fn release_flags() -> Vec<String> {
        [
            "arch=compute_80,code=sm_80",
            "arch=compute_90,code=sm_90",
            "arch=compute_100f,code=sm_100",
            "arch=compute_110f,code=sm_110",
            "arch=compute_120f,code=sm_120",
            "arch=compute_120,code=compute_120",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn the_committed_compiles_fit_as_fit_py_does() {
        // `python3 bench/arch_costs/fit.py --sigma 0.123 --json` on the same
        // file: per target (units, gencode_work, peak).
        let fit_py = [
            ("sm_80", 3, 1.0389, 1.0),
            ("sm_90", 3, 1.0, 1.0),
            ("sm_100f", 3, 0.7129, 1.003),
            ("sm_110f", 3, 0.709, 1.005),
            ("sm_120f", 3, 0.7158, 1.004),
            ("compute_120", 3, 0.4732, 1.004),
        ];
        let fit = ArchFit::fit(&parse_jsonl::<ArchCompile>(ARCH_COSTS_JSONL), 0.123);
        assert_eq!(fit.targets.len(), fit_py.len());
        for (target, units, work, peak) in fit_py {
            let f = fit.targets[target];
            assert_eq!(f.units, units, "{target}");
            assert!(
                (f.work - work).abs() < 6e-5,
                "{target}: {} vs {work}",
                f.work
            );
            assert!(
                (f.peak - peak).abs() < 6e-4,
                "{target}: {} vs {peak}",
                f.peak
            );
        }
        // fit.py's sigma_mean 0.603 and rho_max 0.997.
        assert!((fit.cpu_sigma.unwrap() - 0.603).abs() < 5e-4);
        assert!((fit.rho.unwrap() - 0.997).abs() < 5e-4);
        // At the box's own σ the PTX-only compile's own work is negative (why
        // the model does not use that σ), floored at 0.05.
        let own = ArchFit::fit(&parse_jsonl::<ArchCompile>(ARCH_COSTS_JSONL), 0.603);
        assert_eq!(own.targets["compute_120"].work, 0.05);
    }

    #[test]
    fn gencodes_are_keyed_grouped_and_priced_with_their_basis() {
        let flags = release_flags();
        let keys: Vec<String> = flags.iter().filter_map(|f| target_key(f)).collect();
        assert_eq!(
            keys,
            [
                "sm_80",
                "sm_90",
                "sm_100f",
                "sm_110f",
                "sm_120f",
                "compute_120"
            ]
        );
        // compute_120 (PTX) is another virtual arch than compute_120f: six
        // cicc runs; sm_90 with its PTX is one.
        assert_eq!(compile_groups(&flags).len(), 6);
        let with_ptx = [
            "arch=compute_90,code=sm_90",
            "arch=compute_90,code=compute_90",
        ]
        .map(String::from);
        assert_eq!(compile_groups(&with_ptx).len(), 1);

        let fit = ArchFit::fit(&parse_jsonl::<ArchCompile>(ARCH_COSTS_JSONL), 0.123);
        let basis = |flag: &str| {
            let (_, b, from) = fit.factor(flag);
            (b, from)
        };
        assert_eq!(
            basis("arch=compute_90,code=sm_90"),
            (GencodeBasis::Measured, Some("sm_90".into()))
        );
        assert_eq!(
            basis("arch=compute_100f,code=sm_100"),
            (GencodeBasis::CpuRatio, Some("sm_100f".into()))
        );
        // flash-attn 2.8.3's plain spelling: the family target's ratio.
        assert_eq!(
            basis("arch=compute_100,code=sm_100"),
            (GencodeBasis::CpuRatioOfKin, Some("sm_100f".into()))
        );
        // Another arch's PTX: the measured PTX's.
        assert_eq!(
            basis("arch=compute_90,code=compute_90"),
            (GencodeBasis::CpuRatioOfKin, Some("compute_120".into()))
        );
        assert_eq!(
            basis("arch=compute_75,code=sm_75"),
            (GencodeBasis::Assumed, None)
        );
    }

    #[test]
    fn a_compiles_gencodes_run_longest_first_on_its_threads() {
        let set = GencodeSet {
            work: vec![2.0, 1.0, 3.0, 2.0],
            peak: 1.0,
        };
        assert_eq!(set.len(), 4);
        assert_eq!(set.total(), 8.0);
        // One thread: all of it; four: the longest; two: 3+1 and 2+2.
        assert_eq!(set.makespan(1), 8.0);
        assert_eq!(set.makespan(4), 3.0);
        assert_eq!(set.makespan(2), 4.0);
        assert_eq!(GencodeSet::uniform(3).makespan(2), 2.0);
    }
}
