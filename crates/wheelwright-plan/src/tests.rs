//! Planner tests over synthesized hosts: the memory guarantee on many random
//! hosts, archs, ceilings, overrides and the environment.

use super::*;
use crate::test_support::write_file;
use wheelwright_base::units::{format_duration, GIB};

fn host(cpus: u32, memory_gib: u64) -> HostSpec {
    HostSpec {
        cpus: Some(cpus),
        memory_bytes: Some(memory_gib * GIB),
        cuda: Some("12.8".into()),
        torch: Some("2.8".into()),
        ..HostSpec::default()
    }
}

fn facts(spec: &HostSpec) -> Facts {
    spec.hypothetical_facts().unwrap().0
}

fn fa() -> Recipe {
    Recipe::flash_attn("2.8.3")
}

fn ids(p: &Plan) -> Vec<&str> {
    p.findings.iter().map(|f| f.id.as_str()).collect()
}

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[test]
fn predicted_peak_never_exceeds_the_ceiling_on_random_hosts() {
    let model = CostModel::measured();
    let all = ["80", "90", "100", "120"];
    let mut rng = Lcg(0x5eed);
    let mut planned = 0;
    let mut refused = 0;
    for _ in 0..160 {
        let cpus = rng.range(1, 256) as u32;
        // Log-uniform over 2 GiB … 2 TiB.
        let memory_gib = (2f64 * 1024f64.powf(rng.range(0, 1000) as f64 / 1000.0)) as u64;
        let gencodes = rng.range(1, 4) as usize;
        let mut spec = host(cpus, memory_gib.max(2));
        if rng.range(0, 3) == 0 {
            spec.memory_limit_bytes = Some(rng.range(2, memory_gib.max(2)) * GIB);
        }
        if rng.range(0, 3) == 0 {
            spec.cpu_quota = Some(rng.range(1, u64::from(cpus)) as f64 + 0.5);
        }
        let req = PlanRequest {
            archs: Some(vec![all[..gencodes].join(",")]),
            ..PlanRequest::default()
        };
        let f = facts(&spec);
        let p = plan(&fa(), &f, &req).unwrap();
        assert_eq!(p.gencodes as usize, gencodes);
        assert!(p.nvcc_threads >= 1 && p.nvcc_threads as usize <= gencodes);
        assert!(p.max_jobs >= 1 && p.max_jobs <= p.cpus.max(1));
        if ids(&p).contains(&"memory-too-small") {
            // An honest refusal: one job at NVCC_THREADS=1 really does not fit.
            let units = recipe::flash_attn_2_8_3_units();
            let one = search::evaluate(&model, &units, p.gencodes, 1, 1, p.cpus);
            assert!(one.peak() > p.memory_ceiling_bytes, "{p:#?}");
            assert!(p.refused());
            refused += 1;
        } else {
            assert!(
                p.predicted.peak_memory_bytes <= p.memory_ceiling_bytes
                    && p.predicted_longest_first.peak_memory_bytes <= p.memory_ceiling_bytes,
                "cpus {cpus} memory {memory_gib} GiB G {gencodes}: {p:#?}"
            );
            assert!(!p.refused(), "{:?}", p.findings);
            planned += 1;
        }
    }
    assert!(
        planned > 100 && refused > 0,
        "{planned} planned, {refused} refused"
    );
}

#[test]
fn ceiling_is_the_cgroup_limit_minus_the_margin() {
    let mut spec = host(8, 64);
    let p = plan(&fa(), &facts(&spec), &PlanRequest::default()).unwrap();
    assert_eq!(p.memory_basis, "total memory");
    assert_eq!(p.memory_margin_bytes, 64 * GIB / 10);
    assert_eq!(p.memory_ceiling_bytes, 64 * GIB - 64 * GIB / 10);
    spec.memory_limit_bytes = Some(16 * GIB);
    let p = plan(&fa(), &facts(&spec), &PlanRequest::default()).unwrap();
    assert_eq!(p.memory_basis, "cgroup limit");
    assert_eq!(p.memory_ceiling_bytes, 14 * GIB);
    let req = PlanRequest {
        memory_limit_override: Some(32 * GIB),
        ..PlanRequest::default()
    };
    let p = plan(&fa(), &facts(&spec), &req).unwrap();
    assert_eq!(p.memory_basis, "override");
    assert_eq!(p.memory_ceiling_bytes, 32 * GIB - 32 * GIB / 10);
}

#[test]
fn cpu_quota_caps_the_jobs_but_not_flash_attns_own_choice() {
    let mut spec = host(64, 512);
    spec.cpu_quota = Some(8.0);
    let p = plan(&fa(), &facts(&spec), &PlanRequest::default()).unwrap();
    assert_eq!(p.cpus, 8);
    assert!(p.max_jobs <= 8);
    // setup.py uses os.cpu_count(), which ignores the quota.
    assert_eq!(p.baselines[0].name, "flash-attn-auto");
    assert_eq!(p.baselines[0].max_jobs, 32);
    assert_eq!(p.baselines[1].max_jobs, 64);
}

#[test]
fn archs_come_from_the_gpus_and_the_toolkit() {
    let mut spec = host(16, 128);
    spec.gpus = Some(vec!["8.6".into(), "9.0".into()]);
    spec.cuda = Some("12.2".into());
    let p = plan(&fa(), &facts(&spec), &PlanRequest::default()).unwrap();
    assert_eq!(p.archs, ["80", "90"]);
    assert_eq!(p.gencodes, 2);
    assert_eq!(p.env["FLASH_ATTN_CUDA_ARCHS"], "80;90");
    assert_eq!(p.env["TORCH_CUDA_ARCH_LIST"], "8.0;9.0+PTX");
    assert!(ids(&p).contains(&"arch-mapped"));

    // No GPU: the recipe's default, minus what CUDA 12.2 cannot build.
    spec.gpus = None;
    let p = plan(&fa(), &facts(&spec), &PlanRequest::default()).unwrap();
    assert_eq!(p.archs, ["80", "90"]);
    let dropped: Vec<_> = p
        .findings
        .iter()
        .filter(|f| f.id == "arch-unsupported")
        .collect();
    assert_eq!(dropped.len(), 2);
    assert!(dropped.iter().all(|f| f.severity == Severity::Warning));

    // Nothing buildable is an error.
    let req = PlanRequest {
        archs: Some(vec!["sm_75".into()]),
        ..PlanRequest::default()
    };
    let p = plan(&fa(), &facts(&spec), &req).unwrap();
    assert!(p.refused());
    assert!(p.archs.is_empty());

    // Spellings.
    for s in ["80,90", "8.0;9.0", "sm_80 sm_90"] {
        let req = PlanRequest {
            archs: Some(vec![s.into()]),
            ..PlanRequest::default()
        };
        let p = plan(&fa(), &facts(&spec), &req).unwrap();
        assert_eq!(p.archs, ["80", "90"], "{s}");
    }
    let req = PlanRequest {
        archs: Some(vec!["eighty".into()]),
        ..PlanRequest::default()
    };
    assert!(matches!(
        plan(&fa(), &facts(&spec), &req),
        Err(PlanError::Arch(_))
    ));
}

#[test]
fn environment_and_local_version() {
    let spec = HostSpec {
        torch: Some("2.11".into()),
        torch_cuda: Some("13.0".into()),
        cuda: Some("13.0".into()),
        ..host(16, 125)
    };
    let p = plan(&fa(), &facts(&spec), &PlanRequest::default()).unwrap();
    assert_eq!(
        p.local_version.as_deref(),
        Some("cu13torch2.11cxx11abiTRUE")
    );
    for k in [
        "MAX_JOBS",
        "NVCC_THREADS",
        "FLASH_ATTN_CUDA_ARCHS",
        "TORCH_CUDA_ARCH_LIST",
        "FLASH_ATTENTION_FORCE_BUILD",
        "FLASH_ATTN_LOCAL_VERSION",
    ] {
        assert!(p.env.contains_key(k), "{k}");
    }
    assert_eq!(p.env["FLASH_ATTENTION_FORCE_BUILD"], "TRUE");
    assert_eq!(p.env["MAX_JOBS"], p.max_jobs.to_string());
    assert!(p.pip_args.contains(&"--no-build-isolation".to_string()));
}

#[test]
fn too_new_gcc_puts_the_compiler_into_the_env() {
    let spec = HostSpec {
        cuda: Some("12.2".into()),
        gcc: Some(13),
        ..host(16, 128)
    };
    let mut f = facts(&spec);
    for (name, major) in [("gcc", 11), ("g++", 11)] {
        f.compilers.push(wheelwright_base::facts::Compiler {
            path: format!("/usr/bin/{name}-{major}"),
            name: name.into(),
            version: format!("{major}.4.0"),
            major,
        });
    }
    let p = plan(&fa(), &f, &PlanRequest::default()).unwrap();
    assert_eq!(p.env["CC"], "/usr/bin/gcc-11");
    assert_eq!(p.env["CXX"], "/usr/bin/g++-11");
    assert!(!p.refused());
}

#[test]
fn overrides_are_priced_even_when_they_do_not_fit() {
    let req = PlanRequest {
        max_jobs: Some(16),
        nvcc_threads: Some(4),
        ..PlanRequest::default()
    };
    let p = plan(&fa(), &facts(&host(16, 32)), &req).unwrap();
    assert_eq!((p.max_jobs, p.nvcc_threads), (16, 4));
    assert!(p.predicted.peak_memory_bytes > p.memory_ceiling_bytes);
    assert!(ids(&p).contains(&"memory-over-ceiling"));
    assert!(
        !p.refused(),
        "an explicit setting is warned about, not refused"
    );
    assert!(matches!(
        plan(
            &fa(),
            &facts(&host(16, 32)),
            &PlanRequest {
                max_jobs: Some(0),
                ..PlanRequest::default()
            }
        ),
        Err(PlanError::BadInput { .. })
    ));
}

#[test]
fn baselines_flag_memory_they_do_not_have() {
    let p = plan(&fa(), &facts(&host(64, 128)), &PlanRequest::default()).unwrap();
    let seed = p.baselines.iter().find(|b| b.name == "seed").unwrap();
    assert_eq!((seed.max_jobs, seed.nvcc_threads), (64, 4));
    assert!(seed.exceeds_memory);
    assert!(seed.predicted.peak_memory_bytes > p.memory_ceiling_bytes);
    assert!(p.predicted.peak_memory_bytes <= p.memory_ceiling_bytes);
}

#[test]
fn torch_ext_counts_a_ptx_gencode_and_knows_flash_attn_files() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "csrc/flash_bwd_hdim128_bf16_sm80.cu",
        "csrc/flash_fwd_hdim64_fp16_sm80.cu",
        "csrc/my_kernel.cu",
        "csrc/binding.cpp",
        "third_party/cutlass/examples/x.cu",
    ] {
        write_file(dir.path(), f, "");
    }
    let recipe = Recipe::torch_ext(dir.path());
    let req = PlanRequest {
        archs: Some(vec!["90".into()]),
        ..PlanRequest::default()
    };
    let p = plan(&recipe, &facts(&host(16, 128)), &req).unwrap();
    assert_eq!(p.units, 4);
    assert_eq!(p.gencodes, 2, "sm_90 SASS + compute_90 PTX");
    assert_eq!(p.nvcc_threads, 1);
    assert!(!p.env.contains_key("NVCC_THREADS"));
    assert!(!p.env.contains_key("FLASH_ATTN_CUDA_ARCHS"));
    assert_eq!(p.baselines[0].name, "torch-default");
    assert_eq!(p.baselines[0].max_jobs, 18);
    let model = CostModel::measured();
    let bwd = recipe::TranslationUnit::from_path("csrc/flash_bwd_hdim128_bf16_sm80.cu").unwrap();
    assert_eq!(model.unit_cost(&bwd).time_basis, cost::CostBasis::Unit);
    let sched = schedule(&recipe, &req, &p).unwrap();
    assert_eq!(sched.len(), 4);
}

#[test]
fn source_tree_and_sdist_give_the_same_units() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("flash_attn-9.9.9");
    let units = recipe::flash_attn_2_8_3_units();
    for u in units.iter().take(10) {
        write_file(&root, &u.path, "");
    }
    write_file(&root, "flash_attn/__init__.py", "__version__ = \"9.9.9\"\n");
    write_file(
        &root,
        "setup.py",
        "os.getenv(\"FLASH_ATTN_CUDA_ARCHS\", \"80;90\")\n",
    );
    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("flash_attn-9.9.9.tar.gz");
    {
        let file = std::fs::File::create(&tarball).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("flash_attn-9.9.9", &root).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    let spec = host(16, 128);
    for src in [root.clone(), dir.path().to_path_buf(), tarball] {
        let req = PlanRequest {
            source: Some(src.clone()),
            ..PlanRequest::default()
        };
        let p = plan(&Recipe::flash_attn("9.9.9"), &facts(&spec), &req).unwrap();
        assert_eq!(p.units, 10, "{}", src.display());
        assert_eq!(p.recipe_version.as_deref(), Some("9.9.9"));
        // The default archs come from that setup.py.
        assert_eq!(p.archs, ["80", "90"], "{}", src.display());
    }
    let req = PlanRequest {
        source: Some(dir.path().join("missing.tar.gz")),
        ..PlanRequest::default()
    };
    let err = plan(&fa(), &facts(&spec), &req).unwrap_err();
    assert!(matches!(err, PlanError::Source { .. }));
}

#[test]
fn a_ci_box_without_anything_still_gets_a_plan() {
    let mut f = facts(&host(2, 24));
    f.cuda = None;
    f.torch = None;
    f.python = None;
    f.ninja = None;
    let p = plan(&fa(), &f, &PlanRequest::default()).unwrap();
    assert_eq!(p.archs, ["80", "90", "100", "120"]);
    assert_eq!(p.gencodes, 4);
    assert!(p.predicted.peak_memory_bytes <= p.memory_ceiling_bytes);
    for id in ["cuda-missing", "torch-missing", "ninja-missing"] {
        assert!(ids(&p).contains(&id), "{id}");
    }
    assert!(p.local_version.is_none());
}

#[test]
fn memory_held_by_others_is_a_warning() {
    let mut f = facts(&host(16, 64));
    f.host.memory_available_bytes = 8 * GIB;
    let p = plan(&fa(), &f, &PlanRequest::default()).unwrap();
    assert!(ids(&p).contains(&"memory-in-use"), "{:?}", ids(&p));
    assert!(!p.refused());
}

#[test]
fn a_retry_schedule_leaves_out_the_objects_built() {
    let p = plan(&fa(), &facts(&host(16, 128)), &PlanRequest::default()).unwrap();
    let basis = ScheduleBasis::resolve(&fa(), &PlanRequest::default(), &p).unwrap();
    let units = basis.units.clone();
    assert_eq!(basis.schedule(p.max_jobs, p.nvcc_threads, &[]).len(), 73);
    let built = [
        // As torch's ninja build names it: under build/temp.*.
        format!(
            "/w/build/temp.linux-x86_64-cpython-312/{}",
            units[0].object_path()
        ),
        // Not a folder boundary: another object.
        format!("/w/x{}", units[1].object_path()),
    ];
    let left = basis.schedule(4, 1, &built);
    assert_eq!(left.len(), 72);
    assert!(left.iter().all(|j| j.name != units[0].path));
    assert!(left.iter().any(|j| j.name == units[1].path));
}

/// A calibrated plan's times, and the ETA schedule a build takes from it,
/// scale by the host's speed; its jobs and memory do not.
#[test]
fn a_speed_calibration_scales_times_only() {
    let f = facts(&host(16, 128));
    let plain = plan(&fa(), &f, &PlanRequest::default()).unwrap();
    let speed = SpeedCalibration {
        factor: 0.5,
        units: 73,
        observed_seconds: 1.0,
        predicted_seconds: 2.0,
        reference_ratio: 1.0,
        basis: "test".into(),
    };
    let req = PlanRequest {
        speed: Some(speed.clone()),
        ..PlanRequest::default()
    };
    let fast = plan(&fa(), &f, &req).unwrap();
    assert_eq!(fast.speed.as_ref(), Some(&speed));
    assert_eq!(
        (fast.max_jobs, fast.nvcc_threads),
        (plain.max_jobs, plain.nvcc_threads)
    );
    assert_eq!(
        fast.predicted.peak_memory_bytes,
        plain.predicted.peak_memory_bytes
    );
    let half = plain.predicted.wall_seconds / 2.0;
    assert!(
        (fast.predicted.wall_seconds - half).abs() < 0.2,
        "{:?}",
        fast.predicted
    );

    let end = |p: &Plan| {
        let basis = ScheduleBasis::resolve(&fa(), &PlanRequest::default(), p).unwrap();
        let jobs = basis.schedule(p.max_jobs, p.nvcc_threads, &[]);
        jobs.iter().map(|j| j.end_seconds).fold(0.0, f64::max)
    };
    assert!((end(&fast) - end(&plain) / 2.0).abs() < 0.1);
}

/// Issue 12: a 4-CPU, 8 GiB sm_80 host, where one compile peaks at 6.7 GiB,
/// gets MAX_JOBS=1 and a warning with the expected time, not a refusal; 7 GiB
/// and 6 GiB, where 6.7 GiB plus the one-job margin does not fit, are refused
/// with a fix that names a size that would plan.
#[test]
fn a_small_host_gets_one_job_when_the_largest_unit_fits() {
    let req = PlanRequest {
        archs: Some(vec!["80".into()]),
        ..PlanRequest::default()
    };
    let p = plan(&fa(), &facts(&host(4, 8)), &req).unwrap();
    assert!(!p.refused(), "{:#?}", p.findings);
    assert_eq!((p.max_jobs, p.nvcc_threads), (1, 1));
    assert_eq!(p.env["MAX_JOBS"], "1");
    assert_eq!(p.memory_margin_bytes, GIB / 2);
    assert_eq!(p.memory_ceiling_bytes, 8 * GIB - GIB / 2);
    assert!(p.predicted.peak_memory_bytes <= p.memory_ceiling_bytes);
    // The usual margin (2 GiB) would not have fitted it: that is the case.
    assert!(p.predicted.peak_memory_bytes > 8 * GIB - memory_margin(8 * GIB));
    let f = p.findings.iter().find(|f| f.id == SMALL_HOST).unwrap();
    assert_eq!(f.severity, Severity::Warning);
    let wall = format_duration(p.predicted.wall_seconds);
    assert!(
        f.message.contains(&format!("about {wall}")),
        "{}",
        f.message
    );
    assert!(f.message.contains("6.7 GiB"), "{}", f.message);

    for gib in [7, 6] {
        let p = plan(&fa(), &facts(&host(4, gib)), &req).unwrap();
        assert!(p.refused(), "{gib} GiB: {:#?}", p.findings);
        assert!(!ids(&p).contains(&SMALL_HOST));
        let f = p.findings.iter().find(|f| f.is_error()).unwrap();
        assert_eq!(f.id, "memory-too-small");
        assert!(f.fix.contains("at least 8.0 GiB"), "{}", f.fix);
    }

    // A forced setting is the user's: no quiet switch to one job.
    let forced = PlanRequest {
        nvcc_threads: Some(1),
        ..req.clone()
    };
    let p = plan(&fa(), &facts(&host(4, 8)), &forced).unwrap();
    assert!(!ids(&p).contains(&SMALL_HOST));
}

#[test]
fn the_ceiling_is_what_is_free_not_what_is_installed() {
    let idle = plan(&fa(), &facts(&host(16, 128)), &PlanRequest::default()).unwrap();
    let mut busy = facts(&host(16, 128));
    // Other processes hold 88 GiB: 40 GiB is free.
    busy.host.memory_available_bytes = 40 * GIB;
    let p = plan(&fa(), &busy, &PlanRequest::default()).unwrap();
    assert_eq!(p.memory_ceiling_bytes, 40 * GIB);
    assert!(
        p.memory_basis.starts_with("memory available now"),
        "{}",
        p.memory_basis
    );
    // The idle plan would not fit in what is free; this one does.
    assert!(idle.predicted.peak_memory_bytes > 40 * GIB);
    assert!(p.predicted.peak_memory_bytes <= 40 * GIB);
    assert!(ids(&p).contains(&"memory-in-use"), "{:?}", ids(&p));
    // Others using less than the margin change nothing.
    let mut light = facts(&host(16, 128));
    light.host.memory_available_bytes = 126 * GIB;
    let l = plan(&fa(), &light, &PlanRequest::default()).unwrap();
    assert_eq!(l.memory_ceiling_bytes, idle.memory_ceiling_bytes);
    assert!(!ids(&l).contains(&"memory-in-use"));
    // An override is the user's word.
    let req = PlanRequest {
        memory_limit_override: Some(100 * GIB),
        ..Default::default()
    };
    let o = plan(&fa(), &busy, &req).unwrap();
    assert_eq!(o.memory_basis, "override");
    assert!(o.memory_ceiling_bytes > 40 * GIB);
}

#[test]
fn the_costs_say_which_gencodes_rest_on_a_measurement() {
    use crate::cost_sources::GENCODE_METHOD;
    use crate::gencode_cost::GencodeBasis;
    let spec = HostSpec {
        cuda: Some("12.9".into()),
        ..host(16, 125)
    };
    let many = PlanRequest {
        archs: Some(vec!["80;90;100;120".into()]),
        ..PlanRequest::default()
    };
    let p = plan(&fa(), &facts(&spec), &many).unwrap();
    assert_eq!(p.costs.gencodes.len(), p.gencode_flags.len());
    for g in &p.costs.gencodes {
        let sm90 = g.gencode.ends_with("code=sm_90");
        assert_eq!(g.basis == GencodeBasis::Measured, sm90, "{g:?}");
        if !sm90 {
            // Every other target flash-attn builds was measured on the CPU
            // box, itself or in another spelling.
            assert!(
                matches!(
                    g.basis,
                    GencodeBasis::CpuRatio | GencodeBasis::CpuRatioOfKin
                ),
                "{g:?}"
            );
            assert!(g.units > 0 && g.priced_as.is_some(), "{g:?}");
        }
    }
    assert!(p.costs.methods.iter().any(|m| m == GENCODE_METHOD));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(
        json["costs"]["gencodes"].as_array().map(Vec::len),
        Some(p.gencode_flags.len())
    );
    // The newer targets cost less than sm_90's per gencode on that box, so
    // a compile takes less than as many sm_90 gencodes would.
    let model = CostModel::measured().with_gencodes(&p.gencode_flags);
    let set = model.gencode_set(&p.gencode_flags);
    let uniform = model
        .gencode_factors(&crate::gencode_cost::GencodeSet::uniform(set.len()), 1)
        .0;
    let priced = model.gencode_factors(&set, 1).0;
    assert!(priced < uniform, "{priced} vs {uniform}");

    // sm_90 alone: measured, and no method sentence for other targets.
    let one = PlanRequest {
        archs: Some(vec!["90".into()]),
        ..PlanRequest::default()
    };
    let p = plan(&fa(), &facts(&spec), &one).unwrap();
    assert!(p
        .costs
        .gencodes
        .iter()
        .all(|g| g.basis == GencodeBasis::Measured));
    assert!(!p.costs.methods.iter().any(|m| m == GENCODE_METHOD));
}
