//! Unit tests of the runner checks on fake roots.

use super::*;
use crate::test_support::write_executable;
use std::ffi::OsStr;
use wheelwright_detect::DetectOptions;

/// `/proc/self/limits` as Linux 6.x prints it (captured on this machine's kernel).
const LIMITS: &str =
    "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 1048576              files     \n\
Max locked memory         8388608              8388608              bytes     \n";

#[test]
fn reads_open_file_limits() {
    assert_eq!(
        parse_open_files_limit(LIMITS),
        Some((Some(1024), Some(1048576)))
    );
    assert_eq!(
        parse_open_files_limit(
            "Max open files            unlimited            unlimited            files\n"
        ),
        Some((None, None))
    );
    assert_eq!(parse_open_files_limit("nothing"), None);
}

fn root_with(meminfo_swap_kb: u64, limits: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
    std::fs::write(
        dir.path().join("proc/meminfo"),
        format!("MemTotal:       32000000 kB\nMemAvailable:   30000000 kB\nSwapTotal:       {meminfo_swap_kb} kB\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("proc/self/limits"), limits).unwrap();
    dir
}

#[test]
fn swap_and_open_files_warn_with_root_commands() {
    let root = root_with(8388604, LIMITS);
    let o = DetectOptions::isolated(root.path(), OsStr::new(""));
    let swap = swap_check(&o);
    assert_eq!(swap.status, CheckStatus::Warning, "{swap:?}");
    assert!(swap
        .root_commands
        .iter()
        .any(|c| c.starts_with("sudo swapoff -a")));
    let nofile = open_files_check(&o, DEFAULT_MIN_OPEN_FILES);
    assert_eq!(nofile.status, CheckStatus::Warning, "{nofile:?}");
    assert!(nofile.detail.contains("soft limit 1024"), "{nofile:?}");

    let root = root_with(0, &LIMITS.replace("1024  ", "65536 "));
    let o = DetectOptions::isolated(root.path(), OsStr::new(""));
    assert_eq!(swap_check(&o).status, CheckStatus::Ok);
    assert_eq!(
        open_files_check(&o, DEFAULT_MIN_OPEN_FILES).status,
        CheckStatus::Ok
    );
}

/// A CPU-only box without CUDA, Python or gcc: every part says what is missing.
#[test]
fn a_bare_machine_reports_what_is_missing() {
    let root = root_with(0, LIMITS);
    let mut o = DetectOptions::isolated(root.path(), OsStr::new(""));
    o.skip_python = true;
    let mut r = RunnerOptions::new(o);
    r.min_disk_bytes = 1;
    let report = check_runner(&r);
    let status = |id: &str| report.checks.iter().find(|c| c.id == id).map(|c| c.status);
    assert_eq!(status("cuda-toolkit"), Some(CheckStatus::Failed));
    assert_eq!(status("driver"), Some(CheckStatus::Warning));
    assert_eq!(status("host-gcc"), Some(CheckStatus::Failed));
    assert!(!report.ok);
    assert!(!report.changed);
    let toolkit = report
        .checks
        .iter()
        .find(|c| c.id == "cuda-toolkit")
        .unwrap();
    assert!(
        toolkit.root_commands[0].starts_with("sudo apt-get install -y cuda-toolkit-"),
        "{toolkit:?}"
    );
}

/// The export step writes validated lines once, and a run in an environment
/// that already has them writes nothing.
#[test]
fn exports_are_written_once() {
    let root = root_with(0, LIMITS);
    let dir = tempfile::tempdir().unwrap();
    let genv = dir.path().join("env");
    let gpath = dir.path().join("path");
    let mut r = RunnerOptions::new(DetectOptions::isolated(root.path(), OsStr::new("/usr/bin")));
    r.fix = true;
    r.github_env = Some(genv.clone());
    r.github_path = Some(gpath.clone());
    let env: BTreeMap<String, String> =
        [("CUDA_HOME".to_string(), "/usr/local/cuda-12.8".to_string())].into();
    let path = vec!["/usr/local/cuda-12.8/bin".to_string()];
    let c = exports_check(&r, &env, &path);
    assert_eq!(c.status, CheckStatus::Changed, "{c:?}");
    assert_eq!(
        std::fs::read_to_string(&genv).unwrap(),
        "CUDA_HOME=/usr/local/cuda-12.8\n"
    );
    assert_eq!(
        std::fs::read_to_string(&gpath).unwrap(),
        "/usr/local/cuda-12.8/bin\n"
    );

    // The next step sees them: nothing to write.
    r.detect
        .env
        .insert("CUDA_HOME".into(), "/usr/local/cuda-12.8".into());
    r.detect.path = "/usr/local/cuda-12.8/bin:/usr/bin".into();
    let c = exports_check(&r, &env, &path);
    assert_eq!(c.status, CheckStatus::Ok, "{c:?}");
    assert_eq!(std::fs::read_to_string(&genv).unwrap().lines().count(), 1);

    // A value that would inject a second assignment is refused, nothing written.
    let evil: BTreeMap<String, String> = [(
        "CC".to_string(),
        "gcc\nNODE_OPTIONS=--require=/tmp/x".to_string(),
    )]
    .into();
    let c = exports_check(&r, &evil, &[]);
    assert_eq!(c.status, CheckStatus::Failed, "{c:?}");
    assert_eq!(std::fs::read_to_string(&genv).unwrap().lines().count(), 1);
}

#[test]
fn picks_the_toolkit_of_torchs_cuda_and_checks_the_driver() {
    let root = tempfile::tempdir().unwrap();
    for v in ["12.4", "12.8", "13.0"] {
        write_executable(
            &root.path().join(format!("usr/local/cuda-{v}/bin/nvcc")),
            "#!/bin/sh\n",
        );
    }
    let o = DetectOptions::isolated(root.path(), OsStr::new(""));
    let facts = crate::test_support::empty_facts();
    let tks = toolkits::installed_toolkits(&o, &facts);
    let (c, t) = toolkit_check(&tks, CudaVersion::parse("12.8"));
    assert_eq!(
        (c.status, t.map(|t| t.version.as_str())),
        (CheckStatus::Ok, Some("12.8"))
    );
    let (c, t) = toolkit_check(&tks, CudaVersion::parse("11.8"));
    assert_eq!(c.status, CheckStatus::Failed);
    assert!(t.is_none());
    assert_eq!(
        c.root_commands,
        ["sudo apt-get install -y cuda-toolkit-11-8"]
    );

    let mut f = crate::test_support::empty_facts();
    f.driver = Some(wheelwright_base::facts::Driver {
        version: "575.57.08".into(),
        cuda_driver_version: Some("12.9".into()),
    });
    let tk13 = tks.iter().find(|t| t.version == "13.0").unwrap();
    let d = driver_check(&f, Some(tk13));
    assert_eq!(d.status, CheckStatus::Failed, "{d:?}");
    assert!(
        d.root_commands[0].contains("nvidia-driver-580-server"),
        "{d:?}"
    );
    let tk128 = tks.iter().find(|t| t.version == "12.8").unwrap();
    assert_eq!(driver_check(&f, Some(tk128)).status, CheckStatus::Ok);
}
