//! Whether a binary's device code can run on a GPU of a given compute
//! capability: what `wheel verify` asks on the GPU runner after a wheel was
//! compiled elsewhere (a GPU-less builder with the archs given).
//!
//! The rules, from NVIDIA's CUDA C++ Programming Guide (“Binary
//! Compatibility”, “PTX Compatibility”) and the CUDA 12.9 notes on
//! family-specific targets:
//! - SASS `sm_XY` runs on compute capability `X.Z` with `Z >= Y` (same
//!   major, equal or newer minor): an `sm_80` cubin runs on 8.6, never on 9.0;
//! - SASS `sm_XYa` (arch-specific) runs on `X.Y` only;
//! - SASS `sm_XYf` (family-specific) runs on the family's later minors too,
//!   as plain SASS does (`sm_100f` on 10.0 and 10.3);
//! - PTX `compute_XY` is compiled by the driver (JIT) for any GPU of compute
//!   capability `X.Y` or newer; `compute_XYa` only for `X.Y`, `compute_XYf`
//!   for the family (same major, equal or newer minor).
//!
//! A binary runs on the GPU when at least one of its entries does: an
//! extension may hold kernels for several archs and dispatch by the GPU's
//! (flash-attn 3's `_sm80` and `_sm90` units), so not every entry needs to.

use serde::{Deserialize, Serialize};

use wheelwright_base::archs::Arch;

/// One binary's device code against one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GpuFit {
    /// The GPU's arch, nvcc spelling (`sm_90`).
    pub gpu: String,
    /// The binary's SASS that runs on it as is.
    pub sass: Vec<String>,
    /// The binary's PTX the driver can compile for it.
    pub ptx: Vec<String>,
}

impl GpuFit {
    /// Some entry of the binary runs on the GPU (SASS, or PTX by JIT).
    pub fn runs(&self) -> bool {
        !self.sass.is_empty() || !self.ptx.is_empty()
    }
}

/// Whether SASS built for `code` runs on a GPU of arch `gpu`.
pub fn sass_runs_on(code: Arch, gpu: Arch) -> bool {
    match code.suffix {
        Some('a') => (code.major, code.minor) == (gpu.major, gpu.minor),
        _ => code.major == gpu.major && code.minor <= gpu.minor,
    }
}

/// Whether PTX for `code` can be compiled by the driver for a GPU of arch `gpu`.
pub fn ptx_jits_on(code: Arch, gpu: Arch) -> bool {
    match code.suffix {
        Some('a') => (code.major, code.minor) == (gpu.major, gpu.minor),
        Some(_) => code.major == gpu.major && code.minor <= gpu.minor,
        None => (code.major, code.minor) <= (gpu.major, gpu.minor),
    }
}

/// The entries of a binary (`sass` as `sm_90a`, `ptx` as `compute_90`,
/// the names [`crate::BinaryCheck`] lists) that run on `gpu`. Names that do
/// not parse are left out.
pub fn fit_on(sass: &[String], ptx: &[String], gpu: Arch) -> GpuFit {
    let keep = |names: &[String], rule: fn(Arch, Arch) -> bool| -> Vec<String> {
        names
            .iter()
            .filter(|n| Arch::parse(n).is_ok_and(|a| rule(a, gpu)))
            .cloned()
            .collect()
    };
    GpuFit {
        gpu: Arch::new(gpu.major, gpu.minor).sm(),
        sass: keep(sass, sass_runs_on),
        ptx: keep(ptx, ptx_jits_on),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Arch {
        Arch::parse(s).unwrap()
    }

    #[test]
    fn sass_needs_the_same_major_and_a_minor_not_above_the_gpus() {
        assert!(sass_runs_on(a("80"), a("8.6")));
        assert!(sass_runs_on(a("86"), a("8.6")));
        assert!(!sass_runs_on(a("86"), a("8.0")));
        assert!(!sass_runs_on(a("80"), a("9.0")));
        assert!(!sass_runs_on(a("90"), a("10.0")));
        assert!(!sass_runs_on(a("120"), a("10.0")));
        // Arch-specific: that compute capability only.
        assert!(sass_runs_on(a("90a"), a("9.0")));
        assert!(!sass_runs_on(a("100a"), a("10.3")));
        // Family-specific: the family's later minors too.
        assert!(sass_runs_on(a("100f"), a("10.3")));
        assert!(!sass_runs_on(a("103f"), a("10.0")));
        assert!(!sass_runs_on(a("100f"), a("12.0")));
    }

    #[test]
    fn ptx_jits_forward_except_arch_specific() {
        assert!(ptx_jits_on(a("80"), a("9.0")));
        assert!(ptx_jits_on(a("90"), a("12.0")));
        assert!(!ptx_jits_on(a("100"), a("9.0")));
        assert!(ptx_jits_on(a("90a"), a("9.0")));
        assert!(!ptx_jits_on(a("90a"), a("10.0")));
        assert!(ptx_jits_on(a("100f"), a("10.3")));
        assert!(!ptx_jits_on(a("100f"), a("12.0")));
    }

    #[test]
    fn a_binary_runs_when_one_entry_does() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // flash-attn built for 80 only, on an H100: nothing runs.
        let fit = fit_on(&names(&["sm_80"]), &[], a("9.0"));
        assert!(!fit.runs());
        assert_eq!(fit.gpu, "sm_90");
        // With PTX for 80, the driver compiles it for 9.0.
        let fit = fit_on(&names(&["sm_80"]), &names(&["compute_80"]), a("9.0"));
        assert!(fit.runs());
        assert_eq!(fit.ptx, ["compute_80"]);
        // 80;90a on an H100 and on an A100.
        let both = names(&["sm_80", "sm_90a"]);
        assert_eq!(fit_on(&both, &[], a("9.0")).sass, ["sm_90a"]);
        assert_eq!(fit_on(&both, &[], a("8.0")).sass, ["sm_80"]);
    }
}
