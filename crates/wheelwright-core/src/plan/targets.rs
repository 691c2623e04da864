//! Which archs a plan builds: the user's list, else the GPUs present, else the
//! recipe's default; mapped to what flash-attn's `setup.py` knows (8.6 and 8.9
//! GPUs run sm_80 code) and filtered by what the toolkit can build, each drop a
//! warning finding.

use super::archs::{flash_attn_arch_for, parse_arch_list, Arch, CudaVersion, FLASH_ATTN_KNOWN};
use super::recipe::{Recipe, SourceUnits, FLASH_ATTN_DEFAULT_ARCHS, TORCH_EXT_DEFAULT_ARCHS};
use super::{PlanError, PlanRequest};
use crate::facts::Facts;
use crate::finding::{Finding, Severity};

/// The archs to build, sorted; findings for every arch dropped or mapped.
pub(crate) fn resolve_archs(
    recipe: &Recipe,
    su: &SourceUnits,
    facts: &Facts,
    req: &PlanRequest,
    cuda: Option<CudaVersion>,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Arch>, PlanError> {
    let fa = recipe.is_flash_attn();
    let (requested, from) = if let Some(list) = req.archs.as_ref().filter(|l| !l.is_empty()) {
        (parse_arch_list(&list.join(","))?, "--archs")
    } else {
        let gpus: Vec<Arch> = facts
            .gpus
            .iter()
            .filter_map(|g| Arch::from_compute_capability(&g.compute_capability))
            .collect();
        if gpus.is_empty() {
            let default = if fa {
                su.flash_attn_default_archs()
                    .unwrap_or_else(|| FLASH_ATTN_DEFAULT_ARCHS.into())
            } else {
                TORCH_EXT_DEFAULT_ARCHS.into()
            };
            (parse_arch_list(&default)?, "the recipe's default")
        } else {
            let mut g = gpus;
            g.sort();
            g.dedup();
            (g, "the GPUs present")
        }
    };
    let mut out = Vec::new();
    for arch in requested {
        let arch = if fa && !FLASH_ATTN_KNOWN.contains(&arch) {
            match flash_attn_arch_for(Arch {
                suffix: None,
                ..arch
            }) {
                Some(m) => {
                    findings.push(Finding::new(
                        "arch-mapped",
                        Severity::Notice,
                        format!("{arch} built as {m}"),
                        format!("flash-attn's setup.py builds only 80, 90, 100 and 120 (it ignores others); {m} code runs on {arch} GPUs (same major, newer minor)."),
                        format!("Nothing to do; FLASH_ATTN_CUDA_ARCHS gets {}.", m.compact()),
                    ));
                    m
                }
                None => {
                    findings.push(Finding::new(
                        "arch-unsupported",
                        Severity::Warning,
                        format!("flash-attn 2 does not build {arch}"),
                        format!("{arch} (from {from}) is not an architecture flash-attn 2 supports: it needs Ampere (sm_80) or newer and its setup.py knows only 80, 90, 100 and 120."),
                        "Leave it out of --archs; for pre-Ampere GPUs use flash-attn 1.x or PyTorch's built-in scaled_dot_product_attention.",
                    ));
                    continue;
                }
            }
        } else {
            arch
        };
        if let Some(v) = cuda {
            if let Some(why) = arch.unsupported_by(v) {
                findings.push(Finding::new(
                    "arch-unsupported",
                    Severity::Warning,
                    format!("{arch} dropped: CUDA {v} cannot build it"),
                    format!("{why} (nvcc here is CUDA {v}); it was left out of the build."),
                    format!("Install a CUDA that builds {arch} and plan again, or leave it out of --archs."),
                ));
                continue;
            }
        }
        out.push(arch);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        findings.push(Finding::new(
            "arch-unsupported",
            Severity::Error,
            "No architecture left to build",
            format!("None of the archs from {from} can be built here."),
            "Pass --archs with architectures this CUDA and recipe support (flash-attn: 80, 90, and with CUDA ≥ 12.8 also 100, 120).",
        ));
    }
    Ok(out)
}
