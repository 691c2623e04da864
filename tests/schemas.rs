//! The JSON schemas under `schemas/` are generated from the types
//! (`wheelwright_core::schema`, the `schema` feature): this test renders them
//! and fails when a committed file drifts from its type;
//! `WHEELWRIGHT_BLESS=1 cargo test --test schemas` writes them. The committed
//! results under `bench/results/` that carry a contract's current
//! `schema_version` are validated against its schema with an independent
//! validator (`check-jsonschema`), and so is a broken copy of one, which must
//! be rejected. A real build's report is validated in `tests/build.rs`.

mod common;

use std::path::{Path, PathBuf};

use common::schemas::{schema_path, validate, validator};
use serde_json::Value;
use wheelwright_core::builder::report::BUILD_REPORT_SCHEMA_VERSION;
use wheelwright_core::facts::FACTS_SCHEMA_VERSION;
use wheelwright_core::plan::PLAN_SCHEMA_VERSION;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_schemas_are_generated_from_the_types() {
    let bless = std::env::var_os("WHEELWRIGHT_BLESS").is_some();
    let mut drifted = Vec::new();
    let all = wheelwright_core::schema::all();
    for (name, schema) in &all {
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        let path = schema_path(name);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drifted.push(path.display().to_string());
        }
    }
    assert!(
        drifted.is_empty(),
        "{drifted:?} differ from the types: run `WHEELWRIGHT_BLESS=1 cargo test --test schemas` and commit the result"
    );
    // Nothing else lives there (a schema of a removed type would linger).
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("schemas"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut names: Vec<String> = all.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(on_disk, names);
}

/// The contract a committed JSON file is, by its shape, and whether it
/// carries that contract's current `schema_version`.
fn contract(v: &Value) -> (&'static str, bool) {
    let version = v["schema_version"].as_u64().unwrap_or(0);
    if v.get("wheelwright_version").is_some() {
        (
            "build-report.schema.json",
            version == u64::from(BUILD_REPORT_SCHEMA_VERSION),
        )
    } else if v.get("gencodes").is_some() && v.get("max_jobs").is_some() {
        (
            "plan.schema.json",
            version == u64::from(PLAN_SCHEMA_VERSION),
        )
    } else if v.get("host").is_some() && v.get("gpus").is_some() {
        (
            "facts.schema.json",
            version == u64::from(FACTS_SCHEMA_VERSION),
        )
    } else {
        panic!("a committed JSON with schema_version that is no known contract: {v:.200}")
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn committed_results_of_the_current_versions_match_their_schemas() {
    let Some(validator) = validator() else {
        return;
    };
    let mut files = Vec::new();
    json_files(&repo().join("bench/results"), &mut files);
    files.sort();
    let mut checked = Vec::new();
    for path in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if v.get("schema_version").is_none() {
            continue;
        }
        let (schema, current) = contract(&v);
        if !current {
            eprintln!("older schema_version, not checked: {}", path.display());
            continue;
        }
        if let Err(e) = validate(&validator, schema, &[path]) {
            panic!("{} does not match {schema}:\n{e}", path.display());
        }
        checked.push((schema, path.display().to_string()));
    }
    eprintln!("validated: {checked:#?}");
    // The bench results hold plans and facts of the current versions.
    for schema in ["plan.schema.json", "facts.schema.json"] {
        assert!(checked.iter().any(|(s, _)| *s == schema), "{checked:?}");
    }
}

/// The check can fail: a committed plan with an unknown field, a field of
/// the wrong type, a misspelt enum value or a field of a nested finding
/// unknown is rejected.
#[test]
fn a_broken_plan_is_rejected() {
    let Some(validator) = validator() else {
        return;
    };
    let path = repo().join("bench/results/h100-validation/plan_h100.json");
    let good: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    validate(&validator, "plan.schema.json", &[&path]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let breakages: [common::schemas::Breakage; 4] = [
        ("an unknown field", |v| v["max_jobz"] = 4.into()),
        ("a string for a number", |v| v["max_jobs"] = "4".into()),
        ("a negative count", |v| v["cpus"] = (-1).into()),
        ("an unknown severity", |v| {
            v["findings"] = serde_json::json!([{
                "id": "x", "severity": "fatal", "title": "t", "message": "m", "fix": "f"
            }])
        }),
    ];
    for (what, breakage) in breakages {
        let mut bad = good.clone();
        breakage(&mut bad);
        let p = dir.path().join("plan.json");
        std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(
            validate(&validator, "plan.schema.json", &[&p]).is_err(),
            "{what} was accepted"
        );
    }
}
