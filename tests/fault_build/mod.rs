//! A build host for fault tests (`tests/orphans.rs`, `tests/faults.rs`): the
//! H100 machine's detect captures, so that detect and plan run as on the real
//! box, the fake package's tree, and a fake `python` whose `pip wheel` runs a
//! shell script the test writes (the "build": it prints real captured log
//! lines, starts compiler-like processes that write their pids to files, and
//! leaves a wheel). The detect probe answers with the captured JSON; the
//! verification steps (`verify.py sites|link`, `-m venv`, `-m pip install`)
//! are played by the same fake, `pip install` running a second script, so no
//! real Python is needed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::common::h100_host::{build_args, h100, h100_with_fakepkg, on_h100};
use crate::common::{fixture, write_executable, TestContext};

/// The fake interpreter. `$FAULT_STATE/build.sh` plays `pip wheel` (its
/// arguments follow), `$FAULT_STATE/install.sh` plays the verify venv's
/// `pip install`.
const FAKE_PYTHON: &str = r#"#!/bin/sh
state=${FAULT_STATE:?}
if [ "$1" = -m ] && [ "$2" = pip ] && [ "$3" = wheel ]; then
    shift 3
    exec sh "$state/build.sh" "$@"
fi
if [ "$1" = -m ] && [ "$2" = pip ] && [ "$3" = install ]; then
    exec sh "$state/install.sh" "$@"
fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
    for last; do :; done
    mkdir -p "$last/bin" && cp "$0" "$last/bin/python" && exit 0
fi
case "$1 $2" in
    -c*PROBE_VERSION*) cat "${FAULT_PROBE_JSON:?}"; exit 0 ;;
    *verify.py\ sites) echo '{"sites": []}'; exit 0 ;;
    *verify.py\ link*) echo '{"prefix": "/nonexistent"}'; exit 0 ;;
    *verify.py\ check*) echo '{"imported": true, "modules": []}'; exit 0 ;;
esac
echo "fake python: unexpected arguments: $*" >&2
exit 2
"#;

/// Lines of a real flash-attn build (captured on the GPU machine).
pub fn real_log() -> PathBuf {
    fixture("logs/device/healthy_fa_kernels.log")
}

/// The wheel [`make_wheel`] leaves.
pub const WHEEL: &str = "flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl";

/// Shell lines for `build.sh` that leave a wheel of `bytes` bytes in pip's
/// `-w` dir (a zip's content does not matter to the build; `--no-verify` or
/// the fake verification never opens it).
pub fn make_wheel(bytes: usize) -> String {
    format!(
        r#"dist=""; while [ $# -gt 0 ]; do [ "$1" = -w ] && dist="$2"; shift; done
mkdir -p "$dist"
head -c {bytes} /dev/urandom > "$dist/{WHEEL}"
"#
    )
}

pub struct FaultBuild {
    pub ctx: TestContext,
    pub python: PathBuf,
    pub state: PathBuf,
    pub tree: PathBuf,
}

impl FaultBuild {
    /// A host whose build is `build_script` (run by `sh` with pip's arguments).
    pub fn new(build_script: &str) -> Self {
        let ctx = TestContext::new();
        let tree = h100_with_fakepkg(&ctx);
        let python = write_executable(&ctx.path().join("venv/bin/python"), FAKE_PYTHON);
        let state = ctx.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("build.sh"), build_script).unwrap();
        std::fs::write(state.join("install.sh"), "exit 0\n").unwrap();
        FaultBuild {
            ctx,
            python,
            state,
            tree,
        }
    }

    /// The verify venv's `pip install` runs `script` instead of passing.
    pub fn with_install(self, script: &str) -> Self {
        std::fs::write(self.state.join("install.sh"), script).unwrap();
        self
    }

    pub fn out(&self) -> PathBuf {
        self.ctx.path().join("out")
    }

    /// Where the build's wheel ([`WHEEL`]) lands in the out dir.
    pub fn wheel(&self) -> PathBuf {
        self.out().join(WHEEL)
    }

    /// `wheelwright build` of the tree with the fake host.
    pub fn command(&self) -> Command {
        let mut cmd = self.ctx.wheelwright();
        on_h100(&mut cmd, &self.ctx)
            .env("FAULT_STATE", &self.state)
            .env("FAULT_OUT", self.out())
            .env("FAULT_LOG", real_log())
            .env("FAULT_PROBE_JSON", h100().file("probe.json"));
        build_args(&mut cmd, &self.ctx, &self.tree, &self.python, "4");
        // The fault builds' "wheels" are random bytes, not zips: nothing
        // to pin, so the build copies them as they are.
        cmd.arg("--no-torch-pin");
        cmd
    }

    /// Set the variables of a GitHub Actions runner (outputs in the temp dir).
    pub fn on_runner(&self, cmd: &mut Command) {
        for f in ["github_output", "step_summary"] {
            std::fs::write(self.ctx.path().join(f), "").unwrap();
        }
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", self.ctx.path().join("github_output"))
            .env("GITHUB_STEP_SUMMARY", self.ctx.path().join("step_summary"));
    }

    pub fn report(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out().join("report.json")).expect("report.json");
        serde_json::from_str(&text).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.out().join("build.log")).expect("build.log")
    }

    /// The pids the build's processes wrote to `<name>.pid` in the state
    /// dir, once every file is there (panics after 60 s, killing `child`).
    pub fn wait_for_pids(&self, child: &mut Child, names: &[&str]) -> Vec<u32> {
        let start = Instant::now();
        loop {
            let pids: Vec<u32> = names
                .iter()
                .filter_map(|n| read_pid(&self.state.join(format!("{n}.pid"))))
                .collect();
            if pids.len() == names.len() {
                // Each writes its pid, then execs: give the exec a moment.
                std::thread::sleep(Duration::from_millis(300));
                return pids;
            }
            if start.elapsed() > Duration::from_secs(60) || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let out = child.wait_with_output_lossy();
                panic!(
                    "the build's processes {names:?} did not all start (state: {:?})\n{out}",
                    std::fs::read_dir(&self.state)
                        .unwrap()
                        .map(|e| e.unwrap().file_name())
                        .collect::<Vec<_>>()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Read what is left of a child's piped output (for panic messages).
pub trait ChildOutput {
    fn wait_with_output_lossy(&mut self) -> String;
}

impl ChildOutput for Child {
    fn wait_with_output_lossy(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        let _ = self.wait();
        text
    }
}

pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").trim().chars().next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// The pids of `pids` still running after up to `within`.
pub fn survivors(pids: &[u32], within: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || start.elapsed() > within {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILLs the processes it holds when dropped: a failed test leaves none
/// of its fake compilers behind.
pub struct Reaper(pub Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            if alive(*pid) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// Send `signal` (`TERM`, `INT`, `KILL`) to `pid`.
pub fn send(signal: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid} failed");
}

/// Wait for `child` to exit (panics after `within`).
pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < within,
            "wheelwright did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
