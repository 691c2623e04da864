//! `wheelwright runner check` and `runner labels` on fake hosts: a fake root
//! for /proc, /sys and /usr/local/cuda-*, fake `nvidia-smi` and `nvcc`
//! printing captured output (tests/fixtures/hosts), and for the fixing path a
//! real `python3 -m venv`, real pip against a local index
//! (`python3 -m http.server`) serving a tiny fake `torch` wheel, and a real
//! ninja. Those need python3 with venv and ninja on PATH: without them the
//! fixing test skips, except under CI (`CI` set), where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_tree, expect_code, fixture, tool_printing, HostCaptures, TestContext};
use serde_json::Value;

/// The A800 box's root (8 A800s, driver 535.104.05, a 64-core, 512 GiB pod)
/// with CUDA 12.2 and 12.8 side by side under /usr/local.
struct A800 {
    ctx: TestContext,
    root: PathBuf,
    sysbin: PathBuf,
}

impl A800 {
    fn new() -> Self {
        let ctx = TestContext::new();
        let root = ctx.path().join("root");
        copy_tree(&fixture("hosts/a800-cuda12.2/root"), &root);
        let caps = HostCaptures::new("a800-cuda12.2");
        caps.nvidia_smi(&ctx.bin);
        caps.cuda(
            &root.join("usr/local/cuda-12.2"),
            &caps.file("host_config.h"),
        );
        // A second toolkit: its version comes from its directory name.
        caps.cuda(
            &root.join("usr/local/cuda-12.8"),
            &caps.file("host_config.h"),
        );
        caps.compiler(
            &ctx.bin,
            "gcc-11",
            "gcc-11-dumpfullversion.txt",
            "gcc-11-version.txt",
        );
        caps.compiler(
            &ctx.bin,
            "g++-11",
            "gcc-11-dumpfullversion.txt",
            "g++-11-version.txt",
        );
        let sysbin = ctx.system_tools(&["sh", "cat"]);
        A800 { ctx, root, sysbin }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.ctx.wheelwright();
        cmd.env(
            "PATH",
            std::env::join_paths([&self.ctx.bin, &self.sysbin]).unwrap(),
        )
        .env("WHEELWRIGHT_ROOT", &self.root)
        .env("WHEELWRIGHT_NVML", "off")
        .args(args);
        cmd
    }
}

#[test]
fn labels_of_the_a800_box() {
    let h = A800::new();
    let out = h.command(&["runner", "labels"]).output().unwrap();
    assert_eq!(
        expect_code(&out, 0).trim(),
        "gpu,gpu-a800,sm_80,cuda-12.2,cuda-12.8,cpu-64,mem-512g"
    );
    let out = h.command(&["runner", "labels", "--json"]).output().unwrap();
    let labels: Vec<String> = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    assert_eq!(labels.len(), 7);
    // The vocabulary `plan --matrix` asks for in runs-on.
    let out = h
        .command(&[
            "plan", "--matrix", "--torch", "2.8", "--cuda", "12.8", "--python", "3.12",
        ])
        .output()
        .unwrap();
    let m: Value = serde_json::from_str(&expect_code(&out, 0)).unwrap();
    let runs_on = m["include"][0]["runs-on"].as_array().unwrap();
    let custom: Vec<&str> = runs_on
        .iter()
        .filter_map(Value::as_str)
        .filter(|l| !["self-hosted", "linux", "x64"].contains(l))
        .collect();
    assert!(
        custom.iter().all(|l| labels.iter().any(|x| x == l)),
        "{custom:?} not in {labels:?}"
    );
}

fn check_json(h: &A800, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "runner",
        "check",
        "--check-only",
        "--json",
        "--min-disk",
        "1MiB",
        "--work-dir",
    ];
    let work = h.ctx.path().display().to_string();
    args.push(&work);
    args.extend(extra);
    let out = h.command(&args).output().unwrap();
    let code = out.status.code().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report}"))
}

/// Check-only on the A800 box, which has no Python: the toolkit matching the
/// wanted CUDA is chosen, the driver is compared with its minimum, and what is
/// missing is reported, nothing changed.
#[test]
fn check_only_on_the_a800_box() {
    let h = A800::new();
    let genv = h.ctx.path().join("github_env");
    let (code, r) = check_json(&h, &["--cuda", "12.2"]);
    assert_eq!(code, 1, "no torch: a failed check");
    assert_eq!(check(&r, "torch")["status"], "failed");
    let tk = check(&r, "cuda-toolkit");
    assert_eq!(tk["status"], "ok", "{tk}");
    assert!(tk["detail"].as_str().unwrap().contains("cuda-12.2"), "{tk}");
    assert_eq!(
        check(&r, "driver")["status"],
        "ok",
        "535.104.05 ≥ 535.54.03"
    );
    assert_eq!(check(&r, "host-gcc")["status"], "ok");
    assert_eq!(check(&r, "exports")["status"], "would-change");
    assert_eq!(
        r["env"]["CUDA_HOME"],
        h.root.join("usr/local/cuda-12.2").display().to_string()
    );
    assert!(!genv.exists());
    assert_eq!(r["changed"], false);

    // CUDA 12.8 wants driver 570.26: 535 runs it only by minor-version compatibility.
    let (_, r) = check_json(&h, &["--cuda", "12.8"]);
    assert!(check(&r, "cuda-toolkit")["detail"]
        .as_str()
        .unwrap()
        .contains("cuda-12.8"));
    let d = check(&r, "driver");
    assert_eq!(d["status"], "warning", "{d}");
    assert!(
        d["root_commands"][0]
            .as_str()
            .unwrap()
            .contains("nvidia-driver-570-server"),
        "{d}"
    );

    // No CUDA 13 toolkit: failed, with the root command that installs one.
    let (_, r) = check_json(&h, &["--cuda", "13.0"]);
    let tk = check(&r, "cuda-toolkit");
    assert_eq!(tk["status"], "failed");
    assert_eq!(
        tk["root_commands"][0],
        "sudo apt-get install -y cuda-toolkit-13-0"
    );
}

/// A default gcc newer than nvcc accepts: an installed gcc-11 is picked and
/// exported as CC/CXX/NVCC_CCBIN.
#[test]
fn a_too_new_gcc_is_replaced_by_an_installed_one() {
    let h = A800::new();
    let v13 = h.ctx.path().join("gcc-13-dumpfullversion.txt");
    std::fs::write(&v13, "13.2.0\n").unwrap();
    let t13 = h.ctx.path().join("gcc-13-version.txt");
    std::fs::write(&t13, "gcc (Ubuntu 13.2.0-23ubuntu4) 13.2.0\n").unwrap();
    for name in ["gcc", "g++"] {
        tool_printing(
            &h.ctx.bin.join(name),
            &[
                ("-dumpfullversion", v13.clone()),
                ("--version", t13.clone()),
            ],
        );
    }
    let (_, r) = check_json(&h, &["--cuda", "12.2"]);
    let g = check(&r, "host-gcc");
    assert_eq!(g["status"], "ok", "{g}");
    assert_eq!(
        r["env"]["CC"],
        h.ctx.bin.join("gcc-11").display().to_string(),
        "{r}"
    );
    assert_eq!(
        r["env"]["CXX"],
        h.ctx.bin.join("g++-11").display().to_string()
    );
    assert_eq!(
        r["env"]["NVCC_CCBIN"],
        h.ctx.bin.join("gcc-11").display().to_string()
    );
}

/// A real tool on the test's PATH, or a skip (a failure under CI).
fn real(name: &str) -> Option<PathBuf> {
    common::required(
        common::on_path(name),
        &format!("`{name}` on PATH (for the runner-check fixing test)"),
    )
}

fn make_wheel(python: &Path, out: &Path, name: &str, version: &str, files: &[&str]) -> String {
    let o = common::run_ok(
        Command::new(python)
            .arg(fixture("fleet/make_wheel.py"))
            .arg(out)
            .args([name, version])
            .args(files),
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// `--fix`: a venv is created, torch 2.8 cu128 installed from the local index,
/// the build tools put in place, CUDA 12.8 exported through GITHUB_ENV and
/// GITHUB_PATH; a second run in the environment those files give changes
/// nothing and says so.
#[test]
fn fix_creates_the_venv_installs_torch_and_is_idempotent() {
    let (Some(python), Some(ninja)) = (real("python3"), real("ninja")) else {
        return;
    };
    let h = A800::new();
    std::fs::write(
        h.root.join("proc/self/limits"),
        "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            65536                65536                files     \n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&ninja, h.ctx.bin.join("ninja")).unwrap();

    // The index: torch as PyTorch's cu128 index names it, in PEP 503 layout.
    let served = h.ctx.path().join("served");
    let files = served.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let torch = make_wheel(
        &python,
        &files,
        "torch",
        "2.8.0+cu128",
        &[
            "torch/__init__.py=__version__ = '2.8.0+cu128'\nfrom . import version, _C, cuda\n",
            "torch/version.py=cuda = '12.8'\n",
            "torch/_C.py=_GLIBCXX_USE_CXX11_ABI = True\n",
            "torch/cuda/__init__.py=def is_available():\n    return False\n",
        ],
    );
    std::fs::create_dir_all(served.join("simple/torch")).unwrap();
    std::fs::write(
        served.join("simple/torch/index.html"),
        format!(
            "<html><body><a href=\"/files/{}\">{torch}</a></body></html>\n",
            torch.replace('+', "%2B")
        ),
    )
    .unwrap();
    // The build tools, for the air-gapped --find-links path.
    let wheels = h.ctx.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    for (name, version) in [
        ("setuptools", "80.9.0"),
        ("wheel", "0.45.1"),
        ("packaging", "25.0"),
        ("psutil", "7.0.0"),
    ] {
        make_wheel(
            &python,
            &wheels,
            name,
            version,
            &[&format!("{name}_fake_marker.py=")],
        );
    }
    let server =
        common::index_servers::Server::http(&python, &served, h.ctx.path().join("http.log"));

    let venv = h.ctx.path().join("venv");
    let genv = h.ctx.path().join("github_env");
    let gpath = h.ctx.path().join("github_path");
    let run = |env: &[(&str, String)], path_front: Option<&Path>| {
        let mut dirs: Vec<PathBuf> = path_front.into_iter().map(Path::to_path_buf).collect();
        dirs.extend([
            h.ctx.bin.clone(),
            PathBuf::from("/usr/bin"),
            PathBuf::from("/bin"),
        ]);
        let mut cmd = h.command(&[]);
        cmd.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("GITHUB_ENV", &genv)
            .env("GITHUB_PATH", &gpath)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args([
                "runner",
                "check",
                "--fix",
                "--json",
                "--torch",
                "2.8",
                "--cuda",
                "12.8",
                "--min-disk",
                "1MiB",
                "--no-index",
            ])
            .arg("--python")
            .arg(&python)
            .arg("--venv")
            .arg(&venv)
            .arg("--torch-index-url")
            .arg(format!("{}/simple", server.url))
            .arg("--find-links")
            .arg(&wheels)
            .arg("--work-dir")
            .arg(h.ctx.path());
        let out = cmd.output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code(), report)
    };

    let (code, r) = run(&[], None);
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(check(&r, "venv")["status"], "changed");
    let t = check(&r, "torch");
    assert_eq!(t["status"], "changed", "{t}");
    assert!(
        t["detail"]
            .as_str()
            .unwrap()
            .contains("torch 2.8.0+cu128 (CUDA 12.8)"),
        "{t}"
    );
    assert_eq!(check(&r, "build-tools")["status"], "changed");
    assert_eq!(check(&r, "exports")["status"], "changed");
    let cuda = h.root.join("usr/local/cuda-12.8");
    let env_text = std::fs::read_to_string(&genv).unwrap();
    let vpy = venv.join("bin/python");
    assert_eq!(
        env_text,
        format!(
            "CUDA_HOME={}\nWHEELWRIGHT_PYTHON={}\n",
            cuda.display(),
            vpy.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&gpath).unwrap(),
        format!("{}\n", cuda.join("bin").display())
    );
    assert_eq!(r["changed"], true);

    // The next step: the runner applied the files. Nothing changes, nothing is written.
    let (code, r) = run(
        &[
            ("CUDA_HOME", cuda.display().to_string()),
            ("WHEELWRIGHT_PYTHON", vpy.display().to_string()),
        ],
        Some(&cuda.join("bin")),
    );
    assert_eq!(code, Some(0), "{r:#}");
    for c in r["checks"].as_array().unwrap() {
        assert!(
            c["status"] == "ok" || c["status"] == "warning",
            "second run changed {c}"
        );
    }
    assert_eq!(r["changed"], false);
    assert_eq!(
        std::fs::read_to_string(&genv).unwrap(),
        env_text,
        "GITHUB_ENV written again"
    );
    assert!(check(&r, "torch")["detail"]
        .as_str()
        .unwrap()
        .starts_with("already torch 2.8.0+cu128"));
    drop(server);
}
