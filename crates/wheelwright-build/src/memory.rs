//! Memory use during a build, sampled every second in a thread, keeping the peak.
//!
//! Three views, because each misses something:
//! - host: `/proc/meminfo` MemTotal − MemAvailable (what the machine feels);
//! - cgroup: v2 `memory.current` (and `memory.peak` at the end), or v1
//!   `memory.usage_in_bytes` — the number the OOM killer of a container acts on;
//! - build tree: the summed RSS of the build's own processes (`VmRSS` of each),
//!   which is what more or fewer compile jobs change, and so what an OOM retry
//!   divides by the job count.
//!
//! Host and cgroup files are read under a root (`/` normally, a fake root in tests).
//! At each sample the build tree's processes are also grouped by the compile
//! they belong to, so each unit's peak is kept too ([`MemoryPeak::units`],
//! `unit_memory`): what the next plan of the same source learns from.
//!
//! The latest host and cgroup figures ([`MemorySampler::latest`]) are also what
//! the thrash watchdog (`oom::thrash`) compares with the ceiling, so memory is
//! read once per tick, not twice.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use wheelwright_detect::cgroup::{cgroup_dir, parse_proc_self_cgroup};
use wheelwright_detect::host::proc_field_bytes;
use wheelwright_process::tree;

use super::unit_memory;

/// The peaks of one build (or attempt). Bytes; `None` where a view was unreadable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemoryPeak {
    /// Highest MemTotal − MemAvailable seen.
    pub host_used_bytes: Option<u64>,
    /// Host used memory when sampling started (other tenants, page cache pins, ...).
    pub host_baseline_bytes: Option<u64>,
    /// Highest cgroup `memory.current` / `memory.usage_in_bytes` seen.
    pub cgroup_bytes: Option<u64>,
    /// cgroup v2 `memory.peak` at the end, when it rose during the build (so it
    /// is this build's and not an older one's).
    pub cgroup_peak_bytes: Option<u64>,
    /// Highest summed RSS of the build's process tree.
    pub build_tree_rss_bytes: Option<u64>,
    /// How many samples were taken.
    pub samples: u64,
    /// Each compile's highest summed RSS (nvcc or the host compiler and
    /// every process under it), by the source path it was given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, u64>,
}

impl MemoryPeak {
    /// The best estimate of what the build itself used at its peak: the tree's
    /// RSS, else the host's rise over its baseline.
    pub fn build_usage_bytes(&self) -> Option<u64> {
        self.build_tree_rss_bytes.filter(|b| *b > 0).or_else(|| {
            match (self.host_used_bytes, self.host_baseline_bytes) {
                (Some(peak), Some(base)) if peak > base => Some(peak - base),
                _ => None,
            }
        })
    }

    /// Fold another peak (a later attempt) into this one.
    pub(crate) fn merge(&mut self, other: &MemoryPeak) {
        fn max(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            }
        }
        self.host_used_bytes = max(self.host_used_bytes, other.host_used_bytes);
        self.host_baseline_bytes = self.host_baseline_bytes.or(other.host_baseline_bytes);
        self.cgroup_bytes = max(self.cgroup_bytes, other.cgroup_bytes);
        self.cgroup_peak_bytes = max(self.cgroup_peak_bytes, other.cgroup_peak_bytes);
        self.build_tree_rss_bytes = max(self.build_tree_rss_bytes, other.build_tree_rss_bytes);
        self.samples += other.samples;
        unit_memory::raise_peaks(&mut self.units, &other.units);
    }
}

/// MemTotal − MemAvailable from `/proc/meminfo` text, in bytes; `None`
/// without both lines.
pub(crate) fn parse_meminfo_used(text: &str) -> Option<u64> {
    let total = proc_field_bytes(text, "MemTotal")?;
    let available = proc_field_bytes(text, "MemAvailable")?;
    Some(total.saturating_sub(available))
}

/// The file holding this process's cgroup memory use: v2 `memory.current` or v1
/// `memory.usage_in_bytes`, found from `/proc/self/cgroup` (parsed by `detect`),
/// falling back to the cgroup root mounted at `/sys/fs/cgroup` (as inside a container).
pub(crate) fn cgroup_memory_file(root: &Path) -> Option<PathBuf> {
    let sys = root.join("sys/fs/cgroup");
    let own = fs::read_to_string(root.join("proc/self/cgroup"))
        .map(|t| parse_proc_self_cgroup(&t))
        .unwrap_or_default();
    let mut candidates = Vec::new();
    if let Some(path) = own.unified.as_deref() {
        candidates.push(cgroup_dir(&sys, path).join("memory.current"));
    }
    if let Some(path) = own.memory.as_deref() {
        candidates.push(cgroup_dir(&sys.join("memory"), path).join("memory.usage_in_bytes"));
    }
    candidates.push(sys.join("memory.current"));
    candidates.push(sys.join("memory/memory.usage_in_bytes"));
    candidates.into_iter().find(|p| read_u64(p).is_some())
}

/// A file holding one number (`memory.current`, `memory.peak`).
pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `memory.peak` beside a v2 `memory.current`.
fn cgroup_peak_file(current: &Path) -> Option<PathBuf> {
    (current.file_name()? == "memory.current").then(|| current.with_file_name("memory.peak"))
}

/// What to sample.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// Root to read `proc/meminfo` and `sys/fs/cgroup` under.
    pub root: PathBuf,
    /// Time between samples.
    pub interval: Duration,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            root: PathBuf::from("/"),
            interval: Duration::from_secs(1),
        }
    }
}

/// A thread sampling memory until stopped. The build tree to sum RSS over can
/// be set once the build has started.
#[derive(Debug)]
pub(crate) struct MemorySampler {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<SamplerState>>,
    handle: Option<thread::JoinHandle<()>>,
    cgroup_file: Option<PathBuf>,
    cgroup_peak_at_start: Option<u64>,
}

#[derive(Debug, Default)]
struct SamplerState {
    peak: MemoryPeak,
    latest: Option<Reading>,
    tree: Option<tree::BuildTree>,
}

/// One sample's host and cgroup figures, and when it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reading {
    pub at: Instant,
    /// MemTotal − MemAvailable.
    pub host_used: Option<u64>,
    /// The cgroup's `memory.current` (v1 `memory.usage_in_bytes`).
    pub cgroup: Option<u64>,
}

impl MemorySampler {
    /// Take a first sample now and keep sampling every `config.interval`.
    pub(crate) fn start(config: SamplerConfig) -> MemorySampler {
        let cgroup_file = cgroup_memory_file(&config.root);
        let cgroup_peak_at_start = cgroup_file
            .as_deref()
            .and_then(cgroup_peak_file)
            .and_then(|p| read_u64(&p));
        let meminfo = config.root.join("proc/meminfo");
        let state = Arc::new(Mutex::new(SamplerState::default()));
        if let Ok(mut s) = state.lock() {
            s.peak.host_baseline_bytes = fs::read_to_string(&meminfo)
                .ok()
                .and_then(|t| parse_meminfo_used(&t));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            let state = Arc::clone(&state);
            let cgroup_file = cgroup_file.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    sample_once(&meminfo, cgroup_file.as_deref(), &state);
                    // Sleep in small steps so stop() returns quickly.
                    let mut slept = Duration::ZERO;
                    while slept < config.interval && !stop.load(Ordering::Relaxed) {
                        let step = Duration::from_millis(50).min(config.interval - slept);
                        thread::sleep(step);
                        slept += step;
                    }
                }
            })
        };
        MemorySampler {
            stop,
            state,
            handle: Some(handle),
            cgroup_file,
            cgroup_peak_at_start,
        }
    }

    /// Sum RSS over this build tree from now on.
    pub(crate) fn watch_tree(&self, tree: tree::BuildTree) {
        if let Ok(mut s) = self.state.lock() {
            s.tree = Some(tree);
        }
    }

    /// The peaks so far.
    pub(crate) fn peak(&self) -> MemoryPeak {
        self.state
            .lock()
            .map(|s| s.peak.clone())
            .unwrap_or_default()
    }

    /// The latest sample's host and cgroup figures (at most one
    /// [`SamplerConfig::interval`] old while the thread runs).
    pub(crate) fn latest(&self) -> Option<Reading> {
        self.state.lock().ok().and_then(|s| s.latest)
    }

    /// Stop sampling and return the peaks.
    pub(crate) fn stop(mut self) -> MemoryPeak {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let mut peak = self.peak();
        if let Some(peak_file) = self.cgroup_file.as_deref().and_then(cgroup_peak_file) {
            if let Some(end) = read_u64(&peak_file) {
                if self.cgroup_peak_at_start.is_none_or(|start| end > start) {
                    peak.cgroup_peak_bytes = Some(end);
                }
            }
        }
        peak
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn sample_once(meminfo: &Path, cgroup_file: Option<&Path>, state: &Mutex<SamplerState>) {
    let at = Instant::now();
    let host = fs::read_to_string(meminfo)
        .ok()
        .and_then(|t| parse_meminfo_used(&t));
    let cgroup = cgroup_file.and_then(read_u64);
    let tree = state.lock().ok().and_then(|s| s.tree.clone());
    let procs = tree.map(|t| unit_memory::read_tree(t.members()));
    let rss = procs
        .as_ref()
        .map(|p| p.iter().map(|p| p.rss_bytes).sum::<u64>());
    let units = procs.as_deref().map(unit_memory::unit_rss);
    if let Ok(mut s) = state.lock() {
        s.latest = Some(Reading {
            at,
            host_used: host,
            cgroup,
        });
        let p = &mut s.peak;
        p.samples += 1;
        let bump = |slot: &mut Option<u64>, v: Option<u64>| {
            if let Some(v) = v {
                *slot = Some(slot.map_or(v, |old| old.max(v)));
            }
        };
        bump(&mut p.host_used_bytes, host);
        bump(&mut p.cgroup_bytes, cgroup);
        bump(&mut p.build_tree_rss_bytes, rss);
        if let Some(units) = &units {
            unit_memory::raise_peaks(&mut p.units, units);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       131072000 kB\nMemFree:         1000000 kB\nMemAvailable:   100000000 kB\nBuffers:          123 kB\n";

    #[test]
    fn parses_meminfo() {
        assert_eq!(
            parse_meminfo_used(MEMINFO),
            Some((131_072_000 - 100_000_000) * 1024)
        );
        assert_eq!(parse_meminfo_used("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn finds_cgroup_files_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("proc/self")).unwrap();
        fs::create_dir_all(root.join("sys/fs/cgroup/user.slice/build")).unwrap();
        fs::write(root.join("proc/self/cgroup"), "0::/user.slice/build\n").unwrap();
        let cur = root.join("sys/fs/cgroup/user.slice/build/memory.current");
        fs::write(&cur, "4096\n").unwrap();
        assert_eq!(cgroup_memory_file(root), Some(cur.clone()));
        // v1 in a container: the path in /proc/self/cgroup is not mounted; use the root.
        fs::write(root.join("proc/self/cgroup"), "5:memory:/docker/abc\n").unwrap();
        fs::remove_file(&cur).unwrap();
        fs::create_dir_all(root.join("sys/fs/cgroup/memory")).unwrap();
        let v1 = root.join("sys/fs/cgroup/memory/memory.usage_in_bytes");
        fs::write(&v1, "8192\n").unwrap();
        assert_eq!(cgroup_memory_file(root), Some(v1));
        assert_eq!(cgroup_memory_file(&root.join("nowhere")), None);
    }

    #[test]
    fn samples_and_keeps_the_peak() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("proc/self")).unwrap();
        fs::create_dir_all(root.join("sys/fs/cgroup")).unwrap();
        fs::write(root.join("proc/meminfo"), MEMINFO).unwrap();
        fs::write(root.join("proc/self/cgroup"), "0::/\n").unwrap();
        fs::write(root.join("sys/fs/cgroup/memory.current"), "1000\n").unwrap();
        fs::write(root.join("sys/fs/cgroup/memory.peak"), "5000\n").unwrap();
        let sampler = MemorySampler::start(SamplerConfig {
            root: root.to_path_buf(),
            interval: Duration::from_millis(20),
        });
        thread::sleep(Duration::from_millis(80));
        fs::write(root.join("sys/fs/cgroup/memory.current"), "3000\n").unwrap();
        fs::write(root.join("sys/fs/cgroup/memory.peak"), "7000\n").unwrap();
        thread::sleep(Duration::from_millis(80));
        fs::write(root.join("sys/fs/cgroup/memory.current"), "2000\n").unwrap();
        thread::sleep(Duration::from_millis(80));
        // The latest figures (what the thrash watchdog judges), not the peak.
        let latest = sampler.latest().unwrap();
        assert_eq!(
            (latest.cgroup, latest.host_used),
            (Some(2000), Some(31_072_000 * 1024))
        );
        let peak = sampler.stop();
        assert_eq!(peak.cgroup_bytes, Some(3000));
        assert_eq!(peak.cgroup_peak_bytes, Some(7000));
        assert_eq!(peak.host_used_bytes, Some(31_072_000 * 1024));
        assert!(peak.samples >= 3, "{peak:?}");
    }

    #[test]
    fn sums_the_rss_of_a_real_tree() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let sampler = MemorySampler::start(SamplerConfig {
            root: PathBuf::from("/"),
            interval: Duration::from_millis(20),
        });
        sampler.watch_tree(tree::BuildTree::new(child.id(), "unused-marker"));
        thread::sleep(Duration::from_millis(200));
        let peak = sampler.stop();
        tree::BuildTree::new(child.id(), "unused-marker").terminate(Duration::from_secs(2));
        let _ = child.wait();
        assert!(peak.build_tree_rss_bytes.unwrap_or(0) > 0, "{peak:?}");
        assert!(peak.build_usage_bytes().is_some());
    }
}
