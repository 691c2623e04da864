//! The programs under `examples/` run as another CI would run them:
//! `detect_plan` on the H100 host of the detect fixtures.

mod common;

use std::process::Command;

use common::{
    copy_tree, example_binary, h100_host_config, write_executable, HostCaptures, TestContext,
};
use serde_json::Value;

#[test]
fn detect_plan_prints_the_facts_and_plan_of_a_host_given_on_the_command_line() {
    let ctx = TestContext::new();
    let caps = HostCaptures::new("h100-cuda13.0");
    let root = ctx.path().join("root");
    copy_tree(&caps.file("root"), &root);
    caps.nvidia_smi(&ctx.bin);
    let cuda = ctx.path().join("cuda-13.0");
    caps.cuda(&cuda, &h100_host_config());
    for c in ["gcc-13", "g++-13"] {
        let (dump, version) = (
            format!("{c}-dumpfullversion.txt"),
            format!("{c}-version.txt"),
        );
        caps.compiler(&ctx.bin, c, &dump, &version);
    }
    let python = write_executable(
        &ctx.path().join("venv/bin/python3"),
        &format!(
            "#!/bin/sh\nexec cat '{}'\n",
            caps.file("probe.json").display()
        ),
    );
    let sysbin = ctx.system_tools(&["sh", "cat"]);
    let out = Command::new(example_binary("detect_plan"))
        .env_clear()
        .arg("--root")
        .arg(&root)
        .arg("--path")
        .arg(format!("{}:{}", ctx.bin.display(), sysbin.display()))
        .arg("--cuda-home")
        .arg(&cuda)
        .arg("--python")
        .arg(&python)
        .output()
        .unwrap();
    let stdout = common::expect_code(&out, 0);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["facts"]["gpus"][0]["name"], "NVIDIA H100 80GB HBM3");
    assert_eq!(v["facts"]["cuda"]["version"], "13.0");
    assert_eq!(v["facts"]["torch"]["cxx11_abi"], true);
    // sm_90 from the GPU; the build's environment follows from the facts.
    assert_eq!(v["plan"]["env"]["FLASH_ATTN_CUDA_ARCHS"], "90");
    assert_eq!(
        v["plan"]["env"]["FLASH_ATTN_LOCAL_VERSION"],
        "cu13torch2.11cxx11abiTRUE"
    );
    assert!(v["plan"]["max_jobs"].as_u64().unwrap() >= 1);
}
