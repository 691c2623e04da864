//! Messages and fixes: what each finding says, with the host's facts (when the
//! caller has them) turned into a concrete next step.
//!
//! A fix names the command or variable to set, with values: the MAX_JOBS the
//! planner chose, the installed gcc-N to switch to, the CUDA toolkit to point
//! at. Where a fact is unknown, the fix says how to find it out.

use wheelwright_base::facts::{Compiler, Facts};
use wheelwright_base::finding::Finding;
use wheelwright_base::units::format_bytes;

use super::rules::RuleId;
use super::tally::{Detail, Names, Tally};
use super::DiagnoseContext;

/// What the scan saw besides the findings, for messages.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    /// Parallel jobs the log shows (`'-j', '16'`, `MAX_JOBS=16`).
    pub jobs: Option<u32>,
    /// nvcc's threads per compile the log shows (`--threads 4`, `NVCC_THREADS=4`).
    pub nvcc_threads: Option<u32>,
    /// pip ran the build in an isolated environment.
    pub isolation: bool,
}

/// Turn a tally into the finding a user reads.
pub(crate) fn render(t: &Tally, seen: Seen, ctx: &DiagnoseContext) -> Finding {
    let facts = ctx.facts.as_ref();
    let (message, fix) = match (t.rule, &t.detail) {
        (
            RuleId::OomKilled,
            Detail::Oom {
                tools,
                objects,
                primary,
            },
        ) => oom(t.count, *primary, tools, objects, seen, ctx),
        (
            RuleId::GccTooNew,
            Detail::GccTooNew {
                max_major,
                compiler,
            },
        ) => gcc_too_new(*max_major, compiler.as_deref(), facts),
        (RuleId::CudaMismatch, Detail::CudaMismatch { nvcc, torch }) => {
            cuda_mismatch(nvcc.as_deref(), torch.as_deref(), facts)
        }
        (RuleId::CudaHomeMissing, Detail::CudaHomeMissing { hard }) => {
            cuda_home_missing(*hard, facts)
        }
        (RuleId::CudaTooOld, Detail::CudaTooOld { min }) => cuda_too_old(min.as_deref(), facts),
        (RuleId::ArchUnsupported, Detail::Names(archs)) => arch_unsupported(archs, facts),
        (RuleId::MissingSubmodule, Detail::Names(headers)) => missing_submodule(headers),
        (RuleId::TorchMissing, _) => torch_missing(seen.isolation, facts),
        (RuleId::DiskFull, Detail::DiskFull { path }) => disk_full(path.as_deref(), facts),
        (RuleId::CompileError, Detail::Compile { message }) => compile_error(t, message),
        (RuleId::AbiMismatch, Detail::Abi { symbols, library }) => {
            abi_mismatch(symbols, library.as_deref(), facts)
        }
        (RuleId::NoKernelImage, _) => no_kernel_image(facts),
        (RuleId::WheelUnsupported, Detail::Names(wheels)) => wheel_unsupported(wheels, facts),
        (RuleId::Timeout, Detail::Timeout { hard }) => timeout(*hard),
        (RuleId::NinjaMissing, Detail::Ninja { reason }) => ninja_missing(reason.as_deref(), facts),
        (
            RuleId::PrebuiltDownloadFailed,
            Detail::Download {
                url,
                error,
                fell_back,
            },
        ) => prebuilt_download(url.as_deref(), error.as_deref(), *fell_back, ctx),
        (rule, _) => (rule.info().title.to_string(), String::new()),
    };
    let mut f = Finding::new(
        t.rule.as_str(),
        t.severity,
        t.rule.info().title,
        message,
        fix,
    );
    if let Some(loc) = &t.loc {
        f.file = Some(loc.file.clone());
        f.line = Some(loc.line);
    }
    f.evidence = t.evidence.clone();
    f.count = t.count.max(1);
    f
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

const NVCC_THREADS_NOTE: &str = "flash-attn's default NVCC_THREADS=4 lets one compile use up to 4 times the memory when several GPU architectures are built; NVCC_THREADS=1 is the safe choice";

fn oom(
    count: u32,
    primary: u32,
    tools: &Names,
    objects: &Names,
    seen: Seen,
    ctx: &DiagnoseContext,
) -> (String, String) {
    let mut message = if primary > 0 {
        let mut m = format!(
            "{} killed for lack of memory",
            plural(primary, "compile was", "compiles were")
        );
        if !tools.is_empty() {
            m.push_str(&format!(" ({})", tools.join()));
        }
        m.push('.');
        if !objects.is_empty() {
            m.push_str(&format!(" Objects: {}.", objects.join()));
        }
        m
    } else {
        format!(
            "The build was killed with SIGKILL (exit status 137 or -9{}), which is how the kernel's out-of-memory killer ends a process.",
            if count > 1 { format!(", {count} times") } else { String::new() }
        )
    };
    if let Some(j) = seen.jobs {
        message.push_str(&format!(
            " The build ran {} at once.",
            plural(j, "job", "jobs")
        ));
    }
    // A suggestion that runs no fewer jobs (with no fewer threads) than the
    // build that was killed would fail again: the log then came from a box
    // or container with less memory than this host, and halving is the fix.
    let lighter = |n: u32, t: Option<u32>| match seen.jobs {
        None => true,
        Some(j) => {
            n < j || (n == j && matches!((t, seen.nvcc_threads), (Some(t), Some(s)) if t < s))
        }
    };
    let suggested = ctx
        .suggested_max_jobs
        .filter(|n| lighter(*n, ctx.suggested_nvcc_threads));
    let fix = match (suggested, ctx.suggested_nvcc_threads, seen.jobs) {
        (Some(n), Some(t), _) => {
            let ran = match (seen.jobs, seen.nvcc_threads) {
                (Some(j), Some(s)) => format!(" The killed build ran MAX_JOBS={j} NVCC_THREADS={s}."),
                (Some(j), None) => format!(" The killed build ran MAX_JOBS={j}."),
                (None, Some(s)) => format!(" The killed build ran NVCC_THREADS={s}."),
                (None, None) => String::new(),
            };
            format!(
                "Rebuild with MAX_JOBS={n} NVCC_THREADS={t}, what the planner picks for this host's memory: each of the MAX_JOBS compiles runs up to NVCC_THREADS nvcc threads, so the two are chosen together. Objects that already compiled stay in the build directory and are not rebuilt.{ran}"
            )
        }
        (Some(n), None, _) => format!(
            "Rebuild with MAX_JOBS={n} (what the planner picks for this host's memory) and NVCC_THREADS=1; objects that already compiled stay in the build directory and are not rebuilt. ({NVCC_THREADS_NOTE}.)"
        ),
        (None, _, Some(j)) => {
            let planner = ctx
                .suggested_max_jobs
                .map(|n| format!(" The planner picks MAX_JOBS={n} for this host, no fewer than the killed build ran: that build had less memory than this host (a container or cgroup limit?)."))
                .unwrap_or_default();
            format!(
                "Halve MAX_JOBS: the log shows {j}, so rebuild with MAX_JOBS={} and NVCC_THREADS=1; objects that already compiled are kept. ({NVCC_THREADS_NOTE}.){planner}",
                (j / 2).max(1)
            )
        }
        (None, _, None) => format!(
            "Halve MAX_JOBS (the log does not show how many jobs ran) and set NVCC_THREADS=1, then rebuild; objects that already compiled are kept. ({NVCC_THREADS_NOTE}.)"
        ),
    };
    (message, fix)
}

/// The newest installed gcc-N/g++-N pair with N <= `max`: (N, gcc, g++).
fn pick_compiler_pair(compilers: &[Compiler], max: u32) -> Option<(u32, &str, &str)> {
    let mut majors: Vec<u32> = compilers
        .iter()
        .map(|c| c.major)
        .filter(|m| *m <= max)
        .collect();
    majors.sort_unstable();
    majors.dedup();
    majors.into_iter().rev().find_map(|m| {
        let gcc = compilers.iter().find(|c| c.major == m && c.name == "gcc")?;
        let gxx = compilers.iter().find(|c| c.major == m && c.name == "g++")?;
        Some((m, gcc.path.as_str(), gxx.path.as_str()))
    })
}

const CC_NOTE: &str = "torch's cpp_extension passes $CC to nvcc as -ccbin and compiles C++ with $CXX; NVCC_CCBIN covers nvcc runs outside torch";

fn gcc_too_new(
    max_major: Option<u32>,
    compiler: Option<&str>,
    facts: Option<&Facts>,
) -> (String, String) {
    let max = max_major.or_else(|| {
        facts
            .and_then(|f| f.cuda.as_ref())
            .and_then(|c| c.max_gcc_major)
    });
    let used = compiler
        .map(|c| format!(" The build used {c}."))
        .unwrap_or_default();
    let message = match max {
        Some(n) => {
            format!("This nvcc accepts host GCC {n} at most; the host compiler is newer.{used}")
        }
        None => format!("The host compiler is newer than this nvcc accepts.{used}"),
    };
    let installed = max
        .zip(facts)
        .and_then(|(n, f)| pick_compiler_pair(&f.compilers, n));
    let fix = match (max, installed) {
        (_, Some((m, gcc, gxx))) => format!(
            "Build with the installed GCC {m}: `export CC={gcc} CXX={gxx} NVCC_CCBIN={gxx}`, then rebuild ({CC_NOTE})."
        ),
        (Some(n), None) => format!(
            "Install GCC {n} (`sudo apt-get install gcc-{n} g++-{n}`), then `export CC=gcc-{n} CXX=g++-{n} NVCC_CCBIN=g++-{n}` and rebuild ({CC_NOTE})."
        ),
        (None, None) => format!(
            "Install an older GCC that this CUDA accepts (its limit is in $CUDA_HOME/include/crt/host_config.h), e.g. `sudo apt-get install gcc-12 g++-12`, then `export CC=gcc-12 CXX=g++-12 NVCC_CCBIN=g++-12` and rebuild ({CC_NOTE})."
        ),
    };
    (message, fix)
}

/// The `pip install` of a CUDA build of torch for nvcc's CUDA `nvcc`, from
/// the support table ([`wheelwright_base::support::torch_install_command`]): a real
/// PyTorch index, never one that does not exist such as `cu122`.
fn torch_install_for(nvcc: &str, facts: Option<&Facts>) -> Option<String> {
    let cuda = wheelwright_base::archs::CudaVersion::parse(nvcc)?;
    let installed = facts
        .and_then(|f| f.torch.as_ref())
        .map(|t| t.version.as_str());
    wheelwright_base::support::torch_install_command(cuda, installed).map(|c| format!("`{c}`"))
}

/// The versions come from the log; when it ended before torch's half of the
/// message, torch's CUDA comes from the facts, and where neither says, the
/// fix says how to find it out rather than naming a placeholder.
fn cuda_mismatch(
    nvcc: Option<&str>,
    torch: Option<&str>,
    facts: Option<&Facts>,
) -> (String, String) {
    let nv = nvcc.map_or("nvcc's CUDA".to_string(), |v| format!("nvcc is CUDA {v}"));
    let torch = torch.or_else(|| {
        facts
            .and_then(|f| f.torch.as_ref())
            .and_then(|t| t.cuda.as_deref())
    });
    if torch == Some("None") {
        return (
            format!("{nv} but the installed torch is a CPU-only build, so it cannot build CUDA extensions."),
            format!(
                "Install a CUDA build of torch{}, then rebuild.",
                nvcc.and_then(|v| torch_install_for(v, facts))
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            ),
        );
    }
    let install = nvcc
        .and_then(|v| {
            torch_install_for(v, facts)
                .map(|t| format!(", or install a torch built for CUDA {v}'s major ({t})"))
        })
        .unwrap_or_default();
    match torch {
        Some(tv) => (
            format!("{nv} but torch was built with CUDA {tv}; torch refuses to build extensions when the CUDA major versions differ."),
            format!(
                "Point the build at a CUDA {tv} toolkit: `export CUDA_HOME=/usr/local/cuda-{tv} PATH=/usr/local/cuda-{tv}/bin:$PATH`{install}; then rebuild."
            ),
        ),
        None => (
            format!("{nv} but torch was built with another CUDA; torch refuses to build extensions when the CUDA major versions differ."),
            format!(
                "Point the build at the CUDA toolkit torch was built with (`python -c 'import torch; print(torch.version.cuda)'` prints its version X.Y): `export CUDA_HOME=/usr/local/cuda-X.Y PATH=/usr/local/cuda-X.Y/bin:$PATH`{install}; then rebuild."
            ),
        ),
    }
}

fn cuda_home_missing(hard: bool, facts: Option<&Facts>) -> (String, String) {
    let message = if hard {
        "torch's build found no CUDA toolkit: CUDA_HOME and CUDA_PATH are unset, no nvcc is on PATH and /usr/local/cuda does not exist.".to_string()
    } else {
        "flash-attn found no nvcc; the install works only if a prebuilt wheel can be downloaded, and a source build fails.".to_string()
    };
    let torch_cuda = facts
        .and_then(|f| f.torch.as_ref())
        .and_then(|t| t.cuda.clone());
    let fix = match facts.and_then(|f| f.cuda.as_ref()) {
        Some(c) => format!(
            "Use the CUDA {} toolkit found at {}: `export CUDA_HOME={} PATH={}/bin:$PATH`, then rebuild.",
            c.version, c.home, c.home, c.home
        ),
        None => format!(
            "Install the CUDA toolkit with nvcc{} (in containers, a `devel` image, not `runtime`), then `export CUDA_HOME=/usr/local/cuda-X.Y PATH=$CUDA_HOME/bin:$PATH` and rebuild.",
            torch_cuda.map(|v| format!(" {v}, the CUDA torch was built with,")).unwrap_or_default()
        ),
    };
    (message, fix)
}

fn cuda_too_old(min: Option<&str>, facts: Option<&Facts>) -> (String, String) {
    let min = min.unwrap_or("11.7");
    let found = facts
        .and_then(|f| f.cuda.as_ref())
        .map(|c| format!(" (nvcc here is CUDA {})", c.version))
        .unwrap_or_default();
    let torch_cuda = facts
        .and_then(|f| f.torch.as_ref())
        .and_then(|t| t.cuda.as_ref())
        .map(|v| format!(", ideally CUDA {v}, the one torch was built with"))
        .unwrap_or_default();
    (
        format!("flash-attn needs CUDA {min} or newer, and the nvcc it found is older{found}."),
        format!(
            "Install CUDA {min} or newer{torch_cuda}, point CUDA_HOME and PATH at it (`nvcc -V` must show the new release), then rebuild."
        ),
    )
}

/// `8.0` -> `80`.
fn cc_digits(cc: &str) -> String {
    cc.chars().filter(char::is_ascii_digit).collect()
}

fn arch_unsupported(archs: &Names, facts: Option<&Facts>) -> (String, String) {
    let cuda = facts
        .and_then(|f| f.cuda.as_ref())
        .map(|c| format!(" (CUDA {})", c.version))
        .unwrap_or_default();
    let bad: Vec<String> = archs
        .items
        .iter()
        .map(|a| cc_digits(a))
        .filter(|a| !a.is_empty())
        .collect();
    let message = format!("This nvcc{cuda} cannot compile for {}.", archs.join());
    let mut gpu: Vec<String> = facts
        .map(|f| {
            f.gpus
                .iter()
                .map(|g| cc_digits(&g.compute_capability))
                .collect()
        })
        .unwrap_or_default();
    gpu.sort();
    gpu.dedup();
    gpu.retain(|g| !bad.contains(g) && !g.is_empty());
    let drop = if bad.is_empty() {
        archs.join()
    } else {
        bad.join(", ")
    };
    let fix = if gpu.is_empty() {
        format!(
            "Drop {drop} from the architecture list (flash-attn: FLASH_ATTN_CUDA_ARCHS, e.g. \"80;90\"; other extensions: TORCH_CUDA_ARCH_LIST, e.g. \"8.0;9.0\"), or use a CUDA toolkit that still supports it; then rebuild."
        )
    } else {
        let dotted: Vec<String> = gpu
            .iter()
            .map(|g| {
                let (a, b) = g.split_at(g.len().saturating_sub(1));
                format!("{a}.{b}")
            })
            .collect();
        format!(
            "Build for this host's GPUs only: FLASH_ATTN_CUDA_ARCHS=\"{}\" (flash-attn) or TORCH_CUDA_ARCH_LIST=\"{}\" (other extensions), which leaves out {drop}; then rebuild.",
            gpu.join(";"),
            dotted.join(";")
        )
    };
    (message, fix)
}

fn missing_submodule(headers: &Names) -> (String, String) {
    let what = if headers.is_empty() {
        String::new()
    } else {
        format!(" ({})", headers.join())
    };
    (
        format!("The cutlass headers{what} are missing: flash-attn's csrc/cutlass git submodule is not checked out."),
        "In a git checkout run `git submodule update --init csrc/cutlass` (or clone with --recursive); or build from the PyPI sdist, which includes cutlass.".to_string(),
    )
}

fn torch_missing(isolation: bool, facts: Option<&Facts>) -> (String, String) {
    let message = if isolation {
        "The build could not import torch: pip ran it in an isolated environment (build isolation) that does not contain the installed torch."
    } else {
        "The build could not import torch: it is not installed in the Python that runs the build."
    };
    let fix = match facts.and_then(|f| f.torch.as_ref()) {
        Some(t) => format!(
            "torch {} is installed here: build without isolation so the build sees it: `pip wheel --no-build-isolation --no-deps <package>`.",
            t.version
        ),
        None => "Install torch into the build's Python first, then build without isolation: `pip install torch` and `pip wheel --no-build-isolation --no-deps <package>` (flash-attn imports torch in its setup.py).".to_string(),
    };
    (message.to_string(), fix)
}

fn disk_full(path: Option<&str>, facts: Option<&Facts>) -> (String, String) {
    let message = match path {
        Some(p) => format!("The disk filled up during the build (writing {p})."),
        None => "The disk filled up during the build.".to_string(),
    };
    let free = facts
        .and_then(|f| {
            f.host
                .disk_free_bytes
                .map(|b| (b, f.host.disk_path.clone()))
        })
        .map(|(b, p)| format!("; detect saw {} free on {p}", format_bytes(b)))
        .unwrap_or_default();
    (
        message,
        format!(
            "Free space or build on a larger disk: point TMPDIR and the build directory there (`export TMPDIR=/path/on/big/disk`); a flash-attn build needs several GiB for objects and temporaries{free}."
        ),
    )
}

fn compile_error(t: &Tally, message: &str) -> (String, String) {
    let mut m = message.to_string();
    if t.count > 1 {
        m.push_str(&format!(
            " (reported {} times: each file that includes this code reports it)",
            t.count
        ));
    }
    let at = t
        .loc
        .as_ref()
        .map(|l| format!(" at {}:{}", l.file, l.line))
        .unwrap_or_default();
    (
        m,
        format!(
            "Fix the code{at}, or build a combination of package, torch and CUDA versions that compiles together; the first error is usually the cause and later ones follow from it."
        ),
    )
}

fn abi_mismatch(symbols: &Names, library: Option<&str>, facts: Option<&Facts>) -> (String, String) {
    let lib = library.unwrap_or("The extension");
    let abi_flag = symbols.items.iter().any(|s| s.contains("cxx11"));
    let message = format!(
        "{lib} was built against a different torch{} than the one importing it: undefined symbol {}.",
        if abi_flag { " or C++ ABI" } else { "" },
        symbols.join()
    );
    let torch = facts.and_then(|f| f.torch.as_ref());
    let mut fix = format!(
        "Rebuild the extension against the torch that imports it (`pip wheel --no-build-isolation --no-deps <package>` with that torch installed){}; a wheel works only with the torch minor version it was compiled against.",
        torch.map(|t| format!(": torch {} here", t.version)).unwrap_or_default()
    );
    if abi_flag {
        let value = match torch.and_then(|t| t.cxx11_abi) {
            Some(true) => "TRUE".to_string(),
            Some(false) => "FALSE".to_string(),
            None => "the value of torch._C._GLIBCXX_USE_CXX11_ABI".to_string(),
        };
        fix.push_str(&format!(" The symbol mentions the C++11 ABI: build with FLASH_ATTENTION_FORCE_CXX11_ABI={value} to match torch."));
    }
    (message, fix)
}

fn no_kernel_image(facts: Option<&Facts>) -> (String, String) {
    let message = "The extension has no code for this GPU's architecture: it was built for other compute capabilities.".to_string();
    let gpus = facts.map(|f| f.gpus.as_slice()).unwrap_or(&[]);
    let fix = if gpus.is_empty() {
        "Rebuild for the GPU's compute capability (`nvidia-smi --query-gpu=compute_cap --format=csv` shows it, e.g. 9.0): FLASH_ATTN_CUDA_ARCHS=\"90\" for flash-attn, TORCH_CUDA_ARCH_LIST=\"9.0\" for other extensions.".to_string()
    } else {
        let mut ccs: Vec<&str> = gpus.iter().map(|g| g.compute_capability.as_str()).collect();
        ccs.sort_unstable();
        ccs.dedup();
        let digits: Vec<String> = ccs.iter().map(|c| cc_digits(c)).collect();
        format!(
            "Rebuild including this host's GPUs ({}): FLASH_ATTN_CUDA_ARCHS=\"{}\" for flash-attn, TORCH_CUDA_ARCH_LIST=\"{}\" for other extensions.",
            gpus.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "),
            digits.join(";"),
            ccs.join(";")
        )
    };
    (message, fix)
}

/// `name-ver(-build)?-py-abi-plat.whl` -> (py, abi, plat).
fn wheel_tags(wheel: &str) -> Option<(&str, &str, &str)> {
    let stem = wheel.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    let n = parts.len();
    Some((parts[n - 3], parts[n - 2], parts[n - 1]))
}

fn wheel_unsupported(wheels: &Names, facts: Option<&Facts>) -> (String, String) {
    let message = match wheels.items.first() {
        Some(w) => match wheel_tags(w) {
            Some((py, abi, plat)) => format!("pip refused {w}: it was built for {py}/{abi} on {plat}, which this interpreter or platform does not accept."),
            None => format!("pip refused {w}: its tags do not match this interpreter or platform."),
        },
        None => "pip refused a wheel whose tags do not match this interpreter or platform.".to_string(),
    };
    let python = facts
        .and_then(|f| f.python.as_ref())
        .map(|p| format!(" (Python {} here)", p.version))
        .unwrap_or_default();
    (
        message,
        format!(
            "Install a wheel built for this Python{python} and platform (`python -m pip debug --verbose` lists the tags it accepts), or build one here with the Python that will import it."
        ),
    )
}

fn timeout(hard: bool) -> (String, String) {
    if hard {
        (
            "The job or a command hit its time limit before the build finished.".to_string(),
            "Shorten the build: only the GPU architectures you need (FLASH_ATTN_CUDA_ARCHS), a MAX_JOBS sized to memory, a compiler cache (sccache); or raise the limit (GitHub Actions: `timeout-minutes`).".to_string(),
        )
    } else {
        (
            "A network request timed out (flash-attn first tries to download a prebuilt wheel from GitHub; pip retries its index).".to_string(),
            "Set FLASH_ATTENTION_FORCE_BUILD=TRUE so flash-attn builds without trying the download, and check the runner's access (proxy) to the package index.".to_string(),
        )
    }
}

fn prebuilt_download(
    url: Option<&str>,
    error: Option<&str>,
    fell_back: bool,
    ctx: &DiagnoseContext,
) -> (String, String) {
    let what = url.map_or("a prebuilt wheel".to_string(), |u| {
        format!("the prebuilt wheel `{u}`")
    });
    let got = error.map_or(String::new(), |e| format!(" and got `{e}`"));
    let error = error.unwrap_or_default();
    let reason = if error.contains("name resolution") || error.contains("Name or service not known")
    {
        "this host cannot resolve the download's host name (offline, or DNS only for an internal mirror)"
    } else if error.contains("Tunnel connection failed") || error.contains("roxy") {
        "the proxy refused the connection to the download's host"
    } else if error.is_empty() {
        "it did not say why"
    } else {
        "the download's host cannot be reached from here"
    };
    let then = if fell_back {
        "It then built from source: the attempt cost time (a download that hangs can cost much more), not the build."
    } else {
        "It builds from source only when the download fails with an HTTP error, so the build ended here."
    };
    let message = format!(
        "The package's setup.py tried to download {what} instead of compiling{got}: {reason}. {then}"
    );
    let fix = match &ctx.force_build_switch {
        Some((name, value)) => format!(
            "Set {name}={value}: with it this package's setup.py compiles without trying the download (found by wheelwright's setup.py probe; `wheelwright build` sets it unless told `--allow-prebuilt`)."
        ),
        None => "Set the package's force-build switch, the variable its setup.py checks before downloading (flash-attn's is FLASH_ATTENTION_FORCE_BUILD=TRUE): `wheelwright plan --recipe torch-ext --source SDIST` runs the setup.py offline and names it, and `wheelwright build` sets it. Or let the runner reach the URL (proxy).".to_string(),
    };
    (message, fix)
}

fn ninja_missing(reason: Option<&str>, facts: Option<&Facts>) -> (String, String) {
    let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    let message = format!(
        "torch could not use ninja{why} and fell back to the distutils backend, which compiles one file at a time: a flash-attn build takes hours instead of minutes, and MAX_JOBS has no effect."
    );
    let broken = facts
        .and_then(|f| f.ninja.as_ref())
        .filter(|n| !n.healthy)
        .map(|n| {
            format!(
                " The ninja at {} fails `ninja --version`: reinstall it.",
                n.path
            )
        })
        .unwrap_or_default();
    (
        message,
        format!("`pip install ninja` into the build's Python and check that `ninja --version` exits 0 on the build's PATH, then rebuild.{broken}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiler(name: &str, major: u32) -> Compiler {
        Compiler {
            path: format!("/usr/bin/{name}-{major}"),
            name: name.to_string(),
            version: format!("{major}.1.0"),
            major,
        }
    }

    #[test]
    fn picks_newest_complete_pair_not_above_max() {
        let cs = vec![
            compiler("gcc", 14),
            compiler("g++", 14),
            compiler("gcc", 13),
            compiler("gcc", 12),
            compiler("g++", 12),
        ];
        assert_eq!(
            pick_compiler_pair(&cs, 13),
            Some((12, "/usr/bin/gcc-12", "/usr/bin/g++-12"))
        );
        assert_eq!(pick_compiler_pair(&cs, 15).map(|p| p.0), Some(14));
        assert_eq!(pick_compiler_pair(&cs, 11), None);
    }

    #[test]
    fn tags_and_versions() {
        // The newest torch with a CUDA 12 variant (2.14 in the table refreshed
        // through 2.15) has cu126 only: nvcc 12.8 gets that, same major.
        let fix = torch_install_for("12.8", None).unwrap();
        assert!(
            fix.contains("--index-url https://download.pytorch.org/whl/cu126"),
            "{fix}"
        );
        // PyTorch has no cu122: the newest torch's CUDA 12 variant nearest
        // 12.2 (only the major must agree with nvcc), never an older torch.
        let fix = torch_install_for("12.2", None).unwrap();
        assert!(fix.contains("/whl/cu126`"), "{fix}");
        assert!(!fix.contains("cu122"), "{fix}");
        assert_eq!(torch_install_for("10.2", None), None);
        assert_eq!(
            wheel_tags(
                "flash_attn-2.7.2.post1+cu12torch2.5cxx11abiFALSE-cp310-cp310-linux_x86_64.whl"
            ),
            Some(("cp310", "cp310", "linux_x86_64"))
        );
        assert_eq!(cc_digits("8.0"), "80");
    }
}
