//! `action/install.sh`, the action's install step, run as the runner runs it
//! (bash, a clean environment, `RUNNER_TOOL_CACHE` and `GITHUB_OUTPUT` in a
//! temp dir) against a local HTTP server playing the release downloads: a
//! good checksum (downloaded, cached, re-verified), a bad one (refused, not
//! kept), an unknown version, a mirror, a binary already on the runner, and
//! a server that is down or never answers (a timeout, not a hang).

mod fake_runner;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use fake_runner::{parse_env_file, write_executable, HttpServer};
use sha2::{Digest, Sha256};

const BINARY: &str = "#!/bin/sh\necho 'wheelwright 9.10.0 (served by the test)'\n";

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-gnu",
        "aarch64" => "aarch64-unknown-linux-gnu",
        other => panic!("no release target for {other}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A release server's files, a table of recorded binaries, a tool cache.
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn new() -> Self {
        let r = Release {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(r.served()).unwrap();
        std::fs::create_dir_all(r.cache()).unwrap();
        r
    }
    fn served(&self) -> PathBuf {
        self.dir.path().join("served")
    }
    fn cache(&self) -> PathBuf {
        self.dir.path().join("tool-cache")
    }
    fn table(&self) -> PathBuf {
        self.dir.path().join("binaries.txt")
    }
    /// Serve `bytes` as version `v`'s binary.
    fn publish(&self, v: &str, bytes: &str) {
        let dir = self.served().join(format!("v{v}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("wheelwright-{v}-{}", target())), bytes).unwrap();
    }
    /// Record `sha` for version `v` (lines after a comment, as the real table).
    fn record(&self, lines: &[(&str, &str)]) {
        let mut text = String::from("# VERSION TARGET SHA256\n");
        for (v, sha) in lines {
            text.push_str(&format!("{v} {} {sha}\n", target()));
        }
        std::fs::write(self.table(), text).unwrap();
    }

    /// Run install.sh with `env` on top of the runner's variables.
    fn install(&self, env: &[(&str, &str)]) -> Run {
        let output = self.dir.path().join("github_output");
        std::fs::write(&output, "").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("action/install.sh");
        let start = Instant::now();
        let out = std::process::Command::new(which("bash"))
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
            .env("RUNNER_TOOL_CACHE", self.cache())
            .env("GITHUB_OUTPUT", &output)
            .env("WW_BINARIES_TABLE", self.table())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        Run {
            elapsed: start.elapsed(),
            outputs: parse_env_file(&std::fs::read_to_string(&output).unwrap()),
            out,
        }
    }

    /// Every file under the tool cache (a refused download must leave none).
    fn cached_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out)
                } else {
                    out.push(p)
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.cache(), &mut out);
        out
    }
}

struct Run {
    out: Output,
    outputs: BTreeMap<String, String>,
    elapsed: Duration,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.out.status.code(),
            Some(code),
            "install.sh exit code\n--- stderr\n{}",
            self.stderr()
        );
        self
    }
}

#[test]
fn the_newest_recorded_release_is_downloaded_verified_cached_and_reverified() {
    let r = Release::new();
    r.publish("9.10.0", BINARY);
    // 9.10.0 is newer than 9.9.9 (a version sort, not a string sort).
    r.record(&[
        ("9.10.0", &sha256_hex(BINARY.as_bytes())),
        ("9.9.9", &"0".repeat(64)),
    ]);
    let server = HttpServer::serve(&r.served());
    let run = r.install(&[("WW_RELEASES_URL", &server.url)]);
    run.expect(0);
    let installed = r
        .cache()
        .join(format!("wheelwright/9.10.0/{}/wheelwright", target()));
    assert_eq!(run.outputs["wheelwright"], installed.display().to_string());
    assert_eq!(run.outputs["version"], "9.10.0");
    assert_eq!(std::fs::read_to_string(&installed).unwrap(), BINARY);
    assert!(
        run.stderr().contains("(served by the test)"),
        "it ran the binary: {}",
        run.stderr()
    );

    // Cached: the server is gone and the install still works.
    drop(server);
    let run = r.install(&[("WW_RELEASES_URL", "http://127.0.0.1:9")]);
    run.expect(0);
    assert!(run.stderr().contains("cached:"), "{}", run.stderr());

    // A cached binary that changed is not used: it is dropped and fetched again.
    std::fs::write(&installed, "#!/bin/sh\necho tampered\n").unwrap();
    let run = r.install(&[("WW_RELEASES_URL", "http://127.0.0.1:9")]);
    run.expect(3);
    assert!(
        run.stderr().contains("does not have sha256"),
        "{}",
        run.stderr()
    );
    assert!(!installed.exists(), "the tampered binary was removed");
    let server = HttpServer::serve(&r.served());
    r.install(&[("WW_RELEASES_URL", &server.url)]).expect(0);
    assert_eq!(std::fs::read_to_string(&installed).unwrap(), BINARY);
}

#[test]
fn a_download_with_another_sha256_is_refused_and_not_kept() {
    let r = Release::new();
    r.publish("1.0.0", "#!/bin/sh\necho evil\n");
    r.record(&[("1.0.0", &sha256_hex(BINARY.as_bytes()))]);
    let server = HttpServer::serve(&r.served());
    let run = r.install(&[("WW_RELEASES_URL", &server.url)]);
    run.expect(2);
    assert!(run.stderr().contains("sha256 mismatch"), "{}", run.stderr());
    assert!(run.stderr().contains("\nhint: "), "{}", run.stderr());
    assert_eq!(r.cached_files(), Vec::<PathBuf>::new(), "nothing kept");
    assert!(run.outputs.is_empty(), "no output for a refused binary");
}

#[test]
fn an_unknown_version_fails_with_the_recorded_ones_named() {
    let r = Release::new();
    r.publish("1.0.0", BINARY);
    r.record(&[("1.0.0", &sha256_hex(BINARY.as_bytes()))]);
    let server = HttpServer::serve(&r.served());
    let run = r.install(&[("WW_RELEASES_URL", &server.url), ("WW_VERSION", "1.2.3")]);
    run.expect(2);
    assert!(
        run.stderr().contains("no binary of wheelwright 1.2.3"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("use a recorded version (1.0.0"),
        "{}",
        run.stderr()
    );

    // Recorded but not on the server (a release without this asset): a 404.
    r.record(&[
        ("1.0.0", &sha256_hex(BINARY.as_bytes())),
        ("1.2.3", &"a".repeat(64)),
    ]);
    let run = r.install(&[("WW_RELEASES_URL", &server.url), ("WW_VERSION", "1.2.3")]);
    run.expect(3);
    assert!(run.stderr().contains("404"), "{}", run.stderr());

    // Nothing recorded yet (before the first release).
    r.record(&[]);
    let run = r.install(&[("WW_RELEASES_URL", &server.url)]);
    run.expect(2);
    assert!(
        run.stderr().contains("no released binary is recorded"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("install: source"), "{}", run.stderr());
}

#[test]
fn a_server_that_is_down_or_silent_fails_in_seconds() {
    let r = Release::new();
    r.record(&[("1.0.0", &sha256_hex(BINARY.as_bytes()))]);
    // Connection refused: a port that was free a moment ago.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = r.install(&[("WW_RELEASES_URL", &url)]);
    run.expect(3);
    assert!(
        run.stderr().contains("could not download"),
        "{}",
        run.stderr()
    );
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);

    // A server that accepts the connection and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(8));
        drop(conns);
    });
    let run = r.install(&[
        ("WW_RELEASES_URL", &url),
        ("WW_DOWNLOAD_TIMEOUT", "2"),
        ("WW_DOWNLOAD_RETRIES", "0"),
    ]);
    run.expect(3);
    assert!(
        run.elapsed < Duration::from_secs(7),
        "timed out, not hung: {:?}",
        run.elapsed
    );
    assert!(run.stderr().contains("whole 2s"), "{}", run.stderr());
    assert_eq!(
        r.cached_files(),
        Vec::<PathBuf>::new(),
        "no partial download left"
    );
    // Had the script not connected, this connection ends the accept.
    let _ = std::net::TcpStream::connect(addr);
    held.join().unwrap();
}

#[test]
fn a_mirror_needs_url_and_sha256_and_is_verified() {
    let r = Release::new();
    r.record(&[]);
    r.publish("2.0.0", BINARY);
    let server = HttpServer::serve(&r.served());
    let url = format!("{}/v2.0.0/wheelwright-2.0.0-{}", server.url, target());
    let sha = sha256_hex(BINARY.as_bytes());
    // The sha256 in capitals, as some tools print it.
    let run = r.install(&[
        ("WW_BINARY_URL", &url),
        ("WW_BINARY_SHA256", &sha.to_uppercase()),
    ]);
    run.expect(0);
    assert_eq!(
        run.outputs["wheelwright"],
        r.cache()
            .join(format!("wheelwright/sha256-{sha}/{}/wheelwright", target()))
            .display()
            .to_string()
    );
    let wrong = sha256_hex(b"something else");
    let run = r.install(&[("WW_BINARY_URL", &url), ("WW_BINARY_SHA256", &wrong)]);
    run.expect(2);
    assert!(run.stderr().contains("sha256 mismatch"), "{}", run.stderr());
    r.install(&[("WW_BINARY_URL", &url)]).expect(2);
    let run = r.install(&[("WW_BINARY_URL", &url), ("WW_BINARY_SHA256", "abc")]);
    run.expect(2);
    assert!(run.stderr().contains("64 hex digits"), "{}", run.stderr());
}

#[test]
fn a_binary_on_the_runner_is_used_as_is_and_bad_modes_are_refused() {
    let r = Release::new();
    r.record(&[]);
    let bin = write_executable(&r.dir.path().join("opt/wheelwright"), BINARY);
    let run = r.install(&[("WW_WHEELWRIGHT_PATH", bin.to_str().unwrap())]);
    run.expect(0);
    assert_eq!(run.outputs["wheelwright"], bin.display().to_string());
    assert_eq!(
        r.cached_files(),
        Vec::<PathBuf>::new(),
        "nothing downloaded"
    );

    let text = r.dir.path().join("not-executable");
    std::fs::write(&text, "x").unwrap();
    r.install(&[("WW_WHEELWRIGHT_PATH", text.to_str().unwrap())])
        .expect(2);
    // A value with a line break cannot start a line of its own (a workflow command).
    let run = r.install(&[("WW_INSTALL", "binary\n::error title=PWNED::x")]);
    run.expect(2);
    assert!(
        run.stderr().contains("install must be binary or source"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr()
            .lines()
            .any(|l| l.trim_start().starts_with("::")),
        "{}",
        run.stderr()
    );
    // `Source` in any case means source; without cargo on PATH it says so.
    let sysbin = r.dir.path().join("sysbin");
    std::fs::create_dir_all(&sysbin).unwrap();
    std::os::unix::fs::symlink(which("tr"), sysbin.join("tr")).unwrap();
    let run = r.install(&[("WW_INSTALL", "Source"), ("PATH", sysbin.to_str().unwrap())]);
    run.expect(2);
    assert!(run.stderr().contains("needs cargo"), "{}", run.stderr());
}

fn which(tool: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {tool} in /usr/bin or /bin"))
}
