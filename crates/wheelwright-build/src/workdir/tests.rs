//! Work dir keys from real detected facts, the lock between builds, and
//! eviction by age and size that never touches a dir in use.

use super::*;
use crate::test_support::host_fixture;

const SHA: &str = "3f1b0a3c8f0e5c2d9a7b6e4d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a19080";

fn h100() -> Facts {
    serde_json::from_str(&host_fixture("h100-cuda13.0/wheelwright-detect.json")).unwrap()
}

fn variant() -> Variant {
    Variant::from_facts(
        &h100(),
        &["90".into(), "80".into(), "90".into()],
        SHA,
        "release",
    )
    .unwrap()
}

#[test]
fn the_variant_comes_from_the_detected_facts() {
    let v = variant();
    assert_eq!(v.torch, "2.11.0+cu130");
    assert_eq!(v.cuda, "13.0");
    assert_eq!(v.python, "3.12.3");
    assert_eq!(v.cxx11_abi, Some(true));
    assert_eq!(v.archs, ["80", "90"], "sorted, once each");
    assert_eq!(v.compiler, "gcc 13.3.0 /opt/gcc/bin/gcc");

    // nvcc that takes GCC 12 at most: the build's gcc-12 is the variant's compiler.
    let mut f = h100();
    f.cuda.as_mut().unwrap().max_gcc_major = Some(12);
    let v = Variant::from_facts(&f, &["90".into()], SHA, "release").unwrap();
    assert_eq!(v.compiler, "gcc 12.4.0 /usr/bin/gcc-12");

    let mut f = h100();
    f.torch = None;
    let e = Variant::from_facts(&f, &[], SHA, "release").unwrap_err();
    assert!(matches!(e, WorkDirError::Undetected("torch")), "{e}");
    assert!(e.hint().contains("work dir"));
}

#[test]
fn every_part_of_the_variant_changes_the_key() {
    let base = variant();
    let key = base.key().unwrap();
    assert!(
        key.starts_with("release-") && key.len() == "release-".len() + 24,
        "{key}"
    );
    assert_eq!(variant().key().unwrap(), key, "stable");
    let changes: [fn(&mut Variant); 8] = [
        |v| v.scope = "pull-request".into(),
        |v| v.source_sha256 = "0".repeat(64),
        |v| v.torch = "2.11.1+cu130".into(),
        |v| v.cuda = "12.8".into(),
        |v| v.python = "3.12.4".into(),
        |v| v.cxx11_abi = Some(false),
        |v| v.archs = vec!["80".into()],
        |v| v.compiler = "gcc 12.4.0 /usr/bin/gcc-12".into(),
    ];
    let mut keys = std::collections::BTreeSet::from([key]);
    for change in changes {
        let mut v = base.clone();
        change(&mut v);
        assert!(keys.insert(v.key().unwrap()), "{v:?} shares a key");
    }
    for scope in ["", "a/b", "..", "x y", &"a".repeat(41)] {
        let mut v = base.clone();
        v.scope = scope.into();
        assert!(
            matches!(v.key(), Err(WorkDirError::BadScope(_))),
            "{scope:?}"
        );
    }
}

#[test]
fn a_dir_is_prepared_once_per_variant_and_a_wrong_record_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dirs = WorkDirs::new(root.path());
    let v = variant();
    let dir = dirs.prepare(&v).unwrap();
    assert_eq!(dir, root.path().join(v.key().unwrap()));
    std::fs::write(dir.join("obj.o"), "object").unwrap();
    assert_eq!(dirs.prepare(&v).unwrap(), dir, "reused");
    assert!(dir.join("obj.o").exists());

    let mut other = v.clone();
    other.python = "3.11.9".into();
    std::fs::write(
        dir.join(VARIANT_FILE),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        dirs.prepare(&v),
        Err(WorkDirError::Mismatch { .. })
    ));
}

#[test]
fn a_locked_dir_waits_then_times_out_and_frees_on_drop() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("w");
    let held = WorkDirLock::acquire(&dir, Duration::ZERO).unwrap();
    assert_eq!(held.path(), root.path().join("w.lock"));
    // flock locks belong to the open file: a second open conflicts in one process too.
    assert!(WorkDirLock::try_acquire(&dir).unwrap().is_none());
    let start = Instant::now();
    let e = WorkDirLock::acquire(&dir, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(e, WorkDirError::Locked { .. }), "{e}");
    assert!(start.elapsed() >= Duration::from_millis(300));
    drop(held);
    assert!(WorkDirLock::try_acquire(&dir).unwrap().is_some());
}

#[test]
fn a_cancellable_wait_says_it_waits_and_stops_when_cancelled() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("w");
    let cancel = AtomicBool::new(false);
    let mut waited = None;
    let free = WorkDirLock::acquire_cancellable(&dir, &cancel, |l| waited = Some(l.to_path_buf()));
    assert!(free.is_ok() && waited.is_none(), "a free dir: no wait");
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let waiter = {
        let (dir, cancel) = (dir.clone(), cancel.clone());
        std::thread::spawn(move || {
            let mut waited = None;
            let r =
                WorkDirLock::acquire_cancellable(&dir, &cancel, |l| waited = Some(l.to_path_buf()));
            (r, waited)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    cancel.store(true, Ordering::Relaxed);
    let (r, waited) = waiter.join().unwrap();
    assert!(matches!(r, Err(WorkDirError::Cancelled { .. })), "{r:?}");
    assert_eq!(waited, Some(root.path().join("w.lock")));
    drop(free);
}

#[test]
fn a_waiter_on_an_evicted_dir_locks_the_new_lock_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("w");
    std::fs::create_dir_all(&dir).unwrap();
    let evictor = WorkDirLock::acquire(&dir, Duration::ZERO).unwrap();
    let waiter = {
        let dir = dir.clone();
        std::thread::spawn(move || WorkDirLock::acquire(&dir, Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(evictor.path()).unwrap();
    drop(evictor);
    let lock = waiter.join().unwrap().unwrap();
    // It holds the file at the path now, so a third build must wait for it.
    assert!(lock.path().exists());
    assert!(WorkDirLock::try_acquire(&dir).unwrap().is_none());
}

/// A work dir of `bytes` last used `days_ago`.
fn aged(dirs: &WorkDirs, scope: &str, bytes: usize, days_ago: u64) -> PathBuf {
    let mut v = variant();
    v.scope = scope.into();
    let dir = dirs.prepare(&v).unwrap();
    std::fs::create_dir_all(dir.join("build/temp")).unwrap();
    std::fs::write(dir.join("build/temp/flash_fwd.o"), vec![0u8; bytes]).unwrap();
    let when = SystemTime::now() - Duration::from_secs(days_ago * 86_400);
    File::options()
        .write(true)
        .open(dir.join(VARIANT_FILE))
        .unwrap()
        .set_modified(when)
        .unwrap();
    dir
}

#[test]
fn eviction_removes_old_then_least_recently_used_and_spares_dirs_in_use() {
    let root = tempfile::tempdir().unwrap();
    let dirs = WorkDirs::new(root.path());
    let old = aged(&dirs, "old", 10_000, 30);
    let old_in_use = aged(&dirs, "old-in-use", 10_000, 40);
    let lru = aged(&dirs, "lru", 30_000, 5);
    let recent = aged(&dirs, "recent", 30_000, 1);
    let current = aged(&dirs, "current", 30_000, 3);
    std::fs::create_dir_all(root.path().join("not-a-work-dir")).unwrap();
    let in_use = WorkDirLock::acquire(&old_in_use, Duration::ZERO).unwrap();

    let listed: Vec<_> = dirs.list().unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(
        listed,
        [
            old_in_use.clone(),
            old.clone(),
            lru.clone(),
            current.clone(),
            recent.clone()
        ]
    );
    let variant_bytes = std::fs::metadata(old.join(VARIANT_FILE)).unwrap().len();
    assert_eq!(dirs.list().unwrap()[1].bytes, 10_000 + variant_bytes);

    let policy = EvictionPolicy {
        max_age: Duration::from_secs(14 * 86_400),
        max_total_bytes: 80_000,
    };
    let gone = dirs
        .evict(&policy, SystemTime::now(), Some(&current))
        .unwrap();
    let gone: Vec<_> = gone.iter().map(|(e, r)| (e.path.clone(), *r)).collect();
    // old: too old; then 10 000 + 3 x 30 000 (+ records) > 80 000: the least
    // recently used goes (lru; current is kept), leaving 70 000 and the records.
    assert_eq!(
        gone,
        [
            (old.clone(), EvictionReason::Age),
            (lru.clone(), EvictionReason::Size)
        ]
    );
    assert!(!old.exists() && !lru.exists());
    assert!(
        !WorkDirLock::lock_path(&old).exists(),
        "its lock file went with it"
    );
    assert!(old_in_use.exists() && current.exists() && recent.exists());
    assert!(root.path().join("not-a-work-dir").exists());

    drop(in_use);
    let gone = dirs
        .evict(&policy, SystemTime::now(), Some(&current))
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0.path, old_in_use);
    assert!(
        dirs.evict(&policy, SystemTime::now(), None)
            .unwrap()
            .is_empty(),
        "nothing more to do"
    );
}

#[test]
fn a_missing_root_has_no_work_dirs() {
    let dirs = WorkDirs::new("/nonexistent/wheelwright-root");
    assert!(dirs.list().unwrap().is_empty());
    let policy = EvictionPolicy {
        max_age: Duration::ZERO,
        max_total_bytes: 0,
    };
    assert!(dirs
        .evict(&policy, SystemTime::now(), None)
        .unwrap()
        .is_empty());
}

#[test]
fn file_sha256_matches_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    std::fs::write(&f, "abc").unwrap();
    assert_eq!(
        file_sha256(&f).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
