//! Wheel files: the PEP 427 file name, and the size and sha256 a report and a
//! publisher need.
//!
//! `{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl`,
//! e.g. `flash_attn-2.8.3+cu12torch2.4cxx11abiTRUE-cp312-cp312-linux_x86_64.whl`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a file name is not a wheel name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "`{name}` is not a wheel file name ({why}); expected `name-version-pytag-abitag-platform.whl`"
)]
pub struct WheelNameError {
    /// The file name given.
    pub name: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// The parts of a PEP 427 wheel file name.
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
}

impl WheelName {
    /// Parse a wheel file name (a bare name or a path; only the last component counts).
    pub fn parse(file_name: &str) -> Result<WheelName, WheelNameError> {
        let name = file_name.rsplit('/').next().unwrap_or(file_name);
        let err = |why| WheelNameError {
            name: name.to_string(),
            why,
        };
        let stem = name
            .strip_suffix(".whl")
            .ok_or_else(|| err("no .whl suffix"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("an empty component"));
        }
        let (distribution, version, build_tag, tags) = match parts.as_slice() {
            [d, v, py, abi, plat] => (*d, *v, None, [*py, *abi, *plat]),
            [d, v, b, py, abi, plat] => {
                if !b.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(err("the build tag must start with a digit"));
                }
                (*d, *v, Some(b.to_string()), [*py, *abi, *plat])
            }
            _ => return Err(err("it needs 5 or 6 dash-separated components")),
        };
        Ok(WheelName {
            distribution: distribution.to_string(),
            version: version.to_string(),
            build_tag,
            python_tag: tags[0].to_string(),
            abi_tag: tags[1].to_string(),
            platform_tag: tags[2].to_string(),
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

    /// The import-style name: PEP 503 normalized, with `_` (`flash-attn` → `flash_attn`).
    pub fn normalized_distribution(&self) -> String {
        normalize_name(&self.distribution)
    }
}

/// PEP 503 name normalization with `_` as the separator, as wheel names use it.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('_');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
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
        assert!(WheelName::parse("pkg-1.0-x-py3-none-any.whl").is_err());
        assert!(WheelName::parse("pkg-1.0-py3-none.whl").is_err());
        assert!(WheelName::parse("pkg-1.0-py3-none-any.tar.gz").is_err());
        assert!(WheelName::parse("pkg--1.0-py3-none-any.whl").is_err());
        let e = WheelName::parse("nope.whl").unwrap_err().to_string();
        assert!(e.contains("expected"), "{e}");
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_name("Flash-Attn"), "flash_attn");
        assert_eq!(normalize_name("a.-_b"), "a_b");
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
