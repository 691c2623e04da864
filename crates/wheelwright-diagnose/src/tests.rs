//! Tests of the diagnoser: every rule on real logs (`tests/fixtures/logs`, see
//! its README for where each comes from), and the streaming guarantees
//! (bounded memory, any chunking, gzip, bad bytes).

use std::io::{BufReader, Read, Write};
use std::path::PathBuf;

use super::*;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/logs")
        .join(rel)
}

fn diagnose_with(rel: &str, ctx: DiagnoseContext) -> Vec<Finding> {
    let reader = open_log(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    diagnose_reader(reader, ctx).unwrap()
}

fn diagnose(rel: &str) -> Vec<Finding> {
    diagnose_with(rel, DiagnoseContext::default())
}

fn ids(findings: &[Finding]) -> Vec<(&str, Severity)> {
    findings
        .iter()
        .map(|f| (f.id.as_str(), f.severity))
        .collect()
}

fn lines(text: &str) -> Vec<Finding> {
    let mut d = Diagnoser::new(DiagnoseContext::default());
    d.push_line(text);
    d.findings()
}

/// Each real log gives exactly the findings its README row names.
#[test]
fn every_real_log_gives_its_finding() {
    use Severity::*;
    let cases: &[(&str, &[(&str, Severity)])] = &[
        ("gcc_too_new.log", &[("gcc-too-new", Error)]),
        ("missing_cutlass.log", &[("missing-submodule", Error)]),
        ("oom_gxx.log", &[("oom-killed", Error)]),
        ("unsupported_arch.log", &[("arch-unsupported", Error)]),
        ("device/healthy_tinyext.log", &[]),
        ("device/healthy_isolated_tinyext.log", &[]),
        ("device/cuda_mismatch.log", &[("cuda-mismatch", Error)]),
        ("device/compile_error_nvcc.log", &[("compile-error", Error)]),
        ("device/compile_error_gxx.log", &[("compile-error", Error)]),
        (
            "device/arch_unsupported_torch.log",
            &[("arch-unsupported", Error)],
        ),
        ("device/disk_full.log", &[("disk-full", Error)]),
        ("device/oom_cgroup_flash_attn.log", &[("oom-killed", Error)]),
        ("device/oom_code137_fa_subset.log", &[("oom-killed", Error)]),
        ("device/no_kernel_image.log", &[("no-kernel-image", Error)]),
        ("device/abi_mismatch.log", &[("abi-mismatch", Error)]),
        (
            "device/wheel_unsupported.log",
            &[("wheel-unsupported", Error)],
        ),
        (
            "device/torch_missing_symlinked_venv.log",
            &[("torch-missing", Error)],
        ),
        ("device/setuptools_missing_flash_attn.log", &[]),
        ("device/ninja_missing.log", &[("ninja-missing", Warning)]),
        (
            "device/cuda_home_missing.log",
            &[("cuda-home-missing", Error)],
        ),
        (
            "device/torch_missing_flash_attn.log",
            &[("torch-missing", Error)],
        ),
        ("device/healthy_fa_kernels.log", &[]),
        (
            "public/oom_ninja_job_failed_cc1plus.log",
            &[("oom-killed", Error)],
        ),
        ("public/oom_ld_signal9.log", &[("oom-killed", Error)]),
        ("public/gcc_too_new_12_pip.log", &[("gcc-too-new", Error)]),
        (
            "public/cuda_mismatch_two_lines.log",
            &[("cuda-mismatch", Error)],
        ),
        (
            "public/cuda_mismatch_one_line.log",
            &[("cuda-mismatch", Error)],
        ),
        (
            "public/abi_mismatch_cxx11_symbol.log",
            &[("abi-mismatch", Error)],
        ),
        (
            "public/cuda_home_missing_oserror.log",
            &[("cuda-home-missing", Error)],
        ),
        (
            "public/cuda_home_missing_nvcc_warning.log",
            &[("cuda-home-missing", Warning)],
        ),
        (
            "public/no_kernel_image_sm120.log",
            &[("no-kernel-image", Error)],
        ),
        (
            "public/wheel_unsupported_flash_attn.log",
            &[("wheel-unsupported", Error)],
        ),
        (
            "public/cuda_too_old_flash_attn.log",
            &[("cuda-too-old", Error)],
        ),
        (
            "public/ninja_missing_userwarning.log",
            &[("ninja-missing", Warning)],
        ),
        (
            "public/arch_unsupported_compute_120.log",
            &[("arch-unsupported", Error)],
        ),
        (
            "public/compile_error_nvcc_windows.log",
            &[("compile-error", Error)],
        ),
        (
            "public/compile_error_gxx_lc0.log",
            &[("compile-error", Error)],
        ),
        (
            "public/compile_error_cuda13_docker.log",
            &[("compile-error", Error)],
        ),
        ("synthetic/healthy_warnings.log", &[]),
        (
            "offline/prebuilt_dns_eai_again_causal_conv1d.log",
            &[("prebuilt-download-failed", Error)],
        ),
        (
            "offline/prebuilt_dns_noname_causal_conv1d.log",
            &[("prebuilt-download-failed", Error)],
        ),
        (
            "offline/prebuilt_proxy_403_causal_conv1d.log",
            &[("prebuilt-download-failed", Error)],
        ),
        (
            "offline/prebuilt_fallback_flash_attn.log",
            &[("prebuilt-download-failed", Notice)],
        ),
    ];
    for (log, expected) in cases {
        let findings = diagnose(log);
        assert_eq!(ids(&findings), *expected, "{log}: {findings:#?}");
        for f in &findings {
            assert!(!f.fix.is_empty() && !f.message.is_empty(), "{log}: {f:?}");
            assert!(!f.evidence.is_empty(), "{log}: evidence for {}", f.id);
        }
    }
}

#[test]
fn has_errors_and_has_findings_agree_with_findings() {
    for log in [
        "oom_gxx.log",
        "device/healthy_tinyext.log",
        "public/ninja_missing_userwarning.log",
        "public/cuda_home_missing_nvcc_warning.log",
        "device/compile_error_gxx.log",
    ] {
        let mut d = Diagnoser::new(DiagnoseContext::default());
        d.feed(open_log(&fixture(log)).unwrap()).unwrap();
        assert_eq!(
            d.has_errors(),
            d.findings().iter().any(Finding::is_error),
            "{log}"
        );
        assert_eq!(d.has_findings(), !d.findings().is_empty(), "{log}");
    }
}

#[test]
fn healthy_logs_have_no_finding_at_all() {
    for log in [
        "device/healthy_tinyext.log",
        "device/healthy_isolated_tinyext.log",
        "synthetic/healthy_warnings.log",
    ] {
        assert_eq!(diagnose(log), vec![], "{log}");
    }
}

#[test]
fn one_killed_object_is_one_kill_however_many_lines_report_it() {
    // ninja prints `FAILED: [code=137] x.o` and then the shell's `Killed` for
    // the same compile: two nvcc were killed in this real log, not four.
    let f = &diagnose("device/oom_code137_fa_subset.log")[0];
    assert_eq!(f.id, "oom-killed");
    assert_eq!(f.count, 2, "{}", f.message);
    assert!(
        f.message.starts_with("2 compiles were killed"),
        "{}",
        f.message
    );
    for object in [
        "flash_fwd_hdim64_fp16_causal_sm80.o",
        "flash_fwd_hdim32_bf16_causal_sm80.o",
    ] {
        assert!(f.message.contains(object), "{}", f.message);
    }
}

#[test]
fn oom_under_cgroup_names_objects_and_halves_jobs() {
    let f = &diagnose("device/oom_cgroup_flash_attn.log")[0];
    assert_eq!(f.count, 3);
    for object in [
        "flash_bwd_hdim128_fp16_causal_sm80.o",
        "flash_bwd_hdim128_bf16_sm80.o",
        "flash_bwd_hdim128_bf16_causal_sm80.o",
    ] {
        assert!(f.message.contains(object), "{}", f.message);
    }
    assert!(f.message.contains("4 jobs"), "{}", f.message);
    assert!(f.fix.contains("MAX_JOBS=2"), "{}", f.fix);
    assert!(f.evidence.iter().any(|e| e == "Killed"));

    let planned = diagnose_with(
        "device/oom_cgroup_flash_attn.log",
        DiagnoseContext {
            suggested_max_jobs: Some(1),
            ..Default::default()
        },
    );
    assert!(
        planned[0]
            .fix
            .contains("MAX_JOBS=1 (what the planner picks"),
        "{}",
        planned[0].fix
    );

    let g = &diagnose("oom_gxx.log")[0];
    assert!(g.message.contains("cc1plus"), "{}", g.message);
    assert!(g.fix.contains("Halve MAX_JOBS"), "{}", g.fix);
    let ninja13 = &diagnose("public/oom_ninja_job_failed_cc1plus.log")[0];
    assert!(
        ninja13.message.contains("CoroSplit.cpp"),
        "{}",
        ninja13.message
    );
}

/// The plan's MAX_JOBS and NVCC_THREADS go into the fix together, next to
/// the `--threads 2` that the killed build's nvcc commands show; a plan that
/// runs no fewer jobs than the killed build is not suggested.
#[test]
fn oom_fix_names_the_planned_pair_and_the_threads_the_log_shows() {
    let log = "device/oom_cgroup_flash_attn.log";
    let with = |jobs: u32, threads: u32| {
        diagnose_with(
            log,
            DiagnoseContext {
                suggested_max_jobs: Some(jobs),
                suggested_nvcc_threads: Some(threads),
                ..Default::default()
            },
        )
        .remove(0)
        .fix
    };
    let fix = with(2, 1);
    assert!(
        fix.starts_with("Rebuild with MAX_JOBS=2 NVCC_THREADS=1, what the planner picks"),
        "{fix}"
    );
    assert!(
        fix.ends_with("The killed build ran MAX_JOBS=4 NVCC_THREADS=2."),
        "{fix}"
    );
    // Same jobs, fewer threads: lighter, so suggested.
    assert!(with(4, 1).starts_with("Rebuild with MAX_JOBS=4 NVCC_THREADS=1"));
    // No lighter than what was killed: halve, and say why the plan is not used.
    let heavier = with(8, 2);
    assert!(
        heavier.starts_with("Halve MAX_JOBS: the log shows 4, so rebuild with MAX_JOBS=2"),
        "{heavier}"
    );
    assert!(
        heavier.contains("The planner picks MAX_JOBS=8 for this host"),
        "{heavier}"
    );
}

#[test]
fn nvcc_threads_are_read_from_commands_and_environment_listings() {
    use super::matchers::nvcc_threads;
    let real = std::fs::read_to_string(fixture("device/oom_cgroup_flash_attn.log")).unwrap();
    let command = real.lines().find(|l| l.contains("[1/73]")).unwrap();
    assert_eq!(nvcc_threads(command), Some(2));
    let listing = std::fs::read_to_string(fixture("device/healthy_fa_kernels.log")).unwrap();
    let env = listing
        .lines()
        .find(|l| l.contains("NVCC_THREADS="))
        .unwrap();
    assert_eq!(nvcc_threads(env), Some(1));
    assert_eq!(
        nvcc_threads("['/usr/local/cuda/bin/nvcc', '--threads', '4']"),
        Some(4)
    );
    assert_eq!(
        nvcc_threads("/usr/local/cuda/bin/nvcc --threads=8 -c a.cu"),
        Some(8)
    );
    assert_eq!(nvcc_threads("xz --threads 4 big.tar"), None);
    assert_eq!(nvcc_threads("nvcc --threads-per-block 3"), None);
}

fn facts_with_compilers() -> Facts {
    serde_json::from_value(serde_json::json!({
        "schema_version": 1,
        "host": {"os": "linux", "arch": "x86_64", "kernel": null, "logical_cpus": 16, "physical_cpus": 16,
                 "cpu_quota": null, "memory_total_bytes": 1, "memory_available_bytes": 1,
                 "memory_limit_bytes": null, "disk_free_bytes": 2147483648u64, "disk_path": "/tmp"},
        "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": null, "compute_capability": "9.0", "memory_total_bytes": null}],
        "driver": null,
        "cuda": {"home": "/usr/local/cuda-13.0", "nvcc": "/usr/local/cuda-13.0/bin/nvcc", "version": "13.0", "max_gcc_major": 15},
        "compilers": [
            {"path": "/usr/bin/gcc-16", "name": "gcc", "version": "16.1.0", "major": 16},
            {"path": "/usr/bin/g++-16", "name": "g++", "version": "16.1.0", "major": 16},
            {"path": "/usr/bin/gcc-13", "name": "gcc", "version": "13.3.0", "major": 13},
            {"path": "/usr/bin/g++-13", "name": "g++", "version": "13.3.0", "major": 13},
            {"path": "/usr/bin/gcc-12", "name": "gcc", "version": "12.4.0", "major": 12},
            {"path": "/usr/bin/g++-12", "name": "g++", "version": "12.4.0", "major": 12}
        ],
        "python": null,
        "torch": {"version": "2.11.0+cu130", "cuda": "13.0", "cxx11_abi": true, "cuda_available": true},
        "ninja": null,
        "problems": []
    }))
    .unwrap()
}

#[test]
fn fixes_use_the_hosts_facts() {
    let ctx = || DiagnoseContext {
        facts: Some(facts_with_compilers()),
        ..Default::default()
    };
    for (log, fix) in [
        (
            "gcc_too_new.log",
            "export CC=/usr/bin/gcc-13 CXX=/usr/bin/g++-13 NVCC_CCBIN=/usr/bin/g++-13",
        ),
        ("unsupported_arch.log", "FLASH_ATTN_CUDA_ARCHS=\"90\""),
        ("device/no_kernel_image.log", "TORCH_CUDA_ARCH_LIST=\"9.0\""),
        (
            "public/cuda_home_missing_oserror.log",
            "export CUDA_HOME=/usr/local/cuda-13.0",
        ),
        (
            "public/abi_mismatch_cxx11_symbol.log",
            "FLASH_ATTENTION_FORCE_CXX11_ABI=TRUE",
        ),
        ("device/disk_full.log", "2.0 GiB free on /tmp"),
    ] {
        let f = &diagnose_with(log, ctx())[0];
        assert!(f.fix.contains(fix), "{log}: {}", f.fix);
    }
    let without = &diagnose("public/gcc_too_new_12_pip.log")[0];
    assert!(
        without.fix.contains("apt-get install gcc-12 g++-12"),
        "{}",
        without.fix
    );
    assert!(
        without
            .fix
            .contains("export CC=gcc-12 CXX=g++-12 NVCC_CCBIN=g++-12"),
        "{}",
        without.fix
    );
}

#[test]
fn cuda_mismatch_extracts_both_versions_in_every_form() {
    for (log, nvcc, torch) in [
        ("device/cuda_mismatch.log", "12.2", "13.0"),
        ("public/cuda_mismatch_two_lines.log", "12.2", "11.7"),
        ("public/cuda_mismatch_one_line.log", "12.1", "11.7"),
    ] {
        let f = &diagnose(log)[0];
        assert!(
            f.message.contains(&format!(
                "nvcc is CUDA {nvcc} but torch was built with CUDA {torch}"
            )),
            "{log}: {}",
            f.message
        );
        assert!(f.fix.contains(&format!("cuda-{torch}")), "{log}: {}", f.fix);
    }
    // The two-line form keeps both lines as evidence and counts once.
    let two = &diagnose("public/cuda_mismatch_two_lines.log")[0];
    assert_eq!(two.count, 1);
    assert_eq!(two.evidence.len(), 2, "{:?}", two.evidence);
}

/// A log that ends after the first line of torch's two-line message names
/// no torch CUDA: the fix takes it from the facts, or says how to find it,
/// and never names a placeholder toolkit.
#[test]
fn cuda_mismatch_cut_before_the_torch_version() {
    let first = std::fs::read_to_string(fixture("public/cuda_mismatch_two_lines.log"))
        .unwrap()
        .lines()
        .find(|l| l.contains("mismatches the version"))
        .unwrap()
        .to_string();
    let f = &lines(&first)[0];
    assert_eq!(f.id, "cuda-mismatch");
    assert!(!f.fix.contains('?') && !f.message.contains('?'), "{f:?}");
    assert!(
        f.message
            .starts_with("nvcc is CUDA 12.2 but torch was built with another CUDA"),
        "{}",
        f.message
    );
    assert!(f.fix.contains("torch.version.cuda"), "{}", f.fix);
    assert!(f.fix.contains("whl/cu126`"), "{}", f.fix);
    assert!(
        !f.fix.contains("cu122"),
        "PyTorch has no cu122 index: {}",
        f.fix
    );

    let mut d = Diagnoser::new(DiagnoseContext {
        facts: Some(facts_with_compilers()),
        ..Default::default()
    });
    d.push_line(&first);
    let f = &d.findings()[0];
    assert!(
        f.message.contains("torch was built with CUDA 13.0"),
        "{}",
        f.message
    );
    assert!(
        f.fix.contains("export CUDA_HOME=/usr/local/cuda-13.0"),
        "{}",
        f.fix
    );
}

#[test]
fn compile_errors_are_located_and_folded() {
    let f = &diagnose("device/compile_error_nvcc.log")[0];
    assert_eq!(
        (f.file.as_deref(), f.line),
        (Some("/tmp/cap/cerr/kernel.cu"), Some(11))
    );
    let g = &diagnose("device/compile_error_gxx.log")[0];
    assert_eq!(
        (g.file.as_deref(), g.line),
        (Some("/tmp/cap/cxxerr/tinyext.cpp"), Some(5))
    );
    assert!(g.message.contains("undefined_symbol_here"), "{}", g.message);
    let w = &diagnose("public/compile_error_nvcc_windows.log")[0];
    assert_eq!(w.count, 2);
    assert_eq!(w.line, Some(299));
    // The cutlass header error is a missing submodule, not a compile error.
    let m = &diagnose("missing_cutlass.log")[0];
    assert_eq!(
        (m.file.as_deref(), m.line),
        (Some("csrc/flash_attn/src/flash_fwd_kernel.h"), Some(13))
    );
}

#[test]
fn gcc_source_echo_is_not_counted_twice() {
    let f = &diagnose("gcc_too_new.log")[0];
    assert_eq!(f.count, 1);
    assert!(f.message.contains("GCC 15"), "{}", f.message);
}

#[test]
fn findings_are_ordered_root_cause_first() {
    let log = "\
/x/cpp_extension.py:420: UserWarning: Attempted to use ninja as the BuildExtension backend but we could not find ninja.. Falling back to using the slow distutils backend.
csrc/flash_api.cpp:12:3: error: 'at' has not been declared
/usr/local/cuda/include/crt/host_config.h:143:2: error: #error -- unsupported GNU version! gcc versions later than 12 are not supported!
g++: fatal error: Killed signal terminated program cc1plus";
    let order: Vec<String> = lines(log).into_iter().map(|f| f.id).collect();
    assert_eq!(
        order,
        [
            "gcc-too-new",
            "oom-killed",
            "compile-error",
            "ninja-missing"
        ]
    );
}

#[test]
fn bare_killed_needs_a_compile_next_to_it() {
    assert_eq!(lines("starting tests\nKilled\nall done"), vec![]);
    let before = lines("[3/73] /usr/local/cuda/bin/nvcc -c a.cu -o a.o\nKilled");
    assert_eq!(ids(&before), [("oom-killed", Severity::Error)]);
    let after = lines("Killed\nninja: build stopped: subcommand failed.");
    assert_eq!(ids(&after), [("oom-killed", Severity::Error)]);
    let too_far = lines("Killed\na\nb\nc\nninja: build stopped: subcommand failed.");
    assert_eq!(too_far, vec![]);
}

#[test]
fn secondary_exit_status_alone_is_a_finding_but_does_not_double_count() {
    let alone = lines("subprocess.CalledProcessError: Command '['ninja', '-v', '-j', '16']' returned non-zero exit status 137.");
    assert_eq!(alone[0].id, "oom-killed");
    assert!(alone[0].message.contains("SIGKILL"), "{}", alone[0].message);
    assert!(alone[0].fix.contains("MAX_JOBS=8"), "{}", alone[0].fix);
    let both = lines("nvcc error   : 'cicc' died due to signal 9 (Kill signal)\nerror: command '/usr/bin/nvcc' failed with exit code 137");
    assert_eq!(both[0].count, 1);
}

#[test]
fn chunking_does_not_change_the_result() {
    /// Hands out at most `n` bytes per read.
    struct Trickle<R>(R, usize);
    impl<R: Read> Read for Trickle<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }
    for log in [
        "device/oom_cgroup_flash_attn.log",
        "public/cuda_mismatch_two_lines.log",
        "device/disk_full.log",
    ] {
        let whole = diagnose(log);
        for n in [1, 7, 4096] {
            let file = std::fs::File::open(fixture(log)).unwrap();
            let reader = BufReader::with_capacity(n.max(16), Trickle(file, n));
            let chunked = diagnose_reader(reader, DiagnoseContext::default()).unwrap();
            assert_eq!(chunked, whole, "{log} in chunks of {n}");
        }
    }
}

#[test]
fn gzip_logs_are_read_by_content() {
    let plain = std::fs::read(fixture("device/oom_cgroup_flash_attn.log")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let findings = diagnose_reader(
        decompress_if_gzip(std::io::Cursor::new(gz)).unwrap(),
        DiagnoseContext::default(),
    )
    .unwrap();
    assert_eq!(findings, diagnose("device/oom_cgroup_flash_attn.log"));
    // Empty and one-byte inputs are fine.
    for input in [&b""[..], &b"x"[..]] {
        let r = decompress_if_gzip(std::io::Cursor::new(input.to_vec())).unwrap();
        assert_eq!(
            diagnose_reader(r, DiagnoseContext::default()).unwrap(),
            vec![]
        );
    }
    // A truncated gzip stream is an error, not a panic.
    let mut cut = gz_of(b"g++: fatal error: Killed signal terminated program cc1plus\n");
    cut.truncate(cut.len() / 2);
    let r = decompress_if_gzip(std::io::Cursor::new(cut)).unwrap();
    assert!(diagnose_reader(r, DiagnoseContext::default()).is_err());
}

fn gz_of(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn memory_stays_bounded_on_repeats() {
    let mut d = Diagnoser::new(DiagnoseContext::default());
    for i in 0..100_000 {
        d.push_line(&format!("FAILED: [code=137] build/temp/csrc/obj_{i}.o"));
        d.push_line(&format!(
            "src/file_{i}.cu({}): error: identifier \"x{i}\" is undefined",
            i + 1
        ));
    }
    let findings = d.findings();
    let oom = findings.iter().find(|f| f.id == "oom-killed").unwrap();
    assert_eq!(oom.count, 100_000);
    assert_eq!(oom.evidence.len(), tally::MAX_EVIDENCE);
    assert!(oom.message.contains("and 99992 more"), "{}", oom.message);
    let compile: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.id == "compile-error")
        .collect();
    assert_eq!(compile.len(), MAX_COMPILE_ERRORS);
    assert!(
        compile[0].message.contains("and 99990 more compile errors"),
        "{}",
        compile[0].message
    );
    assert_eq!(d.lines(), 200_000);
}

#[test]
fn long_lines_and_bad_bytes_do_not_break_anything() {
    let mut input = vec![b'x'; 3 * MAX_LINE_BYTES];
    input.extend_from_slice(b" g++: fatal error: Killed signal terminated program cc1plus\n");
    input.extend_from_slice(
        b"\xff\xfe nvcc error   : 'ptxas' died due to signal 9 (Kill signal) \xc3\x28\r\n",
    );
    input.extend_from_slice(b"\x1b[01;31m\x1b[Kcsrc/a.cu(3): error: \x1b[m\x1b[Kboom");
    let mut d = Diagnoser::new(DiagnoseContext::default());
    d.feed(std::io::Cursor::new(input)).unwrap();
    assert_eq!(d.lines(), 3);
    let findings = d.findings();
    // The first line was cut at 64 KiB, so its kill message was dropped.
    let oom = findings.iter().find(|f| f.id == "oom-killed").unwrap();
    assert_eq!(oom.count, 1);
    assert!(oom.message.contains("ptxas"), "{}", oom.message);
    let ce = findings.iter().find(|f| f.id == "compile-error").unwrap();
    assert_eq!(ce.file.as_deref(), Some("csrc/a.cu"));
    assert_eq!(ce.evidence, ["csrc/a.cu(3): error: boom"]);
}

#[test]
fn evidence_masks_secrets_and_controls() {
    let f = &lines("nvcc error   : 'cicc' died due to signal 9 (Kill signal) token=ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A \u{7}")[0];
    assert_eq!(
        f.evidence,
        ["nvcc error   : 'cicc' died due to signal 9 (Kill signal) token=ghp_***"]
    );
}

#[test]
fn live_use_reports_between_lines() {
    let mut d = Diagnoser::new(DiagnoseContext::default());
    d.push_line("[1/2] g++ -c a.cpp -o a.o");
    assert!(!d.has_errors());
    d.push_line("The detected CUDA version (11.6) mismatches the version that was used to compile");
    // The torch version has not arrived yet, the finding is already there.
    assert_eq!(d.findings()[0].id, "cuda-mismatch");
    d.push_line("PyTorch (12.1). Please make sure to use the same CUDA versions.");
    let f = &d.findings()[0];
    assert!(
        f.message
            .contains("CUDA 11.6 but torch was built with CUDA 12.1"),
        "{}",
        f.message
    );
    assert_eq!(f.count, 1);
}

#[test]
fn catalogue_and_keywords_cover_every_rule() {
    assert_eq!(catalogue().len(), 17);
    let rule_ids: Vec<&str> = catalogue().iter().map(|r| r.id).collect();
    for id in [
        "prebuilt-download-failed",
        "oom-killed",
        "gcc-too-new",
        "ninja-missing",
        "cuda-mismatch",
        "cuda-home-missing",
        "cuda-too-old",
        "arch-unsupported",
        "missing-submodule",
        "torch-missing",
        "disk-full",
        "compile-error",
        "abi-mismatch",
        "no-kernel-image",
        "wheel-unsupported",
        "timeout",
        "log-truncated",
    ] {
        assert!(rule_ids.contains(&id), "{id}");
    }
    // Timeout forms (no captured log yet).
    let t = lines(
        "The job running on runner gpu-01 has exceeded the maximum execution time of 360 minutes.",
    );
    assert_eq!(ids(&t), [("timeout", Severity::Error)]);
    let net = lines("WARNING: Retrying (Retry(total=4)) after connection broken by 'ReadTimeoutError(\"HTTPSConnectionPool(host='github.com', port=443): Read timed out. (read timeout=15)\")'");
    assert_eq!(ids(&net), [("timeout", Severity::Warning)]);
}

/// The gzip of a real OOM log (many findings).
fn gzipped_oom_log() -> (Vec<u8>, Vec<u8>) {
    use std::io::Write;
    let plain = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/logs/device/oom_cgroup_flash_attn.log"
    ))
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    (plain, gz.finish().unwrap())
}

fn diagnose_saved(bytes: Vec<u8>) -> std::io::Result<Vec<Finding>> {
    let mut d = Diagnoser::new(DiagnoseContext::default());
    d.feed_saved_log(crate::decompress_if_gzip(std::io::Cursor::new(bytes))?)?;
    Ok(d.findings())
}

/// Regression (issue 16, defect 1): a gzip cut short lost every finding.
#[test]
fn truncated_gzip_is_diagnosed_as_far_as_it_reads() {
    let (plain, gz) = gzipped_oom_log();
    let whole = diagnose_saved(plain).unwrap();
    assert!(whole.iter().any(|f| f.id == "oom-killed"));
    assert!(!whole.iter().any(|f| f.id == "log-truncated"));
    // Cut just before the end: the findings of the whole log, and the warning.
    let cut = diagnose_saved(gz[..gz.len() - 20].to_vec()).unwrap();
    let ids: Vec<&str> = cut.iter().map(|f| f.id.as_str()).collect();
    assert!(ids.contains(&"oom-killed"), "{ids:?}");
    let t = cut.iter().find(|f| f.id == "log-truncated").unwrap();
    assert_eq!(t.severity, Severity::Warning);
    assert!(
        t.message.contains("Reading stopped after line"),
        "{}",
        t.message
    );
    // Errors still come first.
    assert_eq!(cut[0].severity, Severity::Error);
    // Not one line decodes: an error, not an empty diagnosis.
    assert!(diagnose_saved(gz[..12].to_vec()).is_err());
}

/// Regression (issue 16, defect 1): bytes after the gzip failed the whole log
/// with "invalid gzip header"; `gzip -dc` reads it.
#[test]
fn gzip_with_trailing_garbage_is_diagnosed_with_a_warning() {
    let (plain, mut gz) = gzipped_oom_log();
    gz.extend_from_slice(b"\0\0\0garbage appended by a broken upload\n");
    let findings = diagnose_saved(gz).unwrap();
    let whole = diagnose_saved(plain).unwrap();
    assert_eq!(&findings[..whole.len()], &whole[..]);
    assert_eq!(findings.len(), whole.len() + 1);
    assert_eq!(findings.last().unwrap().id, "log-truncated");
}

/// causal-conv1d's setup.py offline (real `wheelwright build` logs): the
/// guessed URL, urllib's error and why, and the switch as the fix, named
/// when the plan's probe found it.
#[test]
fn prebuilt_download_names_the_url_the_error_and_the_switch() {
    let cases = [
        (
            "offline/prebuilt_dns_eai_again_causal_conv1d.log",
            "[Errno -3] Temporary failure in name resolution",
            "cannot resolve",
        ),
        (
            "offline/prebuilt_dns_noname_causal_conv1d.log",
            "[Errno -2] Name or service not known",
            "cannot resolve",
        ),
        (
            "offline/prebuilt_proxy_403_causal_conv1d.log",
            "Tunnel connection failed: 403 Forbidden",
            "proxy refused",
        ),
    ];
    for (log, error, why) in cases {
        let f = &diagnose(log)[0];
        assert!(
            f.message.contains("https://github.com/Dao-AILab/causal-conv1d/releases/download/v1.7.0/causal_conv1d-1.7.0+cu13torch2.11cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"),
            "{log}: {}",
            f.message
        );
        assert!(f.message.contains(error), "{log}: {}", f.message);
        assert!(f.message.contains(why), "{log}: {}", f.message);
        assert!(f.message.contains("the build ended here"), "{log}");
        assert!(f.fix.contains("force-build switch"), "{log}: {}", f.fix);
        let ctx = DiagnoseContext {
            force_build_switch: Some(("CAUSAL_CONV1D_FORCE_BUILD".into(), "TRUE".into())),
            ..Default::default()
        };
        let f = &diagnose_with(log, ctx)[0];
        assert!(
            f.fix.starts_with("Set CAUSAL_CONV1D_FORCE_BUILD=TRUE"),
            "{log}: {}",
            f.fix
        );
    }
}

/// Without a guessed wheel before it, urllib failing is not this rule's: a
/// timed-out read stays the `timeout` warning it was, other errors no finding.
#[test]
fn a_download_without_a_wheel_url_is_not_a_prebuilt_one() {
    let ids = |text: &str| -> Vec<String> { lines(text).into_iter().map(|f| f.id).collect() };
    assert_eq!(ids("error: <urlopen error timed out>"), ["timeout"]);
    assert!(
        ids("error: <urlopen error [Errno -3] Temporary failure in name resolution>").is_empty()
    );
}
