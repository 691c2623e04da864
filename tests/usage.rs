//! Bad command lines (issue 16, defects 5 and 8): every numeric flag has a
//! range, and every refused command line, clap's own refusals included,
//! ends with a `hint:` line and exits 2, without a panic.

mod common;

use common::{expect_code, TestContext};

/// Run `args`, expect exit 2 with `error:` first and a `hint:` line last.
fn refused(ctx: &TestContext, args: &[&str]) -> String {
    let out = ctx.wheelwright().args(args).output().unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("hint: "),
        "{args:?}: last line {last:?}\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    stderr
}

/// Regression (defect 5): `diagnose --max-jobs-hint 0` suggested MAX_JOBS=0
/// (ninja's `-j 0`, unlimited), and `--memory 99999999999TiB` became 2^64
/// bytes; every numeric flag now has a range.
#[test]
fn numeric_flags_out_of_range_are_refused() {
    let ctx = TestContext::new();
    let log = ctx.path().join("b.log");
    std::fs::write(
        &log,
        "g++: fatal error: Killed signal terminated program cc1plus\n",
    )
    .unwrap();
    let log = log.to_str().unwrap();
    let plan = [
        "plan", "--cpus", "8", "--memory", "64GiB", "--gpu", "sm_80", "--cuda", "12.4",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        plan.iter().copied().chain(extra.iter().copied()).collect()
    };
    let cases: Vec<Vec<&str>> = vec![
        vec!["diagnose", log, "--max-jobs-hint", "0"],
        vec!["diagnose", log, "--max-jobs-hint", "4097"],
        vec!["diagnose", log, "--max-jobs-hint", "99999999999"],
        vec!["build", "flash-attn==2.8.3", "--max-jobs", "0"],
        vec!["build", "flash-attn==2.8.3", "--nvcc-threads", "0"],
        vec!["build", "flash-attn==2.8.3", "--max-retries", "101"],
        vec!["build", "flash-attn==2.8.3", "--kill-grace", "86401"],
        with(&["--max-jobs", "0"]),
        with(&["--nvcc-threads", "257"]),
        with(&["--cpus", "0"]),
        with(&["--cpu-quota", "0"]),
        with(&["--cpu-quota", "NaN"]),
        with(&["--cpu-quota", "inf"]),
        with(&["--gcc", "0"]),
        vec![
            "plan",
            "--cpus",
            "8",
            "--memory",
            "99999999999TiB",
            "--gpu",
            "sm_80",
            "--cuda",
            "12.4",
        ],
        vec![
            "plan", "--cpus", "8", "--memory", "0", "--gpu", "sm_80", "--cuda", "12.4",
        ],
        with(&["--memory-limit", "18446744073709551616"]),
        with(&["--disk", "0GiB"]),
    ];
    for args in &cases {
        refused(&ctx, args);
    }
    // In range still works.
    let out = ctx
        .wheelwright()
        .args(["diagnose", log, "--max-jobs-hint", "3", "--no-detect"])
        .output()
        .unwrap();
    assert!(expect_code(&out, 1).contains("MAX_JOBS=3"));
    assert!(!ctx.path().join("wheelhouse").exists(), "nothing built");
}

/// Regression (defect 8): clap's errors had no `hint:` line.
#[test]
fn argument_parser_errors_end_with_a_hint() {
    let ctx = TestContext::new();
    let negative = refused(&ctx, &["plan", "--cpus", "8", "--cuda", "-12.4"]);
    assert!(negative.contains("read as a flag"), "{negative}");
    assert!(negative.contains("--flag=-1"), "{negative}");
    let neg_jobs = refused(&ctx, &["diagnose", "x.log", "--max-jobs-hint", "-3"]);
    assert!(neg_jobs.contains("hint: "), "{neg_jobs}");
    let bogus = refused(&ctx, &["diagnose", "x.log", "--format", "bogus"]);
    assert!(bogus.contains("wheelwright diagnose --help"), "{bogus}");
    refused(&ctx, &["frobnicate"]);
    refused(&ctx, &["build"]);
    refused(&ctx, &["plan", "--no-such-flag"]);
    refused(&ctx, &["build", "x", "--max-jobs", "many"]);
    // Help and version are not errors.
    for args in [&["--help"][..], &["--version"], &["plan", "--help"]] {
        let out = ctx.wheelwright().args(args).output().unwrap();
        expect_code(&out, 0);
    }
}
