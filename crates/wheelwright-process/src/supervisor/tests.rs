//! Tests of the supervisor's protocol (its arguments) and of the fence
//! token it trusts; the supervisor itself runs in `tests/orphans.rs` and
//! `tests/faults.rs` (it makes its process a subreaper, not for a test thread).

use super::*;
use std::ffi::OsStr;

#[test]
fn wrapped_arguments_parse_back() {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip", "wheel", "--", "-w"])
        .env("MAX_JOBS", "4")
        .env_remove("FLASH_ATTENTION_FORCE_BUILD")
        .current_dir("/tmp");
    let sup = Supervisor {
        program: "/opt/wheelwright".into(),
        fence_file: Some("/tmp/fence".into()),
    };
    let wrapped = sup.wrap(&cmd, Duration::from_millis(2500));
    assert_eq!(wrapped.get_program(), "/opt/wheelwright");
    let args: Vec<OsString> = wrapped.get_args().map(OsString::from).collect();
    assert_eq!(args[0], SUBCOMMAND);
    let opts = SuperviseOptions::from_args(args.into_iter().skip(1)).unwrap();
    assert_eq!(
        opts,
        SuperviseOptions {
            parent: std::process::id(),
            grace: Duration::from_millis(2500),
            fence_file: Some("/tmp/fence".into()),
            command: ["python3", "-m", "pip", "wheel", "--", "-w"]
                .map(OsString::from)
                .to_vec(),
        }
    );
    let envs: Vec<_> = wrapped.get_envs().collect();
    assert!(envs.contains(&(OsStr::new("MAX_JOBS"), Some(OsStr::new("4")))));
    assert!(envs.contains(&(OsStr::new("FLASH_ATTENTION_FORCE_BUILD"), None)));
    assert_eq!(wrapped.get_current_dir(), Some(Path::new("/tmp")));
}

#[test]
fn bad_arguments_are_refused() {
    let parse = |a: &[&str]| SuperviseOptions::from_args(a.iter().map(OsString::from));
    assert!(parse(&["--parent", "1", "--grace-ms", "5"]).is_err());
    assert!(parse(&["--parent", "1", "--grace-ms", "5", "--"]).is_err());
    assert!(parse(&["--parent", "x", "--grace-ms", "5", "--", "a"]).is_err());
    assert!(parse(&["--bogus", "1", "--", "a"]).is_err());
    assert!(parse(&["--grace-ms", "5", "--", "a"]).is_err());
}

#[test]
fn only_a_well_formed_token_closes_a_fence() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("fence");
    std::fs::write(&f, "0123456789abcdef0123456789abcdef\n").unwrap();
    assert_eq!(
        read_fence_token(&f).as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    // A build that rewrote the file cannot make us print a command.
    for bad in ["error::pwned", "0123456789abcdef0123456789abcdeg", "", "AB"] {
        std::fs::write(&f, bad).unwrap();
        assert_eq!(read_fence_token(&f), None, "{bad}");
    }
    assert_eq!(read_fence_token(&dir.path().join("missing")), None);
}
