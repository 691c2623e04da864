//! `wheelwright workdir`: the work dir a runner's build uses, keyed by the
//! sdist's sha256 and the variant of the real H100 host's captured facts;
//! the same build finds the same dir, another variant or scope another;
//! old dirs are evicted; the outputs land in `GITHUB_OUTPUT`. And `build`
//! waits while another process holds its work dir's lock.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::{expect_code, fixture, TestContext};

fn facts_file(ctx: &TestContext, gpus: bool) -> PathBuf {
    let text =
        std::fs::read_to_string(fixture("hosts/h100-cuda13.0/wheelwright-detect.json")).unwrap();
    let mut facts: serde_json::Value = serde_json::from_str(&text).unwrap();
    if !gpus {
        facts["gpus"] = serde_json::json!([]);
    }
    let path = ctx.path().join(if gpus {
        "facts.json"
    } else {
        "facts-no-gpu.json"
    });
    std::fs::write(&path, facts.to_string()).unwrap();
    path
}

fn sdist(ctx: &TestContext, content: &str) -> PathBuf {
    let path = ctx.path().join("flash_attn-2.8.3.tar.gz");
    std::fs::write(&path, content).unwrap();
    path
}

/// Run `workdir`; the work dir it printed and the outputs it wrote.
fn workdir(
    ctx: &TestContext,
    root: &Path,
    extra: &[&str],
    spec: &Path,
    code: i32,
) -> (String, String, String) {
    let output = ctx.path().join("github_output");
    std::fs::write(&output, "").unwrap();
    let out = ctx
        .wheelwright()
        .arg("workdir")
        .arg("--root")
        .arg(root)
        .args(extra)
        .args(["--github-output", "--"])
        .arg(spec)
        .env("GITHUB_OUTPUT", &output)
        .output()
        .unwrap();
    let stdout = expect_code(&out, code);
    (
        stdout.trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(&output).unwrap(),
    )
}

#[test]
fn the_same_build_finds_its_dir_and_another_variant_or_scope_gets_its_own() {
    let ctx = TestContext::new();
    let root = ctx.path().join("tool-cache/wheelwright/work");
    let facts = facts_file(&ctx, true);
    let spec = sdist(&ctx, "sdist bytes");
    let f = facts.to_str().unwrap();
    let (dir, _, outputs) = workdir(&ctx, &root, &["--facts", f, "--scope", "release"], &spec, 0);
    assert!(dir.starts_with(&root.display().to_string()), "{dir}");
    let name = Path::new(&dir)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(name.starts_with("release-"), "{name}");
    let record =
        std::fs::read_to_string(Path::new(&dir).join(".wheelwright-variant.json")).unwrap();
    // The H100 host's facts: torch with its patch and label, CUDA, Python, ABI, archs from its GPU.
    for part in [
        "2.11.0+cu130",
        "\"13.0\"",
        "3.12.3",
        "\"cxx11_abi\": true",
        "\"90\"",
        "gcc 13.3.0",
    ] {
        assert!(record.contains(part), "{part} in {record}");
    }
    // The outputs, in the runner's multiline form, the source passed through.
    assert!(outputs.contains(&format!("\n{dir}\n")), "{outputs}");
    assert!(outputs.starts_with("work-dir<<"), "{outputs}");
    assert!(
        outputs.contains(&format!("\n{}\n", spec.display())),
        "{outputs}"
    );
    assert!(
        outputs.contains(&format!("\n{name}\n")),
        "variant-key: {outputs}"
    );

    let (again, _, _) = workdir(&ctx, &root, &["--facts", f, "--scope", "release"], &spec, 0);
    assert_eq!(again, dir, "the same source and variant reuse the dir");
    let (pr, _, _) = workdir(
        &ctx,
        &root,
        &["--facts", f, "--scope", "pull-request"],
        &spec,
        0,
    );
    assert_ne!(pr, dir);
    let (archs, _, _) = workdir(
        &ctx,
        &root,
        &["--facts", f, "--scope", "release", "--archs", "80;90"],
        &spec,
        0,
    );
    assert_ne!(archs, dir);
    // A matrix cell's archs key the dir, not the builder's GPU (sm_90 here).
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&archs).join(".wheelwright-variant.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["archs"], serde_json::json!(["80", "90"]), "{record}");
    std::fs::write(&spec, "another sdist").unwrap();
    let (other_source, _, _) =
        workdir(&ctx, &root, &["--facts", f, "--scope", "release"], &spec, 0);
    assert_ne!(other_source, dir);
}

#[test]
fn old_work_dirs_are_evicted_and_bad_input_refused() {
    let ctx = TestContext::new();
    let root = ctx.path().join("work");
    let facts = facts_file(&ctx, true);
    let f = facts.to_str().unwrap();
    let spec = sdist(&ctx, "sdist");
    let (old, _, _) = workdir(&ctx, &root, &["--facts", f, "--archs", "80"], &spec, 0);
    std::fs::File::options()
        .write(true)
        .open(Path::new(&old).join(".wheelwright-variant.json"))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400))
        .unwrap();
    let (new, stderr, _) = workdir(
        &ctx,
        &root,
        &["--facts", f, "--archs", "90", "--max-age-days", "2"],
        &spec,
        0,
    );
    assert!(!Path::new(&old).exists(), "{stderr}");
    assert!(Path::new(&new).exists());
    assert!(
        stderr.contains(&format!("removed {old}")) && stderr.contains("unused for over 2 days"),
        "{stderr}"
    );

    // No GPU and no --archs: nothing to key by.
    let no_gpu = facts_file(&ctx, false);
    let (_, stderr, _) = workdir(
        &ctx,
        &root,
        &["--facts", no_gpu.to_str().unwrap()],
        &spec,
        2,
    );
    assert!(
        stderr.contains("no CUDA archs") && stderr.contains("hint: pass --archs"),
        "{stderr}"
    );
    let (_, stderr, _) = workdir(&ctx, &root, &["--facts", f, "--scope", "a/b"], &spec, 2);
    assert!(stderr.contains("is not a name"), "{stderr}");
    let (_, stderr, _) = workdir(
        &ctx,
        &root,
        &["--facts", f, "--max-total", "lots"],
        &spec,
        2,
    );
    assert!(stderr.contains("not a size"), "{stderr}");
}

#[test]
fn build_waits_while_another_process_holds_its_work_dir() {
    let ctx = TestContext::new();
    let work = ctx.path().join("work");
    let lock = ctx.path().join("work.lock");
    // Another process (Python's flock) holds the lock for 2 s.
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\nf = open(sys.argv[1], 'w')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(2)",
        ])
        .arg(&lock)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 holds the lock (install python3)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let start = Instant::now();
    // It gets the lock, then stops at the interpreter that does not exist.
    let out = ctx
        .wheelwright()
        .args(["build", "--work-dir"])
        .arg(&work)
        .args(["--python", "/nonexistent/python", "--", "flash-attn==2.8.3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("waiting for another build that uses"),
        "{stderr}"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_ne!(out.status.code(), Some(0));
    holder.wait().unwrap();
}
