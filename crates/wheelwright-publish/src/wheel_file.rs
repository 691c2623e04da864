//! A local wheel as a publisher needs it: its parsed file name, sha256, size,
//! and the core metadata (`*.dist-info/METADATA`) read from the archive,
//! whose bytes become the PEP 658 `.metadata` file beside the wheel, and a
//! variant wheel's `variant.json` (PEP 825, experimental).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use wheelwright_base::digest::{sha256_bytes, sha256_file};
use wheelwright_wheel::file::{dist_info_name, project_name, WheelName};
pub use wheelwright_wheel::metadata::CoreMetadata;
use wheelwright_wheel::metadata::MAX_METADATA_BYTES;
use wheelwright_wheel::variant::{read_variant_json, VariantMetadata};

use crate::PublishError;

/// A local wheel, read and hashed once.
#[derive(Debug, Clone)]
pub struct WheelFile {
    /// The file on disk (never modified).
    pub path: PathBuf,
    /// The file name.
    pub file_name: String,
    /// The parsed file name.
    pub name: WheelName,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// The bytes of `*.dist-info/METADATA` (the PEP 658 `.metadata` file).
    pub metadata_bytes: Vec<u8>,
    /// The fields read from them.
    pub metadata: CoreMetadata,
    /// A PEP 825 variant wheel's `*.dist-info/variant.json`, checked (one
    /// variant, the file name's label); `None` for any other wheel.
    pub variant: Option<VariantMetadata>,
}

impl WheelFile {
    /// Read `path`: a PEP 427 name, a zip archive holding one
    /// `<name>-<version>.dist-info/METADATA` whose `Name` is the file name's
    /// distribution. Anything else is [`PublishError::BadWheel`].
    pub fn read(path: &Path) -> Result<WheelFile, PublishError> {
        let bad = |message: String| PublishError::BadWheel {
            path: path.to_path_buf(),
            message,
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| bad("the path has no file name".to_string()))?;
        let name = WheelName::parse(&file_name).map_err(|e| bad(e.to_string()))?;
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(bad("not a regular file".to_string()));
        }
        let file = File::open(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| bad(format!("not a zip archive ({e}); a wheel is one")))?;
        let wanted = format!("{}-{}.dist-info/METADATA", name.distribution, name.version);
        let entry = if zip.index_for_name(&wanted).is_some() {
            wanted
        } else {
            // Some tools write the dist-info dir with a differently escaped name.
            let found: Vec<String> = zip
                .file_names()
                .filter(|n| {
                    n.matches('/').count() == 1
                        && n.ends_with(".dist-info/METADATA")
                        && dist_info_name(n.split('-').next().unwrap_or(""))
                            == Some(name.normalized_distribution())
                })
                .map(String::from)
                .collect();
            match found.as_slice() {
                [one] => one.clone(),
                [] => return Err(bad(format!("it holds no {wanted}"))),
                _ => return Err(bad(format!("it holds several METADATA files: {found:?}"))),
            }
        };
        let mut metadata_bytes = Vec::new();
        zip.by_name(&entry)
            .map_err(|e| bad(format!("cannot read {entry}: {e}")))?
            .take(MAX_METADATA_BYTES + 1)
            .read_to_end(&mut metadata_bytes)
            .map_err(|e| bad(format!("cannot read {entry}: {e}")))?;
        if metadata_bytes.len() as u64 > MAX_METADATA_BYTES {
            return Err(bad(format!(
                "{entry} is larger than {} MiB",
                MAX_METADATA_BYTES >> 20
            )));
        }
        let text = std::str::from_utf8(&metadata_bytes)
            .map_err(|_| bad(format!("{entry} is not UTF-8")))?;
        let metadata = CoreMetadata::parse(text);
        if metadata.name.is_empty() || metadata.version.is_empty() {
            return Err(bad(format!("{entry} has no Name or no Version")));
        }
        if project_name(&metadata.name) != Some(name.project()) {
            return Err(bad(format!(
                "METADATA names `{}`, the file name `{}`",
                metadata.name, name.distribution
            )));
        }
        let variant = read_variant_json(path).map_err(|e| bad(e.to_string()))?;
        let sha256 = sha256_file(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        Ok(WheelFile {
            path: path.to_path_buf(),
            file_name,
            name,
            size: meta.len(),
            sha256,
            metadata_bytes,
            metadata,
            variant,
        })
    }

    /// Lower-case hex sha256 of the `.metadata` bytes.
    pub fn metadata_sha256(&self) -> String {
        sha256_bytes(&self.metadata_bytes)
    }

    /// The PEP 503 project name: lower case, runs of `-_.` as one `-`.
    pub fn project(&self) -> String {
        self.name.project().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wheel::write_wheel;

    #[test]
    fn reads_name_hash_and_metadata_of_a_wheel() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_wheel(dir.path(), "Tiny_Pkg", "1.0+cu12torch2.4", ">=3.8");
        let w = WheelFile::read(&path).unwrap();
        assert_eq!(w.file_name, "Tiny_Pkg-1.0+cu12torch2.4-py3-none-any.whl");
        assert_eq!(w.project(), "tiny-pkg");
        assert_eq!(w.metadata.version, "1.0+cu12torch2.4");
        assert_eq!(w.metadata.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(w.metadata.metadata_version, "2.1");
        assert_eq!(w.sha256, sha256_file(&path).unwrap());
        assert!(std::str::from_utf8(&w.metadata_bytes)
            .unwrap()
            .starts_with("Metadata-Version: 2.1\n"));
        assert_eq!(w.metadata_sha256(), sha256_bytes(&w.metadata_bytes));
    }

    #[test]
    fn refuses_what_is_not_a_wheel() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("x-1.0-py3-none-any.whl");
        std::fs::write(&text, "not a zip").unwrap();
        let e = WheelFile::read(&text).unwrap_err().to_string();
        assert!(e.contains("not a zip archive"), "{e}");
        let e = WheelFile::read(&dir.path().join("missing-1.0-py3-none-any.whl"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
        let e = WheelFile::read(&dir.path().join("readme.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a wheel file name"), "{e}");
    }

    #[test]
    fn parses_metadata_headers_only() {
        let m = CoreMetadata::parse(
            "Metadata-Version: 2.4\nName: flash_attn\nVersion: 2.8.3\nRequires-Python: >=3.9\nDescription: x\n  Version: 9\n\nVersion: 7\n",
        );
        assert_eq!(m.name, "flash_attn");
        assert_eq!(m.version, "2.8.3");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.9"));
    }
}
