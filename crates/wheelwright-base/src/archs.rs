//! CUDA architectures: parsing the ways people write them, what a toolkit can
//! build, and how flash-attn turns its arch list into `-gencode` flags.
//!
//! Accepted spellings: `80`, `8.0`, `sm_80`, `compute_80`, `90a`, `9.0a`,
//! `8.6+PTX`, in lists separated by `,`, `;` or spaces. The toolkit table comes
//! from NVIDIA's release notes: sm_80 needs CUDA 11.0, sm_86 11.1, sm_87 11.4,
//! sm_89 and sm_90 11.8, sm_100/sm_101/sm_120 12.8, sm_103/sm_121 12.9, sm_110
//! 13.0; CUDA 12 dropped Kepler (sm_3x) and CUDA 13 dropped sm_50 … sm_72 (and
//! renamed sm_101 to sm_110).

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A CUDA version as `major.minor`, ordered numerically (`12.10 > 12.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CudaVersion {
    /// `12` in 12.8.
    pub major: u32,
    /// `8` in 12.8.
    pub minor: u32,
}

impl CudaVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        CudaVersion { major, minor }
    }

    /// `12.2`, `12.2.140`, `V12.2.140`, `cu122`-free forms; `None` if not a version.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().trim_start_matches(['V', 'v']);
        let mut parts = t.split('.');
        let major = parts.next()?.trim().parse().ok()?;
        let minor = match parts.next() {
            Some(m) => m.trim().parse().ok()?,
            None => 0,
        };
        Some(CudaVersion { major, minor })
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One GPU architecture (compute capability), e.g. 8.0, 9.0a.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arch {
    /// `9` in sm_90.
    pub major: u32,
    /// `0` in sm_90.
    pub minor: u32,
    /// `a` (arch-specific features) or `f` (family), as in `sm_90a`.
    pub suffix: Option<char>,
}

impl PartialOrd for Arch {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Arch {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.suffix).cmp(&(other.major, other.minor, other.suffix))
    }
}

/// An arch we could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CUDA architecture; write e.g. `80`, `8.0`, `sm_80` or `9.0a`")]
pub struct ArchError(pub String);

impl Arch {
    /// `major.minor` without a suffix.
    pub const fn new(major: u32, minor: u32) -> Self {
        Arch {
            major,
            minor,
            suffix: None,
        }
    }

    /// Parse one arch in any accepted spelling (a `+PTX` tail is ignored here).
    pub fn parse(text: &str) -> Result<Self, ArchError> {
        let err = || ArchError(text.to_string());
        let mut t = text.trim().to_ascii_lowercase();
        if let Some(stripped) = t.strip_suffix("+ptx") {
            t = stripped.to_string();
        }
        let t = t
            .strip_prefix("sm_")
            .or_else(|| t.strip_prefix("compute_"))
            .unwrap_or(&t);
        let (body, suffix) = match t.chars().last() {
            Some(c @ ('a' | 'f')) => (&t[..t.len() - 1], Some(c)),
            _ => (t, None),
        };
        let (major, minor) = if let Some((ma, mi)) = body.split_once('.') {
            let major: u32 = ma.parse().map_err(|_| err())?;
            if mi.len() != 1 {
                return Err(err());
            }
            (major, mi.parse().map_err(|_| err())?)
        } else {
            if !(2..=3).contains(&body.len()) || !body.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let (ma, mi) = body.split_at(body.len() - 1);
            (
                ma.parse().map_err(|_| err())?,
                mi.parse().map_err(|_| err())?,
            )
        };
        if !(1..=99).contains(&major) {
            return Err(err());
        }
        Ok(Arch {
            major,
            minor,
            suffix,
        })
    }

    /// From a GPU's `"major.minor"` compute capability.
    pub fn from_compute_capability(cc: &str) -> Option<Self> {
        Arch::parse(cc).ok()
    }

    /// flash-attn's spelling: `80`, `90a`.
    pub fn compact(&self) -> String {
        let s = self.suffix.map(String::from).unwrap_or_default();
        format!("{}{}{s}", self.major, self.minor)
    }

    /// torch's spelling in `TORCH_CUDA_ARCH_LIST`: `8.0`, `9.0a`.
    pub fn dotted(&self) -> String {
        let s = self.suffix.map(String::from).unwrap_or_default();
        format!("{}.{}{s}", self.major, self.minor)
    }

    /// `sm_80`.
    pub fn sm(&self) -> String {
        format!("sm_{}", self.compact())
    }

    /// The oldest CUDA that builds this arch, `None` for an arch we do not know.
    pub fn min_cuda(&self) -> Option<CudaVersion> {
        let base = match (self.major, self.minor) {
            (3, 5 | 7) | (5, 0 | 2 | 3) | (6, 0..=2) | (7, 0 | 2) => CudaVersion::new(9, 0),
            (7, 5) => CudaVersion::new(10, 0),
            (8, 0) => CudaVersion::new(11, 0),
            (8, 6) => CudaVersion::new(11, 1),
            (8, 7) => CudaVersion::new(11, 4),
            (8, 9) | (9, 0) => CudaVersion::new(11, 8),
            (10, 0) | (10, 1) | (12, 0) => CudaVersion::new(12, 8),
            (10, 3) | (12, 1) => CudaVersion::new(12, 9),
            (11, 0) => CudaVersion::new(13, 0),
            _ => return None,
        };
        Some(match self.suffix {
            Some('a') => base.max(CudaVersion::new(12, 0)),
            Some('f') => base.max(CudaVersion::new(12, 9)),
            _ => base,
        })
    }

    /// The first CUDA major that no longer builds this arch, if any.
    pub fn dropped_in_cuda_major(&self) -> Option<u32> {
        match (self.major, self.minor) {
            (3, _) => Some(12),
            (5, _) | (6, _) | (7, 0 | 2) | (10, 1) => Some(13),
            _ => None,
        }
    }

    /// Why `cuda` cannot build this arch, or `None` if it can.
    pub fn unsupported_by(&self, cuda: CudaVersion) -> Option<String> {
        let Some(min) = self.min_cuda() else {
            return Some(format!(
                "{} is not an architecture wheelwright knows",
                self.sm()
            ));
        };
        if cuda < min {
            return Some(format!("{} needs CUDA {min} or newer", self.sm()));
        }
        if let Some(major) = self.dropped_in_cuda_major() {
            if cuda.major >= major {
                return Some(format!("CUDA {major} dropped {}", self.sm()));
            }
        }
        None
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sm())
    }
}

/// Parse `80,90`, `8.0;9.0`, `sm_80 sm_90`; sorted, duplicates removed.
pub fn parse_arch_list(text: &str) -> Result<Vec<Arch>, ArchError> {
    let mut archs = text
        .split([',', ';', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Arch::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if archs.is_empty() {
        return Err(ArchError(text.to_string()));
    }
    archs.sort();
    archs.dedup();
    Ok(archs)
}

/// `TORCH_CUDA_ARCH_LIST`: `8.0;9.0+PTX` (PTX for the newest, so newer GPUs can
/// JIT it).
pub fn torch_arch_list(archs: &[Arch]) -> String {
    let n = archs.len();
    archs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i + 1 == n {
                format!("{}+PTX", a.dotted())
            } else {
                a.dotted()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// The archs flash-attn 2.x's `setup.py` knows (`cc_flag` entries); anything
/// else in `FLASH_ATTN_CUDA_ARCHS` is silently ignored by it.
pub const FLASH_ATTN_KNOWN: [Arch; 4] = [
    Arch::new(8, 0),
    Arch::new(9, 0),
    Arch::new(10, 0),
    Arch::new(12, 0),
];

/// The flash-attn arch whose SASS runs on a GPU of `arch`: a cubin runs on
/// any GPU of the same major with an equal or higher minor, so 8.6 and 8.9
/// run sm_80 code, 10.3 runs sm_100 and 12.1 runs sm_120. `None` below 8.0
/// (FA2 needs Ampere) and for majors flash-attn does not build.
pub fn flash_attn_arch_for(arch: Arch) -> Option<Arch> {
    FLASH_ATTN_KNOWN
        .iter()
        .copied()
        .find(|k| k.major == arch.major && k.minor <= arch.minor)
}

/// The `-gencode` values flash-attn 2.8.3's `setup.py` emits for `archs`
/// (already flash-attn spellings) with nvcc `cuda`: `80` always, `90` only
/// with CUDA ≥ 11.8, `100` and `120` only with CUDA ≥ 12.8; nothing else.
/// Without a known CUDA every known arch counts.
pub fn flash_attn_gencodes(archs: &[Arch], cuda: Option<CudaVersion>) -> Vec<String> {
    let gate = |min: CudaVersion| cuda.is_none_or(|c| c >= min);
    let mut out = Vec::new();
    for (arch, min) in [
        (Arch::new(8, 0), CudaVersion::new(0, 0)),
        (Arch::new(9, 0), CudaVersion::new(11, 8)),
        (Arch::new(10, 0), CudaVersion::new(12, 8)),
        (Arch::new(12, 0), CudaVersion::new(12, 8)),
    ] {
        if archs.contains(&arch) && gate(min) {
            let n = arch.compact();
            out.push(format!("arch=compute_{n},code=sm_{n}"));
        }
    }
    out
}

/// The `-gencode` values torch's `_get_cuda_arch_flags` emits for
/// `TORCH_CUDA_ARCH_LIST` = [`torch_arch_list`]: SASS for each arch plus PTX
/// for the newest.
pub fn torch_gencodes(archs: &[Arch]) -> Vec<String> {
    let mut out: Vec<String> = archs
        .iter()
        .map(|a| format!("arch=compute_{0},code=sm_{0}", a.compact()))
        .collect();
    if let Some(last) = archs.last() {
        out.push(format!("arch=compute_{0},code=compute_{0}", last.compact()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        for s in ["80", "8.0", "sm_80", "compute_80", "SM_80", "8.0+PTX"] {
            assert_eq!(Arch::parse(s).unwrap(), Arch::new(8, 0), "{s}");
        }
        assert_eq!(Arch::parse("120").unwrap(), Arch::new(12, 0));
        assert_eq!(Arch::parse("10.3").unwrap(), Arch::new(10, 3));
        let a = Arch::parse("sm_90a").unwrap();
        assert_eq!((a.major, a.minor, a.suffix), (9, 0, Some('a')));
        assert_eq!(a.dotted(), "9.0a");
        for bad in ["", "8", "sm_", "eighty", "8.10", "1234", "0.0"] {
            assert!(Arch::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_lists_sorted_and_deduplicated() {
        let want = vec![Arch::new(8, 0), Arch::new(9, 0)];
        assert_eq!(parse_arch_list("90,80").unwrap(), want);
        assert_eq!(parse_arch_list("8.0;9.0;9.0").unwrap(), want);
        assert_eq!(parse_arch_list("sm_80 sm_90").unwrap(), want);
        assert!(parse_arch_list(" ; ").is_err());
    }

    #[test]
    fn toolkit_support() {
        let v = CudaVersion::parse;
        assert!(Arch::new(10, 0)
            .unsupported_by(v("12.6").unwrap())
            .is_some());
        assert!(Arch::new(10, 0)
            .unsupported_by(v("12.8").unwrap())
            .is_none());
        assert!(Arch::new(12, 0)
            .unsupported_by(v("13.0").unwrap())
            .is_none());
        assert!(Arch::new(7, 0).unsupported_by(v("13.0").unwrap()).is_some());
        assert!(Arch::new(7, 0).unsupported_by(v("12.4").unwrap()).is_none());
        assert!(Arch::new(7, 5).unsupported_by(v("13.0").unwrap()).is_none());
        assert!(Arch::new(9, 0).unsupported_by(v("11.7").unwrap()).is_some());
        assert!(Arch::new(8, 9).unsupported_by(v("11.8").unwrap()).is_none());
        assert!(Arch::new(8, 0).unsupported_by(v("11.0").unwrap()).is_none());
        assert!(Arch::new(8, 8).unsupported_by(v("13.0").unwrap()).is_some());
        assert_eq!(
            v("12.10").unwrap().cmp(&v("12.9").unwrap()),
            Ordering::Greater
        );
    }

    #[test]
    fn torch_list_has_ptx_for_the_newest() {
        let archs = parse_arch_list("90,80").unwrap();
        assert_eq!(torch_arch_list(&archs), "8.0;9.0+PTX");
        assert_eq!(torch_gencodes(&archs).len(), 3);
    }

    #[test]
    fn flash_attn_gencodes_follow_setup_py() {
        let all = FLASH_ATTN_KNOWN.to_vec();
        let n = |cuda: &str| flash_attn_gencodes(&all, CudaVersion::parse(cuda)).len();
        assert_eq!(n("11.7"), 1);
        assert_eq!(n("12.2"), 2);
        assert_eq!(n("12.8"), 4);
        assert_eq!(n("13.0"), 4);
        assert_eq!(flash_attn_gencodes(&all, None).len(), 4);
        // An arch setup.py does not know adds no gencode.
        assert!(flash_attn_gencodes(&[Arch::new(8, 6)], None).is_empty());
    }

    #[test]
    fn gpus_map_to_flash_attn_archs() {
        let f = |cc: &str| flash_attn_arch_for(Arch::parse(cc).unwrap()).map(|a| a.compact());
        assert_eq!(f("8.0").as_deref(), Some("80"));
        assert_eq!(f("8.6").as_deref(), Some("80"));
        assert_eq!(f("8.9").as_deref(), Some("80"));
        assert_eq!(f("9.0").as_deref(), Some("90"));
        assert_eq!(f("10.3").as_deref(), Some("100"));
        assert_eq!(f("12.1").as_deref(), Some("120"));
        assert_eq!(f("7.5"), None);
        assert_eq!(f("11.0"), None);
    }
}
