//! Recipes: which translation units a package compiles and which environment
//! variables its build reads.
//!
//! - `flash-attn`: FA2's CUDA extension, the `.cu` files under
//!   `csrc/flash_attn/src/` plus `csrc/flash_attn/flash_api.cpp` (exactly the
//!   `sources` of 2.8.3's `setup.py`), read from a source tree or an sdist
//!   (`.tar.gz`) when one is given, else a built-in list for known versions.
//!   Its `setup.py` reads `FLASH_ATTN_CUDA_ARCHS` (default `80;90;100;120`),
//!   `NVCC_THREADS` (default 4, passed as `nvcc --threads`), `MAX_JOBS`,
//!   `FLASH_ATTENTION_FORCE_BUILD`, `FLASH_ATTENTION_FORCE_CXX11_ABI` and
//!   `FLASH_ATTN_LOCAL_VERSION`.
//!   A newer tree (flash-attn main, 2.8.4: 96 `.cu` files) is read the same
//!   way; its `FLASH_ATTN_CUDA_ARCHS` default and `-gencode` flags come from
//!   its own `setup.py` ([`super::setup_py`]).
//! - `flash-attn-3`: flash-attn 3 (`hopper/`, package `flash_attn_3`), units
//!   generated as its `setup.py` generates them under the build's
//!   `FLASH_ATTENTION_DISABLE_*` switches ([`super::fa3`]), checked against the
//!   tree when one is given, else built in for the pinned commit.
//! - `torch-ext`: any torch `CUDAExtension`; its units are the `.cu`, `.cpp`,
//!   `.cc` and `.cxx` files of the source tree (vendored libraries, tests,
//!   examples and build output skipped). torch reads `TORCH_CUDA_ARCH_LIST`
//!   and `MAX_JOBS`.
//!
//! Here: each recipe's way to its units. `units`: the unit types and
//! flash-attn 2.8.3's built-in list; `source`: reading a tree or an sdist.

pub mod nvcc_flags;
pub mod setup_probe;
mod source;
mod units;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fa3;
use super::PlanError;
use source::{in_skipped_dir, is_flash_attn_unit, parse_version_assignment, read_source};
pub use units::{
    fa3_units, flash_attn_2_8_3_units, unit_cost_key, SourceUnits, TranslationUnit, UnitCompiler,
    UnitContext, UnitFamily,
};

/// flash-attn versions whose unit list is built in.
pub const KNOWN_FLASH_ATTN_VERSIONS: &[&str] = &["2.8.3"];
/// flash-attn's default when no version is named.
pub const DEFAULT_FLASH_ATTN_VERSION: &str = "2.8.3";
/// `FLASH_ATTN_CUDA_ARCHS` default in 2.8.3's `setup.py`.
pub const FLASH_ATTN_DEFAULT_ARCHS: &str = "80;90;100;120";
/// wheelwright's arch default for a torch extension on a host without GPUs
/// (torch itself would fail to guess): the same four as flash-attn.
pub const TORCH_EXT_DEFAULT_ARCHS: &str = "8.0;9.0;10.0;12.0";
/// The oldest CUDA flash-attn 2 builds with (`setup.py` raises below it).
pub const FLASH_ATTN_MIN_CUDA: &str = "11.7";

/// What is being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipe {
    /// flash-attn 2's CUDA extension, e.g. `2.8.3`.
    FlashAttn {
        /// The flash-attn version.
        version: String,
    },
    /// flash-attn 3 (`hopper/`), e.g. `3.0.0`.
    FlashAttn3 {
        /// The flash_attn_3 version.
        version: String,
    },
    /// Any torch `CUDAExtension` whose sources are in `source`.
    TorchExt {
        /// The source tree or sdist.
        source: PathBuf,
    },
}

impl Recipe {
    /// flash-attn `version` (its built-in file list, or a source given later).
    pub fn flash_attn(version: impl Into<String>) -> Self {
        Recipe::FlashAttn {
            version: version.into(),
        }
    }

    /// flash-attn 3 from `hopper/` (its built-in list is for the pinned commit).
    pub fn flash_attn_3() -> Self {
        Recipe::FlashAttn3 {
            version: fa3::FA3_VERSION.into(),
        }
    }

    /// A torch CUDA extension whose sources are under `source`.
    pub fn torch_ext(source: impl Into<PathBuf>) -> Self {
        Recipe::TorchExt {
            source: source.into(),
        }
    }

    /// `flash-attn`, `flash-attn-3` or `torch-ext`.
    pub fn name(&self) -> &'static str {
        match self {
            Recipe::FlashAttn { .. } => "flash-attn",
            Recipe::FlashAttn3 { .. } => "flash-attn-3",
            Recipe::TorchExt { .. } => "torch-ext",
        }
    }

    /// The recipe is flash-attn 2.
    pub fn is_flash_attn(&self) -> bool {
        matches!(self, Recipe::FlashAttn { .. })
    }

    /// The recipe is flash-attn 3.
    pub fn is_flash_attn_3(&self) -> bool {
        matches!(self, Recipe::FlashAttn3 { .. })
    }
}

/// The units of `recipe`: from `source` when given, else built in (with the
/// default environment: no flash-attn 3 switch set).
pub fn resolve_units(recipe: &Recipe, source: Option<&Path>) -> Result<SourceUnits, PlanError> {
    resolve_units_with(recipe, source, UnitContext::default())
}

/// The units of `recipe` for a build that sees `ctx`.
pub fn resolve_units_with(
    recipe: &Recipe,
    source: Option<&Path>,
    ctx: UnitContext<'_>,
) -> Result<SourceUnits, PlanError> {
    match recipe {
        Recipe::FlashAttn3 { version } => resolve_fa3(version, source, ctx),
        Recipe::FlashAttn { version } => resolve_fa2(version, source),
        Recipe::TorchExt { source: default } => {
            resolve_torch_ext(source.unwrap_or(default), ctx.probe)
        }
    }
}

/// flash-attn 2's units: those of `source`'s `csrc/flash_attn/`, else the
/// built-in list of a known `version`.
fn resolve_fa2(version: &str, source: Option<&Path>) -> Result<SourceUnits, PlanError> {
    match source {
        Some(src) => {
            let files = read_source(src)?;
            let units = files.units(is_flash_attn_unit);
            if !units.iter().any(TranslationUnit::is_cuda) {
                return Err(PlanError::NoUnits {
                    source_path: src.to_path_buf(),
                    wanted: "csrc/flash_attn/src/*.cu".into(),
                });
            }
            let mut su = SourceUnits::new(units, src.display().to_string());
            su.version = files.version;
            su.setup_py = files.setup_py;
            Ok(su)
        }
        None if KNOWN_FLASH_ATTN_VERSIONS.contains(&version) => Ok(SourceUnits::new(
            flash_attn_2_8_3_units(),
            format!("built-in list for flash-attn {version}"),
        )),
        None => Err(PlanError::UnknownVersion {
            version: version.to_string(),
        }),
    }
}

/// A torch extension's units: what its `setup.py` compiles when the probe
/// ran it, else the C++/CUDA files of `src` outside vendored, test and build
/// folders, with the reason the setup.py is unknown.
fn resolve_torch_ext(
    src: &Path,
    probe: Option<&Result<setup_probe::SetupProbe, setup_probe::ProbeGap>>,
) -> Result<SourceUnits, PlanError> {
    let gap = match probe {
        Some(Ok(p)) => match from_probe(p, src) {
            Ok(su) => return Ok(su),
            Err(gap) => gap.to_string(),
        },
        Some(Err(gap)) => gap.to_string(),
        None => "the setup.py probe was not run (planning for another host, or no build interpreter was named)".to_string(),
    };
    let mut su = scan_torch_ext(src)?;
    su.setup_py_facts = Some(setup_probe::SetupPyFacts {
        method: "file scan".into(),
        unknown: Some(gap),
        backend: "ninja".into(),
        ..Default::default()
    });
    Ok(su)
}

/// The units the probe saw, in the order torch builds them: extension after
/// extension (each its own ninja run); within one, ninja's order (sorted
/// object paths), or setuptools' order when it compiles one file at a time.
fn from_probe(
    p: &setup_probe::SetupProbe,
    src: &Path,
) -> Result<SourceUnits, setup_probe::ProbeGap> {
    let probed = p.units()?;
    let serial = p.one_file_at_a_time();
    let mut units: Vec<TranslationUnit> = Vec::with_capacity(probed.len());
    let mut group_start = 0;
    for (i, pu) in probed.iter().enumerate() {
        let Some(mut u) = TranslationUnit::from_path(&pu.path)
            .or_else(|| TranslationUnit::from_path(&format!("{}.cpp", pu.path)))
        else {
            continue;
        };
        u.path = pu.path.clone();
        u.compiler = if pu.cuda {
            UnitCompiler::Nvcc
        } else {
            UnitCompiler::Cxx
        };
        u.extension = pu.extension.clone();
        if pu.cuda {
            u.gencodes = Some(pu.targets.count().max(1));
            u.gencode_flags = pu.targets.gencodes.clone();
            u.own_threads = pu.targets.threads;
        }
        let new_group = i > 0 && probed[i - 1].extension != pu.extension;
        if new_group {
            if !serial {
                units[group_start..].sort_by_key(TranslationUnit::object_path);
            }
            group_start = units.len();
        }
        units.push(u);
    }
    if !serial {
        units[group_start..].sort_by_key(TranslationUnit::object_path);
    }
    if units.is_empty() {
        return Err(setup_probe::ProbeGap::NoExtensions);
    }
    let mut su = SourceUnits::new(Vec::new(), src.display().to_string());
    su.units = units;
    su.version = p.version.clone();
    su.setup_py_facts = Some(p.facts());
    for t in p
        .units()?
        .iter()
        .filter(|u| u.cuda && !u.targets.unknown.is_empty())
    {
        su.notes.push(format!(
            "{} asks nvcc for targets the plan cannot read ({}): its gencodes are counted from the rest",
            t.path,
            t.targets.unknown.join(" ")
        ));
    }
    Ok(su)
}

/// The C++/CUDA files of `src` outside vendored, test and build folders.
fn scan_torch_ext(src: &Path) -> Result<SourceUnits, PlanError> {
    let files = read_source(src)?;
    let units = files.units(|p| !in_skipped_dir(p));
    if units.is_empty() {
        return Err(PlanError::NoUnits {
            source_path: src.to_path_buf(),
            wanted: "*.cu / *.cpp files".into(),
        });
    }
    let mut su = SourceUnits::new(units, src.display().to_string());
    su.setup_py = files.setup_py;
    Ok(su)
}

/// flash-attn 3's units as its `setup.py` generates them under the switches
/// of `ctx`'s environment, checked against `source`'s `hopper/` when given;
/// a switch set to other than TRUE, or a `setup.py` that drifted from the
/// pinned commit's, becomes a note.
fn resolve_fa3(
    version: &str,
    source: Option<&Path>,
    ctx: UnitContext<'_>,
) -> Result<SourceUnits, PlanError> {
    let empty = BTreeMap::new();
    let switches = fa3::Switches::from_env(ctx.env.unwrap_or(&empty));
    let paths = fa3::source_paths(&switches, fa3::stable_api_for(ctx.torch_version));
    let mut notes: Vec<String> = switches
        .ignored
        .iter()
        .map(|(k, v)| format!("{k}={v} is not TRUE: hopper/setup.py reads it as FALSE (only the exact value TRUE turns a switch on)"))
        .collect();
    let tree = match source {
        None => Fa3Tree {
            origin: format!(
                "built-in list for flash-attn 3 (hopper/setup.py at flash-attention {})",
                &fa3::FA3_PINNED_COMMIT[..8]
            ),
            version: None,
            setup_py: None,
        },
        Some(src) => read_fa3_tree(src, &paths, &mut notes)?,
    };
    let mut su = SourceUnits::new(fa3_units(&paths, switches.fwd_kernels()), tree.origin);
    su.version = tree.version.or(Some(version.to_string()));
    su.setup_py = tree.setup_py;
    su.notes = notes;
    su.switches = Some(switches);
    Ok(su)
}

/// Where flash-attn 3's units come from, and what its tree says.
struct Fa3Tree {
    /// The built-in list's name, or the `hopper/` folder read.
    origin: String,
    /// `__version__` of `hopper/__init__.py`.
    version: Option<String>,
    /// `hopper/setup.py`.
    setup_py: Option<String>,
}

/// `src`'s `hopper/` (or `src` itself), which must be flash_attn_3's and
/// hold every file of `paths`; a `setup.py` that drifted from the pinned
/// commit's adds a note.
fn read_fa3_tree(
    src: &Path,
    paths: &[String],
    notes: &mut Vec<String>,
) -> Result<Fa3Tree, PlanError> {
    let hopper = if src.join("hopper").join("setup.py").is_file() {
        src.join("hopper")
    } else {
        src.to_path_buf()
    };
    let files = read_source(&hopper)?;
    let is_fa3 = files
        .setup_py
        .as_deref()
        .is_some_and(|s| s.contains("PACKAGE_NAME = \"flash_attn_3\""));
    if !is_fa3 {
        return Err(PlanError::NoUnits {
            source_path: src.to_path_buf(),
            wanted: "hopper/setup.py of flash_attn_3".into(),
        });
    }
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !files.paths.iter().any(|f| f == *p))
        .collect();
    if !missing.is_empty() {
        return Err(PlanError::Source {
            path: hopper,
            message: format!(
                "hopper/setup.py (as of flash-attention {}) compiles {} files this tree lacks, e.g. {}: the tree is of another version",
                &fa3::FA3_PINNED_COMMIT[..8],
                missing.len(),
                missing[0]
            ),
        });
    }
    if let Some(text) = files.setup_py.as_deref() {
        let drift = fa3::drift(text);
        if !drift.is_empty() {
            notes.push(format!(
                "this hopper/setup.py differs from the one the flash-attn-3 recipe follows (flash-attention {}): {}; the unit list may not match the build",
                &fa3::FA3_PINNED_COMMIT[..8],
                drift.join(", ")
            ));
        }
    }
    let version = std::fs::read_to_string(hopper.join("__init__.py"))
        .ok()
        .and_then(|t| parse_version_assignment(&t));
    Ok(Fa3Tree {
        origin: hopper.display().to_string(),
        version,
        setup_py: files.setup_py,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_list_matches_setup_py_2_8_3() {
        let units = flash_attn_2_8_3_units();
        assert_eq!(units.iter().filter(|u| u.is_cuda()).count(), 72);
        assert_eq!(units.iter().filter(|u| !u.is_cuda()).count(), 1);
        let su = resolve_units(&Recipe::flash_attn("2.8.3"), None).unwrap();
        // ninja's order in the real build: flash_api first, then bwd, fwd, fwd_split.
        assert_eq!(su.units[0].stem(), "flash_api");
        assert_eq!(su.units[1].stem(), "flash_bwd_hdim128_bf16_causal_sm80");
        assert_eq!(su.units[72].stem(), "flash_fwd_split_hdim96_fp16_sm80");
    }

    #[test]
    fn unknown_version_without_source_is_an_error() {
        let err = resolve_units(&Recipe::flash_attn("2.5.0"), None).unwrap_err();
        assert!(err.to_string().contains("--source"), "{err}");
    }

    #[test]
    fn reads_version_and_default_archs() {
        assert_eq!(
            parse_version_assignment("x = 1\n__version__ = \"2.8.3\"\n").as_deref(),
            Some("2.8.3")
        );
        let su = SourceUnits {
            units: vec![],
            origin: String::new(),
            version: None,
            notes: vec![],
            switches: None,
            setup_py_facts: None,
            setup_py: Some(
                "return os.getenv(\"FLASH_ATTN_CUDA_ARCHS\", \"80;90;100;120\").split(\";\")"
                    .into(),
            ),
        };
        assert_eq!(
            su.flash_attn_default_archs().as_deref(),
            Some("80;90;100;120")
        );
    }

    #[test]
    fn skips_vendored_and_test_folders() {
        assert!(in_skipped_dir("csrc/cutlass/examples/a.cu"));
        assert!(in_skipped_dir("tests/x.cpp"));
        assert!(in_skipped_dir("build/temp.linux/x.cpp"));
        assert!(!in_skipped_dir("csrc/kernels/a.cu"));
        assert!(!in_skipped_dir("a.cu"));
    }
}
