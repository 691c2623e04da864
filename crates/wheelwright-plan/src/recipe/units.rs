//! The units a recipe compiles: [`TranslationUnit`] (one compile, one
//! object, and which compiler and measurements it takes), [`SourceUnits`]
//! (a package's units in ninja's start order with what its `setup.py` says),
//! the [`UnitContext`] a unit list depends on, and flash-attn 2.8.3's
//! built-in list.

use std::collections::BTreeMap;

use crate::fa3;
use crate::setup_py;
use crate::setup_py::GencodeRules;

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
    /// A flash-attn 3 unit: its estimate from `data/fa3_costs.tsv` ([`crate::CostSources`]).
    FlashAttn3 {
        /// Kernels an sm90 forward file instantiates under the switches,
        /// and the default count (see [`fa3::Switches::fwd_kernels`]).
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
    /// The extension it belongs to, where the package's `setup.py` was run
    /// (`torch_scatter._scatter_cuda`): torch builds each extension on its
    /// own, one after another.
    pub extension: Option<String>,
    /// Its own `-gencode` targets (`arch=compute_90,code=sm_90`), where the
    /// package's `setup.py` was run; empty: the plan's.
    pub gencode_flags: Vec<String>,
    /// The `--threads` its own flags give nvcc, if any.
    pub own_threads: Option<u32>,
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
            extension: None,
            gencode_flags: Vec::new(),
            own_threads: None,
        })
    }

    /// `flash_bwd_hdim128_bf16_sm80`.
    pub fn stem(&self) -> &str {
        crate::measurements::file_stem(&self.path)
    }

    /// Compiled by nvcc.
    pub fn is_cuda(&self) -> bool {
        self.compiler == UnitCompiler::Nvcc
    }

    /// What a cost measured on this host is kept under: the extension, the
    /// path and the device targets (`ext|csrc/a.cu|sm_90,compute_90`), so a
    /// unit built with other targets is not taken for it.
    pub fn cost_key(&self) -> String {
        let args: Vec<&str> = self
            .gencode_flags
            .iter()
            .flat_map(|g| ["-gencode", g.as_str()])
            .collect();
        let (sass, ptx) = super::nvcc_flags::NvccTargets::parse(&args).codes();
        let targets: Vec<String> = sass.into_iter().chain(ptx).collect();
        unit_cost_key(self.extension.as_deref(), &self.path, &targets)
    }

    /// The object ninja builds, whose path sets ninja's start order.
    pub fn object_path(&self) -> String {
        match self.path.rsplit_once('.') {
            Some((base, _)) => format!("{base}.o"),
            None => format!("{}.o", self.path),
        }
    }
}

/// [`TranslationUnit::cost_key`] from its parts (a plan's unit table has them).
pub fn unit_cost_key(extension: Option<&str>, path: &str, targets: &[String]) -> String {
    format!("{}|{path}|{}", extension.unwrap_or(""), targets.join(","))
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
    /// A torch extension: what its `setup.py` said when run, or why it could
    /// not be.
    pub setup_py_facts: Option<super::setup_probe::SetupPyFacts>,
}

impl SourceUnits {
    /// `units` in ninja's start order (sorted by object path), each once.
    pub(super) fn new(mut units: Vec<TranslationUnit>, origin: String) -> Self {
        units.sort_by_key(TranslationUnit::object_path);
        units.dedup();
        SourceUnits {
            units,
            origin,
            version: None,
            setup_py: None,
            notes: Vec::new(),
            switches: None,
            setup_py_facts: None,
        }
    }

    /// No units yet, for what comes before them (the archs a probe runs for).
    pub fn default_for(recipe: &super::Recipe) -> Self {
        Self::new(Vec::new(), recipe.name().to_string())
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
    /// A torch extension: its `setup.py` as the probe ran it, or why the
    /// probe could not (the units then come from a file scan).
    pub probe: Option<&'a Result<super::setup_probe::SetupProbe, super::setup_probe::ProbeGap>>,
}

/// flash-attn 2.8.3's 72 `.cu` files and `flash_api.cpp`, as its `setup.py`
/// lists them: {fwd, bwd, fwd_split} × hdim {32, 64, 96, 128, 192, 256} ×
/// {fp16, bf16} × {non-causal, causal}.
pub fn flash_attn_2_8_3_units() -> Vec<TranslationUnit> {
    let mut units =
        vec![TranslationUnit::from_path("csrc/flash_attn/flash_api.cpp")
            .expect("a .cpp file is a unit")];
    for kind in ["fwd", "bwd", "fwd_split"] {
        for hdim in [32, 64, 96, 128, 192, 256] {
            for dtype in ["fp16", "bf16"] {
                for causal in ["", "_causal"] {
                    let path = format!(
                        "csrc/flash_attn/src/flash_{kind}_hdim{hdim}_{dtype}{causal}_sm80.cu"
                    );
                    units.extend(TranslationUnit::from_path(&path));
                }
            }
        }
    }
    units
}

/// flash-attn 3's units for `paths` (the `.cu` files its `setup.py`
/// generates, [`fa3`]); `fwd_kernels` from [`fa3::Switches::fwd_kernels`].
pub fn fa3_units(paths: &[String], fwd_kernels: (u32, u32)) -> Vec<TranslationUnit> {
    paths
        .iter()
        .filter_map(|p| {
            let mut u = TranslationUnit::from_path(p)?;
            u.gencodes = fa3::unit_gencodes(p);
            u.family = UnitFamily::FlashAttn3 { fwd_kernels };
            Some(u)
        })
        .collect()
}
