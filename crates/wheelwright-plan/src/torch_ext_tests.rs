//! Plans of three real torch CUDA extensions from PyPI (the sdists in
//! `tests/fixtures/torch-ext/`), from what their `setup.py` files compile as
//! the setup.py probe saw it under the real torch 2.11.0+cu130 and nvcc 13.0
//! with `TORCH_CUDA_ARCH_LIST=9.0+PTX` (`fixtures/torch-ext/*.json`, the
//! probe's unedited output; `bench/torch-ext/README.md`), on the GPU
//! machine's shape: 16 CPUs, 125 GiB, one sm_90 GPU, CUDA 13.0.

use super::recipe::setup_probe::{ProbeGap, SetupProbe};
use super::*;
use wheelwright_base::units::GIB;

fn probe(name: &str) -> SetupProbe {
    let path = format!(
        "{}/src/fixtures/torch-ext/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    SetupProbe::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h200() -> Facts {
    HostSpec {
        cpus: Some(16),
        memory_bytes: Some(125 * GIB),
        gpus: Some(vec!["9.0".into()]),
        cuda: Some("13.0".into()),
        torch: Some("2.11".into()),
        ..HostSpec::default()
    }
    .hypothetical_facts()
    .unwrap()
    .0
}

fn plan_of(name: &str) -> Plan {
    let req = PlanRequest {
        setup_probe: Some(Ok(probe(name))),
        ..PlanRequest::default()
    };
    plan(&Recipe::torch_ext(format!("{name}.tar.gz")), &h200(), &req).unwrap()
}

fn finding<'a>(p: &'a Plan, id: &str) -> Option<&'a Finding> {
    p.findings.iter().find(|f| f.id == id)
}

/// causal-conv1d: nine gencodes per .cu of its own (whatever
/// TORCH_CUDA_ARCH_LIST says), its force-build switch set, and nvcc's threads
/// through NVCC_APPEND_FLAGS over its own `--threads 4`: the build.
#[test]
fn causal_conv1d_is_planned_from_its_own_gencodes() {
    let p = plan_of("causal_conv1d-1.7.0");
    assert_eq!(p.units, 4);
    assert_eq!(
        p.archs,
        ["75", "80", "87", "90", "100", "103", "110", "120", "121"]
    );
    assert_eq!(p.gencodes, 9);
    let cu: Vec<&torch_ext::PlannedUnit> = p
        .unit_plan
        .iter()
        .filter(|u| u.compiler == "nvcc")
        .collect();
    assert_eq!(cu.len(), 3);
    for u in &cu {
        assert_eq!(u.gencodes, 9, "{}", u.path);
        assert_eq!(u.targets.len(), 9);
        assert_eq!(u.threads, p.nvcc_threads);
        assert_eq!(u.extension.as_deref(), Some("causal_conv1d_cuda"));
    }
    // Three 9-gencode units on 16 cores: more threads than its own 4.
    assert!(p.nvcc_threads > 4, "threads {}", p.nvcc_threads);
    assert_eq!(
        p.env.get("NVCC_APPEND_FLAGS").map(String::as_str),
        Some(format!("--threads {}", p.nvcc_threads).as_str())
    );
    assert!(!p.env.contains_key("NVCC_THREADS"), "it does not read it");
    assert_eq!(
        p.env.get("CAUSAL_CONV1D_FORCE_BUILD").map(String::as_str),
        Some("TRUE")
    );
    let sw = finding(&p, torch_ext::SETUP_PY_SWITCH).expect("the switch is said");
    assert!(
        sw.message
            .contains("github.com/Dao-AILab/causal-conv1d/releases"),
        "{}",
        sw.message
    );
    let setup = p.setup_py.as_ref().unwrap();
    assert_eq!(setup.method, "setup.py");
    assert_eq!(setup.backend, "ninja");
    // The plan's archs are what `wheel check --report` will require.
    let required =
        wheelwright_wheel::archs::RequiredArchs::from_gencodes(&p.gencode_flags, &p.archs, "plan")
            .unwrap();
    assert_eq!(required.sass.len(), 9);
    assert!(required.ptx.is_empty());
}

/// spatial-correlation-sampler: torch's flags for TORCH_CUDA_ARCH_LIST, one
/// .cu of two targets among three units: few units, so the plan says why
/// most of 16 cores stay idle.
#[test]
fn spatial_correlation_sampler_takes_torchs_archs_and_says_why_cores_idle() {
    let p = plan_of("spatial_correlation_sampler-0.5.0");
    assert_eq!(p.units, 3);
    assert_eq!(p.archs, ["90"]);
    assert_eq!(
        p.gencode_flags,
        [
            "arch=compute_90,code=compute_90",
            "arch=compute_90,code=sm_90"
        ]
    );
    let cu: Vec<&torch_ext::PlannedUnit> = p
        .unit_plan
        .iter()
        .filter(|u| u.compiler == "nvcc")
        .collect();
    assert_eq!(cu.len(), 1);
    assert_eq!(cu[0].targets, ["sm_90", "compute_90"]);
    assert_eq!(p.nvcc_threads, 2, "one thread per target");
    assert_eq!(p.env["NVCC_APPEND_FLAGS"], "--threads 2");
    let idle = finding(&p, torch_ext::CORES_IDLE).expect("3 units cannot fill 16 cores");
    assert!(
        idle.message.contains("3 units for 16 cores"),
        "{}",
        idle.message
    );
    assert!(finding(&p, torch_ext::SETUP_PY_SWITCH).is_none());
}

/// torch-scatter: eight extensions and ninja turned off: one file at a
/// time, so MAX_JOBS is 1 and the plan says so; FORCE_CUDA=1 found because
/// torch saw no GPU where the probe ran.
#[test]
fn torch_scatter_compiles_one_file_at_a_time() {
    let p = plan_of("torch_scatter-2.1.2");
    assert_eq!(p.units, 17);
    assert_eq!(p.max_jobs, 1);
    assert_eq!(p.setup_py.as_ref().unwrap().backend, "one file at a time");
    assert_eq!(p.setup_py.as_ref().unwrap().extensions.len(), 8);
    assert_eq!(p.env["FORCE_CUDA"], "1");
    assert_eq!(
        p.unit_plan.iter().filter(|u| u.compiler == "nvcc").count(),
        3
    );
    let idle = finding(&p, torch_ext::CORES_IDLE).expect("a serial build idles");
    assert!(
        idle.message.contains("one file at a time"),
        "{}",
        idle.message
    );
    // Back to back, whatever the order: both orders take as long.
    assert!(p.predicted.wall_seconds > 0.0);
    assert_eq!(
        p.predicted.wall_seconds,
        p.predicted_longest_first.wall_seconds
    );
}

/// No torch where the plan is made: today's file scan, with a warning that
/// says what is unknown.
#[test]
fn without_the_probe_the_file_scan_says_what_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    crate::test_support::write_file(dir.path(), "setup.py", "");
    crate::test_support::write_file(dir.path(), "csrc/a.cu", "");
    crate::test_support::write_file(dir.path(), "csrc/b.cpp", "");
    let req = PlanRequest {
        setup_probe: Some(Err(ProbeGap::NoTorch(
            "python3 has no importable torch".into(),
        ))),
        ..PlanRequest::default()
    };
    let p = plan(&Recipe::torch_ext(dir.path()), &h200(), &req).unwrap();
    assert_eq!(p.units, 2);
    assert!(p.unit_plan.is_empty());
    let f = finding(&p, torch_ext::SETUP_PY_UNKNOWN).expect("a warning");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("no importable torch"), "{}", f.message);
    assert!(f.message.contains("-gencode"), "{}", f.message);
    assert_eq!(p.setup_py.as_ref().unwrap().method, "file scan");
}

/// This CPU box: 2 CPUs, 23 GiB, no GPU (the plan's archs come from the
/// packages' own flags or the plan's default list).
fn cpu_box() -> Facts {
    HostSpec {
        cpus: Some(2),
        memory_bytes: Some(23 * GIB),
        cuda: Some("13.0".into()),
        torch: Some("2.11".into()),
        ..HostSpec::default()
    }
    .hypothetical_facts()
    .unwrap()
    .0
}

/// The share of the cores a plan keeps busy: the CPU-seconds its units
/// need at the plan's threads (the model's time alone × the cores each
/// keeps busy) over the cores × the plan's predicted wall in ninja's order.
fn busy_share(name: &str, p: &Plan) -> f64 {
    use super::recipe::{resolve_units_with, UnitContext};
    let probe = Ok(probe(name));
    let su = resolve_units_with(
        &Recipe::torch_ext(format!("{name}.tar.gz")),
        None,
        UnitContext {
            probe: Some(&probe),
            ..UnitContext::default()
        },
    )
    .unwrap();
    let model = super::cost::CostModel::measured();
    let work: f64 = search::jobs_for(&model, &su.units, p.gencodes.max(1), p.nvcc_threads)
        .iter()
        .map(|j| j.alone_seconds * j.cpu_demand)
        .sum();
    work / (p.predicted.wall_seconds * f64::from(p.cpus))
}

/// Issue 28's "done when": no plan of the three packages leaves more than
/// half the cores idle without saying why, on the GPU machine's shape
/// (16 CPUs, 125 GiB) and on this CPU box's (2 CPUs, 23 GiB). Where fewer
/// than half are busy, the `cores-idle` notice states the same share and
/// reasons that hold for that package (ninja off, extensions one after
/// another, fewer units than cores, the longest compile).
#[test]
fn no_plan_leaves_most_cores_idle_without_a_reason() {
    let packages = [
        "causal_conv1d-1.7.0",
        "spatial_correlation_sampler-0.5.0",
        "torch_scatter-2.1.2",
    ];
    let mut idle_with_reason = 0;
    for (host, facts) in [("16 CPUs, 125 GiB", h200()), ("2 CPUs, 23 GiB", cpu_box())] {
        for name in packages {
            let req = PlanRequest {
                setup_probe: Some(Ok(probe(name))),
                ..PlanRequest::default()
            };
            let p = plan(&Recipe::torch_ext(format!("{name}.tar.gz")), &facts, &req).unwrap();
            let share = busy_share(name, &p);
            let notice = finding(&p, torch_ext::CORES_IDLE);
            eprintln!(
                "{host}: {name}: MAX_JOBS={} threads={} wall {:.0} s, {:.0} % of {} cores busy, cores-idle notice: {}",
                p.max_jobs,
                p.nvcc_threads,
                p.predicted.wall_seconds,
                share * 100.0,
                p.cpus,
                notice.map_or("none", |f| f.message.as_str())
            );
            assert!(
                share > 0.0 && share <= 1.0 + 1e-9,
                "{name} on {host}: {share}"
            );
            if share >= torch_ext::IDLE_SHARE {
                continue;
            }
            let f = notice.unwrap_or_else(|| {
                panic!(
                    "{name} on {host} keeps {:.0} % of the cores busy and does not say why",
                    share * 100.0
                )
            });
            idle_with_reason += 1;
            assert_eq!(f.severity, Severity::Notice);
            // The share it states is the one computed here.
            assert!(
                f.message.starts_with(&format!("{:.0} %", share * 100.0)),
                "{name} on {host}: {:.0} % vs {}",
                share * 100.0,
                f.message
            );
            // Its reasons: each true of this package on this host.
            let backend = &p.setup_py.as_ref().unwrap().backend;
            let extensions = p.setup_py.as_ref().unwrap().extensions.len();
            let serial = f.message.contains("one file at a time");
            assert_eq!(serial, backend == "one file at a time", "{}", f.message);
            if f.message.contains("extensions one after another") {
                assert!(extensions > 1 && !serial, "{}", f.message);
            }
            if f.message.contains(&format!("units for {} cores", p.cpus)) {
                assert!(p.units < p.cpus, "{}", f.message);
            }
            assert!(f.message.contains("the longest compile ("), "{}", f.message);
        }
    }
    // On 16 cores at least the two small packages idle (and say so).
    assert!(idle_with_reason >= 2, "{idle_with_reason}");
}
