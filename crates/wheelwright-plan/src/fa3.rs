//! flash-attn 3 (`hopper/` of the flash-attention repository, package
//! `flash_attn_3`, an abi3 wheel): its translation units, generated the way
//! its `setup.py` generates them, and what that `setup.py` does at build time.
//!
//! Units (hopper/setup.py at flash-attention `0251105a`, 3.0.0): the host file
//! (`flash_api_stable.cpp` with torch ≥ 2.9, else `flash_api.cpp`), then
//! `instantiations/flash_fwd_hdim{H}_{dtype}{paged}{split}{softcap}{packgqa}_sm90.cu`
//! over head dims {64, 96, 128, 192, 256} (+ `64_256`, `64_512` in fp16/bf16 and
//! `192_128`), dtypes {bf16, fp16, e4m3}, split, paged, softcap and packgqa
//! (packgqa never with paged or split), the `_sm80` forward files (bf16/fp16,
//! `_softcapall`), backward files for both archs, `flash_fwd_combine.cu`
//! (unless split is off) and `flash_prepare_scheduler.cu`: 293 by default.
//! Each `FLASH_ATTENTION_DISABLE_*` switch is on only when its value is exactly
//! `TRUE` (`os.getenv(NAME, "FALSE") == "TRUE"`); the switches that change the
//! list are [`unit_switches`], the others ([`KERNEL_SWITCHES`]) only shrink
//! each unit.
//!
//! Archs: `setup.py` builds `*_sm90.cu` for `sm_90a`, `*_sm80.cu` for `sm_80`,
//! `*_sm100.cu` for `sm_100a` (no source of that name is in its list at this
//! commit), and the other `.cu` files for both `sm_90a` and `sm_80`, by
//! rewriting torch's ninja file; `TORCH_CUDA_ARCH_LIST` is ignored (its own
//! `-gencode` flags make torch add none). `NVCC_THREADS` defaults to 2
//! (`--threads`); `MAX_JOBS` is left to torch (ninja's default, CPUs + 2).
//!
//! At build time `setup.py` also: runs `git submodule update --init
//! ../csrc/cutlass` (needs a `git` executable; outside a checkout it fails
//! harmlessly), reads `../README.md`, requires CUDA ≥ 12.3, adds
//! `$CUDA_HOME/include/cccl` to the include path on CUDA ≥ 13.0, and on CUDA
//! 12.3–12.9 except 12.8 **downloads nvcc 12.6.85 and ptxas 12.8.93** from
//! developer.download.nvidia.com into `~/.flashattn/nvidia` (or
//! `$FLASH_ATTENTION_HOME/.flashattn`), copies them to
//! `../third_party/nvidia/backend/` and compiles with them (`PYTORCH_NVCC`).
//! `FLASH_ATTENTION_OFFLINE_BUILD=1` (or TRUE/ON/YES/Y) skips the download,
//! but the build then still expects `../third_party/nvidia/backend/bin/nvcc`
//! (it `chmod`s it and fails when it is missing): offline on those CUDA
//! versions, place the toolchain there or pre-fill the cache; CUDA 12.8 and
//! ≥ 13.0 use the system nvcc and download nothing.

use std::collections::BTreeMap;

use super::archs::CudaVersion;
use wheelwright_base::finding::{Finding, Severity};

/// hopper/setup.py's `NVCC_THREADS` when unset.
pub const FA3_DEFAULT_NVCC_THREADS: u32 = 2;
/// The oldest CUDA it builds with (`setup.py` raises below it).
pub const FA3_MIN_CUDA: &str = "12.3";
/// The flash-attention commit the built-in list follows.
pub const FA3_PINNED_COMMIT: &str = "0251105a2fb19d2957484b7f023cd8c115286ced";
/// `flash_attn_3.__version__` at that commit.
pub const FA3_VERSION: &str = "3.0.0";
/// The variable that skips the toolchain download.
pub const FA3_OFFLINE_VAR: &str = "FLASH_ATTENTION_OFFLINE_BUILD";
/// The `-gencode` of `*_sm90.cu` units.
pub const GENCODE_SM90A: &str = "arch=compute_90a,code=sm_90a";
/// The `-gencode` of `*_sm80.cu` units.
pub const GENCODE_SM80: &str = "arch=compute_80,code=sm_80";

/// Every `FLASH_ATTENTION_DISABLE_*` switch hopper/setup.py reads (without
/// the prefix), plus `ENABLE_VCOLMAJOR`.
pub const SWITCHES: &[&str] = &[
    "BACKWARD",
    "SPLIT",
    "PAGEDKV",
    "APPENDKV",
    "LOCAL",
    "SOFTCAP",
    "PACKGQA",
    "FP16",
    "FP8",
    "VARLEN",
    "CLUSTER",
    "HDIM64",
    "HDIM96",
    "HDIM128",
    "HDIM192",
    "HDIM256",
    "SM80",
    "HDIMDIFF64",
    "HDIMDIFF192",
];

/// The switches that only shrink each unit (fewer kernels in a file, see
/// [`Switches::fwd_kernels`]); every other one of [`SWITCHES`] changes which
/// files are compiled ([`unit_switches`]).
pub const KERNEL_SWITCHES: &[&str] = &["APPENDKV", "LOCAL", "VARLEN", "CLUSTER"];

/// The switches that change which files are compiled, in [`SWITCHES`]' order.
pub fn unit_switches() -> impl Iterator<Item = &'static str> {
    SWITCHES
        .iter()
        .copied()
        .filter(|s| !KERNEL_SWITCHES.contains(s))
}

/// `FLASH_ATTENTION_DISABLE_` + `name`.
pub fn disable_var(name: &str) -> String {
    format!("FLASH_ATTENTION_DISABLE_{name}")
}

/// The switches as the build will see them: from the variables of its
/// environment (only `FLASH_ATTENTION_*` ones matter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switches {
    disabled: Vec<String>,
    /// Variables set to something other than `TRUE`/`FALSE` (`1`, `true`):
    /// `setup.py` reads them as off.
    pub ignored: Vec<(String, String)>,
}

impl Switches {
    /// Read the switches from the build's environment.
    pub fn from_env(env: &BTreeMap<String, String>) -> Self {
        let mut s = Switches::default();
        for name in SWITCHES {
            let var = disable_var(name);
            match env.get(&var).map(String::as_str) {
                Some("TRUE") => s.disabled.push((*name).to_string()),
                None | Some("FALSE") => {}
                Some(other) => s.ignored.push((var, other.to_string())),
            }
        }
        s
    }

    /// `FLASH_ATTENTION_DISABLE_{name}` is `TRUE`.
    pub fn off(&self, name: &str) -> bool {
        self.disabled.iter().any(|d| d == name)
    }

    /// The switches that are on, without the prefix.
    pub fn disabled(&self) -> &[String] {
        &self.disabled
    }

    /// Turn `name` off (as `FLASH_ATTENTION_DISABLE_{name}=TRUE` would).
    pub fn disable(&mut self, name: &str) {
        if !self.off(name) {
            self.disabled.push(name.to_string());
        }
    }

    /// How many distinct forward kernels one sm90 forward file instantiates,
    /// against the default (9): `CAUSAL_LOCAL_SWITCH` (3, or 2 without local)
    /// × (not varlen + varlen × `APPENDKV_SWITCH` (2, or 1)).
    pub fn fwd_kernels(&self) -> (u32, u32) {
        let causal_local = if self.off("LOCAL") { 2 } else { 3 };
        let varlen = if self.off("VARLEN") { 0 } else { 1 };
        let appendkv = if self.off("APPENDKV") { 1 } else { 2 };
        (causal_local * (1 + varlen * appendkv), 9)
    }
}

fn pick<'a>(all: &[&'a str], skip: impl Fn(&str) -> bool) -> Vec<&'a str> {
    all.iter().copied().filter(|x| !skip(x)).collect()
}

/// The source paths (relative to `hopper/`) `setup.py` compiles under these
/// switches, in its order; `stable_api`: torch ≥ 2.9 (`flash_api_stable.cpp`).
pub fn source_paths(s: &Switches, stable_api: bool) -> Vec<String> {
    let off = |n: &str| s.off(n);
    let hdims: Vec<&str> = pick(&["64", "96", "128", "192", "256"], |h| {
        off(&format!("HDIM{h}"))
    });
    let dtype_sm80 = pick(&["bf16", "fp16"], |d| d == "fp16" && off("FP16"));
    let dtype_sm90 = pick(&["bf16", "fp16", "e4m3"], |d| {
        (d == "fp16" && off("FP16")) || (d == "e4m3" && off("FP8"))
    });
    let half_sm90 = dtype_sm80.clone();
    let split = pick(&["", "_split"], |x| !x.is_empty() && off("SPLIT"));
    let paged = pick(&["", "_paged"], |x| !x.is_empty() && off("PAGEDKV"));
    let softcap = pick(&["", "_softcap"], |x| !x.is_empty() && off("SOFTCAP"));
    let softcap_all: Vec<&str> = if off("SOFTCAP") {
        vec![""]
    } else {
        vec!["_softcapall"]
    };
    let packgqa = pick(&["", "_packgqa"], |x| !x.is_empty() && off("PACKGQA"));

    let mut fwd80 = Vec::new();
    for h in &hdims {
        for d in &dtype_sm80 {
            for sp in &split {
                for pg in &paged {
                    for sc in &softcap_all {
                        fwd80.push(format!(
                            "instantiations/flash_fwd_hdim{h}_{d}{pg}{sp}{sc}_sm80.cu"
                        ));
                    }
                }
            }
        }
    }
    let fwd90_for = |hdims: &[&str], dtypes: &[&str], out: &mut Vec<String>| {
        for h in hdims {
            for d in dtypes {
                for sp in &split {
                    for pg in &paged {
                        for sc in &softcap {
                            for pq in &packgqa {
                                if !pq.is_empty() && (!pg.is_empty() || !sp.is_empty()) {
                                    continue;
                                }
                                out.push(format!(
                                    "instantiations/flash_fwd_hdim{h}_{d}{pg}{sp}{sc}{pq}_sm90.cu"
                                ));
                            }
                        }
                    }
                }
            }
        }
    };
    let mut fwd90 = Vec::new();
    fwd90_for(&hdims, &dtype_sm90, &mut fwd90);
    if !off("HDIMDIFF64") {
        fwd90_for(&["64_256", "64_512"], &half_sm90, &mut fwd90);
    }
    if !off("HDIMDIFF192") {
        fwd90_for(&["192_128"], &dtype_sm90, &mut fwd90);
    }
    let mut bwd80 = Vec::new();
    let mut bwd90 = Vec::new();
    if !off("BACKWARD") {
        for h in &hdims {
            for d in &dtype_sm80 {
                for sc in &softcap {
                    bwd80.push(format!("instantiations/flash_bwd_hdim{h}_{d}{sc}_sm80.cu"));
                }
                for sc in &softcap_all {
                    bwd90.push(format!("instantiations/flash_bwd_hdim{h}_{d}{sc}_sm90.cu"));
                }
            }
        }
    }
    let api = if stable_api {
        "flash_api_stable.cpp"
    } else {
        "flash_api.cpp"
    };
    let sm80 = !off("SM80");
    let mut out = vec![api.to_string()];
    if sm80 {
        out.extend(fwd80);
    }
    out.extend(fwd90);
    if sm80 {
        out.extend(bwd80);
    }
    out.extend(bwd90);
    if !off("SPLIT") {
        out.push("flash_fwd_combine.cu".into());
    }
    out.push("flash_prepare_scheduler.cu".into());
    out
}

/// Gencodes of one FA3 unit by its name (the rules of `setup.py`'s ninja
/// file): 1 for `_sm90`/`_sm80`/`_sm100` files, 2 for the other `.cu`.
pub fn unit_gencodes(path: &str) -> Option<u32> {
    if !path.ends_with(".cu") {
        return None;
    }
    let one = ["_sm90.cu", "_sm80.cu", "_sm100.cu"]
        .iter()
        .any(|s| path.ends_with(s));
    Some(if one { 1 } else { 2 })
}

/// torch ≥ 2.9 (`2.9.0.dev20250830` is the cut) selects `flash_api_stable.cpp`;
/// an unknown torch is taken as new.
pub fn stable_api_for(torch_version: Option<&str>) -> bool {
    let Some(v) = torch_version else { return true };
    let mut it = v.split(['.', '+']);
    let major: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(99);
    let minor: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(99);
    (major, minor) >= (2, 9)
}

/// What in `setup.py` the generator above relies on and does not find: the
/// source name templates and the switches (a `setup.py` that changed since
/// the pinned commit).
pub fn drift(setup_py: &str) -> Vec<String> {
    let mut out = Vec::new();
    for template in [
        "flash_fwd_hdim{hdim}_{dtype}{paged}{split}{softcap}{packgqa}_sm90.cu",
        "flash_fwd_hdim{hdim}_{dtype}{paged}{split}{softcap}_sm80.cu",
        "flash_bwd_hdim{hdim}_{dtype}{softcap}_sm80.cu",
        "flash_bwd_hdim{hdim}_{dtype}{softcap}_sm90.cu",
        "flash_fwd_combine.cu",
        "flash_prepare_scheduler.cu",
    ] {
        if !setup_py.contains(template) {
            out.push(format!("source template `{template}`"));
        }
    }
    for name in SWITCHES {
        if !setup_py.contains(&format!("\"{}\"", disable_var(name))) {
            out.push(format!("switch {}", disable_var(name)));
        }
    }
    // Switches it reads that this recipe does not know.
    for (i, _) in setup_py.match_indices("\"FLASH_ATTENTION_DISABLE_") {
        let rest = &setup_py[i + 1..];
        let name = &rest[..rest.find('"').unwrap_or(rest.len())];
        let known = SWITCHES.iter().any(|s| disable_var(s) == name);
        let line = format!("switch {name} (unknown to wheelwright)");
        if !known && !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// `check_env_flag`: ON, 1, YES, TRUE or Y, in any case.
fn env_flag(env: &BTreeMap<String, String>, name: &str) -> bool {
    env.get(name)
        .is_some_and(|v| ["ON", "1", "YES", "TRUE", "Y"].contains(&v.to_ascii_uppercase().as_str()))
}

/// What hopper/setup.py does with this toolkit that can stop the build: CUDA
/// below 12.3 (it raises), and the toolchain download of CUDA 12.3–12.9 except
/// 12.8 (a host without internet waits up to 300 s per download and fails;
/// with `FLASH_ATTENTION_OFFLINE_BUILD` it fails later unless the toolchain
/// was put in place).
pub(crate) fn preflight(cuda: Option<CudaVersion>, env: &BTreeMap<String, String>) -> Vec<Finding> {
    let Some(v) = cuda else { return Vec::new() };
    let min = CudaVersion::parse(FA3_MIN_CUDA).unwrap_or(CudaVersion::new(12, 3));
    if v < min {
        return vec![Finding::new(
            "cuda-too-old",
            Severity::Error,
            "CUDA too old for flash-attn 3",
            format!("nvcc is CUDA {v}; flash-attn 3's setup.py raises below CUDA {min} (\"FlashAttention-3 is only supported on CUDA 12.3 and above\")."),
            "Install CUDA 12.8 or 13.x (neither makes setup.py download a toolchain) and point CUDA_HOME at it.",
        )];
    }
    let downloads = v < CudaVersion::new(13, 0) && v != CudaVersion::new(12, 8);
    if !downloads {
        return Vec::new();
    }
    let offline = env_flag(env, FA3_OFFLINE_VAR);
    vec![Finding::new(
        "fa3-toolchain-download",
        Severity::Warning,
        if offline {
            "flash-attn 3 expects a downloaded nvcc that is not fetched offline"
        } else {
            "flash-attn 3 downloads nvcc and ptxas during the build"
        },
        format!(
            "With CUDA {v}, hopper/setup.py fetches nvcc 12.6.85 and ptxas 12.8.93 from developer.download.nvidia.com (cached in ~/.flashattn/nvidia, or $FLASH_ATTENTION_HOME/.flashattn), copies them to ../third_party/nvidia/backend/ and compiles with them. {}",
            if offline {
                "FLASH_ATTENTION_OFFLINE_BUILD skips the download, but setup.py still points PYTORCH_NVCC at ../third_party/nvidia/backend/bin/nvcc and fails if it is not there."
            } else {
                "Without internet each download waits up to 300 s and the build fails."
            }
        ),
        "Build with CUDA 12.8 or 13.x (system nvcc, nothing downloaded); or fill the cache (~/.flashattn/nvidia/{nvcc,ptxas}/cuda_nvcc-linux-x86_64-<version>-archive) on a machine with internet and carry it over; or set FLASH_ATTENTION_OFFLINE_BUILD=1 and place the toolchain in third_party/nvidia/backend/ yourself.",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_list_has_293_units() {
        let paths = source_paths(&Switches::default(), true);
        assert_eq!(paths.len(), 293);
        assert_eq!(paths[0], "flash_api_stable.cpp");
        let count = |suffix: &str, kind: &str| {
            paths
                .iter()
                .filter(|p| p.ends_with(suffix) && p.contains(kind))
                .count()
        };
        // setup.py's own lists: 40 fwd sm80, 220 fwd sm90, 20 bwd sm80, 10 bwd sm90.
        assert_eq!(count("_sm80.cu", "flash_fwd_"), 40);
        assert_eq!(count("_sm90.cu", "flash_fwd_"), 220);
        assert_eq!(count("_sm80.cu", "flash_bwd_"), 20);
        assert_eq!(count("_sm90.cu", "flash_bwd_"), 10);
        let no_sm80 = Switches::from_env(&env(&[("FLASH_ATTENTION_DISABLE_SM80", "TRUE")]));
        assert_eq!(source_paths(&no_sm80, false).len(), 233);
        assert_eq!(source_paths(&no_sm80, false)[0], "flash_api.cpp");
    }

    /// Each unit switch takes files out of the default list; the kernel
    /// switches leave it as it is.
    #[test]
    fn only_the_unit_switches_change_the_list() {
        let all = source_paths(&Switches::default(), true);
        let units: Vec<&str> = unit_switches().collect();
        assert_eq!(units.len() + KERNEL_SWITCHES.len(), SWITCHES.len());
        for name in SWITCHES {
            let mut s = Switches::default();
            s.disable(name);
            let paths = source_paths(&s, true);
            if units.contains(name) {
                assert!(paths.len() < all.len(), "{name}");
            } else {
                assert!(KERNEL_SWITCHES.contains(name), "{name}");
                assert_eq!(paths, all, "{name}");
            }
        }
    }

    #[test]
    fn switches_are_exactly_true() {
        let s = Switches::from_env(&env(&[
            ("FLASH_ATTENTION_DISABLE_BACKWARD", "TRUE"),
            ("FLASH_ATTENTION_DISABLE_FP8", "1"),
            ("FLASH_ATTENTION_DISABLE_SPLIT", "FALSE"),
        ]));
        assert!(s.off("BACKWARD"));
        assert!(!s.off("FP8") && !s.off("SPLIT"));
        assert_eq!(
            s.ignored,
            vec![("FLASH_ATTENTION_DISABLE_FP8".into(), "1".into())]
        );
        assert_eq!(s.fwd_kernels(), (9, 9));
    }

    #[test]
    fn toolchain_checks_follow_setup_py() {
        let none = BTreeMap::new();
        let ids = |v: &str, e: &BTreeMap<String, String>| -> Vec<String> {
            preflight(CudaVersion::parse(v), e)
                .into_iter()
                .map(|f| f.id)
                .collect()
        };
        assert_eq!(ids("12.2", &none), ["cuda-too-old"]);
        assert_eq!(ids("12.6", &none), ["fa3-toolchain-download"]);
        assert!(ids("12.8", &none).is_empty());
        assert!(ids("13.0", &none).is_empty());
        let offline = env(&[(FA3_OFFLINE_VAR, "on")]);
        let f = preflight(CudaVersion::parse("12.4"), &offline);
        assert!(f[0].title.contains("not fetched offline"), "{}", f[0].title);
    }

    #[test]
    fn gencodes_follow_the_ninja_rules() {
        assert_eq!(
            unit_gencodes("instantiations/flash_fwd_hdim64_bf16_sm90.cu"),
            Some(1)
        );
        assert_eq!(unit_gencodes("flash_fwd_combine.cu"), Some(2));
        assert_eq!(unit_gencodes("flash_api_stable.cpp"), None);
        assert!(stable_api_for(Some("2.11.0+cu130")));
        assert!(!stable_api_for(Some("2.8.0")));
        assert!(stable_api_for(None));
    }
}
