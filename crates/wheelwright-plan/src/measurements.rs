//! The measured compile costs the planner is calibrated on, embedded at build
//! time, and the parsers that read them.
//!
//! The files in `crates/wheelwright-plan/data/` are copies of
//! `measurements/` (see the README there): per-TU peaks and times of
//! flash-attn 2 on a 16-core H100 host, ninja's own log of a real 16-job
//! flash-attn 2.8.3 build (sm_90, `--threads 1`) and the host memory trace of
//! that build. The parsers are public so the build runner and tests can read
//! logs of other builds the same way.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use wheelwright_base::units::MIB;

/// `fa2_tu_h100.jsonl`: one compiled TU per line.
pub const TU_JSONL: &str = include_str!("../data/fa2_tu_h100.jsonl");
/// `fa2_gencode_peaks_h200.jsonl`: the same units built with the same MAX_JOBS,
/// all started together, at one gencode and at several with `--threads`.
pub const GENCODE_PEAKS_JSONL: &str = include_str!("../data/fa2_gencode_peaks_h200.jsonl");
/// `fa2_arch_costs_cpu.jsonl`: flash-attn 2.8.3 units compiled once per
/// gencode and with several gencodes on a CPU box (`bench/arch_costs/`).
pub const ARCH_COSTS_JSONL: &str = include_str!("../data/fa2_arch_costs_cpu.jsonl");
/// `.ninja_log` of flash-attn 2.8.3, sm_90, MAX_JOBS=16, NVCC_THREADS=1, 16 cores.
pub const REAL_BUILD_NINJA_LOG: &str = include_str!("../data/fa2_2.8.3_sm90_j16_t1.ninja_log");
/// Used host memory of that build: `seconds MiB` every 2 s.
pub const REAL_BUILD_MEMORY_TRACE: &str = include_str!("../data/fa2_2.8.3_sm90_j16_t1.mem.txt");
/// MAX_JOBS of the real build.
pub const REAL_BUILD_JOBS: u32 = 16;
/// Cores of the host it ran on (16 real cores, one thread each).
pub const REAL_BUILD_CPUS: u32 = 16;
/// flash-attn version of the real build.
pub const REAL_BUILD_VERSION: &str = "2.8.3";
/// Cores of the host the TU measurements ran on.
pub const TU_HOST_CPUS: u32 = 16;
/// How many TUs compiled at once in the development-tree lines of the jsonl.
pub const TU_DEV_TREE_CONCURRENCY: u32 = 10;
/// `g++ flash_api.cpp` alone on that host (README: 27.9 s alone, 29.3 s with
/// 16 at once).
pub const FLASH_API_ALONE_SECONDS: f64 = 27.9;

/// One line of a `.ninja_log` (v5 and later): one finished output.
#[derive(Debug, Clone, PartialEq)]
pub struct NinjaLogEntry {
    /// When the output's command started, ms after ninja started.
    pub start_ms: u64,
    /// When it ended, ms after ninja started.
    pub end_ms: u64,
    /// The output path, e.g. `build/temp…/csrc/flash_attn/src/flash_bwd_…o`.
    pub output: String,
    /// The output's mtime in ns since the epoch, as ninja recorded it after the
    /// command (0 when unknown): it places entries of different ninja runs,
    /// whose start/end count from each run's own start, on one clock.
    pub mtime_ns: u64,
}

impl NinjaLogEntry {
    /// The output's file stem: `flash_bwd_hdim128_bf16_sm80`.
    pub fn stem(&self) -> &str {
        file_stem(&self.output)
    }

    /// The command's duration.
    pub fn seconds(&self) -> f64 {
        self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0
    }
}

/// Parse a `.ninja_log`; comment lines and malformed lines are skipped, and a
/// rebuilt output keeps only its last entry (as ninja itself does).
pub fn parse_ninja_log(text: &str) -> Vec<NinjaLogEntry> {
    let mut out: Vec<NinjaLogEntry> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 4 {
            continue;
        }
        let (Ok(start_ms), Ok(end_ms)) = (fields[0].parse(), fields[1].parse()) else {
            continue;
        };
        let output = fields[3].to_string();
        let mtime_ns = fields[2].parse().unwrap_or(0);
        out.retain(|e| e.output != output);
        out.push(NinjaLogEntry {
            start_ms,
            end_ms,
            output,
            mtime_ns,
        });
    }
    out
}

/// One measured TU compile (a line of `fa2_tu_h100.jsonl`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TuMeasurement {
    /// The unit's path.
    pub unit: String,
    /// `nvcc` or `c++`.
    pub compiler: String,
    /// The gencodes it compiled.
    pub gencodes: Vec<String>,
    /// `nvcc --threads`, when set.
    pub nvcc_threads: Option<u32>,
    /// Wall time of the compile.
    pub wall_s: f64,
    /// Peak summed RSS of the compile's process tree, GiB.
    pub peak_tree_rss_gib: f64,
    /// `flash_attn-2.8.3 sdist` for the sdist lines; absent for the
    /// development-tree lines.
    #[serde(default)]
    pub source: Option<String>,
}

impl TuMeasurement {
    /// The unit's stem without a `.cpp`/`.cu` extension.
    pub fn stem(&self) -> &str {
        file_stem(&self.unit)
    }

    /// Compiled for one target with `--threads 1` (or by g++).
    pub fn is_single(&self) -> bool {
        self.gencodes.len() <= 1 && self.nvcc_threads.unwrap_or(1) == 1
    }

    /// The measurement's unit comes from an sdist (not the built-in list).
    pub fn from_sdist(&self) -> bool {
        self.source.as_deref().is_some_and(|s| s.contains("sdist"))
    }
}

/// Parse one JSON record per line ([`TuMeasurement`]s, [`BuildPeak`]s);
/// malformed lines are skipped.
pub fn parse_jsonl<T: DeserializeOwned>(text: &str) -> Vec<T> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// One build of a fixed unit set in `fa2_gencode_peaks_h200.jsonl`: its peak
/// summed RSS at these gencodes and `--threads`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BuildPeak {
    /// How many units the build compiled.
    pub units: u32,
    /// MAX_JOBS of the build.
    pub max_jobs: u32,
    /// The gencodes of every compile.
    pub gencodes: Vec<String>,
    /// `nvcc --threads`.
    pub nvcc_threads: u32,
    /// Peak summed RSS of the build's processes.
    pub peak_tree_rss_bytes: u64,
}

/// A memory trace: `(seconds, used bytes)` from `seconds MiB` lines.
pub fn parse_memory_trace(text: &str) -> Vec<(f64, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let t: f64 = it.next()?.parse().ok()?;
            let mib: f64 = it.next()?.parse().ok()?;
            Some((t, (mib * MIB as f64) as u64))
        })
        .collect()
}

/// `a/b/flash_api.o` → `flash_api`.
pub fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_parses() {
        let log = parse_ninja_log(REAL_BUILD_NINJA_LOG);
        assert_eq!(log.len(), 69);
        assert_eq!(log[0].stem(), "flash_api");
        assert!((log[0].seconds() - 50.857).abs() < 1e-9);
        let tus: Vec<TuMeasurement> = parse_jsonl(TU_JSONL);
        assert_eq!(tus.len(), 44);
        assert_eq!(tus.iter().filter(|t| t.from_sdist()).count(), 34);
        let trace = parse_memory_trace(REAL_BUILD_MEMORY_TRACE);
        let peak = trace.iter().map(|p| p.1).max().unwrap();
        assert_eq!(peak, 71_749 * MIB);
    }

    #[test]
    fn skips_junk() {
        assert!(parse_ninja_log("# ninja log v5\nnot\ta\tline\n1\t2\n").is_empty());
        assert!(parse_jsonl::<TuMeasurement>("{]\n").is_empty());
        assert!(parse_memory_trace("x y\n").is_empty());
        assert_eq!(file_stem("a/b/c.tar.o"), "c.tar");
        assert_eq!(file_stem("flash_api.cpp"), "flash_api");
    }
}

/// One compile of `fa2_arch_costs_cpu.jsonl` (`bench/arch_costs/measure.py`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ArchCompile {
    /// The unit's stem.
    pub unit: String,
    /// Its targets (`sm_90`, `sm_100f`, `compute_120`): one `-gencode` each.
    pub targets: Vec<String>,
    /// `nvcc --threads`.
    pub nvcc_threads: u32,
    /// 0, or the how-manieth repeat of the same compile.
    #[serde(default)]
    pub rep: u32,
    /// nvcc's exit status.
    pub rc: i32,
    /// User + sys seconds of nvcc and its tools.
    pub cpu_s: f64,
    /// Peak summed RSS of the compile's process tree.
    pub peak_tree_rss_bytes: u64,
    /// Set when the measuring script stopped the compile (memory guard).
    #[serde(default)]
    pub guard: Option<String>,
}

impl ArchCompile {
    /// It finished on its own.
    pub fn usable(&self) -> bool {
        self.rc == 0 && self.guard.is_none() && self.cpu_s > 0.0
    }
}
