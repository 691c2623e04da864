//! What a rebuild takes from a report, and what it leaves out.
//!
//! A `report.json` is a CI artifact: anyone who can open a pull request can
//! shape one, and a rebuild runs on the maintainer's machine. So a rebuild
//! takes from a report by an allow list, never a deny list:
//!
//! - the variables wheelwright itself sets on a build (the names of
//!   [`env_vars`] the planner writes), each only with a value the planner
//!   could have written (`MAX_JOBS` a number, the archs a list of archs,
//!   `CC` a compiler on this host's `PATH`, ...);
//! - pip arguments the planner writes (`--no-build-isolation`, `--no-deps`);
//! - what to build and how (the spec, the recipe, archs, jobs, threads, the
//!   work and out dirs), which is data to the build.
//!
//! Everything else the report asks for (other variables, other values, pip
//! arguments, its interpreter, its sccache binary, its PATH entries and
//! working directory, `force`) is a [`Difference`]: shown before the
//! rebuild starts and used only when the user says `--trust-report`. This
//! host's interpreter (or `--python`) and tools build instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::report::BuildReport;
use wheelwright_base::env_vars;
use wheelwright_build::ninja_order::SHIM_DIR_NAME;

/// The pip arguments a plan holds (`Plan::pip_args`).
const PLANNED_PIP_ARGS: [&str; 2] = ["--no-build-isolation", "--no-deps"];

/// Variables the runner sets itself on every build (or the compile cache
/// does), whatever a report says: a report's copy is neither taken nor a
/// difference.
const SET_BY_THE_RUNNER: [&str; 6] = [
    env_vars::PYTHONUNBUFFERED,
    env_vars::PIP_NO_INPUT,
    env_vars::WHEELWRIGHT_NINJA_ORDER,
    env_vars::PYTORCH_NVCC,
    env_vars::SCCACHE_DIR,
    env_vars::TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES,
];

/// Something a report asks for that a rebuild leaves out unless trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What it is (`variable LD_PRELOAD=/x.so`, `pip argument --index-url`).
    pub what: String,
    /// What the rebuild does instead.
    pub instead: &'static str,
    /// `--trust-report` uses it (the report's plan, interpreter, sccache and
    /// `force`); else even a trusted rebuild does [`Self::instead`] (a
    /// rebuild runs pip in its work dir with the interpreter's directory
    /// first on PATH, as the build did).
    pub trusted_uses: bool,
}

/// The report as a rebuild reads it: what it takes, what it leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FromReport {
    /// The variables taken, with their values.
    pub variables: BTreeMap<String, String>,
    /// The pip arguments taken.
    pub pip_args: Vec<String>,
    /// What is left out (or, trusted, used).
    pub differences: Vec<Difference>,
    /// The work dir and the out dir, where they are the report's (no
    /// `--work-dir`, `--out`): the rebuild writes there.
    pub dirs: Vec<(&'static str, PathBuf)>,
}

/// This host's tools: the directories of its `PATH` (the user's own, not
/// the report's), where a compiler a report names must be.
#[derive(Debug, Clone, Default)]
pub struct HostTools {
    /// The directories of this process's `PATH`.
    pub path: Vec<PathBuf>,
}

impl HostTools {
    /// The `PATH` of this process.
    pub fn from_process_env() -> HostTools {
        HostTools {
            path: std::env::var_os(env_vars::PATH)
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        }
    }

    /// Is `value` a C/C++ compiler of this host: an absolute path to an
    /// existing `gcc`, `g++`, `cc` or `c++` (or `gcc-N`, `g++-N`) in a
    /// directory of this host's `PATH`? (What the planner writes into `CC`,
    /// `CXX` and `NVCC_CCBIN` is such a path.)
    fn is_compiler(&self, value: &str) -> bool {
        let path = Path::new(value);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let name = name.to_string_lossy();
        let base = name.split_once('-').map_or(&*name, |(b, n)| {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                b
            } else {
                "-"
            }
        });
        path.is_absolute()
            && ["gcc", "g++", "cc", "c++"].contains(&base)
            && self.path.iter().any(|d| d == dir)
            && path.is_file()
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit())
}

fn count(s: &str) -> bool {
    digits(s) && s.parse::<u32>().is_ok_and(|n| (1..=4096).contains(&n))
}

/// `90`, `90a`, `100f`: an arch as flash-attn's list spells it.
fn compact_arch(s: &str) -> bool {
    let s = s.strip_suffix(['a', 'f']).unwrap_or(s);
    digits(s) && s.len() <= 4
}

/// `9.0`, `9.0a`, `9.0+PTX`: an arch as torch's list spells it.
fn dotted_arch(s: &str) -> bool {
    let s = s.strip_suffix("+PTX").unwrap_or(s);
    let s = s.strip_suffix(['a', 'f']).unwrap_or(s);
    s.split_once('.')
        .is_some_and(|(major, minor)| digits(major) && digits(minor) && s.len() <= 6)
}

/// Would wheelwright set `name` to `value` on a build of this host?
fn planner_value(name: &str, value: &str, host: &HostTools) -> bool {
    let list = |item: fn(&str) -> bool| !value.is_empty() && value.split(';').all(item);
    match name {
        env_vars::MAX_JOBS | env_vars::NVCC_THREADS => count(value),
        env_vars::NVCC_APPEND_FLAGS => value.strip_prefix("--threads ").is_some_and(count),
        env_vars::FLASH_ATTN_CUDA_ARCHS => list(compact_arch),
        env_vars::TORCH_CUDA_ARCH_LIST => list(dotted_arch),
        env_vars::FLASH_ATTENTION_FORCE_BUILD | env_vars::FLASH_ATTENTION_FORCE_CXX11_ABI => {
            value == "TRUE" || value == "FALSE"
        }
        env_vars::FLASH_ATTN_LOCAL_VERSION => {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        }
        env_vars::CC | env_vars::CXX | env_vars::NVCC_CCBIN => host.is_compiler(value),
        // The build's fixed date for reproducible wheel bytes: seconds.
        env_vars::SOURCE_DATE_EPOCH => {
            !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit())
        }
        n => {
            n.strip_prefix("FLASH_ATTENTION_DISABLE_").is_some_and(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            }) && value == "TRUE"
        }
    }
}

/// A value for a one-line message: escaped, and cut after 200 characters.
fn shown(value: &str) -> String {
    wheelwright_base::text::truncate_chars(&super::one_line(value), 200)
}

/// The interpreter the report's build ran: its job's, or (schema 1) its
/// command's first word.
fn report_python(report: &BuildReport) -> Option<PathBuf> {
    match &report.job {
        Some(job) => job.python.clone(),
        None => report.command.first().map(PathBuf::from),
    }
}

/// Sort what `report` asks of a rebuild into what it takes and what it
/// leaves out; `work_dir` is where the rebuild runs (its pip's working
/// directory).
pub fn from_report(report: &BuildReport, host: &HostTools, work_dir: &Path) -> FromReport {
    let mut out = FromReport::default();
    // A name is judged once: the plan's value first, then the environment's.
    let mut seen = std::collections::BTreeSet::new();
    let mut variable = |name: &str, value: &str, in_plan: bool, out: &mut FromReport| {
        if SET_BY_THE_RUNNER.contains(&name) || !seen.insert(name.to_string()) {
            return;
        }
        if planner_value(name, value, host) {
            out.variables.insert(name.to_string(), value.to_string());
        } else {
            out.differences.push(Difference {
                what: format!("variable {} = {}", shown(name), shown(value)),
                instead: "not set: not one wheelwright sets, or not a value it would set here",
                trusted_uses: in_plan,
            });
        }
    };
    if let Some(plan) = &report.plan {
        for (k, v) in &plan.env {
            variable(k, v, true, &mut out);
        }
        for a in &plan.pip_args {
            if PLANNED_PIP_ARGS.contains(&a.as_str()) {
                out.pip_args.push(a.clone());
            } else {
                out.differences.push(Difference {
                    what: format!("pip argument {}", shown(a)),
                    instead: "not passed to pip",
                    trusted_uses: true,
                });
            }
        }
    }
    if let Some(env) = &report.environment {
        for (k, v) in &env.set {
            variable(k, v, false, &mut out);
        }
        for k in &env.removed {
            out.differences.push(Difference {
                what: format!("variable {} removed", shown(k)),
                instead: "left as this host has it",
                trusted_uses: false,
            });
        }
        // The runner puts the building interpreter's directory first (the
        // report's is its interpreter's, a difference of its own below),
        // and its ninja shim's in the work dir.
        let python_dir = report.command.first().and_then(|p| Path::new(p).parent());
        let shim_dir = env.cwd.join(SHIM_DIR_NAME);
        let runners_own = |d: &PathBuf| Some(d.as_path()) == python_dir || *d == shim_dir;
        for d in env.path_prepend.iter().filter(|d| !runners_own(d)) {
            out.differences.push(Difference {
                what: format!("PATH entry {}", shown(&d.to_string_lossy())),
                instead: "not on PATH: the building interpreter's directory goes first",
                trusted_uses: false,
            });
        }
        if env.cwd != work_dir {
            out.differences.push(Difference {
                what: format!("working directory {}", shown(&env.cwd.to_string_lossy())),
                instead: "pip runs in the rebuild's work dir",
                trusted_uses: false,
            });
        }
    }
    if let Some(p) = report_python(report) {
        out.differences.push(Difference {
            what: format!("interpreter {}", shown(&p.to_string_lossy())),
            instead: "this host's interpreter builds (or --python)",
            trusted_uses: true,
        });
    }
    if let Some(job) = &report.job {
        if let Some(cache) = &job.compile_cache {
            out.differences.push(Difference {
                what: format!("sccache {}", shown(&cache.sccache.to_string_lossy())),
                instead: "compiled without a cache",
                trusted_uses: true,
            });
        }
        if job.force {
            out.differences.push(Difference {
                what: "force: true (build even when preflight checks refuse it)".into(),
                instead: "preflight checks stop the build",
                trusted_uses: true,
            });
        }
    }
    out
}

/// What comes from the report, as a heading and lines for the console:
/// the variables and pip arguments taken, then each difference with what
/// the rebuild does instead (`trusted`: that it is used after all).
pub fn render_from_report(from: &FromReport, trusted: bool) -> String {
    let mut s = String::from("== taken from the report\n");
    for (what, dir) in &from.dirs {
        s.push_str(&format!("  {what} {}\n", shown(&dir.to_string_lossy())));
    }
    for (k, v) in &from.variables {
        s.push_str(&format!("  {k}={}\n", shown(v)));
    }
    if !from.pip_args.is_empty() {
        s.push_str(&format!("  pip {}\n", from.pip_args.join(" ")));
    }
    if from.differences.is_empty() {
        return s;
    }
    if trusted {
        s.push_str("== also taken from the report (--trust-report)\n");
        for d in from.differences.iter().filter(|d| d.trusted_uses) {
            s.push_str(&format!("  {}\n", d.what));
        }
        let unused: Vec<&Difference> = from
            .differences
            .iter()
            .filter(|d| !d.trusted_uses)
            .collect();
        if !unused.is_empty() {
            s.push_str("== not used even so\n");
        }
        for d in unused {
            s.push_str(&format!("  {}: {}\n", d.what, d.instead));
        }
    } else {
        s.push_str("== left out of the report (pass --trust-report to use them)\n");
        for d in &from.differences {
            s.push_str(&format!("  {}: {}\n", d.what, d.instead));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h200() -> BuildReport {
        let text = crate::test_support::fixture("builds/h200-flash-attn/report.json");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_real_reports_plan_is_taken_whole_but_its_interpreter_is_not() {
        let r = h200();
        let from = from_report(&r, &HostTools::default(), &r.work_dir);
        let plan = r.plan.as_ref().unwrap();
        assert_eq!(from.variables, plan.env, "{from:?}");
        assert_eq!(from.pip_args, plan.pip_args);
        let what: Vec<&str> = from.differences.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(what.len(), 1, "{what:?}");
        assert!(what[0].starts_with("interpreter /"), "{what:?}");
    }

    #[test]
    fn values_wheelwright_would_not_write_are_differences() {
        let mut r = h200();
        let plan = r.plan.as_mut().unwrap();
        for (k, v) in [
            ("MAX_JOBS", "16; touch x"),
            ("LD_PRELOAD", "/tmp/x.so"),
            ("TORCH_CUDA_ARCH_LIST", "9.0 $(x)"),
            ("FLASH_ATTN_LOCAL_VERSION", "a\nb"),
            ("CC", "/tmp/evil/gcc"),
            ("FLASH_ATTENTION_DISABLE_FP8", "TRUE"),
        ] {
            plan.env.insert(k.into(), v.into());
        }
        plan.pip_args.push("--index-url".into());
        let from = from_report(&r, &HostTools::default(), &r.work_dir);
        for gone in [
            "MAX_JOBS",
            "LD_PRELOAD",
            "TORCH_CUDA_ARCH_LIST",
            "FLASH_ATTN_LOCAL_VERSION",
            "CC",
        ] {
            assert!(!from.variables.contains_key(gone), "{gone}: {from:?}");
            assert!(
                from.differences
                    .iter()
                    .any(|d| d.what.starts_with(&format!("variable {gone} = "))),
                "{gone}: {from:?}"
            );
        }
        assert_eq!(from.variables["FLASH_ATTENTION_DISABLE_FP8"], "TRUE");
        let text = render_from_report(&from, false);
        assert!(
            text.contains("variable FLASH_ATTN_LOCAL_VERSION = a\\nb"),
            "{text}"
        );
        assert!(
            text.contains("pip argument --index-url: not passed to pip"),
            "{text}"
        );
        assert!(text.contains("--trust-report"), "{text}");
    }

    #[test]
    fn a_compiler_must_be_on_this_hosts_path() {
        let dir = tempfile::tempdir().unwrap();
        let gcc = dir.path().join("gcc-12");
        std::fs::write(&gcc, "").unwrap();
        let host = HostTools {
            path: vec![dir.path().to_path_buf()],
        };
        let gcc = gcc.to_str().unwrap();
        assert!(planner_value("CC", gcc, &host));
        assert!(!planner_value("CC", gcc, &HostTools::default()));
        let other = dir.path().join("python3");
        std::fs::write(&other, "").unwrap();
        assert!(!planner_value("CC", other.to_str().unwrap(), &host));
        assert!(!planner_value("CC", "gcc-12", &host), "relative");
    }

    #[test]
    fn planner_values() {
        let h = HostTools::default();
        for (k, v) in [
            ("MAX_JOBS", "16"),
            ("NVCC_THREADS", "2"),
            ("NVCC_APPEND_FLAGS", "--threads 4"),
            ("FLASH_ATTN_CUDA_ARCHS", "80;90;100f"),
            ("TORCH_CUDA_ARCH_LIST", "8.0;9.0a+PTX"),
            ("FLASH_ATTENTION_FORCE_BUILD", "TRUE"),
            ("FLASH_ATTN_LOCAL_VERSION", "cu13torch2.11cxx11abiTRUE"),
        ] {
            assert!(planner_value(k, v, &h), "{k}={v}");
        }
        for (k, v) in [
            ("MAX_JOBS", "0"),
            ("MAX_JOBS", "+3"),
            ("NVCC_APPEND_FLAGS", "--threads 4 -ccbin /x"),
            ("FLASH_ATTN_CUDA_ARCHS", ""),
            ("TORCH_CUDA_ARCH_LIST", "9.0 "),
            ("FLASH_ATTENTION_FORCE_BUILD", "yes"),
            ("PYTHONPATH", "/x"),
            ("FLASH_ATTENTION_DISABLE_X", "1"),
        ] {
            assert!(!planner_value(k, v, &h), "{k}={v}");
        }
    }
}
