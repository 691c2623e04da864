//! [`JobSpec`]: what one job builds and how, as one serde value.
//!
//! The CLI fills it from its flags, another CI system from its own
//! configuration (or a JSON/TOML file), and `wheelwright repro` from a
//! `report.json` (which embeds the spec it ran with). Every field but
//! [`JobSpec::source`] has a default, so `{"source": "flash-attn==2.8.3"}` is
//! a whole spec.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::publish::PublishTargets;
use wheelwright_build::DEFAULT_MAX_RETRIES;

/// The recipes the library knows: how a package is planned, built and verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RecipeKind {
    /// flash-attn 2: `FLASH_ATTN_CUDA_ARCHS`, `FLASH_ATTENTION_FORCE_BUILD`,
    /// a forward-pass check of the built wheel.
    FlashAttn,
    /// flash-attn 3 (`hopper/`): its `FLASH_ATTENTION_DISABLE_*` switches,
    /// `FLASH_ATTENTION_FORCE_BUILD`, an import check.
    FlashAttn3,
    /// Any torch `CUDAExtension`: `TORCH_CUDA_ARCH_LIST`, an import check.
    TorchExt,
}

impl RecipeKind {
    /// The recipe's name as reports and flags spell it (`flash-attn`, `torch-ext`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecipeKind::FlashAttn => "flash-attn",
            RecipeKind::FlashAttn3 => "flash-attn-3",
            RecipeKind::TorchExt => "torch-ext",
        }
    }

    /// The recipe of this kind: flash-attn at `version` (its built-in file
    /// list), flash-attn 3, or a torch extension counted from `source`
    /// (`None` without one).
    pub fn recipe(
        self,
        version: &str,
        source: Option<&std::path::Path>,
    ) -> Option<wheelwright_plan::Recipe> {
        use wheelwright_plan::Recipe;
        match self {
            RecipeKind::FlashAttn => Some(Recipe::flash_attn(version)),
            RecipeKind::FlashAttn3 => Some(Recipe::flash_attn_3()),
            RecipeKind::TorchExt => source.map(Recipe::torch_ext),
        }
    }

    /// The recipe named `name` (`flash-attn`, `torch-ext`), if it is one.
    pub fn from_name(name: &str) -> Option<RecipeKind> {
        match name {
            "flash-attn" => Some(RecipeKind::FlashAttn),
            "flash-attn-3" => Some(RecipeKind::FlashAttn3),
            "torch-ext" => Some(RecipeKind::TorchExt),
            _ => None,
        }
    }
}

/// Whether the package may download a prebuilt wheel instead of compiling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PrebuiltPolicy {
    /// Always compile (flash-attn: `FLASH_ATTENTION_FORCE_BUILD=TRUE`): a GPU
    /// box without GitHub access must not hang on the package's own download.
    #[default]
    Build,
    /// Let the package fetch a prebuilt wheel where it knows one
    /// (flash-attn: `FLASH_ATTENTION_FORCE_BUILD` removed from the environment).
    Allow,
    /// Look for a prebuilt wheel that matches this host first (flash-attn's
    /// release asset for its version, or one in [`JobSpec::prebuilt_wheelhouses`]),
    /// check it (`wheel check` against the plan's archs) and use it instead of
    /// compiling; with none, or one that fails the check, compile as [`Build`](Self::Build) does.
    Prefer,
}

impl PrebuiltPolicy {
    /// The policy of the flags `--prefer-prebuilt` and `--allow-prebuilt`
    /// (preferring implies allowing); neither: [`Build`](Self::Build).
    pub fn from_flags(prefer: bool, allow: bool) -> Self {
        match (prefer, allow) {
            (true, _) => PrebuiltPolicy::Prefer,
            (false, true) => PrebuiltPolicy::Allow,
            (false, false) => PrebuiltPolicy::Build,
        }
    }
}

/// What to build and how: the input of [`super::run`].
///
/// Overrides (`archs`, `max_jobs`, `nvcc_threads`) go into the plan request;
/// unset, the planner chooses from the host's facts and the cost model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// What to build: a PyPI requirement (`flash-attn==2.8.3`), an sdist
    /// (`.tar.gz`), a source tree, or an `http(s)://` URL of an sdist (fetched
    /// through the job's [`crate::net::Network`]).
    pub source: String,
    /// The recipe; default: flash-attn when the source names flash-attn, else torch-ext.
    #[serde(default)]
    pub recipe: Option<RecipeKind>,
    /// The interpreter that builds (it must have torch); default: the
    /// detection fallback chain ([`crate::detect::resolve_python`]).
    #[serde(default)]
    pub python: Option<PathBuf>,
    /// CUDA architectures (`80;90`, `8.0,9.0`, `sm_90`); default: the GPUs present.
    #[serde(default)]
    pub archs: Option<String>,
    /// MAX_JOBS of the first attempt; default: the plan's.
    #[serde(default)]
    pub max_jobs: Option<u32>,
    /// NVCC_THREADS, fixed across retries; default: the plan's.
    #[serde(default)]
    pub nvcc_threads: Option<u32>,
    /// Persistent work dir: the downloaded and extracted sdist and its `build/`
    /// dir live here across attempts and runs.
    #[serde(default = "default_work_dir")]
    pub work_dir: PathBuf,
    /// Where the wheel, `build.log` and `report.json` land.
    #[serde(default = "default_out_dir")]
    pub out_dir: PathBuf,
    /// Install the built wheel into a fresh venv and import it (flash-attn: a
    /// forward pass too).
    #[serde(default = "yes")]
    pub verify: bool,
    /// Retries with fewer jobs after an out-of-memory kill.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Seconds between SIGTERM and SIGKILL when the job is cancelled.
    #[serde(default = "default_kill_grace_seconds")]
    pub kill_grace_seconds: u64,
    /// Build even when the plan's preflight checks refuse it (their findings
    /// stay in the report).
    #[serde(default)]
    pub force: bool,
    /// Scale the plan's times (and the ETA) to this host's compile speed,
    /// measured from an earlier build here: its `report.json`.
    #[serde(default)]
    pub calibrate_report: Option<PathBuf>,
    /// Whether the package may download a prebuilt wheel instead of compiling.
    #[serde(default)]
    pub prebuilt: PrebuiltPolicy,
    /// With `prebuilt: prefer`: the release download base (`/v{ver}/{name}`
    /// follows); default flash-attn's GitHub releases
    /// ([`crate::prebuilt::FLASH_ATTN_RELEASES`]).
    #[serde(default)]
    pub prebuilt_url: Option<String>,
    /// With `prebuilt: prefer`: directories of wheels looked in before the download.
    #[serde(default)]
    pub prebuilt_wheelhouses: Vec<PathBuf>,
    /// Use this plan (`wheelwright plan --json`) instead of planning on this host.
    #[serde(default)]
    pub plan_file: Option<PathBuf>,
    /// The C++ ABI the wheel must have (a matrix cell's `cxx11-abi`): the
    /// job refuses a torch whose `torch._C._GLIBCXX_USE_CXX11_ABI` differs
    /// (or cannot be read) before anything compiles; default: torch's,
    /// whatever it is.
    #[serde(default)]
    pub cxx11_abi: Option<bool>,
    /// Pin the torch the wheel is compiled against in its `METADATA`
    /// (`Requires-Dist: torch==X.Y.*`, an unpinned `torch` requirement
    /// replaced), before the wheel is verified, recorded and attested, so
    /// pip and uv never pair it with another torch minor (its binaries would
    /// fail with `undefined symbol`). Default on; off leaves the backend's
    /// requirements as they are.
    #[serde(default = "yes")]
    pub torch_pin: bool,
    /// Retag the wheel to the manylinux policy it meets (torch's and CUDA's
    /// libraries external) before it is verified, recorded and attested;
    /// a wheel that meets none fails the build.
    #[serde(default)]
    pub manylinux: bool,
    /// Experimental: also write the PEP 825 variant wheel (PEP 817/825 are
    /// Drafts) beside the wheel, after its check: label the local label
    /// lower-cased, `*.dist-info/variant.json` with the `nvidia :: sm_arch`
    /// of its device code and the CUDA lower bound; recorded as the
    /// report's `variant` and published with the wheel.
    #[serde(default)]
    pub variants: bool,
    /// Where the wheel goes after a successful build (checked first, through
    /// the job's [`crate::net::Network`]); default: nowhere.
    #[serde(default)]
    pub publish: PublishTargets,
    /// Compile through sccache (its cache dir or the user's sccache config);
    /// default: no compile cache.
    #[serde(default)]
    pub compile_cache: Option<wheelwright_build::compile_cache::CompileCache>,
}

fn default_work_dir() -> PathBuf {
    PathBuf::from(".wheelwright/build")
}

fn default_out_dir() -> PathBuf {
    PathBuf::from("wheelhouse")
}

fn yes() -> bool {
    true
}

fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

fn default_kill_grace_seconds() -> u64 {
    wheelwright_build::DEFAULT_KILL_GRACE.as_secs()
}

impl JobSpec {
    /// A spec for `source` with every default: plan on this host, verify,
    /// 2 retries, `.wheelwright/build` and `wheelhouse`.
    pub fn new(source: impl Into<String>) -> JobSpec {
        JobSpec {
            source: source.into(),
            recipe: None,
            python: None,
            archs: None,
            max_jobs: None,
            nvcc_threads: None,
            work_dir: default_work_dir(),
            out_dir: default_out_dir(),
            verify: true,
            max_retries: default_max_retries(),
            kill_grace_seconds: default_kill_grace_seconds(),
            force: false,
            calibrate_report: None,
            prebuilt: PrebuiltPolicy::Build,
            prebuilt_url: None,
            prebuilt_wheelhouses: Vec::new(),
            plan_file: None,
            cxx11_abi: None,
            torch_pin: true,
            manylinux: false,
            variants: false,
            publish: PublishTargets::default(),
            compile_cache: None,
        }
    }

    /// [`JobSpec::kill_grace_seconds`] as a duration.
    pub fn kill_grace(&self) -> Duration {
        Duration::from_secs(self.kill_grace_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_alone_is_a_whole_spec_with_the_documented_defaults() {
        let spec: JobSpec = serde_json::from_str(r#"{"source": "flash-attn==2.8.3"}"#).unwrap();
        assert_eq!(spec, JobSpec::new("flash-attn==2.8.3"));
        assert!(spec.verify);
        assert_eq!(spec.max_retries, 2);
        assert_eq!(spec.kill_grace(), Duration::from_secs(10));
        assert_eq!(spec.prebuilt, PrebuiltPolicy::Build);
    }

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let mut spec = JobSpec::new("./fa");
        spec.recipe = Some(RecipeKind::TorchExt);
        spec.archs = Some("80;90".into());
        spec.prebuilt = PrebuiltPolicy::Allow;
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["recipe"], "torch-ext");
        assert_eq!(json["prebuilt"], "allow");
        spec.prebuilt = PrebuiltPolicy::Prefer;
        spec.prebuilt_url = Some("http://mirror/dl".into());
        let prefer = serde_json::to_value(&spec).unwrap();
        assert_eq!(prefer["prebuilt"], "prefer");
        assert_eq!(serde_json::from_value::<JobSpec>(prefer).unwrap(), spec);
        spec.prebuilt = PrebuiltPolicy::Allow;
        spec.prebuilt_url = None;
        assert_eq!(serde_json::from_value::<JobSpec>(json).unwrap(), spec);
        let typo = serde_json::from_str::<JobSpec>(r#"{"source": "x", "max_job": 3}"#);
        assert!(typo.unwrap_err().to_string().contains("max_job"));
    }

    #[test]
    fn each_kind_makes_its_recipe_and_torch_ext_needs_a_source() {
        let kinds = [
            RecipeKind::FlashAttn,
            RecipeKind::FlashAttn3,
            RecipeKind::TorchExt,
        ];
        for kind in kinds {
            let r = kind.recipe("2.8.3", Some(std::path::Path::new("/src/ext")));
            assert_eq!(r.map(|r| r.name()), Some(kind.as_str()), "{kind:?}");
        }
        assert!(RecipeKind::TorchExt.recipe("2.8.3", None).is_none());
        let prefer = PrebuiltPolicy::from_flags(true, true);
        assert_eq!(prefer, PrebuiltPolicy::Prefer);
        assert_eq!(
            PrebuiltPolicy::from_flags(false, true),
            PrebuiltPolicy::Allow
        );
        assert_eq!(
            PrebuiltPolicy::from_flags(false, false),
            PrebuiltPolicy::Build
        );
    }
}
