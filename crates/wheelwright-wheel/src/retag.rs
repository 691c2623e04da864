//! Rewrite a wheel into a NEW file: its platform tag (`manylinux_2_28_x86_64`
//! after [`super::check_wheel`] found it compliant), a pin on the torch it
//! was built against (`Requires-Dist: torch==2.8.*`), extra `.dist-info`
//! files (`variant.json`), a variant label after the platform (PEP 825) and
//! another version; the file name, `WHEEL`, `METADATA`, the `.dist-info`
//! directory's name and `RECORD` follow. The input is never modified.
//!
//! Deterministic: the same input gives the same bytes, whatever order,
//! timestamps or permissions the build backend wrote. Entries are sorted by
//! name (the package's files, then `.dist-info`'s, `RECORD` last), every
//! timestamp is 1980-01-01 00:00 (the zip format's first), every file is
//! `0644` (`0755` where the input had an execute bit) and deflated at one
//! fixed level, and `RECORD` lists every file with its sha256. The input's
//! `RECORD` is verified while the files are copied, so a corrupt wheel is
//! never laundered into a valid one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime};

use super::record::{compare_record, parse_record, record_hash, render_record, FileHasher};
use crate::file::valid_tag;
use crate::file::{WheelName, WheelNameError};

/// Why a wheel could not be retagged.
#[derive(Debug, thiserror::Error)]
pub enum RetagError {
    /// Reading the input or writing the output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The input's name is not a wheel name.
    #[error(transparent)]
    Name(#[from] WheelNameError),
    /// The zip reader or writer failed.
    #[error("{what}: {why}")]
    Zip {
        /// What was being done.
        what: String,
        /// What the zip library said.
        why: String,
    },
    /// The input is not a wheel we can retag (no `.dist-info`, a broken RECORD).
    #[error("cannot retag {path}: {why}")]
    Refused {
        /// The input.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

impl RetagError {
    /// What to do about it, for the `hint:` line.
    pub fn hint(&self) -> &'static str {
        match self {
            RetagError::Io { .. } => "check that the out dir is writable and has space",
            RetagError::Name(_) | RetagError::Zip { .. } | RetagError::Refused { .. } => {
                "rebuild the wheel: a wheel whose RECORD does not match its files is never rewritten"
            }
        }
    }
}

/// What [`rewrite_wheel`] changes; the default changes nothing but the
/// archive's order, timestamps and permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WheelEdits {
    /// New platform tags (`manylinux_2_28_x86_64`, its aliases after it).
    pub platforms: Option<Vec<String>>,
    /// `Requires-Dist` lines to add (`torch==2.8.*`); an unconditional
    /// requirement of the same project already there is replaced.
    pub requires_dist: Vec<String>,
    /// Files to add to (or replace in) the `.dist-info` directory, by name
    /// (`variant.json`).
    pub dist_info_files: Vec<(String, Vec<u8>)>,
    /// A PEP 825 variant label to put after the platform tag.
    pub variant: Option<String>,
    /// Another version (the public one of a variant wheel): the file name,
    /// `METADATA`'s `Version` and the `.dist-info` directory's name.
    pub version: Option<String>,
}

/// The file name of `name` with its platform tag(s) replaced by `platforms`.
pub fn retagged_name(name: &WheelName, platforms: &[String]) -> String {
    let build = name
        .build_tag
        .as_ref()
        .map(|b| format!("-{b}"))
        .unwrap_or_default();
    format!(
        "{}-{}{build}-{}-{}-{}.whl",
        name.distribution,
        name.version,
        name.python_tag,
        name.abi_tag,
        platforms.join(".")
    )
}

/// The file name [`rewrite_wheel`] gives `name` with `edits`.
pub fn edited_name(name: &WheelName, edits: &WheelEdits) -> String {
    let mut n = name.clone();
    if let Some(v) = &edits.version {
        n.version = v.clone();
    }
    let platforms = edits
        .platforms
        .clone()
        .unwrap_or_else(|| vec![n.platform_tag.clone()]);
    let base = retagged_name(&n, &platforms);
    match &edits.variant {
        Some(label) => format!("{}-{label}.whl", base.trim_end_matches(".whl")),
        None => base,
    }
}

/// `WHEEL` with its `Tag:` lines replaced by one per python × abi × platform.
pub fn retag_wheel_file(text: &str, name: &WheelName, platforms: &[String]) -> String {
    let mut out = String::new();
    let mut tags_written = false;
    let tags: String = name
        .python_tag
        .split('.')
        .flat_map(|py| {
            name.abi_tag.split('.').flat_map(move |abi| {
                platforms
                    .iter()
                    .map(move |plat| format!("Tag: {py}-{abi}-{plat}\n"))
            })
        })
        .collect();
    for line in text.lines() {
        if line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("Tag"))
        {
            if !tags_written {
                out.push_str(&tags);
                tags_written = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !tags_written {
        out.push_str(&tags);
    }
    out
}

/// The project a `Requires-Dist` value names (`torch` of `torch (>=2.0)`),
/// normalized; with whether it applies only to an extra.
fn required_project(value: &str) -> (String, bool) {
    let name: String = value
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let only_extra = value
        .split_once(';')
        .is_some_and(|(_, marker)| marker.contains("extra"));
    let project = crate::file::project_name(&name)
        .map(|p| p.to_string())
        .unwrap_or(name);
    (project, only_extra)
}

/// `METADATA` with `requires` added (an unconditional requirement of the same
/// project replaced) and `Version` set to `version` when given. Headers end at
/// the first empty line; the body is kept as it is.
pub fn edit_metadata(text: &str, requires: &[String], version: Option<&str>) -> String {
    let (head, body) = match text.find("\n\n") {
        Some(at) => (&text[..at + 1], &text[at + 1..]),
        None => (text, ""),
    };
    let replaced: Vec<String> = requires.iter().map(|r| required_project(r).0).collect();
    let mut lines: Vec<String> = Vec::new();
    let mut last_requires = None;
    for line in head.lines() {
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim();
            if key.eq_ignore_ascii_case("Requires-Dist") {
                let (project, only_extra) = required_project(value);
                if !only_extra && replaced.contains(&project) {
                    continue;
                }
                lines.push(line.to_string());
                last_requires = Some(lines.len());
                continue;
            }
            if key.eq_ignore_ascii_case("Version") {
                if let Some(v) = version {
                    lines.push(format!("Version: {v}"));
                    continue;
                }
            }
        }
        lines.push(line.to_string());
    }
    let at = last_requires.unwrap_or(lines.len());
    for (i, r) in requires.iter().enumerate() {
        lines.insert(at + i, format!("Requires-Dist: {r}"));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(body);
    out
}

/// Write `src` retagged with `platforms` (`["manylinux_2_28_x86_64"]`) into
/// `out_dir`; returns the new file's path. Refuses to overwrite `src`.
pub fn retag_wheel(
    src: &Path,
    platforms: &[String],
    out_dir: &Path,
) -> Result<PathBuf, RetagError> {
    let edits = WheelEdits {
        platforms: Some(platforms.to_vec()),
        ..WheelEdits::default()
    };
    rewrite_wheel(src, &edits, out_dir)
}

/// Write `src` with `edits` into `out_dir` (see the module's doc); returns
/// the new file's path. Refuses to overwrite `src`; a file of the new name
/// in `out_dir` is replaced.
pub fn rewrite_wheel(
    src: &Path,
    edits: &WheelEdits,
    out_dir: &Path,
) -> Result<PathBuf, RetagError> {
    let io_err = |what: String| move |source| RetagError::Io { what, source };
    let zip_err = |what: String| {
        move |e: zip::result::ZipError| RetagError::Zip {
            what,
            why: e.to_string(),
        }
    };
    let refused = |why: String| RetagError::Refused {
        path: src.to_path_buf(),
        why,
    };
    let file_name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = WheelName::parse(&file_name)?;
    if let Some(platforms) = &edits.platforms {
        if platforms.is_empty() || !platforms.iter().all(|p| valid_tag(p)) {
            return Err(refused(format!(
                "`{}` is not a platform tag",
                platforms.join(".")
            )));
        }
    }
    let new_file_name = edited_name(&name, edits);
    let dest = out_dir.join(&new_file_name);
    if dest.file_name() == src.file_name()
        && dest.parent().map(Path::canonicalize).and_then(Result::ok)
            == src.parent().map(Path::canonicalize).and_then(Result::ok)
    {
        return Err(refused(
            "the new file would replace the input; write it into another folder".into(),
        ));
    }
    let input = File::open(src).map_err(io_err(format!("cannot read {}", src.display())))?;
    let mut zip =
        zip::ZipArchive::new(input).map_err(zip_err(format!("{} is not a zip", src.display())))?;
    let dist_info = zip
        .file_names()
        .filter_map(|n| n.strip_suffix("/WHEEL"))
        .find(|d| d.ends_with(".dist-info") && !d.contains('/'))
        .map(str::to_string)
        .ok_or_else(|| refused("no .dist-info/WHEEL".into()))?;
    let new_dist_info = match &edits.version {
        Some(v) => format!("{}-{v}.dist-info", name.normalized_distribution()),
        None => dist_info.clone(),
    };
    let wheel_path = format!("{dist_info}/WHEEL");
    let metadata_path = format!("{dist_info}/METADATA");
    let record_path = format!("{dist_info}/RECORD");
    let mut read_text = |entry: &str| -> Result<String, RetagError> {
        let mut s = String::new();
        zip.by_name(entry)
            .map_err(zip_err(format!("cannot read {entry}")))?
            .read_to_string(&mut s)
            .map_err(io_err(format!("cannot read {entry}")))?;
        Ok(s)
    };
    let record = read_text(&record_path)?;
    let wheel = read_text(&wheel_path)?;
    let metadata = read_text(&metadata_path)?;
    let rows = parse_record(&record).map_err(|e| refused(e.to_string()))?;
    let platforms = edits
        .platforms
        .clone()
        .unwrap_or_else(|| vec![name.platform_tag.clone()]);
    let new_wheel = if edits.platforms.is_some() {
        retag_wheel_file(&wheel, &name, &platforms)
    } else {
        wheel.clone()
    };
    let new_metadata = if edits.requires_dist.is_empty() && edits.version.is_none() {
        metadata.clone()
    } else {
        edit_metadata(&metadata, &edits.requires_dist, edits.version.as_deref())
    };
    // Replaced content, by the input's path.
    let mut replaced: BTreeMap<String, &[u8]> = BTreeMap::new();
    replaced.insert(wheel_path.clone(), new_wheel.as_bytes());
    replaced.insert(metadata_path.clone(), new_metadata.as_bytes());
    let added: BTreeMap<String, &[u8]> = edits
        .dist_info_files
        .iter()
        .map(|(n, bytes)| (format!("{dist_info}/{n}"), bytes.as_slice()))
        .collect();
    if added
        .keys()
        .any(|k| k == &record_path || k.matches('/').count() != 1)
    {
        return Err(refused(
            "an added file must be a plain name other than RECORD".into(),
        ));
    }

    // Every entry, in the written order: the package's files sorted, then
    // `.dist-info`'s sorted, `RECORD` last.
    let mut entries: Vec<(String, Option<usize>)> = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(zip_err(format!("cannot read entry {i}")))?;
        if entry.is_dir() {
            continue;
        }
        if entry.enclosed_name().is_none() {
            return Err(refused(format!("unsafe path `{}`", entry.name())));
        }
        let n = entry.name().to_string();
        if n != record_path && !added.contains_key(&n) {
            entries.push((n, Some(i)));
        }
    }
    entries.extend(added.keys().map(|n| (n.clone(), None)));
    let in_dist_info = |n: &str| n.starts_with(&format!("{dist_info}/"));
    entries.sort_by(|a, b| {
        (in_dist_info(&a.0), a.0.as_str()).cmp(&(in_dist_info(&b.0), b.0.as_str()))
    });
    let renamed = |n: &str| match n.strip_prefix(&format!("{dist_info}/")) {
        Some(rest) => format!("{new_dist_info}/{rest}"),
        None => n.to_string(),
    };

    std::fs::create_dir_all(out_dir)
        .map_err(io_err(format!("cannot create {}", out_dir.display())))?;
    let tmp = tempfile::NamedTempFile::new_in(out_dir)
        .map_err(io_err(format!("cannot write in {}", out_dir.display())))?;
    let mut writer = zip::ZipWriter::new(tmp);
    let options = |mode: Option<u32>, large: bool| {
        let executable = mode.is_some_and(|m| m & 0o111 != 0);
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::default())
            .unix_permissions(if executable { 0o755 } else { 0o644 })
            .large_file(large)
    };
    let algo: BTreeMap<String, String> = rows
        .iter()
        .map(|r| (r.path.clone(), r.hash.clone()))
        .collect();
    let mut actual: BTreeMap<String, (Option<String>, u64)> = BTreeMap::new();
    let mut new_rows = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    for (entry_name, index) in &entries {
        let out_name = renamed(entry_name);
        let Some(index) = index else {
            let bytes = added[entry_name.as_str()];
            writer
                .start_file(out_name.as_str(), options(None, false))
                .map_err(zip_err(format!("cannot write {out_name}")))?;
            writer
                .write_all(bytes)
                .map_err(io_err(format!("cannot write {out_name}")))?;
            new_rows.push(row(&out_name, record_hash(bytes), bytes.len() as u64));
            continue;
        };
        let mut entry = zip
            .by_index(*index)
            .map_err(zip_err(format!("cannot read {entry_name}")))?;
        let opts = options(entry.unix_mode(), entry.size() >= u64::from(u32::MAX));
        writer
            .start_file(out_name.as_str(), opts)
            .map_err(zip_err(format!("cannot write {out_name}")))?;
        let mut hasher = algo
            .get(entry_name)
            .map_or(Some(FileHasher::Sha256(Default::default())), |h| {
                FileHasher::for_record_hash(h)
            });
        // One pass over the input's file: hashed for the RECORD check, and
        // copied (with its new hash) unless a replacement is written instead.
        let replacement = replaced.get(entry_name);
        let mut out_hash = Sha256::new();
        let mut size = 0u64;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(io_err(format!("cannot read {entry_name}")))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..n]);
            }
            if replacement.is_none() {
                out_hash.update(&buf[..n]);
                writer
                    .write_all(&buf[..n])
                    .map_err(io_err(format!("cannot write {out_name}")))?;
            }
        }
        match replacement {
            Some(new) => {
                writer
                    .write_all(new)
                    .map_err(io_err(format!("cannot write {out_name}")))?;
                new_rows.push(row(&out_name, record_hash(new), new.len() as u64));
            }
            None => {
                let hash = FileHasher::Sha256(out_hash).finish();
                new_rows.push(row(&out_name, hash, size));
            }
        }
        actual.insert(entry_name.clone(), (hasher.map(FileHasher::finish), size));
    }
    actual.insert(record_path.clone(), (None, record.len() as u64));
    let verdict = compare_record(&rows, &actual);
    if !verdict.problems.is_empty() {
        return Err(refused(format!(
            "its RECORD does not match its files: {}",
            verdict.problems.join("; ")
        )));
    }
    // RECORD's own row last, as every build backend writes it.
    let new_record_path = renamed(&record_path);
    new_rows.push(super::record::RecordRow {
        path: new_record_path.clone(),
        hash: String::new(),
        size: None,
    });
    writer
        .start_file(new_record_path.as_str(), options(None, false))
        .map_err(zip_err(format!("cannot write {new_record_path}")))?;
    writer
        .write_all(render_record(&new_rows).as_bytes())
        .map_err(io_err(format!("cannot write {new_record_path}")))?;
    let tmp = writer
        .finish()
        .map_err(zip_err(format!("cannot finish {}", dest.display())))?;
    tmp.persist(&dest).map_err(|e| RetagError::Io {
        what: format!("cannot write {}", dest.display()),
        source: e.error,
    })?;
    Ok(dest)
}

fn row(path: &str, hash: String, size: u64) -> super::record::RecordRow {
    super::record::RecordRow {
        path: path.to_string(),
        hash,
        size: Some(size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_tags_for_every_python_and_abi() {
        let name = WheelName::parse("x-1.0-cp312-cp312-linux_x86_64.whl").unwrap();
        let text = "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\nBuild: 1\n";
        let plats = vec![
            "manylinux_2_17_x86_64".to_string(),
            "manylinux2014_x86_64".to_string(),
        ];
        assert_eq!(
            retag_wheel_file(text, &name, &plats),
            "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: false\n\
             Tag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\nBuild: 1\n"
        );
        assert_eq!(
            retagged_name(&name, &plats),
            "x-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        );
    }

    #[test]
    fn pins_a_requirement_in_place_of_the_loose_one() {
        let text = "Metadata-Version: 2.1\nName: flash_attn\nVersion: 2.8.3+cu12torch2.8\n\
                    Requires-Dist: torch\nRequires-Dist: einops\n\
                    Requires-Dist: torch>=1; extra == \"test\"\n\nA description.\nRequires-Dist: torch\n";
        let pinned = edit_metadata(text, &["torch==2.8.*".to_string()], None);
        assert_eq!(
            pinned,
            "Metadata-Version: 2.1\nName: flash_attn\nVersion: 2.8.3+cu12torch2.8\n\
             Requires-Dist: einops\nRequires-Dist: torch>=1; extra == \"test\"\n\
             Requires-Dist: torch==2.8.*\n\nA description.\nRequires-Dist: torch\n"
        );
        let plain = edit_metadata(
            "Metadata-Version: 2.1\nName: x\nVersion: 1.0+a\n",
            &["torch==2.8.*".to_string()],
            Some("1.0"),
        );
        assert_eq!(
            plain,
            "Metadata-Version: 2.1\nName: x\nVersion: 1.0\nRequires-Dist: torch==2.8.*\n"
        );
    }

    #[test]
    fn names_a_variant_after_the_platform() {
        let name = WheelName::parse("x-1.0+cu12-cp312-cp312-linux_x86_64.whl").unwrap();
        let edits = WheelEdits {
            variant: Some("cu12".into()),
            version: Some("1.0".into()),
            ..WheelEdits::default()
        };
        assert_eq!(
            edited_name(&name, &edits),
            "x-1.0-cp312-cp312-linux_x86_64-cu12.whl"
        );
    }
}
