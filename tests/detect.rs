//! `wheelwright detect` on fake hosts: fake `nvidia-smi`, `nvcc`, compilers,
//! `python3` and `ninja` that print captured output (see
//! tests/fixtures/hosts/README.md for which captures are real), a fake root
//! for /proc and /sys/fs/cgroup, and a PATH that holds only those fakes plus
//! `sh`, `cat` and `sleep`, so the host's real tools never leak in.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    copy_tree, expect_code, fixture, h100_host_config, tool_failing, write_executable,
    HostCaptures, TestContext,
};
use serde_json::Value;

/// A fake host under construction.
struct FakeHost {
    ctx: TestContext,
    root: PathBuf,
    sysbin: PathBuf,
    /// Directories put before `bin/` on PATH (a venv's bin).
    path_front: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl FakeHost {
    /// A host whose /proc and /sys come from `tests/fixtures/hosts/<root_fixture>`.
    fn new(root_fixture: &str) -> Self {
        let ctx = TestContext::new();
        let root = ctx.path().join("root");
        copy_tree(&fixture("hosts").join(root_fixture), &root);
        let sysbin = ctx.system_tools(&["sh", "cat", "sleep"]);
        FakeHost {
            ctx,
            root,
            sysbin,
            path_front: Vec::new(),
            env: Vec::new(),
        }
    }

    fn tmp(&self, rel: &str) -> PathBuf {
        self.ctx.path().join(rel)
    }

    fn link(&self, name: &str, target: &str) {
        std::os::unix::fs::symlink(target, self.ctx.bin.join(name)).unwrap();
    }

    /// `dir/python3` answering the Python probe with `probe_json`.
    fn python(&self, dir: &Path, probe_json: &Path) {
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = -c ] || {{ echo \"fake python: expected -c\" >&2; exit 2; }}\nexec cat '{}'\n",
            probe_json.display()
        );
        write_executable(&dir.join("python3"), &script);
    }

    fn command(&self) -> Command {
        let mut path: Vec<PathBuf> = self.path_front.clone();
        path.push(self.ctx.bin.clone());
        path.push(self.sysbin.clone());
        let mut cmd = self.ctx.wheelwright();
        cmd.env("PATH", std::env::join_paths(path).unwrap())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["detect", "--no-nvml", "--root"])
            .arg(&self.root)
            .arg("--disk-path")
            .arg(self.ctx.path());
        cmd
    }

    /// `detect --json` as JSON, with the temp dir, disk free space and CPU
    /// architecture redacted.
    fn facts(&self) -> Value {
        let out = self.command().arg("--json").output().unwrap();
        let stdout = expect_code(&out, 0);
        let mut v: Value = serde_json::from_str(&self.ctx.redact(&stdout)).unwrap();
        v["host"]["disk_free_bytes"] = Value::from("[disk free]");
        v["host"]["arch"] = Value::from("[arch]");
        v
    }
}

/// An A800 80GB host: 8 GPUs, CUDA 12.2 found at /usr/local/cuda, gcc 11,
/// torch 2.4 cu121, and a Kubernetes pod's cgroup v2 limits.
fn a800() -> FakeHost {
    let s = "a800-cuda12.2";
    let caps = HostCaptures::new(s);
    let mut h = FakeHost::new(&format!("{s}/root"));
    caps.nvidia_smi(&h.ctx.bin);
    caps.cuda(&h.root.join("usr/local/cuda"), &caps.file("host_config.h"));
    caps.compiler(
        &h.ctx.bin,
        "gcc-11",
        "gcc-11-dumpfullversion.txt",
        "gcc-11-version.txt",
    );
    caps.compiler(
        &h.ctx.bin,
        "g++-11",
        "gcc-11-dumpfullversion.txt",
        "g++-11-version.txt",
    );
    h.link("gcc", "gcc-11");
    h.link("g++", "g++-11");
    h.env.push(("CXX".into(), "g++-11".into()));
    let venv = h.tmp("venv/bin");
    h.python(&venv, &caps.file("probe.json"));
    caps.ninja(&venv);
    h.env
        .push(("VIRTUAL_ENV".into(), h.tmp("venv").display().to_string()));
    write_executable(
        &venv.join("python"),
        &std::fs::read_to_string(venv.join("python3")).unwrap(),
    );
    h
}

#[test]
fn a800_host_with_cuda_12_2_and_gcc_11() {
    let h = a800();
    let facts = h.facts();
    assert_eq!(facts["gpus"].as_array().unwrap().len(), 8);
    assert_eq!(facts["gpus"][0]["compute_capability"], "8.0");
    assert_eq!(facts["driver"]["cuda_driver_version"], "12.2");
    assert_eq!(facts["cuda"]["version"], "12.2");
    assert_eq!(facts["cuda"]["max_gcc_major"], 12);
    assert_eq!(facts["host"]["memory_limit_bytes"], 512u64 << 30);
    assert_eq!(facts["host"]["cpu_quota"], 64.0);
    assert_eq!(facts["problems"], Value::Array(vec![]));
    insta::assert_json_snapshot!("a800_cuda12.2", facts);
}

#[test]
fn a800_human_table() {
    let h = a800();
    let out = h.command().output().unwrap();
    let table = h.ctx.redact(&expect_code(&out, 0));
    // Free disk space differs between machines.
    let table: String = table
        .lines()
        .map(|l| match l.find("; disk ") {
            Some(at) if l.starts_with("host") => format!("{}; disk [free] ...", &l[..at]),
            _ => l.to_string(),
        })
        .map(|l| l.replace(std::env::consts::ARCH, "[arch]") + "\n")
        .collect();
    insta::assert_snapshot!("a800_table", table);
}

#[test]
fn h100_host_with_cuda_13_0_gcc_13_and_torch_2_11() {
    // Real captures of the project's H100 machine.
    let s = "h100-cuda13.0";
    let caps = HostCaptures::new(s);
    let mut h = FakeHost::new(&format!("{s}/root"));
    caps.nvidia_smi(&h.ctx.bin);
    let home = h.tmp("cuda-13.0");
    caps.cuda(&home, &h100_host_config());
    h.env.push(("CUDA_HOME".into(), home.display().to_string()));
    for c in ["gcc-12", "gcc-13", "g++-12", "g++-13"] {
        caps.compiler(
            &h.ctx.bin,
            c,
            &format!("{c}-dumpfullversion.txt"),
            &format!("{c}-version.txt"),
        );
    }
    h.link("gcc", "gcc-13");
    h.link("g++", "g++-13");
    let venv = h.tmp("venv/bin");
    h.python(&venv, &caps.file("probe.json"));
    caps.ninja(&venv);
    h.path_front.push(venv);

    let facts = h.facts();
    assert_eq!(facts["gpus"][0]["name"], "NVIDIA H100 80GB HBM3");
    assert_eq!(facts["gpus"][0]["compute_capability"], "9.0");
    assert_eq!(facts["driver"]["version"], "580.159.04");
    assert_eq!(facts["driver"]["cuda_driver_version"], "13.0");
    assert_eq!(facts["cuda"]["version"], "13.0");
    assert_eq!(facts["cuda"]["max_gcc_major"], 15);
    assert_eq!(facts["torch"]["version"], "2.11.0+cu130");
    assert_eq!(facts["torch"]["cuda"], "13.0");
    assert_eq!(facts["torch"]["cxx11_abi"], true);
    assert_eq!(facts["ninja"]["healthy"], true);
    let names: Vec<&str> = facts["compilers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    // gcc and g++ are symlinks to gcc-13 and g++-13: listed once each.
    assert_eq!(names.len(), 4, "{names:?}");
    insta::assert_json_snapshot!("h100_cuda13.0", facts);
}

#[test]
fn host_without_gpu_or_cuda() {
    // Real captures of a CPU-only Debian 12 VM (cgroup v1 hybrid).
    let s = "no-gpu";
    let caps = HostCaptures::new(s);
    let h = FakeHost::new(&format!("{s}/root"));
    caps.compiler(
        &h.ctx.bin,
        "gcc-12",
        "gcc-dumpfullversion.txt",
        "gcc-version.txt",
    );
    caps.compiler(
        &h.ctx.bin,
        "g++-12",
        "g++-dumpfullversion.txt",
        "g++-version.txt",
    );
    h.link("gcc", "gcc-12");
    h.python(&h.ctx.bin, &caps.file("probe.json"));

    let facts = h.facts();
    assert_eq!(facts["gpus"], Value::Array(vec![]));
    assert_eq!(facts["driver"], Value::Null);
    assert_eq!(facts["cuda"], Value::Null);
    assert_eq!(facts["torch"], Value::Null);
    assert_eq!(facts["ninja"], Value::Null);
    assert_eq!(facts["host"]["memory_limit_bytes"], Value::Null);
    assert_eq!(facts["problems"], Value::Array(vec![]));
    insta::assert_json_snapshot!("no_gpu", facts);
}

#[test]
fn broken_ninja_is_reported_unhealthy_with_its_output() {
    let h = FakeHost::new("no-gpu/root");
    h.python(&h.ctx.bin, &fixture("hosts/no-gpu/probe.json"));
    tool_failing(
        &h.ctx.bin.join("ninja"),
        &fixture("hosts/broken-ninja/ninja-stderr.txt"),
    );
    let facts = h.facts();
    assert_eq!(facts["ninja"]["healthy"], false);
    assert_eq!(facts["ninja"]["version"], Value::Null);
    assert_eq!(facts["ninja"]["path"], "[TMP]/bin/ninja");
    let problems = facts["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["probe"], "ninja");
    let msg = problems[0]["message"].as_str().unwrap();
    assert!(msg.contains("exit status 1"), "{msg}");
    assert!(msg.contains("No module named 'ninja'"), "{msg}");
    assert!(msg.contains("pip install --force-reinstall ninja"), "{msg}");
}

#[test]
fn cgroup_v1_memory_limit_and_cpu_quota() {
    let h = FakeHost::new("cgroup-v1-limits/root");
    let facts = h.facts();
    assert_eq!(facts["host"]["memory_limit_bytes"], 32u64 << 30);
    assert_eq!(facts["host"]["cpu_quota"], 8.0);
    assert_eq!(facts["host"]["logical_cpus"], 2);
}

#[test]
fn cgroup_v2_limit_of_a_parent_applies() {
    // The pod slice limits memory and CPU; the container's own files say max.
    let facts = a800().facts();
    assert_eq!(facts["host"]["memory_limit_bytes"], 549_755_813_888u64);
    assert_eq!(facts["host"]["cpu_quota"], 64.0);
    assert_eq!(facts["host"]["logical_cpus"], 128);
}

#[test]
fn a_hung_nvidia_smi_times_out_and_detection_goes_on() {
    let mut h = FakeHost::new("no-gpu/root");
    h.ctx.fake_tool("nvidia-smi", "#!/bin/sh\nsleep 60\n");
    h.python(&h.ctx.bin, &fixture("hosts/no-gpu/probe.json"));
    h.env.push(("WHEELWRIGHT_PROBE_TIMEOUT".into(), "1".into()));
    let start = Instant::now();
    let facts = h.facts();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert_eq!(facts["gpus"], Value::Array(vec![]));
    let problems = facts["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["probe"], "gpu");
    let msg = problems[0]["message"].as_str().unwrap();
    assert!(msg.contains("did not finish within 1s"), "{msg}");
    // The other probes still answered.
    assert_eq!(facts["python"]["version"], "3.11.7");
}

#[test]
fn a_missing_python_is_a_problem_and_no_python_skips_it() {
    let h = FakeHost::new("no-gpu/root");
    let facts = h.facts();
    assert_eq!(facts["python"], Value::Null);
    let problems = facts["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .contains("--python"));

    let out = h
        .command()
        .args(["--json", "--no-python"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    assert_eq!(v["python"], Value::Null);
    assert_eq!(v["problems"], Value::Array(vec![]));
}

/// The Python probe runs in `/`; a `--python` given relative to the current
/// directory still names the same interpreter there.
#[test]
fn a_relative_python_path_is_probed_from_the_current_directory() {
    let h = FakeHost::new("no-gpu/root");
    h.python(&h.tmp("venv/bin"), &fixture("hosts/no-gpu/probe.json"));
    let out = h
        .command()
        .args(["--json", "--python", "venv/bin/python3"])
        .output()
        .unwrap();
    let facts: Value = serde_json::from_str(&h.ctx.redact(&expect_code(&out, 0))).unwrap();
    assert_eq!(facts["problems"], Value::Array(vec![]), "{facts}");
    assert_eq!(facts["python"]["version"], "3.11.7");
    assert_eq!(facts["python"]["path"], "[TMP]/venv/bin/python3");
}

#[test]
fn a_bad_root_is_a_usage_error_with_a_hint() {
    let h = FakeHost::new("no-gpu/root");
    let out = h
        .ctx
        .wheelwright()
        .args(["detect", "--root", "/nonexistent/wheelwright-root"])
        .output()
        .unwrap();
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--root /nonexistent/wheelwright-root is not a directory"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn a_python_that_prints_no_json_is_a_problem_with_its_output() {
    let h = FakeHost::new("no-gpu/root");
    tool_failing(
        &h.ctx.bin.join("python3"),
        &fixture("hosts/broken-python/pythonhome-stderr.txt"),
    );
    let facts = h.facts();
    assert_eq!(facts["python"], Value::Null);
    let problems = facts["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let msg = problems[0]["message"].as_str().unwrap();
    assert!(msg.contains("[TMP]/bin/python3 -c <probe.py>"), "{msg}");
    assert!(msg.contains("exit status 1"), "{msg}");
    assert!(msg.contains("No module named 'encodings'"), "{msg}");
    // The script itself is not pasted into the message.
    assert!(!msg.contains("importlib"), "{msg}");
}

#[test]
fn real_h100_runs_read_back_as_facts() {
    // `wheelwright detect --json` on the real H100 machine, through NVML and
    // through the nvidia-smi fallback: the JSON contract round-trips.
    for file in ["wheelwright-detect.json", "wheelwright-detect-no-nvml.json"] {
        let text = std::fs::read_to_string(HostCaptures::new("h100-cuda13.0").file(file)).unwrap();
        let facts: wheelwright_core::Facts = serde_json::from_str(&text).unwrap();
        assert_eq!(facts.gpus.len(), 1, "{file}");
        assert_eq!(facts.gpus[0].compute_capability, "9.0");
        assert_eq!(facts.gpus[0].memory_total_bytes, Some(81559 << 20));
        assert_eq!(
            facts.driver.unwrap().cuda_driver_version.as_deref(),
            Some("13.0")
        );
        assert_eq!(facts.cuda.unwrap().max_gcc_major, Some(15));
        assert_eq!(facts.host.memory_limit_bytes, Some(128 << 30));
        assert!(facts.problems.is_empty(), "{file}: {:?}", facts.problems);
    }
}
