//! A wheel's archive read with bounds: its small text files (`WHEEL`,
//! `METADATA`, `RECORD`) up to a cap each; its entries' names checked against
//! each other (two entries of one name, a file and a directory of one name);
//! and one pass that hashes every file for `RECORD` and extracts the ELF
//! binaries, up to a cap on the bytes written, to read them.
//!
//! The zip crate keeps the last of several central-directory records of one
//! name, so duplicates are found by walking the central directory's records
//! here (a 46-byte header and the name each, APPNOTE 4.3.12); nothing else of
//! the zip format is read by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use wheelwright_base::finding::{Finding, Severity};

use crate::elf::is_elf;
use crate::record::FileHasher;
use crate::WheelCheckError;

/// `WHEEL` larger than this is refused (a real one is about 100 bytes).
pub(crate) const MAX_WHEEL_BYTES: u64 = 1024 * 1024;
/// `RECORD` larger than this is refused (torch's, of 13,000 files, is 1.6 MB).
pub(crate) const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;
/// The bytes of binaries extracted from any wheel: 64 MiB, plus
/// [`EXTRACT_PER_WHEEL_BYTE`] times the wheel's size.
pub(crate) const EXTRACT_BASE: u64 = 64 * 1024 * 1024;
/// What each byte of the wheel adds to the extraction cap. Device code
/// deflates 2-4 times; a zip bomb over 1,000 times.
pub(crate) const EXTRACT_PER_WHEEL_BYTE: u64 = 16;

/// A text file of the archive, read up to a cap.
pub(crate) enum Text {
    /// No such entry.
    Missing,
    /// Longer than the cap.
    TooLarge,
    /// Unreadable or not UTF-8.
    Unreadable(String),
    /// Its text.
    Read(String),
}

/// Read `entry` as UTF-8 text, at most `cap` bytes of it.
pub(crate) fn read_text(zip: &mut zip::ZipArchive<File>, entry: &str, cap: u64) -> Text {
    let Ok(f) = zip.by_name(entry) else {
        return Text::Missing;
    };
    let mut bytes = Vec::new();
    if let Err(e) = f.take(cap + 1).read_to_end(&mut bytes) {
        return Text::Unreadable(e.to_string());
    }
    if bytes.len() as u64 > cap {
        return Text::TooLarge;
    }
    match String::from_utf8(bytes) {
        Ok(s) => Text::Read(s),
        Err(_) => Text::Unreadable("not UTF-8".into()),
    }
}

/// The error finding for a metadata file over its cap.
pub(crate) fn too_large(entry: &str, cap: u64) -> Finding {
    Finding::new(
        "wheel-file-too-large",
        Severity::Error,
        "A metadata file of the wheel is too large",
        format!(
            "{entry} is larger than {} MiB, the most wheelwright reads of it",
            cap / (1024 * 1024)
        ),
        "a real one is a few KiB to a few MiB: rebuild the wheel, never install or publish this one",
    )
}

/// Findings about the entries' names taken together: two central-directory
/// records of one name (`wheel-duplicate-entry`: the zip crate, like many
/// installers, sees only one of them, so the other is never checked), and a
/// name that is a file and also a directory of other entries
/// (`wheel-path-clash`: an installer cannot write both). Returns the
/// findings and the clashing names, whose entries are not extracted.
pub(crate) fn name_findings(
    file: &File,
    zip: &zip::ZipArchive<File>,
) -> Result<(Vec<Finding>, BTreeSet<String>), io::Error> {
    let mut findings = Vec::new();
    let mut seen: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for name in central_names(file, zip.central_directory_start())? {
        *seen.entry(name).or_default() += 1;
    }
    let dups: Vec<String> = seen
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(name, n)| {
            format!(
                "`{}` ({n} times)",
                String::from_utf8_lossy(name).escape_debug()
            )
        })
        .collect();
    if !dups.is_empty() {
        let mut f = Finding::new(
            "wheel-duplicate-entry",
            Severity::Error,
            "The wheel holds two entries of one name",
            format!(
                "{} entries of the archive share a name: {}; only one of each was checked, and \
                 installers differ in which one they write",
                dups.len(),
                dups.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ),
            "rebuild the wheel; never install or publish this one",
        );
        f.evidence = dups;
        findings.push(f);
    }

    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for name in zip.file_names() {
        let path = name.trim_end_matches('/');
        if name.ends_with('/') {
            dirs.insert(path.to_string());
        } else {
            files.insert(path.to_string());
        }
        let mut parent = path;
        while let Some((up, _)) = parent.rsplit_once('/') {
            if !dirs.insert(up.to_string()) {
                break;
            }
            parent = up;
        }
    }
    let clashes: BTreeSet<String> = files.intersection(&dirs).cloned().collect();
    for name in &clashes {
        findings.push(Finding::new(
            "wheel-path-clash",
            Severity::Error,
            "A path of the wheel is both a file and a directory",
            format!(
                "`{}` is a file in the wheel and also the directory of other entries: an \
                 installer cannot write both",
                name.escape_debug()
            ),
            "rebuild the wheel; never install or publish this one",
        ));
    }
    Ok((findings, clashes))
}

/// The names of the central directory's records starting at `start`, as
/// stored, up to the first bytes that are not a record.
fn central_names(file: &File, start: u64) -> io::Result<Vec<Vec<u8>>> {
    const SIGNATURE: u32 = 0x0201_4b50;
    let mut r = BufReader::new(file);
    r.seek(SeekFrom::Start(start))?;
    let mut names = Vec::new();
    let mut header = [0u8; 46];
    loop {
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if u32::from_le_bytes([header[0], header[1], header[2], header[3]]) != SIGNATURE {
            break;
        }
        let len = |at: usize| usize::from(u16::from_le_bytes([header[at], header[at + 1]]));
        let mut name = vec![0u8; len(28)];
        r.read_exact(&mut name)?;
        r.seek_relative((len(30) + len(32)) as i64)?;
        names.push(name);
    }
    Ok(names)
}

/// What one pass over the archive found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Each file's `RECORD`-style hash (`None` where its algorithm is not
    /// one wheels use, or it could not be read) and size.
    pub actual: BTreeMap<String, (Option<String>, u64)>,
    /// The ELF binaries: the entry's name and where it was extracted.
    pub binaries: Vec<(String, PathBuf)>,
    /// The files' base names (libraries a binary may need from the wheel).
    pub base_names: BTreeSet<String>,
    /// Unsafe paths, unreadable entries and binaries over the cap.
    pub findings: Vec<Finding>,
}

/// Hash every file of `zip` with the algorithm `RECORD` names for it
/// (sha256 where it names none) and extract the ELF binaries under
/// `scratch`, writing at most `cap` bytes of them in all; entries named in
/// `skip` (path clashes) are hashed but not extracted.
pub(crate) fn scan(
    zip: &mut zip::ZipArchive<File>,
    record_algos: &BTreeMap<&str, &str>,
    scratch: &Path,
    cap: u64,
    skip: &BTreeSet<String>,
    unreadable: impl Fn(String) -> Finding,
) -> Result<Scan, WheelCheckError> {
    let mut out = Scan::default();
    let mut extracted = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                out.findings
                    .push(unreadable(format!("archive entry {i}: {e}")));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry.name().to_string();
        let Some(relative) = entry.enclosed_name() else {
            out.findings.push(Finding::new(
                "wheel-unsafe-path",
                Severity::Error,
                "Unsafe path in the wheel",
                format!("`{entry_name}` would be written outside the install directory"),
                "rebuild the wheel; never install this one",
            ));
            continue;
        };
        if let Some(base) = relative.file_name() {
            out.base_names.insert(base.to_string_lossy().into_owned());
        }
        let extract = !skip.contains(&entry_name)
            && !skip.iter().any(|d| {
                entry_name
                    .strip_prefix(d.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            });
        let mut hasher = record_algos
            .get(entry_name.as_str())
            .map_or(Some(FileHasher::Sha256(Default::default())), |h| {
                FileHasher::for_record_hash(h)
            });
        let mut dest: Option<(File, PathBuf)> = None;
        let mut size = 0u64;
        let mut first = true;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    out.findings.push(unreadable(format!("{entry_name}: {e}")));
                    hasher = None;
                    dest = None;
                    break;
                }
            };
            if first {
                first = false;
                if extract && is_elf(&buf[..n]) {
                    let path = scratch.join(&relative);
                    let created = path
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| File::create(&path));
                    let f = created.map_err(|source| WheelCheckError::Extract {
                        entry: entry_name.clone(),
                        source,
                    })?;
                    dest = Some((f, path));
                }
            }
            size += n as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..n]);
            }
            if let Some((f, path)) = dest.as_mut() {
                if extracted + n as u64 > cap {
                    let _ = std::fs::remove_file(&*path);
                    dest = None;
                    out.findings.push(binary_too_large(&entry_name, cap));
                } else {
                    extracted += n as u64;
                    f.write_all(&buf[..n])
                        .map_err(|source| WheelCheckError::Extract {
                            entry: entry_name.clone(),
                            source,
                        })?;
                }
            }
        }
        out.actual
            .insert(entry_name.clone(), (hasher.map(FileHasher::finish), size));
        if let Some((_, path)) = dest {
            out.binaries.push((entry_name, path));
        }
    }
    Ok(out)
}

fn binary_too_large(entry: &str, cap: u64) -> Finding {
    Finding::new(
        "binary-too-large",
        Severity::Error,
        "The wheel's binaries inflate beyond what wheelwright reads",
        format!(
            "{entry} takes the binaries extracted past {} MiB (64 MiB and {EXTRACT_PER_WHEEL_BYTE} \
             times the wheel's size): it was not read",
            cap / (1024 * 1024)
        ),
        "a binary this much larger than its wheel is a zip bomb or padding: rebuild the wheel, \
         never install or publish this one",
    )
}
