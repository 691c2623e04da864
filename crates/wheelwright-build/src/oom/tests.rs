//! The OOM verdict and the retry's setting, on fake roots (cgroup files,
//! `/proc/meminfo`, a `/dev/kmsg` text) and the real 2.8.3 unit list.

use super::*;
use wheelwright_base::units::GIB;
use wheelwright_plan::recipe::{resolve_units, Recipe};
use wheelwright_plan::Order;

fn fake_root(memory_max: Option<&str>, available_gib: u64) -> tempfile::TempDir {
    build_slice_root(memory_max, 128, available_gib)
}

/// A fake root: this process in `build.slice` (cgroup v2) with `memory_max`
/// (none: no limit file), on a host of `total_gib` with `available_gib`
/// available. The thrash watchdog's tests add their files to it.
pub(super) fn build_slice_root(
    memory_max: Option<&str>,
    total_gib: u64,
    available_gib: u64,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::create_dir_all(root.join("sys/fs/cgroup/build.slice")).unwrap();
    std::fs::write(root.join("proc/self/cgroup"), "0::/build.slice\n").unwrap();
    std::fs::write(
        root.join("sys/fs/cgroup/cgroup.controllers"),
        "cpu memory\n",
    )
    .unwrap();
    if let Some(max) = memory_max {
        std::fs::write(root.join("sys/fs/cgroup/build.slice/memory.max"), max).unwrap();
    }
    std::fs::write(
        root.join("proc/meminfo"),
        format!(
            "MemTotal:       {} kB\nMemAvailable:   {} kB\n",
            total_gib * 1024 * 1024,
            available_gib * 1024 * 1024
        ),
    )
    .unwrap();
    dir
}

fn events(root: &Path, oom_kills: u64) {
    std::fs::write(
        root.join("sys/fs/cgroup/build.slice/memory.events"),
        format!(
            "low 0\nhigh 0\nmax 812\noom {oom_kills}\noom_kill {oom_kills}\noom_group_kill 0\n"
        ),
    )
    .unwrap();
}

fn peak_at(gib: u64) -> MemoryPeak {
    MemoryPeak {
        cgroup_bytes: Some(gib * GIB),
        host_used_bytes: Some(gib * GIB),
        ..Default::default()
    }
}

#[test]
fn reads_the_oom_kill_counter_and_kernel_messages() {
    assert_eq!(
        parse_oom_kill_count("low 0\noom 3\noom_kill 10\noom_group_kill 0\n"),
        Some(10)
    );
    assert_eq!(parse_oom_kill_count("low 0\n"), None);
    // Real kmsg records (format `pri,seq,usec,flags;text`), one before the attempt.
    let kmsg = "6,900,1000,-;Out of memory: Killed process 77 (cicc) total-vm:9000kB\n\
                6,901,5000000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),task=cicc,pid=4242\n\
                4,902,5000100,-;Memory cgroup out of memory: Killed process 4242 (cicc) total-vm:7000kB\n\
                6,903,5000200,-;EXT4-fs (sda1): mounted filesystem\n";
    let lines = kernel_oom_messages(kmsg, 2_000_000);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].starts_with("Memory cgroup out of memory: Killed process 4242"));
}

#[test]
fn the_watch_sees_the_counter_rise_during_the_attempt() {
    let dir = fake_root(Some("51539607552\n"), 100);
    events(dir.path(), 2);
    std::fs::write(dir.path().join("proc/uptime"), "5000.25 9000.00\n").unwrap();
    let watch = OomWatch::start(dir.path());
    events(dir.path(), 12);
    let k = watch.finish();
    assert_eq!(k.cgroup_oom_kills, Some(10));
    // A fake kmsg stamped after the start counts; one from before does not.
    let after = 5_000_300_000u64;
    std::fs::create_dir_all(dir.path().join("dev")).unwrap();
    std::fs::write(
        dir.path().join("dev/kmsg"),
        format!("6,1,1,-;Out of memory: Killed process 1 (old)\n6,2,{after},-;Out of memory: Killed process 9 (ptxas)\n"),
    )
    .unwrap();
    let k = watch.finish();
    assert_eq!(
        k.kernel_messages,
        ["Out of memory: Killed process 9 (ptxas)"]
    );
}

#[test]
fn an_oom_is_told_apart_from_other_kills() {
    let ceiling = Some(48 * GIB);
    // The cgroup counted kills: OOM, whatever the memory figures say.
    let v = judge(&AttemptDeath {
        log_shows_kill: true,
        kernel: KernelEvidence {
            cgroup_oom_kills: Some(10),
            kernel_messages: vec![],
        },
        peak: peak_at(20),
        ceiling_bytes: ceiling,
        ..Default::default()
    });
    assert!(v.out_of_memory, "{v:?}");
    assert!(v.evidence.contains("oom_kill counter rose by 10"));
    // Exit 137 with memory at the ceiling: OOM.
    let v = judge(&AttemptDeath {
        log_shows_kill: true,
        peak: peak_at(47),
        ceiling_bytes: ceiling,
        ..Default::default()
    });
    assert!(v.out_of_memory, "{v:?}");
    // SIGKILL far below the ceiling, no kernel record: a timeout or an
    // operator, not retried.
    let v = judge(&AttemptDeath {
        signal: Some(9),
        kernel: KernelEvidence {
            cgroup_oom_kills: Some(0),
            kernel_messages: vec![],
        },
        peak: peak_at(12),
        ceiling_bytes: ceiling,
        ..Default::default()
    });
    assert!(!v.out_of_memory, "{v:?}");
    assert!(v.evidence.contains("not retried"), "{}", v.evidence);
    // A ptxas segfault (the build dies of signal 11 or exits 1 after it).
    let v = judge(&AttemptDeath {
        signal: Some(11),
        peak: peak_at(47),
        ceiling_bytes: ceiling,
        ..Default::default()
    });
    assert!(!v.out_of_memory, "{v:?}");
    let v = judge(&AttemptDeath {
        peak: peak_at(47),
        ceiling_bytes: ceiling,
        ..Default::default()
    });
    assert!(!v.out_of_memory);
    // Nothing readable at all: a SIGKILL is still taken for OOM, and says so.
    let v = judge(&AttemptDeath {
        signal: Some(9),
        ..Default::default()
    });
    assert!(v.out_of_memory);
    assert!(v.evidence.contains("no memory figure"), "{}", v.evidence);
}

#[test]
fn the_ceiling_is_the_cgroup_limit_or_the_usage_at_the_kill_capped_by_what_is_free() {
    let dir = fake_root(Some("51539607552\n"), 100);
    let c = revealed_ceiling(dir.path(), &peak_at(47)).unwrap();
    assert_eq!((c.bytes, c.basis.as_str()), (48 * GIB, "cgroup limit"));
    // No limit: what was in use when the kernel killed.
    let dir = fake_root(None, 100);
    let c = revealed_ceiling(dir.path(), &peak_at(60)).unwrap();
    assert_eq!((c.bytes, c.basis.as_str()), (60 * GIB, "usage at the kill"));
    // Others hold memory now (or the VM shrank): what is free, re-read.
    let dir = fake_root(Some("51539607552\n"), 30);
    let c = revealed_ceiling(dir.path(), &peak_at(47)).unwrap();
    assert_eq!((c.bytes, c.basis.as_str()), (30 * GIB, "available memory"));
}

fn basis_2_8_3() -> ScheduleBasis {
    ScheduleBasis {
        units: resolve_units(&Recipe::flash_attn("2.8.3"), None)
            .unwrap()
            .units,
        gencodes: 1,
        cpus: 16,
        threads_honoured: true,
        speed: 1.0,
        order: Order::LongestFirst,
    }
}

/// Issue 15's measured defect: 48G cgroup, --max-jobs 16 forced, killed. The
/// retry must be the planner's choice for that ceiling, whose simulated peak
/// fits, not ceiling ÷ sampled peak (which chose 14 for 24G and was killed
/// again).
#[test]
fn the_retry_is_planned_for_the_revealed_ceiling_and_fits_it() {
    let basis = basis_2_8_3();
    let ceiling = Ceiling {
        bytes: 48 * GIB,
        basis: "cgroup limit".into(),
    };
    let built: Vec<String> = Vec::new();
    let jobs = retry_jobs(16, 1, Some(&basis), &built, Some(&ceiling)).unwrap();
    assert!((4..=10).contains(&jobs), "{jobs}");
    let room = ceiling.bytes - wheelwright_plan::memory_margin(ceiling.bytes);
    let peak = basis.peak_of(jobs, 1, &built);
    assert!(peak <= room, "{peak} > {room}");
    // One more job would not fit (the planner packs to the ceiling), or it
    // would not be faster.
    let more = basis.peak_of(jobs + 1, 1, &built);
    assert!(more > room || jobs + 1 > 16, "{more} <= {room}");
    // 24G: about 3, as the planner picks for that ceiling.
    let small = Ceiling {
        bytes: 24 * GIB,
        basis: "cgroup limit".into(),
    };
    let jobs24 = retry_jobs(16, 1, Some(&basis), &built, Some(&small)).unwrap();
    assert!((2..=4).contains(&jobs24), "{jobs24}");
    // The units already built are left out: with the heavy backward kernels
    // done, more jobs fit.
    let bwd: Vec<String> = basis
        .units
        .iter()
        .filter(|u| u.path.contains("flash_bwd"))
        .map(|u| u.object_path())
        .collect();
    let after = retry_jobs(16, 1, Some(&basis), &bwd, Some(&small)).unwrap();
    assert!(after >= jobs24, "{after} < {jobs24}");
    // Strictly fewer, at least one; no plan: half.
    assert_eq!(
        retry_jobs(2, 1, Some(&basis), &built, Some(&ceiling)),
        Some(1)
    );
    assert_eq!(retry_jobs(1, 1, Some(&basis), &built, Some(&ceiling)), None);
    assert_eq!(retry_jobs(16, 1, None, &built, Some(&ceiling)), Some(8));
}
