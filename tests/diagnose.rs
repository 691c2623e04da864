//! `wheelwright diagnose` on real build logs (tests/fixtures/logs, see its
//! README for where each comes from): the findings of each log are
//! snapshotted, and every output format, input form and exit status is
//! checked on the real binary. Fixes that depend on the host are checked on
//! a fake one (a captured /proc and /sys, a PATH of fake compilers) and on
//! saved facts; everywhere else `--no-detect` keeps the output the same on
//! every machine.

#[path = "../crates/wheelwright-core/tests/support/actions_runner.rs"]
mod actions_runner;
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{expect_code, TestContext};
use serde_json::Value;

fn log(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(rel)
}

fn run(ctx: &TestContext, args: &[&str]) -> Output {
    ctx.wheelwright()
        .arg("diagnose")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(ctx: &TestContext, rel: &str) -> (i32, Value) {
    let out = run(
        ctx,
        &[
            log(rel).to_str().unwrap(),
            "--format",
            "json",
            "--no-detect",
        ],
    );
    let code = out.status.code().unwrap();
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{rel}: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    (code, value)
}

/// Every log with its findings, snapshotted; exit 1 exactly when an error
/// finding exists.
#[test]
fn real_logs() {
    let ctx = TestContext::new();
    let logs = [
        "gcc_too_new.log",
        "missing_cutlass.log",
        "oom_gxx.log",
        "unsupported_arch.log",
        "device/abi_mismatch.log",
        "device/arch_unsupported_torch.log",
        "device/compile_error_gxx.log",
        "device/compile_error_nvcc.log",
        "device/cuda_home_missing.log",
        "device/cuda_mismatch.log",
        "device/disk_full.log",
        "device/healthy_fa_kernels.log",
        "device/healthy_isolated_tinyext.log",
        "device/healthy_tinyext.log",
        "device/ninja_missing.log",
        "device/no_kernel_image.log",
        "device/oom_cgroup_flash_attn.log",
        "device/setuptools_missing_flash_attn.log",
        "device/torch_missing_flash_attn.log",
        "device/torch_missing_symlinked_venv.log",
        "device/wheel_unsupported.log",
        "public/abi_mismatch_cxx11_symbol.log",
        "public/arch_unsupported_compute_120.log",
        "public/compile_error_cuda13_docker.log",
        "public/compile_error_gxx_lc0.log",
        "public/compile_error_nvcc_windows.log",
        "public/cuda_home_missing_nvcc_warning.log",
        "public/cuda_home_missing_oserror.log",
        "public/cuda_mismatch_one_line.log",
        "public/cuda_mismatch_two_lines.log",
        "public/cuda_too_old_flash_attn.log",
        "public/gcc_too_new_12_pip.log",
        "public/ninja_missing_userwarning.log",
        "public/no_kernel_image_sm120.log",
        "public/oom_ld_signal9.log",
        "public/oom_ninja_job_failed_cc1plus.log",
        "public/wheel_unsupported_flash_attn.log",
        "synthetic/healthy_warnings.log",
        "offline/prebuilt_dns_eai_again_causal_conv1d.log",
        "offline/prebuilt_dns_noname_causal_conv1d.log",
        "offline/prebuilt_proxy_403_causal_conv1d.log",
        "offline/prebuilt_fallback_flash_attn.log",
    ];
    for rel in logs {
        let (code, report) = json_of(&ctx, rel);
        let errors = report["summary"]["errors"].as_u64().unwrap();
        assert_eq!(code, if errors > 0 { 1 } else { 0 }, "{rel}");
        let name = rel.trim_end_matches(".log").replace('/', "__");
        insta::assert_json_snapshot!(name, report);
    }
}

/// The logs of the second device capture each give their rule, and the
/// healthy build full of cutlass warnings gives no finding at all.
#[test]
fn second_capture_logs_give_their_rules() {
    let ctx = TestContext::new();
    let cases = [
        (
            "device/ninja_missing.log",
            Some(("ninja-missing", "warning")),
        ),
        (
            "device/cuda_home_missing.log",
            Some(("cuda-home-missing", "error")),
        ),
        (
            "device/torch_missing_flash_attn.log",
            Some(("torch-missing", "error")),
        ),
        ("device/healthy_fa_kernels.log", None),
    ];
    for (rel, want) in cases {
        let (code, report) = json_of(&ctx, rel);
        let got: Vec<(&str, &str)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_str().unwrap(), f["severity"].as_str().unwrap()))
            .collect();
        assert_eq!(got, Vec::from_iter(want), "{rel}");
        let failed = want.is_some_and(|(_, severity)| severity == "error");
        assert_eq!(code, i32::from(failed), "{rel}");
    }
}

#[test]
fn text_is_the_default_outside_github() {
    let ctx = TestContext::new();
    let out = run(&ctx, &[log("oom_gxx.log").to_str().unwrap()]);
    let stdout = expect_code(&out, 1);
    assert!(
        stdout.starts_with("error[oom-killed]: Compiler killed for lack of memory\n"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "no colour when not a terminal");
    assert!(stdout.ends_with("1 error, 0 warnings, 0 notices\n"));

    let healthy = run(&ctx, &[log("device/healthy_tinyext.log").to_str().unwrap()]);
    assert_eq!(expect_code(&healthy, 0), "No known build problem found.\n");
}

#[test]
fn stdin_and_gzip_give_the_same_findings() {
    let ctx = TestContext::new();
    let rel = "device/oom_cgroup_flash_attn.log";
    let (_, from_file) = json_of(&ctx, rel);
    let bytes = std::fs::read(log(rel)).unwrap();

    let mut child = ctx
        .wheelwright()
        .args(["diagnose", "-", "--format", "json", "--no-detect"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let from_stdin: Value = serde_json::from_str(&expect_code(&out, 1)).unwrap();
    assert_eq!(from_stdin, from_file);

    let gz_path = ctx.path().join("build.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let out = run(
        &ctx,
        &[gz_path.to_str().unwrap(), "--format", "json", "--no-detect"],
    );
    let from_gz: Value = serde_json::from_str(&expect_code(&out, 1)).unwrap();
    assert_eq!(from_gz, from_file);
}

#[test]
fn unreadable_input_exits_2_with_a_hint() {
    let ctx = TestContext::new();
    let missing = ctx.path().join("no-such.log");
    let truncated = ctx.path().join("cut.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(log("device/oom_cgroup_flash_attn.log")).unwrap())
        .unwrap();
    let mut bytes = gz.finish().unwrap();
    // Not one line decodes from the first 12 bytes (a longer cut is
    // diagnosed as far as it reads: see the test after this one).
    bytes.truncate(12);
    std::fs::write(&truncated, bytes).unwrap();
    for path in [missing.as_path(), ctx.path(), truncated.as_path()] {
        let out = run(&ctx, &[path.to_str().unwrap()]);
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: could not read the log"),
            "{stderr}"
        );
        assert!(stderr.contains("\nhint: "), "{stderr}");
    }
    let bad_facts = ctx.path().join("facts.json");
    std::fs::write(&bad_facts, "{not json").unwrap();
    let out = run(
        &ctx,
        &[
            log("oom_gxx.log").to_str().unwrap(),
            "--facts",
            bad_facts.to_str().unwrap(),
        ],
    );
    expect_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("hint: write one with `wheelwright detect --json"));
}

/// Regression (issue 16, defect 1): a gzip cut in half, and one with bytes
/// appended, exited 2 with no finding; now the findings of what was read, a
/// `log-truncated` warning, the summary, and the exit status of the findings.
#[test]
fn truncated_gzip_keeps_its_findings_and_warns() {
    let ctx = TestContext::new();
    let plain = std::fs::read(log("device/oom_cgroup_flash_attn.log")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let whole = gz.finish().unwrap();
    let mut garbage = whole.clone();
    garbage.extend_from_slice(b"trailing garbage\n");
    let cut = whole[..whole.len() - 16].to_vec();
    for (name, bytes) in [("cut.log.gz", cut), ("garbage.log.gz", garbage)] {
        let path = ctx.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let summary = ctx.path().join(format!("{name}.md"));
        let out = run(
            &ctx,
            &[
                path.to_str().unwrap(),
                "--format",
                "json",
                "--no-detect",
                "--summary-file",
                summary.to_str().unwrap(),
            ],
        );
        let doc: Value = serde_json::from_str(&expect_code(&out, 1)).unwrap();
        let ids: Vec<&str> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"oom-killed"), "{name}: {ids:?}");
        assert!(ids.contains(&"log-truncated"), "{name}: {ids:?}");
        let md = std::fs::read_to_string(&summary).unwrap();
        assert!(md.contains("log-truncated"), "{md}");
    }
}

/// What the Actions runner would execute from our stdout (the model of
/// `crates/wheelwright-core/tests/support/actions_runner.rs`): stop and
/// resume themselves are not listed.
fn runner_commands(output: &str) -> Vec<String> {
    actions_runner::run_as_runner(output).commands
}

/// A log whose lines try to run workflow commands, in both forms, from
/// places that end up in findings (evidence, compile-error messages, files).
fn hostile_log(ctx: &TestContext) -> PathBuf {
    let hostile = ctx.path().join("hostile.log");
    std::fs::write(
        &hostile,
        "::add-mask::hunter2\n\
         ::set-output name=x::pwned\n\
         csrc/a.cu\r::error::x(12): error: boom %0A::warning::y ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A\n\
         x.cpp,line=1,title=pwned:7:1: error: ::add-mask::z\n\
         b##[set-output name=y;]q.cpp:3:1: error: ##[set-output name=wheel;]evil.whl\n\
         ::stop-commands::attacker\n\
         g++: fatal error: Killed signal terminated program cc1plus ##[add-mask]w\n",
    )
    .unwrap();
    hostile
}

#[test]
fn github_actions_annotations_summary_and_outputs() {
    let ctx = TestContext::new();
    let summary = ctx.path().join("summary.md");
    let outputs = ctx.path().join("outputs.txt");
    std::fs::write(&summary, "earlier step content\n").unwrap();
    let out = ctx
        .wheelwright()
        .args([
            "diagnose",
            log("device/oom_cgroup_flash_attn.log").to_str().unwrap(),
            "--no-detect",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .output()
        .unwrap();
    let stdout = expect_code(&out, 1);
    let commands = runner_commands(&stdout);
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert!(
        commands[0].starts_with("::error title=Compiler killed for lack of memory [oom-killed] (x3)::3 compiles were killed"),
        "{}",
        commands[0]
    );
    assert!(
        commands[0].contains("%0A%0AFix: Halve MAX_JOBS"),
        "{}",
        commands[0]
    );
    assert_eq!(commands[1], "::group::Evidence for oom-killed (4 lines)");
    assert_eq!(commands[2], "::endgroup::");

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier step content\n### wheelwright diagnose: 1 error"),
        "appended: {md}"
    );
    assert!(md.contains("| error | oom-killed (x3) |"), "{md}");
    let outs = std::fs::read_to_string(&outputs).unwrap();
    assert!(outs.starts_with("findings=1\nerrors=1\nwarnings=0\nnotices=0\nfirst-error=oom-killed\nfindings-json<<ghadelimiter_"), "{outs}");
}

#[test]
fn github_output_of_a_hostile_log_runs_no_command_of_the_log() {
    let ctx = TestContext::new();
    let hostile = hostile_log(&ctx);
    let out = run(&ctx, &[hostile.to_str().unwrap(), "--format", "github"]);
    let stdout = expect_code(&out, 1);
    for c in runner_commands(&stdout) {
        let ours =
            c.starts_with("::error ") || c.starts_with("::group::Evidence") || c == "::endgroup::";
        assert!(ours, "a command from the log got through: {c}\n{stdout}");
    }
    assert!(
        !stdout.contains("aB3dE5fG7hJ9"),
        "tokens are masked: {stdout}"
    );
}

/// On a runner every format may be printed: none lets the log run a
/// command, and the machine-readable ones still read back the log's text.
#[test]
fn every_format_on_a_runner_runs_no_command_of_the_log() {
    let ctx = TestContext::new();
    let hostile = hostile_log(&ctx);
    for format in ["text", "json", "junit", "gitlab"] {
        let out = ctx
            .wheelwright()
            .args(["diagnose", hostile.to_str().unwrap(), "--no-detect"])
            .args(["--format", format])
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap();
        let stdout = expect_code(&out, 1);
        assert_eq!(
            runner_commands(&stdout),
            Vec::<String>::new(),
            "{format}:\n{stdout}"
        );
        assert!(!stdout.contains("aB3dE5fG7hJ9"), "{format}: {stdout}");
        if format == "json" {
            let report: Value = serde_json::from_str(&stdout).unwrap();
            let messages: Vec<&str> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["message"].as_str().unwrap())
                .collect();
            assert!(
                messages
                    .iter()
                    .any(|m| m.contains("##[set-output name=wheel;]evil.whl")),
                "{messages:?}"
            );
        }
    }
}

#[test]
fn junit_and_gitlab_reports() {
    let ctx = TestContext::new();
    let path = log("public/compile_error_nvcc_windows.log");
    let out = run(&ctx, &[path.to_str().unwrap(), "--format", "junit"]);
    let xml = expect_code(&out, 1);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert_eq!(xml.matches("<testcase ").count(), 1);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(
        xml.contains("identifier &quot;not&quot; is undefined"),
        "{xml}"
    );
    assert!(xml.trim_end().ends_with("</testsuites>"));

    let out = run(&ctx, &[path.to_str().unwrap(), "--format", "gitlab"]);
    let report: Value = serde_json::from_str(&expect_code(&out, 1)).unwrap();
    let issue = &report[0];
    assert_eq!(issue["check_name"], "compile-error");
    assert_eq!(issue["severity"], "critical");
    assert_eq!(issue["location"]["lines"]["begin"], 299);
    assert!(issue["location"]["path"]
        .as_str()
        .unwrap()
        .ends_with("cute/numeric/math.hpp"));

    let warn = run(
        &ctx,
        &[
            log("public/ninja_missing_userwarning.log")
                .to_str()
                .unwrap(),
            "--format",
            "gitlab",
        ],
    );
    let report: Value = serde_json::from_str(&expect_code(&warn, 0)).unwrap();
    assert_eq!(report[0]["severity"], "major");
    assert!(report[0]["location"]["path"]
        .as_str()
        .unwrap()
        .ends_with("ninja_missing_userwarning.log"));
}

#[test]
fn hints_and_facts_make_fixes_concrete() {
    let ctx = TestContext::new();
    let out = run(
        &ctx,
        &[log("oom_gxx.log").to_str().unwrap(), "--max-jobs-hint", "3"],
    );
    assert!(expect_code(&out, 1).contains("Rebuild with MAX_JOBS=3"));

    let facts = log("synthetic/facts_two_gccs.json");
    let out = run(
        &ctx,
        &[
            log("gcc_too_new.log").to_str().unwrap(),
            "--facts",
            facts.to_str().unwrap(),
        ],
    );
    let stdout = expect_code(&out, 1);
    assert!(
        stdout.contains("export CC=/usr/bin/gcc-13 CXX=/usr/bin/g++-13 NVCC_CCBIN=/usr/bin/g++-13"),
        "{stdout}"
    );
}

#[test]
fn summary_file_holds_the_markdown_table() {
    let ctx = TestContext::new();
    let md = ctx.path().join("report.md");
    let out = run(
        &ctx,
        &[
            log("device/cuda_mismatch.log").to_str().unwrap(),
            "--format",
            "json",
            "--summary-file",
            md.to_str().unwrap(),
        ],
    );
    expect_code(&out, 1);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("| Severity | Rule | Where | Problem | Fix |"),
        "{text}"
    );
    assert!(
        text.contains("nvcc is CUDA 12.2 but torch was built with CUDA 13.0"),
        "{text}"
    );
}

#[test]
fn help_documents_the_exit_status() {
    let ctx = TestContext::new();
    let out = ctx
        .wheelwright()
        .args(["diagnose", "--help"])
        .output()
        .unwrap();
    let help = expect_code(&out, 0);
    insta::assert_snapshot!("diagnose_help", help);
}

/// The real CPU-only VM of `tests/fixtures/hosts/no-gpu` (2 CPUs, 24 GiB):
/// its /proc and /sys as the root, NVML off, and a PATH of only the test
/// `bin/` (no nvcc, no Python), so detection gives the same facts anywhere.
fn on_fake_host(ctx: &TestContext, args: &[&str]) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts/no-gpu/root");
    let mut cmd = ctx.wheelwright();
    cmd.env("WHEELWRIGHT_ROOT", root)
        .env("WHEELWRIGHT_NVML", "off")
        .env("PATH", &ctx.bin)
        .args(args);
    cmd
}

/// `wheelwright plan --json` on the same host: (MAX_JOBS, NVCC_THREADS).
/// The plan may be refused (no CUDA, no torch): it is printed all the same.
fn planned(mut cmd: Command) -> (u64, u64) {
    let out = cmd.output().unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out.stderr)));
    (
        plan["max_jobs"].as_u64().unwrap(),
        plan["nvcc_threads"].as_u64().unwrap(),
    )
}

fn oom_fix(out: &Output) -> String {
    let report: Value = serde_json::from_str(&expect_code(out, 1)).unwrap();
    assert_eq!(report["findings"][0]["id"], "oom-killed");
    report["findings"][0]["fix"].as_str().unwrap().to_string()
}

/// Without a hint, diagnose detects the host and names the MAX_JOBS and
/// NVCC_THREADS that `wheelwright plan` picks there, next to the MAX_JOBS=4
/// NVCC_THREADS=2 the killed build's log shows. A Facts file written by
/// `wheelwright detect --json` on that host gives the same fix anywhere.
#[test]
fn oom_fix_names_the_planners_max_jobs_for_this_host() {
    let ctx = TestContext::new();
    let oom = log("device/oom_cgroup_flash_attn.log");
    let oom = oom.to_str().unwrap();
    let (jobs, threads) = planned(on_fake_host(&ctx, &["plan", "--json"]));
    assert!(jobs < 4, "the 2-CPU host plans fewer jobs than the log's 4");

    let detected = on_fake_host(&ctx, &["diagnose", oom, "--format", "json"])
        .output()
        .unwrap();
    let fix = oom_fix(&detected);
    assert!(
        fix.starts_with(&format!(
            "Rebuild with MAX_JOBS={jobs} NVCC_THREADS={threads}, what the planner picks"
        )),
        "{fix}"
    );
    assert!(
        fix.ends_with("The killed build ran MAX_JOBS=4 NVCC_THREADS=2."),
        "{fix}"
    );

    let facts = ctx.path().join("facts.json");
    let out = on_fake_host(&ctx, &["detect", "--json"]).output().unwrap();
    std::fs::write(&facts, expect_code(&out, 0)).unwrap();
    let saved = run(
        &ctx,
        &[oom, "--format", "json", "--facts", facts.to_str().unwrap()],
    );
    assert_eq!(oom_fix(&saved), fix);

    // A hint replaces the plan; --no-detect leaves the log's own numbers.
    let hinted = on_fake_host(
        &ctx,
        &["diagnose", oom, "--format", "json", "--max-jobs-hint", "3"],
    )
    .output()
    .unwrap();
    assert!(oom_fix(&hinted).starts_with("Rebuild with MAX_JOBS=3 (what the planner picks"));
    let bare = on_fake_host(&ctx, &["diagnose", oom, "--format", "json", "--no-detect"])
        .output()
        .unwrap();
    assert!(
        oom_fix(&bare).starts_with("Halve MAX_JOBS: the log shows 4, so rebuild with MAX_JOBS=2")
    );
}

/// On the H100's saved facts the planner runs more jobs than the build that
/// the 3 GiB cgroup killed: suggesting them would fail again, so the fix
/// halves the log's MAX_JOBS and says why the plan does not apply.
#[test]
fn a_plan_no_lighter_than_the_killed_build_is_not_suggested() {
    let ctx = TestContext::new();
    let facts = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts/h100-cuda13.0/wheelwright-detect.json");
    let facts = facts.to_str().unwrap();
    let mut plan = ctx.wheelwright();
    plan.args(["plan", "--json", "--facts", facts]);
    let (jobs, _) = planned(plan);
    assert!(jobs >= 4, "the H100 plans at least the log's 4 jobs");
    let out = run(
        &ctx,
        &[
            log("device/oom_cgroup_flash_attn.log").to_str().unwrap(),
            "--format",
            "json",
            "--facts",
            facts,
        ],
    );
    let fix = oom_fix(&out);
    assert!(
        fix.starts_with("Halve MAX_JOBS: the log shows 4, so rebuild with MAX_JOBS=2"),
        "{fix}"
    );
    assert!(
        fix.contains(&format!("The planner picks MAX_JOBS={jobs} for this host")),
        "{fix}"
    );
}

/// When the planner cannot plan (here: a torch-ext source that does not
/// exist), diagnose says so on stderr and still diagnoses: exit 1, the
/// log's own numbers in the fix.
#[test]
fn a_refused_plan_falls_back_to_the_log() {
    let ctx = TestContext::new();
    let out = on_fake_host(
        &ctx,
        &[
            "diagnose",
            log("device/oom_cgroup_flash_attn.log").to_str().unwrap(),
            "--format",
            "json",
            "--recipe",
            "torch-ext",
            "--source",
            "no-such-dir",
        ],
    )
    .output()
    .unwrap();
    assert!(oom_fix(&out).starts_with("Halve MAX_JOBS: the log shows 4"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("wheelwright: cannot plan for this host (cannot read the source"),
        "{stderr}"
    );
}

/// gcc-too-new on a host whose PATH holds GCC 13 beside the too-new
/// default: detection finds it and the fix names it.
#[test]
fn gcc_too_new_names_a_detected_older_compiler() {
    let ctx = TestContext::new();
    for (name, version) in [
        ("gcc", "16.1.0"),
        ("g++", "16.1.0"),
        ("gcc-13", "13.3.0"),
        ("g++-13", "13.3.0"),
    ] {
        ctx.fake_tool(
            name,
            &format!("#!/bin/sh\n[ \"$1\" = -dumpfullversion ] && echo {version}\n"),
        );
    }
    let out = on_fake_host(
        &ctx,
        &["diagnose", log("gcc_too_new.log").to_str().unwrap()],
    )
    .output()
    .unwrap();
    let stdout = expect_code(&out, 1);
    let bin = ctx.bin.display();
    assert!(
        stdout.contains(&format!(
            "Build with the installed GCC 13: `export CC={bin}/gcc-13 CXX={bin}/g++-13 NVCC_CCBIN={bin}/g++-13`"
        )),
        "{stdout}"
    );
}
