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

/// The reusable workflow's inputs the caller asks for when run by hand
/// (`workflow_dispatch` takes at most 10); the others keep their defaults.
const DISPATCH: &[&str] = &[
    "spec",
    "python",
    "torch",
    "cuda",
    "archs",
    "release-tag",
    "wheelhouse",
    "wheelhouse-url",
    "torch-index-url",
    "matrix",
];

/// The split build, offered commented: compile on GPU-less runners, verify
/// on a GPU runner before publishing (tests/executor.rs uncomments it).
const SPLIT: &str = "      # Compile on runners without a GPU and check each wheel on a GPU runner
      # (`wheel verify --import`) before it is published: uncomment with your GPU
      # runner's labels. The cells then need their archs: the archs input, or a
      # default written into `archs:` above (e.g. ${{ inputs.archs || '80;90' }}).
      # verify-runs-on: '[\"self-hosted\", \"linux\", \"x64\", \"gpu\"]'
";

/// The one ref a user pins; the template names it once.
const PIN: &str = "main";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// YAML's single-quoted scalar: always valid, `'` doubled.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The caller workflow for the reusable one whose YAML is `reusable`.
fn render_template(reusable: &Yaml) -> String {
    let inputs = &reusable["on"]["workflow_call"]["inputs"];
    let mut dispatch = String::new();
    let mut with = String::new();
    for name in DISPATCH {
        let decl = &inputs[*name];
        let description = decl["description"]
            .as_str()
            .unwrap_or_else(|| panic!("the reusable workflow has no input {name}"));
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
        // A push or a pull request has no inputs: the default then; a tag
        // publishes to the release of that tag.
        let value = if *name == "release-tag" {
            "${{ github.ref_type == 'tag' && github.ref_name || inputs.release-tag }}".to_string()
        } else if default.is_empty() {
            format!("${{{{ inputs.{name} }}}}")
        } else {
            format!("${{{{ inputs.{name} || {} }}}}", quoted(default))
        };
        let _ = writeln!(with, "      {name}: {value}");
    }
    let mut perms = String::new();
    let mut granted = std::collections::BTreeMap::new();
    for job in reusable["jobs"].as_hash().expect("jobs").values() {
        for (k, v) in job["permissions"].as_hash().into_iter().flatten() {
            let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap());
            let e = granted.entry(k).or_insert(v);
            if v == "write" {
                *e = v;
            }
        }
    }
    for (k, v) in granted {
        let _ = writeln!(perms, "      {k}: {v}");
    }
    format!(
        r#"# Build CUDA wheels on your self-hosted GPU runners with wheelwright: copy this file
# into your repository's .github/workflows/.
#
# Pin the one ref below (`@{PIN}`) to the wheelwright commit or release tag you
# reviewed: the jobs check out wheelwright's action at that same commit. A commit
# without a recorded release installs nothing by default: add `install: source`
# under `with:` (cargo on the runners) or `wheelwright-path:`.
#
# What runs when:
#   a tag (v*)          every cell of the matrix, published to the release of that
#                       tag, its index deployed to GitHub Pages (index-url output);
#   workflow_dispatch   every cell, with the inputs below (empty release-tag and
#                       wheelhouse: nothing published); `matrix` set to a run's
#                       failed-matrix output (its summary job) builds only the
#                       cells that failed there;
#   a pull request      one smoke cell, nothing published, never for forks
#                       (`pull-request: none` or `all` under `with:` to change it).
# Each cell runs on a self-hosted runner carrying every label in its runs-on:
# self-hosted, linux, the machine (x64) and cuda-X.Y (`wheelwright runner labels`
# on a runner prints its own; the README lists the ones to register).
#
# Generated from {REUSABLE} by tests/workflows.rs: do not edit by hand.
name: wheels

on:
  push:
    tags: ['v*']
  pull_request:
  workflow_dispatch:
    inputs:
{dispatch}
permissions: {{}}

jobs:
  wheels:
    # zizmor: ignore[unpinned-uses] a template cannot name its own commit: pin @{PIN} when you copy it
    uses: wheelwright-rs/wheelwright/{REUSABLE}@{PIN}
    permissions:
{perms}    with:
{with}{SPLIT}"#
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
        Some("${{ steps.wheel.outputs.wheel-path }}\n${{ steps.wheel.outputs.variant-wheel-path }}\n")
    );
    // One index build after the whole matrix, from the release.
    let index = &wf["jobs"]["index"];
    let needs: Vec<&str> = index["needs"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert_eq!(needs, ["plan", "build", "verify"]);
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

/// Item 8: one ref to pin. The template names wheelwright once (the reusable
/// workflow's `@ref`); every job of the reusable workflow checks the action out
/// at the commit the plan job located (the OIDC token's `job_workflow_sha`, or
/// `wheelwright-ref`), never at a ref of its own.
#[test]
fn the_template_has_one_ref_to_pin_and_the_jobs_use_the_located_commit() {
    let (text, template) = load(TEMPLATE);
    let refs: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| l.contains("wheelwright-rs/wheelwright") || l.contains("wheelwright-ref"))
        .collect();
    assert_eq!(
        refs,
        [format!(
            "    uses: wheelwright-rs/wheelwright/{REUSABLE}@{PIN}"
        )],
        "{text}"
    );
    assert!(template["jobs"]["wheels"]["with"]["wheelwright-ref"].is_badvalue());

    let (text, wf) = load(REUSABLE);
    assert!(
        text.contains("job_workflow_sha"),
        "the plan job reads its own commit"
    );
    for (name, job) in wf["jobs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        for step in job["steps"].as_vec().unwrap() {
            let Some(uses) = step["uses"].as_str() else {
                continue;
            };
            if !uses.starts_with("actions/checkout@") {
                continue;
            }
            let ref_ = step["with"]["ref"].as_str().unwrap();
            let repository = step["with"]["repository"].as_str().unwrap();
            if name == "plan" {
                assert_eq!(ref_, "${{ steps.locate.outputs.ref }}");
                assert_eq!(repository, "${{ steps.locate.outputs.repository }}");
            } else {
                assert_eq!(ref_, "${{ needs.plan.outputs.ref }}", "{name}");
                assert_eq!(repository, "${{ needs.plan.outputs.repository }}", "{name}");
            }
        }
    }
}

/// Item 1: every install mode is reachable from the reusable workflow (and so
/// from the template, whose `with:` takes any of its inputs): each job that
/// installs wheelwright passes every mode's input to `action/install.sh`, and
/// the build job hands the same binary to the action.
#[test]
fn every_install_mode_reaches_every_job_that_installs_wheelwright() {
    let (_, wf) = load(REUSABLE);
    let inputs = &wf["on"]["workflow_call"]["inputs"];
    let modes = [
        ("WW_INSTALL", "install"),
        ("WW_VERSION", "wheelwright-version"),
        ("WW_BINARY_URL", "binary-url"),
        ("WW_BINARY_SHA256", "binary-sha256"),
        ("WW_WHEELWRIGHT_PATH", "wheelwright-path"),
    ];
    let mut installing = Vec::new();
    for (name, job) in wf["jobs"].as_hash().unwrap() {
        for step in job["steps"].as_vec().into_iter().flatten() {
            if step["run"].as_str() != Some("bash \"$ACTION_PATH/action/install.sh\"") {
                continue;
            }
            installing.push(name.as_str().unwrap());
            for (var, input) in modes {
                assert!(inputs[input]["description"].as_str().is_some(), "{input}");
                assert_eq!(
                    step["env"][var].as_str(),
                    Some(format!("${{{{ inputs.{input} }}}}").as_str()),
                    "{name:?} {var}"
                );
            }
        }
    }
    assert_eq!(installing, ["plan", "build", "verify", "summary", "index"]);
    let build = wf["jobs"]["build"]["steps"].as_vec().unwrap();
    let action = build
        .iter()
        .find(|s| s["uses"].as_str() == Some("./.wheelwright-action"))
        .unwrap();
    assert_eq!(
        action["with"]["wheelwright-path"].as_str(),
        Some("${{ steps.install.outputs.wheelwright }}")
    );
}

/// The caller the README shows is the template, byte for byte (what a user
/// copies from the README is what tests/executor.rs runs under act).
/// `WHEELWRIGHT_BLESS=1` writes it into the README.
#[test]
fn the_readme_shows_the_template_as_it_is() {
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (_, reusable) = load(REUSABLE);
    let rendered = render_template(&reusable);
    let anchor = readme
        .find("### A fleet")
        .expect("the README's fleet section");
    let start = readme[anchor..].find("```yaml\n").expect("its yaml block") + anchor + 8;
    let end = readme[start..].find("```\n").expect("the block's end") + start;
    if std::env::var_os("WHEELWRIGHT_BLESS").is_some() {
        let blessed = format!("{}{rendered}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, blessed).unwrap();
        return;
    }
    assert!(
        readme[start..end] == rendered,
        "README.md's caller differs from {TEMPLATE}: run `WHEELWRIGHT_BLESS=1 cargo test --test workflows`"
    );
}

/// Issue 27 item 9: `verify-runs-on` splits each cell. The build job then
/// publishes nothing and attests nothing, uploads the wheel with its report;
/// the verify job, on those labels and guarded as the build job is, verifies
/// that artifact before its Publish step and attests after it; the jobs that
/// read what was published wait for verify. Without the input every split
/// step is off (today's behaviour: tests/executor.rs runs both).
#[test]
fn verify_runs_on_splits_compile_and_verify_and_publishes_only_after_verify() {
    let (_, wf) = load(REUSABLE);
    let input = &wf["on"]["workflow_call"]["inputs"]["verify-runs-on"];
    assert_eq!(input["default"].as_str(), Some(""));
    let build = wf["jobs"]["build"]["steps"].as_vec().unwrap();
    let action = build
        .iter()
        .find(|s| s["uses"].as_str() == Some("./.wheelwright-action"))
        .unwrap();
    for target in ["publish-github-release", "publish-wheelhouse"] {
        let v = action["with"][target].as_str().unwrap();
        assert!(v.contains("inputs.verify-runs-on == ''"), "{target}: {v}");
    }
    let guarded = |steps: &[Yaml], prefix: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
            .map(|s| s["if"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(guarded(build, "actions/attest-build-provenance@")[0]
        .contains("inputs.verify-runs-on == ''"));
    assert!(guarded(build, "actions/upload-artifact@")
        .iter()
        .any(|g| g == "inputs.verify-runs-on != ''"));
    let first = build[0]["if"].as_str().unwrap();
    assert_eq!(first, "inputs.verify-runs-on != '' && matrix.archs == ''");

    let verify = &wf["jobs"]["verify"];
    assert_eq!(
        verify["runs-on"].as_str(),
        Some("${{ fromJSON(inputs.verify-runs-on) }}")
    );
    let guard = verify["if"].as_str().unwrap();
    for part in [
        "inputs.verify-runs-on != ''",
        "github.event_name != 'pull_request_target'",
        "github.event.pull_request.head.repo.full_name == github.repository",
    ] {
        assert!(guard.contains(part), "{guard}");
    }
    let steps = verify["steps"].as_vec().unwrap();
    let position = |pred: &dyn Fn(&Yaml) -> bool| steps.iter().position(pred).unwrap();
    let verified =
        position(&|s| s["run"].as_str() == Some("bash \"$ACTION_PATH/action/verify-wheel.sh\""));
    let published =
        position(&|s| s["run"].as_str() == Some("bash \"$ACTION_PATH/action/publish.sh\""));
    let attested = position(&|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/attest-build-provenance@"))
    });
    assert!(verified < published && published < attested);
    assert_eq!(
        steps[attested]["with"]["subject-path"].as_str(),
        Some("${{ steps.verify.outputs.wheel-path }}\n${{ steps.verify.outputs.variant-wheel-path }}\n")
    );
    for job in ["summary", "index"] {
        let needs: Vec<&str> = wf["jobs"][job]["needs"]
            .as_vec()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        assert!(needs.contains(&"verify"), "{job}");
    }
    // The template offers it, commented.
    let (text, _) = load(TEMPLATE);
    assert!(text.contains("      # verify-runs-on: '["), "{text}");
}
