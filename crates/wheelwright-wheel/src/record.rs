//! `RECORD`: the wheel's list of files with their hashes and sizes (PEP 376,
//! PEP 427). Every file in the archive must be listed with a hash that
//! matches its bytes, and every listed file must exist: a corrupt or
//! tampered wheel is never published.
//!
//! `RECORD` is CSV (the `csv` crate reads and writes it: a quoted field may
//! hold commas, quotes and newlines) and its hashes URL-safe base64 without
//! padding (the `base64` crate). [`parse_record`], [`render_record`] and
//! [`record_hash`] are public: whatever rewrites a wheel (retagging, the
//! fleet's variants) writes its `RECORD` with them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384, Sha512};

fn encode_no_pad(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One row of `RECORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The file's path in the archive.
    pub path: String,
    /// `sha256=<urlsafe base64 without padding>`, empty for `RECORD` itself.
    pub hash: String,
    /// The size in bytes, when given.
    pub size: Option<u64>,
}

/// A `RECORD` that is not valid CSV of `path,hash,size` rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RECORD line {line}: {why}")]
pub struct RecordParseError {
    /// 1-based line number where the row starts.
    pub line: u64,
    /// What is wrong with it.
    pub why: String,
}

/// Parse `RECORD`: CSV rows of `path,hash,size` (blank lines skipped).
pub fn parse_record(text: &str) -> Result<Vec<RecordRow>, RecordParseError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    // The line a row starts on, from its byte offset (csv's own line count
    // leaves out the blank lines it skips).
    let line_at = |byte: u64| {
        let before = &text.as_bytes()[..(byte as usize).min(text.len())];
        let blank = text.as_bytes()[before.len()..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|&&b| b == b'\n')
            .count();
        (before.iter().filter(|&&b| b == b'\n').count() + blank + 1) as u64
    };
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(RecordParseError {
                    line: line_at(start),
                    why: e.to_string(),
                })
            }
        }
        let line = line_at(record.position().map_or(start, csv::Position::byte));
        let err = |why: String| RecordParseError { line, why };
        let [path, hash, size] = [0, 1, 2].map(|i| record.get(i));
        let (Some(path), Some(hash), Some(size), 3) = (path, hash, size, record.len()) else {
            return Err(err(format!(
                "expected 3 fields (path,hash,size), found {}",
                record.len()
            )));
        };
        if path.is_empty() {
            return Err(err("empty path".into()));
        }
        let size = if size.is_empty() {
            None
        } else {
            Some(
                size.parse()
                    .map_err(|_| err("the size is not a number".into()))?,
            )
        };
        rows.push(RecordRow {
            path: path.to_string(),
            hash: hash.to_string(),
            size,
        });
    }
    Ok(rows)
}

/// Write rows as `RECORD` text (CSV, `\n` line ends, fields quoted where
/// they need it), in the given order.
pub fn render_record(rows: &[RecordRow]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for r in rows {
        let size = r.size.map(|s| s.to_string()).unwrap_or_default();
        writer
            .write_record([r.path.as_str(), r.hash.as_str(), size.as_str()])
            .expect("writing to memory cannot fail");
    }
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the fields are UTF-8")
}

/// A running hash of a file in the archive, for the algorithms wheels use.
#[derive(Debug, Clone)]
pub(crate) enum FileHasher {
    /// `sha256`, what pip and every build backend write.
    Sha256(Sha256),
    /// `sha384`.
    Sha384(Sha384),
    /// `sha512`.
    Sha512(Sha512),
}

impl FileHasher {
    /// A hasher for a `RECORD` hash's algorithm (`sha256=...`); `None` for an
    /// algorithm we do not accept (md5 and sha1 are too weak, PEP 427).
    pub(crate) fn for_record_hash(hash: &str) -> Option<FileHasher> {
        match hash.split_once('=')?.0 {
            "sha256" => Some(FileHasher::Sha256(Sha256::new())),
            "sha384" => Some(FileHasher::Sha384(Sha384::new())),
            "sha512" => Some(FileHasher::Sha512(Sha512::new())),
            _ => None,
        }
    }

    /// Feed bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            FileHasher::Sha256(h) => h.update(bytes),
            FileHasher::Sha384(h) => h.update(bytes),
            FileHasher::Sha512(h) => h.update(bytes),
        }
    }

    /// `algo=<urlsafe base64 without padding>`, as `RECORD` writes it.
    pub(crate) fn finish(self) -> String {
        match self {
            FileHasher::Sha256(h) => format!("sha256={}", encode_no_pad(&h.finalize())),
            FileHasher::Sha384(h) => format!("sha384={}", encode_no_pad(&h.finalize())),
            FileHasher::Sha512(h) => format!("sha512={}", encode_no_pad(&h.finalize())),
        }
    }
}

/// The `RECORD` hash of `bytes` with sha256.
pub fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", encode_no_pad(&Sha256::digest(bytes)))
}

/// Files whose `RECORD` row may have no hash: `RECORD` itself and its signatures.
pub(crate) fn may_lack_hash(path: &str) -> bool {
    ["/RECORD", "/RECORD.jws", "/RECORD.p7s"]
        .iter()
        .any(|s| path.ends_with(s) && path.contains(".dist-info/"))
}

/// What hashing the archive found, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecordVerdict {
    /// Files whose hash and size match.
    pub verified: usize,
    /// `path: why`, one per problem.
    pub problems: Vec<String>,
}

/// Compare `RECORD` rows with what the archive holds: `actual` maps each file
/// to (its hash with the row's algorithm, its size); rows without a file,
/// files without a row and wrong hashes or sizes are problems.
pub(crate) fn compare_record(
    rows: &[RecordRow],
    actual: &BTreeMap<String, (Option<String>, u64)>,
) -> RecordVerdict {
    let mut verdict = RecordVerdict::default();
    let mut listed = std::collections::BTreeSet::new();
    for row in rows {
        if !listed.insert(row.path.as_str()) {
            verdict.problems.push(format!("{}: listed twice", row.path));
            continue;
        }
        let Some((hash, size)) = actual.get(&row.path) else {
            verdict.problems.push(format!(
                "{}: listed in RECORD but not in the archive",
                row.path
            ));
            continue;
        };
        if row.hash.is_empty() {
            if !may_lack_hash(&row.path) {
                verdict
                    .problems
                    .push(format!("{}: no hash in RECORD", row.path));
            }
            continue;
        }
        match hash {
            None => verdict.problems.push(format!(
                "{}: unsupported hash `{}` (use sha256)",
                row.path, row.hash
            )),
            Some(h) if *h != row.hash => verdict.problems.push(format!(
                "{}: hash mismatch (RECORD {}, file {h})",
                row.path, row.hash
            )),
            Some(_) if row.size.is_some_and(|s| s != *size) => verdict.problems.push(format!(
                "{}: size mismatch (RECORD {}, file {size})",
                row.path,
                row.size.unwrap_or_default()
            )),
            Some(_) => verdict.verified += 1,
        }
    }
    for path in actual.keys() {
        if !listed.contains(path.as_str()) && !may_lack_hash(path) {
            verdict
                .problems
                .push(format!("{path}: in the archive but not in RECORD"));
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_pip() {
        // Python's urlsafe_b64encode(sha256(b"hello\n")) without the padding.
        assert_eq!(
            record_hash(b"hello\n"),
            "sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM"
        );
        assert_eq!(encode_no_pad(b"\xfb\xff"), "-_8");
        assert_eq!(encode_no_pad(b"a"), "YQ");
    }

    #[test]
    fn parses_quoted_rows_and_round_trips() {
        let text = "pkg/a.py,sha256=x,3\n\"pkg/b,c.py\",sha256=y,4\npkg-1.0.dist-info/RECORD,,\n";
        let rows = parse_record(text).unwrap();
        assert_eq!(rows[1].path, "pkg/b,c.py");
        assert_eq!(rows[2].size, None);
        assert_eq!(render_record(&rows), text);
        assert!(parse_record("a,b\n").is_err());
        assert!(parse_record("\"a,b,c\n").is_err());
        assert!(parse_record("a,sha256=x,big\n").is_err());
        let e = parse_record("a,sha256=x,1\n\nb,c\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn a_quoted_path_may_hold_a_newline() {
        // The CSV RECORD format allows it; the old line parser refused it.
        let text = "\"pkg/odd\nname.py\",sha256=x,3\r\npkg/b.py,sha256=y,4\n";
        let rows = parse_record(text).unwrap();
        assert_eq!(rows[0].path, "pkg/odd\nname.py");
        assert_eq!(rows[1].path, "pkg/b.py");
        let again = parse_record(&render_record(&rows)).unwrap();
        assert_eq!(again, rows);
    }

    #[test]
    fn finds_every_kind_of_mismatch() {
        let rows = parse_record(
            "a,sha256=A,1\nb,sha256=B,2\nc,sha256=C,3\nm,md5=M,1\np-1.dist-info/RECORD,,\n",
        )
        .unwrap();
        let mut actual = BTreeMap::new();
        actual.insert("a".to_string(), (Some("sha256=A".to_string()), 1));
        actual.insert("b".to_string(), (Some("sha256=X".to_string()), 2));
        actual.insert("m".to_string(), (None, 1));
        actual.insert("extra".to_string(), (Some("sha256=E".to_string()), 1));
        actual.insert("p-1.dist-info/RECORD".to_string(), (None, 9));
        let v = compare_record(&rows, &actual);
        assert_eq!(v.verified, 1);
        let text = v.problems.join("\n");
        for want in [
            "b: hash mismatch",
            "c: listed in RECORD but not in the archive",
            "m: unsupported hash",
            "extra: in the archive but not in RECORD",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
        assert_eq!(v.problems.len(), 4);
    }
}
