//! The index's side of PEP 825 wheel variants (experimental): for every
//! version with variant wheels, `{name}-{version}-variants.json`, the
//! combination of their `variant.json` (the longer namespace order, the
//! union of the variants), written beside the project page of `DIR/simple/`
//! that links them and, where the wheels sit in the folder itself (a
//! wheelhouse, which `uv --find-links` reads), beside the wheels too.
//!
//! A variant wheel whose label already means other properties in the same
//! version is refused when added ([`fits`]), so the file written is always
//! a consistent combination.

use std::collections::BTreeMap;
use std::path::Path;

use wheelwright_base::safe_write::write_atomically;
use wheelwright_wheel::file::WheelName;
use wheelwright_wheel::variant::{variants_file_name, VariantMetadata};

use super::{IndexEntry, Manifest};
use crate::atomic::ensure_dir;
use crate::PublishError;

/// `{name}-{version}-variants.json` of a variant entry's version; `None`
/// for a wheel that is not a variant.
pub(crate) fn variants_file(entry: &IndexEntry) -> Option<String> {
    entry.variant.as_ref()?;
    WheelName::parse(&entry.file)
        .ok()
        .map(|n| variants_file_name(&n))
}

/// Can `entry` join the manifest: its variant's label means the same
/// properties as in the version's other variant wheels (a re-listing of
/// the same file is judged by its sha256 elsewhere).
pub(crate) fn fits(manifest: &Manifest, entry: &IndexEntry) -> Result<(), String> {
    let (Some(doc), Some(file)) = (&entry.variant, variants_file(entry)) else {
        return Ok(());
    };
    for other in &manifest.files {
        if other.file == entry.file || variants_file(other).as_ref() != Some(&file) {
            continue;
        }
        if let Some(known) = &other.variant {
            known
                .merge(doc)
                .map_err(|e| format!("not listed: {e} (in {})", other.file))?;
        }
    }
    Ok(())
}

/// Write every version's `{name}-{version}-variants.json` (see the
/// module's doc).
pub(crate) fn write_variants_files(dir: &Path, manifest: &Manifest) -> Result<(), PublishError> {
    // (project, file name) → the combined document, and whether a wheel of
    // it sits in the folder itself.
    let mut combined: BTreeMap<(String, String), (VariantMetadata, bool)> = BTreeMap::new();
    for e in &manifest.files {
        let (Some(doc), Some(file)) = (&e.variant, variants_file(e)) else {
            continue;
        };
        let local = e.url.is_none();
        let key = (e.project.clone(), file);
        let next = match combined.remove(&key) {
            Some((known, beside)) => (
                known.merge(doc).map_err(|err| PublishError::BadManifest {
                    path: dir.join(super::MANIFEST_NAME),
                    message: format!("{}: {err}", key.1),
                })?,
                beside || local,
            ),
            None => (doc.clone(), local),
        };
        combined.insert(key, next);
    }
    for ((project, file), (doc, beside_wheels)) in combined {
        let bytes = doc.to_bytes();
        let page = Path::new("simple").join(&project);
        let mut folders = vec![page.as_path()];
        if beside_wheels {
            folders.push(Path::new(""));
        }
        for rel in folders {
            let folder = ensure_dir(dir, rel).map_err(|source| PublishError::Io {
                path: dir.join(rel),
                source,
            })?;
            let path = folder.join(&file);
            write_atomically(&path, &bytes).map_err(|source| PublishError::Io { path, source })?;
        }
    }
    Ok(())
}
