//! Which device code a wheel must carry, and whether it does.
//!
//! The required list comes from the user (`--require-archs "80;90"`,
//! `9.0+PTX` or `compute_90` for PTX) or from the build's `report.json` (the
//! plan's `-gencode` flags, else its arch list). For a fleet it is the matrix
//! cell's list, not the builder GPU's: an sm_80-only wheel published where
//! H100 users install it fails with `no kernel image is available`.
//!
//! A required `sm_90` is met by SASS for 9.0 (`sm_90`, or the `sm_90a`
//! cubin that runs on exactly 9.0); a required `sm_90a` only by `sm_90a`.
//! PTX does not stand in for missing SASS.
//!
//! flash-attn's own release wheels carry a fixed arch set per version (its
//! `setup.py` default `FLASH_ATTN_CUDA_ARCHS=80;90;100;120`, gated by the
//! CUDA of its release workflow, `.github/workflows/publish.yml` at the
//! tag): `FLASH_ATTN_OFFICIAL`. A wheel published under flash-attn's asset
//! name must carry at least that set (`official_arch_gap`).

use serde::{Deserialize, Serialize};

use super::fatbin::{CodeKind, DeviceCode};
use wheelwright_base::archs::{Arch, ArchError};

/// The device code a wheel must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredArchs {
    /// SASS (cubin) architectures, nvcc spelling (`sm_80`).
    pub sass: Vec<String>,
    /// PTX architectures (`compute_90`).
    pub ptx: Vec<String>,
    /// Where the list came from (`--require-archs`, `report.json plan`).
    pub source: String,
}

/// A required arch list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequiredArchsError {
    /// An entry is not an architecture.
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// The list is empty.
    #[error("the required arch list is empty")]
    Empty,
    /// The report has no plan to take archs from.
    #[error("the report has no plan, so it names no archs")]
    NoPlan,
}

impl RequiredArchs {
    /// Parse `80;90`, `8.0,9.0a`, `sm_80 sm_90`, `9.0+PTX` (SASS and PTX),
    /// `compute_90` (PTX only).
    pub fn parse(list: &str, source: &str) -> Result<RequiredArchs, RequiredArchsError> {
        let mut sass = Vec::new();
        let mut ptx = Vec::new();
        for item in list.split([',', ';', ' ']).map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let lower = item.to_ascii_lowercase();
            let arch = Arch::parse(item)?;
            if lower.starts_with("compute_") {
                ptx.push(arch);
            } else {
                sass.push(arch);
                if lower.ends_with("+ptx") {
                    ptx.push(arch);
                }
            }
        }
        if sass.is_empty() && ptx.is_empty() {
            return Err(RequiredArchsError::Empty);
        }
        Ok(Self::from_archs(sass, ptx, source))
    }

    fn from_archs(mut sass: Vec<Arch>, mut ptx: Vec<Arch>, source: &str) -> RequiredArchs {
        sass.sort();
        sass.dedup();
        ptx.sort();
        ptx.dedup();
        RequiredArchs {
            sass: sass.iter().map(Arch::sm).collect(),
            ptx: ptx
                .iter()
                .map(|a| format!("compute_{}", a.compact()))
                .collect(),
            source: source.to_string(),
        }
    }

    /// The archs a build compiles: each `-gencode arch=compute_X,code=Y` of
    /// `gencode_flags` (`code=sm_X` is SASS, `code=compute_X` PTX, `code=[a,b]`
    /// both), else `archs` as SASS; `source` says where the list came from
    /// (a plan's `gencode_flags` and `archs`).
    pub fn from_gencodes(
        gencode_flags: &[String],
        archs: &[String],
        source: &str,
    ) -> Result<RequiredArchs, RequiredArchsError> {
        let mut sass = Vec::new();
        let mut ptx = Vec::new();
        for flag in gencode_flags {
            let Some((_, codes)) = flag.split_once("code=") else {
                continue;
            };
            for code in codes.trim_matches(['[', ']', '"', '\'']).split(',') {
                let code = code.trim();
                let arch = Arch::parse(code)?;
                if code.starts_with("compute_") {
                    ptx.push(arch);
                } else {
                    sass.push(arch);
                }
            }
        }
        if sass.is_empty() && ptx.is_empty() {
            for a in archs {
                sass.push(Arch::parse(a)?);
            }
        }
        if sass.is_empty() && ptx.is_empty() {
            return Err(RequiredArchsError::Empty);
        }
        Ok(Self::from_archs(sass, ptx, source))
    }
}

/// One binary's device code against the required list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ArchComparison {
    /// Required and absent: the check fails.
    pub missing: Vec<String>,
    /// Present and not required: listed, not failed.
    pub extra: Vec<String>,
}

/// Compare the device code of one binary with `required`.
pub(crate) fn compare_archs(code: &[DeviceCode], required: &RequiredArchs) -> ArchComparison {
    let parse_all = |names: &[String]| -> Vec<Arch> {
        names.iter().filter_map(|n| Arch::parse(n).ok()).collect()
    };
    let have = |kind: CodeKind| -> Vec<Arch> {
        let mut v: Vec<Arch> = code
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.arch)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut out = ArchComparison::default();
    for (kind, want) in [
        (CodeKind::Sass, parse_all(&required.sass)),
        (CodeKind::Ptx, parse_all(&required.ptx)),
    ] {
        let got = have(kind);
        let name = |a: &Arch| DeviceCode { kind, arch: *a }.name();
        for w in &want {
            if !got.iter().any(|g| meets(*g, *w)) {
                out.missing.push(name(w));
            }
        }
        for g in &got {
            if !want.iter().any(|w| meets(*g, *w)) {
                out.extra.push(name(g));
            }
        }
    }
    out
}

/// Whether code built for `have` serves a requirement for `want`.
fn meets(have: Arch, want: Arch) -> bool {
    (have.major, have.minor) == (want.major, want.minor)
        && (want.suffix.is_none() || want.suffix == have.suffix)
}

/// The arch set of one flash-attn release's own wheels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OfficialArchs {
    /// The flash-attn version (public, no local label).
    pub version: &'static str,
    /// The CUDA its release workflow built with.
    pub cuda: &'static str,
    /// SASS archs in every wheel of the release (no PTX).
    pub sass: &'static [&'static str],
}

/// The SASS of flash-attn's 2.8 release wheels (`setup.py`'s arch list for
/// CUDA 12.8 and later).
const FLASH_ATTN_2_8_SASS: &[&str] = &["sm_80", "sm_90", "sm_100", "sm_120"];

/// flash-attn releases whose wheels' archs were read from the tag's
/// `setup.py` and `publish.yml` (github.com/Dao-AILab/flash-attention).
pub(crate) const FLASH_ATTN_OFFICIAL: &[OfficialArchs] = &[
    OfficialArchs {
        version: "2.7.4",
        cuda: "12.4.1",
        sass: &["sm_80", "sm_90"],
    },
    OfficialArchs {
        version: "2.8.0",
        cuda: "12.9.0",
        sass: FLASH_ATTN_2_8_SASS,
    },
    OfficialArchs {
        version: "2.8.1",
        cuda: "12.9.1",
        sass: FLASH_ATTN_2_8_SASS,
    },
    OfficialArchs {
        version: "2.8.2",
        cuda: "12.9.1",
        sass: FLASH_ATTN_2_8_SASS,
    },
    OfficialArchs {
        version: "2.8.3",
        cuda: "12.9.1",
        sass: FLASH_ATTN_2_8_SASS,
    },
    OfficialArchs {
        version: "2.8.3.post1",
        cuda: "12.9.1",
        sass: FLASH_ATTN_2_8_SASS,
    },
];

/// The official arch set of flash-attn `version` (a local label is ignored).
pub(crate) fn flash_attn_official_archs(version: &str) -> Option<&'static OfficialArchs> {
    let public = version.split('+').next().unwrap_or(version);
    FLASH_ATTN_OFFICIAL.iter().find(|o| o.version == public)
}

/// Whether a wheel may go out under flash-attn's own asset name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum OfficialArchVerdict {
    /// Every binary with device code carries the official set.
    Meets {
        /// The official set.
        required: Vec<String>,
    },
    /// Some official archs are missing: publish under a local label that
    /// says so, or to a private index.
    Missing {
        /// The official set.
        required: Vec<String>,
        /// What the wheel lacks.
        missing: Vec<String>,
    },
    /// No official set is known for this version.
    UnknownVersion {
        /// The version asked about.
        version: String,
    },
}

/// Compare the device code of a wheel's binaries with the official set of
/// flash-attn `version`: what a publisher calls before using flash-attn's
/// asset name.
pub(crate) fn official_arch_gap(
    binaries: &[Vec<DeviceCode>],
    version: &str,
) -> OfficialArchVerdict {
    let Some(official) = flash_attn_official_archs(version) else {
        return OfficialArchVerdict::UnknownVersion {
            version: version.to_string(),
        };
    };
    let required = RequiredArchs {
        sass: official.sass.iter().map(|s| s.to_string()).collect(),
        ptx: Vec::new(),
        source: format!("flash-attn {} release wheels", official.version),
    };
    let mut missing: Vec<String> = binaries
        .iter()
        .filter(|code| !code.is_empty())
        .flat_map(|code| compare_archs(code, &required).missing)
        .collect();
    if binaries.iter().all(Vec::is_empty) {
        missing = required.sass.clone();
    }
    missing.sort_by_key(|m| Arch::parse(m).ok());
    missing.dedup();
    if missing.is_empty() {
        OfficialArchVerdict::Meets {
            required: required.sass,
        }
    } else {
        OfficialArchVerdict::Missing {
            required: required.sass,
            missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(list: &[(CodeKind, &str)]) -> Vec<DeviceCode> {
        list.iter()
            .map(|(kind, a)| DeviceCode {
                kind: *kind,
                arch: Arch::parse(a).unwrap(),
            })
            .collect()
    }

    #[test]
    fn parses_sass_and_ptx_spellings() {
        let r = RequiredArchs::parse("90;8.0, 9.0+PTX compute_100", "test").unwrap();
        assert_eq!(r.sass, ["sm_80", "sm_90"]);
        assert_eq!(r.ptx, ["compute_90", "compute_100"]);
        assert!(RequiredArchs::parse(" ; ", "t").is_err());
        assert!(RequiredArchs::parse("80;nine", "t").is_err());
    }

    #[test]
    fn a_wheel_for_90_fails_a_requirement_of_80_and_90() {
        use CodeKind::*;
        let only_90 = code(&[(Sass, "90"), (Ptx, "90")]);
        let r = RequiredArchs::parse("80;90", "t").unwrap();
        let c = compare_archs(&only_90, &r);
        assert_eq!(c.missing, ["sm_80"]);
        assert_eq!(c.extra, ["compute_90"]);
        // sm_90a runs on 9.0; sm_90 does not meet a required sm_90a.
        let a = code(&[(Sass, "90a")]);
        assert!(compare_archs(&a, &RequiredArchs::parse("90", "t").unwrap())
            .missing
            .is_empty());
        let plain = code(&[(Sass, "90")]);
        assert_eq!(
            compare_archs(&plain, &RequiredArchs::parse("90a", "t").unwrap()).missing,
            ["sm_90a"]
        );
    }

    #[test]
    fn official_flash_attn_set() {
        use CodeKind::*;
        assert_eq!(
            flash_attn_official_archs("2.8.3+cu12torch2.8cxx11abiTRUE")
                .unwrap()
                .sass,
            ["sm_80", "sm_90", "sm_100", "sm_120"]
        );
        let h200 = vec![code(&[(Sass, "90")])];
        assert_eq!(
            official_arch_gap(&h200, "2.8.3"),
            OfficialArchVerdict::Missing {
                required: vec![
                    "sm_80".into(),
                    "sm_90".into(),
                    "sm_100".into(),
                    "sm_120".into()
                ],
                missing: vec!["sm_80".into(), "sm_100".into(), "sm_120".into()],
            }
        );
        let full = vec![code(&[
            (Sass, "80"),
            (Sass, "90"),
            (Sass, "100"),
            (Sass, "120"),
        ])];
        assert!(matches!(
            official_arch_gap(&full, "2.8.3"),
            OfficialArchVerdict::Meets { .. }
        ));
        assert!(matches!(
            official_arch_gap(&full, "1.0.0"),
            OfficialArchVerdict::UnknownVersion { .. }
        ));
    }
}
