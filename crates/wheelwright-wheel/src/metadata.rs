//! The wheel's identity, three times: the PEP 427 file name, the `WHEEL`
//! file's `Tag:` lines and `METADATA`'s `Name:`/`Version:`. They must agree,
//! names compared normalized (PEP 503) and versions as PEP 440 versions
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

use crate::file::WheelName;
use wheelwright_base::finding::{Finding, Severity};

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

/// The header fields of an email-style file (`METADATA`, `WHEEL`): `(key, value)`
/// in order, up to the first blank line; continuation lines joined.
pub(crate) fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
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
pub(crate) fn header<'a>(headers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// A project name normalized as PEP 503 says: lower case, runs of `-_.` as `-`.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
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

/// A tag component holds only `A-Z a-z 0-9 _` (and `.` between compressed
/// tags): anything else (a space, `+`, `/`) cannot be a tag.
pub(crate) fn valid_tag_component(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .split('.')
            .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// What the identity checks found and the facts behind them.
#[derive(Debug, Clone, PartialEq)]
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

    for (what, tag) in [
        ("python", &name.python_tag),
        ("abi", &name.abi_tag),
        ("platform", &name.platform_tag),
    ] {
        if !valid_tag_component(tag) {
            error(
                "wheel-tag-invalid",
                "Invalid tag in the file name",
                format!("the {what} tag `{tag}` holds characters a tag cannot have"),
                "tags hold only letters, digits and `_`; rebuild the wheel or fix its name",
            );
        }
    }
    let file_version = Version::from_str(&name.version);
    if let Err(e) = &file_version {
        error(
            "wheel-version-invalid",
            "The file name's version is not a PEP 440 version",
            format!("`{}`: {e}", name.version),
            "rename the wheel with a valid version",
        );
    }

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
        Some(n) if normalize_name(n) != normalize_name(&name.distribution) => error(
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
        let odd = name("flash_attn-2.8.3-cp312-cp312-linux x86+64.whl");
        let i = check_identity(
            &odd,
            WHEEL,
            "Name: flash_attn\nVersion: 2.8.3\n",
            Purpose::Local,
        );
        assert!(ids(&i).contains(&("wheel-tag-invalid", Severity::Error)));
    }

    #[test]
    fn names_normalize_and_tags_expand() {
        assert_eq!(normalize_name("Flash__Attn.x"), "flash-attn-x");
        let n = name("six-1.0-py2.py3-none-any.whl");
        assert_eq!(
            expand_tags(&n).into_iter().collect::<Vec<_>>(),
            ["py2-none-any", "py3-none-any"]
        );
    }
}
