//! On a GitHub Actions runner nothing `wheelwright build` or `workdir` prints
//! can act as a workflow command, from the first line on: a spec whose second
//! line is `::error title=PWNED::…` once came out as a live command in the
//! "downloading the sdist of …" note, before the output fence opened. Each
//! stream is checked on its own, since the runner reads stdout and stderr in
//! whatever order they arrive.

#[path = "../crates/wheelwright-core/tests/support/actions_runner.rs"]
mod actions_runner;
mod common;

use std::process::Command;

use common::{write_executable, TestContext};

const SPEC: &str = "flash-attn==2.8.3\n::error title=PWNED::injected by the spec";

/// Our own annotations may quote the spec: escaped (`%0A`), never as a line
/// of its own. So what must not happen is the injected command starting a
/// line outside the fence.
///
/// Lines of `stream` that run as workflow commands (the model of
/// `crates/wheelwright-core/tests/support/actions_runner.rs`), outside a
/// `::stop-commands::TOKEN` … `::TOKEN::` fence, other than the fence's own.
fn live_commands(stream: &str) -> Vec<String> {
    actions_runner::run_as_runner(stream).commands
}

#[test]
fn the_checker_finds_a_live_command_and_accepts_a_fenced_one() {
    assert_eq!(
        live_commands("a\n::error title=X::y\n::stop-commands::t1\n::error::z\n::t1::\n"),
        ["::error title=X::y"]
    );
}

fn runner_env(ctx: &TestContext, cmd: &mut Command) {
    let out = ctx.path().join("github_output");
    let summary = ctx.path().join("step_summary");
    std::fs::write(&out, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", &summary);
}

/// `cmd` run on a runner ([`runner_env`]) fails and shows the spec, and
/// neither of its streams runs the spec's command.
fn fails_fenced_on_a_runner(ctx: &TestContext, cmd: &mut Command) {
    runner_env(ctx, cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("PWNED"), "the spec is shown (fenced): {all}");
    for (name, stream) in [("stdout", &stdout), ("stderr", &stderr)] {
        let live: Vec<_> = live_commands(stream)
            .into_iter()
            .filter(|l| l.trim_start().starts_with("::error title=PWNED"))
            .collect();
        assert!(
            live.is_empty(),
            "{name} runs {live:?}\n--- {name}\n{stream}"
        );
    }
}

/// A Python whose pip download fails: the build gets as far as the note
/// that names the spec, then stops.
fn failing_python(ctx: &TestContext) -> std::path::PathBuf {
    write_executable(
        &ctx.path().join("py/python3"),
        "#!/bin/sh\necho 'ERROR: No matching distribution found' >&2\nexit 1\n",
    )
}

#[test]
fn build_fences_the_spec_from_the_first_line_on_a_runner() {
    let ctx = TestContext::new();
    let python = failing_python(&ctx);
    let mut cmd = ctx.wheelwright();
    cmd.args(["build", "--python"]).arg(&python).args([
        "--work-dir",
        "work",
        "--out",
        "out",
        "--",
        SPEC,
    ]);
    fails_fenced_on_a_runner(&ctx, &mut cmd);
}

#[test]
fn workdir_fences_the_spec_on_a_runner() {
    let ctx = TestContext::new();
    let python = failing_python(&ctx);
    let mut cmd = ctx.wheelwright();
    cmd.args(["workdir", "--root", "root", "--archs", "90", "--python"])
        .arg(&python)
        .args(["--", SPEC]);
    fails_fenced_on_a_runner(&ctx, &mut cmd);
}
