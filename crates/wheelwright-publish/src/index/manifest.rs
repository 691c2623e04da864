//! The manifest, `DIR/wheelwright-index.json`: every wheel the index lists,
//! the only record the pages are rebuilt from. It sits in a folder others
//! can write (a shared wheelhouse, a Pages checkout), so it is read as
//! untrusted data: a regular file of bounded size, and every row checked
//! ([`check_entry`]) before anything in the folder is touched. A row must be
//! what wheelwright itself writes: a PEP 427 file name of safe characters,
//! the project, version and variant label that name gives, lower-case hex
//! digests, an `http(s)` URL.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wheelwright_wheel::file::WheelName;

use super::{variant_label, IndexEntry};
use crate::PublishError;

/// The manifest's file name inside the index folder.
pub const MANIFEST_NAME: &str = "wheelwright-index.json";

/// The manifest's schema version.
const MANIFEST_SCHEMA: u32 = 1;

/// A manifest larger than this is refused (a row is about 500 bytes: 64 MiB
/// is over 100,000 wheels).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The manifest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version; [`Manifest::load`] refuses one it does not know.
    pub schema: u32,
    /// Every wheel listed, sorted by project and file name.
    pub files: Vec<IndexEntry>,
}

impl Manifest {
    /// Read `DIR/wheelwright-index.json`; an empty manifest when there is none.
    /// One that cannot be read, or any of whose rows fails [`check_entry`],
    /// is an error (rewriting it would drop or spread what it holds).
    pub fn load(dir: &Path) -> Result<Manifest, PublishError> {
        let path = dir.join(MANIFEST_NAME);
        let bad = |message: String| PublishError::BadManifest {
            path: path.clone(),
            message,
        };
        let io = |source| PublishError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    schema: MANIFEST_SCHEMA,
                    files: Vec::new(),
                })
            }
            Err(e) => return Err(io(e)),
            Ok(m) if !m.is_file() => {
                return Err(bad("not a regular file (a symlink, folder or pipe)".into()))
            }
            Ok(m) if m.len() > MAX_MANIFEST_BYTES => {
                return Err(bad(format!(
                    "{} bytes, more than the 64 MiB allowed",
                    m.len()
                )))
            }
            Ok(_) => {}
        }
        let mut text = String::new();
        std::fs::File::open(&path)
            .map_err(io)?
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(e.to_string()))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if m.schema != MANIFEST_SCHEMA {
            return Err(bad(format!(
                "schema {} (this wheelwright reads {MANIFEST_SCHEMA})",
                m.schema
            )));
        }
        let mut seen = BTreeSet::new();
        for (i, e) in m.files.iter().enumerate() {
            let row = |why: String| bad(format!("files[{i}] ({:?}): {why}", e.file));
            check_entry(e).map_err(row)?;
            if !seen.insert(e.file.as_str()) {
                return Err(row("listed twice".into()));
            }
        }
        Ok(m)
    }

    /// Write it to `DIR/wheelwright-index.json`, atomically.
    pub(super) fn save(&self, dir: &Path) -> Result<(), PublishError> {
        let path = dir.join(MANIFEST_NAME);
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| PublishError::BadManifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        wheelwright_base::safe_write::write_atomically(&path, &json)
            .map_err(|source| PublishError::Io { path, source })
    }
}

/// Refuse a bad manifest in `dir` (see [`Manifest::load`]) before a publish
/// does anything; a folder without one is fine.
pub fn check_manifest(dir: &Path) -> Result<(), PublishError> {
    Manifest::load(dir).map(drop)
}

/// Is `e` a row wheelwright would write? `Err` says what is wrong.
///
/// - `file`: a PEP 427 wheel name of ASCII letters, digits and `._+!-`
///   only (so one path component, no markup);
/// - `project`, `version`, `label`: what that name gives (the PEP 503
///   project, the version, the local label as a folder name);
/// - `sha256`, `metadata_sha256`: 64 lower-case hex digits;
/// - `url`: an `http://` or `https://` URL with a host, without
///   whitespace, quotes, angle brackets or control characters;
/// - `requires_python`: no control characters;
/// - `variant`: present exactly for a PEP 825 variant wheel, valid, and
///   describing that file name's label alone.
pub fn check_entry(e: &IndexEntry) -> Result<(), String> {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '!' | '-');
    if !e.file.chars().all(safe) || e.file.starts_with('.') {
        return Err("the file name holds characters a wheel name has not".into());
    }
    let name = WheelName::parse(&e.file).map_err(|err| err.to_string())?;
    let project = name.project().to_string();
    if e.project != project {
        return Err(format!(
            "project {:?} is not the file's ({project:?})",
            e.project
        ));
    }
    if e.version != name.version {
        return Err(format!(
            "version {:?} is not the file's ({:?})",
            e.version, name.version
        ));
    }
    let label = name.local_version().map(variant_label).transpose()?;
    if e.label != label {
        let show = |l: &Option<String>| l.as_ref().map_or("none".into(), |l| format!("{l:?}"));
        return Err(format!(
            "label {} is not the file's ({})",
            show(&e.label),
            show(&label)
        ));
    }
    match (&name.variant, &e.variant) {
        (None, None) => {}
        (Some(label), Some(doc)) => {
            doc.validate().map_err(|err| err.to_string())?;
            if doc.variants.len() != 1 || !doc.variants.contains_key(label) {
                return Err(format!(
                    "its variant.json must describe exactly the variant `{label}` of the file name"
                ));
            }
        }
        (Some(_), None) => return Err("a variant wheel without its variant.json".into()),
        (None, Some(_)) => return Err("variant.json for a wheel without a variant label".into()),
    }
    let hex = |what: &str, v: &str| {
        if v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(())
        } else {
            Err(format!("{what} {v:?} is not 64 lower-case hex digits"))
        }
    };
    hex("sha256", &e.sha256)?;
    if let Some(m) = &e.metadata_sha256 {
        hex("metadata_sha256", m)?;
    }
    if let Some(url) = &e.url {
        check_url(url)?;
    }
    if let Some(rp) = &e.requires_python {
        if rp.chars().any(char::is_control) {
            return Err(format!("requires_python {rp:?} holds control characters"));
        }
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host, and none of the characters
/// that could leave an HTML attribute or a line (whitespace, quotes, angle
/// brackets, backquote, control characters: none is valid in a URL anyway).
pub fn check_url(url: &str) -> Result<(), String> {
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
    {
        return Err(format!("URL {url:?} holds characters a URL has not"));
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!("{url:?} is not an http:// or https:// URL")),
    }
}

/// The folder of the variant page that lists `entry` (a checked entry).
pub(super) fn page_dir(dir: &Path, entry: &IndexEntry) -> PathBuf {
    match &entry.label {
        Some(label) => dir.join(label).join("simple").join(&entry.project),
        None => dir.join("simple").join(&entry.project),
    }
}
