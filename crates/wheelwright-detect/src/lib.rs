//! wheelwright-detect: host detection, the probes that fill [`Facts`] in one
//! call.
//!
//! Each probe lives in its own crate-private module with its fallback chain in
//! its doc comment and a pure parser tested on captured real output, and fills
//! its part of [`Facts`]: `host` (CPUs, memory, disk: [`Facts::host`]),
//! `cgroup` (container limits, in [`Facts::host`] too), `gpu` (NVML, then
//! `nvidia-smi`: [`Facts::gpus`], [`Facts::driver`]), `cuda` (toolkit, `nvcc`,
//! the GCC it accepts: [`Facts::cuda`]), `compilers` (gcc/g++:
//! [`Facts::compilers`]), `python` (interpreter, packaging tools, torch, via
//! one embedded script: [`Facts::python`], [`Facts::torch`]) and `ninja`
//! ([`Facts::ninja`]).
//!
//! Probes never read the process environment themselves: everything comes from
//! [`DetectOptions`] (a root for `/proc`, `/sys` and `/usr/local/cuda`, a PATH,
//! the environment variables that matter), so tests can point them at fake
//! roots and fake tools. Every external command runs with a timeout, and a
//! failed probe adds a [`Problem`] instead of aborting detection.
//!
//! The [`Facts`] type itself is wheelwright-base's, so that a stage that only
//! reads facts (planning, diagnosis) needs no detection. Parsing stays by
//! hand where it must differ from `sysinfo` (cgroup-aware limits, fake roots in
//! tests); `sysinfo` gives the rest of the host.

#![warn(missing_docs)]

#[cfg(test)]
use wheelwright_test_support as test_support;

pub mod cgroup;
pub(crate) mod compilers;
pub mod cuda;
pub(crate) mod gpu;
pub mod host;
pub mod ninja;
pub mod python;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wheelwright_base::env_vars;
use wheelwright_base::facts::{Driver, Facts, Gpu, Problem, FACTS_SCHEMA_VERSION};
use wheelwright_process as process;
use wheelwright_process::{Output, ProcessError};

/// Timeout of each external probe unless `WHEELWRIGHT_PROBE_TIMEOUT` says otherwise.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variables detection follows; [`DetectOptions::from_process_env`]
/// copies these (and only these) into [`DetectOptions::env`].
pub const FOLLOWED_ENV_VARS: &[&str] = &[
    env_vars::CUDA_HOME,
    env_vars::CUDA_PATH,
    env_vars::CC,
    env_vars::CXX,
    env_vars::NVCC_CCBIN,
    env_vars::VIRTUAL_ENV,
    env_vars::WHEELWRIGHT_PYTHON,
    env_vars::WHEELWRIGHT_NVML,
    env_vars::WHEELWRIGHT_PROBE_TIMEOUT,
    env_vars::WHEELWRIGHT_THRASH_SECONDS,
];

/// Where and how to look. Build it with [`DetectOptions::from_process_env`] and
/// override fields, or fill it by hand in tests.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOptions {
    /// Read `/proc`, `/sys/fs/cgroup` and `/usr/local/cuda` under this root (`/` normally).
    pub root: PathBuf,
    /// The PATH every tool is resolved from (and that tools run with).
    pub path: OsString,
    /// `CUDA_HOME`, `CUDA_PATH`, `CC`, `CXX`, `VIRTUAL_ENV`, `WHEELWRIGHT_PYTHON`, ...
    pub env: BTreeMap<String, String>,
    /// The interpreter to probe; see [`resolve_python`] for the fallback chain.
    pub python: Option<PathBuf>,
    /// Skip the Python/torch probe (ninja is still looked up on PATH).
    pub skip_python: bool,
    /// Ask NVML first; `false` goes straight to `nvidia-smi`.
    pub nvml: bool,
    /// The directory whose free space matters (the build dir).
    pub disk_path: PathBuf,
    /// Timeout of each external command.
    pub timeout: Duration,
}

impl DetectOptions {
    /// Options from this process: `WHEELWRIGHT_ROOT` (default `/`), `PATH`, the
    /// variables in [`FOLLOWED_ENV_VARS`], `WHEELWRIGHT_NVML=off` (or `0`,
    /// `false`, `no`) to skip NVML, `WHEELWRIGHT_PROBE_TIMEOUT` in seconds
    /// (default 10; an invalid value is reported as a problem by [`detect`]),
    /// and the current directory as the disk path.
    pub fn from_process_env() -> Self {
        let env: BTreeMap<String, String> = FOLLOWED_ENV_VARS
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        let root = std::env::var_os(env_vars::WHEELWRIGHT_ROOT)
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let timeout = env
            .get(env_vars::WHEELWRIGHT_PROBE_TIMEOUT)
            .and_then(|t| parse_timeout(t).ok())
            .unwrap_or(DEFAULT_PROBE_TIMEOUT);
        let nvml = !env
            .get(env_vars::WHEELWRIGHT_NVML)
            .is_some_and(|v| is_off(v));
        DetectOptions {
            root,
            path: std::env::var_os(env_vars::PATH).unwrap_or_default(),
            env,
            python: None,
            skip_python: false,
            nvml,
            disk_path: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            timeout,
        }
    }

    /// Options that read `root` and run tools from `path` only, with no
    /// followed variables, no Python probe, no NVML and a 5 s timeout: a
    /// fake host (tests, a replayed capture).
    pub fn isolated(root: &Path, path: &OsStr) -> Self {
        DetectOptions {
            root: root.to_path_buf(),
            path: path.to_os_string(),
            env: BTreeMap::new(),
            python: None,
            skip_python: true,
            nvml: false,
            disk_path: root.to_path_buf(),
            timeout: Duration::from_secs(5),
        }
    }

    /// A followed environment variable, `None` when unset or empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `path` read under [`DetectOptions::root`]: `/proc/meminfo` → `<root>/proc/meminfo`.
    pub fn rooted(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Whether this is the real host root, where live system calls may fill gaps.
    pub fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Run a resolved tool with the options' PATH, the C locale and the timeout.
    pub(crate) fn run_tool<S: AsRef<OsStr>>(
        &self,
        program: &Path,
        args: &[S],
    ) -> Result<Output, ProcessError> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env(env_vars::PATH, &self.path)
            .env(env_vars::LC_ALL, "C");
        process::run(&mut cmd, self.timeout)
    }

    /// [`DetectOptions::run_tool`] where only a zero exit is an answer: a tool
    /// that exits non-zero ([`failure`]) or cannot run ([`describe`]) gives its
    /// problem message instead.
    pub(crate) fn run_tool_ok<S: AsRef<OsStr>>(
        &self,
        program: &Path,
        args: &[S],
    ) -> Result<Output, String> {
        match self.run_tool(program, args) {
            Ok(out) if out.success() => Ok(out),
            Ok(out) => Err(failure(out)),
            Err(e) => Err(describe(&e)),
        }
    }
}

/// `WHEELWRIGHT_PROBE_TIMEOUT`: seconds, fractions allowed (`2.5`), more than 0.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds; write e.g. `10` or `2.5`"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!(
            "`{text}` is out of range; give a number of seconds between 0 and 86400"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn is_off(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "off" | "0" | "false" | "no"
    )
}

/// Collect the facts of the host the options describe. Never fails: probes that
/// cannot answer leave their part empty and add to `problems`.
///
/// The probes run on their own threads, so the slowest one (the Python probe
/// importing torch, or `nvidia-smi`) sets the total time.
pub fn detect(opts: &DetectOptions) -> Facts {
    let mut problems = Vec::new();
    if let Some(t) = opts.var(env_vars::WHEELWRIGHT_PROBE_TIMEOUT) {
        if let Err(e) = parse_timeout(t) {
            problems.push(problem(
                "options",
                format!(
                    "{}={e}; used {}s",
                    env_vars::WHEELWRIGHT_PROBE_TIMEOUT,
                    opts.timeout.as_secs_f64()
                ),
            ));
        }
    }
    let interpreter = if opts.skip_python {
        None
    } else {
        resolve_python(opts)
    };

    let (host, gpu, cuda, compilers, py) = std::thread::scope(|s| {
        let gpu = s.spawn(|| gpu::probe(opts));
        let cuda = s.spawn(|| cuda::probe(opts));
        let compilers = s.spawn(|| compilers::probe(opts));
        let py = s.spawn(|| {
            let py = python::probe(opts, interpreter.as_deref());
            // The interpreter's own directory (a venv's bin), then its scripts dir.
            let dirs: Vec<PathBuf> = interpreter
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .into_iter()
                .chain(py.scripts_dir.iter().cloned())
                .collect();
            (py, ninja::probe(opts, &dirs))
        });
        let host = host::probe(opts);
        (host, gpu.join(), cuda.join(), compilers.join(), py.join())
    });

    let (host, host_problems) = host;
    problems.extend(host_problems);
    let gpu = joined(gpu, "gpu", &mut problems);
    problems.extend(gpu.problems);
    let (cuda, cuda_problems) = joined(cuda, "cuda", &mut problems);
    problems.extend(cuda_problems);
    let (compilers, compiler_problems) = joined(compilers, "compilers", &mut problems);
    problems.extend(compiler_problems);
    let (py, (ninja, ninja_problems)) = joined(py, "python", &mut problems);
    problems.extend(py.problems);
    problems.extend(ninja_problems);

    Facts {
        schema_version: FACTS_SCHEMA_VERSION,
        host,
        gpus: gpu.gpus,
        driver: gpu.driver,
        cuda,
        compilers,
        python: py.python,
        torch: py.torch,
        ninja,
        problems,
    }
}

/// The GPUs and the driver alone (the `gpu` probe's fallback chain:
/// NVML, then `nvidia-smi`), for a step that needs nothing else of the host
/// (`wheel verify` on a GPU runner). Never fails: what the probe could not
/// tell is in the problems.
pub fn detect_gpus(opts: &DetectOptions) -> GpuFacts {
    let report = gpu::probe(opts);
    GpuFacts {
        gpus: report.gpus,
        driver: report.driver,
        problems: report.problems,
    }
}

/// What [`detect_gpus`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuFacts {
    /// The GPUs, as in [`Facts::gpus`].
    pub gpus: Vec<Gpu>,
    /// The driver, as in [`Facts::driver`].
    pub driver: Option<Driver>,
    /// What went wrong while probing.
    pub problems: Vec<Problem>,
}

/// A probe thread's result; a panic (a bug, never bad input) leaves that part
/// empty and is reported.
fn joined<T: Default>(
    result: std::thread::Result<T>,
    probe: &str,
    problems: &mut Vec<Problem>,
) -> T {
    result.unwrap_or_else(|_| {
        problems.push(problem(
            probe,
            "the probe crashed (a wheelwright bug; please report it); its part is empty",
        ));
        T::default()
    })
}

/// The interpreter to probe and build with, first found wins:
/// 1. `opts.python` (`--python`), as given;
/// 2. `WHEELWRIGHT_PYTHON`, as given;
/// 3. `$VIRTUAL_ENV/bin/python`, if it exists;
/// 4. `python3` on the options' PATH.
///
/// A bare name (`python3.11`) in 1 or 2 is looked up on PATH; an explicit
/// choice is returned even if missing, so the probe reports it rather than
/// silently using another interpreter.
pub fn resolve_python(opts: &DetectOptions) -> Option<PathBuf> {
    let explicit = opts
        .python
        .clone()
        .or_else(|| opts.var(env_vars::WHEELWRIGHT_PYTHON).map(PathBuf::from));
    if let Some(p) = explicit {
        if p.components().count() == 1 && !p.is_absolute() {
            return Some(which(p.as_os_str(), &opts.path).unwrap_or(p));
        }
        return Some(p);
    }
    if let Some(venv) = opts.var(env_vars::VIRTUAL_ENV) {
        let candidate = Path::new(venv).join("bin").join("python");
        if is_executable(&candidate) {
            return Some(candidate);
        }
    }
    which("python3", &opts.path)
}

/// The first executable file called `name` in the directories of `path` (a
/// PATH value), without resolving symlinks. A `name` with a `/` is checked as
/// is. Empty PATH entries are skipped.
pub fn which(name: impl AsRef<OsStr>, path: &OsStr) -> Option<PathBuf> {
    let name = name.as_ref();
    if name.is_empty() {
        return None;
    }
    let as_path = Path::new(name);
    if as_path.components().count() > 1 || as_path.is_absolute() {
        return is_executable(as_path).then(|| as_path.to_path_buf());
    }
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// A regular file (after following symlinks) with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command that could not run, as a problem message; a timeout says how to wait longer.
pub(crate) fn describe(e: &ProcessError) -> String {
    match e {
        ProcessError::Timeout { .. } => format!(
            "{e}; if the tool is only slow, raise {} (seconds)",
            env_vars::WHEELWRIGHT_PROBE_TIMEOUT
        ),
        _ => e.to_string(),
    }
}

/// A command that exited non-zero, as a problem message with its output's tail.
pub(crate) fn failure(out: Output) -> String {
    match out.check() {
        Err(e) => e.to_string(),
        Ok(out) => format!("`{}` succeeded", out.command),
    }
}

pub(crate) fn problem(probe: &str, message: impl Into<String>) -> Problem {
    Problem {
        probe: probe.to_string(),
        message: message.into(),
    }
}

/// `"12.4"` from NVML's `12040`, `"13.0"` from `13000`.
pub(crate) fn cuda_version_from_int(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::write_executable;

    fn exe(path: &Path) {
        write_executable(path, "#!/bin/sh\n");
    }

    #[test]
    fn which_takes_the_first_executable_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        exe(&b.join("tool"));
        exe(&a.join("tool"));
        std::fs::write(a.join("plain"), "not executable").unwrap();
        exe(&b.join("plain"));
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(which("tool", &path), Some(a.join("tool")));
        assert_eq!(which("plain", &path), Some(b.join("plain")));
        assert_eq!(which("missing", &path), None);
        assert_eq!(which("", &path), None);
        // A directory called like the tool is not the tool.
        std::fs::create_dir_all(a.join("dir")).unwrap();
        assert_eq!(which("dir", &path), None);
        // Paths are checked as given.
        assert_eq!(which(b.join("tool"), OsStr::new("")), Some(b.join("tool")));
    }

    #[test]
    fn python_resolution_follows_the_documented_order() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        exe(&bin.join("python3"));
        exe(&bin.join("python3.11"));
        let venv = dir.path().join("venv");
        exe(&venv.join("bin/python"));
        let mut o = DetectOptions::isolated(dir.path(), bin.as_os_str());

        assert_eq!(resolve_python(&o), Some(bin.join("python3")));
        o.env
            .insert("VIRTUAL_ENV".into(), venv.display().to_string());
        assert_eq!(resolve_python(&o), Some(venv.join("bin/python")));
        o.env
            .insert("WHEELWRIGHT_PYTHON".into(), "python3.11".into());
        assert_eq!(resolve_python(&o), Some(bin.join("python3.11")));
        o.python = Some(PathBuf::from("/opt/missing/python"));
        assert_eq!(
            resolve_python(&o),
            Some(PathBuf::from("/opt/missing/python"))
        );

        // A venv without an interpreter falls through to PATH.
        let mut o = DetectOptions::isolated(dir.path(), bin.as_os_str());
        o.env.insert(
            "VIRTUAL_ENV".into(),
            dir.path().join("nope").display().to_string(),
        );
        assert_eq!(resolve_python(&o), Some(bin.join("python3")));
        let o = DetectOptions::isolated(dir.path(), OsStr::new(""));
        assert_eq!(resolve_python(&o), None);
    }

    #[test]
    fn timeouts_parse_or_say_what_to_write() {
        assert_eq!(parse_timeout("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert!(parse_timeout("soon").unwrap_err().contains("e.g. `10`"));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("inf").is_err());
    }

    #[test]
    fn an_invalid_timeout_is_a_problem_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = DetectOptions::isolated(dir.path(), OsStr::new(""));
        o.env
            .insert("WHEELWRIGHT_PROBE_TIMEOUT".into(), "soon".into());
        let facts = detect(&o);
        assert!(
            facts
                .problems
                .iter()
                .any(|p| p.probe == "options" && p.message.contains("WHEELWRIGHT_PROBE_TIMEOUT")),
            "{:?}",
            facts.problems
        );
    }

    #[test]
    fn nvml_switch_reads_common_spellings() {
        for v in ["off", "OFF", "0", "false", "no"] {
            assert!(is_off(v), "{v}");
        }
        for v in ["on", "1", "", "yes"] {
            assert!(!is_off(v), "{v}");
        }
    }

    #[test]
    fn nvml_cuda_versions_read_as_major_minor() {
        assert_eq!(cuda_version_from_int(12040), "12.4");
        assert_eq!(cuda_version_from_int(13000), "13.0");
        assert_eq!(cuda_version_from_int(12020), "12.2");
        assert_eq!(cuda_version_from_int(11080), "11.8");
    }
}
