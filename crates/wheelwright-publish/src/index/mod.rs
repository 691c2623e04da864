//! A static PEP 503 index for GitHub Pages or any static host, with one root
//! per variant.
//!
//! pip installs the highest local version label, not the one that matches the
//! installed torch: with every variant on one page, `pip install
//! flash-attn==2.8.3` takes whichever label sorts last. So the tree is
//!
//! ```text
//! DIR/index.html                         the variants, and how to install from each
//! DIR/simple/<project>/index.html        every wheel
//! DIR/<label>/simple/<project>/index.html the wheels of one local label
//! DIR/<spelling>/simple/...              the same, as users spell the label
//! DIR/wheelwright-index.json             the manifest: every wheel ever listed
//! ```
//!
//! Pages are rebuilt from the manifest, which only grows: re-running adds
//! wheels and never drops one already listed (a different file under a listed
//! name is refused unless clobbering). A wheel without a local label is listed
//! in `DIR/simple/` only. Links carry `#sha256=`, `data-requires-python`, and
//! `data-core-metadata`/`data-dist-info-metadata` when the PEP 658 `.metadata`
//! file is known to be served beside the wheel. A label's root is also written
//! under the spellings users are shown (`cxx11abiTRUE`; see `spellings`).
//!
//! PEP 825 variant wheels (experimental, `build --variants`) have no local
//! label: they are listed in `DIR/simple/` only, with the version's
//! `{name}-{version}-variants.json` linked from the same page and written
//! beside it (and beside the wheels in a wheelhouse); see `variants`.

pub mod html;
mod lock;
mod manifest;
mod spellings;
mod variants;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wheelwright_base::safe_write::write_atomically;
use wheelwright_job::publish::PublishStatus;
use wheelwright_wheel::variant::VariantMetadata;

use crate::atomic::ensure_dir;
use crate::wheel_file::WheelFile;
use crate::PublishError;

pub use lock::{IndexLock, LOCK_NAME, LOCK_WAIT};
pub use manifest::{check_entry, check_manifest, check_url, Manifest, MANIFEST_NAME};

/// One wheel as the index lists it (a manifest row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The wheel's file name.
    pub file: String,
    /// The PEP 503 normalized project name (`flash-attn`).
    pub project: String,
    /// The version from the file name, local label included.
    pub version: String,
    /// The variant folder: the local label, lower case, `.` separators.
    #[serde(default)]
    pub label: Option<String>,
    /// Lower-case hex sha256 of the wheel.
    pub sha256: String,
    /// `Requires-Python` of its METADATA.
    #[serde(default)]
    pub requires_python: Option<String>,
    /// Where the wheel is served; `None`: in the index folder itself (a wheelhouse).
    #[serde(default)]
    pub url: Option<String>,
    /// sha256 of the `.metadata` file served at the wheel's URL + `.metadata`,
    /// when it is known to be there.
    #[serde(default)]
    pub metadata_sha256: Option<String>,
    /// A PEP 825 variant wheel's `variant.json` (experimental): what the
    /// version's `{name}-{version}-variants.json` is combined from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantMetadata>,
}

impl IndexEntry {
    /// The entry of a local wheel, served at `url` (or from the index folder),
    /// with its `.metadata` announced when `metadata_served`.
    pub fn for_wheel(
        wheel: &WheelFile,
        url: Option<String>,
        metadata_served: bool,
    ) -> Result<IndexEntry, PublishError> {
        let label = match wheel.name.local_version() {
            Some(local) => {
                Some(
                    variant_label(local).map_err(|message| PublishError::BadWheel {
                        path: wheel.path.clone(),
                        message,
                    })?,
                )
            }
            None => None,
        };
        Ok(IndexEntry {
            file: wheel.file_name.clone(),
            project: wheel.project(),
            version: wheel.name.version.clone(),
            label,
            sha256: wheel.sha256.clone(),
            requires_python: wheel.metadata.requires_python.clone(),
            url,
            metadata_sha256: metadata_served.then(|| wheel.metadata_sha256()),
            variant: wheel.variant.clone(),
        })
    }
}

/// The folder name of a local version label: PEP 440 normalized (lower case,
/// `-`/`_` as `.`), and only ASCII letters, digits and single dots, so it is
/// always one safe path component (`..`, `/`, spaces refused).
pub fn variant_label(local: &str) -> Result<String, String> {
    let label: String = local
        .chars()
        .map(|c| match c {
            '-' | '_' => '.',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let ok = !label.is_empty()
        && label
            .split('.')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok {
        return Err(format!(
            "the local version label `{local}` is not PEP 440 (letters and digits separated by single dots)"
        ));
    }
    if label == "simple" {
        return Err(
            "the local version label `simple` would collide with the index's own simple/ root"
                .to_string(),
        );
    }
    Ok(label)
}

/// What adding one entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryOutcome {
    /// The wheel's file name.
    pub file: String,
    /// Added (`Uploaded`), already listed with the same sha256 (`Skipped`),
    /// or refused (`Failed`).
    pub status: PublishStatus,
    /// The variant page that lists it (`DIR/<label>/simple/<project>/`).
    pub page: PathBuf,
    /// Why it was skipped, replaced or refused.
    pub message: Option<String>,
}

/// An index folder opened for changes: locked ([`IndexLock`]), then its
/// manifest read and checked, so nothing is written when it is bad, and no
/// other publish changes it until this one has written it back.
#[derive(Debug)]
pub struct LockedIndex {
    lock: IndexLock,
    manifest: Manifest,
}

impl LockedIndex {
    /// Lock `dir` (created when missing) and read its manifest.
    pub fn open(dir: &Path) -> Result<LockedIndex, PublishError> {
        let lock = IndexLock::acquire(dir)?;
        let manifest = Manifest::load(dir)?;
        Ok(LockedIndex { lock, manifest })
    }

    /// The manifest as read (and as changed by [`Self::add`]).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Add `entries` and rewrite every page and the manifest. A listed file
    /// name with another sha256 is refused unless `clobber` (then the entry
    /// is replaced); an entry that is not one wheelwright would write
    /// ([`check_entry`]: it may come from a release's asset list) is
    /// refused. Errors only when the folder cannot be written; per-entry
    /// refusals are outcomes.
    pub fn add(
        &mut self,
        entries: Vec<IndexEntry>,
        clobber: bool,
    ) -> Result<Vec<EntryOutcome>, PublishError> {
        let dir = self.lock.dir().to_path_buf();
        let manifest = &mut self.manifest;
        let mut outcomes = Vec::new();
        for entry in entries {
            let page = manifest::page_dir(&dir, &entry);
            let checked = check_entry(&entry).and_then(|()| variants::fits(manifest, &entry));
            let existing = manifest.files.iter_mut().find(|e| e.file == entry.file);
            let (status, message) = match (checked, existing) {
                (Err(why), _) => (PublishStatus::Failed, Some(format!("not listed: {why}"))),
                (Ok(()), None) => {
                    manifest.files.push(entry.clone());
                    (PublishStatus::Uploaded, None)
                }
                (Ok(()), Some(old)) if old.sha256 == entry.sha256 => {
                    // Same bytes: keep it, learning what the new listing knows.
                    if old.metadata_sha256.is_none() {
                        old.metadata_sha256 = entry.metadata_sha256.clone();
                    }
                    if entry.url.is_some() {
                        old.url = entry.url.clone();
                    }
                    (
                        PublishStatus::Skipped,
                        Some("already listed with the same sha256".to_string()),
                    )
                }
                (Ok(()), Some(old)) if clobber => {
                    let message = format!("replaced a listing with sha256 {}", old.sha256);
                    *old = entry.clone();
                    (PublishStatus::Uploaded, Some(message))
                }
                (Ok(()), Some(old)) => (
                    PublishStatus::Failed,
                    Some(format!(
                        "the index already lists {} with sha256 {}, this file has {}; publish it under another version or local label, or pass --clobber",
                        entry.file, old.sha256, entry.sha256
                    )),
                ),
            };
            outcomes.push(EntryOutcome {
                file: entry.file,
                status,
                page,
                message,
            });
        }
        manifest
            .files
            .sort_by(|a, b| (&a.project, &a.file).cmp(&(&b.project, &b.file)));
        write_pages(&dir, manifest)?;
        manifest.save(&dir)?;
        Ok(outcomes)
    }
}

/// Add `entries` to the index in `dir` and rewrite every page from the
/// manifest, under the folder's lock: [`LockedIndex::add`].
pub fn update_index(
    dir: &Path,
    entries: Vec<IndexEntry>,
    clobber: bool,
) -> Result<Vec<EntryOutcome>, PublishError> {
    LockedIndex::open(dir)?.add(entries, clobber)
}

/// Write every page of the manifest: the top page, `simple/`, each label's.
fn write_pages(dir: &Path, manifest: &Manifest) -> Result<(), PublishError> {
    let all: Vec<&IndexEntry> = manifest.files.iter().collect();
    write_root(dir, Path::new("simple"), "Simple index", &all, 2)?;
    variants::write_variants_files(dir, manifest)?;
    let mut by_label: BTreeMap<&str, Vec<&IndexEntry>> = BTreeMap::new();
    for e in &manifest.files {
        if let Some(label) = &e.label {
            by_label.entry(label.as_str()).or_default().push(e);
        }
    }
    for (label, entries) in &by_label {
        let written = entries.iter().filter_map(|e| written_label(&e.file));
        for folder in
            std::iter::once(label.to_string()).chain(spellings::other_spellings(label, written))
        {
            let rel = Path::new(&folder).join("simple");
            write_root(dir, &rel, &format!("Simple index: {label}"), entries, 3)?;
        }
    }
    let labels: Vec<&str> = by_label.keys().copied().collect();
    let projects: BTreeSet<&str> = manifest.files.iter().map(|e| e.project.as_str()).collect();
    let projects: Vec<&str> = projects.into_iter().collect();
    write_page(dir, Path::new(""), &html::variants_page(&labels, &projects))
}

/// The local label as a wheel's file name writes it (`name-1.0+LABEL-...`).
fn written_label(file: &str) -> Option<&str> {
    let version = file.split('-').nth(1)?;
    version.split_once('+').map(|(_, local)| local)
}

/// One `simple/` root: its project list and a page per project.
fn write_root(
    dir: &Path,
    rel: &Path,
    title: &str,
    entries: &[&IndexEntry],
    depth: usize,
) -> Result<(), PublishError> {
    let mut by_project: BTreeMap<&str, Vec<&IndexEntry>> = BTreeMap::new();
    for e in entries {
        by_project.entry(e.project.as_str()).or_default().push(e);
    }
    // Every entry was checked: a project and a label are one safe path component.
    for (project, files) in &by_project {
        write_page(
            dir,
            &rel.join(project),
            &html::project_page(project, files, depth),
        )?;
    }
    let projects: Vec<&str> = by_project.keys().copied().collect();
    write_page(dir, rel, &html::project_list(title, &projects))
}

/// `dir/rel/index.html`, atomically and never through a symlink.
fn write_page(dir: &Path, rel: &Path, html: &str) -> Result<(), PublishError> {
    let folder = ensure_dir(dir, rel).map_err(|source| PublishError::Io {
        path: dir.join(rel),
        source,
    })?;
    let path = folder.join("index.html");
    write_atomically(&path, html.as_bytes()).map_err(|source| PublishError::Io { path, source })
}

#[cfg(test)]
mod tests;
