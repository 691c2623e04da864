//! A compile cache that survives runners: sccache in front of nvcc and the
//! host C++ compiler, with its hit rate and the time it saved in the report.
//!
//! How the build reaches it (torch's `cpp_extension`, checked in its source):
//! - `PYTORCH_NVCC`: torch writes `nvcc = $PYTORCH_NVCC` into `build.ninja`
//!   when set, so `sccache /path/to/nvcc` runs every CUDA compile;
//! - `CXX`: torch's `cxx` for the `.cpp` units. It gets a wrapper script named
//!   `g++` (torch checks the compiler's name) that runs `sccache <compiler>`;
//!   `CC` is left alone: torch passes it to nvcc as `-ccbin`, and a wrapper
//!   there would hide the host compiler from nvcc;
//! - `TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES=1`: torch then leaves out
//!   nvcc's `--generate-dependencies-with-compile`, which sccache cannot cache
//!   (torch's own comment; older torch ignores the variable).
//!
//! The cache itself is sccache's: its directory (`SCCACHE_DIR`, set from
//! [`CompileCache::dir`] when given) or any backend the user's sccache config
//! or `SCCACHE_*` variables name (S3, GCS, Redis, a WebDAV server shared by a
//! fleet). The server is started with the build's environment before the
//! first attempt; statistics are read before and after, and the difference
//! is this build's ([`CacheUsage`]). sccache runs nvcc as its steps
//! (host preprocessing and `cudafe++`, `cicc` to PTX, `ptxas` to a cubin) and
//! counts each of them; hits and misses here count compile requests (the
//! `C/C++` and `CUDA` categories), the steps are reported beside them.
//!
//! Two limits of sccache 0.16, measured with PyPI's nvcc (`bench/sccache.md`):
//! - its nvcc dry-run parser fails every compile of nvcc 13.3 and later
//!   (`fatbinary fatal: Could not open input file '*.cubin'`, the new
//!   `--simt-only` cicc flag; fixed in sccache 0.18, mozilla/sccache#2722).
//!   With such a pair nvcc is not routed through sccache (a note says so);
//!   the host compiler still is;
//! - it keys the device steps (`cudafe++`, `cicc`) by the source's absolute
//!   path, `SCCACHE_BASEDIRS` notwithstanding: a rebuild hits them only at the
//!   same path, so runners of a fleet share device-code hits when their work
//!   dirs have the same path (the Action's default work dir does when the
//!   runners' tool caches do).
//!
//! Cells of a matrix with another Python (another venv) share kernels too
//! when the work-dir path is the same: `SCCACHE_BASEDIRS` gets the work dir
//! and the build Python's site dirs, and torch's headers one mtime
//! ([`keys`]; measured in `bench/fleet-cache/README.md`).
//!
//! sccache's distributed mode
//! (`SCCACHE_DIST_*`, a scheduler and build servers) needs nothing more here:
//! the client config decides where compiles run (`bench/sccache.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use wheelwright_base::env_vars;

pub mod keys;

/// Where the wrapper lives under the work dir.
pub const WRAPPER_DIR_NAME: &str = ".wheelwright-sccache";

/// Use sccache for this build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CompileCache {
    /// The `sccache` binary.
    pub sccache: PathBuf,
    /// A local cache directory (`SCCACHE_DIR`); `None` keeps the user's config.
    pub dir: Option<PathBuf>,
}

/// What sccache counted (a snapshot of `sccache --show-stats --stats-format json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SccacheCounts {
    /// Compile requests sccache saw.
    pub requests: u64,
    /// Served from the cache.
    pub hits: u64,
    /// Compiled and written to the cache.
    pub misses: u64,
    /// Seconds spent compiling the misses.
    pub compile_seconds: f64,
    /// Seconds spent reading hits.
    pub hit_read_seconds: f64,
    /// Hits of nvcc's steps (`cudafe++`, `cicc`, `ptxas`) inside the requests.
    #[serde(default)]
    pub step_hits: u64,
    /// Misses of nvcc's steps: on a rebuild, device code compiled again.
    #[serde(default)]
    pub step_misses: u64,
}

/// This build's use of the cache: the difference of two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CacheUsage {
    /// `sccache`.
    pub tool: String,
    /// The cache sccache reports (`Local disk: "/path"`, `S3, bucket: …`).
    pub location: String,
    /// Requests, hits, misses and times of this build.
    pub counts: SccacheCounts,
    /// hits ÷ (hits + misses); 0 without either.
    pub hit_rate: f64,
    /// Estimated compile time the hits saved: hits × the mean missed
    /// request's compile time (nvcc's steps counted once), less the time
    /// reading them. Compile time summed over parallel jobs, not wall time.
    pub saved_seconds: f64,
}

/// Why the cache could not be set up (the build then runs without it).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// sccache did not run or start its server.
    #[error("`{command}` failed: {message}")]
    Sccache {
        /// The command line.
        command: String,
        /// What it said.
        message: String,
    },
    /// The stats were not sccache's JSON.
    #[error("sccache's stats are not the JSON expected: {0}")]
    Stats(String),
    /// The wrapper could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn seconds(v: &serde_json::Value) -> f64 {
    v.get("secs").and_then(|s| s.as_f64()).unwrap_or(0.0)
        + v.get("nanos").and_then(|n| n.as_f64()).unwrap_or(0.0) / 1e9
}

/// sccache's categories for the steps it runs inside one nvcc request.
const NVCC_STEPS: [&str; 3] = ["CUDA (Device code)", "PTX", "CUBIN"];

/// The sum of `counts` over the requests' categories (`steps` false) or over
/// nvcc's steps (`steps` true).
fn sum_counts(v: &serde_json::Value, steps: bool) -> u64 {
    v.get("counts")
        .and_then(|c| c.as_object())
        .map(|o| {
            o.iter()
                .filter(|(k, _)| NVCC_STEPS.contains(&k.as_str()) == steps)
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Counts and the cache's location from `sccache --show-stats --stats-format json`.
pub fn parse_stats(json: &str) -> Result<(SccacheCounts, String), CacheError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| CacheError::Stats(e.to_string()))?;
    let s = v
        .get("stats")
        .ok_or_else(|| CacheError::Stats("no `stats` object".into()))?;
    let counts = SccacheCounts {
        requests: s
            .get("compile_requests")
            .and_then(|n| n.as_u64())
            .unwrap_or(0),
        hits: s.get("cache_hits").map_or(0, |v| sum_counts(v, false)),
        misses: s.get("cache_misses").map_or(0, |v| sum_counts(v, false)),
        compile_seconds: s.get("compiler_write_duration").map(seconds).unwrap_or(0.0),
        hit_read_seconds: s.get("cache_read_hit_duration").map(seconds).unwrap_or(0.0),
        step_hits: s.get("cache_hits").map_or(0, |v| sum_counts(v, true)),
        step_misses: s.get("cache_misses").map_or(0, |v| sum_counts(v, true)),
    };
    let location = v
        .get("cache_location")
        .and_then(|l| l.as_str())
        .unwrap_or("")
        .to_string();
    Ok((counts, location))
}

/// The compile time of the missed requests alone. An nvcc request that
/// missed runs its steps through the server, and sccache times the steps as
/// compiles of their own as well as inside the request: with step misses the
/// time is counted about twice, so it is halved. On the H200's flash-attn
/// subset (`bench/results/h200-sccache-subset`) this gave 1,316.97 s against
/// ninja's own Σ of the 8 compiles, 1,343.5 s (−2 %), where the whole figure
/// (2,633.9 s) overstated the saving 1.96×. Builds mixing C++ and CUDA misses
/// are estimated the same way (the C++ share is then undercounted).
fn request_seconds(c: &SccacheCounts) -> f64 {
    if c.step_misses > 0 {
        c.compile_seconds / 2.0
    } else {
        c.compile_seconds
    }
}

/// This build's share: `after − before` (a server restarted in between counts from zero).
pub fn usage(before: &SccacheCounts, after: &SccacheCounts, location: &str) -> CacheUsage {
    let restarted = after.requests < before.requests;
    let base = if restarted {
        SccacheCounts::default()
    } else {
        *before
    };
    let counts = SccacheCounts {
        requests: after.requests - base.requests,
        hits: after.hits.saturating_sub(base.hits),
        misses: after.misses.saturating_sub(base.misses),
        compile_seconds: (after.compile_seconds - base.compile_seconds).max(0.0),
        hit_read_seconds: (after.hit_read_seconds - base.hit_read_seconds).max(0.0),
        step_hits: after.step_hits.saturating_sub(base.step_hits),
        step_misses: after.step_misses.saturating_sub(base.step_misses),
    };
    let looked_up = counts.hits + counts.misses;
    let hit_rate = if looked_up == 0 {
        0.0
    } else {
        counts.hits as f64 / looked_up as f64
    };
    // The mean compile of a miss, from this build, else from everything the
    // server saw (a fully warm build has no misses of its own).
    let mean_miss = if counts.misses > 0 {
        request_seconds(&counts) / counts.misses as f64
    } else if after.misses > 0 {
        request_seconds(after) / after.misses as f64
    } else {
        0.0
    };
    // A build whose requests all hit but whose nvcc steps ran again (another
    // path: see the module docs) paid for those steps: count them against it.
    let steps_again = if counts.misses == 0 && counts.step_misses > 0 {
        counts.compile_seconds
    } else {
        0.0
    };
    let saved_seconds =
        (counts.hits as f64 * mean_miss - counts.hit_read_seconds - steps_again).max(0.0);
    CacheUsage {
        tool: "sccache".into(),
        location: location.to_string(),
        counts,
        hit_rate,
        saved_seconds,
    }
}

/// The cache set up for one build: the environment to add and the stats at the start.
#[derive(Debug, Clone)]
pub struct ActiveCache {
    /// Variables to set on the build.
    pub env: BTreeMap<String, String>,
    /// Counts when the build started.
    pub before: SccacheCounts,
    /// What the build should be told (nvcc left out of the cache, and why).
    pub notes: Vec<String>,
    sccache: PathBuf,
    server_env: BTreeMap<String, String>,
}

impl ActiveCache {
    /// This build's use of the cache, read now.
    pub fn finish(&self) -> Result<CacheUsage, CacheError> {
        let (after, location) = read_stats(&self.sccache, &self.server_env)?;
        Ok(usage(&self.before, &after, &location))
    }
}

fn run(
    sccache: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
) -> Result<String, CacheError> {
    let command = format!("{} {}", sccache.display(), args.join(" "));
    let out = Command::new(sccache)
        .args(args)
        .envs(env)
        .output()
        .map_err(|e| CacheError::Sccache {
            command: command.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(CacheError::Sccache {
            command,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_stats(
    sccache: &Path,
    env: &BTreeMap<String, String>,
) -> Result<(SccacheCounts, String), CacheError> {
    parse_stats(&run(
        sccache,
        &["--show-stats", "--stats-format", "json"],
        env,
    )?)
}

/// Start sccache's server with the build's environment, write the `g++`
/// wrapper under `work_dir`, read the stats, and return the variables the
/// build needs. `nvcc` and `cxx` are the real compilers; `python` the
/// build's interpreter, whose site dirs go into `SCCACHE_BASEDIRS` (unless
/// the user set it) and whose torch headers get one mtime
/// ([`keys`]: what lets cells of a matrix share kernels).
pub fn activate(
    cache: &CompileCache,
    work_dir: &Path,
    build_env: &BTreeMap<String, String>,
    nvcc: &Path,
    cxx: &str,
    python: Option<&Path>,
) -> Result<ActiveCache, CacheError> {
    let mut server_env = build_env.clone();
    if let Some(dir) = &cache.dir {
        server_env.insert(env_vars::SCCACHE_DIR.into(), dir.display().to_string());
    }
    let mut notes = Vec::new();
    let paths = python.and_then(keys::python_paths).unwrap_or_default();
    let user_base_dirs = build_env
        .get(env_vars::SCCACHE_BASEDIRS)
        .cloned()
        .or_else(|| std::env::var(env_vars::SCCACHE_BASEDIRS).ok())
        .filter(|v| !v.is_empty());
    let ours = match &user_base_dirs {
        Some(_) => None,
        None => {
            let dirs = keys::base_dirs(work_dir, &paths);
            server_env.insert(env_vars::SCCACHE_BASEDIRS.into(), dirs.clone());
            Some(dirs)
        }
    };
    // An already running server keeps its own config; a new one gets ours.
    let _ = run(&cache.sccache, &["--start-server"], &server_env);
    let stats = run(
        &cache.sccache,
        &["--show-stats", "--stats-format", "json"],
        &server_env,
    )?;
    let (before, _) = parse_stats(&stats)?;
    if let Some(ours) = &ours {
        let running = keys::server_base_dirs(&stats);
        if !ours.split(':').all(|d| running.iter().any(|r| r == d)) {
            notes.push(format!(
                "the sccache server was already running without SCCACHE_BASEDIRS={ours}: objects \
                 are keyed by this venv's and work dir's paths, and cells with another venv \
                 will not share them (hint: `sccache --stop-server` before the build)"
            ));
        }
    }
    if let Some(include) = &paths.torch_include {
        match keys::normalize_header_mtimes(include) {
            Ok((seen, changed)) => notes.push(format!(
                "torch's {seen} headers under {} have one mtime (2000-01-01; {changed} set now), \
                 so GCC's #pragma once picks the same headers in every venv and cells share \
                 kernels",
                include.display()
            )),
            Err(e) => notes.push(format!(
                "could not set the mtimes of torch's headers under {} ({e}): cells with \
                 another venv may not share kernels",
                include.display()
            )),
        }
    }

    let bin = work_dir.join(WRAPPER_DIR_NAME);
    std::fs::create_dir_all(&bin).map_err(|source| CacheError::Io {
        path: bin.clone(),
        source,
    })?;
    let wrapper = bin.join("g++");
    let script = format!(
        "#!/bin/sh\n# wheelwright: the host C++ compiler through sccache\nexec {} {} \"$@\"\n",
        sh_quote(&cache.sccache.display().to_string()),
        sh_quote(cxx)
    );
    write_executable(&wrapper, &script)?;

    let mut env = BTreeMap::new();
    if let Some(dir) = &cache.dir {
        env.insert(env_vars::SCCACHE_DIR.to_string(), dir.display().to_string());
    }
    let versions = (
        version_of(&cache.sccache, &server_env).and_then(|t| parse_sccache_version(&t)),
        version_of(nvcc, &server_env)
            .and_then(|t| wheelwright_detect::cuda::parse_nvcc_version(&t))
            .and_then(|v| wheelwright_base::support::major_minor(&v)),
    );
    match versions {
        (Some(sc), Some(nv)) if !nvcc_cacheable(sc, nv) => notes.push(format!(
            "nvcc {}.{} is not routed through sccache {}.{}: sccache before {}.{} fails every \
             compile of nvcc {}.{} and later (mozilla/sccache#2722); CUDA units compile \
             uncached, C++ units through sccache (hint: sccache >= {}.{})",
            nv.0,
            nv.1,
            sc.0,
            sc.1,
            SCCACHE_FOR_NEW_NVCC.0,
            SCCACHE_FOR_NEW_NVCC.1,
            NVCC_NEEDING_NEW_SCCACHE.0,
            NVCC_NEEDING_NEW_SCCACHE.1,
            SCCACHE_FOR_NEW_NVCC.0,
            SCCACHE_FOR_NEW_NVCC.1,
        )),
        _ => {
            env.insert(
                env_vars::PYTORCH_NVCC.to_string(),
                format!("{} {}", cache.sccache.display(), nvcc.display()),
            );
            env.insert(
                env_vars::TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES.to_string(),
                "1".to_string(),
            );
        }
    }
    env.insert(env_vars::CXX.to_string(), wrapper.display().to_string());
    Ok(ActiveCache {
        env,
        before,
        notes,
        sccache: cache.sccache.clone(),
        server_env,
    })
}

/// The first nvcc release whose compiles sccache's nvcc support breaks on.
const NVCC_NEEDING_NEW_SCCACHE: (u32, u32) = (13, 3);
/// The first sccache release that compiles with those.
const SCCACHE_FOR_NEW_NVCC: (u32, u32) = (0, 18);

/// Whether sccache `sccache` (major, minor) can run compiles of nvcc `nvcc`:
/// nvcc 13.3 added `--simt-only` to its cicc step, which sccache's dry-run
/// parser before 0.18 misreads (every compile then fails in `fatbinary`,
/// measured with sccache 0.16.0 and PyPI's nvcc 13.5; nvcc 13.0 compiles).
/// Unknown versions are given the benefit of the doubt.
pub fn nvcc_cacheable(sccache: (u32, u32), nvcc: (u32, u32)) -> bool {
    nvcc < NVCC_NEEDING_NEW_SCCACHE || sccache >= SCCACHE_FOR_NEW_NVCC
}

/// `(0, 16)` from `sccache 0.16.0`.
pub fn parse_sccache_version(text: &str) -> Option<(u32, u32)> {
    let v = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    wheelwright_base::support::major_minor(v)
}

/// `PROGRAM --version`'s output, `None` when it does not run.
fn version_of(program: &Path, env: &BTreeMap<String, String>) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .envs(env)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write_executable(path: &Path, text: &str) -> Result<(), CacheError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests;
