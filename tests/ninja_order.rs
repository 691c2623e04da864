//! wheelwright's `ninja` shim with the real ninja: a torch-style `build.ninja`
//! of flash-attn 2.8.3's 73 units, each a `sleep` as long as the unit took in
//! the H200 build (`bench/results/h200-full-build/ninja_log`, scaled down
//! 1000×), run at `-j 16` through the shim and without it.
//!
//! Checked: through the shim, ninja starts the compiles in the cost model's
//! longest-first ranking (the order `wheelwright build` hands it); reordering
//! keeps every finished object (a second run, after torch wrote the sorted
//! manifest again, has nothing to do); and a manifest with a binding between
//! the compile statements is left alone. The wall-time ratios are printed, not
//! asserted (speed targets live in `bench/`; `bench/ninja-order.md` measures
//! them at a larger scale).
//!
//! The last test runs `wheelwright build` itself with the real pip, setuptools
//! and ninja on a package whose `build_ext` does what torch's `BuildExtension`
//! does (sorted sources, one `build` line per source, `ninja -v -j MAX_JOBS`
//! in the build dir): ninja's log shows the longest-first order.
//!
//! Needs python3 (with pip, setuptools and wheel for the last test) and a real
//! `ninja` >= 1.12 on PATH; `.ci/run` provides them and sets
//! `WHEELWRIGHT_REQUIRE_REAL_NINJA`, so CI fails instead of skipping.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wheelwright_core::builder::ninja_order;
use wheelwright_core::plan::recipe::{resolve_units, Recipe};
use wheelwright_core::plan::{Order, ScheduleBasis};

const H200_NINJA_LOG: &str = include_str!("../bench/results/h200-full-build/ninja_log");
/// Measured seconds are divided by this; `bench/ninja-order.md` sets
/// `NINJA_ORDER_BENCH_SCALE` lower (longer sleeps) to measure the ratios.
const SCALE: f64 = 1000.0;
const JOBS: u32 = 16;

fn have_tools() -> bool {
    let ninja = Command::new("ninja")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(ninja && python) {
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_REAL_NINJA").is_none(),
            "WHEELWRIGHT_REQUIRE_REAL_NINJA is set but ninja or python3 is missing"
        );
        common::prerequisite_missing("needs ninja and python3 on PATH");
    }
    ninja && python
}

fn scale() -> f64 {
    std::env::var("NINJA_ORDER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(SCALE)
}

/// Seconds each object took in the H200 build, by file stem.
fn measured_seconds() -> BTreeMap<String, f64> {
    H200_NINJA_LOG
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let (s, e): (f64, f64) = (f.first()?.parse().ok()?, f.get(1)?.parse().ok()?);
            let stem = f.get(3)?.rsplit('/').next()?.strip_suffix(".o")?;
            Some((stem.to_string(), (e - s) / 1000.0))
        })
        .collect()
}

/// The 2.8.3 units as the build plans them (sm_90: one gencode).
fn basis() -> ScheduleBasis {
    ScheduleBasis {
        units: resolve_units(&Recipe::flash_attn("2.8.3"), None)
            .unwrap()
            .units,
        gencodes: 1,
        cpus: JOBS,
        threads_honoured: true,
        speed: 1.0,
        order: Order::LongestFirst,
    }
}

/// A source tree of empty-but-timed sources and torch's manifest for it, in
/// sorted source order as torch writes it. Returns the build dir.
fn torch_tree(root: &Path) -> PathBuf {
    let times = measured_seconds();
    let src = root.join("flash_attn-2.8.3");
    let build = root.join("build/temp.linux-x86_64-cpython-312");
    std::fs::create_dir_all(&build).unwrap();
    let mut units = basis().units;
    units.sort_by(|a, b| a.path.cmp(&b.path));
    std::fs::write(build.join("build.ninja"), manifest(&src, &build, &units)).unwrap();
    for u in &units {
        let secs = times.get(u.stem()).copied().unwrap_or(100.0) / scale();
        common::write_file(&src, &u.path, &format!("{secs:.3}\n"));
    }
    build
}

fn manifest(
    src: &Path,
    build: &Path,
    units: &[wheelwright_core::plan::recipe::TranslationUnit],
) -> String {
    let mut m = String::from(
        "ninja_required_version = 1.3\ncxx = c++\nnvcc = /usr/local/cuda/bin/nvcc\n\n\
         cflags = -DTORCH_EXTENSION_NAME=flash_attn_2_cuda -O3\n\
         cuda_cflags = -gencode arch=compute_90,code=sm_90\n\n\
         rule compile\n  command = sleep $$(cat $in) && touch $out\n\n\
         rule cuda_compile\n  command = sleep $$(cat $in) && touch $out\n\n",
    );
    for u in units {
        let rule = if u.is_cuda() {
            "cuda_compile"
        } else {
            "compile"
        };
        m.push_str(&format!(
            "build {}: {rule} {}\n",
            build.join(u.object_path()).display(),
            src.join(&u.path).display()
        ));
    }
    m.push_str("\n\n\n\n\n");
    m
}

/// (object stem, start ms, end ms) from `.ninja_log`.
fn log_entries(build: &Path) -> Vec<(String, u64, u64)> {
    std::fs::read_to_string(build.join(".ninja_log"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let stem = f[3].rsplit('/').next().unwrap().trim_end_matches(".o");
            (
                stem.to_string(),
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
            )
        })
        .collect()
}

/// Span over (sum of edge times / jobs): 1.0 is the bound.
fn bound_ratio(entries: &[(String, u64, u64)]) -> f64 {
    let first = entries.iter().map(|e| e.1).min().unwrap_or(0);
    let last = entries.iter().map(|e| e.2).max().unwrap_or(0);
    let sum: u64 = entries.iter().map(|e| e.2 - e.1).sum();
    (last - first) as f64 / (sum as f64 / f64::from(JOBS))
}

fn run_ninja(build: &Path, shim: Option<&ninja_order::NinjaOrder>) -> String {
    let mut cmd = match shim {
        Some(s) => {
            let mut c = Command::new(s.bin_dir.join("ninja"));
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![s.bin_dir.clone()];
            dirs.extend(std::env::split_paths(&path));
            c.env("PATH", std::env::join_paths(dirs).unwrap());
            c.envs(s.env());
            c
        }
        None => Command::new("ninja"),
    };
    let out = cmd
        .args(["-v", "-j", &JOBS.to_string()])
        .current_dir(build)
        .output()
        .unwrap();
    let text = common::both(&out);
    assert!(out.status.success(), "ninja failed: {text}");
    text
}

#[test]
fn the_shim_makes_real_ninja_start_the_longest_compiles_first() {
    if !have_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sources = basis().longest_first_sources(1);
    let rank: BTreeMap<String, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                wheelwright_core::plan::measurements::file_stem(s).to_string(),
                i,
            )
        })
        .collect();
    let shim = ninja_order::install(dir.path(), Path::new("python3"), &sources).unwrap();

    // Through the shim.
    let build = torch_tree(&dir.path().join("ordered"));
    let sorted_manifest = std::fs::read_to_string(build.join("build.ninja")).unwrap();
    let out = run_ninja(&build, Some(&shim));
    assert!(
        out.contains("wheelwright: ninja order: 73 compiles start longest first"),
        "{out}"
    );
    let mut entries = log_entries(&build);
    assert_eq!(entries.len(), 73);
    entries.sort_by_key(|e| (e.1, rank[&e.0]));
    let started: Vec<usize> = entries.iter().map(|e| rank[&e.0]).collect();
    assert!(
        started.windows(2).all(|w| w[0] < w[1]),
        "start order is not the ranking: {started:?}"
    );
    let ordered_ratio = bound_ratio(&entries);

    // torch writes its sorted manifest again on a retry; nothing is rebuilt.
    std::fs::write(build.join("build.ninja"), &sorted_manifest).unwrap();
    let again = run_ninja(&build, Some(&shim));
    assert!(again.contains("no work to do"), "{again}");

    // Plain ninja on the same tree: manifest (sorted) order.
    let plain = torch_tree(&dir.path().join("plain"));
    run_ninja(&plain, None);
    let mut units = basis().units;
    units.sort_by(|a, b| a.path.cmp(&b.path));
    let position: BTreeMap<&str, usize> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.stem(), i))
        .collect();
    let mut entries = log_entries(&plain);
    entries.sort_by_key(|e| (e.1, position[e.0.as_str()]));
    let started: Vec<usize> = entries.iter().map(|e| position[e.0.as_str()]).collect();
    assert!(
        started.windows(2).all(|w| w[0] < w[1]),
        "plain ninja did not keep manifest order: {started:?}"
    );
    let plain_ratio = bound_ratio(&entries);
    eprintln!(
        "span / (sum of edges / {JOBS}): {plain_ratio:.3} in ninja's order, {ordered_ratio:.3} through the shim (times / {})",
        scale()
    );
}

#[test]
fn a_manifest_with_a_binding_between_compiles_is_left_alone() {
    if !have_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("b");
    std::fs::create_dir_all(&build).unwrap();
    for (name, secs) in [("a.cu", "0.01"), ("z.cu", "0.01")] {
        std::fs::write(dir.path().join(name), secs).unwrap();
    }
    let text = format!(
        "rule cc\n  command = sleep $$(cat $in) && touch $out\nbuild a.o: cc {0}/a.cu\nflags = -O2\nbuild z.o: cc {0}/z.cu\n",
        dir.path().display()
    );
    std::fs::write(build.join("build.ninja"), &text).unwrap();
    let shim = ninja_order::install(
        dir.path(),
        Path::new("python3"),
        &["z.cu".to_string(), "a.cu".to_string()],
    )
    .unwrap();
    run_ninja(&build, Some(&shim));
    assert_eq!(
        std::fs::read_to_string(build.join("build.ninja")).unwrap(),
        text
    );
}

/// What torch's `BuildExtension` does with a `CUDAExtension`, minus the
/// compilers: setuptools' sorted sources, one `build` statement per source in
/// that order, `ninja -v -j $MAX_JOBS` in the build dir; `cp` stands for nvcc.
const TORCH_LIKE_SETUP: &str = r#"import os, subprocess
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = [
    "csrc/flash_api.cpp",
    "csrc/flash_bwd_hdim128_fp16_sm80.cu",
    "csrc/flash_bwd_hdim256_fp16_sm80.cu",
    "csrc/flash_fwd_hdim32_fp16_sm80.cu",
    "csrc/flash_fwd_split_hdim64_fp16_sm80.cu",
]

class TorchLikeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(self.build_temp)
        os.makedirs(build, exist_ok=True)
        lines = ["ninja_required_version = 1.3", "cxx = c++", "",
                 "rule compile", "  command = cp $in $out", "",
                 "rule cuda_compile", "  command = cp $in $out", ""]
        for src in sorted(ext.sources):
            obj = os.path.join(build, os.path.splitext(src)[0] + ".o")
            rule = "cuda_compile" if src.endswith(".cu") else "compile"
            lines.append("build %s: %s %s" % (obj, rule, os.path.abspath(src)))
        with open(os.path.join(build, "build.ninja"), "w") as f:
            f.write("\n".join(lines) + "\n")
        cmd = ["ninja", "-v"]
        if os.environ.get("MAX_JOBS", "").isdigit():
            cmd += ["-j", os.environ["MAX_JOBS"]]
        subprocess.run(cmd, cwd=build, check=True)
        os.makedirs(self.build_lib, exist_ok=True)

setup(name="orderpkg", version="0.1",
      ext_modules=[Extension("orderpkg_ext", list(reversed(SOURCES)))],
      cmdclass={"build_ext": TorchLikeBuild})
"#;

/// python3 with pip, setuptools and wheel, and the real ninja, or None.
fn python_and_ninja() -> Option<(PathBuf, PathBuf)> {
    let check = "import sys, setuptools, wheel, pip; print(sys.executable)";
    let python = Command::new("python3")
        .args(["-c", check])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))?;
    let ninja = std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("ninja"))
        .find(|p| p.is_file())?;
    Some((python, ninja))
}

#[test]
fn wheelwright_build_runs_a_torch_style_ninja_build_longest_first() {
    let Some((python, ninja)) = python_and_ninja() else {
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_REAL_NINJA").is_none(),
            "WHEELWRIGHT_REQUIRE_REAL_NINJA is set but python3 with pip, setuptools and wheel, or ninja, is missing"
        );
        common::prerequisite_missing("needs python3 with pip, setuptools and wheel, and ninja");
        return;
    };
    let ctx = common::TestContext::new();
    std::os::unix::fs::symlink(&ninja, ctx.bin.join("ninja")).unwrap();
    let tree = ctx.path().join("orderpkg");
    std::fs::create_dir_all(tree.join("csrc")).unwrap();
    std::fs::write(tree.join("setup.py"), TORCH_LIKE_SETUP).unwrap();
    for name in [
        "flash_api.cpp",
        "flash_bwd_hdim128_fp16_sm80.cu",
        "flash_bwd_hdim256_fp16_sm80.cu",
        "flash_fwd_hdim32_fp16_sm80.cu",
        "flash_fwd_split_hdim64_fp16_sm80.cu",
    ] {
        std::fs::write(tree.join("csrc").join(name), name).unwrap();
    }
    let out = ctx
        .wheelwright()
        .env("WHEELWRIGHT_NVML", "off")
        .arg("build")
        .arg(&tree)
        .arg("--python")
        .arg(&python)
        // No CUDA or torch here: the plan refuses; build anyway, one job so
        // that ninja's start order is its command order.
        .args(["--recipe", "torch-ext", "--archs", "90", "--max-jobs", "1"])
        .args(["--nvcc-threads", "1", "--no-verify", "--force", "--out"])
        .arg(ctx.path().join("out"))
        .output()
        .unwrap();
    let log = common::successful_build_log(&out, &ctx.path().join("out"));
    assert!(
        log.contains("=== wheelwright: ninja starts the 5 compiles longest first"),
        "{log}"
    );
    assert!(
        log.contains("wheelwright: ninja order: 5 compiles start longest first"),
        "{log}"
    );
    // ninja -v prints each command as it starts: `[n/5] cp SRC OBJ`.
    let started: Vec<&str> = log
        .lines()
        .filter(|l| l.trim_start().starts_with('[') && l.contains("] cp "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter_map(|src| src.rsplit('/').next())
        .collect();
    assert_eq!(
        started,
        [
            "flash_fwd_split_hdim64_fp16_sm80.cu",
            "flash_bwd_hdim256_fp16_sm80.cu",
            "flash_bwd_hdim128_fp16_sm80.cu",
            "flash_fwd_hdim32_fp16_sm80.cu",
            "flash_api.cpp",
        ],
        "{log}"
    );
}
