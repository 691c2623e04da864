//! `wheelwright wheel check` on real wheels: shared objects built here by
//! real nvcc (PyPI's `nvidia-cuda-nvcc`) and g++, packed by the real
//! `wheel pack`, compared with real `cuobjdump` and real `auditwheel` 6.x.
//!
//! Tools: nvcc from `WHEELWRIGHT_TEST_NVCC` or `PATH` (cuobjdump beside it),
//! `python3` with the `wheel` package, `auditwheel` and `patchelf` on `PATH`,
//! `g++`. `.ci/run` installs them; when `CI` is set a missing tool fails the
//! test instead of skipping it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::device_code::{nvcc_so, test_nvcc};
use common::{expect_code, on_path, run_ok, TestContext};
use serde_json::Value;
use wheelwright_core::env_vars;

/// The real tools, found once.
struct Tools {
    nvcc: PathBuf,
    cuobjdump: PathBuf,
    python: PathBuf,
    auditwheel: PathBuf,
    /// Holds the test `PATH` (auditwheel needs patchelf on it).
    path: String,
}

fn find_tools() -> Result<Tools, String> {
    let nvcc = test_nvcc().ok_or("no nvcc (set WHEELWRIGHT_TEST_NVCC or put nvcc on PATH)")?;
    let cuobjdump = nvcc.with_file_name("cuobjdump");
    if !cuobjdump.is_file() {
        return Err(format!("no cuobjdump beside {}", nvcc.display()));
    }
    let python = on_path("python3").ok_or("no python3 on PATH")?;
    let has_wheel = Command::new(&python)
        .args(["-c", "import wheel.cli"])
        .output()
        .is_ok_and(|o| o.status.success())
        || Command::new(&python)
            .args(["-m", "wheel", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !has_wheel {
        return Err(format!("{} has no `wheel` package", python.display()));
    }
    let auditwheel = on_path("auditwheel").ok_or("no auditwheel on PATH")?;
    on_path("patchelf").ok_or("no patchelf on PATH")?;
    on_path("g++").ok_or("no g++ on PATH")?;
    Ok(Tools {
        nvcc,
        cuobjdump,
        python,
        auditwheel,
        path: std::env::var(env_vars::PATH).unwrap_or_default(),
    })
}

/// The tools, or `None` to skip (never under CI).
fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    match TOOLS.get_or_init(find_tools) {
        Ok(t) => Some(t),
        Err(why) => {
            common::prerequisite_missing(&format!("a real tool for the wheel check tests: {why}"));
            None
        }
    }
}

/// Compile C++ `source` into a shared object, with extra link arguments.
fn gxx_so(dir: &Path, name: &str, source: &str, link: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{name}.cpp"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    run_ok(
        Command::new("g++")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&src)
            .args(link),
    );
    out
}

/// A wheel packed by the real `wheel pack` from a tree: `files` go into the
/// package dir, METADATA says `metadata_version`, WHEEL says `tag`.
fn pack(
    t: &Tools,
    dir: &Path,
    dist_info: &str,
    metadata: &str,
    tag: &str,
    files: &[(&str, &Path)],
) -> PathBuf {
    let tree = dir.join(format!("tree-{dist_info}-{tag}"));
    let _ = std::fs::remove_dir_all(&tree);
    let info = tree.join(format!("{dist_info}.dist-info"));
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(info.join("METADATA"), metadata).unwrap();
    std::fs::write(
        info.join("WHEEL"),
        format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"),
    )
    .unwrap();
    for (rel, src) in files {
        let dest = tree.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        // An empty source (`/dev/null`) makes an empty file.
        std::fs::write(&dest, std::fs::read(src).unwrap()).unwrap();
    }
    let out_dir = dir.join("dist");
    std::fs::create_dir_all(&out_dir).unwrap();
    let before: BTreeSet<PathBuf> = list(&out_dir);
    run_ok(
        Command::new(&t.python)
            .args(["-m", "wheel", "pack"])
            .arg(&tree)
            .arg("-d")
            .arg(&out_dir),
    );
    let new: Vec<PathBuf> = list(&out_dir).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "wheel pack wrote {new:?}");
    new[0].clone()
}

fn list(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn kpkg(t: &Tools, dir: &Path, so: &Path) -> PathBuf {
    pack(
        t,
        dir,
        "kpkg-1.0",
        "Metadata-Version: 2.1\nName: kpkg\nVersion: 1.0\n",
        "cp312-cp312-linux_x86_64",
        &[
            ("kpkg/__init__.py", Path::new("/dev/null")),
            ("kpkg/_k.so", so),
        ],
    )
}

/// Run `wheelwright wheel check ARGS --json`, expecting `code`; the JSON.
fn check_json(ctx: &TestContext, args: &[&str], code: i32) -> Value {
    let out = ctx
        .wheelwright()
        .args(["wheel", "check", "--json"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_str(&expect_code(&out, code)).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn finding_ids(wheel: &Value) -> Vec<String> {
    wheel["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// What `cuobjdump --list-elf --list-ptx` names: `sm_80` per cubin,
/// `sm_90` per PTX file, in its order.
fn cuobjdump_lists(t: &Tools, so: &Path) -> (Vec<String>, Vec<String>) {
    let out = Command::new(&t.cuobjdump)
        .args(["--list-elf", "--list-ptx"])
        .arg(so)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut elf = Vec::new();
    let mut ptx = Vec::new();
    for line in text.lines() {
        let Some(file) = line.split(": ").nth(1) else {
            continue;
        };
        let parts: Vec<&str> = file.split('.').collect();
        let [.., arch, ext] = parts.as_slice() else {
            continue;
        };
        match *ext {
            "cubin" => elf.push(arch.to_string()),
            "ptx" => ptx.push(arch.to_string()),
            _ => {}
        }
    }
    (elf, ptx)
}

#[test]
fn device_code_matches_cuobjdump() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let so = nvcc_so(
        &t.nvcc,
        &ctx.path().join("multi"),
        "k.so",
        &[
            "arch=compute_80,code=sm_80",
            "arch=compute_90a,code=sm_90a",
            "arch=compute_90,code=compute_90",
            "arch=compute_100f,code=sm_100f",
        ],
        &[],
    );
    let wheel = kpkg(t, ctx.path(), &so);
    let run = check_json(&ctx, &[wheel.to_str().unwrap()], 0);
    let bin = &run["wheels"][0]["binaries"][0];
    assert_eq!(bin["path"], "kpkg/_k.so");
    let sass = strings(&bin["sass"]);
    let ptx = strings(&bin["ptx"]);
    assert_eq!(sass, ["sm_80", "sm_90a", "sm_100f"]);
    assert_eq!(ptx, ["compute_90"]);

    let (elf, ptx_files) = cuobjdump_lists(t, &so);
    // cuobjdump lists each entry (one container per compile and one per
    // device link), so the entry count is checked too.
    assert_eq!(
        bin["fatbin_entries"].as_u64().unwrap() as usize,
        elf.len() + ptx_files.len(),
        "cuobjdump: {elf:?} {ptx_files:?}"
    );
    let cuobjdump_sass: BTreeSet<String> = elf.into_iter().collect();
    // cuobjdump 13.x names the family cubin `sm_100`, without its `f`; the
    // family bit is in the fatbin entry's flags (see fatbin.rs).
    let ours: BTreeSet<String> = sass
        .iter()
        .map(|s| s.trim_end_matches('f').to_string())
        .collect();
    assert_eq!(ours, cuobjdump_sass);
    let cuobjdump_ptx: BTreeSet<String> = ptx_files
        .iter()
        .map(|a| a.replace("sm_", "compute_"))
        .collect();
    assert_eq!(ptx.into_iter().collect::<BTreeSet<_>>(), cuobjdump_ptx);

    // sm_90a meets a required 9.0; 12.0 is absent.
    let w = wheel.to_str().unwrap();
    check_json(&ctx, &[w, "--require-archs", "80;90"], 0);
    let run = check_json(&ctx, &[w, "--require-archs", "8.0,9.0,12.0"], 1);
    let archs = &run["wheels"][0]["binaries"][0]["archs"];
    assert_eq!(strings(&archs["missing"]), ["sm_120"]);
    assert_eq!(strings(&archs["extra"]), ["sm_100f", "compute_90"]);
}

/// The sm_90-only shared object and its wheel, built once.
fn sm90_so(t: &Tools) -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        nvcc_so(
            &t.nvcc,
            &dir,
            "k90.so",
            &["arch=compute_90,code=sm_90"],
            &[],
        )
    })
}

#[test]
fn a_wheel_built_for_90_fails_a_requirement_of_80_and_90() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let wheel = kpkg(t, ctx.path(), sm90_so(t));
    let w = wheel.to_str().unwrap();
    let run = check_json(&ctx, &[w, "--require-archs", "80;90"], 1);
    let checked = &run["wheels"][0];
    assert_eq!(checked["passed"], false);
    assert_eq!(
        strings(&checked["binaries"][0]["archs"]["missing"]),
        ["sm_80"]
    );
    assert!(finding_ids(checked).contains(&"archs-missing".to_string()));

    let text = ctx
        .wheelwright()
        .args(["wheel", "check", w, "--require-archs", "80;90"])
        .output()
        .unwrap();
    let text = expect_code(&text, 1);
    assert!(text.contains("lacks sm_80"), "{text}");

    // The archs the H200 build planned (its real report.json): sm_90 only.
    let report =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/h200-full-build/report.json");
    let run = check_json(&ctx, &[w, "--report", report.to_str().unwrap()], 0);
    assert_eq!(strings(&run["required_archs"]["sass"]), ["sm_90"]);
    assert_eq!(run["required_archs"]["source"], "report.json plan");
    // Its interpreter is on the GPU machine, not here: said, not failed.
    if !Path::new("/opt/torch/.venv/bin/python3").exists() {
        assert!(run["notes"][0]
            .as_str()
            .unwrap()
            .contains("not on this machine"));
    }
}

#[test]
fn flash_attn_release_style_metadata_warns_locally_and_fails_for_an_index() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    // As flash-attn's release workflow makes them: the label only in the name.
    let wheel = pack(
        t,
        ctx.path(),
        "flash_attn-2.8.3+cu13torch2.11cxx11abiTRUE",
        "Metadata-Version: 2.1\nName: flash_attn\nVersion: 2.8.3\n",
        "cp312-cp312-linux_x86_64",
        &[("flash_attn_2_cuda.so", sm90_so(t))],
    );
    let w = wheel.to_str().unwrap();
    let local = check_json(&ctx, &[w], 0);
    let checked = &local["wheels"][0];
    assert_eq!(
        finding_ids(checked),
        ["metadata-version-without-local-label"]
    );
    assert_eq!(checked["findings"][0]["severity"], "warning");
    // Only sm_90: not flash-attn 2.8.3's release set.
    assert_eq!(checked["official_archs"]["verdict"], "missing");
    assert_eq!(
        strings(&checked["official_archs"]["missing"]),
        ["sm_80", "sm_100", "sm_120"]
    );
    let index = check_json(&ctx, &[w, "--for-index"], 1);
    assert_eq!(index["wheels"][0]["findings"][0]["severity"], "error");

    // Our builds put the label in METADATA: no finding (case-insensitive).
    let good = pack(
        t,
        &ctx.path().join("good"),
        "flash_attn-2.8.3+cu13torch2.11cxx11abitrue",
        "Metadata-Version: 2.1\nName: flash-attn\nVersion: 2.8.3+cu13torch2.11cxx11abiTRUE\n",
        "cp312-cp312-linux_x86_64",
        &[("flash_attn_2_cuda.so", sm90_so(t))],
    );
    let run = check_json(&ctx, &[good.to_str().unwrap(), "--for-index"], 0);
    assert!(finding_ids(&run["wheels"][0]).is_empty());
}

/// `auditwheel show --json`'s `overall_tag`.
fn auditwheel_tag(t: &Tools, wheel: &Path) -> String {
    let out = run_ok(
        Command::new(&t.auditwheel)
            .env("PATH", &t.path)
            .args(["show", "--json"])
            .arg(wheel),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["overall_tag"].as_str().unwrap().to_string()
}

#[test]
fn glibc_policy_agrees_with_auditwheel() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let dir = ctx.path();
    // nvcc's default static cudart: libc, libstdc++, libgcc_s only.
    let cuda = kpkg(t, &dir.join("cuda"), sm90_so(t));
    // arc4random is GLIBC_2.36 (Debian 12's glibc); std::string is GLIBCXX.
    let newer = gxx_so(
        &dir.join("newer"),
        "newer.so",
        "#include <stdlib.h>\n#include <string>\nextern \"C\" unsigned f() { return arc4random(); }\n\
         std::string g(const char* s) { return std::string(s) + \"x\"; }\n",
        &[],
    );
    let newer = kpkg(t, &dir.join("newer"), &newer);
    for wheel in [&cuda, &newer] {
        let run = check_json(&ctx, &[wheel.to_str().unwrap()], 0);
        let policy = &run["wheels"][0]["policy"];
        assert_eq!(
            policy["platform_tag"].as_str().unwrap(),
            auditwheel_tag(t, wheel),
            "{}",
            wheel.display()
        );
    }
    let run = check_json(&ctx, &[newer.to_str().unwrap()], 0);
    let versions = &run["wheels"][0]["versions"];
    assert_eq!(versions["GLIBC"], "GLIBC_2.36", "{versions}");
    assert!(versions["GLIBCXX"]
        .as_str()
        .unwrap()
        .starts_with("GLIBCXX_3.4"));

    // libcudart.so.13 needed: external for auditwheel unless excluded, as
    // `auditwheel repair --exclude 'libcu*'` treats it (and so do we).
    let lnk = dir.join("lnk");
    std::fs::create_dir_all(&lnk).unwrap();
    let cudart = t
        .nvcc
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("lib/libcudart.so.13");
    assert!(cudart.is_file(), "{}", cudart.display());
    std::os::unix::fs::symlink(&cudart, lnk.join("libcudart.so")).unwrap();
    let lnk_arg = format!("-L{}", lnk.display());
    let shared = nvcc_so(
        &t.nvcc,
        &dir.join("shared"),
        "kd.so",
        &["arch=compute_90,code=sm_90"],
        &["-cudart", "shared", &lnk_arg],
    );
    let shared = kpkg(t, &dir.join("shared"), &shared);
    let run = check_json(&ctx, &[shared.to_str().unwrap()], 0);
    let policy = &run["wheels"][0]["policy"];
    assert_eq!(strings(&policy["excluded_libraries"]), ["libcudart.so.13"]);
    let repaired = dir.join("repaired");
    run_ok(
        Command::new(&t.auditwheel)
            .env("PATH", &t.path)
            .args(["repair", "--exclude", "libcu*", "-w"])
            .arg(&repaired)
            .arg(&shared),
    );
    let names: Vec<String> = list(&repaired)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1);
    let tag = policy["platform_tag"].as_str().unwrap();
    assert!(
        names[0]
            .trim_end_matches(".whl")
            .split(['-', '.'])
            .any(|t| t == tag)
            || names[0].contains(&format!("{tag}."))
            || names[0].contains(&format!(".{tag}")),
        "auditwheel repair wrote {names:?}, we said {tag}"
    );
}

#[test]
fn retag_is_deterministic_and_real_tools_accept_it() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let wheel = kpkg(t, ctx.path(), sm90_so(t));
    let run = check_json(&ctx, &[wheel.to_str().unwrap()], 0);
    let policy = &run["wheels"][0]["policy"];
    let mut platforms = vec![policy["platform_tag"].as_str().unwrap().to_string()];
    platforms.extend(strings(&policy["aliases"]));
    let before = std::fs::read(&wheel).unwrap();
    let a = wheelwright_core::wheel_check::retag::retag_wheel(
        &wheel,
        &platforms,
        &ctx.path().join("a"),
    )
    .unwrap();
    let b = wheelwright_core::wheel_check::retag::retag_wheel(
        &wheel,
        &platforms,
        &ctx.path().join("b"),
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&wheel).unwrap(),
        before,
        "the input is never modified"
    );
    assert_eq!(a.file_name(), b.file_name());
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same input, same bytes"
    );
    assert!(a
        .file_name()
        .unwrap()
        .to_string_lossy()
        .contains(&platforms[0]));
    // The real `wheel unpack` verifies every RECORD hash as it extracts.
    run_ok(
        Command::new(&t.python)
            .args(["-m", "wheel", "unpack", "-d"])
            .arg(ctx.path().join("unpacked"))
            .arg(&a),
    );
    assert_eq!(auditwheel_tag(t, &a), platforms[0]);
    let run = check_json(&ctx, &[a.to_str().unwrap()], 0);
    assert_eq!(
        strings(&run["wheels"][0]["wheel_tags"]),
        platforms
            .iter()
            .map(|p| format!("cp312-cp312-{p}"))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn bad_input_is_refused_with_a_hint() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let dir = ctx.path();
    let bad = |args: &[&str]| {
        let out = ctx
            .wheelwright()
            .args(["wheel", "check"])
            .args(args)
            .output()
            .unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains("hint:"), "{stderr}");
        stderr
    };
    let missing = bad(&["nowhere/x-1.0-py3-none-any.whl"]);
    assert!(missing.contains("cannot read"), "{missing}");
    std::fs::write(dir.join("x-1.0-py3-none-any.whl"), "not a zip").unwrap();
    assert!(bad(&["x-1.0-py3-none-any.whl"]).contains("not a zip"));
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    assert!(bad(&["notes.txt"]).contains("not a wheel file name"));
    assert!(bad(&["x-1.0-py3-none-any.whl", "--require-archs", "eighty"]).contains("eighty"));

    // A wheel whose library was changed after packing: RECORD catches it.
    let wheel = kpkg(t, dir, sm90_so(t));
    let broken = dir.join("broken").join(wheel.file_name().unwrap());
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    run_ok(Command::new(&t.python).args([
        "-c",
        "import sys, zipfile\n\
         src, dst = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2], 'w')\n\
         for i in src.infolist():\n\
         \x20   data = src.read(i)\n\
         \x20   dst.writestr(i, data + b'tampered' if i.filename.endswith('.so') else data)\n\
         dst.close()\n",
        wheel.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]));
    let run = check_json(&ctx, &[broken.to_str().unwrap()], 1);
    let checked = &run["wheels"][0];
    assert_eq!(finding_ids(checked), ["record-mismatch"]);
    let message = checked["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("kpkg/_k.so: hash mismatch"), "{message}");
    // ... and retag refuses to launder it.
    let err = wheelwright_core::wheel_check::retag::retag_wheel(
        &broken,
        &["manylinux_2_17_x86_64".to_string()],
        &dir.join("retagged"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("hash mismatch"), "{err}");

    // A tag with characters no tag can have: not a wheel name, refused.
    let odd = pack(
        t,
        &dir.join("odd"),
        "kpkg-1.0",
        "Metadata-Version: 2.1\nName: kpkg\nVersion: 1.0\n",
        "cp312-cp312-linux_x86+64",
        &[("kpkg/__init__.py", Path::new("/dev/null"))],
    );
    let stderr = bad(&[odd.to_str().unwrap()]);
    assert!(
        stderr.contains("the platform tag `linux_x86+64` holds characters a tag cannot have"),
        "{stderr}"
    );
}

#[test]
fn symbols_resolve_against_the_torch_of_python() {
    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let dir = ctx.path();
    // A stand-in torch: a real package in a real venv whose torch/lib holds
    // a libc10.so that defines what the extension needs.
    let lib = dir.join("build");
    let c10 = gxx_so(
        &lib,
        "libc10.so",
        "extern \"C\" int c10_answer() { return 42; }\n",
        &["-Wl,-soname,libc10.so"],
    );
    let ext_src =
        "extern \"C\" int c10_answer();\nextern \"C\" int ext() { return c10_answer(); }\n";
    let lib_arg = format!("-L{}", lib.display());
    let ext = gxx_so(&lib, "ext.so", ext_src, &[&lib_arg, "-lc10"]);
    let wheel = kpkg(t, dir, &ext);
    let w = wheel.to_str().unwrap();

    // No torch here: libc10.so is not found, its symbol is unresolved, not failed.
    let run = check_json(&ctx, &[w], 0);
    let sym = &run["wheels"][0]["binaries"][0]["symbols"];
    assert_eq!(strings(&sym["unresolved"]), ["c10_answer"]);
    assert_eq!(sym["libraries_not_found"][0]["name"], "libc10.so");
    assert_eq!(finding_ids(&run["wheels"][0]), ["symbols-unresolved"]);

    let venv = dir.join("venv");
    run_ok(
        Command::new(&t.python)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    let site = run_ok(Command::new(venv.join("bin/python")).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]));
    let site = PathBuf::from(String::from_utf8_lossy(&site.stdout).trim());
    std::fs::create_dir_all(site.join("torch/lib")).unwrap();
    std::fs::write(site.join("torch/__init__.py"), "").unwrap();
    std::fs::create_dir_all(site.join("torch-2.11.0.dist-info")).unwrap();
    std::fs::write(
        site.join("torch-2.11.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.11.0\n",
    )
    .unwrap();
    std::fs::copy(&c10, site.join("torch/lib/libc10.so")).unwrap();
    let python = venv.join("bin/python");
    let run = check_json(&ctx, &[w, "--python", python.to_str().unwrap()], 0);
    assert_eq!(run["torch"]["version"], "2.11.0");
    let sym = &run["wheels"][0]["binaries"][0]["symbols"];
    assert_eq!(sym["missing_count"], 0);
    assert_eq!(sym["unresolved_count"], 0);
    assert!(sym["resolved"].as_u64().unwrap() >= 1);
    assert!(finding_ids(&run["wheels"][0]).is_empty());

    // The torch it is checked against lacks the symbol: the import would fail.
    let other = gxx_so(
        &dir.join("other"),
        "libc10.so",
        "extern \"C\" int c10_other() { return 1; }\n",
        &[],
    );
    std::fs::copy(&other, site.join("torch/lib/libc10.so")).unwrap();
    let run = check_json(&ctx, &[w, "--python", python.to_str().unwrap()], 1);
    let sym = &run["wheels"][0]["binaries"][0]["symbols"];
    assert_eq!(strings(&sym["missing"]), ["c10_answer"]);
    assert_eq!(finding_ids(&run["wheels"][0]), ["symbols-undefined"]);
}

/// The `-gencode` values of one unit of a setup.py probe's output, as the
/// package's setup.py passes them to nvcc.
fn probe_gencodes(flags: &[Value]) -> Vec<String> {
    let flags: Vec<&str> = flags.iter().map(|f| f.as_str().unwrap()).collect();
    let mut out = Vec::new();
    for (i, f) in flags.iter().enumerate() {
        if *f == "-gencode" {
            out.push(flags[i + 1].to_string());
        } else if let Some(v) = f.strip_prefix("-gencode=") {
            out.push(v.to_string());
        }
    }
    out
}

/// Compile a kernel named after `stem` into an object with these
/// `-gencode`s, as torch's build compiles a unit (`nvcc -c`).
fn nvcc_object(t: &Tools, dir: &Path, stem: &str, gencodes: &[String]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{stem}.cu"));
    std::fs::write(
        &src,
        format!(
            "__global__ void k_{stem}(float* a, int n) {{\n  int i = blockIdx.x * blockDim.x + threadIdx.x;\n  if (i < n) a[i] += 1.0f;\n}}\nextern \"C\" int launch_{stem}(float* a, int n) {{\n  k_{stem}<<<(n + 255) / 256, 256>>>(a, n);\n  return 0;\n}}\n"
        ),
    )
    .unwrap();
    let obj = dir.join(format!("{stem}.o"));
    let mut cmd = Command::new(&t.nvcc);
    cmd.args(["-c", "-Xcompiler", "-fPIC", "-o"])
        .arg(&obj)
        .arg(&src);
    for g in gencodes {
        cmd.args(["-gencode", g]);
    }
    run_ok(&mut cmd);
    obj
}

/// Issue 28's "done when" for a package that hard-codes its gencodes:
/// causal-conv1d 1.7.0's plan, made from its setup.py as the probe saw it
/// under the real torch (three nvcc units of nine `-gencode`s each, all into
/// `causal_conv1d_cuda`; `crates/wheelwright-plan/src/fixtures/torch-ext`),
/// against a real extension built here the way torch builds it: each unit
/// compiled by real nvcc with that unit's own `-gencode` list, the objects
/// linked by g++ into `causal_conv1d_cuda.cpython-311-x86_64-linux-gnu.so`.
/// `wheel check --report` compares each planned unit with a fatbin
/// container of that extension's binary: built as planned it passes; with
/// one unit short of sm_121 (which the other two units still carry, so the
/// binary's arch list alone agrees) and carrying an unplanned PTX, it fails
/// naming that unit.
#[test]
fn each_extension_is_checked_against_its_planned_units() {
    use wheelwright_core::builder::BuildReport;
    use wheelwright_core::plan::recipe::setup_probe::SetupProbe;
    use wheelwright_core::plan::{plan, HostSpec, PlanRequest, Recipe};

    let Some(t) = tools() else { return };
    let ctx = TestContext::new();
    let probe_json = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/wheelwright-plan/src/fixtures/torch-ext/causal_conv1d-1.7.0.json"),
    )
    .unwrap();
    let facts = HostSpec {
        cpus: Some(16),
        memory_bytes: Some(125 << 30),
        gpus: Some(vec!["9.0".into()]),
        cuda: Some("13.0".into()),
        torch: Some("2.11".into()),
        ..HostSpec::default()
    }
    .hypothetical_facts()
    .unwrap()
    .0;
    let req = PlanRequest {
        setup_probe: Some(Ok(SetupProbe::parse(&probe_json).unwrap())),
        ..PlanRequest::default()
    };
    let the_plan = plan(
        &Recipe::torch_ext("causal_conv1d-1.7.0.tar.gz"),
        &facts,
        &req,
    )
    .unwrap();
    let nvcc_units: Vec<_> = the_plan
        .unit_plan
        .iter()
        .filter(|u| u.compiler == "nvcc")
        .collect();
    assert_eq!(nvcc_units.len(), 3);
    let mut report = BuildReport::started("causal_conv1d-1.7.0.tar.gz", "torch-ext", ctx.path());
    report.plan = Some(the_plan.clone());
    let report_path = ctx.path().join("report.json");
    report.write(&report_path).unwrap();

    // Each nvcc unit's own -gencode list, as the package's setup.py passes it.
    let probe: Value = serde_json::from_str(&probe_json).unwrap();
    let units: Vec<(String, Vec<String>)> = probe["build_ext"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["compiler"] == "nvcc")
        .map(|u| {
            (
                u["source"].as_str().unwrap().to_string(),
                probe_gencodes(u["flags"].as_array().unwrap()),
            )
        })
        .collect();
    assert_eq!(units.len(), 3);
    for (source, gencodes) in &units {
        let planned = nvcc_units.iter().find(|u| &u.path == source).unwrap();
        assert_eq!(gencodes.len(), 9, "{source}");
        assert_eq!(planned.targets.len(), 9, "{source}");
    }
    let objects = ctx.path().join("objects");
    let stem = |s: &str| {
        Path::new(s)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let built: Vec<PathBuf> = units
        .iter()
        .map(|(s, g)| nvcc_object(t, &objects, &stem(s), g))
        .collect();
    let link = |dir: &str, objs: &[&Path]| -> PathBuf {
        let out = ctx
            .path()
            .join(dir)
            .join("causal_conv1d_cuda.cpython-311-x86_64-linux-gnu.so");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        // The CUDA runtime linked in statically, as nvcc links it: beside
        // nvcc in PyPI's layout (`lib/`), `lib64/` in a toolkit.
        let cuda = t.nvcc.parent().unwrap().parent().unwrap();
        let libs = ["lib", "lib64"].map(|d| cuda.join(d));
        let lib = libs
            .iter()
            .find(|d| d.join("libcudart_static.a").is_file())
            .unwrap_or_else(|| panic!("no libcudart_static.a in {libs:?}"));
        run_ok(
            Command::new("g++")
                .args(["-shared", "-o"])
                .arg(&out)
                .args(objs)
                .arg(format!("-L{}", lib.display()))
                .args(["-lcudart_static", "-ldl", "-lpthread", "-lrt"]),
        );
        out
    };
    let wheel_of = |dir: &str, so: &Path| {
        pack(
            t,
            &ctx.path().join(dir),
            "causal_conv1d-1.7.0",
            "Metadata-Version: 2.1\nName: causal_conv1d\nVersion: 1.7.0\n",
            "cp311-cp311-linux_x86_64",
            &[
                ("causal_conv1d/__init__.py", Path::new("/dev/null")),
                ("causal_conv1d_cuda.cpython-311-x86_64-linux-gnu.so", so),
            ],
        )
    };
    let report_arg = report_path.to_str().unwrap();

    // As planned: every unit found with its nine targets.
    let refs: Vec<&Path> = built.iter().map(PathBuf::as_path).collect();
    let good = wheel_of("good", &link("good", &refs));
    let run = check_json(&ctx, &[good.to_str().unwrap(), "--report", report_arg], 0);
    assert_eq!(run["extensions"][0]["extension"], "causal_conv1d_cuda");
    let bin = &run["wheels"][0]["binaries"][0];
    let ext = &bin["extension"];
    assert_eq!(ext["extension"], "causal_conv1d_cuda");
    assert_eq!(strings(&ext["planned"]).len(), 9);
    assert!(strings(&ext["missing"]).is_empty() && strings(&ext["extra"]).is_empty());
    for u in ext["units"].as_array().unwrap() {
        assert_eq!(u["found"], u["targets"], "{u}");
    }
    assert_eq!(bin["fatbin_entries"], 27);

    // One unit short of sm_121, with an unplanned PTX instead.
    let (short_source, short_gencodes) = &units[2];
    let mut gencodes: Vec<String> = short_gencodes
        .iter()
        .filter(|g| !g.ends_with("code=sm_121"))
        .cloned()
        .collect();
    assert_eq!(gencodes.len(), 8);
    gencodes.push("arch=compute_90,code=compute_90".into());
    let short = nvcc_object(t, &ctx.path().join("short"), &stem(short_source), &gencodes);
    let bad = wheel_of("bad", &link("bad", &[refs[0], refs[1], short.as_path()]));
    let b = bad.to_str().unwrap();
    let run = check_json(&ctx, &[b, "--report", report_arg], 1);
    let checked = &run["wheels"][0];
    let ids = finding_ids(checked);
    assert!(ids.contains(&"archs-missing".to_string()), "{ids:?}");
    assert!(ids.contains(&"archs-unplanned".to_string()), "{ids:?}");
    let ext = &checked["binaries"][0]["extension"];
    // The binary as a whole still has all nine SASS archs.
    assert!(strings(&ext["missing"]).is_empty(), "{ext}");
    assert_eq!(strings(&ext["extra"]), ["compute_90"]);
    let short_unit = ext["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["path"] == short_source.as_str())
        .unwrap();
    assert_eq!(strings(&short_unit["missing"]), ["sm_121"]);
    assert_eq!(strings(&short_unit["extra"]), ["compute_90"]);
    let text = ctx
        .wheelwright()
        .args(["wheel", "check", b, "--report", report_arg])
        .output()
        .unwrap();
    let text = expect_code(&text, 1);
    assert!(
        text.contains(&format!("{short_source} lacks sm_121")),
        "{text}"
    );
    assert!(
        text.contains("2 of 3 planned nvcc units found as planned"),
        "{text}"
    );
    // One arch list for the whole binary cannot see it: the plan's union passes.
    let union = strings(&run["required_archs"]["sass"]).join(";");
    check_json(&ctx, &[b, "--require-archs", &union], 0);
}
