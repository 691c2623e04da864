//! Tiny valid wheels for the tests: a module, METADATA, WHEEL and a RECORD
//! with real hashes (the wheel crate's RECORD writer), written with the zip
//! crate.

use std::io::Write;
use std::path::{Path, PathBuf};

use wheelwright_wheel::record::{record_hash, render_record, RecordRow};

/// Write `DIR/<name>-<version>-py3-none-any.whl` and return its path.
pub fn write_wheel(dir: &Path, name: &str, version: &str, requires_python: &str) -> PathBuf {
    let module = name.to_ascii_lowercase().replace('-', "_");
    let dist_info = format!("{name}-{version}.dist-info");
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("VERSION = {version:?}\n").into_bytes(),
        ),
        (
            format!("{dist_info}/METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: {requires_python}\n\nA tiny package.\n"
            )
            .into_bytes(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: wheelwright-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut rows: Vec<RecordRow> = files
        .iter()
        .map(|(path, bytes)| RecordRow {
            path: path.clone(),
            hash: record_hash(bytes),
            size: Some(bytes.len() as u64),
        })
        .collect();
    rows.push(RecordRow {
        path: format!("{dist_info}/RECORD"),
        hash: String::new(),
        size: None,
    });
    let record = render_record(&rows);
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));

    let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}
