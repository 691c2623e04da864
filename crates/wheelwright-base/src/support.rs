//! The support table: which torch releases exist for which Python and CUDA,
//! which CUDA toolkit needs which NVIDIA driver, and flash-attn's own publish
//! matrix. One committed table drives `plan --matrix`, `runner check` and the
//! hints of `doctor` and `diagnose` (so no hint names an index that does not
//! exist, such as `cu122`).
//!
//! Sources, checked when the table was written:
//! - torch's Python range and CUDA variants: PyTorch's `RELEASE.md`
//!   ("Release Compatibility Matrix": stable and experimental CUDA of each
//!   release) and the per-release index list flash-attn's
//!   `.github/workflows/_build.yml` uses to pick torch's CUDA
//!   (`'2.8': [126, 128, 129]`, `'2.9': [126, 128, 130]`, ...);
//! - the C++11 ABI: PyTorch's pip wheels use the new ABI from 2.7 on
//!   (flash-attn's `publish.yml` builds `cxx11abiFALSE` only up to 2.6);
//! - the minimum Linux driver of each toolkit: the "CUDA Toolkit and
//!   Corresponding Driver Versions" table of NVIDIA's CUDA release notes (GA
//!   releases), and the driver floor of CUDA minor-version compatibility
//!   (12.x: 525.60.13, 13.x: 580.65.06);
//! - flash-attn's default matrix: its `.github/workflows/publish.yml`
//!   (Python 3.10–3.13, torch 2.6.0/2.7.1/2.8.0/2.9.1/2.10.0, CUDA 12.9.1 and
//!   13.0.1, CUDA 13 only from torch 2.9, ABI FALSE only for torch 2.6).

use crate::archs::CudaVersion;

/// PyTorch's own wheel index; a CUDA variant is a folder under it (`cu128`).
pub const PYTORCH_INDEX: &str = "https://download.pytorch.org/whl";

/// One torch minor release as PyTorch publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TorchRelease {
    /// `2.8`.
    pub minor: &'static str,
    /// The patch release to build against (`2.8.0`); wheels built against a
    /// minor work with all its patches.
    pub version: &'static str,
    /// Oldest and newest CPython with wheels (`3.9`, `3.13`).
    pub python: (&'static str, &'static str),
    /// The CUDA variants on PyTorch's index, oldest first (`12.6` = `cu126`).
    pub cuda: &'static [&'static str],
    /// Whether PyTorch's pip wheels use the C++11 ABI (true from 2.7).
    pub pip_cxx11_abi: bool,
}

/// The torch releases wheelwright knows, oldest first.
pub const TORCH_RELEASES: &[TorchRelease] = &[
    TorchRelease {
        minor: "2.4",
        version: "2.4.1",
        python: ("3.8", "3.12"),
        cuda: &["11.8", "12.1", "12.4"],
        pip_cxx11_abi: false,
    },
    TorchRelease {
        minor: "2.5",
        version: "2.5.1",
        python: ("3.9", "3.13"),
        cuda: &["11.8", "12.1", "12.4"],
        pip_cxx11_abi: false,
    },
    TorchRelease {
        minor: "2.6",
        version: "2.6.0",
        python: ("3.9", "3.13"),
        cuda: &["11.8", "12.4", "12.6"],
        pip_cxx11_abi: false,
    },
    TorchRelease {
        minor: "2.7",
        version: "2.7.1",
        python: ("3.9", "3.13"),
        cuda: &["11.8", "12.6", "12.8"],
        pip_cxx11_abi: true,
    },
    TorchRelease {
        minor: "2.8",
        version: "2.8.0",
        python: ("3.9", "3.13"),
        cuda: &["12.6", "12.8", "12.9"],
        pip_cxx11_abi: true,
    },
    TorchRelease {
        minor: "2.9",
        version: "2.9.1",
        python: ("3.10", "3.14"),
        cuda: &["12.6", "12.8", "13.0"],
        pip_cxx11_abi: true,
    },
    TorchRelease {
        minor: "2.10",
        version: "2.10.0",
        python: ("3.10", "3.14"),
        cuda: &["12.6", "12.8", "13.0"],
        pip_cxx11_abi: true,
    },
    TorchRelease {
        minor: "2.11",
        version: "2.11.0",
        python: ("3.10", "3.14"),
        cuda: &["12.6", "12.8", "13.0"],
        pip_cxx11_abi: true,
    },
];

/// A `major.minor` pair parsed from `2.8`, `2.8.0` or `2.8.0+cu128`.
pub fn major_minor(text: &str) -> Option<(u32, u32)> {
    let mut it = text.trim().split(['.', '+']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

impl TorchRelease {
    /// The release of a torch version (`2.8`, `2.8.0`, `2.8.0+cu128`).
    pub fn find(version: &str) -> Option<&'static TorchRelease> {
        let want = major_minor(version)?;
        TORCH_RELEASES
            .iter()
            .find(|r| major_minor(r.minor) == Some(want))
    }

    /// Whether PyTorch publishes wheels of this release for CPython `python` (`3.12`).
    pub fn supports_python(&self, python: &str) -> bool {
        match (
            major_minor(python),
            major_minor(self.python.0),
            major_minor(self.python.1),
        ) {
            (Some(p), Some(lo), Some(hi)) => lo <= p && p <= hi,
            _ => false,
        }
    }

    /// The CPython versions with wheels, oldest first (`3.9` … `3.13`).
    pub fn pythons(&self) -> Vec<String> {
        let (Some((maj, lo)), Some((_, hi))) =
            (major_minor(self.python.0), major_minor(self.python.1))
        else {
            return Vec::new();
        };
        (lo..=hi).map(|m| format!("{maj}.{m}")).collect()
    }

    /// The CUDA variants, parsed.
    pub fn cuda_variants(&self) -> Vec<CudaVersion> {
        self.cuda
            .iter()
            .filter_map(|c| CudaVersion::parse(c))
            .collect()
    }

    /// The variant to install for building with toolkit `toolkit`: the newest
    /// one of the same major that is not newer than the toolkit (torch refuses
    /// a different major; an older minor only warns). `None` when the release
    /// has no variant of that major at or below it.
    pub fn variant_for_toolkit(&self, toolkit: CudaVersion) -> Option<CudaVersion> {
        self.cuda_variants()
            .into_iter()
            .filter(|v| v.major == toolkit.major && *v <= toolkit)
            .max()
    }

    /// The variant of the toolkit's major to install: [`Self::variant_for_toolkit`]
    /// when there is one, else the oldest of that major above the toolkit
    /// (torch's extension build refuses only another major; another minor
    /// warns, and `plan` accepts it with a notice). `None` when the release
    /// has no variant of that major.
    pub fn variant_for_major(&self, toolkit: CudaVersion) -> Option<CudaVersion> {
        self.variant_for_toolkit(toolkit).or_else(|| {
            self.cuda_variants()
                .into_iter()
                .filter(|v| v.major == toolkit.major)
                .min()
        })
    }

    /// Whether `cuda` is one of the variants PyTorch publishes.
    pub fn publishes(&self, cuda: CudaVersion) -> bool {
        self.cuda_variants().contains(&cuda)
    }
}

/// `cu128` for CUDA 12.8.
pub fn cu_tag(cuda: CudaVersion) -> String {
    format!("cu{}{}", cuda.major, cuda.minor)
}

/// What torch's own version string says it was built for: the local label of
/// `2.7.1+cu118` (as `torch.__version__` and PyTorch's wheels write it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchBuild {
    /// `+cuXYZ`: built for CUDA X.Y (`cu118` 11.8, `cu128` 12.8, `cu130` 13.0).
    Cuda(CudaVersion),
    /// `+cpu`: no CUDA.
    Cpu,
    /// No local label (PyPI's own wheels), or one that names no CUDA
    /// (`+rocm6.2`, `+git1234`).
    Unlabelled,
}

/// Read the CUDA build from a torch version's local label: the inverse of
/// [`cu_tag`] (the last digit is the minor: `cu118` is 11.8, `cu121` 12.1).
pub fn torch_build(version: &str) -> TorchBuild {
    let Some((_, local)) = version.trim().split_once('+') else {
        return TorchBuild::Unlabelled;
    };
    let local = local.to_ascii_lowercase();
    if local == "cpu" {
        return TorchBuild::Cpu;
    }
    let Some(digits) = local.strip_prefix("cu") else {
        return TorchBuild::Unlabelled;
    };
    if digits.len() < 2 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return TorchBuild::Unlabelled;
    }
    let (major, minor) = digits.split_at(digits.len() - 1);
    match (major.parse(), minor.parse()) {
        (Ok(major), Ok(minor)) => TorchBuild::Cuda(CudaVersion::new(major, minor)),
        _ => TorchBuild::Unlabelled,
    }
}

/// PyTorch's index for a CUDA variant: `https://download.pytorch.org/whl/cu128`.
pub fn pytorch_index_url(cuda: CudaVersion) -> String {
    format!("{PYTORCH_INDEX}/{}", cu_tag(cuda))
}

/// The PyTorch index to install a CUDA build of torch from, for a host whose
/// toolkit (or wanted CUDA) is `cuda` and, when known, torch release `torch`:
/// the newest published variant of the same major at or below `cuda`. Without
/// a torch version, any release wheelwright knows counts (newest release
/// first). `None` when PyTorch publishes nothing for that major at or below it.
pub fn index_for(cuda: CudaVersion, torch: Option<&str>) -> Option<(CudaVersion, String)> {
    let pick = |r: &TorchRelease| r.variant_for_toolkit(cuda);
    let variant = match torch.and_then(TorchRelease::find) {
        Some(r) => pick(r),
        None => TORCH_RELEASES.iter().rev().filter_map(pick).max(),
    }?;
    Some((variant, pytorch_index_url(variant)))
}

/// The `pip install` of a CUDA build of torch for nvcc's CUDA `cuda`: the
/// installed release `installed` (`2.8.0+cu128`) when PyTorch builds it for
/// that CUDA's major, else the newest release that PyTorch does build so;
/// its variant nearest the toolkit ([`TorchRelease::variant_for_major`]), so
/// the fix keeps the user's torch where it can rather than downgrading it;
/// pinned to the release, from its real index (never one that does not exist,
/// such as `cu122`). `None` when no release fits.
pub fn torch_install_command(cuda: CudaVersion, installed: Option<&str>) -> Option<String> {
    let release = installed
        .and_then(TorchRelease::find)
        .filter(|r| r.variant_for_major(cuda).is_some())
        .or_else(|| {
            TORCH_RELEASES
                .iter()
                .rev()
                .find(|r| r.variant_for_major(cuda).is_some())
        })?;
    let variant = release.variant_for_major(cuda)?;
    Some(format!(
        "pip install 'torch=={}.*' --index-url {}",
        release.minor,
        pytorch_index_url(variant)
    ))
}

/// The oldest Linux driver each CUDA toolkit (GA release) needs for full
/// support, newest first: (CUDA, driver).
pub const TOOLKIT_MIN_DRIVER: &[(&str, &str)] = &[
    ("13.2", "595.45.04"),
    ("13.1", "590.44.01"),
    ("13.0", "580.65.06"),
    ("12.9", "575.51.03"),
    ("12.8", "570.26"),
    ("12.6", "560.28.03"),
    ("12.5", "555.42.02"),
    ("12.4", "550.54.14"),
    ("12.3", "545.23.06"),
    ("12.2", "535.54.03"),
    ("12.1", "530.30.02"),
    ("12.0", "525.60.13"),
    ("11.8", "520.61.05"),
    ("11.7", "515.43.04"),
];

/// The driver floor of CUDA minor-version compatibility per major: a driver at
/// or above it runs code of any toolkit of that major (PTX that needs a newer
/// driver cannot be JIT-compiled).
pub const MINOR_COMPAT_MIN_DRIVER: &[(u32, &str)] =
    &[(13, "580.65.06"), (12, "525.60.13"), (11, "450.80.02")];

/// What NVIDIA's tables say about running a toolkit on a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverSupport {
    /// At or above the toolkit's own minimum.
    Full,
    /// Below the toolkit's minimum but at or above its major's
    /// minor-version-compatibility floor: compiles and runs, PTX of the newer
    /// toolkit cannot be JIT-compiled.
    MinorCompat,
    /// Below the floor: CUDA code of that toolkit cannot run on this driver.
    TooOld,
    /// The toolkit is not in the table.
    Unknown,
}

/// Compare two dotted driver versions numerically (`570.124.06 > 570.26`).
pub fn compare_driver(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.trim()
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

/// The minimum driver of toolkit `cuda` (its GA release); for a minor newer
/// than the table knows, `None`.
pub fn min_driver(cuda: CudaVersion) -> Option<&'static str> {
    TOOLKIT_MIN_DRIVER
        .iter()
        .find(|(c, _)| CudaVersion::parse(c) == Some(cuda))
        .map(|(_, d)| *d)
}

/// How well `driver` supports toolkit `cuda`.
pub fn driver_support(cuda: CudaVersion, driver: &str) -> DriverSupport {
    use std::cmp::Ordering::Less;
    if let Some(min) = min_driver(cuda) {
        if compare_driver(driver, min) != Less {
            return DriverSupport::Full;
        }
    }
    match MINOR_COMPAT_MIN_DRIVER
        .iter()
        .find(|(m, _)| *m == cuda.major)
    {
        Some((_, floor)) if compare_driver(driver, floor) != Less => {
            if min_driver(cuda).is_some() {
                DriverSupport::MinorCompat
            } else {
                DriverSupport::Unknown
            }
        }
        Some(_) => DriverSupport::TooOld,
        None => DriverSupport::Unknown,
    }
}

/// flash-attn's own publish matrix (`.github/workflows/publish.yml`), the
/// default of `plan --matrix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishMatrix {
    /// CPython versions.
    pub python: &'static [&'static str],
    /// torch minors.
    pub torch: &'static [&'static str],
    /// CUDA toolkits the wheels are compiled with.
    pub cuda: &'static [&'static str],
}

/// flash-attn's publish matrix; ABIs follow [`abis_to_build`].
pub const FLASH_ATTN_PUBLISH_MATRIX: PublishMatrix = PublishMatrix {
    python: &["3.10", "3.11", "3.12", "3.13"],
    torch: &["2.6", "2.7", "2.8", "2.9", "2.10"],
    cuda: &["12.9", "13.0"],
};

/// The C++ ABIs to build for a torch release, as flash-attn does: both up to
/// torch 2.6 (PyTorch's pip wheels use the old ABI, NGC containers the new
/// one), only the new one from 2.7 (PyTorch's wheels switched).
pub fn abis_to_build(release: &TorchRelease) -> &'static [bool] {
    if release.pip_cxx11_abi {
        &[true]
    } else {
        &[false, true]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> CudaVersion {
        CudaVersion::parse(s).unwrap()
    }

    #[test]
    fn every_row_parses_and_is_ordered() {
        for r in TORCH_RELEASES {
            assert_eq!(r.cuda_variants().len(), r.cuda.len(), "{}", r.minor);
            assert!(
                r.cuda_variants().windows(2).all(|w| w[0] < w[1]),
                "{}",
                r.minor
            );
            assert!(
                r.version.starts_with(&format!("{}.", r.minor)),
                "{}",
                r.minor
            );
            assert!(!r.pythons().is_empty(), "{}", r.minor);
        }
        for (c, d) in TOOLKIT_MIN_DRIVER {
            assert!(CudaVersion::parse(c).is_some() && d.contains('.'), "{c}");
        }
        assert!(TOOLKIT_MIN_DRIVER
            .windows(2)
            .all(|w| v(w[0].0) > v(w[1].0) && compare_driver(w[0].1, w[1].1).is_gt()));
    }

    #[test]
    fn finds_releases_by_any_spelling() {
        assert_eq!(TorchRelease::find("2.8.0+cu128").unwrap().minor, "2.8");
        assert_eq!(TorchRelease::find("2.10").unwrap().version, "2.10.0");
        assert!(TorchRelease::find("1.13").is_none());
        assert!(TorchRelease::find("nope").is_none());
        let r = TorchRelease::find("2.9").unwrap();
        assert!(r.supports_python("3.14") && !r.supports_python("3.9"));
        assert_eq!(r.pythons(), ["3.10", "3.11", "3.12", "3.13", "3.14"]);
    }

    #[test]
    fn torch_variant_for_a_toolkit_is_the_newest_not_newer_of_its_major() {
        let r = TorchRelease::find("2.9").unwrap();
        assert_eq!(r.variant_for_toolkit(v("12.9")), Some(v("12.8")));
        assert_eq!(r.variant_for_toolkit(v("13.0")), Some(v("13.0")));
        assert_eq!(r.variant_for_toolkit(v("12.4")), None);
        let r = TorchRelease::find("2.8").unwrap();
        assert_eq!(r.variant_for_toolkit(v("12.9")), Some(v("12.9")));
        assert_eq!(r.variant_for_toolkit(v("13.0")), None);
    }

    /// The hint that used to say `cu122`: PyTorch has no such index.
    #[test]
    fn index_hints_name_only_published_variants() {
        assert_eq!(
            index_for(v("12.2"), None).map(|(c, _)| c),
            Some(v("12.1")),
            "newest published variant at or below 12.2"
        );
        assert_eq!(
            index_for(v("12.2"), None).unwrap().1,
            "https://download.pytorch.org/whl/cu121"
        );
        assert_eq!(
            index_for(v("12.8"), Some("2.8.0")).unwrap().1,
            "https://download.pytorch.org/whl/cu128"
        );
        assert_eq!(index_for(v("13.0"), Some("2.8")), None);
        assert_eq!(index_for(v("10.2"), None), None);
    }

    #[test]
    fn install_commands_pin_a_release_that_has_the_index() {
        assert_eq!(
            torch_install_command(v("12.8"), Some("2.8.0+cu128")).unwrap(),
            "pip install 'torch==2.8.*' --index-url https://download.pytorch.org/whl/cu128"
        );
        // Issue 27 item 5: torch 2.9 has no CUDA 12 build at or below 12.2,
        // but its 12.6 build works with nvcc 12.2 (only the major must agree):
        // keep the user's torch, never downgrade it to 2.5.
        assert_eq!(
            torch_install_command(v("12.2"), Some("2.9.1")).unwrap(),
            "pip install 'torch==2.9.*' --index-url https://download.pytorch.org/whl/cu126"
        );
        // Torch built for CUDA 11.8 on a 12.2 toolkit: the same release for CUDA 12.
        assert_eq!(
            torch_install_command(v("12.2"), Some("2.7.1+cu118")).unwrap(),
            "pip install 'torch==2.7.*' --index-url https://download.pytorch.org/whl/cu126"
        );
        // A release without that major: the newest that has it.
        let newest = TORCH_RELEASES
            .iter()
            .rev()
            .find(|r| r.cuda_variants().iter().any(|c| c.major == 11))
            .unwrap();
        assert!(torch_install_command(v("11.8"), Some("2.11.0"))
            .unwrap()
            .starts_with(&format!("pip install 'torch=={}.*'", newest.minor)));
        assert_eq!(torch_install_command(v("10.2"), None), None);
    }

    #[test]
    fn driver_support_follows_nvidias_tables() {
        assert_eq!(driver_support(v("12.8"), "570.26"), DriverSupport::Full);
        assert_eq!(driver_support(v("12.8"), "570.124.06"), DriverSupport::Full);
        assert_eq!(
            driver_support(v("12.8"), "535.104.05"),
            DriverSupport::MinorCompat
        );
        assert_eq!(
            driver_support(v("13.0"), "575.57.08"),
            DriverSupport::TooOld
        );
        assert_eq!(
            driver_support(v("12.4"), "470.82.01"),
            DriverSupport::TooOld
        );
        assert_eq!(driver_support(v("13.0"), "580.95.05"), DriverSupport::Full);
        assert_eq!(driver_support(v("14.0"), "999.1"), DriverSupport::Unknown);
        assert!(compare_driver("570.124.06", "570.26").is_gt());
    }

    #[test]
    fn torchs_own_version_string_names_its_cuda() {
        let cuda = |v: &str| match torch_build(v) {
            TorchBuild::Cuda(c) => Some(c.to_string()),
            _ => None,
        };
        assert_eq!(cuda("2.7.1+cu118").as_deref(), Some("11.8"));
        assert_eq!(cuda("2.11.0+cu130").as_deref(), Some("13.0"));
        assert_eq!(cuda("2.8.0+cu128").as_deref(), Some("12.8"));
        assert_eq!(cuda("1.13.1+cu92").as_deref(), Some("9.2"));
        assert_eq!(torch_build("2.8.0+cpu"), TorchBuild::Cpu);
        for v in [
            "2.8.0",
            "2.8",
            "2.6.0+rocm6.2",
            "2.8.0+cu",
            "2.8.0+cu1x8",
            "2.8.0+git1",
        ] {
            assert_eq!(torch_build(v), TorchBuild::Unlabelled, "{v}");
        }
        assert_eq!(
            torch_build(&format!("2.8.0+{}", cu_tag(CudaVersion::new(12, 6)))),
            TorchBuild::Cuda(CudaVersion::new(12, 6))
        );
    }
}
