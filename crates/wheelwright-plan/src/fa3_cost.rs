//! flash-attn 3's compile costs: measured where measured, else a stated
//! estimate.
//!
//! `data/fa3_costs.tsv` (embedded here; the file says how) holds the
//! measured units (`unit` rows from a build on the GPU machine, `cpu-unit`
//! rows from compiles on the CPU box). Every other unit is estimated: its
//! time from the measured units of its kind ([`Fa3Costs::measured_mean`]),
//! its peak from flash-attn 2.8.3's measured classes times factors fitted to
//! the measurements. A new row replaces an estimate, so a measured build
//! improves the plan without a code change. Every plan says which units were
//! estimated and how ([`super::CostSources`]).

use std::collections::BTreeMap;

/// `data/fa3_costs.tsv`.
pub const FA3_COSTS_TSV: &str = include_str!("../data/fa3_costs.tsv");

/// How flash-attn 3 units are estimated, in one sentence for the plan.
pub const FA3_ESTIMATE_METHOD: &str = "flash-attn 3 units without a measurement in data/fa3_costs.tsv (12 units measured in a reduced build on an H200 box, the others of its cpu-unit rows compiled one at a time on a CPU box) are estimated from the measured ones: the time is the mean of the measured flash-attn 3 units of the same kind and widest head dim, else of the same kind (sm90 forward files at the default kernel count, scaled by how many kernels they instantiate under the LOCAL/VARLEN/APPENDKV switches with the fixed share measured on the CPU box); the peak is flash-attn 2.8.3's measured class of the same kind and head dim (non-causal) times a peak factor per kind fitted to the CPU box's compiles (bench/arch_costs/fa3_cpu_fit.py); the factors and the share are in data/fa3_costs.tsv";

/// What a flash-attn 3 unit compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Fa3Kind {
    FwdSm90,
    BwdSm90,
    FwdSm80,
    BwdSm80,
    /// `flash_fwd_combine.cu`, `flash_prepare_scheduler.cu`.
    Helper,
    /// `flash_api.cpp` / `flash_api_stable.cpp`.
    Api,
}

impl Fa3Kind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "fwd_sm90" => Fa3Kind::FwdSm90,
            "bwd_sm90" => Fa3Kind::BwdSm90,
            "fwd_sm80" => Fa3Kind::FwdSm80,
            "bwd_sm80" => Fa3Kind::BwdSm80,
            "helper" => Fa3Kind::Helper,
            "api" => Fa3Kind::Api,
            _ => return None,
        })
    }
}

/// A flash-attn 3 unit read from its stem: kind and head dims (qk, v).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fa3Unit {
    pub kind: Fa3Kind,
    pub hdim: u32,
    pub hdim_v: u32,
}

/// `flash_fwd_hdim64_512_bf16_paged_split_sm90` → (fwd_sm90, 64, 512).
pub(crate) fn parse_stem(stem: &str, is_cuda: bool) -> Fa3Unit {
    let helper = Fa3Unit {
        kind: if is_cuda {
            Fa3Kind::Helper
        } else {
            Fa3Kind::Api
        },
        hdim: 64,
        hdim_v: 64,
    };
    let tokens: Vec<&str> = stem.split('_').collect();
    let arch = tokens.last().copied().unwrap_or("");
    let kind = match (tokens.get(1).copied(), arch) {
        (Some("fwd"), "sm90" | "sm100") => Fa3Kind::FwdSm90,
        (Some("bwd"), "sm90" | "sm100") => Fa3Kind::BwdSm90,
        (Some("fwd"), "sm80") => Fa3Kind::FwdSm80,
        (Some("bwd"), "sm80") => Fa3Kind::BwdSm80,
        _ => return helper,
    };
    let Some(at) = tokens.iter().position(|t| t.starts_with("hdim")) else {
        return helper;
    };
    let hdim = tokens[at][4..].parse().unwrap_or(128);
    let hdim_v = tokens
        .get(at + 1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(hdim);
    Fa3Unit { kind, hdim, hdim_v }
}

/// The factors and measurements of `data/fa3_costs.tsv`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fa3Costs {
    /// (time factor, peak factor) per kind.
    pub factors: BTreeMap<Fa3Kind, (f64, f64)>,
    /// Measured units by stem (a stem may be measured on both machines).
    pub measured: BTreeMap<String, Vec<Fa3Measured>>,
    /// The share of a default (9-kernel) sm90 forward file's time that does
    /// not grow with its kernel count ([`Fa3Costs::kernel_scale`]).
    pub fixed_share: f64,
}

impl Default for Fa3Costs {
    fn default() -> Self {
        Fa3Costs {
            factors: BTreeMap::new(),
            measured: BTreeMap::new(),
            fixed_share: DEFAULT_FIXED_SHARE,
        }
    }
}

/// The fixed share where `data/fa3_costs.tsv` states none.
pub(crate) const DEFAULT_FIXED_SHARE: f64 = 0.25;

/// Where a flash-attn 3 unit was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fa3Source {
    /// In a real build on the GPU machine (`unit` rows): the reference
    /// host's kind of machine and its nvcc.
    Gpu,
    /// Compiled one at a time on the CPU box with PyPI's nvcc (`cpu-unit`
    /// rows), converted to the reference host's seconds by a flash-attn 2.8.3
    /// unit compiled in the same run.
    CpuBox,
}

/// One measured flash-attn 3 unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fa3Measured {
    /// Seconds alone on the reference host at one gencode, `--threads 1`.
    pub seconds: f64,
    /// Peak GiB of the compile, where measured (a parallel build's log gives
    /// times, not each compile's peak).
    pub gib: Option<f64>,
    /// For an sm90 forward file: how many forward kernels it instantiated
    /// under the switches it was measured with (of the default 9), so another
    /// switch set scales it by [`Fa3Costs::kernel_scale`]; `None`: the
    /// default count.
    pub kernels: Option<u32>,
    /// Which machine measured it.
    pub source: Fa3Source,
}

impl Fa3Costs {
    /// Parse the file: `factor KIND TIME PEAK`, `unit STEM SECONDS GIB
    /// [KERNELS]` (the GPU machine) and `cpu-unit STEM SECONDS GIB [KERNELS]`
    /// (the CPU box) rows (`-` for a peak not measured; KERNELS: the forward
    /// kernels the file instantiated when measured), and `fixed-share X`;
    /// comments and malformed rows are skipped.
    pub(crate) fn parse(text: &str) -> Self {
        let positive = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
        let mut out = Fa3Costs::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let ["fixed-share", x] = f.as_slice() {
                if let Some(x) = positive(x).filter(|x| *x < 1.0) {
                    out.fixed_share = x;
                }
                continue;
            }
            if f.first().is_none_or(|x| x.starts_with('#')) || f.len() < 4 {
                continue;
            }
            let Some(a) = positive(f[2]) else { continue };
            let source = match f[0] {
                "unit" => Fa3Source::Gpu,
                "cpu-unit" => Fa3Source::CpuBox,
                "factor" => {
                    if let (Some(k), Some(b)) = (Fa3Kind::parse(f[1]), positive(f[3])) {
                        out.factors.insert(k, (a, b));
                    }
                    continue;
                }
                _ => continue,
            };
            let gib = positive(f[3]);
            if gib.is_none() && f[3] != "-" {
                continue;
            }
            let kernels = match f.get(4) {
                None => None,
                Some(k) => match k.parse::<u32>() {
                    Ok(k) if k > 0 => Some(k),
                    _ => continue,
                },
            };
            out.measured
                .entry(f[1].to_string())
                .or_default()
                .push(Fa3Measured {
                    seconds: a,
                    gib,
                    kernels,
                    source,
                });
        }
        out
    }

    /// The measurement of `stem` to plan `kernels` of `of` forward kernels
    /// with: the one measured with the nearest kernel count (the least
    /// scaling), the GPU machine's on a tie.
    pub(crate) fn measurement(&self, stem: &str, kernels: u32, of: u32) -> Option<&Fa3Measured> {
        self.measured
            .get(stem)?
            .iter()
            .min_by_key(|m| (m.kernels.unwrap_or(of).abs_diff(kernels), m.source))
    }

    /// The time estimate of an unmeasured `unit` from the measured ones: the
    /// mean of the measured units of its kind and widest head dim, else of
    /// its kind (a v dim of 512 doubling, as for the flash-attn 2 base); sm90
    /// forward times at the default kernel count, then scaled to `kernels`
    /// of `of`. Helpers and the API file are each their own; `None`: no
    /// measured unit of the kind. (Its peak stays the fitted factor's, which
    /// the held-out units of bench/results/cpu-fa3-units/fit.md checked.)
    pub(crate) fn measured_mean(&self, unit: Fa3Unit, kernels: u32, of: u32) -> Option<f64> {
        if matches!(unit.kind, Fa3Kind::Helper | Fa3Kind::Api) {
            return None;
        }
        let widest = |u: Fa3Unit| u.hdim.max(u.hdim_v);
        let wider = |u: Fa3Unit| (f64::from(widest(u)) / 256.0).max(1.0);
        let (mut class, mut kind) = (Vec::new(), Vec::new());
        for stem in self.measured.keys() {
            let u = parse_stem(stem, true);
            let Some(m) = self
                .measurement(stem, of, of)
                .filter(|_| u.kind == unit.kind)
            else {
                continue;
            };
            let seconds = match (u.kind, m.kernels) {
                (Fa3Kind::FwdSm90, Some(k)) => m.seconds / self.kernel_scale(k, of),
                _ => m.seconds,
            } / wider(u);
            kind.push(seconds);
            if widest(u) == widest(unit) {
                class.push(seconds);
            }
        }
        let times = if class.is_empty() { kind } else { class };
        if times.is_empty() {
            return None;
        }
        let mut seconds = times.iter().sum::<f64>() / times.len() as f64 * wider(unit);
        if unit.kind == Fa3Kind::FwdSm90 {
            seconds *= self.kernel_scale(kernels, of);
        }
        Some(seconds)
    }

    /// An sm90 forward file's share of the default file's compile time when
    /// it instantiates `kernels` of the default `of` kernels: the fixed share
    /// plus the rest in proportion to its kernels.
    pub(crate) fn kernel_scale(&self, kernels: u32, of: u32) -> f64 {
        self.fixed_share + (1.0 - self.fixed_share) * f64::from(kernels) / f64::from(of.max(1))
    }

    /// The embedded file.
    pub(crate) fn embedded() -> Self {
        Self::parse(FA3_COSTS_TSV)
    }

    /// (time factor, peak factor) of `kind`, 1.0 where the file has none.
    pub(crate) fn factor(&self, kind: Fa3Kind) -> (f64, f64) {
        self.factors.get(&kind).copied().unwrap_or((1.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fa3_names() {
        let u = parse_stem("flash_fwd_hdim64_512_bf16_paged_split_sm90", true);
        assert_eq!((u.kind, u.hdim, u.hdim_v), (Fa3Kind::FwdSm90, 64, 512));
        let u = parse_stem("flash_bwd_hdim192_fp16_softcapall_sm90", true);
        assert_eq!((u.kind, u.hdim, u.hdim_v), (Fa3Kind::BwdSm90, 192, 192));
        assert_eq!(
            parse_stem("flash_fwd_hdim96_bf16_softcapall_sm80", true).kind,
            Fa3Kind::FwdSm80
        );
        assert_eq!(
            parse_stem("flash_prepare_scheduler", true).kind,
            Fa3Kind::Helper
        );
        assert_eq!(parse_stem("flash_api_stable", false).kind, Fa3Kind::Api);
    }

    #[test]
    fn embedded_file_has_every_factor_and_the_measured_units() {
        let c = Fa3Costs::embedded();
        assert_eq!(c.factors.len(), 6);
        // The GPU machine's 12 units and the CPU box's rows.
        let gpu = |stem: &str| {
            c.measured[stem]
                .iter()
                .find(|m| m.source == Fa3Source::Gpu)
                .copied()
        };
        assert_eq!(
            gpu("flash_fwd_hdim128_bf16_sm90"),
            Some(Fa3Measured {
                seconds: 83.8,
                gib: None,
                kernels: Some(4),
                source: Fa3Source::Gpu,
            })
        );
        let by_source = |src| {
            c.measured
                .values()
                .flatten()
                .filter(|m| m.source == src)
                .count()
        };
        assert_eq!(by_source(Fa3Source::Gpu), 12);
        assert_eq!(by_source(Fa3Source::CpuBox), 24, "{c:?}");
        assert!(c.fixed_share > DEFAULT_FIXED_SHARE && c.fixed_share < 0.5);
    }

    #[test]
    fn rows_parse_and_bad_ones_are_skipped() {
        let m = Fa3Costs::parse(
            "unit flash_fwd_hdim128_bf16_sm90 210.5 7.25\nunit flash_fwd_hdim64_bf16_sm90 99 - 4\ncpu-unit flash_fwd_hdim64_bf16_sm90 120 5.5\nunit x nan 1\nunit y 5 x\nunit z 5 - 0\nunit w 5 - four\ncpu-unit v 5 -1\nfactor bogus 1 1\nfactor helper 1 -\nfixed-share 1.5\n",
        );
        let row = |s: &str, i: usize| {
            let r = m.measured[s][i];
            (r.seconds, r.gib, r.kernels, r.source)
        };
        assert_eq!(
            row("flash_fwd_hdim128_bf16_sm90", 0),
            (210.5, Some(7.25), None, Fa3Source::Gpu)
        );
        assert_eq!(
            row("flash_fwd_hdim64_bf16_sm90", 0),
            (99.0, None, Some(4), Fa3Source::Gpu)
        );
        assert_eq!(
            row("flash_fwd_hdim64_bf16_sm90", 1),
            (120.0, Some(5.5), None, Fa3Source::CpuBox)
        );
        assert_eq!(m.measured.len(), 2);
        assert!(m.factors.is_empty());
        // A share of 1 or more is not a share: the default stays.
        assert_eq!(m.fixed_share, DEFAULT_FIXED_SHARE);
        assert!((m.kernel_scale(9, 9) - 1.0).abs() < 1e-12);
        assert!((m.kernel_scale(4, 9) - (0.25 + 0.75 * 4.0 / 9.0)).abs() < 1e-12);
        let f = Fa3Costs::parse("fixed-share 0.4\n");
        assert!((f.kernel_scale(4, 9) - (0.4 + 0.6 * 4.0 / 9.0)).abs() < 1e-12);
    }

    #[test]
    fn an_unmeasured_unit_takes_the_mean_of_its_measured_class_else_kind() {
        let m = Fa3Costs::parse(
            "fixed-share 0.4\ncpu-unit flash_fwd_hdim128_bf16_sm90 120 5\ncpu-unit flash_fwd_hdim128_fp16_sm90 100 5\nunit flash_fwd_hdim64_bf16_sm90 60 - 4\ncpu-unit flash_bwd_hdim64_bf16_sm90 200 6\n",
        );
        let unit = |stem: &str| parse_stem(stem, true);
        // Its class (sm90 forward, hdim 128): (120 + 100) / 2 at 9 kernels.
        let t = m.measured_mean(unit("flash_fwd_hdim128_bf16_paged_sm90"), 9, 9);
        assert_eq!(t, Some(110.0));
        // ... at 4 kernels, scaled by the fixed share.
        let t = m
            .measured_mean(unit("flash_fwd_hdim128_bf16_paged_sm90"), 4, 9)
            .unwrap();
        assert!((t - 110.0 * m.kernel_scale(4, 9)).abs() < 1e-9);
        // No hdim-192 forward file measured: the kind's mean, the 4-kernel
        // GPU row taken at 9 kernels (60 / 0.6667 = 90).
        let t = m
            .measured_mean(unit("flash_fwd_hdim192_bf16_sm90"), 9, 9)
            .unwrap();
        assert!(
            (t - (120.0 + 100.0 + 60.0 / m.kernel_scale(4, 9)) / 3.0).abs() < 1e-9,
            "{t}"
        );
        // A v dim of 512 doubles.
        let t = m
            .measured_mean(unit("flash_fwd_hdim64_512_bf16_sm90"), 9, 9)
            .unwrap();
        assert!((t - 2.0 * (120.0 + 100.0 + 90.0) / 3.0).abs() < 1e-9, "{t}");
        // Nothing of its kind measured, or a helper: none.
        assert_eq!(
            m.measured_mean(unit("flash_bwd_hdim64_bf16_sm80"), 9, 9),
            None
        );
        assert_eq!(m.measured_mean(unit("flash_fwd_combine"), 9, 9), None);
    }

    #[test]
    fn the_measurement_nearest_the_planned_kernels_is_used_the_gpus_on_a_tie() {
        let m =
            Fa3Costs::parse("unit a 80 - 4\ncpu-unit a 120 5.5\ncpu-unit b 50 1\nunit b 40 -\n");
        // Planned at the default 9 kernels: the CPU box's 9-kernel compile.
        assert_eq!(m.measurement("a", 9, 9).unwrap().seconds, 120.0);
        // Planned at 4 (the reduced switches): the GPU build's 4-kernel one.
        assert_eq!(m.measurement("a", 4, 9).unwrap().seconds, 80.0);
        // 6 is nearer 4 than 9.
        assert_eq!(m.measurement("a", 6, 9).unwrap().seconds, 80.0);
        // Both at the default count: the GPU machine's.
        assert_eq!(m.measurement("b", 9, 9).unwrap().source, Fa3Source::Gpu);
        assert!(m.measurement("c", 9, 9).is_none());
    }
}
