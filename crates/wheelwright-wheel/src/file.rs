//! Wheel files: the one parser of wheel file names the project has (`wheel
//! check`, `publish`, `plan --matrix --skip-published`, variant wheels), and
//! the size and sha256 a report and a publisher need.
//!
//! PEP 427: `{name}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl`,
//! e.g. `flash_attn-2.8.3+cu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl`;
//! and the wheel-variant form of PEP 825 (a draft), with a label after the
//! platform: `numpy-2.3.2-cp313-cp313t-musllinux_1_2_x86_64-x86_64_v3.whl`.
//!
//! Every part is checked, so a name that parses is safe to put in a path, a
//! URL or a web page: the name is a PEP 508 project name
//! ([`pep508_rs::PackageName`], which also normalizes it: the one
//! normalization the project uses), the version a PEP 440 version, a build
//! tag a digit then letters, digits, `_` or `.`, each tag letters, digits and
//! `_` (several joined by `.`, `py2.py3`), a variant label `[0-9a-z_.]+`.
//! With six parts, a third part that starts with a digit is a build tag (no
//! tag starts with one), else the sixth part is a variant label.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;
use serde::{Deserialize, Serialize};

/// Why a file name is not a wheel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{name}` is not a wheel file name ({why}); expected `name-version-pytag-abitag-platform.whl`"
)]
pub struct WheelNameError {
    /// The file name given, control characters escaped.
    pub name: String,
    /// What is wrong with it.
    pub why: String,
}

/// The parts of a wheel file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WheelName {
    /// The distribution name, as in the file name (`flash_attn`).
    pub distribution: String,
    /// The full version, local label included (`2.8.3+cu12torch2.4`).
    pub version: String,
    /// The optional build tag.
    pub build_tag: Option<String>,
    /// `cp312`, `py3`.
    pub python_tag: String,
    /// `cp312`, `abi3`, `none`.
    pub abi_tag: String,
    /// `linux_x86_64`, `manylinux_2_28_x86_64`.
    pub platform_tag: String,
    /// The variant label of a PEP 825 variant wheel (`x86_64_v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl WheelName {
    /// Parse a wheel file name (a bare name or a path; only the last component counts).
    pub fn parse(file_name: &str) -> Result<WheelName, WheelNameError> {
        let name = file_name.rsplit('/').next().unwrap_or(file_name);
        let err = |why: String| WheelNameError {
            name: name.escape_debug().to_string(),
            why,
        };
        let stem = name
            .strip_suffix(".whl")
            .ok_or_else(|| err("no .whl suffix".into()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("an empty component".into()));
        }
        let digit_first = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
        let (build_tag, tags, variant) = match parts.as_slice() {
            [_, _, py, abi, plat] => (None, [*py, *abi, *plat], None),
            [_, _, b, py, abi, plat] if digit_first(b) => (Some(*b), [*py, *abi, *plat], None),
            [_, _, py, abi, plat, label] => (None, [*py, *abi, *plat], Some(*label)),
            [_, _, b, py, abi, plat, label] => (Some(*b), [*py, *abi, *plat], Some(*label)),
            _ => return Err(err("it needs 5 to 7 dash-separated components".into())),
        };
        let (distribution, version) = (parts[0], parts[1]);
        let shown = |s: &str| s.escape_debug().to_string();
        PackageName::from_str(distribution).map_err(|_| {
            err(format!(
                "`{}` is not a project name: letters, digits, and `.` or `_` between them (PEP 508)",
                shown(distribution)
            ))
        })?;
        Version::from_str(version)
            .map_err(|_| err(format!("`{}` is not a PEP 440 version", shown(version))))?;
        if let Some(b) = build_tag {
            let ok = digit_first(b)
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.');
            if !ok {
                return Err(err(format!(
                    "the build tag `{}` must be a digit, then letters, digits, `_` or `.`",
                    shown(b)
                )));
            }
        }
        for (what, tag) in ["python", "abi", "platform"].into_iter().zip(tags) {
            if !valid_tag(tag) {
                return Err(err(format!(
                    "the {what} tag `{}` holds characters a tag cannot have",
                    shown(tag)
                )));
            }
        }
        if let Some(label) = variant {
            let ok = label
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || c == b'_' || c == b'.');
            if !ok {
                return Err(err(format!(
                    "the variant label `{}` is not `[0-9a-z_.]+` (PEP 825)",
                    shown(label)
                )));
            }
        }
        Ok(WheelName {
            distribution: distribution.to_string(),
            version: version.to_string(),
            build_tag: build_tag.map(str::to_string),
            python_tag: tags[0].to_string(),
            abi_tag: tags[1].to_string(),
            platform_tag: tags[2].to_string(),
            variant: variant.map(str::to_string),
        })
    }

    /// The local version label, `cu12torch2.4cxx11abiTRUE` of `2.8.3+cu12torch2.4cxx11abiTRUE`.
    pub fn local_version(&self) -> Option<&str> {
        self.version.split_once('+').map(|(_, local)| local)
    }

    /// The public version, without the local label.
    pub fn public_version(&self) -> &str {
        self.version.split('+').next().unwrap_or(&self.version)
    }

    /// The project: the distribution name normalized (`Flash_Attn` →
    /// `flash-attn`), as indexes and `METADATA` comparisons use it.
    pub fn project(&self) -> PackageName {
        // `parse` checked it; a `WheelName` built by hand that is not a name
        // normalizes as far as it can.
        PackageName::from_str(&self.distribution)
            .unwrap_or_else(|_| lenient_project(&self.distribution))
    }

    /// The import-style name: the project with `_` (`flash-attn` → `flash_attn`),
    /// as wheel file names and `.dist-info` directories spell it.
    pub fn normalized_distribution(&self) -> String {
        self.project().as_dist_info_name().into_owned()
    }

    /// The file name: the parts joined again.
    pub fn file_name(&self) -> String {
        let mut parts: Vec<&str> = vec![&self.distribution, &self.version];
        parts.extend(self.build_tag.as_deref());
        parts.extend([
            self.python_tag.as_str(),
            self.abi_tag.as_str(),
            self.platform_tag.as_str(),
        ]);
        parts.extend(self.variant.as_deref());
        format!("{}.whl", parts.join("-"))
    }
}

/// A project name normalized (PEP 503), or `None` when it is not a PEP 508
/// name: [`pep508_rs::PackageName`], the one normalization everywhere.
pub fn project_name(name: &str) -> Option<PackageName> {
    PackageName::from_str(name.trim())
        .ok()
        .filter(|p| !p.as_ref().is_empty())
}

/// The import-style spelling of a project name (`flash_attn`), when it is one.
pub fn dist_info_name(name: &str) -> Option<String> {
    project_name(name).map(|p| p.as_dist_info_name().into_owned())
}

/// A name that is not a PEP 508 name, normalized as far as it goes (only
/// for a hand-built [`WheelName`]).
fn lenient_project(name: &str) -> PackageName {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    PackageName::from_str(cleaned.trim_matches('-'))
        .ok()
        .filter(|p| !p.as_ref().is_empty())
        .unwrap_or_else(|| PackageName::from_str("unnamed").expect("a valid name"))
}

/// A wheel tag component: letters, digits and `_`, several joined by `.`
/// (`py2.py3`): anything else (a space, `+`, `/`) cannot be a tag.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .split('.')
            .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// A built wheel as the report records it; the field names are a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WheelInfo {
    /// Where the wheel is.
    pub path: PathBuf,
    /// The file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl WheelInfo {
    /// Size and sha256 of the wheel at `path` (streamed, not read into memory).
    pub fn from_file(path: &Path) -> io::Result<WheelInfo> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let sha256 = wheelwright_base::digest::sha256_reader(&mut file)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(WheelInfo {
            path: path.to_path_buf(),
            name,
            size,
            sha256,
        })
    }

    /// The parsed file name, if it is a valid wheel name.
    pub fn parsed_name(&self) -> Result<WheelName, WheelNameError> {
        WheelName::parse(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_flash_attn_wheel_name() {
        let w = WheelName::parse(
            "dist/flash_attn-2.8.3+cu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl",
        )
        .unwrap();
        assert_eq!(w.distribution, "flash_attn");
        assert_eq!(w.version, "2.8.3+cu12torch2.4cxx11abiTRUE");
        assert_eq!(w.public_version(), "2.8.3");
        assert_eq!(w.local_version(), Some("cu12torch2.4cxx11abiTRUE"));
        assert_eq!(w.build_tag, None);
        assert_eq!(
            (
                w.python_tag.as_str(),
                w.abi_tag.as_str(),
                w.platform_tag.as_str()
            ),
            ("cp312", "cp312", "linux_x86_64")
        );
    }

    #[test]
    fn parses_a_build_tag_and_rejects_bad_names() {
        let w = WheelName::parse("pkg-1.0-1local-py3-none-any.whl").unwrap();
        assert_eq!(w.build_tag.as_deref(), Some("1local"));
        assert!(WheelName::parse("pkg-1.0-1-a-py3-none-any-x.whl").is_err());
        assert!(WheelName::parse("pkg-1.0-py3-none.whl").is_err());
        assert!(WheelName::parse("pkg-1.0-py3-none-any.tar.gz").is_err());
        assert!(WheelName::parse("pkg--1.0-py3-none-any.whl").is_err());
        let e = WheelName::parse("nope.whl").unwrap_err().to_string();
        assert!(e.contains("expected"), "{e}");
    }

    #[test]
    fn refuses_names_that_are_not_pep_427_508_440() {
        for bad in [
            "de<mo-1.0-py3-none-any.whl",
            "a b-1.0-py3-none-any.whl",
            "q\"uote-1.0-py3-none-any.whl",
            "it's-1.0-py3-none-any.whl",
            "_lead-1.0-py3-none-any.whl",
            "trail.-1.0-py3-none-any.whl",
            "pkg-1.0$(id)-py3-none-any.whl",
            "pkg-not.a.version-py3-none-any.whl",
            "pkg-1.0-1x!-py3-none-any.whl",
            "pkg-1.0-py3-none-linux_x86+64.whl",
            "pkg-1.0-py3-none-any-UPPER.whl",
            "pkg-1.0-py3-none-any-x86_64_v3-extra.whl",
            "pkg-1.0-py3-none-any\n.whl",
        ] {
            let e = WheelName::parse(bad).unwrap_err();
            assert!(!e.name.contains('\n'), "{e}");
            assert!(e.to_string().contains("is not a wheel file name"), "{e}");
        }
        let e = WheelName::parse("de<mo-1.0-py3-none-any.whl").unwrap_err();
        assert!(e.why.contains("`de<mo` is not a project name"), "{e}");
    }

    #[test]
    fn parses_the_variant_form_and_round_trips() {
        let w = WheelName::parse("numpy-2.3.2-cp313-cp313t-musllinux_1_2_x86_64-x86_64_v3.whl")
            .unwrap();
        assert_eq!(w.variant.as_deref(), Some("x86_64_v3"));
        assert_eq!(
            (w.build_tag.as_deref(), w.platform_tag.as_str()),
            (None, "musllinux_1_2_x86_64")
        );
        let b = WheelName::parse("pkg-1.0-7-py3-none-any-cu128.whl").unwrap();
        assert_eq!(
            (b.build_tag.as_deref(), b.variant.as_deref()),
            (Some("7"), Some("cu128"))
        );
        // Six parts whose third does not start with a digit: a label, not a build tag.
        let v = WheelName::parse("pkg-1.0-x-py3-none-any.whl").unwrap();
        assert_eq!(
            (v.python_tag.as_str(), v.variant.as_deref()),
            ("x", Some("any"))
        );
        for name in [
            "numpy-2.3.2-cp313-cp313t-musllinux_1_2_x86_64-x86_64_v3.whl",
            "pkg-1.0-7-py3-none-any-cu128.whl",
            "flash_attn-2.8.3+cu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl",
        ] {
            assert_eq!(WheelName::parse(name).unwrap().file_name(), name);
        }
    }

    #[test]
    fn normalizes_names_once() {
        let w = WheelName::parse("Flash__Attn.x-1.0-py3-none-any.whl").unwrap();
        assert_eq!(w.project().to_string(), "flash-attn-x");
        assert_eq!(w.normalized_distribution(), "flash_attn_x");
        assert_eq!(project_name("a.-_b").unwrap().to_string(), "a-b");
        // The normalizers used to disagree on these.
        assert_eq!(project_name("_a"), None);
        assert_eq!(project_name("a_"), None);
        assert_eq!(dist_info_name("Flash-Attn").as_deref(), Some("flash_attn"));
    }

    #[test]
    fn hashes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-1.0-py3-none-any.whl");
        std::fs::write(&p, b"abc").unwrap();
        let info = WheelInfo::from_file(&p).unwrap();
        assert_eq!(info.size, 3);
        assert_eq!(
            info.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(info.name, "x-1.0-py3-none-any.whl");
        assert_eq!(info.parsed_name().unwrap().distribution, "x");
    }
}
