//! `build --prefer-prebuilt` against a local server playing flash-attn's
//! release download URL (`python3 -m http.server`, `--prebuilt-url`): the
//! served wheel is made here as flash-attn's release workflow makes one
//! (its METADATA without the local label, renamed with it) around a shared
//! object compiled by real nvcc (PyPI's `nvidia-cuda-nvcc`,
//! `WHEELWRIGHT_TEST_NVCC`) for sm_80 and sm_90, the archs each build here
//! asks for (`--archs 80;90`, as a matrix cell does). The host is the H100
//! of the detect fixtures (torch 2.11 cu130, C++11 ABI, Python 3.12), the
//! source an sdist named `flash_attn-2.8.3.tar.gz`, and the fallback
//! compile the fake build of `tests/build.rs`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::common::device_code::{nvcc_so, test_nvcc};
use super::common::index_servers::Server;
use super::common::{both, expect_code, prerequisite_missing, python_with_pip, run_ok};
use super::FakeBuild;
use serde_json::Value;

const VERSION: &str = "2.8.3";
/// flash-attn's label for the H100 fixture host's torch.
const LABEL: &str = "cu13torch2.11cxx11abiTRUE";

/// The release asset's name for this host (its machine, as detect reports it).
fn asset_name() -> String {
    format!(
        "flash_attn-{VERSION}+{LABEL}-cp312-cp312-linux_{}.whl",
        std::env::consts::ARCH
    )
}

/// Shared objects compiled once per test run: sm_80 + sm_90, and sm_80 only.
struct DeviceCode {
    both: PathBuf,
    sm80_only: PathBuf,
}

fn device_code() -> Option<&'static DeviceCode> {
    static CODE: OnceLock<Option<DeviceCode>> = OnceLock::new();
    CODE.get_or_init(|| {
        let nvcc = test_nvcc()?;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prebuilt-device-code");
        let compile = |name: &str, gencodes: &[&str]| nvcc_so(&nvcc, &dir, name, gencodes, &[]);
        Some(DeviceCode {
            both: compile(
                "both.so",
                &["arch=compute_80,code=sm_80", "arch=compute_90,code=sm_90"],
            ),
            sm80_only: compile("sm80.so", &["arch=compute_80,code=sm_80"]),
        })
    })
    .as_ref()
}

/// The fake build, real Python and nvcc, or `None` after saying what is
/// missing (a failure under CI).
fn setup() -> Option<(FakeBuild, &'static DeviceCode)> {
    let Some(python) = python_with_pip() else {
        prerequisite_missing("python3 with pip");
        return None;
    };
    let Some(code) = device_code() else {
        prerequisite_missing("nvcc (WHEELWRIGHT_TEST_NVCC or on PATH)");
        return None;
    };
    Some((FakeBuild::new("ok", python), code))
}

/// `dir/v2.8.3/<asset>` around `so`, as flash-attn's release has it.
fn release_asset(fb: &FakeBuild, dir: &Path, so: &Path, init: Option<&str>) -> PathBuf {
    let release = dir.join(format!("v{VERSION}"));
    std::fs::create_dir_all(&release).unwrap();
    let out = release.join(asset_name());
    let script = super::common::fixture("prebuilt/release_wheel.py");
    let mut cmd = Command::new(&fb.real_python);
    cmd.arg(script)
        .arg(&out)
        .args([
            VERSION,
            "cp312",
            &format!("linux_{}", std::env::consts::ARCH),
        ])
        .arg(so)
        .args(init);
    run_ok(&mut cmd);
    out
}

/// `flash_attn-2.8.3.tar.gz` of the fake tree: a source that names its version.
fn sdist(fb: &FakeBuild) -> PathBuf {
    fb.sdist(&format!("flash_attn-{VERSION}.tar.gz"))
}

/// `build --prefer-prebuilt --archs 80;90 --prebuilt-url URL` of the sdist.
fn build(fb: &FakeBuild, url: &str, extra: &[&str]) -> (Output, Duration) {
    let mut cmd = fb.command_for(&sdist(fb));
    cmd.args([
        "--prefer-prebuilt",
        "--archs",
        "80;90",
        "--prebuilt-url",
        url,
    ])
    .args(extra);
    let start = Instant::now();
    let out = cmd.output().unwrap();
    (out, start.elapsed())
}

fn sha256_hex(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The lines of `out` that start with `wheelwright: ` and contain `needle`.
fn notes<'a>(all: &'a str, needle: &str) -> Vec<&'a str> {
    all.lines()
        .filter(|l| l.contains(needle) && l.contains("prebuilt"))
        .collect()
}

/// The build compiled (one attempt of the fake build) and kept `prebuilt`
/// with `used: false` and the note.
fn assert_compiled(fb: &FakeBuild, note: &str) -> Value {
    let r = fb.report();
    assert_eq!(r["outcome"], "ok", "{r}");
    assert_eq!(r["attempts"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        r["wheel"]["name"], "flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE-py3-none-any.whl",
        "the compiled wheel, not the release's"
    );
    assert_eq!(r["prebuilt"]["used"], false, "{}", r["prebuilt"]);
    assert_eq!(r["prebuilt"]["note"], note);
    assert!(
        fb.log().contains(&format!("=== wheelwright: {note}")),
        "{}",
        fb.log()
    );
    r
}

#[test]
fn a_matching_release_wheel_that_passes_wheel_check_is_used_instead_of_compiling() {
    let Some((fb, code)) = setup() else { return };
    let served = fb.ctx.path().join("served");
    let asset = release_asset(&fb, &served, &code.both, None);
    let server = Server::http(&fb.real_python, &served, fb.ctx.path().join("http.log"));
    let url = format!("{}/v{VERSION}/{}", server.url, asset_name());
    let outputs = fb.ctx.path().join("github-output");
    let (out, _) = build(&fb, &server.url, &["--no-verify"]);
    let all = both(&out);
    expect_code(&out, 0);
    let sha = sha256_hex(&asset);
    let used = format!("prebuilt wheel used instead of compiling: {url} (sha256 {sha})");
    assert!(
        all.contains(&format!("looking for a prebuilt wheel: {url}")),
        "{all}"
    );
    assert!(all.contains(&used), "{all}");
    // A release wheel lacks the label in METADATA: usable here, with a warning.
    assert!(
        all.contains("warning: a flash-attn release wheel's METADATA has no local version label"),
        "{all}"
    );
    // Nothing was compiled.
    assert!(!fb.state.join("attempts").exists(), "the fake build ran");

    let r = fb.report();
    assert_eq!(r["outcome"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["attempts"].as_array().unwrap().len(), 0);
    let p = &r["prebuilt"];
    assert_eq!(p["used"], true, "{p}");
    assert_eq!(p["url"], url.as_str());
    assert_eq!(p["sha256"], sha.as_str());
    assert_eq!(p["note"], used.as_str());
    assert_eq!(
        p["findings"][0]["id"],
        "metadata-version-without-local-label"
    );
    assert_eq!(p["findings"][0]["severity"], "warning");
    // The wheel in --out is the release's file, byte for byte.
    assert_eq!(r["wheel"]["name"], asset_name().as_str());
    assert_eq!(r["wheel"]["sha256"], sha.as_str());
    let kept = PathBuf::from(r["wheel"]["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(&asset).unwrap()
    );
    assert_eq!(r["verify"]["skipped_reason"], "--no-verify");
    assert!(
        fb.log().contains(&format!("=== wheelwright: {used}")),
        "{}",
        fb.log()
    );
    // The request the server saw.
    assert!(
        server
            .log_text()
            .contains(&format!("GET /v{VERSION}/{}", asset_name())),
        "{}",
        server.log_text()
    );

    // On a runner, the Action's outputs point at it.
    // The mirror from the environment this time.
    let out = fb
        .command_for(&sdist(&fb))
        .args(["--prefer-prebuilt", "--archs", "80;90", "--no-verify"])
        .env("WHEELWRIGHT_PREBUILT_URL", &server.url)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let o = std::fs::read_to_string(&outputs).unwrap();
    for (name, value) in [
        ("outcome", "ok".to_string()),
        ("wheel-name", asset_name()),
        ("sha256", sha.clone()),
        ("prebuilt-url", url.clone()),
        ("archs", "80;90".to_string()),
    ] {
        assert!(
            o.contains(&format!("{name}<<")) && o.contains(&format!("\n{value}\n")),
            "{name}={value} in {o}"
        );
    }
    assert!(
        o.contains(&format!("\n{}\n", kept.display())),
        "wheel-path in {o}"
    );
}

#[test]
fn no_release_wheel_for_this_host_compiles_after_one_note() {
    let Some((fb, _)) = setup() else { return };
    let served = fb.ctx.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = Server::http(&fb.real_python, &served, fb.ctx.path().join("http.log"));
    let url = format!("{}/v{VERSION}/{}", server.url, asset_name());
    let (out, _) = build(&fb, &server.url, &["--no-verify"]);
    let all = both(&out);
    expect_code(&out, 0);
    let note = format!("no prebuilt wheel for this host ({url} does not exist); compiling");
    assert_eq!(
        notes(&all, "does not exist"),
        [format!("wheelwright: {note}")],
        "{all}"
    );
    let r = assert_compiled(&fb, &note);
    assert_eq!(r["prebuilt"]["url"], url.as_str());
}

#[test]
fn a_server_that_accepts_and_never_answers_times_out_in_seconds_and_compiles() {
    let Some((fb, _)) = setup() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // Accepts every connection and holds it, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let url = format!("{base}/v{VERSION}/{}", asset_name());
    let (out, elapsed) = build(&fb, &base, &["--no-verify"]);
    let all = both(&out);
    expect_code(&out, 0);
    let note =
        format!("prebuilt wheel not checked: {url} unreachable (timed out after 10 s); compiling");
    assert_eq!(
        notes(&all, "timed out"),
        [format!("wheelwright: {note}")],
        "{all}"
    );
    assert_compiled(&fb, &note);
    // The 10 s answer timeout, plus the fake build's few seconds: never a hang.
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}");
}

#[test]
fn a_refused_connection_compiles_at_once() {
    let Some((fb, _)) = setup() else { return };
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let (out, elapsed) = build(&fb, &base, &["--no-verify"]);
    let all = both(&out);
    expect_code(&out, 0);
    let lines = notes(&all, "unreachable");
    assert_eq!(lines.len(), 1, "{all}");
    assert!(
        lines[0].starts_with(&format!(
            "wheelwright: prebuilt wheel not checked: {base}/v{VERSION}/"
        )) && lines[0].ends_with("; compiling")
            && lines[0].to_lowercase().contains("refused"),
        "{}",
        lines[0]
    );
    let note = lines[0].trim_start_matches("wheelwright: ").to_string();
    assert_compiled(&fb, &note);
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

#[test]
fn a_release_wheel_that_fails_wheel_check_is_not_used() {
    let Some((fb, code)) = setup() else { return };
    let served = fb.ctx.path().join("served");
    // sm_80 only: the build asks for 80;90.
    release_asset(&fb, &served, &code.sm80_only, None);
    let server = Server::http(&fb.real_python, &served, fb.ctx.path().join("http.log"));
    let url = format!("{}/v{VERSION}/{}", server.url, asset_name());
    let (out, _) = build(&fb, &server.url, &["--no-verify"]);
    let all = both(&out);
    expect_code(&out, 0);
    let lines = notes(&all, "fails wheel check");
    assert_eq!(lines.len(), 1, "{all}");
    let note = lines[0].trim_start_matches("wheelwright: ").to_string();
    assert!(
        note.starts_with(&format!("prebuilt wheel {url} fails wheel check ("))
            && note.contains("lacks sm_90")
            && note.ends_with("; compiling"),
        "{note}"
    );
    let r = assert_compiled(&fb, &note);
    assert_eq!(r["prebuilt"]["findings"][0]["id"], "archs-missing");
    // The refused wheel's errors stay in `prebuilt`, not among the build's findings.
    let ids: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"archs-missing"), "{ids:?}");
}

/// A wheel that passes `wheel check` but cannot be installed and imported
/// here (its module fails on import, as a wheel for another torch fails
/// with `undefined symbol`; or pip refuses its Python tag) is not used.
#[test]
fn a_release_wheel_that_fails_its_verification_is_not_used() {
    let Some((fb, code)) = setup() else { return };
    let served = fb.ctx.path().join("served");
    release_asset(
        &fb,
        &served,
        &code.both,
        Some("raise ImportError('undefined symbol: _ZN3c104cuda9SetDeviceEa')\n"),
    );
    let server = Server::http(&fb.real_python, &served, fb.ctx.path().join("http.log"));
    let url = format!("{}/v{VERSION}/{}", server.url, asset_name());
    let (out, _) = build(&fb, &server.url, &[]);
    let all = both(&out);
    expect_code(&out, 0);
    let lines = notes(&all, "failed its verification");
    assert_eq!(lines.len(), 1, "{all}");
    let note = lines[0].trim_start_matches("wheelwright: ").to_string();
    assert!(
        note.starts_with(&format!("prebuilt wheel {url} failed its verification ("))
            && note.ends_with("; compiling"),
        "{note}"
    );
    let r = assert_compiled(&fb, &note);
    // The compiled wheel was verified as usual.
    assert_eq!(r["verify"]["imported"], true, "{}", r["verify"]);
}

#[test]
fn a_wheelhouse_copy_is_used_without_the_network() {
    let Some((fb, code)) = setup() else { return };
    let house = fb.ctx.path().join("house");
    let asset = release_asset(&fb, &house, &code.both, None);
    // pip's spelling of the label (lower case) is the same wheel.
    let lower = house.join(asset_name().to_lowercase());
    std::fs::rename(&asset, &lower).unwrap();
    // Nothing listens at the URL: the wheelhouse is looked in first.
    let (out, _) = build(
        &fb,
        "http://127.0.0.1:9",
        &[
            "--no-verify",
            "--prebuilt-wheelhouse",
            house.to_str().unwrap(),
        ],
    );
    let all = both(&out);
    expect_code(&out, 0);
    let sha = sha256_hex(&lower);
    let used = format!(
        "prebuilt wheel used instead of compiling: {} (sha256 {sha})",
        lower.display()
    );
    assert!(all.contains(&used), "{all}");
    let r = fb.report();
    assert_eq!(r["prebuilt"]["used"], true);
    assert_eq!(r["prebuilt"]["path"], lower.to_str().unwrap());
    assert!(r["prebuilt"]["url"].is_null(), "{}", r["prebuilt"]);
    assert_eq!(r["wheel"]["sha256"], sha.as_str());
    assert!(!fb.state.join("attempts").exists(), "the fake build ran");
}

#[test]
fn a_source_tree_is_compiled_without_a_lookup() {
    let Some(python) = python_with_pip() else {
        prerequisite_missing("python3 with pip");
        return;
    };
    let fb = FakeBuild::new("ok", python);
    let out = fb
        .command()
        .args([
            "--prefer-prebuilt",
            "--no-verify",
            "--prebuilt-url",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    let all = both(&out);
    expect_code(&out, 0);
    let note = format!(
        "prebuilt wheel not looked for: {} is a source tree, which may differ from any release; compiling",
        fb.tree.display()
    );
    assert!(all.contains(&note), "{all}");
    assert!(!all.contains("looking for a prebuilt wheel"), "{all}");
    assert_compiled(&fb, &note);
}
