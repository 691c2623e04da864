//! Container limits from cgroups: the memory ceiling and the CPU quota that a
//! build really has, which in containers and on VMs is less than the host's.
//!
//! Fallback chain (every file read under the options' root; all that exist are
//! read and the smallest limit wins):
//! 1. `/proc/self/cgroup` names this process's cgroup: the `0::<path>` line
//!    for cgroup v2, `N:memory:<path>` and `N:cpu,cpuacct:<path>` for v1; a
//!    missing file means `/`.
//! 2. cgroup v2 (when `/sys/fs/cgroup/cgroup.controllers` exists):
//!    `memory.max` and `cpu.max` in `/sys/fs/cgroup/<path>` and every parent
//!    up to `/sys/fs/cgroup` (`max` = unlimited; `cpu.max` `"200000 100000"` =
//!    2.0 cores).
//! 3. cgroup v1: `/sys/fs/cgroup/memory/<path>/memory.limit_in_bytes` (a huge
//!    value such as 9223372036854771712 = unlimited) and
//!    `/sys/fs/cgroup/cpu/<path>/cpu.cfs_quota_us` / `cpu.cfs_period_us`
//!    (quota -1 = none), again walking up to the controller's root.
//!
//! A path that does not exist under the mount (a container that sees its host's
//! cgroup path but has its own cgroup mounted) is skipped and its parents read.

use std::path::{Path, PathBuf};

use wheelwright_base::facts::Problem;

use super::{problem, DetectOptions};

/// cgroup v1 reports "no limit" as a page-aligned `LONG_MAX`; anything above
/// 2^62 bytes (4 EiB) is read as unlimited.
const V1_UNLIMITED_FROM: u64 = 1 << 62;

/// The limits found; `None` = unlimited or not found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupLimits {
    /// Bytes, the smallest limit up the hierarchy.
    pub memory_limit_bytes: Option<u64>,
    /// Cores, e.g. `2.0` for `cpu.max` = `200000 100000`.
    pub cpu_quota: Option<f64>,
}

/// Where `/proc/self/cgroup` puts this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcCgroup {
    /// The v2 (unified) path, from the `0::<path>` line.
    pub unified: Option<String>,
    /// The v1 memory controller's path.
    pub memory: Option<String>,
    /// The v1 cpu controller's path.
    pub cpu: Option<String>,
}

/// Parse `/proc/self/cgroup` (`hierarchy-id:controllers:path` per line).
pub fn parse_proc_self_cgroup(text: &str) -> ProcCgroup {
    let mut out = ProcCgroup::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            out.unified = Some(path.to_string());
            continue;
        }
        for c in controllers.split(',') {
            match c {
                "memory" => out.memory = Some(path.to_string()),
                "cpu" => out.cpu = Some(path.to_string()),
                _ => {}
            }
        }
    }
    out
}

/// v2 `memory.max`: `max` → `None`, else bytes.
pub(crate) fn parse_memory_max(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("`{t}` is neither `max` nor a byte count"))
}

/// v2 `cpu.max`: `"max 100000"` → `None`, `"200000 100000"` → `Some(2.0)`.
pub(crate) fn parse_cpu_max(text: &str) -> Result<Option<f64>, String> {
    let mut it = text.split_whitespace();
    let quota = it.next().ok_or("empty cpu.max")?;
    if quota == "max" {
        return Ok(None);
    }
    let period = it.next().unwrap_or("100000");
    quota_over_period(quota, period)
}

/// v1 `memory.limit_in_bytes`: a huge value → `None`.
pub(crate) fn parse_v1_memory_limit(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    let v: u64 = t
        .parse()
        .map_err(|_| format!("`{t}` is not a byte count"))?;
    Ok((v < V1_UNLIMITED_FROM).then_some(v))
}

/// v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: quota `-1` → `None`.
pub(crate) fn parse_v1_cpu_quota(quota: &str, period: &str) -> Result<Option<f64>, String> {
    let q = quota.trim();
    if q.starts_with('-') {
        return Ok(None);
    }
    quota_over_period(q, period.trim())
}

fn quota_over_period(quota: &str, period: &str) -> Result<Option<f64>, String> {
    let q: u64 = quota
        .parse()
        .map_err(|_| format!("CPU quota `{quota}` is not a number"))?;
    let p: u64 = period
        .parse()
        .map_err(|_| format!("CPU period `{period}` is not a number"))?;
    if p == 0 {
        return Err("CPU period is 0".to_string());
    }
    Ok(Some(q as f64 / p as f64))
}

/// Where the cgroup v2 file `name` of this process may be under `root`, in
/// order: in its own cgroup (`/proc/self/cgroup`), then at the cgroup root
/// (inside a container the root is its own cgroup).
pub fn own_v2_files(root: &Path, name: &str) -> Vec<PathBuf> {
    let sys = root.join("sys/fs/cgroup");
    let own = std::fs::read_to_string(root.join("proc/self/cgroup"))
        .map(|t| parse_proc_self_cgroup(&t))
        .unwrap_or_default();
    let mut candidates = Vec::new();
    if let Some(path) = own.unified.as_deref() {
        candidates.push(cgroup_dir(&sys, path).join(name));
    }
    candidates.push(sys.join(name));
    candidates
}

/// The directory of the cgroup at `cgroup_path` (from `/proc/self/cgroup`)
/// under a controller's `mount`. `..` and `.` components (a cgroup outside
/// our namespace) are dropped, so the result stays under `mount`.
pub fn cgroup_dir(mount: &Path, cgroup_path: &str) -> PathBuf {
    cgroup_path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .fold(mount.to_path_buf(), |d, p| d.join(p))
}

/// The directories to read, deepest first: `mount/a/b`, `mount/a`, `mount`.
fn walk_up(mount: &Path, cgroup_path: &str) -> Vec<PathBuf> {
    cgroup_dir(mount, cgroup_path)
        .ancestors()
        .take_while(|d| d.starts_with(mount))
        .map(Path::to_path_buf)
        .collect()
}

/// The smallest limit over the walk; `read` returns `Ok(None)` for unlimited.
fn smallest<T: PartialOrd + Copy>(
    dirs: &[PathBuf],
    mut read: impl FnMut(&Path) -> Option<Result<Option<T>, String>>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut best: Option<T> = None;
    for dir in dirs {
        match read(dir) {
            None | Some(Ok(None)) => {}
            Some(Ok(Some(v))) => {
                if best.is_none_or(|b| v < b) {
                    best = Some(v);
                }
            }
            Some(Err(e)) => problems.push(problem(
                "cgroup",
                format!("{}: {e}; ignored it", dir.display()),
            )),
        }
    }
    best
}

fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Read the limits that apply to this process; see the module docs for the chain.
pub fn probe(opts: &DetectOptions) -> (CgroupLimits, Vec<Problem>) {
    let mut problems = Vec::new();
    let own = read_opt(&opts.rooted("/proc/self/cgroup"))
        .map(|t| parse_proc_self_cgroup(&t))
        .unwrap_or_default();
    let base = opts.rooted("/sys/fs/cgroup");
    let mut memory: Vec<u64> = Vec::new();
    let mut cpu: Vec<f64> = Vec::new();

    if base.join("cgroup.controllers").is_file() {
        let dirs = walk_up(&base, own.unified.as_deref().unwrap_or("/"));
        memory.extend(smallest(
            &dirs,
            |d| read_opt(&d.join("memory.max")).map(|t| parse_memory_max(&t)),
            &mut problems,
        ));
        cpu.extend(smallest(
            &dirs,
            |d| read_opt(&d.join("cpu.max")).map(|t| parse_cpu_max(&t)),
            &mut problems,
        ));
    }

    let v1_memory = base.join("memory");
    if v1_memory.join("memory.limit_in_bytes").is_file() {
        let dirs = walk_up(&v1_memory, own.memory.as_deref().unwrap_or("/"));
        memory.extend(smallest(
            &dirs,
            |d| read_opt(&d.join("memory.limit_in_bytes")).map(|t| parse_v1_memory_limit(&t)),
            &mut problems,
        ));
    }
    let v1_cpu = ["cpu", "cpu,cpuacct"]
        .iter()
        .map(|c| base.join(c))
        .find(|d| d.join("cpu.cfs_quota_us").is_file());
    if let Some(v1_cpu) = v1_cpu {
        let dirs = walk_up(&v1_cpu, own.cpu.as_deref().unwrap_or("/"));
        cpu.extend(smallest(
            &dirs,
            |d| {
                let quota = read_opt(&d.join("cpu.cfs_quota_us"))?;
                let period =
                    read_opt(&d.join("cpu.cfs_period_us")).unwrap_or_else(|| "100000".to_string());
                Some(parse_v1_cpu_quota(&quota, &period))
            },
            &mut problems,
        ));
    }

    let limits = CgroupLimits {
        memory_limit_bytes: memory.into_iter().min(),
        cpu_quota: cpu.into_iter().reduce(f64::min),
    };
    (limits, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::write_file;

    /// Captured on the machine these tests were written on (a cgroup v1 /
    /// hybrid host: v1 controllers plus an empty `unified` v2 mount).
    const REAL_V1_PROC_SELF_CGROUP: &str = "9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/715dd17e3a0ea4be9b4d5a730eb4ae94
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    fn opts(root: &Path) -> DetectOptions {
        crate::DetectOptions::isolated(root, std::ffi::OsStr::new(""))
    }

    #[test]
    fn parses_real_proc_self_cgroup() {
        let c = parse_proc_self_cgroup(REAL_V1_PROC_SELF_CGROUP);
        assert_eq!(c.unified.as_deref(), Some("/"));
        assert_eq!(
            c.memory.as_deref(),
            Some("/process_api/715dd17e3a0ea4be9b4d5a730eb4ae94")
        );
        assert_eq!(c.cpu.as_deref(), Some("/"));

        let v2 = parse_proc_self_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n");
        assert_eq!(
            v2.unified.as_deref(),
            Some("/user.slice/user-1000.slice/session-3.scope")
        );
        assert_eq!(v2.memory, None);
        let docker = parse_proc_self_cgroup("3:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n");
        assert_eq!(docker.cpu.as_deref(), Some("/docker/abc"));
        assert_eq!(docker.memory.as_deref(), Some("/docker/abc"));
        assert_eq!(parse_proc_self_cgroup("garbage\n\n"), ProcCgroup::default());
    }

    #[test]
    fn parses_limit_files() {
        assert_eq!(parse_memory_max("max\n"), Ok(None));
        assert_eq!(parse_memory_max("34359738368\n"), Ok(Some(32 << 30)));
        assert!(parse_memory_max("lots").is_err());
        assert_eq!(parse_cpu_max("max 100000\n"), Ok(None));
        assert_eq!(parse_cpu_max("200000 100000\n"), Ok(Some(2.0)));
        assert_eq!(parse_cpu_max("150000 100000\n"), Ok(Some(1.5)));
        assert!(parse_cpu_max("").is_err());
        assert!(parse_cpu_max("100 0").is_err());
        // The real v1 "unlimited" value of this machine.
        assert_eq!(parse_v1_memory_limit("9223372036854771712\n"), Ok(None));
        assert_eq!(parse_v1_memory_limit("17179869184\n"), Ok(Some(16 << 30)));
        assert_eq!(parse_v1_cpu_quota("-1\n", "100000\n"), Ok(None));
        assert_eq!(parse_v1_cpu_quota("400000\n", "100000\n"), Ok(Some(4.0)));
    }

    #[test]
    fn walks_up_and_drops_escapes() {
        let m = Path::new("/m");
        assert_eq!(
            walk_up(m, "/a/b"),
            vec![
                PathBuf::from("/m/a/b"),
                PathBuf::from("/m/a"),
                PathBuf::from("/m")
            ]
        );
        assert_eq!(walk_up(m, "/"), vec![PathBuf::from("/m")]);
        assert_eq!(
            walk_up(m, "/../../x"),
            vec![PathBuf::from("/m/x"), PathBuf::from("/m")]
        );
    }

    #[test]
    fn v2_takes_the_smallest_limit_of_the_cgroup_and_its_parents() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write_file(r, "proc/self/cgroup", "0::/user.slice/x.scope\n");
        write_file(
            r,
            "sys/fs/cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        );
        write_file(r, "sys/fs/cgroup/user.slice/memory.max", "17179869184\n");
        write_file(r, "sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
        write_file(r, "sys/fs/cgroup/user.slice/x.scope/memory.max", "max\n");
        write_file(
            r,
            "sys/fs/cgroup/user.slice/x.scope/cpu.max",
            "300000 100000\n",
        );
        let (limits, problems) = probe(&opts(r));
        assert_eq!(problems, vec![]);
        assert_eq!(limits.memory_limit_bytes, Some(16 << 30));
        assert_eq!(limits.cpu_quota, Some(3.0));
    }

    #[test]
    fn v1_reads_memory_and_cfs_quota() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write_file(
            r,
            "proc/self/cgroup",
            "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
        );
        write_file(
            r,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write_file(
            r,
            "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
            "8589934592\n",
        );
        write_file(r, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        write_file(r, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        write_file(
            r,
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
            "250000\n",
        );
        write_file(
            r,
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us",
            "100000\n",
        );
        let (limits, problems) = probe(&opts(r));
        assert_eq!(problems, vec![]);
        assert_eq!(limits.memory_limit_bytes, Some(8 << 30));
        assert_eq!(limits.cpu_quota, Some(2.5));
    }

    #[test]
    fn a_container_with_its_own_mount_reads_the_mount_root() {
        // /proc/self/cgroup names the host's path, which the container's own
        // cgroup mount does not have: the limit at the mount root applies.
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write_file(r, "proc/self/cgroup", "0::/system.slice/docker-abc.scope\n");
        write_file(r, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        write_file(r, "sys/fs/cgroup/memory.max", "4294967296\n");
        write_file(r, "sys/fs/cgroup/cpu.max", "100000 100000\n");
        let (limits, _) = probe(&opts(r));
        assert_eq!(limits.memory_limit_bytes, Some(4 << 30));
        assert_eq!(limits.cpu_quota, Some(1.0));
    }

    #[test]
    fn no_cgroup_files_means_no_limits_and_bad_files_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        let (limits, problems) = probe(&opts(dir.path()));
        assert_eq!(limits, CgroupLimits::default());
        assert!(problems.is_empty());

        write_file(dir.path(), "sys/fs/cgroup/cgroup.controllers", "memory\n");
        write_file(dir.path(), "sys/fs/cgroup/memory.max", "garbage\n");
        let (limits, problems) = probe(&opts(dir.path()));
        assert_eq!(limits.memory_limit_bytes, None);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("garbage"), "{problems:?}");
    }
}
