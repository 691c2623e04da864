//! `wheelwright plan` on the recipes beyond flash-attn 2.8.3, through the real
//! binary, on trees rebuilt from the committed extracts of the flash-attention
//! repository at commit 0251105a (`crates/wheelwright-plan/src/fixtures/`:
//! its real file names, `setup.py` files and `__init__.py`s): flash-attn main
//! (2.8.4) and flash-attn 3 with its switches read from the environment.

mod common;

use std::path::Path;

use common::{expect_code, TestContext};
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/wheelwright-plan/src/fixtures"
);

const H200: &[&str] = common::SM90_HOST;

/// The switches `bench/device/fa3-reduced.sh` turns off (its `SWITCHES=`
/// line): the reduced build that ran on the H200.
fn reduced() -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/device/fa3-reduced.sh");
    std::fs::read_to_string(script)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SWITCHES=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("bench/device/fa3-reduced.sh sets SWITCHES=\"...\"")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn copy(from: &str, root: &Path, to: &str) {
    let dest = root.join(to);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join(from), dest).unwrap();
}

/// flash-attention's tree as far as the recipes read it.
fn tree(root: &Path) {
    for list in ["flash-attn-main/files.txt", "flash-attn-3/files.txt"] {
        let text = std::fs::read_to_string(Path::new(FIXTURES).join(list)).unwrap();
        for f in text.lines() {
            common::write_file(root, f, "");
        }
    }
    copy("flash-attn-main/setup.py", root, "setup.py");
    copy(
        "flash-attn-main/__init__.py",
        root,
        "flash_attn/__init__.py",
    );
    copy("flash-attn-3/setup.py", root, "hopper/setup.py");
    copy("flash-attn-3/__init__.py", root, "hopper/__init__.py");
}

fn plan_json(ctx: &TestContext, args: &[&str], env: &[(String, String)]) -> Value {
    let out = ctx
        .wheelwright()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["plan", "--json"])
        .args(args)
        .args(H200)
        .output()
        .unwrap();
    serde_json::from_str(&expect_code(&out, 0)).unwrap()
}

#[test]
fn flash_attn_main_tree_from_its_setup_py() {
    let ctx = TestContext::new();
    let src = ctx.path().join("flash-attention");
    tree(&src);
    let src = src.to_str().unwrap();
    let p = plan_json(&ctx, &["--recipe", "flash-attn", "--source", src], &[]);
    assert_eq!(p["units"], 97);
    assert_eq!(p["recipe_version"], "2.8.4");
    assert_eq!(
        p["gencode_flags"],
        serde_json::json!([
            "arch=compute_90,code=sm_90",
            "arch=compute_90,code=compute_90"
        ])
    );
    assert_eq!(p["costs"]["measured"], 69);
    assert_eq!(p["costs"]["class_mean"], 28);
    let not = p["costs"]["not_measured"].as_object().unwrap();
    assert_eq!(not.keys().filter(|k| k.contains("split_align")).count(), 24);
    // The table says it too.
    let out = ctx
        .wheelwright()
        .args(["plan", "--recipe", "flash-attn", "--source", src])
        .args(H200)
        .output()
        .unwrap();
    let text = expect_code(&out, 0);
    assert!(
        text.contains("costs-estimated: 69 measured, 28 at their class mean"),
        "{text}"
    );
}

#[test]
fn flash_attn_3_switches_come_from_the_environment() {
    let ctx = TestContext::new();
    let src = ctx.path().join("flash-attention");
    tree(&src);
    let hopper = src.join("hopper");
    let hopper = hopper.to_str().unwrap();
    let args = ["--recipe", "flash-attn-3", "--source", hopper];
    // No switch: the H200 has no 8.x GPU, so only the sm_80 kernels go.
    let p = plan_json(&ctx, &args, &[]);
    assert_eq!(p["units"], 233);
    assert_eq!(p["env"]["FLASH_ATTENTION_DISABLE_SM80"], "TRUE");
    // The reduced device build.
    let reduced = reduced();
    assert_eq!(reduced.len(), 11, "{reduced:?}");
    let env: Vec<(String, String)> = reduced
        .iter()
        .map(|s| (format!("FLASH_ATTENTION_DISABLE_{s}"), "TRUE".to_string()))
        .collect();
    let p = plan_json(&ctx, &args, &env);
    assert_eq!(p["units"], 12);
    assert_eq!(p["recipe"], "flash-attn-3");
    assert_eq!(p["archs"], serde_json::json!(["80", "90a"]));
    // Its 12 units are the ones measured on the H200 (data/fa3_costs.tsv,
    // bench/results/h200-fa3-reduced): none estimated.
    assert_eq!(p["costs"]["measured"], 12);
    assert_eq!(p["costs"]["estimated"], 0);
    assert_eq!(p["costs"]["methods"], serde_json::json!([]));
    for s in &reduced {
        assert_eq!(p["env"][format!("FLASH_ATTENTION_DISABLE_{s}")], "TRUE");
    }
    // 12 units on 16 cores and 125 GiB: all at once or nearly.
    assert!(p["max_jobs"].as_u64().unwrap() >= 8, "{}", p["max_jobs"]);
    let wall = p["predicted_longest_first"]["wall_seconds"]
        .as_f64()
        .unwrap();
    assert!((60.0..1800.0).contains(&wall), "{wall}");
    // The table does not claim every compile gets every gencode: flash-attn
    // 3's kernel files each get their own arch's only.
    let out = ctx
        .wheelwright()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("plan")
        .args(args)
        .args(H200)
        .output()
        .unwrap();
    let text = expect_code(&out, 0);
    assert!(
        text.contains("each kernel compiles its own arch's"),
        "{text}"
    );
    assert!(!text.contains("per nvcc compile"), "{text}");
}
