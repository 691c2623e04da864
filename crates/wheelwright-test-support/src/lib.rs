//! What the unit tests of wheelwright's crates share: the captured fixtures
//! under `tests/fixtures/`, fake executables, the facts of an empty host, and
//! the rule for a missing prerequisite (`tests/support/prerequisite.rs`). A
//! dev-dependency only; detection options for a fake root are
//! `wheelwright_detect::DetectOptions::isolated`.

use std::path::{Path, PathBuf};

#[path = "../../wheelwright-core/tests/support/files.rs"]
mod files;
pub use files::{write_executable, write_file};

#[path = "../../wheelwright-core/tests/support/prerequisite.rs"]
mod prerequisite;
pub use prerequisite::{on_path, prerequisite_missing};

/// The text of `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text of a host capture, `tests/fixtures/hosts/<rel>` (see its README).
pub fn host_fixture(rel: &str) -> String {
    fixture(&format!("hosts/{rel}"))
}

/// `name` on this machine's PATH, for the tests that run a real tool.
pub fn real_tool(name: &str) -> Option<PathBuf> {
    on_path(name)
}

/// Facts of a host with nothing found: 8 CPUs, 32 GiB, no GPU, no CUDA, no
/// compilers, no Python.
pub fn empty_facts() -> wheelwright_base::Facts {
    use wheelwright_base::facts::{Facts, Host, FACTS_SCHEMA_VERSION};
    Facts {
        schema_version: FACTS_SCHEMA_VERSION,
        host: Host {
            os: "linux".into(),
            arch: "x86_64".into(),
            kernel: None,
            logical_cpus: 8,
            physical_cpus: None,
            cpu_quota: None,
            memory_total_bytes: 32 << 30,
            memory_available_bytes: 30 << 30,
            memory_limit_bytes: None,
            disk_free_bytes: None,
            disk_path: "/".into(),
        },
        gpus: Vec::new(),
        driver: None,
        cuda: None,
        compilers: Vec::new(),
        python: None,
        torch: None,
        ninja: None,
        problems: Vec::new(),
    }
}

/// proptest's settings for the unit tests: `cases` runs each, and no
/// failure file written into the source tree.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    }
}
