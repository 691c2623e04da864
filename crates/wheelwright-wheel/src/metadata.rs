//! The wheel's identity, three times: the PEP 427 file name, the `WHEEL`
//! file's `Tag:` lines and `METADATA`'s `Name:`/`Version:`. They must agree,
//! names compared normalized (PEP 503, [`pep508_rs::PackageName`]) and versions as PEP 440 versions
//! (`pep440_rs`; local labels compare case-insensitively, so
//! `+cu13torch2.11cxx11abiTRUE` equals `+cu13torch2.11cxx11abitrue`).
//!
//! flash-attn's own release wheels are renamed after `bdist_wheel`: the file
//! name carries the local label, `METADATA` does not. pip installs such a
//! file from disk but refuses it from an index ("inconsistent version"), so
//! it is a warning for local use and an error for publishing to an index.

use std::collections::BTreeSet;
use std::str::FromStr;

use pep440_rs::Version;

use crate::file::{project_name, WheelName};
use wheelwright_base::finding::{Finding, Severity};

/// `METADATA` larger than this is refused, by `wheel check` and by the
/// publisher (a real one is a few KiB; one that embeds a long README, a few
/// hundred).
pub const MAX_METADATA_BYTES: u64 = 16 * 1024 * 1024;

/// Where the checked wheel is going.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Installed from a file or a GitHub release asset.
    #[default]
    Local,
    /// Published to an index (PEP 503 pages, PyPI-compatible upload), where
    /// pip compares the file name's version with `METADATA`'s.
    Index,
}

/// The header fields of an email-style file (`METADATA`, `WHEEL`,
/// `PKG-INFO`): `(key, value)` in order, up to the first blank line. A line
/// that starts with a space or a tab continues the value above it (RFC 822
/// folding, as `Description:` and long `Classifier:` values use it): kept,
/// joined with one space. The one header parser of the project (the
/// publisher reads [`CoreMetadata`] through it).
pub fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The first value of `key` (case-insensitive) in parsed headers.
pub fn header<'a>(headers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// The core metadata fields an index page and an upload need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoreMetadata {
    /// `Metadata-Version`, `2.1`.
    pub metadata_version: String,
    /// `Name` as written.
    pub name: String,
    /// `Version` as written.
    pub version: String,
    /// `Requires-Python`, `>=3.9`.
    pub requires_python: Option<String>,
}

impl CoreMetadata {
    /// The fields of a `METADATA` file ([`parse_headers`]; the first of
    /// each; empty when missing).
    pub fn parse(text: &str) -> CoreMetadata {
        let headers = parse_headers(text);
        let get = |key| header(&headers, key).unwrap_or_default().to_string();
        CoreMetadata {
            metadata_version: get("Metadata-Version"),
            name: get("Name"),
            version: get("Version"),
            requires_python: header(&headers, "Requires-Python")
                .filter(|v| !v.is_empty())
                .map(str::to_string),
        }
    }
}

/// The tags a file name's compressed tag sets stand for: `py2.py3-none-any`
/// is `py2-none-any` and `py3-none-any`. Sorted.
pub(crate) fn expand_tags(name: &WheelName) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for py in name.python_tag.split('.') {
        for abi in name.abi_tag.split('.') {
            for plat in name.platform_tag.split('.') {
                out.insert(format!("{py}-{abi}-{plat}"));
            }
        }
    }
    out
}

/// What the identity checks found and the facts behind them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Identity {
    /// `METADATA`'s `Name:`.
    pub metadata_name: Option<String>,
    /// `METADATA`'s `Version:`.
    pub metadata_version: Option<String>,
    /// `WHEEL`'s `Tag:` lines, sorted.
    pub wheel_tags: Vec<String>,
    /// Findings (errors and warnings).
    pub findings: Vec<Finding>,
}

/// Compare the file name with `WHEEL` and `METADATA` (their texts).
pub(crate) fn check_identity(
    name: &WheelName,
    wheel_text: &str,
    metadata_text: &str,
    purpose: Purpose,
) -> Identity {
    let mut findings = Vec::new();
    let mut error = |id: &str, title: &str, message: String, fix: &str| {
        findings.push(Finding::new(id, Severity::Error, title, message, fix));
    };

    // `WheelName::parse` checked the name's tags and version.
    let file_version = Version::from_str(&name.version);
    let wheel = parse_headers(wheel_text);
    let wheel_tags: BTreeSet<String> = wheel
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Tag"))
        .map(|(_, v)| v.clone())
        .collect();
    let name_tags = expand_tags(name);
    if wheel_tags != name_tags {
        error(
            "wheel-tags-mismatch",
            "WHEEL tags differ from the file name",
            format!(
                "the file name says {}, WHEEL says {}",
                join(&name_tags),
                join(&wheel_tags)
            ),
            "retag the wheel so its name and WHEEL agree (`wheel tags`, or rebuild)",
        );
    }

    let meta = parse_headers(metadata_text);
    let metadata_name = header(&meta, "Name").map(str::to_string);
    let metadata_version = header(&meta, "Version").map(str::to_string);
    match &metadata_name {
        None => error(
            "metadata-missing-field",
            "METADATA has no Name",
            "METADATA has no `Name:` field".into(),
            "rebuild the wheel",
        ),
        Some(n) if project_name(n) != Some(name.project()) => error(
            "metadata-name-mismatch",
            "METADATA's name differs from the file name",
            format!("file name `{}`, METADATA `{n}`", name.distribution),
            "rename the file after the project it holds",
        ),
        Some(_) => {}
    }
    match (&metadata_version, &file_version) {
        (None, _) => error(
            "metadata-missing-field",
            "METADATA has no Version",
            "METADATA has no `Version:` field".into(),
            "rebuild the wheel",
        ),
        (Some(v), Ok(fv)) => match Version::from_str(v) {
            Err(e) => error(
                "metadata-version-invalid",
                "METADATA's version is not a PEP 440 version",
                format!("`{v}`: {e}"),
                "rebuild the wheel",
            ),
            Ok(mv) if mv == *fv => {}
            Ok(mv) if !fv.local().is_empty() && mv == fv.clone().without_local() => {
                let message = format!(
                    "the file name says {}, METADATA says {v}: the local label was added \
                     to the file name after the build (as flash-attn's release workflow does)",
                    name.version
                );
                let fix = "build with the label in the version (FLASH_ATTN_LOCAL_VERSION, \
                           which `wheelwright build` sets), or publish the file only as a \
                           download, not to an index";
                let severity = match purpose {
                    Purpose::Local => Severity::Warning,
                    Purpose::Index => Severity::Error,
                };
                findings.push(Finding::new(
                    "metadata-version-without-local-label",
                    severity,
                    "METADATA's version lacks the file name's local label",
                    message
                        + if purpose == Purpose::Index {
                            "; pip refuses such a file from an index (inconsistent version)"
                        } else {
                            "; pip installs it from a file, but an index would be refused"
                        },
                    fix,
                ));
            }
            Ok(_) => error(
                "metadata-version-mismatch",
                "METADATA's version differs from the file name",
                format!("file name {}, METADATA {v}", name.version),
                "rebuild the wheel, or rename it after the version it holds",
            ),
        },
        (Some(_), Err(_)) => {}
    }
    Identity {
        metadata_name,
        metadata_version,
        wheel_tags: wheel_tags.into_iter().collect(),
        findings,
    }
}

fn join(tags: &BTreeSet<String>) -> String {
    if tags.is_empty() {
        "no tags".to_string()
    } else {
        tags.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_continuation_lines_and_stop_at_the_body() {
        let text = "Metadata-Version: 2.4\nName: flash_attn\nVersion: 2.8.3\nRequires-Python: >=3.9,\n  <3.14\nDescription: x\n  Version: 9\n\nVersion: 7\n";
        let m = CoreMetadata::parse(text);
        assert_eq!(
            (m.name.as_str(), m.version.as_str()),
            ("flash_attn", "2.8.3")
        );
        assert_eq!(m.requires_python.as_deref(), Some(">=3.9, <3.14"));
        assert_eq!(m.metadata_version, "2.4");
        let h = parse_headers(text);
        assert_eq!(header(&h, "description"), Some("x Version: 9"));
        assert_eq!(h.len(), 5);
    }

    const WHEEL: &str = "Wheel-Version: 1.0\nGenerator: setuptools (80.9.0)\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n\n";

    fn ids(i: &Identity) -> Vec<(&str, Severity)> {
        i.findings
            .iter()
            .map(|f| (f.id.as_str(), f.severity))
            .collect()
    }

    fn name(s: &str) -> WheelName {
        WheelName::parse(s).unwrap()
    }

    #[test]
    fn local_labels_compare_case_insensitively() {
        let n = name("flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl");
        let meta = "Metadata-Version: 2.4\nName: flash_attn\nVersion: 2.8.3+cu13torch2.11cxx11abitrue\n\nbody: x\n";
        let i = check_identity(&n, WHEEL, meta, Purpose::Index);
        assert!(i.findings.is_empty(), "{:?}", i.findings);
        assert_eq!(i.wheel_tags, ["cp312-cp312-linux_x86_64"]);
    }

    #[test]
    fn a_release_wheel_without_the_label_warns_locally_and_fails_for_an_index() {
        let n = name("flash_attn-2.8.3+cu12torch2.4cxx11abiFALSE-cp312-cp312-linux_x86_64.whl");
        let meta = "Name: flash-attn\nVersion: 2.8.3\n";
        let local = check_identity(&n, WHEEL, meta, Purpose::Local);
        assert_eq!(
            ids(&local),
            [("metadata-version-without-local-label", Severity::Warning)]
        );
        let index = check_identity(&n, WHEEL, meta, Purpose::Index);
        assert_eq!(
            ids(&index),
            [("metadata-version-without-local-label", Severity::Error)]
        );
    }

    #[test]
    fn other_disagreements_are_errors() {
        let n = name("flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl");
        let i = check_identity(
            &n,
            WHEEL,
            "Name: flash-attn\nVersion: 2.8.2\n",
            Purpose::Local,
        );
        assert_eq!(ids(&i), [("metadata-version-mismatch", Severity::Error)]);
        let i = check_identity(&n, WHEEL, "Name: other\nVersion: 2.8.3.0\n", Purpose::Local);
        assert_eq!(ids(&i), [("metadata-name-mismatch", Severity::Error)]);
        let wheel = WHEEL.replace("linux_x86_64", "manylinux_2_28_x86_64");
        let i = check_identity(
            &n,
            &wheel,
            "Name: flash_attn\nVersion: 2.8.3\n",
            Purpose::Local,
        );
        assert_eq!(ids(&i), [("wheel-tags-mismatch", Severity::Error)]);
        let i = check_identity(&n, WHEEL, "Name: _flash\nVersion: 2.8.3\n", Purpose::Local);
        assert_eq!(ids(&i), [("metadata-name-mismatch", Severity::Error)]);
    }

    #[test]
    fn tags_expand() {
        let n = name("six-1.0-py2.py3-none-any.whl");
        assert_eq!(
            expand_tags(&n).into_iter().collect::<Vec<_>>(),
            ["py2-none-any", "py3-none-any"]
        );
    }
}
