//! Issue 27, "wheels a resolver can choose": the PEP 825 wheel-variants
//! form (experimental, `build --variants`), with real parts:
//! - the device code is real: a kernel compiled by the real nvcc (PyPI's
//!   CUDA 13, `WHEELWRIGHT_TEST_NVCC`) for `sm_90` SASS and `compute_90`
//!   PTX, packed by the fake package's build on the H100's captured host;
//! - `variant.json` and the index's `{name}-{version}-variants.json` are
//!   validated against the PEP's own JSON schema
//!   (`tests/fixtures/variants/`) by the real `check-jsonschema`;
//! - the wheelhouse `publish` writes is served over HTTP and installed from
//!   by the real pip and uv: both take the non-variant wheel, pip skipping
//!   the variant file as an invalid wheel name, uv (without its preview
//!   feature) as an unsupported variant, and uv with `--preview-features
//!   wheel-variants` fetching the `-variants.json` the page links.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::device_code::{nvcc_so, test_nvcc};
use common::fakepkg_cell::{member_bytes, read_member, sha256, Cell};
use common::h100_host::fakepkg_on_h100;
use common::index_servers::{uv_command, Server};
use common::{both, expect_code, finding, fixture, on_path, python_with_pip};
use serde_json::{json, Value};

macro_rules! require {
    ($tool:expr, $what:expr) => {
        match common::required($tool, $what) {
            Some(t) => t,
            None => return,
        }
    };
}

const LABEL: &str = "cu13torch2.11cxx11abitrue";

fn pep825_schema() -> PathBuf {
    fixture("variants/variant-schema-0.1.1.json")
}

/// The `.dist-info` directories pip or uv installed into `target`.
fn installed(target: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(target)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_lowercase())
                .filter(|n| n.ends_with(".dist-info"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn build_variants_writes_a_variant_wheel_that_pip_and_uv_skip() {
    let python = require!(python_with_pip(), "python3 with pip");
    let nvcc = require!(test_nvcc(), "nvcc (WHEELWRIGHT_TEST_NVCC or on PATH)");
    let validator = require!(common::schemas::validator(), "check-jsonschema");
    let cell = Cell::new(python.clone());
    let so = nvcc_so(
        &nvcc,
        &cell.ctx.path().join("so"),
        "k.so",
        &[
            "arch=compute_90,code=sm_90",
            "arch=compute_90,code=compute_90",
        ],
        &[],
    );
    let out = cell
        .command()
        .arg("--variants")
        .env("FAKEPKG_SO", &so)
        .output()
        .unwrap();
    expect_code(&out, 0);
    let r = cell.report();
    let wheel = PathBuf::from(r["wheel"]["path"].as_str().unwrap());
    let variant = &r["variant"];
    assert_eq!(variant["label"], LABEL, "{r}");
    assert_eq!(
        variant["properties"],
        json!({"nvidia": {"cuda_version_lower_bound": ["13.0"], "sm_arch": ["90_real", "90_virtual"]}})
    );
    let vpath = PathBuf::from(variant["wheel"]["path"].as_str().unwrap());
    let vname = variant["wheel"]["name"].as_str().unwrap();
    assert_eq!(vpath.file_name().unwrap().to_str(), Some(vname));
    assert!(
        vname.starts_with("flash_attn-2.8.3-py3-none-")
            && vname.ends_with(&format!("-{LABEL}.whl")),
        "{vname}"
    );
    assert_eq!(sha256(&vpath), variant["wheel"]["sha256"].as_str().unwrap());
    let log = std::fs::read_to_string(cell.out().join("build.log")).unwrap();
    assert!(log.contains("wrote the PEP 825 variant wheel"), "{log}");

    // The variant wheel: variant.json per the PEP's schema, the public
    // version, the pinned METADATA and the same package files.
    let vjson = read_member(&python, &vpath, ".dist-info/variant.json");
    let doc: Value = serde_json::from_str(&vjson).unwrap();
    assert_eq!(doc["default-priorities"]["namespace"], json!(["nvidia"]));
    assert_eq!(doc["variants"][LABEL], variant["properties"]);
    let vjson_file = cell.ctx.path().join("variant.json");
    std::fs::write(&vjson_file, &vjson).unwrap();
    common::schemas::validate_against(&validator, &pep825_schema(), &[&vjson_file])
        .unwrap_or_else(|e| panic!("variant.json fails PEP 825's schema: {e}"));
    let metadata = read_member(&python, &vpath, "flash_attn-2.8.3.dist-info/METADATA");
    assert!(metadata.contains("\nVersion: 2.8.3\n"), "{metadata}");
    assert!(
        metadata.contains("Requires-Dist: torch==2.11.*"),
        "{metadata}"
    );
    assert_eq!(
        member_bytes(&python, &vpath, "flash_attn/_C.so"),
        member_bytes(&python, &wheel, "flash_attn/_C.so")
    );
    let check = cell
        .ctx
        .wheelwright()
        .args(["wheel", "check", "--json"])
        .arg(&vpath)
        .output()
        .unwrap();
    let check: Value = serde_json::from_str(&expect_code(&check, 0)).unwrap();
    assert_eq!(check["wheels"][0]["passed"], true, "{check}");
    assert_eq!(check["wheels"][0]["name"]["variant"], LABEL, "{check}");

    // publish takes both byte for byte and writes the version's
    // variants.json beside the wheels and beside the page that links them.
    let house = cell.ctx.path().join("house");
    let out = cell.publish_to_wheelhouse(&house);
    expect_code(&out, 0);
    assert_eq!(
        sha256(&house.join(wheel.file_name().unwrap())),
        r["wheel"]["sha256"].as_str().unwrap()
    );
    assert_eq!(
        sha256(&house.join(vname)),
        variant["wheel"]["sha256"].as_str().unwrap()
    );
    let beside = house.join("flash_attn-2.8.3-variants.json");
    let on_page = house.join("simple/flash-attn/flash_attn-2.8.3-variants.json");
    common::schemas::validate_against(&validator, &pep825_schema(), &[&beside, &on_page])
        .unwrap_or_else(|e| panic!("variants.json fails PEP 825's schema: {e}"));
    let index: Value = serde_json::from_str(&std::fs::read_to_string(&beside).unwrap()).unwrap();
    assert_eq!(
        index, doc,
        "one variant: the index's file is its variant.json"
    );
    assert_eq!(
        std::fs::read(&on_page).unwrap(),
        std::fs::read(&beside).unwrap()
    );
    let page = std::fs::read_to_string(house.join("simple/flash-attn/index.html")).unwrap();
    assert!(
        page.contains("href=\"flash_attn-2.8.3-variants.json\""),
        "{page}"
    );
    assert!(page.contains(vname), "{page}");
    // The label's own root lists the non-variant wheel only.
    let root = std::fs::read_to_string(house.join(format!("{LABEL}/simple/flash-attn/index.html")))
        .unwrap();
    assert!(
        !root.contains(vname) && !root.contains("variants.json"),
        "{root}"
    );

    // Real installers against the served wheelhouse: the non-variant wheel.
    let server = Server::http(&python, &house, cell.ctx.path().join("http.log"));
    let index_url = format!("{}/simple", server.url);
    let pip_target = cell.ctx.path().join("pip-target");
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "-vv", "--no-deps", "--no-cache-dir"])
        .args([
            "--disable-pip-version-check",
            "--index-url",
            &index_url,
            "--target",
        ])
        .arg(&pip_target)
        .arg("flash_attn==2.8.3")
        .env("PIP_NO_INPUT", "1")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .output()
        .unwrap();
    let text = both(&pip);
    assert!(pip.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "Skipping link: invalid wheel filename: {}/{vname}",
            server.url
        )),
        "{text}"
    );
    assert!(text.contains("unsupported archive format: .json"), "{text}");
    assert_eq!(
        installed(&pip_target),
        [format!("flash_attn-2.8.3+{LABEL}.dist-info")]
    );

    let Some(uv) = on_path("uv") else {
        return common::prerequisite_missing("uv on PATH (the uv half of the variants test)");
    };
    let uv_install = |spec: &str, target: &Path, preview: bool| {
        let mut cmd = uv_command(&uv, &python, &index_url, target, spec);
        cmd.args(["-v", "--no-deps"]);
        if preview {
            cmd.args(["--preview-features", "wheel-variants"]);
        }
        cmd.output().unwrap()
    };
    for preview in [false, true] {
        let target = cell.ctx.path().join(format!("uv-target-{preview}"));
        let out = uv_install("flash_attn==2.8.3", &target, preview);
        let text = both(&out);
        assert!(out.status.success(), "preview {preview}: {text}");
        // `2.8.3+label` is the highest 2.8.3: the variant's version (the
        // public one) is never a candidate, with or without variant support.
        assert_eq!(
            installed(&target),
            [format!("flash_attn-2.8.3+{LABEL}.dist-info")],
            "preview {preview}: {text}"
        );
    }
    assert!(!server.log_text().contains("variants.json"));

    // Only the variant can satisfy `===2.8.3`: pip finds nothing (it skips
    // the file name); uv without the preview refuses it as an unsupported
    // variant; uv with `wheel-variants` fetches the linked variants.json and
    // asks its NVIDIA provider, which needs a driver (none on the test
    // machines: refused the same way; with one, the variant installs).
    let pip_exact = Command::new(&python)
        .args(["-m", "pip", "install", "--no-deps", "--no-cache-dir"])
        .args([
            "--disable-pip-version-check",
            "--index-url",
            &index_url,
            "--target",
        ])
        .arg(cell.ctx.path().join("pip-exact"))
        .arg("flash_attn===2.8.3")
        .env("PIP_NO_INPUT", "1")
        .output()
        .unwrap();
    assert!(!pip_exact.status.success());
    assert!(
        both(&pip_exact).contains("No matching distribution found"),
        "{}",
        both(&pip_exact)
    );
    for preview in [false, true] {
        let target = cell.ctx.path().join(format!("uv-exact-{preview}"));
        let out = uv_install("flash_attn===2.8.3", &target, preview);
        let text = both(&out);
        if out.status.success() {
            assert!(preview, "{text}");
            assert_eq!(installed(&target), ["flash_attn-2.8.3.dist-info"], "{text}");
        } else {
            assert!(
                text.contains("has only unsupported wheel variants"),
                "{text}"
            );
        }
    }
    let requests = server.log_text();
    assert_eq!(
        requests
            .matches("GET /simple/flash-attn/flash_attn-2.8.3-variants.json")
            .count(),
        1,
        "only uv with wheel-variants asks for the variants file: {requests}"
    );
}

#[test]
fn a_wheel_without_a_variant_label_fails_the_build_with_a_hint() {
    let python = require!(python_with_pip(), "python3 with pip");
    let cell = Cell::new(python);
    // The torch-ext recipe sets no FLASH_ATTN_LOCAL_VERSION: the fake
    // package's wheel has no local label to name a variant.
    let mut cmd = cell.ctx.wheelwright();
    fakepkg_on_h100(
        &mut cmd,
        &cell.ctx,
        &cell.build.state,
        "ok",
        &cell.real_python,
    );
    let out = cmd
        .arg("build")
        .arg(&cell.build.tree)
        .arg("--python")
        .arg(&cell.build.python)
        .args(["--recipe", "torch-ext", "--max-jobs", "4", "--variants"])
        .arg("--work-dir")
        .arg(cell.ctx.path().join("work"))
        .arg("--out")
        .arg(cell.out())
        .output()
        .unwrap();
    expect_code(&out, 1);
    let r = cell.report();
    let f = finding(&r, "variant-not-written");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("has no local version label"),
        "{f}"
    );
    assert!(
        f["fix"].as_str().unwrap().contains("drop --variants"),
        "{f}"
    );
    let text = both(&out);
    assert!(
        text.contains("has no local version label")
            && text.contains("fix: give the wheel a local version label"),
        "{text}"
    );
    // The wheel itself is kept and recorded; no variant is.
    assert!(r["wheel"]["path"].is_string(), "{r}");
    assert!(r.get("variant").is_none(), "{r}");
}
