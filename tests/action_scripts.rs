//! The action run end to end under a fake runner (`GITHUB_OUTPUT`,
//! `GITHUB_ENV`, `GITHUB_PATH`, `RUNNER_TOOL_CACHE` in a temp dir) with a
//! recording fake `wheelwright` (`wheelwright-path`): what each step passes
//! to the binary, the booleans it accepts and refuses, the outputs wired
//! through, nothing exported to later steps; and a scan of every shell
//! script for the empty-array expansion that bash 4.2 rejects under `set -u`.

mod fake_runner;

use std::path::{Path, PathBuf};

use fake_runner::{ActionRun, FakeRunner, RecordingWheelwright};
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Yaml {
    let text = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The action with `inputs` (and `wheelwright-path` set to the recorder).
fn run(inputs: &[(&str, &str)]) -> (FakeRunner, RecordingWheelwright, ActionRun) {
    let runner = FakeRunner::new();
    let ww = RecordingWheelwright::new(runner.dir.path());
    let mut all = vec![("wheelwright-path", ww.path.to_str().unwrap().to_string())];
    all.extend(inputs.iter().map(|(k, v)| (*k, v.to_string())));
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let result = runner.run_action(&action(), repo(), &all);
    (runner, ww, result)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_action_runs_doctor_setup_build_with_its_inputs_and_wires_the_outputs() {
    // A spec that starts with `-`, holds shell and a workflow command on its
    // second line: one argument, after `--`.
    let spec = "-e flash-attn==2.8.3; touch /tmp/pwned\n::error title=PWNED::x";
    let (runner, ww, result) = run(&[
        ("spec", spec),
        ("archs", "80;90"),
        ("max-jobs", "8"),
        ("python", "/opt/venv/bin/python"),
        ("verify", "FALSE"),
        ("allow-system-python", "True"),
        ("prefer-prebuilt", "True"),
        ("cxx11-abi", "TRUE"),
        ("torch-pin", "False"),
        ("manylinux", "true"),
        ("variants", "TRUE"),
    ]);
    assert!(result.succeeded(), "{}", result.log());
    let cache = runner.tool_cache.join("wheelwright/work");
    let keyed = cache.join("default-0123");
    assert_eq!(
        ww.calls(),
        vec![
            s(&[
                "workdir",
                "--root",
                cache.to_str().unwrap(),
                "--scope",
                "default",
                "--max-age-days",
                "14",
                "--max-total",
                "200GiB",
                "--github-output",
                "--python",
                "/opt/venv/bin/python",
                "--archs",
                "80;90",
                "--",
                spec,
            ]),
            // The plan the build runs: the same archs and jobs (the spec is
            // no path here, so no --source).
            s(&[
                "doctor",
                "--archs",
                "80;90",
                "--max-jobs",
                "8",
                "--python",
                "/opt/venv/bin/python"
            ]),
            s(&[
                "setup",
                "--python",
                "/opt/venv/bin/python",
                "--allow-system"
            ]),
            s(&[
                "build",
                "--out",
                "wheelhouse",
                "--work-dir",
                keyed.to_str().unwrap(),
                "--archs",
                "80;90",
                "--max-jobs",
                "8",
                "--python",
                "/opt/venv/bin/python",
                "--no-verify",
                "--prefer-prebuilt",
                "--cxx11-abi",
                "TRUE",
                "--no-torch-pin",
                "--manylinux",
                "--variants",
                "--",
                spec,
            ]),
        ]
    );
    assert_eq!(result.outputs["work-dir"], keyed.display().to_string());
    assert_eq!(result.outputs["wheel-path"], "/w/fake.whl");
    assert_eq!(result.outputs["sha256"], "abc");
    assert_eq!(result.outputs["asset-urls"], "", "no publish-* input");
    assert_eq!(result.outputs["outcome"], "ok");
    assert_eq!(result.outputs["wheel"], "/w/fake.whl");
    assert_eq!(result.outputs["wheel-sha256"], "abc");
    assert_eq!(result.outputs["wheelwright"], ww.path.display().to_string());
    // Nothing is exported to the job's later steps.
    assert_eq!(std::fs::read_to_string(&runner.github_env).unwrap(), "");
    assert_eq!(std::fs::read_to_string(&runner.github_path).unwrap(), "");
}

#[test]
fn defaults_give_the_shortest_commands_and_empty_arrays_expand_to_nothing() {
    let (runner, ww, result) = run(&[]);
    assert!(result.succeeded(), "{}", result.log());
    let calls = ww.calls();
    assert_eq!(calls[0][0], "workdir");
    assert_eq!(&calls[1..3], [s(&["doctor"]), s(&["setup"])]);
    let keyed = runner.tool_cache.join("wheelwright/work/default-0123");
    assert_eq!(
        calls[3],
        s(&[
            "build",
            "--out",
            "wheelhouse",
            "--work-dir",
            keyed.to_str().unwrap(),
            "--",
            "flash-attn==2.8.3"
        ])
    );
}

#[test]
fn an_explicit_work_dir_is_used_as_is_with_the_spec() {
    let (_runner, ww, result) = run(&[("work-dir", "/srv/ww work"), ("cache-scope", "release")]);
    assert!(result.succeeded(), "{}", result.log());
    assert!(result.step("workdir").skipped);
    let calls = ww.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[2],
        s(&[
            "build",
            "--out",
            "wheelhouse",
            "--work-dir",
            "/srv/ww work",
            "--",
            "flash-attn==2.8.3"
        ])
    );
    assert_eq!(result.outputs["work-dir"], "");
}

#[test]
fn publish_inputs_become_publish_flags_after_a_successful_build() {
    let (_runner, ww, result) = run(&[
        ("publish-github-release", "v2.8.3"),
        ("publish-index-dir", "site"),
        ("publish-base-url", "https://example.test/dl/"),
        ("setup", "false"),
    ]);
    assert!(result.succeeded(), "{}", result.log());
    let calls = ww.calls();
    assert_eq!(
        calls.last().unwrap(),
        &s(&[
            "publish",
            "--report",
            "/w/report.json",
            "--github-release",
            "v2.8.3",
            "--index-dir",
            "site",
            "--base-url",
            "https://example.test/dl/",
        ])
    );
    assert_eq!(
        result.outputs["asset-urls"],
        "https://example.test/fake.whl"
    );
}

#[test]
fn a_calibrate_report_is_passed_once_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let (_runner, ww, result) = run(&[("calibrate", report.to_str().unwrap()), ("setup", "false")]);
    assert!(result.succeeded(), "{}", result.log());
    assert_eq!(ww.calls().len(), 3, "no setup: {:?}", ww.calls());
    assert!(!ww.calls().concat().contains(&"--calibrate".to_string()));
    std::fs::write(&report, "{}").unwrap();
    let (_runner, ww, _) = run(&[("calibrate", report.to_str().unwrap()), ("setup", "false")]);
    let calls = ww.calls();
    assert_eq!(
        calls[1],
        s(&["doctor", "--calibrate", report.to_str().unwrap()])
    );
    assert!(calls[2]
        .windows(2)
        .any(|w| w == ["--calibrate", report.to_str().unwrap()]));
}

#[test]
fn booleans_are_true_or_false_in_any_case_and_nothing_else() {
    for (value, verify_flag) in [("true", false), ("TRUE", false), ("False", true)] {
        let (_runner, ww, result) = run(&[("verify", value)]);
        assert!(result.succeeded(), "{value}: {}", result.log());
        let build = ww.calls().pop().unwrap();
        assert_eq!(
            build.contains(&"--no-verify".to_string()),
            verify_flag,
            "{value}"
        );
    }
    for value in ["yes", "1", "", "ture", "false\n::error::x"] {
        let (_runner, ww, result) = run(&[("setup", value)]);
        let failed = result
            .failed_step()
            .expect("a bad boolean stops the action");
        assert_eq!(failed.id, "inputs", "{value:?}");
        assert_eq!(failed.code, Some(2));
        assert!(
            failed.stderr.contains("input setup must be true or false"),
            "{}",
            failed.stderr
        );
        assert!(failed.stderr.contains("hint: "), "{}", failed.stderr);
        assert!(
            !failed
                .stderr
                .lines()
                .any(|l| l.trim_start().starts_with("::")),
            "a value cannot forge a workflow command: {}",
            failed.stderr
        );
        assert_eq!(ww.calls(), Vec::<Vec<String>>::new(), "nothing ran");
    }
}

#[test]
fn a_failing_install_stops_the_action_before_any_build() {
    let runner = FakeRunner::new();
    let missing = runner.dir.path().join("no-such-wheelwright");
    let result = runner.run_action(
        &action(),
        repo(),
        &[("wheelwright-path", missing.to_str().unwrap())],
    );
    let failed = result.failed_step().expect("install fails");
    assert_eq!(failed.id, "install");
    assert!(
        failed.stderr.contains("not an executable file"),
        "{}",
        failed.stderr
    );
    assert!(result
        .steps
        .iter()
        .skip_while(|s| s.id != "install")
        .skip(1)
        .all(|s| s.skipped));
}

/// Every shell script the project ships: action/*.sh and the `run:` of every
/// step in action.yml and the workflows.
fn shell_scripts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("action")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "sh") {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    let mut ymls: Vec<PathBuf> = vec![repo().join("action.yml")];
    for dir in ["workflows", ".github/workflows"] {
        if let Ok(rd) = std::fs::read_dir(repo().join(dir)) {
            ymls.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    for yml in ymls {
        let text = std::fs::read_to_string(&yml).unwrap();
        let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
        let mut steps: Vec<&Yaml> = doc["runs"]["steps"]
            .as_vec()
            .into_iter()
            .flatten()
            .collect();
        if let Some(jobs) = doc["jobs"].as_hash() {
            for job in jobs.values() {
                steps.extend(job["steps"].as_vec().into_iter().flatten());
            }
        }
        for (i, step) in steps.into_iter().enumerate() {
            if let Some(script) = step["run"].as_str() {
                out.push((format!("{} step {i}", yml.display()), script.to_string()));
            }
        }
    }
    out
}

/// `"${name[@]}"` (or `[*]`) not written as `${name[@]+"${name[@]}"}`: with
/// `set -u` bash 4.2 stops on it when the array is empty ("unbound variable").
fn unsafe_array_expansions(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = script[from..].find("\"${").map(|i| i + from) {
        from = i + 3;
        let Some(end) = script[i..].find('}').map(|e| e + i) else {
            break;
        };
        let inner = &script[i + 3..end];
        if !(inner.ends_with("[@]") || inner.ends_with("[*]")) {
            continue;
        }
        let guard = format!("${{{inner}+");
        if !script[..i].ends_with(&guard) {
            found.push(script[i..(end + 2).min(script.len())].to_string());
        }
    }
    found
}

#[test]
fn no_script_expands_a_possibly_empty_array_unguarded() {
    // The check itself finds the pattern (and accepts the guarded form).
    assert_eq!(
        unsafe_array_expansions("args=()\nwheelwright doctor \"${args[@]}\"\n"),
        ["\"${args[@]}\""]
    );
    assert!(unsafe_array_expansions("x ${args[@]+\"${args[@]}\"} \"${HOME}\"").is_empty());

    let scripts = shell_scripts();
    assert!(scripts.len() >= 6, "found only {} scripts", scripts.len());
    for (name, script) in scripts {
        let bad = unsafe_array_expansions(&script);
        assert!(
            bad.is_empty(),
            "{name}: use ${{a[@]+\"${{a[@]}}\"}} for {bad:?}"
        );
    }
}
