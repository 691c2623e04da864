//! `action.yml` and `.github/workflows/build-wheels.yml` as GitHub reads them: valid
//! YAML, every input used and declared, inputs never spliced into a script
//! (they travel as environment variables, so a spec cannot inject shell), the
//! outputs wired to the build step, and every flag a step passes known to the
//! real binary's `--help`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{expect_code, TestContext};
use yaml_rust2::{Yaml, YamlLoader};

fn load(rel: &str) -> (String, Yaml) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{rel} is not valid YAML (GitHub would reject it): {e}"));
    assert_eq!(docs.len(), 1, "{rel}: one document");
    (text, docs.remove(0))
}

fn keys(map: &Yaml) -> BTreeSet<String> {
    map.as_hash()
        .map(|h| {
            h.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The NAMEs of every `${{ inputs.NAME }}` in `text` (an `inputs.` that
/// starts an expression's word, not `steps.inputs.outputs` or `inputs.sh`).
fn input_refs(text: &str) -> BTreeSet<String> {
    text.match_indices("inputs.")
        .filter(|(i, _)| matches!(text[..*i].chars().last(), Some(' ' | '{' | '(' | '!')))
        .map(|(i, _)| {
            text[i + "inputs.".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}

fn steps(action: &Yaml) -> &Vec<Yaml> {
    action["runs"]["steps"].as_vec().expect("runs.steps")
}

#[test]
fn action_inputs_are_declared_used_and_never_spliced_into_scripts() {
    let (text, action) = load("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let declared = keys(&action["inputs"]);
    assert!(declared.contains("spec") && declared.contains("calibrate"));
    for name in &declared {
        assert!(
            action["inputs"][name.as_str()]["description"]
                .as_str()
                .is_some(),
            "input {name} has no description"
        );
    }
    assert_eq!(input_refs(&text), declared, "inputs used vs declared");

    for step in steps(&action) {
        let name = step["name"].as_str().unwrap_or("?");
        if let Some(script) = step["run"].as_str() {
            assert!(
                step["shell"].as_str().is_some(),
                "{name}: a composite run step needs a shell"
            );
            assert!(
                !script.contains("${{"),
                "{name}: an expression spliced into the script can inject shell; pass it through env"
            );
        }
    }

    // Outputs come from steps the binary writes them in (`wheelwright build`).
    let build = steps(&action)
        .iter()
        .find(|s| s["id"].as_str() == Some("build"))
        .expect("a step with id build");
    assert!(build["run"]
        .as_str()
        .unwrap()
        .contains("\"$WHEELWRIGHT\" build"));
    let ids: BTreeSet<&str> = steps(&action)
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for out in keys(&action["outputs"]) {
        let value = action["outputs"][out.as_str()]["value"].as_str().unwrap();
        let step = value
            .strip_prefix("${{ steps.")
            .and_then(|v| v.strip_suffix(" }}"))
            .and_then(|v| v.split_once(".outputs."))
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("output {out}: {value} is not a step's output"));
        assert!(ids.contains(step), "output {out} names no step {step}");
    }
}

/// Each `wheelwright CMD` line in a step, with the `--flags` its step passes:
/// every one must be in the real binary's `CMD --help`.
#[test]
fn every_flag_the_action_passes_is_known_to_the_binary() {
    let (_, action) = load("action.yml");
    let ctx = TestContext::new();
    let mut checked = 0;
    for step in steps(&action) {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        let Some(cmd) = script.lines().find_map(|l| {
            l.trim()
                .strip_prefix("\"$WHEELWRIGHT\" ")
                .and_then(|rest| rest.split_whitespace().next())
        }) else {
            continue;
        };
        let out = ctx.wheelwright().args([cmd, "--help"]).output().unwrap();
        let help = expect_code(&out, 0);
        let flags: BTreeSet<&str> = script
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect();
        for flag in flags {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "`wheelwright {cmd}` has no {flag}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} flags found in the action's steps"
    );
}

#[test]
fn the_reusable_workflow_calls_the_action_with_its_inputs() {
    let (text, workflow) = load(".github/workflows/build-wheels.yml");
    let (_, action) = load("action.yml");
    // YAML 1.2 keeps `on` a string key.
    let call = &workflow["on"]["workflow_call"];
    let declared = keys(&call["inputs"]);
    assert_eq!(
        input_refs(&text),
        declared,
        "workflow inputs used vs declared"
    );

    let job = &workflow["jobs"]["build"];
    let steps = job["steps"].as_vec().unwrap();
    let uses_action = steps
        .iter()
        .find(|s| s["uses"].as_str() == Some("./.wheelwright-action"))
        .expect("a step using the checked-out action");
    let passed = keys(&uses_action["with"]);
    let accepted = keys(&action["inputs"]);
    assert!(
        passed.is_subset(&accepted),
        "{passed:?} not all in {accepted:?}"
    );
    // Third-party actions are pinned to a commit.
    for s in steps {
        if let Some(uses) = s["uses"].as_str().filter(|u| !u.starts_with("./")) {
            let sha = uses.rsplit('@').next().unwrap();
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{uses} is not pinned to a commit"
            );
        }
    }
}
