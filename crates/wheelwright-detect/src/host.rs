//! The host: CPUs, memory, kernel and free disk, with the cgroup limits of
//! [`super::cgroup`] applied on top.
//!
//! Fallback chains (files read under the options' root; the live-system
//! fallbacks through `sysinfo` are used only when the root is `/`):
//! - logical CPUs: `Cpus_allowed_list` of `/proc/self/status` (the CPUs this
//!   process may run on: taskset, cpusets) capped by the `processor` count of
//!   `/proc/cpuinfo` → that count alone → `std::thread::available_parallelism`.
//! - physical cores: distinct (`physical id`, `core id`) pairs of
//!   `/proc/cpuinfo` → `sysinfo::System::physical_core_count`.
//! - memory total/available: `MemTotal`/`MemAvailable` of `/proc/meminfo`
//!   (`MemFree + Buffers + Cached` before Linux 3.14) → `sysinfo`.
//! - kernel: `/proc/sys/kernel/osrelease` → `sysinfo::System::kernel_version`.
//! - free disk: `statvfs` of the disk path (blocks available to unprivileged
//!   users), never under the root: it is the real build directory.

use std::collections::BTreeSet;
use std::path::Path;

use wheelwright_base::facts::{Host, Problem};

use super::{cgroup, problem, DetectOptions};

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemInfo {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// The `name: N kB` line of a `/proc` file (`meminfo`, `<pid>/status`), in bytes.
pub fn proc_field_bytes(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut it = rest.split_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        let mult = match it.next() {
            Some("kB") | Some("KB") | Some("kb") => 1024,
            None => 1,
            Some(_) => return None,
        };
        n.checked_mul(mult)
    })
}

/// Parse `/proc/meminfo`. `None` without a `MemTotal` line.
pub(crate) fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let field = |name: &str| proc_field_bytes(text, name);
    let total = field("MemTotal")?;
    let available = field("MemAvailable").unwrap_or_else(|| {
        ["MemFree", "Buffers", "Cached"]
            .iter()
            .filter_map(|name| field(name))
            .fold(0, u64::saturating_add)
    });
    Some(MemInfo {
        total_bytes: total,
        available_bytes: available,
    })
}

/// What `/proc/cpuinfo` says about CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuInfo {
    /// `processor` entries.
    pub logical: u32,
    /// Distinct (`physical id`, `core id`) pairs; `None` where the kernel does
    /// not list cores (most ARM machines).
    pub physical: Option<u32>,
}

/// Parse `/proc/cpuinfo`. `None` when it lists no processor.
pub(crate) fn parse_cpuinfo(text: &str) -> Option<CpuInfo> {
    let mut logical = 0u32;
    let mut cores = BTreeSet::new();
    // Blocks are separated by blank lines, one per logical CPU.
    for block in text.split("\n\n") {
        let mut is_cpu = false;
        let mut package: Option<&str> = None;
        let mut core: Option<&str> = None;
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "processor" => is_cpu = true,
                "physical id" => package = Some(value.trim()),
                "core id" => core = Some(value.trim()),
                _ => {}
            }
        }
        if is_cpu {
            logical += 1;
            if let Some(core) = core {
                cores.insert((package.unwrap_or("0").to_string(), core.to_string()));
            }
        }
    }
    (logical > 0).then(|| CpuInfo {
        logical,
        physical: (!cores.is_empty()).then_some(cores.len() as u32),
    })
}

/// Count the CPUs of a kernel CPU list such as `0-3,8-11` or `5`.
pub(crate) fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut count = 0u32;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                count = count.checked_add(b.checked_sub(a)?.checked_add(1)?)?;
            }
            None => {
                part.trim().parse::<u32>().ok()?;
                count = count.checked_add(1)?;
            }
        }
    }
    (count > 0).then_some(count)
}

/// `Cpus_allowed_list` of `/proc/self/status`, counted.
pub(crate) fn parse_status_cpus_allowed(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(parse_cpu_list)
}

/// Collect the host facts; see the module docs for each fallback chain.
pub(crate) fn probe(opts: &DetectOptions) -> (Host, Vec<Problem>) {
    let mut problems = Vec::new();
    let real = opts.is_real_root();
    let read = |p: &str| std::fs::read_to_string(opts.rooted(p));

    let cpuinfo = read("/proc/cpuinfo").ok().and_then(|t| parse_cpuinfo(&t));
    let allowed = read("/proc/self/status")
        .ok()
        .and_then(|t| parse_status_cpus_allowed(&t));
    let logical = match (allowed, cpuinfo) {
        (Some(a), Some(c)) => Some(a.min(c.logical)),
        (a, c) => a.or(c.map(|c| c.logical)),
    }
    .or_else(|| {
        real.then(|| std::thread::available_parallelism().ok())
            .flatten()
            .map(|n| n.get() as u32)
    });
    let logical_cpus = logical.unwrap_or_else(|| {
        problems.push(problem(
            "host",
            format!(
                "could not count CPUs from {}; assumed 1",
                opts.rooted("/proc/cpuinfo").display()
            ),
        ));
        1
    });
    let physical_cpus = cpuinfo.and_then(|c| c.physical).or_else(|| {
        real.then(|| sysinfo::System::physical_core_count().ok())
            .flatten()
            .map(|n| n as u32)
    });

    let meminfo_path = opts.rooted("/proc/meminfo");
    let mem = std::fs::read_to_string(&meminfo_path)
        .ok()
        .and_then(|t| parse_meminfo(&t))
        .or_else(|| real.then(sysinfo_memory).flatten());
    let mem = mem.unwrap_or_else(|| {
        problems.push(problem(
            "host",
            format!(
                "could not read MemTotal from {}; memory reported as 0",
                meminfo_path.display()
            ),
        ));
        MemInfo {
            total_bytes: 0,
            available_bytes: 0,
        }
    });

    let kernel = read("/proc/sys/kernel/osrelease")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .or_else(|| {
            real.then(|| sysinfo::System::kernel_version().ok())
                .flatten()
        });

    let (limits, cgroup_problems) = cgroup::probe(opts);
    problems.extend(cgroup_problems);

    let disk_path =
        std::fs::canonicalize(&opts.disk_path).unwrap_or_else(|_| opts.disk_path.clone());
    let disk_free_bytes = match disk_free(&disk_path) {
        Ok(free) => Some(free),
        Err(e) => {
            problems.push(problem(
                "disk",
                format!(
                    "could not read free space of {}: {e}; pass an existing directory with --disk-path",
                    disk_path.display()
                ),
            ));
            None
        }
    };

    let host = Host {
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        kernel,
        logical_cpus,
        physical_cpus,
        cpu_quota: limits.cpu_quota,
        memory_total_bytes: mem.total_bytes,
        memory_available_bytes: mem.available_bytes,
        memory_limit_bytes: limits.memory_limit_bytes,
        disk_free_bytes,
        disk_path: disk_path.display().to_string(),
    };
    (host, problems)
}

fn sysinfo_memory() -> Option<MemInfo> {
    let mut sys = sysinfo::System::new().ok()?;
    sys.refresh_memory();
    (sys.total_memory() > 0).then(|| MemInfo {
        total_bytes: sys.total_memory(),
        available_bytes: sys.available_memory(),
    })
}

/// Bytes available to unprivileged users on the filesystem holding `path`.
#[allow(clippy::unnecessary_cast)] // the statvfs field types differ between targets
pub(crate) fn disk_free(path: &Path) -> Result<u64, nix::Error> {
    let s = nix::sys::statvfs::statvfs(path)?;
    Ok((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::host_fixture;

    #[test]
    fn parses_real_meminfo() {
        // Captured on the development machine (24 GiB VM).
        let m = parse_meminfo(&host_fixture("no-gpu/root/proc/meminfo")).unwrap();
        assert_eq!(m.total_bytes, 24_684_084 * 1024);
        assert_eq!(m.available_bytes, 24_344_096 * 1024);
        assert_eq!(parse_meminfo("nothing here"), None);
        // Kernels before 3.14 have no MemAvailable.
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 1 kB\n";
        assert_eq!(parse_meminfo(old).unwrap().available_bytes, 111 * 1024);
        // Values too large for bytes are unreadable, not a panic.
        assert_eq!(parse_meminfo("MemTotal: 18446744073709551615 kB\n"), None);
        let huge = "MemTotal: 1 kB\nMemFree: 18014398509481983 kB\nCached: 18014398509481983 kB\n";
        assert_eq!(parse_meminfo(huge).unwrap().available_bytes, u64::MAX);
    }

    #[test]
    fn parses_real_cpuinfo() {
        // Captured on the development machine: 2 vCPUs, one socket, 2 cores.
        let c = parse_cpuinfo(&host_fixture("no-gpu/root/proc/cpuinfo")).unwrap();
        assert_eq!(c.logical, 2);
        assert_eq!(c.physical, Some(2));
        // Hyper-threads share a core id.
        let ht = "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                  processor\t: 1\nphysical id\t: 0\ncore id\t\t: 0\n\n";
        assert_eq!(parse_cpuinfo(ht).unwrap().physical, Some(1));
        // ARM lists no cores.
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n";
        assert_eq!(
            parse_cpuinfo(arm),
            Some(CpuInfo {
                logical: 2,
                physical: None
            })
        );
        assert_eq!(parse_cpuinfo(""), None);
    }

    #[test]
    fn counts_cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8-11"), Some(8));
        assert_eq!(parse_cpu_list("5"), Some(1));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        // Garbage from a fake root is no CPU count, not a panic.
        assert_eq!(parse_cpu_list("0-4294967295"), None);
        assert_eq!(parse_cpu_list("0-4294967294,5"), None);
        assert_eq!(
            parse_status_cpus_allowed("Name:\tcat\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n"),
            Some(2)
        );
    }

    #[test]
    fn disk_free_reads_a_real_filesystem_and_fails_on_a_missing_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(disk_free(dir.path()).unwrap() > 0);
        assert!(disk_free(&dir.path().join("missing")).is_err());
    }
}
