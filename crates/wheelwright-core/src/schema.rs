//! JSON schemas (draft 2020-12) of the JSON contracts, generated from the
//! types: [`Facts`], [`Plan`], [`Finding`], [`BuildReport`] and [`JobSpec`].
//! Behind the `schema` feature (it adds `schemars`); the repository commits
//! them under `schemas/`, and its tests fail when a type changes without its
//! schema (`WHEELWRIGHT_BLESS=1 cargo test --test schemas` rewrites them).
//!
//! The schemas follow serde's attributes as the types read JSON: renamed
//! fields and variants, fields with a default are optional, an `Option` may be
//! `null`. Every object is closed (`additionalProperties: false`), stricter
//! than serde's reader (which skips unknown fields except in [`JobSpec`]): a
//! schema describes what this version writes, so a misspelt, unknown or
//! newer field fails validation instead of passing unseen.

use schemars::transform::{transform_subschemas, Transform};
use schemars::{generate::SchemaSettings, JsonSchema, Schema};

use crate::builder::BuildReport;
use crate::facts::Facts;
use crate::finding::Finding;
use crate::job::JobSpec;
use crate::plan::Plan;

/// The contracts' schemas as `(file name, schema)`, in a fixed order: the
/// files under the repository's `schemas/`.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("facts.schema.json", schema_of::<Facts>()),
        ("plan.schema.json", schema_of::<Plan>()),
        ("finding.schema.json", schema_of::<Finding>()),
        ("build-report.schema.json", schema_of::<BuildReport>()),
        ("job-spec.schema.json", schema_of::<JobSpec>()),
    ]
}

/// The schema of `T` (draft 2020-12, every object closed) as JSON.
pub fn schema_of<T: JsonSchema>() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12()
        .with_transform(CloseObjects)
        .into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

/// Sets `additionalProperties: false` on every object schema with
/// properties that does not say otherwise (a map keeps its value schema).
#[derive(Debug, Clone, Copy)]
struct CloseObjects;

impl Transform for CloseObjects {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(obj) = schema.as_object_mut() {
            if obj.contains_key("properties") && !obj.contains_key("additionalProperties") {
                obj.insert("additionalProperties".into(), false.into());
            }
        }
        transform_subschemas(self, schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_closed_and_serde_names_are_kept() {
        let report = schema_of::<BuildReport>();
        assert_eq!(report["additionalProperties"], false);
        let defs = &report["$defs"];
        assert_eq!(defs["Attempt"]["additionalProperties"], false);
        // rename_all = "kebab-case"
        let outcome = serde_json::to_string(&defs["Outcome"]).unwrap();
        assert!(outcome.contains("\"oom-killed\""), "{outcome}");
        // A map keeps its value schema (the environment's `set`).
        let set = &defs["BuildEnvironment"]["properties"]["set"];
        assert_eq!(set["additionalProperties"]["type"], "string", "{set}");
        // skip_serializing_if + default: optional; a plain field: required.
        let required: Vec<&str> = report["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(required.contains(&"schema_version"));
        assert!(!required.contains(&"publish") && !required.contains(&"job"));
    }
}
