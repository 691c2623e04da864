//! Plans of the recipes beyond flash-attn 2.8.3, on trees rebuilt from the
//! committed extracts of the real flash-attention repository (`fixtures/`:
//! its file names and `setup.py` files at commit 0251105a): flash-attn main
//! (2.8.4, 96 `.cu` files) and flash-attn 3 (`hopper/`).

use std::path::Path;

use super::*;
use crate::test_support::write_file;
use wheelwright_base::units::GIB;

const MAIN_FILES: &str = include_str!("fixtures/flash-attn-main/files.txt");
const MAIN_SETUP: &str = include_str!("fixtures/flash-attn-main/setup.py");
const MAIN_INIT: &str = include_str!("fixtures/flash-attn-main/__init__.py");
const FA3_FILES: &str = include_str!("fixtures/flash-attn-3/files.txt");
const FA3_SETUP: &str = include_str!("fixtures/flash-attn-3/setup.py");
const FA3_INIT: &str = include_str!("fixtures/flash-attn-3/__init__.py");

/// The switches `bench/device/fa3-reduced.sh` turns off (its `SWITCHES=`
/// line): the reduced build that ran on the H200.
fn reduced() -> Vec<&'static str> {
    include_str!("../../../bench/device/fa3-reduced.sh")
        .lines()
        .find_map(|l| l.strip_prefix("SWITCHES=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("bench/device/fa3-reduced.sh sets SWITCHES=\"...\"")
        .split_whitespace()
        .collect()
}

/// flash-attention's tree as far as the recipes read it: every listed file
/// (empty), the real `setup.py` files and `__init__.py`s.
pub(crate) fn flash_attention_tree(root: &Path) {
    for f in MAIN_FILES.lines().chain(FA3_FILES.lines()) {
        write_file(root, f, "");
    }
    write_file(root, "setup.py", MAIN_SETUP);
    write_file(root, "flash_attn/__init__.py", MAIN_INIT);
    write_file(root, "hopper/setup.py", FA3_SETUP);
    write_file(root, "hopper/__init__.py", FA3_INIT);
}

fn h100(cuda: &str) -> Facts {
    HostSpec {
        cpus: Some(16),
        memory_bytes: Some(128 * GIB),
        gpus: Some(vec!["9.0".into()]),
        cuda: Some(cuda.into()),
        torch: Some("2.11".into()),
        ..HostSpec::default()
    }
    .hypothetical_facts()
    .unwrap()
    .0
}

fn no_gpu(cuda: &str) -> Facts {
    HostSpec {
        cpus: Some(16),
        memory_bytes: Some(128 * GIB),
        cuda: Some(cuda.into()),
        torch: Some("2.11".into()),
        ..HostSpec::default()
    }
    .hypothetical_facts()
    .unwrap()
    .0
}

fn req(source: &Path, env: &[(&str, &str)]) -> PlanRequest {
    PlanRequest {
        source: Some(source.to_path_buf()),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PlanRequest::default()
    }
}

#[test]
fn flash_attn_main_plans_its_96_kernels_with_its_own_gencodes() {
    let dir = tempfile::tempdir().unwrap();
    flash_attention_tree(dir.path());
    let recipe = Recipe::flash_attn("2.8.4");
    let p = plan(&recipe, &h100("13.0"), &req(dir.path(), &[])).unwrap();
    assert_eq!(p.units, 97, "96 .cu + flash_api.cpp");
    assert_eq!(p.recipe_version.as_deref(), Some("2.8.4"));
    // main's setup.py adds PTX for the newest arch.
    assert_eq!(
        p.gencode_flags,
        [
            "arch=compute_90,code=sm_90",
            "arch=compute_90,code=compute_90"
        ]
    );
    assert_eq!(p.gencodes, 2);
    // The 69 units of the reference build are measured; main's 24 split_align
    // files and 2.8.3's 4 unlogged split files take their class's mean.
    assert_eq!(p.costs.measured, 69);
    assert_eq!(p.costs.class_mean, 28);
    assert_eq!(p.costs.estimated + p.costs.generic + p.costs.kind_mean, 0);
    assert_eq!(
        p.costs
            .not_measured
            .get("csrc/flash_attn/src/flash_fwd_split_align_hdim128_bf16_causal_sm80.cu")
            .map(String::as_str),
        Some("class_mean")
    );
    assert!(p
        .findings
        .iter()
        .any(|f| f.id == "costs-estimated" && f.title == "28 of 97 compile costs are estimates"));
    // flash-attn's own MAX_JOBS in main: 5 GB per nvcc thread.
    assert!(p.baselines[0].description.contains("5 x NVCC_THREADS"));

    // Without GPUs: main's default list, read from its setup.py, on CUDA 13.
    let p = plan(&recipe, &no_gpu("13.0"), &req(dir.path(), &[])).unwrap();
    assert_eq!(p.archs, ["80", "90", "100", "110", "120"]);
    assert_eq!(p.env["FLASH_ATTN_CUDA_ARCHS"], "80;90;100;110;120");
    assert_eq!(p.gencodes, 6);
    assert!(p
        .gencode_flags
        .contains(&"arch=compute_110f,code=sm_110".to_string()));
    assert!(!p.findings.iter().any(|f| f.id == "arch-unsupported"));
}

#[test]
fn flash_attn_3_default_tree_is_293_units_priced_by_their_measurements() {
    let dir = tempfile::tempdir().unwrap();
    flash_attention_tree(dir.path());
    let recipe = Recipe::flash_attn_3();
    // The repository root or hopper/ itself.
    for src in [dir.path().to_path_buf(), dir.path().join("hopper")] {
        let p = plan(&recipe, &no_gpu("13.0"), &req(&src, &[])).unwrap();
        assert_eq!(p.recipe, "flash-attn-3");
        assert_eq!(p.recipe_version.as_deref(), Some("3.0.0"));
        assert_eq!(p.units, 293);
        // Each unit data/fa3_costs.tsv measured (12 on the GPU machine: the
        // 10 plain sm90 forward files, flash_prepare_scheduler and
        // flash_api_stable; the others on the CPU box) is priced by it; at
        // the default switches the CPU box's 9-kernel compile of a forward
        // file is nearer than the GPU build's 4-kernel one.
        let tsv = fa3_cost::Fa3Costs::embedded();
        // Two measured files are not in the default build (only its
        // softcapall backward and sm80 files are).
        let measured = tsv.measured.len() as u32 - 2;
        assert!(tsv.measured.contains_key("flash_bwd_hdim96_bf16_sm90"));
        assert!(tsv.measured.contains_key("flash_fwd_hdim96_fp16_sm80"));
        assert!(measured > 12, "{measured}");
        assert_eq!(p.costs.measured, measured);
        assert_eq!(p.costs.estimated, 293 - measured);
        assert_eq!(p.costs.not_measured.len() as u32, 293 - measured);
        let cpu_only = tsv
            .measured
            .values()
            .filter(|v| v.iter().all(|m| m.source == fa3_cost::Fa3Source::CpuBox))
            .count();
        assert!(p.costs.measured_cpu_box.len() > cpu_only);
        assert!(p
            .costs
            .measured_cpu_box
            .contains(&"instantiations/flash_fwd_hdim128_bf16_sm90.cu".to_string()));
        assert!(!p
            .costs
            .not_measured
            .keys()
            .any(|k| k.contains("flash_fwd_hdim128_bf16_sm90.cu") || k.contains("flash_prepare")));
        assert_eq!(p.costs.methods.len(), 2, "{:?}", p.costs.methods);
        assert!(p.costs.methods[0].contains("data/fa3_costs.tsv"));
        assert!(p.costs.methods[1].starts_with("measured_cpu_box: "));
        assert_eq!(p.archs, ["80", "90a"]);
        assert_eq!(p.gencodes, 2, "combine and scheduler: sm_90a + sm_80");
        assert!(p.env.contains_key("NVCC_THREADS"));
        assert!(!p.env.contains_key("TORCH_CUDA_ARCH_LIST"));
        assert!(!p
            .env
            .keys()
            .any(|k| k.starts_with("FLASH_ATTENTION_DISABLE")));
        assert_eq!(p.env["FLASH_ATTENTION_FORCE_BUILD"], "TRUE");
        assert_eq!(p.baselines[0].nvcc_threads, 2, "setup.py's default");
        assert!(!p.refused(), "{:?}", p.findings);
    }
    // An H100 host: no 8.x GPU, so the sm_80 kernels are left out.
    let p = plan(&recipe, &h100("13.0"), &req(dir.path(), &[])).unwrap();
    assert_eq!(p.units, 233);
    assert_eq!(p.env["FLASH_ATTENTION_DISABLE_SM80"], "TRUE");
    assert!(p.findings.iter().any(|f| f.id == "fa3-sm80-off"));
    // ... unless the environment says otherwise.
    let keep = req(dir.path(), &[("FLASH_ATTENTION_DISABLE_SM80", "FALSE")]);
    assert_eq!(plan(&recipe, &h100("13.0"), &keep).unwrap().units, 293);
    // The built-in list is the same as the tree's.
    let built_in = plan(&recipe, &no_gpu("13.0"), &PlanRequest::default()).unwrap();
    assert_eq!(built_in.units, 293);
    assert!(built_in.source.contains("built-in"));
}

#[test]
fn flash_attn_3_reduced_switches_and_toolchain_findings() {
    let dir = tempfile::tempdir().unwrap();
    flash_attention_tree(dir.path());
    let reduced = reduced();
    assert_eq!(reduced.len(), 11, "{reduced:?}");
    let env: Vec<(String, &str)> = reduced
        .iter()
        .map(|s| (fa3::disable_var(s), "TRUE"))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let recipe = Recipe::flash_attn_3();
    let p = plan(&recipe, &h100("13.0"), &req(dir.path(), &env)).unwrap();
    // 5 head dims x {bf16, fp16} forward sm90 + flash_api_stable.cpp +
    // flash_prepare_scheduler.cu.
    assert_eq!(p.units, 12);
    for s in &reduced {
        assert_eq!(p.env[&fa3::disable_var(s)], "TRUE", "{s}");
    }
    assert!(p.predicted.wall_seconds > 60.0);
    assert!(p.predicted.peak_memory_bytes < p.memory_ceiling_bytes);
    // Fewer kernels per file (no local, no appendkv) than the default files.
    let full = plan(&recipe, &h100("13.0"), &req(dir.path(), &[])).unwrap();
    let model = CostModel::measured();
    let unit = |p: &Plan| {
        let su = recipe::resolve_units_with(
            &recipe,
            Some(dir.path()),
            recipe::UnitContext {
                env: Some(&p.env),
                torch_version: Some("2.11.0"),
                probe: None,
            },
        )
        .unwrap();
        let u = su
            .units
            .into_iter()
            .find(|u| u.path == "instantiations/flash_fwd_hdim128_bf16_sm90.cu")
            .unwrap();
        model.unit_cost(&u).seconds
    };
    // The GPU build's 4-kernel file against the CPU box's 9-kernel one: the
    // CPU box measured the same ratio at 0.67 (bench/results/cpu-fa3-units).
    assert!(unit(&p) < 0.8 * unit(&full), "{} {}", unit(&p), unit(&full));

    // A switch set to 1 is not TRUE for setup.py: a warning, not a switch.
    let p = plan(
        &recipe,
        &h100("13.0"),
        &req(dir.path(), &[("FLASH_ATTENTION_DISABLE_BACKWARD", "1")]),
    )
    .unwrap();
    assert_eq!(p.units, 233);
    assert!(
        p.findings
            .iter()
            .any(|f| f.id == "recipe-note"
                && f.message.contains("FLASH_ATTENTION_DISABLE_BACKWARD=1"))
    );
    // CUDA 12.6 makes setup.py download a toolchain; 12.2 is refused.
    let p = plan(&recipe, &h100("12.6"), &req(dir.path(), &[])).unwrap();
    assert!(p.findings.iter().any(|f| f.id == "fa3-toolchain-download"));
    let p = plan(&recipe, &h100("12.2"), &req(dir.path(), &[])).unwrap();
    assert!(p.refused());
}

#[test]
fn flash_attn_3_tree_of_another_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    flash_attention_tree(dir.path());
    std::fs::remove_file(
        dir.path()
            .join("hopper/instantiations/flash_fwd_hdim96_fp16_sm90.cu"),
    )
    .unwrap();
    let e = plan(
        &Recipe::flash_attn_3(),
        &no_gpu("13.0"),
        &req(dir.path(), &[]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("instantiations/flash_fwd_hdim96_fp16_sm90.cu"),
        "{e}"
    );
    // flash-attn 2's tree is not flash-attn 3's.
    let e = plan(
        &Recipe::flash_attn_3(),
        &no_gpu("13.0"),
        &req(&dir.path().join("csrc"), &[]),
    )
    .unwrap_err();
    assert!(matches!(e, PlanError::NoUnits { .. }), "{e}");
    assert!(!e.hint().is_empty());
}

#[test]
fn a_measured_flash_attn_3_unit_replaces_its_estimate() {
    let u = recipe::fa3_units(
        &["instantiations/flash_fwd_hdim128_bf16_sm90.cu".into()],
        (9, 9),
    );
    // Without measured rows (the embedded factors only), an estimate.
    let factors_only: String = fa3_cost::FA3_COSTS_TSV
        .lines()
        .filter(|l| !l.starts_with("unit") && !l.starts_with("cpu-unit"))
        .map(|l| format!("{l}\n"))
        .collect();
    let est = CostModel::measured()
        .with_fa3_costs(&factors_only)
        .unit_cost(&u[0]);
    assert_eq!(est.time_basis, cost::CostBasis::Estimate);
    let measured = CostModel::measured()
        .with_fa3_costs("unit flash_fwd_hdim128_bf16_sm90 210.5 7.25\n")
        .unit_cost(&u[0]);
    assert_eq!(measured.time_basis, cost::CostBasis::Unit);
    assert_eq!(measured.seconds, 210.5);
    assert_eq!(measured.peak_bytes, (7.25 * GIB as f64) as u64);
    // A time from a parallel build's log, its peak still estimated.
    let timed = CostModel::measured()
        .with_fa3_costs(&format!(
            "{factors_only}unit flash_fwd_hdim128_bf16_sm90 180 -\n"
        ))
        .unit_cost(&u[0]);
    assert_eq!(
        (timed.time_basis, timed.memory_basis),
        (cost::CostBasis::Unit, cost::CostBasis::Estimate)
    );
    assert_eq!((timed.seconds, timed.peak_bytes), (180.0, est.peak_bytes));
}

#[test]
fn a_flash_attn_3_forward_file_measured_with_fewer_kernels_is_scaled_to_the_planned_switches() {
    // The embedded GPU measurement (bench/results/h200-fa3-reduced): 83.8 s
    // with LOCAL and APPENDKV off, 4 of the 9 default forward kernels.
    let path = "instantiations/flash_fwd_hdim128_bf16_sm90.cu".to_string();
    let units = |k: (u32, u32)| recipe::fa3_units(std::slice::from_ref(&path), k);
    let reduced = CostModel::measured().unit_cost(&units((4, 9))[0]);
    assert_eq!(reduced.time_basis, cost::CostBasis::Unit);
    assert!((reduced.seconds - 83.8).abs() < 1e-9, "{}", reduced.seconds);
    // At the default switches the CPU box's compile of all 9 is nearer.
    let default = CostModel::measured().unit_cost(&units((9, 9))[0]);
    assert_eq!(default.time_basis, cost::CostBasis::CpuBox);
    let costs = fa3_cost::Fa3Costs::embedded();
    let cpu = costs
        .measured
        .get("flash_fwd_hdim128_bf16_sm90")
        .and_then(|v| v.iter().find(|m| m.source == fa3_cost::Fa3Source::CpuBox))
        .unwrap();
    assert_eq!(default.seconds, cpu.seconds);
    // With the GPU row alone, 9 kernels are 83.8 s scaled by the fixed share.
    let gpu_only: String = fa3_cost::FA3_COSTS_TSV
        .lines()
        .filter(|l| !l.starts_with("cpu-unit"))
        .map(|l| format!("{l}\n"))
        .collect();
    let scaled = CostModel::measured()
        .with_fa3_costs(&gpu_only)
        .unit_cost(&units((9, 9))[0]);
    let want = 83.8 / costs.kernel_scale(4, 9);
    assert!(
        (scaled.seconds - want).abs() < 1e-9,
        "{} vs {want}",
        scaled.seconds
    );
    // The two measurements of the same file agree within 15 %.
    assert!(
        (scaled.seconds / cpu.seconds - 1.0).abs() < 0.15,
        "{} vs {}",
        scaled.seconds,
        cpu.seconds
    );
    // A file measured nowhere keeps the estimate.
    let other = CostModel::measured().unit_cost(
        &recipe::fa3_units(
            &["instantiations/flash_fwd_hdim96_bf16_paged_split_sm90.cu".into()],
            (9, 9),
        )[0],
    );
    assert_eq!(other.time_basis, cost::CostBasis::Estimate);
}
