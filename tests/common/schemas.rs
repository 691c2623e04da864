//! Validating JSON against the committed schemas (`schemas/`) with an
//! independent validator: `check-jsonschema` (python-jsonschema), which
//! `.ci/run` installs from PyPI. It checks each schema against the draft
//! 2020-12 metaschema first, then the instances.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's `schemas/NAME`.
pub fn schema_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name)
}

/// `check-jsonschema` on PATH (or `WHEELWRIGHT_CHECK_JSONSCHEMA`); `None`
/// with a note outside CI when it is missing; in CI a missing one fails.
pub fn validator() -> Option<PathBuf> {
    let found = std::env::var_os("WHEELWRIGHT_CHECK_JSONSCHEMA")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("check-jsonschema"))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        super::prerequisite_missing("check-jsonschema (pip install check-jsonschema)");
    }
    found
}

/// Validate `instances` against `schemas/NAME`: `Ok` or the validator's
/// own words.
pub fn validate(validator: &Path, schema: &str, instances: &[&Path]) -> Result<(), String> {
    validate_against(validator, &schema_path(schema), instances)
}

/// Validate `instances` against the schema file at `schema` (one not
/// generated here, such as a PEP's).
pub fn validate_against(
    validator: &Path,
    schema: &Path,
    instances: &[&Path],
) -> Result<(), String> {
    let out = Command::new(validator)
        .arg("--schemafile")
        .arg(schema)
        .args(instances)
        .output()
        .expect("run check-jsonschema");
    let text = super::both(&out);
    match out.status.code() {
        Some(0) => Ok(()),
        // 1: an instance is invalid; anything else (a bad schema, a crash)
        // is not an answer.
        Some(1) if text.contains("Schema validation errors") => Err(text),
        _ => panic!("check-jsonschema failed to run: {text}"),
    }
}

/// A named way to break a valid document (a negative case).
pub type Breakage = (&'static str, fn(&mut serde_json::Value));
