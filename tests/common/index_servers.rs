//! Real Python tools for the publish tests: tiny wheels written by
//! `tests/fixtures/publish/make_wheel.py`, and local index servers
//! (`python -m http.server`, pypiserver) on 127.0.0.1 that are stopped when
//! dropped. The tools themselves (the interpreter with pip, `uv`,
//! `pypi-server`) are found by `common::{python_with_pip, on_path,
//! required}`: a missing one skips a test off CI and fails it when `CI` is
//! set (`.ci/run` installs them all into its venv).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Write `OUT/NAME-VERSION-py3-none-any.whl` whose module says `VARIANT = VERSION`.
pub fn make_wheel(python: &Path, out: &Path, name: &str, version: &str, requires: &str) -> PathBuf {
    make_wheel_args(python, out, &[name, version, requires])
}

/// [`make_wheel`] whose METADATA says `metadata_version` (a wheel renamed
/// after its build).
pub fn make_wheel_with_metadata_version(
    python: &Path,
    out: &Path,
    name: &str,
    version: &str,
    metadata_version: &str,
) -> PathBuf {
    make_wheel_args(python, out, &[name, version, ">=3.8", metadata_version])
}

fn make_wheel_args(python: &Path, out: &Path, args: &[&str]) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/publish/make_wheel.py");
    let o = Command::new(python)
        .arg(script)
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// A server process of the test, killed (by its own id) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's request log.
    pub log: PathBuf,
}

impl Server {
    /// `python -m http.server` on a free port, serving `dir`.
    pub fn http(python: &Path, dir: &Path, log: PathBuf) -> Server {
        let mut cmd = Command::new(python);
        cmd.args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir);
        Server::start(cmd, log, |line| {
            // "Serving HTTP on 127.0.0.1 port 44581 (http://127.0.0.1:44581/) ..."
            line.split("port ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    }

    /// pypiserver on `port`, serving and accepting uploads into `dir`
    /// (`extra` before the dir, e.g. `-a . -P .` for unauthenticated uploads).
    pub fn pypiserver(exe: &Path, port: u16, extra: &[&str], dir: &Path, log: PathBuf) -> Server {
        let mut cmd = Command::new(exe);
        cmd.args(["run", "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .arg(dir);
        let mut server = Server::spawn(cmd, &log);
        server.url = format!("http://127.0.0.1:{port}");
        server.wait_until_up(port);
        server
    }

    fn spawn(mut cmd: Command, log: &Path) -> Server {
        let err = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        Server {
            child,
            url: String::new(),
            log: log.to_path_buf(),
        }
    }

    fn start(cmd: Command, log: PathBuf, port_of: impl Fn(&str) -> Option<u16>) -> Server {
        let mut server = Server::spawn(cmd, &log);
        let stdout = server.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "the server did not say its port; log: {}",
                    server.log_text()
                )
            });
            if let Some(p) = port_of(&line) {
                break p;
            }
        };
        server.url = format!("http://127.0.0.1:{port}");
        server.wait_until_up(port);
        server
    }

    fn wait_until_up(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}): {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the server never listened: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The request log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (for servers that cannot pick their own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `pip install --target TARGET --index-url INDEX PACKAGE` with no cache, no
/// input and no other index.
pub fn pip_install(python: &Path, index: &str, target: &Path, package: &str) -> Output {
    Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
        ])
        .args([
            "--timeout",
            "20",
            "--retries",
            "0",
            "--index-url",
            index,
            "--target",
        ])
        .arg(target)
        .arg(package)
        .env("PIP_NO_INPUT", "1")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS")
        .output()
        .unwrap()
}

/// `uv pip install --target TARGET --index-url INDEX PACKAGE`, no cache, no config.
pub fn uv_install(uv: &Path, python: &Path, index: &str, target: &Path, package: &str) -> Output {
    uv_command(uv, python, index, target, package)
        .output()
        .unwrap()
}

/// The command [`uv_install`] runs, for a caller that adds flags (`-v`,
/// `--no-deps`, `--preview-features`): only `index`, no cache, no config,
/// no index from the environment.
pub fn uv_command(uv: &Path, python: &Path, index: &str, target: &Path, package: &str) -> Command {
    let mut cmd = Command::new(uv);
    cmd.args(["pip", "install", "--no-cache", "--no-config", "--python"])
        .arg(python)
        .args(["--index-url", index, "--target"])
        .arg(target)
        .arg(package)
        .env_remove("UV_INDEX_URL")
        .env_remove("UV_EXTRA_INDEX_URL")
        .env_remove("UV_DEFAULT_INDEX");
    cmd
}

/// `VARIANT` of the package `module` installed in `target`.
pub fn installed_variant(python: &Path, target: &Path, module: &str) -> String {
    let out = Command::new(python)
        .args(["-c", &format!("import {module}; print({module}.VARIANT)")])
        .env("PYTHONPATH", target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
