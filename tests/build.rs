//! `wheelwright build` end to end, without a GPU: a fake interpreter
//! (tests/fixtures/fakepkg/fake-python) plays `pip wheel` and the package's
//! build — printing output in the shape of real captured logs, compiling
//! "objects" into the tree's build/ dir like ninja, failing like a real OOM or
//! gcc-too-new build, hanging like nvcc — and hands everything else
//! (`-m venv`, the verify script) to the real Python. One test drives the
//! real pip and setuptools to prove objects survive a failed attempt.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::h100_host::{build_args, fakepkg, fakepkg_build, fakepkg_on_h100, FakepkgBuild};
use common::{
    expect_code, fixture, python_with_pip, successful_build_log, write_executable, TestContext,
};
use serde_json::Value;

macro_rules! require_python {
    () => {
        match python_with_pip() {
            Some(p) => p,
            None => {
                common::prerequisite_missing("python3 with pip");
                return;
            }
        }
    };
}

/// A temp dir with the fake package's tree, a fake venv interpreter and a state dir.
struct FakeBuild {
    ctx: TestContext,
    python: PathBuf,
    state: PathBuf,
    tree: PathBuf,
    real_python: PathBuf,
    mode: String,
    /// `--max-jobs` (forced); 4 unless a test says otherwise.
    max_jobs: &'static str,
}

impl FakeBuild {
    /// The H100 host of the detect fixtures (GPU, CUDA 13.0, gcc 13, torch
    /// 2.11 in the probe), so detection and planning run as on the real box.
    fn new(mode: &str, real_python: PathBuf) -> Self {
        let ctx = TestContext::new();
        let FakepkgBuild {
            tree,
            python,
            state,
        } = fakepkg_build(&ctx);
        FakeBuild {
            ctx,
            python,
            state,
            tree,
            real_python,
            mode: mode.to_string(),
            max_jobs: "4",
        }
    }

    fn out(&self) -> PathBuf {
        self.ctx.path().join("out")
    }

    fn command(&self) -> Command {
        self.command_for(&self.tree)
    }

    /// The build command for another spec (an sdist of the tree).
    fn command_for(&self, spec: &Path) -> Command {
        let mut cmd = self.ctx.wheelwright();
        fakepkg_on_h100(
            &mut cmd,
            &self.ctx,
            &self.state,
            &self.mode,
            &self.real_python,
        );
        build_args(&mut cmd, &self.ctx, spec, &self.python, self.max_jobs);
        cmd
    }

    /// `name` in the temp dir: an sdist of the tree (`tar -czf` of its
    /// `fakepkg/` folder).
    fn sdist(&self, name: &str) -> PathBuf {
        let sdist = self.ctx.path().join(name);
        let made = Command::new("tar")
            .arg("-czf")
            .arg(&sdist)
            .arg("-C")
            .arg(self.ctx.path().join("src"))
            .arg("fakepkg")
            .status()
            .unwrap();
        assert!(made.success());
        sdist
    }

    fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.out().join("report.json")).expect("report.json");
        serde_json::from_str(&text).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.out().join("build.log")).expect("build.log")
    }

    /// `KEY=VALUE` lines the fake build recorded for attempt `n`.
    fn attempt_env(&self, n: u32) -> String {
        std::fs::read_to_string(self.state.join(format!("attempt-{n}.env"))).unwrap_or_default()
    }
}

fn env_value<'a>(env: &'a str, key: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn finding_ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn builds_a_wheel_and_writes_the_report() {
    let fb = FakeBuild::new("ok", require_python!());
    let out = fb.command().output().unwrap();
    let stdout = expect_code(&out, 0);
    // Every line of the build streams to the console, and into build.log.
    assert!(
        stdout.contains("[4/4] /usr/local/cuda/bin/nvcc"),
        "{stdout}"
    );
    assert!(fb.log().contains("Successfully built flash_attn"));

    let r = fb.report();
    assert_eq!(r["outcome"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["recipe"], "flash-attn");
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["max_jobs"], 4);
    assert_eq!(attempts[0]["nvcc_threads"], 2);
    assert_eq!(attempts[0]["outcome"], "ok");
    assert!(attempts[0]["seconds"].as_f64().unwrap() > 0.0);
    for key in ["start", "end"] {
        let t = r[key].as_str().unwrap();
        assert!(
            t.len() >= 20 && t.contains('T') && t.ends_with('Z'),
            "{key}: {t}"
        );
    }
    assert!(r["duration_seconds"].as_f64().unwrap() > 0.0);
    assert!(r["peak_memory"]["samples"].as_u64().unwrap() >= 1);
    // Nothing lost, written as 0.0 (an empty f64 sum would be "-0.0").
    let raw = std::fs::read_to_string(fb.out().join("report.json")).unwrap();
    assert!(raw.contains("\"time_lost_seconds\": 0.0"), "{raw}");

    // The wheel landed in --out with its real size and sha256.
    let w = &r["wheel"];
    let path = PathBuf::from(w["path"].as_str().unwrap());
    assert!(path.starts_with(fb.out().canonicalize().unwrap()) || path.starts_with(fb.out()));
    // flash-attn's local version label, from the plan (torch 2.11 cu13, C++11 ABI).
    assert_eq!(
        w["name"],
        "flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-py3-none-any.whl"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(w["size"].as_u64().unwrap(), bytes.len() as u64);
    let sha = Command::new("sha256sum").arg(&path).output().unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout);
    assert_eq!(
        w["sha256"].as_str().unwrap(),
        sha.split_whitespace().next().unwrap()
    );

    // Verified: installed into a fresh venv of the real Python and imported there;
    // without torch or a GPU the forward pass is skipped with a reason.
    assert_eq!(r["verify"]["imported"], true, "{}", r["verify"]);
    assert!(
        r["verify"]["skipped_reason"].as_str().is_some(),
        "{}",
        r["verify"]
    );
    let venv = r["verify"]["environment"].as_str().unwrap();
    assert!(venv.starts_with("fresh venv "), "{venv}");

    // The build saw the plan's environment.
    let env = fb.attempt_env(1);
    assert_eq!(env_value(&env, "FLASH_ATTENTION_FORCE_BUILD"), Some("TRUE"));
    assert_eq!(env_value(&env, "MAX_JOBS"), Some("4"));
    assert_eq!(env_value(&env, "NVCC_THREADS"), Some("2"));
    assert_eq!(env_value(&env, "PIP_NO_INPUT"), Some("1"));
    assert_eq!(
        env_value(&env, "FLASH_ATTN_LOCAL_VERSION"),
        Some("cu13torch2.11cxx11abiTRUE")
    );
    // The plan's arch list (the H100's sm_90) reached the build, and the report keeps the plan.
    let archs: Vec<&str> = r["plan"]["archs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        env_value(&env, "FLASH_ATTN_CUDA_ARCHS"),
        Some(archs.join(";").as_str())
    );
    assert_eq!(r["facts"]["gpus"][0], "NVIDIA H100 80GB HBM3 (9.0)");
    // First on PATH: wheelwright's ninja shim (longest compiles first), then
    // the interpreter's dir (with its ninja).
    let path_var = env_value(&env, "PATH").unwrap();
    let mut dirs = path_var.split(':');
    let shim = dirs.next().unwrap();
    assert!(shim.ends_with("/.wheelwright-ninja"), "{path_var}");
    assert_eq!(
        dirs.next(),
        Some(fb.python.parent().unwrap().to_str().unwrap()),
        "the interpreter's dir (with its ninja) must come next on PATH: {path_var}"
    );
    assert_eq!(
        env_value(&env, "WHEELWRIGHT_NINJA_ORDER"),
        Some(format!("{shim}/order.txt").as_str())
    );
    // It built the tree in place.
    assert_eq!(env_value(&env, "tree"), Some(fb.tree.to_str().unwrap()));
    assert!(fb
        .tree
        .join("build/temp.linux-x86_64-cpython-312/csrc/unit4.o")
        .exists());

    // The report matches the committed BuildReport schema (an independent
    // validator), and the check can fail: broken copies are rejected.
    if let Some(validator) = common::schemas::validator() {
        let schema = "build-report.schema.json";
        let path = fb.out().join("report.json");
        common::schemas::validate(&validator, schema, &[&path]).unwrap();
        let breakages: [common::schemas::Breakage; 4] = [
            ("an unknown top-level field", |v| {
                v["wheel_path"] = "x".into()
            }),
            ("an unknown field of an attempt", |v| {
                v["attempts"][0]["jobs"] = 4.into()
            }),
            ("a string for the wheel's size", |v| {
                v["wheel"]["size"] = "12".into()
            }),
            ("an outcome that is none of the four", |v| {
                v["outcome"] = "exploded".into()
            }),
        ];
        for (what, breakage) in breakages {
            let mut bad = r.clone();
            breakage(&mut bad);
            let p = fb.ctx.path().join("bad-report.json");
            std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
            assert!(
                common::schemas::validate(&validator, schema, &[&p]).is_err(),
                "{what} was accepted"
            );
        }
    }
}

#[test]
fn retries_after_an_oom_kill_with_fewer_jobs_in_the_same_tree() {
    let fb = FakeBuild::new("oom", require_python!());
    let out = fb.command().output().unwrap();
    expect_code(&out, 0);
    let r = fb.report();
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{r}");
    assert_eq!(attempts[0]["outcome"], "oom-killed");
    assert!(finding_ids(&attempts[0]["findings"]).contains(&"oom-killed".to_string()));
    assert_eq!(attempts[1]["outcome"], "ok");
    let (j1, j2) = (
        attempts[0]["max_jobs"].as_u64().unwrap(),
        attempts[1]["max_jobs"].as_u64().unwrap(),
    );
    assert!(j2 < j1, "retry must use fewer jobs: {j1} -> {j2}");
    // Re-planned with the cost model for the ceiling the kill revealed (this
    // fake root has no cgroup limit: the memory in use at the kill).
    assert!(
        fb.log()
            .contains("compiles left re-planned for the usage at the kill"),
        "{}",
        fb.log()
    );
    // NVCC_THREADS changes nvcc's command lines: it must not change, or ninja rebuilds everything.
    assert_eq!(attempts[0]["nvcc_threads"], attempts[1]["nvcc_threads"]);
    let (e1, e2) = (fb.attempt_env(1), fb.attempt_env(2));
    assert_eq!(
        env_value(&e1, "NVCC_THREADS"),
        env_value(&e2, "NVCC_THREADS")
    );
    assert_eq!(env_value(&e2, "MAX_JOBS"), Some(j2.to_string().as_str()));
    assert_eq!(env_value(&e1, "tree"), env_value(&e2, "tree"));
    // The second attempt compiled only what the first had not finished.
    let log = fb.log();
    let second = log.split("=== wheelwright attempt 2").nth(1).unwrap();
    assert!(
        second.contains("[1/2]") && second.contains("unit3.cu"),
        "{second}"
    );
    assert!(!second.contains("unit1.cu"), "{second}");
    assert!(r["time_lost_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(r["outcome"], "ok");
    assert!(r["wheel"]["sha256"].as_str().is_some());
}

#[test]
fn a_build_killed_by_sigkill_counts_as_oom_and_is_retried() {
    let fb = FakeBuild::new("sigkill", require_python!());
    let out = fb.command().output().unwrap();
    expect_code(&out, 0);
    let r = fb.report();
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["outcome"], "oom-killed");
    assert_eq!(attempts[0]["signal"], 9);
    assert_eq!(attempts[1]["outcome"], "ok");
    // The kernel's record (the cgroup's oom_kill counter) is the evidence.
    assert!(
        fb.log()
            .contains("out of memory: the cgroup's memory.events oom_kill counter rose by 1"),
        "{}",
        fb.log()
    );
}

/// A SIGKILL the kernel did not record as an OOM kill, with memory far below
/// the ceiling (a CI job's timeout, an operator): a failure, not retried.
#[test]
fn a_sigkill_without_oom_evidence_is_not_retried() {
    let fb = FakeBuild::new("sigkill", require_python!());
    let out = fb
        .command()
        .env("FAKEPKG_OOM_EVIDENCE", "none")
        .output()
        .unwrap();
    expect_code(&out, 1);
    let r = fb.report();
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{r}");
    assert_eq!(attempts[0]["outcome"], "failed");
    assert_eq!(attempts[0]["signal"], 9);
    assert!(
        finding_ids(&r["findings"]).contains(&"killed-not-oom".to_string()),
        "{:?}",
        finding_ids(&r["findings"])
    );
    assert!(
        fb.log().contains("not an out-of-memory kill"),
        "{}",
        fb.log()
    );
}

/// Issue 15 §1 as the H200 showed it (`bench/results/h200-oom-cgroup-thrash`):
/// 16 forced jobs in a 48G cgroup sit at the limit with all tasks stalled and
/// no OOM kill. The fake cgroup here says that (the captured
/// `memory.pressure`, its stall counter growing 87 % of the time) while a
/// fake compiler waits; the thrash watchdog (its time cut to 3 s, its window
/// to 1 s, by WHEELWRIGHT_THRASH_SECONDS) stops attempt 1, the report
/// says thrashing with the evidence, and attempt 2 runs with the planner's
/// MAX_JOBS for that limit and builds the rest.
#[test]
fn a_build_thrashing_at_its_cgroup_limit_is_stopped_and_retried_with_the_planned_jobs() {
    let mut fb = FakeBuild::new("thrash", require_python!());
    fb.max_jobs = "16";
    let cgroup = fb.ctx.path().join("root/sys/fs/cgroup");
    let psi = fixture("psi");
    std::fs::write(cgroup.join("memory.max"), "51539607552\n").unwrap();
    std::fs::write(cgroup.join("memory.current"), "1000000000\n").unwrap();
    std::fs::copy(
        psi.join("shared-2core-box.proc-pressure-memory"),
        cgroup.join("memory.pressure"),
    )
    .unwrap();
    // The planner's own choice for this tree (its 5 units), host and limit,
    // unforced.
    let mut plan = fb.ctx.wheelwright();
    for (k, v) in fb.command().get_envs() {
        if let Some(v) = v {
            plan.env(k, v);
        }
    }
    plan.env("WHEELWRIGHT_PYTHON", &fb.python).args([
        "plan",
        "--recipe",
        "flash-attn",
        "--nvcc-threads",
        "2",
        "--json",
    ]);
    plan.arg("--source").arg(&fb.tree);
    let planned = serde_json::from_slice::<Value>(&plan.output().unwrap().stdout).unwrap()
        ["max_jobs"]
        .as_u64()
        .unwrap();
    assert!((1..16).contains(&planned), "{planned}");
    let out = fb
        .command()
        .env("WHEELWRIGHT_THRASH_SECONDS", "3")
        .output()
        .unwrap();
    expect_code(&out, 0);
    let r = fb.report();
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{r}");
    let first = &attempts[0];
    assert_eq!(first["outcome"], "thrashing");
    assert_eq!(first["max_jobs"], 16);
    // Stopped within the bound: 3 s of pressure from the first share at the
    // limit, then SIGTERM (the fake compiler ends at once); slack for a
    // loaded box.
    let seconds = first["seconds"].as_f64().unwrap();
    assert!((3.0..13.0).contains(&seconds), "attempt 1 ran {seconds} s");
    let verdict = first["verdict"].as_str().unwrap();
    let share: f64 = verdict
        .strip_prefix("tasks stalled on memory ")
        .and_then(|v| v.split_once(" % of the last 1 s at the 48.0 GiB cgroup limit for 3"))
        .unwrap_or_else(|| panic!("{verdict}"))
        .0
        .parse()
        .unwrap();
    // 87 % as the fake grows the counter, give or take its 50 ms steps.
    assert!((75.0..=100.0).contains(&share), "{verdict}");
    assert!(
        verdict.contains(" s: thrashing (memory.pressure full total: stalled ≥ "),
        "{verdict}"
    );
    let peak = first["memory_pressure_peak"].as_f64().unwrap();
    assert!((75.0..=100.0).contains(&peak), "{peak}");
    assert!(finding_ids(&first["findings"]).contains(&"memory-thrashing".to_string()));
    let compiler = read_pid(&fb.state.join("compiler.pid")).unwrap();
    assert!(!alive(compiler), "the stalled compiler outlived the stop");
    // Retried like after an OOM kill: the planner's jobs for the 48G limit.
    assert_eq!(attempts[1]["outcome"], "ok");
    assert_eq!(attempts[1]["max_jobs"], planned);
    assert_eq!(
        env_value(&fb.attempt_env(2), "MAX_JOBS"),
        Some(planned.to_string().as_str())
    );
    let log = fb.log();
    assert!(
        log.contains("attempt 1 was stopped for thrashing at the memory ceiling with MAX_JOBS=16")
            && log.contains("re-planned for the cgroup limit of 48.0 GiB"),
        "{log}"
    );
    // Objects finished before the stop were kept.
    let second = log.split("=== wheelwright attempt 2").nth(1).unwrap();
    assert!(
        second.contains("unit3.cu") && !second.contains("unit1.cu"),
        "{second}"
    );
    let lost = r["time_lost_seconds"].as_f64().unwrap();
    assert!((lost - seconds).abs() < 1e-6, "{lost} vs {seconds}");
    assert_eq!(r["outcome"], "ok");
}

#[test]
fn retries_are_bounded() {
    let fb = FakeBuild::new("sigkill", require_python!());
    // Attempt 1 dies; with no retries allowed the build fails, keeping its log and report.
    let out = fb.command().args(["--max-retries", "0"]).output().unwrap();
    expect_code(&out, 1);
    let r = fb.report();
    assert_eq!(r["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(r["outcome"], "oom-killed");
    assert_eq!(r["exit_code"], 1);
    assert!(r["wheel"].is_null());
    assert!(fb.log().contains("[2/4]"));
}

#[test]
fn gcc_too_new_fails_once_with_its_finding() {
    let fb = FakeBuild::new("gcc-too-new", require_python!());
    let out = fb.command().output().unwrap();
    expect_code(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r = fb.report();
    assert_eq!(r["outcome"], "failed");
    assert_eq!(
        r["attempts"].as_array().unwrap().len(),
        1,
        "no retry for a non-memory failure"
    );
    assert!(
        finding_ids(&r["findings"]).contains(&"gcc-too-new".to_string()),
        "{}",
        r["findings"]
    );
    assert!(stderr.contains("gcc-too-new"), "{stderr}");
    assert!(fb.log().contains("unsupported GNU version"));
}

/// A failed build leaves no wheel of an earlier run in `--out` (a workflow
/// uploading the folder would publish it): they are moved aside, not deleted,
/// and the console and the report say so.
#[test]
fn wheels_of_earlier_runs_are_moved_out_of_the_out_dir() {
    let fb = FakeBuild::new("gcc-too-new", require_python!());
    std::fs::create_dir_all(fb.out()).unwrap();
    let stale = [
        "flash_attn-2.8.1-cp312-cp312-linux_x86_64.whl",
        "flash_attn-2.8.2-cp312-cp312-linux_x86_64.whl",
        "flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl",
    ];
    for name in stale {
        std::fs::write(fb.out().join(name), name).unwrap();
    }
    let out = fb.command().output().unwrap();
    expect_code(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("moved 3 wheel(s) of earlier runs"),
        "{stderr}"
    );

    let wheels_in = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".whl"))
            .collect();
        names.sort();
        names
    };
    assert!(
        wheels_in(&fb.out()).is_empty(),
        "{:?}",
        wheels_in(&fb.out())
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(fb.out())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".stale-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(wheels_in(&aside[0]), stale);
    for name in stale {
        assert_eq!(std::fs::read_to_string(aside[0].join(name)).unwrap(), name);
    }
    let r = fb.report();
    assert!(
        finding_ids(&r["findings"]).contains(&"stale-wheels-moved".to_string()),
        "{}",
        r["findings"]
    );
}

/// Off a runner the console shows the build's lines as they are, except the
/// tokens in them (as in build.log).
#[test]
fn tokens_the_build_echoes_are_masked_on_the_console() {
    let fb = FakeBuild::new("ok", require_python!());
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let out = fb
        .command()
        .env(
            "FAKEPKG_EXTRA_LINE",
            format!("Looking in indexes: https://ci:hunter2secret@pypi.example/simple {token}"),
        )
        .arg("--no-verify")
        .output()
        .unwrap();
    let stdout = expect_code(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("Looking in indexes: https://ci:"),
        "{stdout}"
    );
    for secret in [token, "hunter2secret"] {
        assert!(!stdout.contains(secret), "{secret} on stdout:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} on stderr");
        assert!(!fb.log().contains(secret), "{secret} in build.log");
    }
}

/// `--calibrate` puts this host's speed (from an earlier build's report) into
/// the plan the build runs with, so its times and ETA are this host's.
#[test]
fn calibrated_build_keeps_the_speed_in_its_plan() {
    let fb = FakeBuild::new("ok", require_python!());
    let earlier = common::h200_build(&fb.ctx.path().join("earlier"));
    let out = fb
        .command()
        .arg("--calibrate")
        .arg(&earlier)
        .arg("--no-verify")
        .output()
        .unwrap();
    expect_code(&out, 0);
    let plan = &fb.report()["plan"];
    let factor = plan["speed"]["factor"].as_f64().unwrap();
    assert!((0.55..0.75).contains(&factor), "{}", plan["speed"]);
    assert_eq!(plan["speed"]["units"], 73);
}

#[test]
fn allow_prebuilt_drops_force_build() {
    let fb = FakeBuild::new("ok", require_python!());
    let out = fb
        .command()
        .env("FLASH_ATTENTION_FORCE_BUILD", "TRUE")
        .args(["--allow-prebuilt", "--no-verify"])
        .output()
        .unwrap();
    expect_code(&out, 0);
    assert_eq!(
        env_value(&fb.attempt_env(1), "FLASH_ATTENTION_FORCE_BUILD"),
        None
    );
    assert_eq!(fb.report()["verify"]["skipped_reason"], "--no-verify");
}

#[test]
fn builds_an_sdist_from_one_extracted_tree_across_runs() {
    let fb = FakeBuild::new("ok", require_python!());
    let sdist = fb.sdist("fakepkg-0.1.tar.gz");
    let run = || fb.command_for(&sdist).arg("--no-verify").output().unwrap();
    expect_code(&run(), 0);
    let tree = fb.ctx.path().join("work/src/fakepkg");
    assert_eq!(
        env_value(&fb.attempt_env(1), "tree").map(PathBuf::from),
        Some(tree.clone())
    );
    assert!(tree
        .join("build/temp.linux-x86_64-cpython-312/csrc/unit1.o")
        .exists());
    // A second run reuses the extracted tree and its objects.
    expect_code(&run(), 0);
    assert_eq!(
        env_value(&fb.attempt_env(2), "tree").map(PathBuf::from),
        Some(tree)
    );
    assert!(
        !fb.log().contains("[1/4]"),
        "objects were rebuilt:\n{}",
        fb.log()
    );
    assert_eq!(fb.report()["outcome"], "ok");
}

/// The documented tree hash (builder::tree_hash), computed here on its own:
/// each file in path order as `F`|`X`, path, NUL, length, NUL, bytes.
fn documented_tree_sha256(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // The fake tree holds no other skipped names than build/.
                if p != root.join("build") {
                    walk(root, &p, out);
                }
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.push((rel, p));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for (rel, p) in files {
        let bytes = std::fs::read(&p).unwrap();
        let x = std::fs::metadata(&p).unwrap().permissions().mode() & 0o111 != 0;
        h.update(if x { "X" } else { "F" });
        h.update(format!("{rel}\0{}\0", bytes.len()));
        h.update(&bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A source tree's report carries the tree's sha256 (issue 12): the
/// documented hash of its files, the same on a rebuild (the build/ dir the
/// first run left in the tree is not source), another after an edit.
#[test]
fn a_source_tree_report_carries_the_trees_sha256() {
    let fb = FakeBuild::new("ok", require_python!());
    let before = documented_tree_sha256(&fb.tree);
    let run = || fb.command().arg("--no-verify").output().unwrap();
    expect_code(&run(), 0);
    assert_eq!(fb.report()["source_sha256"], before.as_str());
    assert!(fb.tree.join("build").is_dir());
    expect_code(&run(), 0);
    assert_eq!(fb.report()["source_sha256"], before.as_str());
    let setup = fb.tree.join("setup.py");
    let text = std::fs::read_to_string(&setup).unwrap();
    std::fs::write(&setup, text + "# edited\n").unwrap();
    expect_code(&run(), 0);
    let after = fb.report()["source_sha256"].as_str().unwrap().to_string();
    assert_ne!(after, before);
    assert_eq!(after, documented_tree_sha256(&fb.tree));
}

#[test]
fn build_output_is_fenced_by_stop_commands_on_github_actions() {
    let fb = FakeBuild::new("ok", require_python!());
    let outputs = fb.ctx.path().join("github_output");
    let summary = fb.ctx.path().join("step_summary");
    let out = fb
        .command()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        // A hostile line in the build's output: it must not act as a command.
        .env("FAKEPKG_EXTRA_LINE", "::error::injected by the build")
        .arg("--no-verify")
        .output()
        .unwrap();
    let stdout = expect_code(&out, 0);
    let injected = stdout
        .find("::error::injected by the build")
        .expect("echoed");
    let first = stdout.lines().next().unwrap();
    let token = first
        .strip_prefix("::stop-commands::")
        .unwrap_or_else(|| panic!("first line is not stop-commands: {first}"));
    assert!(token.len() >= 32, "{token}");
    let end = format!("::{token}::");
    let end_at = stdout.find(&end).expect("commands resumed");
    let build_at = stdout.find("Successfully built").unwrap();
    assert!(build_at < end_at, "build output after the fence:\n{stdout}");
    assert!(
        injected < end_at,
        "the hostile line escaped the fence:\n{stdout}"
    );
    // The step's outputs name the wheel for the next steps.
    let o = std::fs::read_to_string(&outputs).unwrap();
    let wheel = fb.report()["wheel"]["path"].as_str().unwrap().to_string();
    assert!(o.contains(&wheel) && o.contains("wheel-sha256<<"), "{o}");
    assert!(o.contains("\nok\n"), "{o}");
    assert!(summary.exists());
}

#[test]
fn the_summary_quoting_findings_is_fenced_on_github_actions() {
    // A compile error whose text is a workflow command: the finding quotes it,
    // and the summary on stderr (which the runner also reads) must not run it.
    let fb = FakeBuild::new("gcc-too-new", require_python!());
    let out = fb
        .command()
        .env("GITHUB_ACTIONS", "true")
        .env(
            "FAKEPKG_EXTRA_LINE",
            "csrc/evil.cu:3:1: error: ::add-mask::hidden-by-the-build",
        )
        .arg("--no-verify")
        .output()
        .unwrap();
    expect_code(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hidden-by-the-build"),
        "the finding should quote the compiler's message:\n{stderr}"
    );
    let mut fence: Option<String> = None;
    for line in stderr.lines() {
        match &fence {
            None => {
                if let Some(token) = line.strip_prefix("::stop-commands::") {
                    fence = Some(format!("::{token}::"));
                } else {
                    assert!(
                        !line.trim_start().starts_with("::")
                            || line.starts_with("::error")
                            || line.starts_with("::warning")
                            || line.starts_with("::notice")
                            || line.starts_with("::group")
                            || line.starts_with("::endgroup"),
                        "a workflow command outside any fence on stderr: {line}"
                    );
                    assert!(
                        !line.contains("::add-mask::"),
                        "hostile text outside any fence on stderr: {line}"
                    );
                }
            }
            Some(end) => {
                if line == end {
                    fence = None;
                }
            }
        }
    }
    assert!(fence.is_none(), "a fence was left open:\n{stderr}");
}

#[test]
fn json_puts_the_report_on_stdout_and_the_log_on_stderr() {
    let fb = FakeBuild::new("ok", require_python!());
    let out = fb
        .command()
        .args(["--json", "--no-verify"])
        .output()
        .unwrap();
    let stdout = expect_code(&out, 0);
    let v: Value = serde_json::from_str(&stdout).expect("stdout is the report");
    assert_eq!(v["outcome"], "ok");
    assert!(String::from_utf8_lossy(&out.stderr).contains("[4/4]"));
}

#[test]
fn a_missing_sdist_is_a_usage_error() {
    let ctx = TestContext::new();
    let out = ctx
        .wheelwright()
        .args(["build", "./nowhere/flash_attn-2.8.3.tar.gz"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not exist") && stderr.contains("hint:"),
        "{stderr}"
    );
}

/// Bad input found before anything runs: exit 2, what is wrong, and a hint.
#[test]
fn bad_build_inputs_are_usage_errors_with_hints() {
    let fb = FakeBuild::new("ok", require_python!());
    let a_file = fb.ctx.path().join("a-file");
    std::fs::write(&a_file, "").unwrap();
    let cases: Vec<(Command, &str, &str)> = vec![
        (
            {
                let mut c = fb.ctx.wheelwright();
                c.args(["build", " "]);
                c
            },
            "the spec is empty",
            "hint: pass a requirement",
        ),
        (
            {
                let mut c = fb.command();
                c.arg("--plan").arg(fb.ctx.path().join("no-plan.json"));
                c
            },
            "cannot read the plan",
            "hint: write one with `wheelwright plan --json",
        ),
        (
            {
                let mut c = fb.ctx.wheelwright();
                c.arg("build").arg(&fb.tree).arg("--out").arg(&a_file);
                c
            },
            "--out",
            "hint: give --out a directory",
        ),
    ];
    for (mut cmd, error, hint) in cases {
        let out = cmd.output().unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error) && stderr.contains(hint), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").trim().chars().next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Live processes whose environment carries `WHEELWRIGHT_BUILD_ID=<marker>`.
fn processes_with_marker(marker: &str) -> Vec<u32> {
    let entry = format!("WHEELWRIGHT_BUILD_ID={marker}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == entry.as_bytes()))
                .unwrap_or(false)
                && alive(*pid)
        })
        .collect()
}

#[test]
fn sigterm_cancels_the_whole_tree_and_still_writes_the_report() {
    let fb = FakeBuild::new("hang", require_python!());
    let mut child = fb
        .command()
        .args(["--kill-grace", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let escaped_file = fb.state.join("escaped.pid");
    let start = Instant::now();
    while !(escaped_file.exists() && fb.state.join("child.pid").exists()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the fake build never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let pids: Vec<u32> = ["build.pid", "child.pid", "escaped.pid"]
        .iter()
        .filter_map(|f| read_pid(&fb.state.join(f)))
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "wheelwright did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    for pid in &pids {
        assert!(
            !alive(*pid),
            "process {pid} of the build survived the cancel"
        );
    }
    let marker = env_value(&fb.attempt_env(1), "WHEELWRIGHT_BUILD_ID")
        .unwrap()
        .to_string();
    assert_eq!(processes_with_marker(&marker), Vec::<u32>::new());
    let r = fb.report();
    assert_eq!(r["outcome"], "cancelled");
    assert_eq!(r["exit_code"], 130);
    assert_eq!(r["attempts"][0]["outcome"], "cancelled");
    assert!(fb.log().contains("cancelled"));
}

/// The real pip and setuptools: a failed attempt keeps the tree's build/temp
/// objects (`--use-pep517`; pip's legacy path would run `setup.py clean --all`),
/// and the retry after the OOM finds them.
#[test]
fn real_pip_keeps_objects_across_a_failed_attempt() {
    // An interpreter whose setuptools can build wheels (with `wheel`, or >= 70.1).
    let check = "import sys, setuptools as s, pip\n\
        try:\n    import wheel\n\
        except ImportError:\n    assert tuple(map(int, s.__version__.split('.')[:2])) >= (70, 1)\n\
        print(sys.executable)";
    let python = ["python3", "/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .filter_map(|p| Command::new(p).args(["-c", check]).output().ok())
        .find(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(python) = python else {
        // .ci/run provides such an interpreter and sets this, so CI never skips.
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_REAL_PIP").is_none(),
            "WHEELWRIGHT_REQUIRE_REAL_PIP is set but no python3 with pip and a wheel-building setuptools was found"
        );
        common::prerequisite_missing("python3 with pip and a wheel-building setuptools");
        return;
    };
    let ctx = TestContext::new();
    let tree = ctx.path().join("realpkg");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("x.cpp"), "").unwrap();
    let oom_lines = std::fs::read_to_string(fakepkg().join("logs/oom_cgroup_flash_attn.log"))
        .unwrap()
        .lines()
        .skip(208)
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(tree.join("oom.txt"), oom_lines).unwrap();
    std::fs::write(
        tree.join("setup.py"),
        r#"import os
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

class Build(build_ext):
    def run(self):
        os.makedirs(self.build_temp, exist_ok=True)
        obj = os.path.join(self.build_temp, "unit1.o")
        print("object from an earlier attempt:", os.path.exists(obj), flush=True)
        open(obj, "w").write("obj")
        marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attempted")
        if not os.path.exists(marker):
            open(marker, "w").write("1")
            # The kernel's record of the kill: the cgroup's oom_kill counter.
            events = os.path.join(os.environ["WHEELWRIGHT_ROOT"], "sys/fs/cgroup/memory.events")
            open(events, "w").write("oom 1\noom_kill 1\n")
            print(open("oom.txt").read(), flush=True)
            raise SystemExit(1)
        os.makedirs(os.path.join(self.build_lib), exist_ok=True)

setup(name="realpkg", version="0.1", ext_modules=[Extension("realpkg_ext", ["x.cpp"])],
      cmdclass={"build_ext": Build})
"#,
    )
    .unwrap();
    // A root whose cgroup counts OOM kills (the evidence a retry needs), with
    // this host's memory figures.
    let root = ctx.path().join("root");
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::create_dir_all(root.join("sys/fs/cgroup")).unwrap();
    std::fs::write(root.join("proc/self/cgroup"), "0::/\n").unwrap();
    std::fs::copy("/proc/meminfo", root.join("proc/meminfo")).unwrap();
    std::fs::write(
        root.join("sys/fs/cgroup/memory.events"),
        "oom 0\noom_kill 0\n",
    )
    .unwrap();
    let out = ctx
        .wheelwright()
        .env("WHEELWRIGHT_NVML", "off")
        .env("WHEELWRIGHT_ROOT", &root)
        .arg("build")
        .arg(&tree)
        .arg("--python")
        .arg(&python)
        // This host has no CUDA and that Python no torch: the plan refuses; build anyway.
        .args([
            "--max-jobs",
            "2",
            "--nvcc-threads",
            "1",
            "--no-verify",
            "--force",
        ])
        .arg("--out")
        .arg(ctx.path().join("out"))
        .output()
        .unwrap();
    let log = successful_build_log(&out, &ctx.path().join("out"));
    assert!(
        log.contains("object from an earlier attempt: False"),
        "{log}"
    );
    assert!(
        log.contains("object from an earlier attempt: True"),
        "{log}"
    );
    assert!(
        !log.contains("removing 'build/temp"),
        "pip cleaned the build dir:\n{log}"
    );
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(ctx.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(r["attempts"][0]["outcome"], "oom-killed");
    assert_eq!(r["attempts"][1]["outcome"], "ok");
    assert!(r["wheel"]["name"]
        .as_str()
        .unwrap()
        .starts_with("realpkg-0.1-"));
}

/// A `python` whose `pip download` says `lines` (stdout) and `stderr_line`,
/// then runs `then` (`exit 1`, `exec sleep N`).
fn downloading_python(ctx: &TestContext, lines: &[&str], stderr_line: &str, then: &str) -> PathBuf {
    let mut script = String::from(
        "#!/bin/sh\nif [ \"$1\" = -m ] && [ \"$2\" = pip ] && [ \"$3\" = download ]; then\n",
    );
    for l in lines {
        script.push_str(&format!("  echo '{l}'\n"));
    }
    script.push_str(&format!(
        "  echo '{stderr_line}' >&2\n  {then}\nfi\nexit 1\n"
    ));
    write_executable(&ctx.path().join("venv/bin/python"), &script)
}

fn build_requirement(ctx: &TestContext, python: &Path) -> Command {
    let mut cmd = ctx.wheelwright();
    cmd.args(["build", "six==1.16.0", "--no-verify", "--python"])
        .arg(python)
        .arg("--out")
        .arg(ctx.path().join("out"))
        .arg("--work-dir")
        .arg(ctx.path().join("work"));
    cmd
}

/// A requirement whose download fails leaves build.log and report.json like
/// any failed build, and pip's words in the error can neither run a workflow
/// command on a runner nor show a token.
#[test]
fn a_failed_download_keeps_its_records_and_is_fenced_and_masked() {
    let ctx = TestContext::new();
    let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let python = downloading_python(
        &ctx,
        &[
            "Looking in indexes: https://ci:hunter2secret@pypi.example/simple",
            "::error title=pwned::injected",
        ],
        &format!("ERROR: No matching distribution found for six==1.16.0 {token}"),
        "exit 1",
    );
    let out = build_requirement(&ctx, &python)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", ctx.path().join("gh_out"))
        .env("GITHUB_STEP_SUMMARY", ctx.path().join("gh_summary"))
        .output()
        .unwrap();
    expect_code(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for text in [&stderr, &stdout] {
        assert!(
            !text.contains(token) && !text.contains("hunter2secret"),
            "{text}"
        );
    }
    // A line that would act as pip's command sits inside a stop-commands fence
    // (inside our own annotation it is escaped data, not a command).
    let mut open: Option<String> = None;
    let mut quoted = 0;
    for line in stderr.lines().chain(stdout.lines()) {
        if let Some(t) = line.strip_prefix("::stop-commands::") {
            open = Some(t.to_string());
        } else if open.as_ref().is_some_and(|t| line == format!("::{t}::")) {
            open = None;
        } else if line.trim_start().starts_with("::error title=pwned") {
            assert!(open.is_some(), "unfenced: {line}\n{stderr}");
            quoted += 1;
        }
    }
    assert!(quoted >= 1, "the error does not quote pip:\n{stderr}");
    assert!(
        stderr.contains("hint: check that pip reaches its index"),
        "{stderr}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(ctx.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["findings"][0]["id"], "source-unavailable");
    assert!(!report.to_string().contains(token));
    let log = std::fs::read_to_string(ctx.path().join("out/build.log")).unwrap();
    assert!(log.contains("No matching distribution"), "{log}");
    assert!(
        !log.contains(token) && !log.contains("hunter2secret"),
        "{log}"
    );
}

/// SIGTERM during the download stops pip (its whole group) at once, exits
/// 130 and still writes the report.
#[test]
fn sigterm_during_the_download_cancels_it() {
    let ctx = TestContext::new();
    let python = downloading_python(&ctx, &["Collecting six==1.16.0"], "", "exec sleep 4711");
    let mut child = build_requirement(&ctx, &python)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let report = std::fs::read_to_string(ctx.path().join("out/report.json")).unwrap();
    assert!(report.contains("\"outcome\": \"cancelled\""), "{report}");
    // pip's stand-in is gone.
    std::thread::sleep(Duration::from_millis(200));
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("sleep 4711"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Regression (issue 16, defect 4): an invalid spec exited 1 ("job failed")
/// with a hint about pip's index, after writing build.log, report.json and
/// empty work folders. Now: exit 2, a hint with the accepted forms, nothing
/// written.
#[test]
fn an_invalid_spec_is_a_usage_error_before_anything_is_written() {
    let ctx = TestContext::new();
    let cases = [
        ("flash-attn==", "flash-attn==2.8.3"),
        ("flash attn", "flash-attn==2.8.3"),
        ("flash-attn;$(touch pwned)", "flash-attn==2.8.3"),
        ("flash-attn`touch pwned`", "flash-attn==2.8.3"),
        (
            "git+https://github.com/Dao-AILab/flash-attention",
            "`NAME @ git+https://github.com/Dao-AILab/flash-attention`",
        ),
    ];
    for (spec, hint) in cases {
        let out = ctx
            .wheelwright()
            .args(["build", spec, "--out", "out", "--work-dir", "work"])
            .output()
            .unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{spec}: {stderr}");
        let hint_line = stderr
            .lines()
            .find(|l| l.starts_with("hint: "))
            .unwrap_or_else(|| panic!("{spec}: no hint line: {stderr}"));
        assert!(hint_line.contains(hint), "{spec}: {hint_line}");
        for left in ["out", "work", "pwned"] {
            assert!(
                !ctx.path().join(left).exists(),
                "{spec}: {left} was written"
            );
        }
    }
}

/// Regression (issue 16, defect 2): `out/build.log -> victim` and
/// `out/report.json.tmp -> victim` planted before a build were both
/// overwritten through. Now every file the build creates replaces the
/// planted link and the victim keeps its content.
#[test]
fn records_are_never_written_through_planted_symlinks() {
    let fb = FakeBuild::new("ok", require_python!());
    let victim = fb.ctx.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let out_dir = fb.out();
    std::fs::create_dir_all(&out_dir).unwrap();
    let wheel = "flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-py3-none-any.whl";
    for name in [
        "build.log",
        "report.json",
        "report.json.tmp",
        wheel,
        &format!(".{wheel}.part"),
    ] {
        std::os::unix::fs::symlink(&victim, out_dir.join(name)).unwrap();
    }
    let out = fb.command().output().unwrap();
    expect_code(&out, 0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    for name in ["build.log", "report.json", wheel] {
        let meta = std::fs::symlink_metadata(out_dir.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is a file of its own now");
    }
    assert!(fb.log().contains("Successfully built"));
    assert_eq!(fb.report()["outcome"], "ok");
}

/// Issue 16, defect 6: a token shorter than the patterns' length
/// (`GITHUB_TOKEN=ghp_secret123`), a value named by `--mask-env`, one named in
/// `WHEELWRIGHT_MASK_ENV` and an index URL's password, echoed by the build
/// (plainly and in a compiler error the findings quote), appear in no output:
/// stdout, stderr, build.log, report.json, GITHUB_OUTPUT, the step summary;
/// on a runner (fenced echo, annotations) and off one (plain console). A
/// value under six characters is not masked, and a warning names its
/// variable.
#[test]
fn secret_values_the_build_echoes_are_masked_in_every_output() {
    let python = require_python!();
    let secrets = [
        ("GITHUB_TOKEN", "ghp_secret123"),
        ("MY_SECRET", "correct horse battery"),
        ("LISTED_SECRET", "listed-secret-42"),
        (
            "PIP_INDEX_URL",
            "https://ci:idx-pass-77@pypi.example/simple",
        ),
    ];
    let shown = [
        "ghp_secret123",
        "correct horse battery",
        "listed-secret-42",
        "idx-pass-77",
    ];
    for actions in [true, false] {
        let fb = FakeBuild::new("gcc-too-new", python.clone());
        let outputs = fb.ctx.path().join("github_output");
        let summary = fb.ctx.path().join("step_summary");
        let mut cmd = fb.command();
        cmd.envs(secrets)
            .env("SHORT_SECRET", "abcd")
            .env("WHEELWRIGHT_MASK_ENV", "LISTED_SECRET, UNUSED_NAME")
            .env(
                "FAKEPKG_ECHO_ENV",
                "GITHUB_TOKEN MY_SECRET LISTED_SECRET SHORT_SECRET",
            )
            .env("FAKEPKG_EXTRA_LINE", "  Looking in indexes: idx-pass-77")
            .args([
                "--no-verify",
                "--mask-env",
                "MY_SECRET",
                "--mask-env",
                "SHORT_SECRET",
            ]);
        if actions {
            cmd.env("GITHUB_ACTIONS", "true")
                .env("GITHUB_OUTPUT", &outputs)
                .env("GITHUB_STEP_SUMMARY", &summary);
        }
        let out = cmd.output().unwrap();
        let stdout = expect_code(&out, 1);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        // The build saw the values, and echoed them where the findings quote them.
        let pip_env = std::fs::read_to_string(fb.state.join("pip-env")).unwrap();
        for (name, value) in secrets {
            assert!(
                pip_env.contains(&format!("{name}={value}")),
                "{name} not in the build's env"
            );
        }
        let report = std::fs::read_to_string(fb.out().join("report.json")).unwrap();
        let mut sinks = vec![
            ("stdout", stdout.clone()),
            ("stderr", stderr.clone()),
            ("build.log", fb.log()),
            ("report.json", report.clone()),
        ];
        if actions {
            sinks.push(("GITHUB_OUTPUT", std::fs::read_to_string(&outputs).unwrap()));
            sinks.push((
                "GITHUB_STEP_SUMMARY",
                std::fs::read_to_string(&summary).unwrap(),
            ));
        }
        for (sink, text) in &sinks {
            for value in shown {
                assert!(
                    !text.contains(value),
                    "`{value}` in {sink} (actions: {actions}):\n{text}"
                );
            }
        }
        // Masked, not dropped: the lines are there with the mask.
        assert!(fb.log().contains("GITHUB_TOKEN=***"), "{}", fb.log());
        assert!(stdout.contains("MY_SECRET=***"), "{stdout}");
        let report: Value = serde_json::from_str(&report).expect("report.json is still JSON");
        let quoted = report["findings"].to_string();
        assert!(quoted.contains("LISTED_SECRET is ***"), "{quoted}");
        if actions {
            let o = std::fs::read_to_string(&outputs).unwrap();
            assert!(o.contains("GITHUB_TOKEN is ***"), "{o}");
        }
        // Four characters: shown as they are, and the warning names the
        // variable, never the value.
        assert!(stdout.contains("SHORT_SECRET=abcd"), "{stdout}");
        let warning = stderr
            .lines()
            .find(|l| l.contains("SHORT_SECRET") && l.contains("too short to mask"))
            .unwrap_or_else(|| panic!("no warning about SHORT_SECRET:\n{stderr}"));
        assert!(!warning.contains("abcd"), "{warning}");
        assert!(
            stderr.contains("UNUSED_NAME is to be masked but is not set"),
            "{stderr}"
        );
    }
}

#[path = "build/prebuilt.rs"]
mod prebuilt;

/// Issue 27 item 7: a failure no rule recognises still gets an error
/// annotation naming the failing command with the log's last lines, and a step
/// summary that shows them fenced.
#[test]
fn an_unrecognised_failure_gets_an_error_annotation_and_the_log_tail() {
    let fb = FakeBuild::new("unknown", require_python!());
    let summary = fb.ctx.path().join("step_summary");
    let out = fb
        .command()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", fb.ctx.path().join("github_output"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("--no-verify")
        .output()
        .unwrap();
    let stdout = expect_code(&out, 1);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{stdout}");
    let python = fb.python.display().to_string();
    assert!(
        errors[0].starts_with(&format!(
            "::error title=wheelwright%3A the build failed::{python} -m pip wheel"
        )),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("exited with 1 (failed).%0A%0ALast lines of build.log:%0A```%0A"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("ERROR: Failed to build one or more wheels%0A")
            && errors[0].ends_with("%0A```"),
        "{}",
        errors[0]
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### wheelwright build failed\n\n`"), "{md}");
    assert!(
        md.contains("ERROR: Failed to build one or more wheels\n"),
        "{md}"
    );
}
