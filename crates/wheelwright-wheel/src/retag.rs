//! Retag a wheel: write a NEW file whose platform tag says what the wheel
//! really is (`manylinux_2_28_x86_64` after [`super::check_wheel`] found it
//! compliant), with the file name, `WHEEL`'s `Tag:` lines and `RECORD`
//! rewritten. The input is never modified.
//!
//! Deterministic: the same input gives the same bytes. Entries keep the
//! input's order (with `RECORD` last), every timestamp is 1980-01-01 00:00,
//! permissions are the input's (`0644` when it has none), and every file is
//! deflated at one fixed level. The input's `RECORD` is verified while the
//! files are copied, so a corrupt wheel is never laundered into a valid one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

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

/// Write `src` retagged with `platforms` (`["manylinux_2_28_x86_64"]`) into
/// `out_dir`; returns the new file's path. Refuses to overwrite `src`.
pub fn retag_wheel(
    src: &Path,
    platforms: &[String],
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
    if platforms.is_empty() || !platforms.iter().all(|p| valid_tag(p)) {
        return Err(refused(format!(
            "`{}` is not a platform tag",
            platforms.join(".")
        )));
    }
    let dest = out_dir.join(retagged_name(&name, platforms));
    if dest.file_name() == src.file_name()
        && dest.parent().map(Path::canonicalize).and_then(Result::ok)
            == src.parent().map(Path::canonicalize).and_then(Result::ok)
    {
        return Err(refused(
            "the new name is the input's own; nothing to write".into(),
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
    let wheel_path = format!("{dist_info}/WHEEL");
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
    let mut rows = parse_record(&record).map_err(|e| refused(e.to_string()))?;
    let new_wheel = retag_wheel_file(&wheel, &name, platforms);

    std::fs::create_dir_all(out_dir)
        .map_err(io_err(format!("cannot create {}", out_dir.display())))?;
    let tmp = tempfile::NamedTempFile::new_in(out_dir)
        .map_err(io_err(format!("cannot write in {}", out_dir.display())))?;
    let mut writer = zip::ZipWriter::new(tmp);
    let options = |mode: Option<u32>, large: bool| {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::default())
            .unix_permissions(mode.map_or(0o644, |m| m & 0o7777))
            .large_file(large)
    };
    let algo: BTreeMap<String, String> = rows
        .iter()
        .map(|r| (r.path.clone(), r.hash.clone()))
        .collect();
    let mut actual: BTreeMap<String, (Option<String>, u64)> = BTreeMap::new();
    let mut record_mode = None;
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(zip_err(format!("cannot read entry {i}")))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry.name().to_string();
        if entry.enclosed_name().is_none() {
            return Err(refused(format!("unsafe path `{entry_name}`")));
        }
        let mode = entry.unix_mode();
        if entry_name == record_path {
            record_mode = mode;
            continue;
        }
        let opts = options(mode, entry.size() >= u64::from(u32::MAX));
        writer
            .start_file(entry_name.as_str(), opts)
            .map_err(zip_err(format!("cannot write {entry_name}")))?;
        let mut hasher = algo
            .get(&entry_name)
            .map_or(Some(FileHasher::Sha256(Default::default())), |h| {
                FileHasher::for_record_hash(h)
            });
        let mut size = 0u64;
        if entry_name == wheel_path {
            // Hash the input's WHEEL for the RECORD check, write the new one.
            std::io::copy(&mut entry, &mut std::io::sink())
                .map_err(io_err(format!("cannot read {entry_name}")))?;
            if let Some(h) = hasher.as_mut() {
                h.update(wheel.as_bytes());
            }
            size = wheel.len() as u64;
            writer
                .write_all(new_wheel.as_bytes())
                .map_err(io_err(format!("cannot write {entry_name}")))?;
        } else {
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
                writer
                    .write_all(&buf[..n])
                    .map_err(io_err(format!("cannot write {entry_name}")))?;
            }
        }
        actual.insert(entry_name, (hasher.map(FileHasher::finish), size));
    }
    actual.insert(record_path.clone(), (None, record.len() as u64));
    let verdict = compare_record(&rows, &actual);
    if !verdict.problems.is_empty() {
        return Err(refused(format!(
            "its RECORD does not match its files: {}",
            verdict.problems.join("; ")
        )));
    }
    for row in rows.iter_mut().filter(|r| r.path == wheel_path) {
        row.hash = record_hash(new_wheel.as_bytes());
        row.size = Some(new_wheel.len() as u64);
    }
    // RECORD's own row last, as every build backend writes it.
    rows.retain(|r| r.path != record_path);
    rows.push(super::record::RecordRow {
        path: record_path.clone(),
        hash: String::new(),
        size: None,
    });
    writer
        .start_file(record_path.as_str(), options(record_mode, false))
        .map_err(zip_err(format!("cannot write {record_path}")))?;
    writer
        .write_all(render_record(&rows).as_bytes())
        .map_err(io_err(format!("cannot write {record_path}")))?;
    let tmp = writer
        .finish()
        .map_err(zip_err(format!("cannot finish {}", dest.display())))?;
    tmp.persist(&dest).map_err(|e| RetagError::Io {
        what: format!("cannot write {}", dest.display()),
        source: e.error,
    })?;
    Ok(dest)
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
}
