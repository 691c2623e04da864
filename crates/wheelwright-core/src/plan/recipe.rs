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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::fa3;
use super::setup_py::{self, GencodeRules};
use super::PlanError;

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

/// Which compiler builds a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitCompiler {
    /// A `.cu` file, compiled by nvcc.
    Nvcc,
    /// A C++ file, compiled by the host compiler.
    Cxx,
}

/// Which measurements price a unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnitFamily {
    /// By its file name: flash-attn 2's measured classes, else generic.
    #[default]
    ByName,
    /// A flash-attn 3 unit: its estimate from `data/fa3_costs.tsv` ([`super::CostSources`]).
    FlashAttn3 {
        /// Kernels an sm90 forward file instantiates under the switches,
        /// and the default count (see [`super::fa3::Switches::fwd_kernels`]).
        fwd_kernels: (u32, u32),
    },
}

/// One translation unit: one compile, one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationUnit {
    /// Path relative to the source root, `csrc/flash_attn/src/x.cu`.
    pub path: String,
    /// Which compiler builds it.
    pub compiler: UnitCompiler,
    /// Its own number of `-gencode` targets where the recipe compiles units
    /// for different archs (flash-attn 3); `None`: the plan's.
    pub gencodes: Option<u32>,
    /// Which measurements price it.
    pub family: UnitFamily,
}

impl TranslationUnit {
    /// A unit from its path; `None` for files that are not C++/CUDA sources.
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1;
        let compiler = match ext {
            "cu" => UnitCompiler::Nvcc,
            "cpp" | "cc" | "cxx" => UnitCompiler::Cxx,
            _ => return None,
        };
        Some(TranslationUnit {
            path: path.to_string(),
            compiler,
            gencodes: None,
            family: UnitFamily::ByName,
        })
    }

    /// `flash_bwd_hdim128_bf16_sm80`.
    pub fn stem(&self) -> &str {
        super::measurements::file_stem(&self.path)
    }

    /// Compiled by nvcc.
    pub fn is_cuda(&self) -> bool {
        self.compiler == UnitCompiler::Nvcc
    }

    /// The object ninja builds, whose path sets ninja's start order.
    pub fn object_path(&self) -> String {
        match self.path.rsplit_once('.') {
            Some((base, _)) => format!("{base}.o"),
            None => format!("{}.o", self.path),
        }
    }
}

/// The units of a package and what its `setup.py` says about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUnits {
    /// In ninja's start order: sorted by object path (the real build's
    /// `.ninja_log` shows exactly this order; setuptools sorts the sources).
    pub units: Vec<TranslationUnit>,
    /// `built-in list for flash-attn 2.8.3`, or the path read.
    pub origin: String,
    /// `__version__` from `flash_attn/__init__.py`, when read from a source.
    pub version: Option<String>,
    /// The `setup.py` text, when read from a source.
    pub setup_py: Option<String>,
    /// What the plan should say about the list (flash-attn 3: switches set to
    /// something other than TRUE, a `setup.py` that changed since the pinned
    /// commit).
    pub notes: Vec<String>,
    /// flash-attn 3: the `FLASH_ATTENTION_DISABLE_*` switches on.
    pub switches: Option<fa3::Switches>,
}

impl SourceUnits {
    fn new(mut units: Vec<TranslationUnit>, origin: String) -> Self {
        units.sort_by_key(TranslationUnit::object_path);
        units.dedup();
        SourceUnits {
            units,
            origin,
            version: None,
            setup_py: None,
            notes: Vec::new(),
            switches: None,
        }
    }

    /// `FLASH_ATTN_CUDA_ARCHS`'s default as `setup.py` writes it, if it does.
    pub fn flash_attn_default_archs(&self) -> Option<String> {
        setup_py::default_archs(self.setup_py.as_deref()?)
    }

    /// The `-gencode` rules of `setup.py`, when it was read and has any.
    pub fn gencode_rules(&self) -> Option<GencodeRules> {
        GencodeRules::parse(self.setup_py.as_deref()?)
    }
}

/// What a recipe's unit list depends on besides the source: the environment
/// the build will see and the torch it builds against.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitContext<'a> {
    /// The build's environment (flash-attn 3 reads its switches from it).
    pub env: Option<&'a BTreeMap<String, String>>,
    /// torch's version (flash-attn 3 picks its host file by it).
    pub torch_version: Option<&'a str>,
}

/// flash-attn 2.8.3's 72 `.cu` files and `flash_api.cpp`, as its `setup.py`
/// lists them: {fwd, bwd, fwd_split} × hdim {32, 64, 96, 128, 192, 256} ×
/// {fp16, bf16} × {non-causal, causal}.
pub fn flash_attn_2_8_3_units() -> Vec<TranslationUnit> {
    let mut units = vec![TranslationUnit {
        path: "csrc/flash_attn/flash_api.cpp".into(),
        compiler: UnitCompiler::Cxx,
        gencodes: None,
        family: UnitFamily::ByName,
    }];
    for kind in ["fwd", "bwd", "fwd_split"] {
        for hdim in [32, 64, 96, 128, 192, 256] {
            for dtype in ["fp16", "bf16"] {
                for causal in ["", "_causal"] {
                    units.push(TranslationUnit {
                        path: format!(
                            "csrc/flash_attn/src/flash_{kind}_hdim{hdim}_{dtype}{causal}_sm80.cu"
                        ),
                        compiler: UnitCompiler::Nvcc,
                        gencodes: None,
                        family: UnitFamily::ByName,
                    });
                }
            }
        }
    }
    units
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
        Recipe::FlashAttn { version } => match source {
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
            None if KNOWN_FLASH_ATTN_VERSIONS.contains(&version.as_str()) => Ok(SourceUnits::new(
                flash_attn_2_8_3_units(),
                format!("built-in list for flash-attn {version}"),
            )),
            None => Err(PlanError::UnknownVersion {
                version: version.clone(),
            }),
        },
        Recipe::TorchExt { source: default } => {
            let src = source.unwrap_or(default);
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
    }
}

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
    let (origin, tree_version, setup_text) = match source {
        None => (
            format!(
                "built-in list for flash-attn 3 (hopper/setup.py at flash-attention {})",
                &fa3::FA3_PINNED_COMMIT[..8]
            ),
            None,
            None,
        ),
        Some(src) => {
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
            (hopper.display().to_string(), version, files.setup_py)
        }
    };
    let mut su = SourceUnits::new(fa3::units(&paths, switches.fwd_kernels()), origin);
    su.version = tree_version.or(Some(version.to_string()));
    su.setup_py = setup_text;
    su.notes = notes;
    su.switches = Some(switches);
    Ok(su)
}

fn is_flash_attn_unit(path: &str) -> bool {
    if path == "csrc/flash_attn/flash_api.cpp" {
        return true;
    }
    path.strip_prefix("csrc/flash_attn/src/")
        .is_some_and(|rest| !rest.contains('/') && rest.ends_with(".cu"))
}

/// Folders a torch extension's own sources are not in.
const SKIPPED_DIRS: &[&str] = &[
    "build",
    "dist",
    "third_party",
    "3rdparty",
    "cutlass",
    "composable_kernel",
    "test",
    "tests",
    "examples",
    "benchmarks",
    "docs",
    "node_modules",
];

fn in_skipped_dir(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts
        .iter()
        .any(|d| d.starts_with('.') || d.starts_with("build") || SKIPPED_DIRS.contains(d))
}

/// The file list of a source tree or sdist, relative to its root.
struct SourceFiles {
    paths: Vec<String>,
    setup_py: Option<String>,
    version: Option<String>,
}

impl SourceFiles {
    /// The translation units among the files that `keep` selects.
    fn units(&self, keep: impl Fn(&str) -> bool) -> Vec<TranslationUnit> {
        self.paths
            .iter()
            .filter(|p| keep(p))
            .filter_map(|p| TranslationUnit::from_path(p))
            .collect()
    }
}

const MAX_FILES: usize = 200_000;

fn read_source(src: &Path) -> Result<SourceFiles, PlanError> {
    let meta = std::fs::metadata(src).map_err(|e| PlanError::Source {
        path: src.to_path_buf(),
        message: e.to_string(),
    })?;
    if meta.is_dir() {
        read_dir_source(src)
    } else {
        read_tarball(src)
    }
}

fn read_dir_source(src: &Path) -> Result<SourceFiles, PlanError> {
    // An extracted sdist's parent (one folder holding `flash_attn-2.8.3/`) is
    // taken as that folder.
    let root = single_child_dir(src).unwrap_or_else(|| src.to_path_buf());
    let mut paths = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| PlanError::Source {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                let name = entry.file_name();
                if !name.to_string_lossy().starts_with('.') {
                    stack.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(&root) {
                paths.push(rel.to_string_lossy().replace('\\', "/"));
                if paths.len() > MAX_FILES {
                    return Err(PlanError::Source {
                        path: src.to_path_buf(),
                        message: format!("more than {MAX_FILES} files; point --source at the package's own folder"),
                    });
                }
            }
        }
    }
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    Ok(SourceFiles {
        setup_py: read("setup.py"),
        version: read("flash_attn/__init__.py").and_then(|t| parse_version_assignment(&t)),
        paths,
    })
}

fn single_child_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("setup.py").exists() || dir.join("csrc").exists() {
        return None;
    }
    let mut children = std::fs::read_dir(dir).ok()?.flatten();
    let only = children.next()?;
    if children.next().is_some() || !only.file_type().ok()?.is_dir() {
        return None;
    }
    Some(only.path())
}

fn read_tarball(src: &Path) -> Result<SourceFiles, PlanError> {
    let err = |message: String| PlanError::Source {
        path: src.to_path_buf(),
        message,
    };
    let file = File::open(src).map_err(|e| err(e.to_string()))?;
    let name = src.to_string_lossy();
    let reader: Box<dyn Read> = if name.ends_with(".tar") {
        Box::new(file)
    } else {
        Box::new(flate2::read::GzDecoder::new(file))
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| err(format!("not a .tar.gz sdist: {e}")))?;
    let mut out = SourceFiles {
        paths: Vec::new(),
        setup_py: None,
        version: None,
    };
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("unreadable archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Ok(path) = entry.path() else { continue };
        let full = path.to_string_lossy().replace('\\', "/");
        // Strip the sdist's top folder (`flash_attn-2.8.3/`).
        let rel = match full.split_once('/') {
            Some((_, rest)) => rest.to_string(),
            None => continue,
        };
        if rel == "setup.py" || rel == "flash_attn/__init__.py" {
            let mut text = String::new();
            if entry.read_to_string(&mut text).is_ok() {
                if rel == "setup.py" {
                    out.setup_py = Some(text);
                } else {
                    out.version = parse_version_assignment(&text);
                }
            }
        }
        out.paths.push(rel);
        if out.paths.len() > MAX_FILES {
            return Err(err(format!("more than {MAX_FILES} files")));
        }
    }
    if out.paths.is_empty() {
        return Err(err("the archive holds no files".into()));
    }
    Ok(out)
}

/// `__version__ = "2.8.3"` → `2.8.3`.
fn parse_version_assignment(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("__version__")?.trim_start();
        let rest = rest.strip_prefix('=')?.trim();
        let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let body = &rest[1..];
        Some(body[..body.find(q)?].to_string())
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
