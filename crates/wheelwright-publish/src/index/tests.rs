//! The index tree on disk: variant roots, growth across runs, refusals.

use super::*;
use crate::test_wheel::write_wheel;

fn entry(dir: &Path, version: &str) -> IndexEntry {
    let w = WheelFile::read(&write_wheel(dir, "Tiny_Pkg", version, ">=3.8")).unwrap();
    IndexEntry::for_wheel(&w, None, true).unwrap()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn two_variants_get_a_root_each_and_simple_holds_both() {
    let src = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let a = entry(src.path(), "1.0+cu12torch2.4");
    let b = entry(src.path(), "1.0+CU13torch2.11");
    let out = update_index(site.path(), vec![a.clone(), b.clone()], false).unwrap();
    assert!(
        out.iter().all(|o| o.status == PublishStatus::Uploaded),
        "{out:?}"
    );
    assert_eq!(b.label.as_deref(), Some("cu13torch2.11"));
    assert_eq!(
        out[1].page,
        site.path().join("cu13torch2.11/simple/tiny-pkg")
    );

    let all = read(site.path().join("simple/tiny-pkg/index.html"));
    assert!(all.contains(&a.file) && all.contains(&b.file), "{all}");
    let v12 = read(site.path().join("cu12torch2.4/simple/tiny-pkg/index.html"));
    assert!(v12.contains(&a.file) && !v12.contains(&b.file), "{v12}");
    assert!(v12.contains("href=\"../../../Tiny_Pkg-1.0%2Bcu12torch2.4-py3-none-any.whl#sha256="));
    let v13 = read(site.path().join("cu13torch2.11/simple/tiny-pkg/index.html"));
    assert!(v13.contains(&b.file) && !v13.contains(&a.file), "{v13}");
    let list = read(site.path().join("cu13torch2.11/simple/index.html"));
    assert!(
        list.contains("<a href=\"tiny-pkg/\">tiny-pkg</a>"),
        "{list}"
    );
    let top = read(site.path().join("index.html"));
    assert!(top.contains("cu12torch2.4/simple/") && top.contains("cu13torch2.11/simple/"));
}

#[test]
fn rerunning_adds_and_never_drops() {
    let src = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let a = entry(src.path(), "1.0+cu12");
    update_index(site.path(), vec![a.clone()], false).unwrap();
    let b = entry(src.path(), "2.0+cu12");
    let out = update_index(site.path(), vec![b.clone(), a.clone()], false).unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    assert_eq!(out[1].status, PublishStatus::Skipped);
    let page = read(site.path().join("cu12/simple/tiny-pkg/index.html"));
    assert!(page.contains(&a.file) && page.contains(&b.file), "{page}");
    // A run with nothing new still lists both.
    update_index(site.path(), vec![], false).unwrap();
    let m = Manifest::load(site.path()).unwrap();
    assert_eq!(m.files.len(), 2);
}

#[test]
fn a_different_file_under_a_listed_name_is_refused_unless_clobbering() {
    let src = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let a = entry(src.path(), "1.0+cu12");
    update_index(site.path(), vec![a.clone()], false).unwrap();
    let mut other = a.clone();
    other.sha256 = "0".repeat(64);
    let out = update_index(site.path(), vec![other.clone()], false).unwrap();
    assert_eq!(out[0].status, PublishStatus::Failed);
    assert!(out[0].message.as_ref().unwrap().contains("--clobber"));
    assert!(read(site.path().join("simple/tiny-pkg/index.html")).contains(&a.sha256));
    let out = update_index(site.path(), vec![other.clone()], true).unwrap();
    assert_eq!(out[0].status, PublishStatus::Uploaded);
    let page = read(site.path().join("simple/tiny-pkg/index.html"));
    assert!(
        page.contains(&other.sha256) && !page.contains(&a.sha256),
        "{page}"
    );
}

#[test]
fn a_broken_manifest_is_never_overwritten() {
    let src = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join(MANIFEST_NAME), "{ not json").unwrap();
    let e = update_index(site.path(), vec![entry(src.path(), "1.0")], false).unwrap_err();
    assert!(e.to_string().contains(MANIFEST_NAME), "{e}");
    assert_eq!(read(site.path().join(MANIFEST_NAME)), "{ not json");
}

#[test]
fn labels_become_safe_folder_names() {
    assert_eq!(
        variant_label("cu13torch2.11cxx11abiTRUE").unwrap(),
        "cu13torch2.11cxx11abitrue"
    );
    assert_eq!(variant_label("a_b-c").unwrap(), "a.b.c");
    for bad in ["..", "a..b", "a/b", "a b", "", "simple", "é"] {
        assert!(variant_label(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_wheel_without_a_label_is_listed_in_simple_only() {
    let src = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let plain = entry(src.path(), "1.0");
    assert_eq!(plain.label, None);
    update_index(site.path(), vec![plain.clone()], false).unwrap();
    assert!(read(site.path().join("simple/tiny-pkg/index.html")).contains(&plain.file));
    let dirs: Vec<String> = std::fs::read_dir(site.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut dirs = dirs;
    dirs.sort();
    assert_eq!(dirs, [LOCK_NAME, "index.html", "simple", MANIFEST_NAME]);
}

#[test]
fn every_entry_wheelwright_writes_passes_the_manifest_check() {
    let src = tempfile::tempdir().unwrap();
    for version in ["1.0", "1.0+CU13torch2.11cxx11abiTRUE", "2!1.0+a_b.c"] {
        let e = entry(src.path(), version);
        check_entry(&e).unwrap_or_else(|why| panic!("{version}: {why}"));
        let served = IndexEntry {
            url: Some(format!(
                "https://H.example/d/{}",
                html::encode_segment(&e.file)
            )),
            ..e
        };
        check_entry(&served).unwrap();
    }
}
