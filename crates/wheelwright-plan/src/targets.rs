//! Which archs a plan builds: the user's list, else the GPUs present, else the
//! recipe's default; mapped to what flash-attn's `setup.py` knows (8.6 and 8.9
//! GPUs run sm_80 code) and filtered by what the toolkit can build, each drop a
//! warning finding. flash-attn 2's known archs come from its `setup.py` when
//! the source was read (main knows 110 too), else 2.8.3's four. flash-attn 3
//! builds fixed archs; the request only decides whether its sm_80 kernels are
//! built ([`fa3_without_sm80`]). The archs then give nvcc's `-gencode` flags
//! ([`gencode_flags`]).

use super::archs::{
    flash_attn_gencodes, parse_arch_list, torch_gencodes, Arch, CudaVersion, FLASH_ATTN_KNOWN,
};
use super::build_env::BuildKind;
use super::recipe::{Recipe, SourceUnits, FLASH_ATTN_DEFAULT_ARCHS, TORCH_EXT_DEFAULT_ARCHS};
use super::{fa3, PlanError, PlanRequest};
use wheelwright_base::facts::Facts;
use wheelwright_base::finding::{Finding, Severity};

/// flash-attn 3's archs, fixed by hopper/setup.py: sm_80 (its sm_80 kernels
/// only when not disabled, its helpers always) and sm_90a.
pub(super) fn fa3_archs() -> Vec<Arch> {
    vec![
        Arch::new(8, 0),
        Arch {
            suffix: Some('a'),
            ..Arch::new(9, 0)
        },
    ]
}

/// The archs to build, sorted; findings for every arch dropped or mapped.
///
/// The archs asked for ([`requested_archs`]), each fitted to what
/// flash-attn's `setup.py` builds ([`FlashAttnArchs::fit`], flash-attn only)
/// and kept only when the toolkit builds it ([`toolkit_builds`]); an error
/// finding when none is left.
pub(crate) fn resolve_archs(
    recipe: &Recipe,
    su: &SourceUnits,
    facts: &Facts,
    req: &PlanRequest,
    cuda: Option<CudaVersion>,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Arch>, PlanError> {
    let known = recipe.is_flash_attn().then(|| FlashAttnArchs::read(su));
    let (requested, from) = requested_archs(recipe, su, facts, req)?;
    let mut out = Vec::new();
    for arch in requested {
        let arch = match &known {
            Some(known) => match known.fit(arch, from, findings) {
                Some(fitted) => fitted,
                None => continue,
            },
            None => arch,
        };
        if cuda.is_some_and(|v| !toolkit_builds(arch, v, findings)) {
            continue;
        }
        out.push(arch);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        findings.push(nothing_left_to_build(from));
    }
    Ok(out)
}

/// The archs asked for and where they came from ([`wanted_archs`]: `--archs`,
/// else the GPUs present), else the recipe's default: for flash-attn the one
/// its `setup.py` names when read, else 2.8.3's; torch's for other extensions.
fn requested_archs(
    recipe: &Recipe,
    su: &SourceUnits,
    facts: &Facts,
    req: &PlanRequest,
) -> Result<(Vec<Arch>, &'static str), PlanError> {
    if let Some(wanted) = wanted_archs(facts, req)? {
        return Ok(wanted);
    }
    let default = if recipe.is_flash_attn() {
        su.flash_attn_default_archs()
            .unwrap_or_else(|| FLASH_ATTN_DEFAULT_ARCHS.into())
    } else {
        TORCH_EXT_DEFAULT_ARCHS.into()
    };
    Ok((parse_arch_list(&default)?, "the recipe's default"))
}

/// The archs flash-attn 2's `setup.py` builds (it ignores any other in
/// `FLASH_ATTN_CUDA_ARCHS`), and how findings list them (`80, 90, 100, 120`).
struct FlashAttnArchs {
    /// The known archs, sorted.
    known: Vec<Arch>,
    /// `known` for messages, comma-separated.
    list: String,
}

impl FlashAttnArchs {
    /// The archs of the tree's `setup.py` when it was read and names any,
    /// else 2.8.3's four ([`FLASH_ATTN_KNOWN`]).
    fn read(su: &SourceUnits) -> FlashAttnArchs {
        let known: Vec<Arch> = su
            .gencode_rules()
            .map(|r| r.known_archs())
            .filter(|k| !k.is_empty())
            .and_then(|k| parse_arch_list(&k.join(",")).ok())
            .unwrap_or_else(|| FLASH_ATTN_KNOWN.to_vec());
        let list = known
            .iter()
            .map(Arch::compact)
            .collect::<Vec<_>>()
            .join(", ");
        FlashAttnArchs { known, list }
    }

    /// `arch` as flash-attn builds it: itself when known; else the first
    /// known arch of its major with a minor not above its own, whose code runs
    /// on it (a notice: 8.6 built as sm_80); else `None` with a warning (from
    /// `from`: where the arch came from).
    fn fit(&self, arch: Arch, from: &str, findings: &mut Vec<Finding>) -> Option<Arch> {
        if self.known.contains(&arch) {
            return Some(arch);
        }
        let known_list = &self.list;
        let plain = Arch {
            suffix: None,
            ..arch
        };
        // A cubin runs on GPUs of the same major with an equal or higher
        // minor: 8.6 and 8.9 run sm_80 code.
        let mapped = self
            .known
            .iter()
            .copied()
            .find(|k| k.major == plain.major && k.minor <= plain.minor);
        match mapped {
            Some(m) => findings.push(Finding::new(
                "arch-mapped",
                Severity::Notice,
                format!("{arch} built as {m}"),
                format!("flash-attn's setup.py builds only {known_list} (it ignores others); {m} code runs on {arch} GPUs (same major, newer minor)."),
                format!("Nothing to do; FLASH_ATTN_CUDA_ARCHS gets {}.", m.compact()),
            )),
            None => findings.push(Finding::new(
                "arch-unsupported",
                Severity::Warning,
                format!("flash-attn 2 does not build {arch}"),
                format!("{arch} (from {from}) is not an architecture flash-attn 2 supports: it needs Ampere (sm_80) or newer and its setup.py knows only {known_list}."),
                "Leave it out of --archs; for pre-Ampere GPUs use flash-attn 1.x or PyTorch's built-in scaled_dot_product_attention.",
            )),
        }
        mapped
    }
}

/// Whether CUDA `cuda` builds `arch`; when not, a warning that it was dropped.
fn toolkit_builds(arch: Arch, cuda: CudaVersion, findings: &mut Vec<Finding>) -> bool {
    let Some(why) = arch.unsupported_by(cuda) else {
        return true;
    };
    findings.push(Finding::new(
        "arch-unsupported",
        Severity::Warning,
        format!("{arch} dropped: CUDA {cuda} cannot build it"),
        format!("{why} (nvcc here is CUDA {cuda}); it was left out of the build."),
        format!("Install a CUDA that builds {arch} and plan again, or leave it out of --archs."),
    ));
    false
}

/// The error finding when no arch asked for (from `from`) can be built.
fn nothing_left_to_build(from: &str) -> Finding {
    Finding::new(
        "arch-unsupported",
        Severity::Error,
        "No architecture left to build",
        format!("None of the archs from {from} can be built here."),
        "Pass --archs with architectures this CUDA and recipe support (flash-attn: 80, 90, and with CUDA ≥ 12.8 also 100, 120).",
    )
}

/// The `-gencode` flags nvcc gets for `archs`: flash-attn 3's fixed two,
/// flash-attn 2's from its tree's `setup.py` when read (main adds PTX and
/// family targets) else 2.8.3's rules, torch's for any other extension.
pub(super) fn gencode_flags(
    kind: BuildKind,
    su: &SourceUnits,
    archs: &[Arch],
    cuda: Option<CudaVersion>,
) -> Vec<String> {
    if kind.fa3 {
        vec![
            fa3::GENCODE_SM90A.to_string(),
            fa3::GENCODE_SM80.to_string(),
        ]
    } else if kind.probed {
        // Each unit's own, as torch computes them under the build's
        // TORCH_CUDA_ARCH_LIST (or as the package wrote them): the wheel's.
        let mut flags: Vec<String> = Vec::new();
        for u in &su.units {
            for g in &u.gencode_flags {
                if !flags.contains(g) {
                    flags.push(g.clone());
                }
            }
        }
        if flags.is_empty() {
            torch_gencodes(archs)
        } else {
            flags
        }
    } else if kind.fa {
        match su.gencode_rules() {
            Some(rules) => {
                let compact: Vec<String> = archs.iter().map(Arch::compact).collect();
                rules.flags(&compact, cuda)
            }
            None => flash_attn_gencodes(archs, cuda),
        }
    } else {
        torch_gencodes(archs)
    }
}

/// Gencodes per nvcc compile as the model counts them (at least 1): the
/// flags' virtual archs, one `cicc` run each (nvcc runs one for
/// `arch=compute_90,code=sm_90` and `arch=compute_90,code=compute_90`
/// together: `TORCH_CUDA_ARCH_LIST=9.0+PTX` is one), or for flash-attn 3,
/// whose units each build for their own archs, the most any unit has.
pub(super) fn gencodes_per_compile(kind: BuildKind, su: &SourceUnits, flags: &[String]) -> u32 {
    if kind.fa3 || kind.probed {
        su.units
            .iter()
            .filter_map(|u| u.gencodes)
            .max()
            .unwrap_or(1)
    } else {
        (super::gencode_cost::compile_groups(flags).len() as u32).max(1)
    }
}

/// Whether a flash-attn 3 build should leave out its sm_80 kernels
/// (`FLASH_ATTENTION_DISABLE_SM80=TRUE`): when the archs asked for (`--archs`,
/// else the GPUs present) hold no 8.x, and the build's environment does not
/// set the switch itself. Archs it cannot build are a warning; without a
/// request or GPUs, its default (sm_80 and sm_90a kernels) stands.
pub(crate) fn fa3_without_sm80(
    facts: &Facts,
    req: &PlanRequest,
    findings: &mut Vec<Finding>,
) -> Result<bool, PlanError> {
    if req.env.contains_key(&fa3::disable_var("SM80")) {
        return Ok(false);
    }
    let Some((wanted, from)) = wanted_archs(facts, req)? else {
        return Ok(false);
    };
    let others: Vec<String> = wanted
        .iter()
        .filter(|a| a.major != 8 && a.major != 9)
        .map(Arch::sm)
        .collect();
    if !others.is_empty() {
        findings.push(Finding::new(
            "arch-unsupported",
            Severity::Warning,
            format!("flash-attn 3 does not build {}", others.join(", ")),
            format!("{} (from {from}): flash-attn 3's setup.py builds sm_90a kernels, and sm_80 kernels unless FLASH_ATTENTION_DISABLE_SM80=TRUE; nothing else.", others.join(", ")),
            "Use flash-attn 2 (--recipe flash-attn) for those GPUs.",
        ));
    }
    let without = !wanted.iter().any(|a| a.major == 8);
    if without {
        findings.push(Finding::new(
            "fa3-sm80-off",
            Severity::Notice,
            "flash-attn 3 without its sm_80 kernels",
            format!("No 8.x arch in {from}: the plan sets FLASH_ATTENTION_DISABLE_SM80=TRUE, which leaves out the sm_80 forward and backward files (the combine and scheduler helpers keep their sm_80 code)."),
            "Set FLASH_ATTENTION_DISABLE_SM80=FALSE in the environment, or pass --archs 80,90a, to build them anyway.",
        ));
    }
    Ok(without)
}

/// The archs asked for and where they came from: `--archs` when given, else
/// the GPUs present (sorted, each once); `None` with neither.
fn wanted_archs(
    facts: &Facts,
    req: &PlanRequest,
) -> Result<Option<(Vec<Arch>, &'static str)>, PlanError> {
    if let Some(list) = req.archs.as_ref().filter(|l| !l.is_empty()) {
        return Ok(Some((parse_arch_list(&list.join(","))?, "--archs")));
    }
    let mut gpus: Vec<Arch> = facts
        .gpus
        .iter()
        .filter_map(|g| Arch::from_compute_capability(&g.compute_capability))
        .collect();
    if gpus.is_empty() {
        return Ok(None);
    }
    gpus.sort();
    gpus.dedup();
    Ok(Some((gpus, "the GPUs present")))
}
