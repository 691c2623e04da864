//! `RECORD`: the wheel's list of files with their hashes and sizes (PEP 376,
//! PEP 427). Every file in the archive must be listed with a hash that
//! matches its bytes, and every listed file must exist: a corrupt or
//! tampered wheel is never published.

use std::collections::BTreeMap;

use base64_urlsafe::encode_no_pad;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// One row of `RECORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordRow {
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
pub(crate) struct RecordParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

/// Parse `RECORD` (CSV: fields may be quoted, `""` is a quote inside quotes).
pub(crate) fn parse_record(text: &str) -> Result<Vec<RecordRow>, RecordParseError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let err = |why: &str| RecordParseError {
            line: line_no,
            why: why.to_string(),
        };
        let fields = split_csv_line(line).ok_or_else(|| err("unbalanced quotes"))?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(err(&format!(
                "expected 3 fields (path,hash,size), found {}",
                fields.len()
            )));
        };
        if path.is_empty() {
            return Err(err("empty path"));
        }
        let size = if size.is_empty() {
            None
        } else {
            Some(size.parse().map_err(|_| err("the size is not a number"))?)
        };
        rows.push(RecordRow {
            path: path.clone(),
            hash: hash.clone(),
            size,
        });
    }
    Ok(rows)
}

fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// Write rows as `RECORD` text (quoting fields that need it), in the given order.
pub(crate) fn render_record(rows: &[RecordRow]) -> String {
    let quote = |f: &str| {
        if f.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", f.replace('"', "\"\""))
        } else {
            f.to_string()
        }
    };
    rows.iter()
        .map(|r| {
            let size = r.size.map(|s| s.to_string()).unwrap_or_default();
            format!("{},{},{}\n", quote(&r.path), quote(&r.hash), size)
        })
        .collect()
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
pub(crate) fn record_hash(bytes: &[u8]) -> String {
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

/// URL-safe base64 without padding (RFC 4648 §5), the encoding of `RECORD` hashes.
mod base64_urlsafe {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// Encode `bytes`.
    pub(crate) fn encode_no_pad(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
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
        assert_eq!(base64_urlsafe::encode_no_pad(b"\xfb\xff"), "-_8");
        assert_eq!(base64_urlsafe::encode_no_pad(b"a"), "YQ");
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
