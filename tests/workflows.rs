//! `workflows/build-wheels.yml`, the caller users copy into their repository,
//! is generated from the reusable workflow's inputs
//! (`.github/workflows/build-wheels.yml`): this test renders it and fails
//! when the file on disk drifts. `WHEELWRIGHT_BLESS=1 cargo test --test
//! workflows` writes the rendered file.

use std::fmt::Write as _;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

const REUSABLE: &str = ".github/workflows/build-wheels.yml";
const TEMPLATE: &str = "workflows/build-wheels.yml";

/// Inputs the caller computes itself rather than asks for.
const COMPUTED: &[&str] = &["matrix", "wheelwright-ref"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// YAML's single-quoted scalar: always valid, `'` doubled.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The caller workflow for the reusable one whose YAML is `reusable`.
fn render_template(reusable: &Yaml) -> String {
    let inputs = reusable["on"]["workflow_call"]["inputs"]
        .as_hash()
        .expect("on.workflow_call.inputs");
    let mut dispatch = String::new();
    let mut with = String::new();
    for (name, decl) in inputs {
        let name = name.as_str().unwrap();
        if COMPUTED.contains(&name) {
            continue;
        }
        let description = decl["description"].as_str().expect("description");
        let default = decl["default"].as_str().unwrap_or("");
        assert_eq!(
            decl["type"].as_str(),
            Some("string"),
            "{name}: string inputs only"
        );
        let _ = write!(
            dispatch,
            "      {name}:\n        description: {}\n        type: string\n        default: {}\n",
            quoted(description),
            quoted(default)
        );
        // A pull request has no inputs: the default then.
        let value = if default.is_empty() {
            format!("${{{{ inputs.{name} }}}}")
        } else {
            format!("${{{{ inputs.{name} || {} }}}}", quoted(default))
        };
        let _ = writeln!(with, "      {name}: {value}");
    }
    let permissions = &reusable["jobs"]["build"]["permissions"];
    let mut perms = String::new();
    for (k, v) in permissions.as_hash().expect("build permissions") {
        let _ = writeln!(
            perms,
            "      {}: {}",
            k.as_str().unwrap(),
            v.as_str().unwrap()
        );
    }
    format!(
        r#"# Build CUDA wheels on your self-hosted GPU runners with wheelwright: copy this file
# into your repository's .github/workflows/. It plans the matrix on a GitHub-hosted
# runner (`wheelwright plan --matrix`), then calls wheelwright's reusable workflow.
# Pin both `@main` below and `wheelwright-ref` to the wheelwright commit you reviewed.
#
# Generated from {REUSABLE} by tests/workflows.rs: do not edit by hand.
name: wheels

on:
  workflow_dispatch:
    inputs:
{dispatch}  pull_request:

permissions: {{}}

jobs:
  plan:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    outputs:
      matrix: ${{{{ steps.plan.outputs.matrix }}}}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          repository: wheelwright-rs/wheelwright
          ref: main
          path: .wheelwright-action
          persist-credentials: false
      - name: Install wheelwright
        id: install
        env:
          ACTION_PATH: ${{{{ github.workspace }}}}/.wheelwright-action
        run: bash "$ACTION_PATH/action/install.sh"
      - name: Plan the matrix
        id: plan
        env:
          WHEELWRIGHT: ${{{{ steps.install.outputs.wheelwright }}}}
        run: '"$WHEELWRIGHT" plan --matrix --github-output'

  wheels:
    needs: plan
    # zizmor: ignore[unpinned-uses] a template cannot name its own commit: pin @main when you copy it
    uses: wheelwright-rs/wheelwright/{REUSABLE}@main
    permissions:
{perms}    with:
      matrix: ${{{{ needs.plan.outputs.matrix }}}}
      wheelwright-ref: main
{with}"#
    )
}

fn load(rel: &str) -> (String, Yaml) {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap();
    let doc = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .remove(0);
    (text, doc)
}

#[test]
fn the_template_is_generated_from_the_reusable_workflow() {
    let (_, reusable) = load(REUSABLE);
    let rendered = render_template(&reusable);
    YamlLoader::load_from_str(&rendered).expect("the rendered template is YAML");
    let path = repo().join(TEMPLATE);
    if std::env::var_os("WHEELWRIGHT_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != rendered {
        let line = on_disk
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(on_disk.lines().count().min(rendered.lines().count()));
        panic!(
            "{TEMPLATE} drifted from {REUSABLE} at line {}: run `WHEELWRIGHT_BLESS=1 cargo test --test workflows`",
            line + 1
        );
    }
}

#[test]
fn the_drift_check_fails_when_an_input_changes() {
    let (text, _) = load(REUSABLE);
    let changed = text.replace("default: flash-attn==2.8.3", "default: flash-attn==2.8.2");
    assert_ne!(changed, text);
    let changed = YamlLoader::load_from_str(&changed).unwrap().remove(0);
    let on_disk = std::fs::read_to_string(repo().join(TEMPLATE)).unwrap();
    assert_ne!(render_template(&changed), on_disk);
}

#[test]
fn the_reusable_workflow_keeps_forks_off_the_runners_and_scopes_pr_caches() {
    let (_, wf) = load(REUSABLE);
    let build = &wf["jobs"]["build"];
    let guard = build["if"].as_str().unwrap();
    assert!(
        guard.contains("github.event_name != 'pull_request_target'"),
        "{guard}"
    );
    assert!(
        guard.contains("github.event.pull_request.head.repo.full_name == github.repository"),
        "{guard}"
    );
    assert_eq!(build["runs-on"].as_str(), Some("${{ matrix.runs-on }}"));
    let steps = build["steps"].as_vec().unwrap();
    let action = steps
        .iter()
        .find(|s| s["uses"].as_str() == Some("./.wheelwright-action"))
        .unwrap();
    assert_eq!(
        action["with"]["cache-scope"].as_str(),
        Some("${{ github.event_name == 'pull_request' && 'pull-request' || 'release' }}")
    );
    let attest = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/attest-build-provenance@"))
        })
        .expect("published wheels are attested");
    assert_eq!(
        attest["with"]["subject-path"].as_str(),
        Some("${{ steps.wheel.outputs.wheel-path }}")
    );
    // One index rebuild after the whole matrix, from the release.
    let index = &wf["jobs"]["index"];
    assert_eq!(index["needs"].as_str(), Some("build"));
    let script: String = index["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        script.contains("publish --from-release \"$TAG\""),
        "{script}"
    );
}
