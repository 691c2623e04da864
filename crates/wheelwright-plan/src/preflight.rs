//! Preflight checks: what would make the build fail or crawl, found before it
//! starts, each a [`Finding`] with the fix.
//!
//! Toolchain: `cuda-missing`, `cuda-too-old`, `cuda-mismatch` (torch's CUDA
//! major differs from nvcc's: torch's `_check_cuda_version` raises),
//! `torch-missing`, `torch-cpu-only`, `gcc-too-new` (host GCC newer than the
//! toolkit's `crt/host_config.h` accepts), `gcc-missing`, `ninja-missing`,
//! `ninja-broken`; resources: `disk-low`. The planner adds `arch-unsupported`,
//! `arch-mapped`, `memory-in-use`, `memory-too-small` and `memory-over-ceiling`.
//!
//! Compiler variables, as torch's `torch/utils/cpp_extension.py` reads them:
//! host C++ compiles run `CXX` (`_write_ninja_file`: `os.environ.get('CXX',
//! 'c++')`), and `unix_cuda_flags` passes `CC` to nvcc as `-ccbin` unless the
//! flags already carry one; setuptools links with `CXX` for a C++ extension.
//! nvcc itself reads `NVCC_CCBIN` when no `-ccbin` is given. So a picked
//! `gcc-N` is set as `CC` and `NVCC_CCBIN`, its `g++-N` as `CXX`.

use std::collections::BTreeMap;

use super::archs::CudaVersion;
use super::recipe::{Recipe, FLASH_ATTN_MIN_CUDA};
use wheelwright_base::env_vars;
use wheelwright_base::facts::{Compiler, Facts};
use wheelwright_base::finding::{Finding, Severity};
use wheelwright_base::units::{format_bytes, GIB, MIB};

/// The findings of the toolchain checks and the variables they add to the
/// plan's environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preflight {
    /// What the checks found, with fixes.
    pub findings: Vec<Finding>,
    /// Variables the fixes set (CC/CXX/NVCC_CCBIN for an older gcc).
    pub env: BTreeMap<String, String>,
}

/// Run the toolchain checks for `recipe` on `facts`.
pub fn check_toolchain(facts: &Facts, recipe: &Recipe) -> Preflight {
    let mut out = Preflight::default();
    check_cuda(facts, recipe, &mut out);
    check_torch(facts, &mut out);
    check_gcc(facts, &mut out);
    check_ninja(facts, &mut out);
    out
}

fn check_cuda(facts: &Facts, recipe: &Recipe, out: &mut Preflight) {
    let torch_cuda = facts.torch.as_ref().and_then(|t| t.cuda.clone());
    let Some(cuda) = &facts.cuda else {
        let want = torch_cuda
            .map(|v| format!("CUDA {v} (torch's)"))
            .unwrap_or_else(|| "the CUDA that your torch was built with".into());
        out.findings.push(Finding::new(
            "cuda-missing",
            Severity::Error,
            "No CUDA toolkit",
            "No nvcc was found (CUDA_HOME, CUDA_PATH, nvcc on PATH, /usr/local/cuda): a CUDA extension cannot be compiled.",
            format!("Install the toolkit for {want}, e.g. a `nvidia/cuda:*-devel` image or the `cuda-toolkit-12-8` package, and set CUDA_HOME to it."),
        ));
        return;
    };
    let Some(version) = CudaVersion::parse(&cuda.version) else {
        return;
    };
    if recipe.is_flash_attn() {
        let min = CudaVersion::parse(FLASH_ATTN_MIN_CUDA).unwrap_or(CudaVersion::new(11, 7));
        if version < min {
            out.findings.push(Finding::new(
                "cuda-too-old",
                Severity::Error,
                "CUDA too old for flash-attn",
                format!("nvcc at {} is CUDA {version}; flash-attn 2 needs CUDA {min} or newer (its setup.py raises).", cuda.nvcc),
                "Install CUDA 12.x (12.8 or newer also builds sm_100/sm_120) and point CUDA_HOME at it.",
            ));
        }
    }
    let Some(tc) = facts.torch.as_ref().and_then(|t| t.cuda.as_deref()) else {
        return;
    };
    let Some(tv) = CudaVersion::parse(tc) else {
        return;
    };
    if tv.major != version.major {
        out.findings.push(Finding::new(
            "cuda-mismatch",
            Severity::Error,
            "torch and nvcc disagree on the CUDA major",
            format!("torch was built with CUDA {tv} but nvcc is CUDA {version}; torch's build refuses a different major (\"The detected CUDA version mismatches the version that was used to compile PyTorch\")."),
            torch_for_nvcc_fix(tv, version, facts),
        ));
    } else if tv.minor != version.minor {
        out.findings.push(Finding::new(
            "cuda-minor-mismatch",
            Severity::Notice,
            "torch and nvcc differ in the CUDA minor",
            format!("torch was built with CUDA {tv}, nvcc is CUDA {version}; torch only warns about a minor difference and the build works."),
            "Nothing to do; match them exactly if you want the wheel to say what it was built with.",
        ));
    }
}

/// The fix of `cuda-mismatch`: a toolkit of torch's major, or a torch of
/// nvcc's major from an index PyTorch really publishes (the support table).
fn torch_for_nvcc_fix(torch: CudaVersion, nvcc: CudaVersion, facts: &Facts) -> String {
    let installed = facts.torch.as_ref().map(|t| t.version.as_str());
    let other = match wheelwright_base::support::torch_install_command(nvcc, installed) {
        Some(cmd) => format!("install torch built for CUDA {}.x (`{cmd}`)", nvcc.major),
        None => format!(
            "no torch release is built for CUDA {}.x at or below {nvcc}, so use the toolkit",
            nvcc.major
        ),
    };
    format!(
        "Use a CUDA {}.x toolkit (set CUDA_HOME to it), or {other}.",
        torch.major
    )
}

fn check_torch(facts: &Facts, out: &mut Preflight) {
    let isolation = "Build with `pip wheel --no-build-isolation` (wheelwright's builds do): the package's setup.py imports torch and reads torch.version.cuda, so it must see the torch you installed; with build isolation pip builds in a fresh environment without it and fails with `No module named 'torch'` or pulls another torch.";
    match (&facts.python, &facts.torch) {
        (None, _) => {
            // An interpreter that was found but did not answer the probe says why.
            let why = facts.problems.iter().find(|p| p.probe == "python");
            let message = match why {
                Some(p) => format!("The Python probe failed, so there is no torch to build against: {}", p.message),
                None => "No Python interpreter was found, so there is no torch to build against.".into(),
            };
            out.findings.push(Finding::new(
                "torch-missing",
                Severity::Error,
                "No Python with torch",
                message,
                format!("Install Python 3.9+ and the torch your wheel is for (`pip install torch`), or name a working interpreter with --python or WHEELWRIGHT_PYTHON. {isolation}"),
            ))
        }
        (Some(py), None) => out.findings.push(Finding::new(
            "torch-missing",
            Severity::Error,
            "torch is not installed",
            format!("{} (Python {}) cannot import torch.", py.path, py.version),
            format!("`{} -m pip install torch` (the version your wheel is for). {isolation}", py.path),
        )),
        (_, Some(t)) if t.cuda.is_none() => out.findings.push(Finding::new(
            "torch-cpu-only",
            Severity::Error,
            "torch is a CPU-only build",
            format!("torch {} has no CUDA (torch.version.cuda is None); CUDA extensions cannot be built against it.", t.version),
            "Install a CUDA build of torch, e.g. `pip install torch --index-url https://download.pytorch.org/whl/cu128`.",
        )),
        _ => {}
    }
}

/// The compiler a build uses by default: the first gcc-family compiler
/// detection lists (it lists `CC`/`CXX` first, then PATH in order).
pub fn default_gcc(facts: &Facts) -> Option<&Compiler> {
    facts
        .compilers
        .iter()
        .find(|c| c.name == "gcc" || c.name == "g++")
}

fn check_gcc(facts: &Facts, out: &mut Preflight) {
    let Some(default) = default_gcc(facts) else {
        out.findings.push(Finding::new(
            "gcc-missing",
            Severity::Error,
            "No host C++ compiler",
            "No gcc or g++ was found; nvcc needs a host compiler and torch compiles the .cpp files with it.",
            "Install gcc and g++ (`apt-get install build-essential`), in a version your CUDA accepts.",
        ));
        return;
    };
    let Some(cuda) = &facts.cuda else { return };
    let Some(max) = cuda.max_gcc_major else {
        return;
    };
    if default.major <= max {
        return;
    }
    let found = |name: &str, major: u32| {
        facts
            .compilers
            .iter()
            .find(|c| c.name == name && c.major == major)
    };
    let pick = (1..=max)
        .rev()
        .find_map(|m| Some((found("gcc", m)?, found("g++", m)?)));
    let what = format!(
        "The default host compiler {} is GCC {}; nvcc {} accepts GCC {max} at most (crt/host_config.h: `#error -- unsupported GNU version`).",
        default.path, default.major, cuda.version
    );
    match pick {
        Some((gcc, gxx)) => {
            out.env.insert(env_vars::CC.into(), gcc.path.clone());
            out.env.insert(env_vars::CXX.into(), gxx.path.clone());
            out.env.insert(env_vars::NVCC_CCBIN.into(), gcc.path.clone());
            out.findings.push(Finding::new(
                "gcc-too-new",
                Severity::Warning,
                "Host GCC too new for nvcc; using an older one",
                format!("{what} The plan uses GCC {} instead: CC={} (torch passes it to nvcc as -ccbin), CXX={} (torch's host compiles and the link), NVCC_CCBIN={}.", gcc.major, gcc.path, gxx.path, gcc.path),
                "Nothing to do: the plan's environment sets these. To build by hand, export the same CC, CXX and NVCC_CCBIN.",
            ));
        }
        None => out.findings.push(Finding::new(
            "gcc-too-new",
            Severity::Error,
            "Host GCC too new for nvcc",
            format!("{what} No installed gcc-N/g++-N pair with N ≤ {max} was found."),
            format!("Install one (`apt-get install gcc-{max} g++-{max}`) and plan again: wheelwright then sets CC, CXX and NVCC_CCBIN to it. Or use a CUDA that accepts GCC {}.", default.major),
        )),
    }
}

fn check_ninja(facts: &Facts, out: &mut Preflight) {
    let slow = "torch then falls back to the slow distutils backend: one file at a time, MAX_JOBS ignored (hours for flash-attn).";
    match &facts.ninja {
        None => out.findings.push(Finding::new(
            "ninja-missing",
            Severity::Error,
            "ninja not found",
            format!("No ninja on PATH or next to the interpreter; {slow}"),
            "Run `wheelwright setup` (installs ninja into the build environment), or `pip install ninja`.",
        )),
        Some(n) if !n.healthy => out.findings.push(Finding::new(
            "ninja-broken",
            Severity::Error,
            "ninja is broken",
            format!("`{} --version` failed; torch's check runs the same command, so {slow}", n.path),
            "Run `wheelwright setup`, or `pip install --force-reinstall ninja`.",
        )),
        Some(_) => {}
    }
}

/// Disk a build needs: sources and pip's copies (512 MiB), objects, the
/// linked `.so` and the wheel (~6 MiB per unit and gencode together, from
/// flash-attn's ~250 MB wheels for 73 units × 4 gencodes, compressed about
/// 2:1), and nvcc's temporary files (~128 MiB per running job). An estimate,
/// not a measurement.
pub(crate) fn disk_needed_bytes(units: usize, gencodes: u32, jobs: u32) -> u64 {
    512 * MIB + units as u64 * u64::from(gencodes.max(1)) * 6 * MIB + u64::from(jobs) * 128 * MIB
}

/// `disk-low` when the build dir's free space is below the estimate (error)
/// or below twice it (warning).
pub(crate) fn check_disk(facts: &Facts, needed: u64) -> Option<Finding> {
    let free = facts.host.disk_free_bytes?;
    let severity = if free < needed {
        Severity::Error
    } else if free < needed * 2 {
        Severity::Warning
    } else {
        return None;
    };
    Some(Finding::new(
        "disk-low",
        severity,
        "Little disk space for the build",
        format!(
            "{} free at {}; this build needs about {} (objects, the linked library, the wheel, nvcc's temporary files).",
            format_bytes(free),
            facts.host.disk_path,
            format_bytes(needed)
        ),
        format!(
            "Free at least {} there, or build in a folder on a larger disk.",
            format_bytes(needed.saturating_mul(2).saturating_sub(free).max(GIB))
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypothetical::HostSpec;

    fn facts() -> Facts {
        HostSpec::default().hypothetical_facts().unwrap().0
    }

    fn ids(p: &Preflight) -> Vec<&str> {
        p.findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn a_sound_host_passes() {
        let p = check_toolchain(&facts(), &Recipe::flash_attn("2.8.3"));
        assert!(p.findings.is_empty(), "{:?}", p.findings);
    }

    #[test]
    fn missing_pieces_are_errors() {
        let mut f = facts();
        f.cuda = None;
        f.torch = None;
        f.ninja = None;
        let p = check_toolchain(&f, &Recipe::flash_attn("2.8.3"));
        assert_eq!(ids(&p), ["cuda-missing", "torch-missing", "ninja-missing"]);
        assert!(p.findings.iter().all(|x| x.is_error()));
        assert!(p.findings[1].fix.contains("--no-build-isolation"));
        assert!(p.findings[2].fix.contains("wheelwright setup"));
    }

    #[test]
    fn cuda_majors_must_match() {
        let mut f = facts();
        f.torch.as_mut().unwrap().cuda = Some("11.8".into());
        let p = check_toolchain(&f, &Recipe::flash_attn("2.8.3"));
        assert_eq!(ids(&p), ["cuda-mismatch"]);
        f.torch.as_mut().unwrap().cuda = Some("12.6".into());
        let p = check_toolchain(&f, &Recipe::flash_attn("2.8.3"));
        assert_eq!(ids(&p), ["cuda-minor-mismatch"]);
    }

    #[test]
    fn old_cuda_is_refused_for_flash_attn_only() {
        let mut f = facts();
        f.cuda.as_mut().unwrap().version = "11.6".into();
        f.torch.as_mut().unwrap().cuda = Some("11.6".into());
        let p = check_toolchain(&f, &Recipe::flash_attn("2.8.3"));
        assert_eq!(ids(&p), ["cuda-too-old"]);
        let p = check_toolchain(&f, &Recipe::torch_ext("."));
        assert!(p.findings.is_empty());
    }

    #[test]
    fn too_new_gcc_picks_an_installed_older_one() {
        let spec = HostSpec {
            cuda: Some("12.2".into()),
            gcc: Some(13),
            ..HostSpec::default()
        };
        let mut f = spec.hypothetical_facts().unwrap().0;
        let p = check_toolchain(&f, &Recipe::flash_attn("2.8.3"));
        assert_eq!(ids(&p), ["gcc-too-new"]);
        assert!(p.findings[0].is_error());
        for (name, path) in [("gcc", "/usr/bin/gcc-11"), ("g++", "/usr/bin/g++-11")] {
            f.compilers.push(Compiler {
                path: path.into(),
                name: name.into(),
                version: "11.4.0".into(),
                major: 11,
            });
        }
        let p = check_toolchain(&f, &Recipe::flash_attn("2.8.3"));
        assert_eq!(p.findings[0].severity, Severity::Warning);
        assert_eq!(p.env["CC"], "/usr/bin/gcc-11");
        assert_eq!(p.env["CXX"], "/usr/bin/g++-11");
        assert_eq!(p.env["NVCC_CCBIN"], "/usr/bin/gcc-11");
    }

    #[test]
    fn disk_check_scales_with_the_build() {
        let mut f = facts();
        let need = disk_needed_bytes(73, 4, 16);
        assert!(need > 2 * GIB && need < 5 * GIB, "{need}");
        f.host.disk_free_bytes = Some(need / 2);
        assert!(check_disk(&f, need).unwrap().is_error());
        f.host.disk_free_bytes = Some(need + need / 2);
        assert_eq!(check_disk(&f, need).unwrap().severity, Severity::Warning);
        f.host.disk_free_bytes = Some(need * 3);
        assert!(check_disk(&f, need).is_none());
    }
}
