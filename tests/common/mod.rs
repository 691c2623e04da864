//! Shared test context for integration tests of the real `wheelwright` binary:
//! a temp dir, a fake HOME, and a `bin/` first on PATH for fake toolchains.
#![allow(dead_code)]

pub mod craft;
pub mod device_code;
pub mod fake_torch;
pub mod fakepkg_cell;
pub mod h100_host;
pub mod index_servers;
pub mod measure;
pub mod schemas;

/// Files and fake tools, shared with the library's tests.
#[path = "../../crates/wheelwright-core/tests/support/files.rs"]
mod files;
#[allow(unused_imports)] // each test binary uses some of them
pub use files::{write_executable, write_file};

/// The rule for a missing prerequisite, shared with the library's tests.
#[path = "../../crates/wheelwright-core/tests/support/prerequisite.rs"]
mod prerequisite;
#[allow(unused_imports)] // each test binary uses some of them
pub use prerequisite::{on_path, prerequisite_missing, python_with_pip, required};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `plan` flags of the project's sm_90 boxes (the H100 and the H200 alike):
/// 16 cores, 125 GiB, CUDA 13.0, torch 2.11 built for CUDA 13.0, gcc 13.
pub const SM90_HOST: &[&str] = &[
    "--cpus",
    "16",
    "--memory",
    "125GiB",
    "--gpu",
    "sm_90",
    "--cuda",
    "13.0",
    "--torch",
    "2.11",
    "--torch-cuda",
    "13.0",
    "--gcc",
    "13",
];

pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub home: PathBuf,
}

impl TestContext {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        TestContext { dir, bin, home }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write an executable script into the test `bin/`.
    pub fn fake_tool(&self, name: &str, script: &str) -> PathBuf {
        write_executable(&self.bin.join(name), script)
    }

    /// A command for the real binary with a clean environment: only the test
    /// `bin/` and the system's basic tools on PATH, HOME in the temp dir.
    pub fn wheelwright(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wheelwright"));
        self.clean_env(&mut cmd);
        cmd
    }

    /// Give `cmd` (any program) the clean environment of [`Self::wheelwright`]
    /// and the temp dir as its working directory.
    pub fn clean_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .current_dir(self.path())
    }
}

/// Stdout as a string, panicking with both streams if the exit code differs.
pub fn expect_code(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit code\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}

/// Stdout and stderr of a finished tool, for assertions.
pub fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `build.log` that the `wheelwright build` which gave `out` left in
/// `out_dir`, once the build is seen to have exited 0 (else the panic shows
/// the log, or that there is none, and stderr).
pub fn successful_build_log(out: &Output, out_dir: &Path) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(out_dir.join("build.log"))
        .unwrap_or_else(|_| panic!("no build.log; stderr:\n{stderr}"));
    assert_eq!(out.status.code(), Some(0), "{log}\n{stderr}");
    log
}

impl TestContext {
    /// A `sysbin/` holding symlinks to only the named system tools (`sh`,
    /// `cat`, `sleep`, ...), so a PATH of `bin/` plus `sysbin/` sees the fakes
    /// and nothing else of the host (no real gcc, python3 or nvcc).
    pub fn system_tools(&self, names: &[&str]) -> PathBuf {
        let sysbin = self.path().join("sysbin");
        std::fs::create_dir_all(&sysbin).unwrap();
        for name in names {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("no {name} in /usr/bin or /bin"));
            let link = sysbin.join(name);
            if !link.exists() {
                std::os::unix::fs::symlink(real, link).unwrap();
            }
        }
        sysbin
    }

    /// Replace the temp dir's path in `text` with `[TMP]`, for snapshots.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(canonical) = self.path().canonicalize() {
            out = out.replace(&canonical.display().to_string(), "[TMP]");
        }
        out.replace(&self.path().display().to_string(), "[TMP]")
    }
}

/// Copy the directory tree `from` into `to` (created), following no symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A fake tool at `path` that prints a captured file for each exact argument
/// string (`"$*"`) and fails on any other.
pub fn tool_printing(path: &Path, cases: &[(&str, PathBuf)]) -> PathBuf {
    let mut script = String::from("#!/bin/sh\ncase \"$*\" in\n");
    for (args, file) in cases {
        script.push_str(&format!("  '{args}') exec cat '{}' ;;\n", file.display()));
    }
    script.push_str("  *) echo \"fake $0: unexpected arguments: $*\" >&2; exit 2 ;;\nesac\n");
    write_executable(path, &script)
}

/// A fake tool at `path` that prints the captured `stderr` file on stderr and
/// exits 1, as a broken install does.
pub fn tool_failing(path: &Path, stderr: &Path) -> PathBuf {
    write_executable(
        path,
        &format!("#!/bin/sh\ncat '{}' >&2\nexit 1\n", stderr.display()),
    )
}

/// Fake tools printing the captures of one host of `tests/fixtures/hosts/`
/// (see its README), as `wheelwright detect` calls them.
pub struct HostCaptures {
    dir: PathBuf,
}

impl HostCaptures {
    pub fn new(scenario: &str) -> Self {
        HostCaptures {
            dir: fixture("hosts").join(scenario),
        }
    }

    /// A captured file of this host.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `nvidia-smi` in `bin`: the GPU query and the plain header.
    pub fn nvidia_smi(&self, bin: &Path) {
        tool_printing(
            &bin.join("nvidia-smi"),
            &[
                (
                    "--query-gpu=index,name,uuid,compute_cap,memory.total,driver_version --format=csv,noheader,nounits",
                    self.file("nvidia-smi-query.csv"),
                ),
                ("", self.file("nvidia-smi.txt")),
            ],
        );
    }

    /// A CUDA toolkit at `home`: `bin/nvcc --version` and `host_config` as
    /// `include/crt/host_config.h`.
    pub fn cuda(&self, home: &Path, host_config: &Path) {
        tool_printing(
            &home.join("bin/nvcc"),
            &[("--version", self.file("nvcc-version.txt"))],
        );
        let crt = home.join("include/crt");
        std::fs::create_dir_all(&crt).unwrap();
        std::fs::copy(host_config, crt.join("host_config.h")).unwrap();
    }

    /// A compiler `bin/<name>` answering `-dumpfullversion` and `--version`
    /// from the captured files `dumpfullversion` and `version`.
    pub fn compiler(&self, bin: &Path, name: &str, dumpfullversion: &str, version: &str) {
        tool_printing(
            &bin.join(name),
            &[
                ("-dumpfullversion", self.file(dumpfullversion)),
                ("--version", self.file(version)),
            ],
        );
    }

    /// `dir/ninja` answering `--version`.
    pub fn ninja(&self, dir: &Path) {
        tool_printing(
            &dir.join("ninja"),
            &[("--version", self.file("ninja-version.txt"))],
        );
    }
}

/// CUDA 13.0's `crt/host_config.h` as captured on the H100 machine; the
/// `h100-cuda13.0` host uses it from the raw captures rather than a copy.
pub fn h100_host_config() -> PathBuf {
    fixture("device/host_config.h")
}

/// The H200 box's real flash-attn build (`tests/fixtures/builds/h200-flash-attn`)
/// laid out under `dir` as `wheelwright build` leaves it: its report, whose
/// source dir holds the `.ninja_log` ninja wrote. Returns the report's path.
pub fn h200_build(dir: &Path) -> PathBuf {
    let fixture = fixture("builds/h200-flash-attn");
    let source = dir.join("work/src/flash_attn-2.8.3");
    let temp = source.join("build/temp.linux-x86_64-cpython-312");
    std::fs::create_dir_all(&temp).unwrap();
    std::fs::copy(fixture.join("ninja_log"), temp.join(".ninja_log")).unwrap();
    let text = std::fs::read_to_string(fixture.join("report.json")).unwrap();
    let mut report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["source_dir"] = source.display().to_string().into();
    report["work_dir"] = dir.join("work").display().to_string().into();
    let path = dir.join("report.json");
    std::fs::write(&path, report.to_string()).unwrap();
    path
}

/// Run `cmd` and insist that it succeeds (the message holds the command
/// line and what it printed); its output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("tool starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The binary of the root package's example `name` (`examples/NAME.rs`),
/// built (or found up to date) by the cargo that runs the tests: under a
/// `--test` filter `cargo test` neither builds nor refreshes examples.
pub fn example_binary(name: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_wheelwright"))
        .parent()
        .expect("the binary's dir")
        .join("examples")
        .join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --example {name} failed");
    assert!(
        bin.is_file(),
        "{} is missing after building it",
        bin.display()
    );
    bin
}

/// The finding `id` of a report or a checked wheel (its `findings`), or a
/// panic that shows the whole document.
pub fn finding<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("no {id} finding: {doc:#}"))
}
