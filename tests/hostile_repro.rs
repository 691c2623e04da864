//! `wheelwright repro` on crafted hostile reports (issue 26, items 1–5): a
//! `report.json` is a CI artifact anyone who opens a pull request can shape,
//! so every value in it is data. The printed script quotes every value and
//! keeps comments on one line, and refuses names that are not shell
//! identifiers; the rebuild runs nothing the report names (interpreter,
//! sccache, PATH entries, variables outside wheelwright's own, pip
//! arguments, `force`) unless told to trust it; files go through the safe
//! writer; `--diagnose` reads the log beside the report; reports are read
//! in bounded memory. Canary programs and files show what ran.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::measure::measure;
use common::{expect_code, write_executable, TestContext};
use proptest::prelude::*;
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

/// A schema-1 report of a real build (the H200 box's flash-attn build).
fn schema_1() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/h200-full-build/report.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The same report as schema 2 (`job`, `environment`), as `wheelwright
/// build` writes it today, building `source` in `dir`.
fn schema_2(dir: &Path, source: &Path) -> Value {
    let mut r = schema_1();
    r["schema_version"] = 2.into();
    r["spec"] = source.display().to_string().into();
    r["work_dir"] = dir.join("work").display().to_string().into();
    r["source_dir"] = source.display().to_string().into();
    r["log"] = dir.join("out/build.log").display().to_string().into();
    r["job"] = json!({
        "source": source,
        "recipe": "flash-attn",
        "work_dir": dir.join("work"),
        "out_dir": dir.join("out"),
        "verify": false,
    });
    let mut set = r["plan"]["env"].clone();
    set["PYTHONUNBUFFERED"] = "1".into();
    set["PIP_NO_INPUT"] = "1".into();
    r["environment"] = json!({
        "set": set,
        "removed": [],
        "path_prepend": [],
        "cwd": source,
    });
    r
}

fn write_report(dir: &Path, report: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(report).unwrap()).unwrap();
    path
}

fn repro(ctx: &TestContext, report: &Path, args: &[&str]) -> Output {
    ctx.wheelwright()
        .arg("repro")
        .arg(report)
        .args(args)
        .output()
        .unwrap()
}

/// Item 1. An environment name that is not a shell identifier, in each
/// place a report holds names (schema 2 `environment.set` and `removed`,
/// schema 1 `plan.env`), refuses the report: exit 2 with a hint, no
/// script. (It was written unquoted: `export A=1; touch X; B=v`.)
#[test]
fn print_script_refuses_names_that_are_not_shell_identifiers() {
    let ctx = TestContext::new();
    let canary = ctx.path().join("CANARY");
    let name = format!("A=1; touch {}; B", canary.display());
    let src = ctx.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut set = schema_2(ctx.path(), &src);
    set["environment"]["set"][&name] = "v".into();
    let mut removed = schema_2(ctx.path(), &src);
    removed["environment"]["removed"] = json!([name]);
    let mut plan_env = schema_1();
    plan_env["plan"]["env"][&name] = "v".into();
    for (what, report) in [("set", set), ("removed", removed), ("plan.env", plan_env)] {
        let path = write_report(&ctx.path().join(what), &report);
        let out = repro(&ctx, &path, &["--print-script"]);
        let stdout = expect_code(&out, 2);
        assert!(stdout.is_empty(), "{what}: a script was printed: {stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not a shell variable name") && stderr.contains("\nhint: "),
            "{what}: {stderr}"
        );
    }
    assert!(!canary.exists());
}

/// Pieces of hostile text: arbitrary strings and the shell's metacharacters
/// around a `canary` command.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        ".{0,12}",
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("#".to_string()),
        Just(" ".to_string()),
        Just("$(canary)".to_string()),
        Just("`canary`".to_string()),
        Just("; canary;".to_string()),
        Just("\ncanary\n".to_string()),
        Just("&& canary".to_string()),
        Just("| canary".to_string()),
        Just("${HOME}".to_string()),
        Just("'\"$(canary)\"'".to_string()),
        Just("\0".to_string()),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|p| p.concat())
}

/// A shell identifier, mostly; sometimes not.
fn env_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Z_][A-Z0-9_]{0,10}".prop_filter("not PATH", |n| n != "PATH"),
        1 => hostile(),
    ]
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Everything a report can say, from the strategies.
#[derive(Debug, Clone)]
struct Fields {
    schema_2: bool,
    header: Vec<String>,
    set: Vec<(String, String)>,
    removed: Vec<String>,
    path_prepend: Vec<String>,
    cwd_name: String,
    source_dir: Option<Option<String>>,
    args: Vec<String>,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        any::<bool>(),
        prop::collection::vec(hostile(), 9),
        prop::collection::vec((env_name(), hostile()), 0..4),
        prop::collection::vec(env_name(), 0..3),
        prop::collection::vec(hostile(), 0..3),
        hostile(),
        prop::option::of(prop::option::of(hostile())),
        prop::collection::vec(hostile(), 0..5),
    )
        .prop_map(
            |(schema_2, header, set, removed, path_prepend, cwd_name, source_dir, args)| Fields {
                schema_2,
                header,
                set,
                removed,
                path_prepend,
                cwd_name,
                source_dir,
                args,
            },
        )
}

/// The test's host for the property: `bin/` with a `canary` that leaves a
/// file and a recorder that writes its arguments, NUL-separated.
struct ScriptHost {
    ctx: TestContext,
    canary: PathBuf,
    recorder: PathBuf,
    record: PathBuf,
}

impl ScriptHost {
    fn new() -> ScriptHost {
        let ctx = TestContext::new();
        let canary = ctx.path().join("CANARY");
        let record = ctx.path().join("argv");
        ctx.fake_tool(
            "canary",
            &format!("#!/bin/sh\necho ran >> '{}'\n", canary.display()),
        );
        let recorder = ctx.fake_tool(
            "recorder",
            &format!(
                // One NUL-terminated word per argument (printf alone
                // would print its format once even with no argument).
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{}'\npwd > '{}.cwd'\n",
                record.display(),
                record.display()
            ),
        );
        ScriptHost {
            ctx,
            canary,
            recorder,
            record,
        }
    }

    /// The report of `f`, and its working directory (created).
    fn report(&self, f: &Fields) -> (Value, PathBuf) {
        let safe: String = f.cwd_name.replace(['/', '\0'], "_");
        let cwd = self.ctx.path().join("cwds").join(format!("d{safe}"));
        std::fs::create_dir_all(&cwd).unwrap();
        let src = self.ctx.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let mut r = if f.schema_2 {
            schema_2(self.ctx.path(), &src)
        } else {
            schema_1()
        };
        let h = &f.header;
        r["spec"] = h[0].clone().into();
        r["recipe"] = h[1].clone().into();
        r["wheelwright_version"] = h[2].clone().into();
        r["start"] = h[3].clone().into();
        r["facts"]["cuda"] = h[4].clone().into();
        r["facts"]["torch"] = h[5].clone().into();
        r["facts"]["torch_cuda"] = h[6].clone().into();
        r["facts"]["python"] = h[7].clone().into();
        r["source_sha256"] = h[8].clone().into();
        r["source_dir"] = match &f.source_dir {
            None => Value::Null,
            Some(None) => src.display().to_string().into(),
            Some(Some(s)) => s.clone().into(),
        };
        let mut command = vec![self.recorder.display().to_string()];
        command.extend(f.args.iter().cloned());
        r["command"] = json!(command);
        r["work_dir"] = cwd.display().to_string().into();
        let set: serde_json::Map<String, Value> = f
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        if f.schema_2 {
            r["environment"] = json!({
                "set": set,
                "removed": f.removed,
                "path_prepend": f.path_prepend,
                "cwd": cwd,
            });
        } else {
            r["plan"]["env"] = Value::Object(set);
        }
        (r, cwd)
    }

    /// Whether wheelwright must refuse `f`'s report: a name that is not a
    /// shell identifier, or a NUL in something the script executes (no
    /// argument, value or path can hold one).
    fn must_refuse(f: &Fields) -> bool {
        let names = f.set.iter().map(|(k, _)| k).chain(if f.schema_2 {
            f.removed.iter().collect::<Vec<_>>()
        } else {
            Vec::new()
        });
        let mut executed: Vec<&String> = f.set.iter().map(|(_, v)| v).collect();
        executed.extend(&f.args);
        if f.schema_2 {
            executed.extend(&f.path_prepend);
        }
        if let Some(Some(s)) = &f.source_dir {
            executed.push(s);
        }
        names.into_iter().any(|n| !is_identifier(n)) || executed.iter().any(|v| v.contains('\0'))
    }

    fn check(&self, f: &Fields, case: usize) -> Result<(), TestCaseError> {
        let _ = std::fs::remove_file(&self.record);
        let (report, cwd) = self.report(f);
        let dir = self.ctx.path().join(format!("case{case}"));
        let path = write_report(&dir, &report);
        let out = repro(&self.ctx, &path, &["--print-script"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if Self::must_refuse(f) {
            prop_assert_eq!(out.status.code(), Some(2), "{}", stderr);
            prop_assert!(stderr.contains("\nhint: "), "{}", stderr);
            return Ok(());
        }
        prop_assert_eq!(out.status.code(), Some(0), "{}", stderr);
        let script = dir.join("repro.sh");
        std::fs::write(&script, &out.stdout).unwrap();
        let parse = Command::new("sh").arg("-n").arg(&script).output().unwrap();
        prop_assert!(
            parse.status.success(),
            "sh -n: {}\n{}",
            String::from_utf8_lossy(&parse.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let mut sh = Command::new("sh");
        self.ctx.clean_env(&mut sh);
        let ran = sh.arg(&script).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        prop_assert!(
            !self.canary.exists(),
            "the script ran a command of the report:\n{}",
            text
        );
        let source_missing = matches!(&f.source_dir, Some(Some(s)) if !Path::new(s).is_dir());
        if source_missing {
            prop_assert_eq!(ran.status.code(), Some(2), "{}", text);
            prop_assert!(!self.record.exists(), "{}", text);
            return Ok(());
        }
        prop_assert!(
            ran.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&ran.stderr),
            text
        );
        let argv = std::fs::read(&self.record).unwrap();
        let expected: Vec<u8> = f.args.iter().flat_map(|a| a.bytes().chain([0])).collect();
        prop_assert_eq!(argv, expected, "{}", text);
        let pwd = std::fs::read_to_string(format!("{}.cwd", self.record.display())).unwrap();
        if f.schema_2 {
            // Only pwd's own line end: the name may end with a newline.
            let pwd = pwd.strip_suffix('\n').unwrap_or(&pwd);
            prop_assert_eq!(Path::new(pwd), cwd.as_path());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, max_shrink_iters: 200, ..ProptestConfig::default() })]

    /// Item 1. Arbitrary text in every field of a report (header facts,
    /// names and values of the environment, PATH entries, the source dir,
    /// the command's arguments): either the report is refused (a name that
    /// is not an identifier, a NUL in what runs) with exit 2, or the script
    /// parses (`sh -n`) and, run, executes nothing but the recorded command
    /// with the recorded arguments in the recorded directory (a `canary`
    /// on PATH leaves a file if any text of the report ran).
    #[test]
    fn the_printed_script_runs_only_the_recorded_command(f in fields()) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::OnceLock;
        static HOST: OnceLock<ScriptHost> = OnceLock::new();
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let host = HOST.get_or_init(ScriptHost::new);
        host.check(&f, CASE.fetch_add(1, Ordering::Relaxed))?;
    }
}

/// A directory of canaries: executables under every name a build may run
/// (the report's interpreter, sccache, compilers, pip) and a `BASH_ENV`
/// file, each leaving `CANARY-<name>` when run.
fn canaries(dir: &Path) -> PathBuf {
    let evil = dir.join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    for name in [
        "python", "python3", "pip", "sccache", "gcc", "g++", "cc", "nvcc", "ninja", "bashenv",
    ] {
        write_executable(
            &evil.join(name),
            &format!(
                "#!/bin/sh\ntouch '{}/CANARY-{name}'\nexit 1\n",
                dir.display()
            ),
        );
    }
    evil
}

fn ran_canaries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with("CANARY").then_some(name)
        })
        .collect();
    v.sort();
    v
}

/// This host's interpreter for a rebuild: a fake `python3` that logs each
/// call (arguments and the variables a hostile report would set) and
/// fails, so the rebuild stops early.
fn host_python(ctx: &TestContext) -> PathBuf {
    let log = ctx.path().join("host-python.log");
    ctx.fake_tool(
        "python3",
        &format!(
            "#!/bin/sh\n{{ echo \"argv: $*\"; env | grep -E '^(LD_PRELOAD|BASH_ENV|PYTHONPATH|CC|CXX|NVCC_PREPEND_FLAGS|CUDA_HOME)=' ; }} >> '{}'\nexit 1\n",
            log.display()
        ),
    )
}

/// The report of item 2: every place a report names code or environment
/// points at the canaries.
fn hostile_rebuild_report(ctx: &TestContext) -> PathBuf {
    let dir = ctx.path();
    let evil = canaries(dir);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("setup.py"), "").unwrap();
    let mut r = schema_2(dir, &src);
    let bad_env = json!({
        "LD_PRELOAD": evil.join("x.so"),
        "BASH_ENV": evil.join("bashenv"),
        "PYTHONPATH": evil,
        "CC": evil.join("gcc"),
        "CXX": evil.join("g++"),
        "NVCC_PREPEND_FLAGS": format!("-ccbin {}", evil.join("gcc").display()),
        "CUDA_HOME": evil,
    });
    for (k, v) in bad_env.as_object().unwrap() {
        r["environment"]["set"][k] = v.clone();
        r["plan"]["env"][k] = v.clone();
    }
    r["environment"]["path_prepend"] = json!([evil]);
    r["environment"]["cwd"] = json!(evil);
    r["plan"]["pip_args"] = json!([
        "--no-build-isolation",
        "--no-deps",
        "--index-url",
        "http://127.0.0.1:9/evil"
    ]);
    r["job"]["python"] = json!(evil.join("python"));
    r["job"]["compile_cache"] = json!({ "sccache": evil.join("sccache"), "dir": null });
    r["job"]["force"] = true.into();
    r["command"][0] = json!(evil.join("python"));
    write_report(&dir.join("report"), &r)
}

/// Item 2. `repro REPORT` (the rebuild) runs none of the report's
/// programs (its interpreter, sccache, the tools of its PATH entries) and
/// gives pip none of its variables outside wheelwright's own, nor its
/// extra pip arguments, nor honours its `force`: before running it says
/// what it takes from the report and what it leaves out, and
/// `--trust-report` takes all of it. (It ran the report's interpreter
/// twice before printing anything, its sccache, and pip with `LD_PRELOAD`,
/// `BASH_ENV`, `PYTHONPATH` and `--index-url` from the report.)
#[test]
fn a_rebuild_runs_nothing_the_report_names_without_trust_report() {
    let ctx = TestContext::new();
    let report = hostile_rebuild_report(&ctx);
    let log = ctx.path().join("host-python.log");
    host_python(&ctx);
    let out = ctx
        .wheelwright()
        .arg("repro")
        .arg(&report)
        .arg("--out")
        .arg(ctx.path().join("out2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        ran_canaries(ctx.path()),
        Vec::<String>::new(),
        "the report's programs ran:\n{stderr}"
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    for bad in [
        "LD_PRELOAD=",
        "BASH_ENV=",
        "PYTHONPATH=",
        "CC=",
        "CXX=",
        "NVCC_PREPEND_FLAGS=",
        "CUDA_HOME=",
        "127.0.0.1:9/evil",
    ] {
        assert!(
            !calls.contains(bad),
            "this host's python got {bad} from the report:\n{calls}\n{stderr}"
        );
    }
    // What comes from the report, and what is left out, is said first.
    for said in [
        "LD_PRELOAD",
        "BASH_ENV",
        "--index-url",
        "force",
        "sccache",
        "--trust-report",
    ] {
        assert!(stderr.contains(said), "not named: {said}\n{stderr}");
    }
    assert_ne!(out.status.code(), Some(0), "{stderr}");
}

/// Item 3. The rebuild writes the report's plan as `repro-plan.json` in
/// the report's work dir: a symlink planted there is replaced, never
/// followed (it overwrote the victim).
#[test]
fn the_replan_file_is_never_written_through_a_planted_symlink() {
    let ctx = TestContext::new();
    let src = ctx.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("setup.py"), "").unwrap();
    let report = write_report(&ctx.path().join("report"), &schema_2(ctx.path(), &src));
    let victim = ctx.path().join("victim.txt");
    std::fs::write(&victim, "the victim's bytes\n").unwrap();
    let work = ctx.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    symlink(&victim, work.join("repro-plan.json")).unwrap();
    let python = host_python(&ctx);
    let out = ctx
        .wheelwright()
        .arg("repro")
        .arg(&report)
        .arg("--python")
        .arg(&python)
        .arg("--out")
        .arg(ctx.path().join("out2"))
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the victim's bytes\n",
        "written through the link: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = work.join("repro-plan.json");
    assert!(
        !plan.is_symlink(),
        "the planted link is still there: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(written["archs"], json!(["90"]));
}

/// Item 4. `repro --diagnose` reads the `build.log` beside the report
/// before any path the report names, and says which file it reads (it read
/// the report's `log`, any local file).
#[test]
fn diagnose_prefers_the_log_beside_the_report_and_names_it() {
    let ctx = TestContext::new();
    let logs = common::fixture("logs");
    let elsewhere = ctx.path().join("elsewhere/other.log");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::copy(logs.join("gcc_too_new.log"), &elsewhere).unwrap();
    let dir = ctx.path().join("artifact");
    let mut r = schema_1();
    r["log"] = json!(elsewhere);
    let report = write_report(&dir, &r);
    let beside = dir.join("build.log");
    std::fs::copy(logs.join("oom_gxx.log"), &beside).unwrap();
    let out = repro(&ctx, &report, &["--diagnose"]);
    let stdout = expect_code(&out, 1);
    assert!(stdout.contains("oom-killed"), "{stdout}");
    assert!(
        !stdout.contains("gcc-too-new"),
        "read the report's log: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&beside.display().to_string()),
        "does not say which file it reads: {stderr}"
    );

    // Without a log beside it, the report's `log` is read, and named.
    std::fs::remove_file(&beside).unwrap();
    let out = repro(&ctx, &report, &["--diagnose"]);
    let stdout = expect_code(&out, 1);
    assert!(stdout.contains("gcc-too-new"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&elsewhere.display().to_string()),
        "{stderr}"
    );
}

/// `wheelwright repro ARGS...` under a 1 GiB address-space limit (so a
/// reader that grows without bound fails fast instead of taking the
/// machine), measured.
fn repro_measured(ctx: &TestContext, args: &[&str]) -> common::measure::Measured {
    let mut sh = Command::new("sh");
    ctx.clean_env(&mut sh);
    sh.args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_wheelwright"))
        .arg("repro")
        .args(args);
    measure(&mut sh, Duration::from_secs(60))
}

fn assert_refused_small(m: &common::measure::Measured, what: &str, says: &str) {
    assert!(!m.timed_out, "{what}: {}", m.describe());
    assert_eq!(m.output.status.code(), Some(2), "{what}: {}", m.describe());
    let stderr = String::from_utf8_lossy(&m.output.stderr);
    assert!(
        stderr.contains(says) && stderr.contains("\nhint: "),
        "{what}: {}",
        m.describe()
    );
    assert!(m.max_rss_kib <= 64 * 1024, "{what}: {}", m.describe());
}

/// Item 5. Reports are read in bounded memory: `/dev/zero` (not a regular
/// file) and a FIFO are refused by their type before they are read; a
/// 100 MiB file and a 64 MiB body from a URL by their size (the cap is
/// 16 MiB; real reports are about 10 KB); each in at most 64 MiB of RSS.
/// (`/dev/zero` grew to 2.1 GB before failing; a 200 MB report took
/// 623 MB.)
#[test]
fn reports_are_read_in_bounded_memory() {
    let ctx = TestContext::new();
    let m = repro_measured(&ctx, &["/dev/zero"]);
    assert_refused_small(&m, "/dev/zero", "not a regular file");

    let fifo = ctx.path().join("fifo.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let m = repro_measured(&ctx, &[fifo.to_str().unwrap()]);
    assert_refused_small(&m, "a FIFO", "not a regular file");

    let big = ctx.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(100 * MIB).unwrap();
    let m = repro_measured(&ctx, &[big.to_str().unwrap()]);
    assert_refused_small(&m, "100 MiB", "larger than 16 MiB");

    let url = serve_large(64 * MIB);
    let m = repro_measured(&ctx, &[&url, "--print-script"]);
    // Refused by the request's cap from the announced Content-Length, not
    // after 64 MiB came to disk.
    assert_refused_small(&m, "a 64 MiB body", "more than the 16777216 bytes");
}

/// Serve `size` bytes of JSON-ish whitespace (status 200, with its
/// Content-Length) to every request on 127.0.0.1; the URL of
/// `/report.json` there.
fn serve_large(size: u64) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/report.json", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let chunk = vec![b' '; 1 << 16];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if conn.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
        }
    });
    url
}
