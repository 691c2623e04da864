//! `wheelwright repro` on reports written by a real `wheelwright build` run
//! with the fake toolchain (tests/fixtures/fakepkg, as in tests/build.rs):
//! the replayed build and the printed script start pip with the same argv
//! and environment as the original build; a changed host is named.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::h100_host::{build_args, fakepkg_build, fakepkg_on_h100, FakepkgBuild};
use common::{expect_code, write_executable, TestContext};
use serde_json::Value;

/// The real interpreter behind `python3` (the fake interpreter hands `-m venv`
/// and the verify script to it). In CI its absence is a failure, not a skip.
fn real_python() -> Option<PathBuf> {
    common::required(common::python_with_pip(), "python3 with pip")
}

/// The H100 host of the detect fixtures with the fake package's tree and interpreter.
struct Host {
    ctx: TestContext,
    pkg: FakepkgBuild,
    real_python: PathBuf,
}

impl Host {
    fn new(real_python: PathBuf) -> Host {
        let ctx = TestContext::new();
        let pkg = fakepkg_build(&ctx);
        Host {
            ctx,
            pkg,
            real_python,
        }
    }

    /// `cmd` with the environment every run here gets (the fake package's
    /// variables, the fixture root, CUDA_HOME), on top of the clean test env.
    fn env(&self, mut cmd: Command) -> Command {
        self.ctx.clean_env(&mut cmd);
        fakepkg_on_h100(
            &mut cmd,
            &self.ctx,
            &self.pkg.state,
            "ok",
            &self.real_python,
        );
        cmd
    }

    fn wheelwright(&self) -> Command {
        self.env(Command::new(env!("CARGO_BIN_EXE_wheelwright")))
    }

    /// A real build of the fake package; its report's path.
    fn build(&self) -> PathBuf {
        let mut cmd = self.wheelwright();
        build_args(&mut cmd, &self.ctx, &self.pkg.tree, &self.pkg.python, "3");
        expect_code(&cmd.output().unwrap(), 0);
        self.ctx.path().join("out/report.json")
    }

    /// pip's argv and environment as the fake interpreter recorded them,
    /// moved aside so the next run records anew. The environment leaves out
    /// the build's per-run marker (WHEELWRIGHT_BUILD_ID) and the shell's own
    /// bookkeeping (OLDPWD, SHLVL, `_`), which no replay can or should repeat.
    fn take_pip_record(&self) -> (String, String) {
        let take = |name: &str| {
            let path = self.pkg.state.join(name);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::fs::remove_file(&path).unwrap();
            text
        };
        let argv = take("pip-argv");
        let env = take("pip-env")
            .lines()
            .filter(|l| {
                !["WHEELWRIGHT_BUILD_ID=", "OLDPWD=", "SHLVL=", "_="]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        (argv, env)
    }
}

/// `wheelwright repro REPORT FLAG`, run by `wheelwright` (a command of the
/// binary with its environment).
fn repro(mut wheelwright: Command, report: &Path, flag: &str) -> Output {
    wheelwright
        .arg("repro")
        .arg(report)
        .arg(flag)
        .output()
        .unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_report_replays_with_the_same_command_and_environment() {
    let Some(real) = real_python() else { return };
    let host = Host::new(real);
    let report_path = host.build();
    let (argv, env) = host.take_pip_record();
    let report = read_json(&report_path);
    assert_eq!(report["schema_version"], 2);
    assert_eq!(report["job"]["max_jobs"], 3);
    assert_eq!(report["environment"]["set"]["MAX_JOBS"], "3");
    assert_eq!(report["facts"]["cxx11_abi"], true);
    assert_eq!(report["facts"]["gcc"], "13.3.0");
    assert!(
        env.contains("MAX_JOBS=3\n") && env.contains("NVCC_THREADS=2\n"),
        "{env}"
    );

    // The printed script, run by sh with the same inherited environment.
    let out = repro(host.wheelwright(), &report_path, "--print-script");
    let script = expect_code(&out, 0);
    let script_path = write_executable(&host.ctx.path().join("repro.sh"), &script);
    let mut sh = host.env(Command::new("sh"));
    expect_code(&sh.arg(&script_path).output().unwrap(), 0);
    let (script_argv, script_env) = host.take_pip_record();
    assert_eq!(script_argv, argv);
    assert_eq!(script_env, env);

    // The rebuild: same host, so every fact is the same; same argv and env
    // again. The interpreter is this host's, named (a report's own is not
    // run without --trust-report); everything else of the report is
    // wheelwright's own, so nothing is left out.
    let out2 = host.ctx.path().join("out2");
    let out = host
        .wheelwright()
        .arg("repro")
        .arg(&report_path)
        .arg("--python")
        .arg(&host.pkg.python)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let left_out: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("== left out of the report"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(left_out.len(), 1, "{stderr}");
    assert!(left_out[0].starts_with("  interpreter "), "{stderr}");
    assert!(stderr.contains("  MAX_JOBS=3\n"), "{stderr}");
    for fact in [
        "torch ",
        "CUDA (nvcc)",
        "C++11 ABI",
        "gcc ",
        "CPUs",
        "memory",
    ] {
        let row = stderr
            .lines()
            .find(|l| l.starts_with(fact))
            .unwrap_or_else(|| panic!("no {fact} row: {stderr}"));
        assert!(row.contains(" same "), "{row}");
    }
    let (rebuild_argv, rebuild_env) = host.take_pip_record();
    assert_eq!(rebuild_argv, argv);
    assert_eq!(rebuild_env, env);
    let again = read_json(&out2.join("report.json"));
    assert_eq!(again["command"], report["command"]);
    assert_eq!(again["environment"], report["environment"]);
    assert_eq!(again["plan"]["archs"], report["plan"]["archs"]);
}

#[test]
fn a_changed_host_is_reported_as_different_and_replan_plans_anew() {
    let Some(real) = real_python() else { return };
    let host = Host::new(real);
    let report_path = host.build();
    host.take_pip_record();
    // The report says it was built with another torch and on a 64-CPU box.
    let mut report = read_json(&report_path);
    report["facts"]["torch"] = "2.7.1+cu126".into();
    report["facts"]["logical_cpus"] = 64.into();
    let edited = host.ctx.path().join("edited-report.json");
    std::fs::write(&edited, report.to_string()).unwrap();
    let out = host
        .wheelwright()
        .arg("repro")
        .arg(&edited)
        .arg("--replan")
        .arg("--python")
        .arg(&host.pkg.python)
        .arg("--out")
        .arg(host.ctx.path().join("out3"))
        .output()
        .unwrap();
    expect_code(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let row = |fact: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(fact))
            .unwrap_or_else(|| panic!("no {fact}: {stderr}"))
            .to_string()
    };
    assert!(row("torch ").contains("different  2.7.1+cu126"), "{stderr}");
    assert!(row("CPUs").contains("different  64"), "{stderr}");
    assert!(row("python").contains(" same "), "{stderr}");
    assert!(
        stderr.contains("may not import with another torch"),
        "{stderr}"
    );
    // --replan: the planner chose the jobs for this host, not the report's 3.
    let (_, env) = host.take_pip_record();
    let again = read_json(&host.ctx.path().join("out3/report.json"));
    assert_eq!(again["job"]["max_jobs"], Value::Null);
    let planned = again["plan"]["max_jobs"].as_u64().unwrap();
    assert!(env.contains(&format!("MAX_JOBS={planned}\n")), "{env}");
}

#[test]
fn schema_1_reports_unknown_schemas_and_other_files() {
    let ctx = TestContext::new();
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/h200-full-build");
    let out = repro(
        ctx.wheelwright(),
        &bench.join("report.json"),
        "--print-script",
    );
    let script = expect_code(&out, 0);
    assert!(
        script.contains("export FLASH_ATTN_CUDA_ARCHS=90\n"),
        "{script}"
    );
    assert!(script.contains("schema 1 report"), "{script}");
    assert!(
        script.contains("exec /opt/torch/.venv/bin/python3 -m pip wheel"),
        "{script}"
    );

    let mut report = read_json(&bench.join("report.json"));
    report["schema_version"] = 7.into();
    let future = ctx.path().join("future.json");
    std::fs::write(&future, report.to_string()).unwrap();
    for (file, error) in [
        (
            future.as_path(),
            "has schema_version 7; this wheelwright reads 1 and 2",
        ),
        (
            &bench.join("plan.json"),
            "is not a wheelwright build report",
        ),
        (&ctx.path().join("missing.json"), "cannot read"),
    ] {
        let out = ctx.wheelwright().arg("repro").arg(file).output().unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(error) && stderr.contains("\nhint: "),
            "{stderr}"
        );
    }
}

/// Serve `body` (status 200) for one request on 127.0.0.1, or 404 when `None`;
/// the URL of `/report.json` there.
fn serve_once(body: Option<String>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/report.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let (status, body) = match body {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", String::from("not found")),
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    url
}

#[test]
fn a_report_is_read_from_a_url_through_the_network_layer() {
    let ctx = TestContext::new();
    let report =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/h200-full-build/report.json");
    let url = serve_once(Some(std::fs::read_to_string(report).unwrap()));
    let out = ctx
        .wheelwright()
        .args(["repro", &url, "--print-script"])
        .output()
        .unwrap();
    let script = expect_code(&out, 0);
    assert!(
        script.contains("export FLASH_ATTN_CUDA_ARCHS=90\n"),
        "{script}"
    );

    let url = serve_once(None);
    let out = ctx.wheelwright().args(["repro", &url]).output().unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read http://127.0.0.1") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(stderr.contains("\nhint: "), "{stderr}");
}

#[test]
fn diagnose_reads_the_saved_log_again() {
    let ctx = TestContext::new();
    let dir = ctx.path().join("oom");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/h100-oom-recovery");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["report.json", "build.log"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let out = repro(ctx.wheelwright(), &dir.join("report.json"), "--diagnose");
    // The OOM kills of attempt 1 are error findings: exit 1, as `diagnose` does.
    let stdout = expect_code(&out, 1);
    assert!(stdout.contains("error[oom-killed]"), "{stdout}");
}

/// `examples/ci_job.rs` runs a JobSpec through the library alone and leaves
/// JUnit and GitLab code-quality reports; pip starts exactly as under
/// `wheelwright build` with the same settings.
#[test]
fn the_ci_job_example_runs_a_job_through_the_library_alone() {
    let Some(real) = real_python() else { return };
    let host = Host::new(real);
    // A first build compiles the tree (and orders ninja's jobs); the builds
    // compared below both find it compiled.
    host.build();
    host.take_pip_record();
    let spec = serde_json::json!({
        "source": host.pkg.tree,
        "recipe": "flash-attn",
        "python": host.pkg.python,
        "max_jobs": 3,
        "nvcc_threads": 2,
        "work_dir": host.ctx.path().join("work"),
        "out_dir": host.ctx.path().join("out"),
    });
    let spec_path = host.ctx.path().join("job.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let out = host
        .env(Command::new(common::example_binary("ci_job")))
        .arg(&spec_path)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let by_example = host.take_pip_record();
    host.build();
    assert_eq!(by_example, host.take_pip_record());
    let out_dir = host.ctx.path().join("out");
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("wheelwright build"),
        "{junit}"
    );
    let quality = read_json(&out_dir.join("gl-code-quality-report.json"));
    assert!(quality.is_array(), "{quality}");
    assert_eq!(read_json(&out_dir.join("report.json"))["outcome"], "ok");
}
