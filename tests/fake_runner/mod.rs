//! A fake GitHub Actions runner for composite actions: runs `action.yml`'s
//! steps the way the runner does (`bash --noprofile --norc -eo pipefail`,
//! each step's `env:` evaluated, a fresh `GITHUB_OUTPUT` file per step whose
//! values later steps read, `GITHUB_ENV`/`GITHUB_PATH` applied to the steps
//! after the one that wrote them, `if:` conditions, the first failure
//! skipping the rest), with `RUNNER_TOOL_CACHE`, `RUNNER_TEMP` and the
//! workspace in a temp dir. Only the expressions the action uses are
//! understood; any other panics, so the test fails instead of guessing.
//!
//! Also: a recording fake `wheelwright` and a local HTTP server
//! (`python3 -m http.server` on 127.0.0.1, a port the OS picks).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::Yaml;

/// The runner's folders and files, all in one temp dir.
pub struct FakeRunner {
    pub dir: tempfile::TempDir,
    pub tool_cache: PathBuf,
    pub temp: PathBuf,
    pub workspace: PathBuf,
    pub github_env: PathBuf,
    pub github_path: PathBuf,
    pub step_summary: PathBuf,
    /// Prepended to the steps' PATH (`/usr/bin:/bin`).
    pub extra_path: Vec<PathBuf>,
    /// Variables of the runner's own environment, seen by every step (as a
    /// self-hosted runner's `.env` file sets them).
    pub runner_env: Vec<(String, String)>,
}

/// What one step did.
#[derive(Debug, Default)]
pub struct StepRun {
    pub id: String,
    pub name: String,
    pub skipped: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub outputs: BTreeMap<String, String>,
}

/// What the action did: every step, and the action's outputs.
#[derive(Debug)]
pub struct ActionRun {
    pub steps: Vec<StepRun>,
    pub outputs: BTreeMap<String, String>,
}

impl ActionRun {
    /// Whether every step that ran exited 0.
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.skipped || s.code == Some(0))
    }

    /// The step that failed, if one did.
    pub fn failed_step(&self) -> Option<&StepRun> {
        self.steps.iter().find(|s| !s.skipped && s.code != Some(0))
    }

    /// The step with this `id`.
    pub fn step(&self, id: &str) -> &StepRun {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"))
    }

    /// All steps' stdout and stderr, for assertion messages.
    pub fn log(&self) -> String {
        self.steps
            .iter()
            .map(|s| {
                format!(
                    "--- {} ({:?}, skipped {})\n{}{}",
                    s.name, s.code, s.skipped, s.stdout, s.stderr
                )
            })
            .collect()
    }
}

impl FakeRunner {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_path_buf();
        for d in ["tool-cache", "temp", "workspace", "home"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        let runner = FakeRunner {
            tool_cache: p.join("tool-cache"),
            temp: p.join("temp"),
            workspace: p.join("workspace"),
            github_env: p.join("github_env"),
            github_path: p.join("github_path"),
            step_summary: p.join("step_summary"),
            extra_path: Vec::new(),
            runner_env: Vec::new(),
            dir,
        };
        for f in [
            &runner.github_env,
            &runner.github_path,
            &runner.step_summary,
        ] {
            std::fs::write(f, "").unwrap();
        }
        runner
    }

    /// Run the composite action `action` (checked out at `action_path`)
    /// with these inputs (the others take their defaults).
    pub fn run_action(
        &self,
        action: &Yaml,
        action_path: &Path,
        inputs: &[(&str, &str)],
    ) -> ActionRun {
        let mut given: BTreeMap<String, String> = BTreeMap::new();
        for (name, decl) in action["inputs"].as_hash().expect("inputs") {
            let name = name.as_str().unwrap().to_string();
            let default = decl["default"].as_str().unwrap_or("").to_string();
            given.insert(name, default);
        }
        for (k, v) in inputs {
            assert!(given.contains_key(*k), "the action has no input {k}");
            given.insert(k.to_string(), v.to_string());
        }
        let mut ctx = Context {
            inputs: given,
            steps: BTreeMap::new(),
            action_path: action_path.display().to_string(),
        };
        let mut runs = Vec::new();
        let mut failed = false;
        let mut added_env: Vec<(String, String)> = Vec::new();
        let mut added_path: Vec<String> = Vec::new();
        for (i, step) in action["runs"]["steps"]
            .as_vec()
            .expect("steps")
            .iter()
            .enumerate()
        {
            let id = step["id"]
                .as_str()
                .map(String::from)
                .unwrap_or(format!("__{i}"));
            let name = step["name"].as_str().unwrap_or("?").to_string();
            let run_if = step["if"].as_str().is_none_or(|c| ctx.condition(c));
            if failed || !run_if {
                runs.push(StepRun {
                    id,
                    name,
                    skipped: true,
                    ..Default::default()
                });
                continue;
            }
            let script = step["run"].as_str().expect("only run steps");
            assert_eq!(step["shell"].as_str(), Some("bash"), "{name}: shell");
            let output_file = self.dir.path().join(format!("output-{i}"));
            std::fs::write(&output_file, "").unwrap();
            let script_file = self.temp.join(format!("step-{i}.sh"));
            std::fs::write(&script_file, script).unwrap();
            let mut path: Vec<String> = added_path.iter().rev().cloned().collect();
            path.extend(self.extra_path.iter().map(|p| p.display().to_string()));
            path.push("/usr/bin:/bin".into());
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .env_clear()
                .current_dir(&self.workspace)
                .env("HOME", self.dir.path().join("home"))
                .env("LANG", "C.UTF-8")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_WORKSPACE", &self.workspace)
                .env("GITHUB_ACTION_PATH", action_path)
                .env("GITHUB_OUTPUT", &output_file)
                .env("GITHUB_ENV", &self.github_env)
                .env("GITHUB_PATH", &self.github_path)
                .env("GITHUB_STEP_SUMMARY", &self.step_summary)
                .env("RUNNER_TOOL_CACHE", &self.tool_cache)
                .env("RUNNER_TEMP", &self.temp)
                .envs(self.runner_env.iter().map(|(k, v)| (k, v)))
                .envs(added_env.iter().map(|(k, v)| (k, v)));
            if let Some(env) = step["env"].as_hash() {
                for (k, v) in env {
                    let value = match v {
                        Yaml::String(s) => ctx.substitute(s),
                        Yaml::Integer(n) => n.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => panic!("{name}: env value {other:?}"),
                    };
                    cmd.env(k.as_str().unwrap(), value);
                }
            }
            cmd.env("PATH", path.join(":"));
            let out = cmd.output().unwrap();
            let outputs = parse_env_file(&std::fs::read_to_string(&output_file).unwrap());
            added_env = parse_env_file(&std::fs::read_to_string(&self.github_env).unwrap())
                .into_iter()
                .collect();
            added_path = std::fs::read_to_string(&self.github_path)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            ctx.steps.insert(id.clone(), outputs.clone());
            failed = !out.status.success();
            runs.push(StepRun {
                id,
                name,
                skipped: false,
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                outputs,
            });
        }
        let mut outputs = BTreeMap::new();
        if let Some(decl) = action["outputs"].as_hash() {
            for (k, v) in decl {
                let value = ctx.substitute(v["value"].as_str().expect("output value"));
                outputs.insert(k.as_str().unwrap().to_string(), value);
            }
        }
        ActionRun {
            steps: runs,
            outputs,
        }
    }
}

/// `name=value` lines and `name<<DELIM` … `DELIM` blocks, as the runner reads
/// `GITHUB_OUTPUT` and `GITHUB_ENV`.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        } else {
            panic!("the runner rejects this line of an env file: {line:?}");
        }
    }
    out
}

struct Context {
    inputs: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    action_path: String,
}

impl Context {
    fn value(&self, expr: &str) -> String {
        let expr = expr.trim();
        if let Some(name) = expr.strip_prefix("inputs.") {
            return self
                .inputs
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("no input {name}"));
        }
        if expr == "github.action_path" {
            return self.action_path.clone();
        }
        if let Some(rest) = expr.strip_prefix("steps.") {
            let (id, output) = rest
                .split_once(".outputs.")
                .unwrap_or_else(|| panic!("{expr}"));
            return self
                .steps
                .get(id)
                .and_then(|o| o.get(output))
                .cloned()
                .unwrap_or_default();
        }
        if let Some(lit) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return lit.to_string();
        }
        panic!("the fake runner cannot evaluate `{expr}`")
    }

    /// Every `${{ expr }}` in `text` replaced by its value.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed ${{") + start;
            out.push_str(&self.value(&rest[start + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// `A == 'x'`, `A != 'x'`, joined by `&&`; GitHub compares strings
    /// ignoring case.
    fn condition(&self, cond: &str) -> bool {
        let cond = cond.trim().trim_start_matches("${{").trim_end_matches("}}");
        assert!(!cond.contains("||"), "the fake runner has no `||`: {cond}");
        cond.split("&&").all(|part| {
            let (lhs, rhs, equal) = if let Some((l, r)) = part.split_once("==") {
                (l, r, true)
            } else if let Some((l, r)) = part.split_once("!=") {
                (l, r, false)
            } else {
                panic!("the fake runner cannot evaluate `if: {cond}`")
            };
            (self.value(lhs).to_lowercase() == self.value(rhs).to_lowercase()) == equal
        })
    }
}

/// A fake `wheelwright` that records each call's arguments (one file per
/// call, NUL-separated, so a spec with a line break stays one argument),
/// answers `--version`, and on `workdir` and `build` writes outputs as the
/// real one does (`workdir`'s source is its spec, as for an sdist).
pub struct RecordingWheelwright {
    pub path: PathBuf,
    pub calls_dir: PathBuf,
}

impl RecordingWheelwright {
    pub fn new(dir: &Path) -> Self {
        let calls_dir = dir.join("calls");
        std::fs::create_dir_all(&calls_dir).unwrap();
        let path = dir.join("bin/wheelwright");
        let script = format!(
            r#"#!/bin/sh
calls='{calls}'
if [ "$1" = --version ]; then echo "wheelwright 0.0.0-fake"; exit 0; fi
n=$(ls "$calls" | wc -l)
printf '%s\0' "$@" > "$calls/$(printf %04d "$n")"
if [ "$1" = workdir ] && [ -n "${{GITHUB_OUTPUT:-}}" ]; then
  for last in "$@"; do :; done
  printf 'work-dir<<EOF_FAKE\n%s\nEOF_FAKE\nsource<<EOF_FAKE\n%s\nEOF_FAKE\n' "$RUNNER_TOOL_CACHE/wheelwright/work/default-0123" "$last" >> "$GITHUB_OUTPUT"
fi
if [ "$1" = build ] && [ -n "${{GITHUB_OUTPUT:-}}" ]; then
  printf 'outcome=ok\nwheel=/w/fake.whl\nwheel-path=/w/fake.whl\nwheel-sha256=abc\nsha256=abc\nreport=/w/report.json\nreport-path=/w/report.json\n' >> "$GITHUB_OUTPUT"
fi
if [ "$1" = publish ] && [ -n "${{GITHUB_OUTPUT:-}}" ]; then
  printf 'asset-urls=https://example.test/fake.whl\n' >> "$GITHUB_OUTPUT"
fi
exit 0
"#,
            calls = calls_dir.display()
        );
        write_executable(&path, &script);
        RecordingWheelwright { path, calls_dir }
    }

    /// The arguments of every call, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let mut files: Vec<_> = std::fs::read_dir(&self.calls_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(f).unwrap();
                bytes
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            })
            .map(|mut v| {
                v.pop(); // after the last NUL
                v
            })
            .collect()
    }
}

#[path = "../../crates/wheelwright-core/tests/support/files.rs"]
mod files;
pub use files::write_executable;

#[allow(dead_code)]
#[path = "../common/index_servers.rs"]
mod index_servers;

/// `python3 -m http.server` serving `dir` on 127.0.0.1, on a port the OS
/// picks; stopped when dropped (the tests' one http.server, from
/// `tests/common/index_servers.rs`).
pub struct HttpServer {
    _server: index_servers::Server,
    pub url: String,
}

impl HttpServer {
    pub fn serve(dir: &Path) -> Self {
        static SERVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "wheelwright-test-http-{}-{n}.log",
            std::process::id()
        ));
        let server = index_servers::Server::http(Path::new("python3"), dir, log);
        HttpServer {
            url: server.url.clone(),
            _server: server,
        }
    }
}
