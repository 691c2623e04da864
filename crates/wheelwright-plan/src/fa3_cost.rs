//! flash-attn 3's compile costs: a stated estimate, replaceable by data.
//!
//! No flash-attn 3 unit has been measured, so each unit's time and peak is
//! estimated from flash-attn 2.8.3's measured classes by the rules and factors
//! in `data/fa3_costs.tsv` (embedded here; the file says how). A `unit` row in
//! that file replaces the estimate of that unit with its measurement, so a
//! measured build improves the plan without a code change. Every plan says
//! which units were estimated and how ([`super::CostSources`]).

use std::collections::BTreeMap;

/// `data/fa3_costs.tsv`.
pub const FA3_COSTS_TSV: &str = include_str!("../data/fa3_costs.tsv");

/// How flash-attn 3 units are estimated, in one sentence for the plan.
pub const FA3_ESTIMATE_METHOD: &str = "flash-attn 3 units without a measurement in data/fa3_costs.tsv (10 sm90 forward files, the scheduler and the stable API were measured once, on an H200 box) are estimated from flash-attn 2.8.3's measured class of the same kind and head dim (non-causal) times a factor per kind (sm90 forward 1.1x time, fitted to that measurement, and 1.5x peak; sm90 backward 1.5x; sm80 1.0x; combine/scheduler helpers 0.5x), sm90 forward files scaled by how many kernels they instantiate under the LOCAL/VARLEN/APPENDKV switches; all but the sm90 forward time factor are assumptions, kept with the measured units in data/fa3_costs.tsv";

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
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Fa3Costs {
    /// (time factor, peak factor) per kind.
    pub factors: BTreeMap<Fa3Kind, (f64, f64)>,
    /// Measured units by stem.
    pub measured: BTreeMap<String, Fa3Measured>,
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
    /// switch set scales it by [`kernel_scale`]; `None`: the default count.
    pub kernels: Option<u32>,
}

impl Fa3Costs {
    /// Parse the file: `factor KIND TIME PEAK` and `unit STEM SECONDS GIB
    /// [KERNELS]` rows (`-` for a peak not measured; KERNELS: the forward
    /// kernels the file instantiated when measured); comments and malformed
    /// rows are skipped.
    pub(crate) fn parse(text: &str) -> Self {
        let positive = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
        let mut out = Fa3Costs::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.first().is_none_or(|x| x.starts_with('#')) || f.len() < 4 {
                continue;
            }
            let Some(a) = positive(f[2]) else { continue };
            match (f[0], positive(f[3])) {
                ("factor", Some(b)) => {
                    if let Some(k) = Fa3Kind::parse(f[1]) {
                        out.factors.insert(k, (a, b));
                    }
                }
                ("unit", gib) if gib.is_some() || f[3] == "-" => {
                    let kernels = match f.get(4) {
                        None => None,
                        Some(k) => match k.parse::<u32>() {
                            Ok(k) if k > 0 => Some(k),
                            _ => continue,
                        },
                    };
                    out.measured.insert(
                        f[1].to_string(),
                        Fa3Measured {
                            seconds: a,
                            gib,
                            kernels,
                        },
                    );
                }
                _ => {}
            }
        }
        out
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

/// An sm90 forward file's share of the default file's compile time when it
/// instantiates `kernels` of the default `of` kernels.
pub(crate) fn kernel_scale(kernels: u32, of: u32) -> f64 {
    0.25 + 0.75 * f64::from(kernels) / f64::from(of.max(1))
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
        assert_eq!(c.factor(Fa3Kind::FwdSm90), (1.1, 1.5));
        assert_eq!(c.factor(Fa3Kind::BwdSm90), (1.5, 1.5));
        assert_eq!(c.measured.len(), 12);
        assert_eq!(
            c.measured["flash_fwd_hdim128_bf16_sm90"],
            Fa3Measured {
                seconds: 83.8,
                gib: None,
                kernels: Some(4)
            }
        );
        assert_eq!(c.measured["flash_prepare_scheduler"].kernels, None);
        let m = Fa3Costs::parse(
            "unit flash_fwd_hdim128_bf16_sm90 210.5 7.25\nunit flash_fwd_hdim64_bf16_sm90 99 - 4\nunit x nan 1\nunit y 5 x\nunit z 5 - 0\nunit w 5 - four\nfactor bogus 1 1\nfactor helper 1 -\n",
        );
        let row = |s: &str| {
            let r = m.measured[s];
            (r.seconds, r.gib, r.kernels)
        };
        assert_eq!(
            row("flash_fwd_hdim128_bf16_sm90"),
            (210.5, Some(7.25), None)
        );
        assert_eq!(row("flash_fwd_hdim64_bf16_sm90"), (99.0, None, Some(4)));
        assert_eq!(m.measured.len(), 2);
        assert!(m.factors.is_empty());
        assert!((kernel_scale(9, 9) - 1.0).abs() < 1e-12);
        assert!((kernel_scale(4, 9) - (0.25 + 0.75 * 4.0 / 9.0)).abs() < 1e-12);
    }
}
