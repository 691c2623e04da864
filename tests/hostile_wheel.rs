//! `wheel check` on crafted hostile wheels (issue 26, items 6–8): memory and
//! time bounded by the headers, not by padding; caps on `METADATA`, `WHEEL`,
//! `RECORD` and on the bytes of binaries extracted to read them; duplicate
//! entries, a file and a directory of one name, a FIFO, names that are not
//! PEP 427/508. Every wheel is made here, byte by byte (`common::craft`);
//! the binary's own peak RSS and CPU time come from `wait4(2)`.
//!
//! `WHEELWRIGHT_TEST_KEEP_DIR=DIR` keeps the crafted wheels in DIR, to
//! measure them by hand (`/usr/bin/time -v wheelwright wheel check ...`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::craft::{elf_with_fatbin, fatbin_container, padded_elf_entry, Entry, WheelParts};
use common::measure::{measure, Measured};
use common::{expect_code, finding, TestContext};
use serde_json::Value;

const MIB: u64 = 1 << 20;

/// Where crafted wheels go: the test's temp dir, or the keep dir.
fn craft_dir(ctx: &TestContext, name: &str) -> PathBuf {
    match std::env::var_os("WHEELWRIGHT_TEST_KEEP_DIR") {
        Some(d) => PathBuf::from(d).join(name),
        None => ctx.path().join(name),
    }
}

/// `wheel check --json WHEEL`, measured, killed after `limit`.
fn check_measured(ctx: &TestContext, wheel: &Path, limit: Duration) -> Measured {
    let mut cmd = ctx.wheelwright();
    cmd.args(["wheel", "check", "--json"]).arg(wheel);
    measure(&mut cmd, limit)
}

/// The JSON of one checked wheel (exit 0 or 1: the check ran).
fn checked_wheel(m: &Measured) -> Value {
    let code = m.output.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "the check did not run to the end: {}",
        m.describe()
    );
    let run: Value = serde_json::from_slice(&m.output.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", m.describe());
    });
    run["wheels"][0].clone()
}

/// Item 6. A `.so` whose `.nv_fatbin` is an sm_80 and an sm_90 container,
/// then 64 MiB of zero padding. Both archs are found, in at most 64 MiB of RSS (the
/// binary's own, extraction included) and at most 30 s of CPU in a debug
/// build: bounded by the headers, not the padding (was 1.05 GB and 25 s).
#[test]
fn a_zero_padded_fatbin_is_read_by_its_headers_in_bounded_memory() {
    let ctx = TestContext::new();
    let mut fatbin = fatbin_container(&[(2, 80)]);
    fatbin.extend(fatbin_container(&[(2, 90)]));
    let mut parts = WheelParts::new("padded", "1.0", "cp312-cp312-linux_x86_64");
    parts
        .files
        .push(padded_elf_entry("padded/_C.so", &fatbin, 64 * MIB));
    let wheel = parts.write(
        &craft_dir(&ctx, "fatbin"),
        "padded-1.0-cp312-cp312-linux_x86_64.whl",
    );
    assert!(std::fs::metadata(&wheel).unwrap().len() < 2 * MIB);

    let m = check_measured(&ctx, &wheel, Duration::from_secs(300));
    let checked = checked_wheel(&m);
    let binary = &checked["binaries"][0];
    assert_eq!(binary["path"], "padded/_C.so", "{}", m.describe());
    assert_eq!(binary["sass"], serde_json::json!(["sm_80", "sm_90"]));
    assert!(m.max_rss_kib <= 64 * 1024, "over 64 MiB: {}", m.describe());
    assert!(m.cpu < Duration::from_secs(30), "{}", m.describe());
}

/// Item 7. `METADATA`, `WHEEL` and `RECORD` of 64 MiB each (deflated to
/// a few hundred KiB) are refused with a `wheel-file-too-large` error
/// finding that names the file and the cap, each check in at most 64 MiB
/// of RSS (was 2.1 GB for a 1 GB METADATA).
#[test]
fn oversized_metadata_wheel_and_record_are_refused_with_a_finding() {
    let ctx = TestContext::new();
    let line = b"Description: a line of a description that goes on and on\n";
    let times = 64 * MIB / line.len() as u64;
    for file in ["METADATA", "WHEEL", "RECORD"] {
        let mut parts = WheelParts::new("big", "1.0", "py3-none-any");
        let info = parts.dist_info();
        let head = match file {
            "METADATA" => "Metadata-Version: 2.1\nName: big\nVersion: 1.0\n",
            "WHEEL" => "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            _ => "",
        };
        // The header lines, then the long tail (one entry, streamed).
        let entry = Entry::streamed(&format!("{info}/{file}"), head.as_bytes(), line, times, b"");
        match file {
            "METADATA" => parts.metadata = Some(entry),
            "WHEEL" => parts.wheel = Some(entry),
            _ => parts.record = Some(entry),
        }
        parts.files.push(Entry::file("big/__init__.py", ""));
        let wheel = parts.write(&craft_dir(&ctx, file), "big-1.0-py3-none-any.whl");
        assert!(std::fs::metadata(&wheel).unwrap().len() < 4 * MIB);

        let m = check_measured(&ctx, &wheel, Duration::from_secs(300));
        let checked = checked_wheel(&m);
        let f = finding(&checked, "wheel-file-too-large");
        assert_eq!(f["severity"], "error", "{f}");
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{info}/{file}")) && message.contains("MiB"),
            "{message}"
        );
        assert_eq!(checked["passed"], false);
        assert!(
            m.max_rss_kib <= 64 * 1024,
            "{file}: over 64 MiB: {}",
            m.describe()
        );
    }
}

/// Item 7. A binary that inflates far beyond the wheel (256 MiB of zeros
/// after an ELF header, a few hundred KiB deflated) is extracted only up
/// to the cap (64 MiB plus 16 times the binaries' compressed size) and
/// refused with a `binary-too-large` error finding. The check runs under a file-size
/// limit between that cap and the binary's size, so writing it whole
/// (3 GB from a 3 MB wheel before) kills the check.
#[test]
fn binaries_are_extracted_only_up_to_a_cap() {
    let ctx = TestContext::new();
    let elf = elf_with_fatbin(&fatbin_container(&[(2, 90)]));
    let mut parts = WheelParts::new("bomb", "1.0", "cp312-cp312-linux_x86_64");
    // The ELF's bytes, then 256 MiB of zeros: one entry, streamed.
    parts.files.push(Entry::streamed(
        "bomb/_C.so",
        &elf,
        &[0u8; 4096],
        256 * MIB / 4096,
        b"",
    ));
    let wheel = parts.write(
        &craft_dir(&ctx, "bomb"),
        "bomb-1.0-cp312-cp312-linux_x86_64.whl",
    );
    let wheel_size = std::fs::metadata(&wheel).unwrap().len();
    assert!(wheel_size < 2 * MIB, "{wheel_size}");

    // `ulimit -f` counts 512-byte blocks in dash and 1 KiB blocks in bash:
    // 163840 is 80 MiB or 160 MiB, both above the cap (64 MiB + 16 × the
    // wheel, at most) and below the 256 MiB binary.
    assert!(64 * MIB + 16 * wheel_size < 80 * MIB);
    let mut sh = Command::new("sh");
    ctx.clean_env(&mut sh);
    sh.args(["-c", "ulimit -f 163840 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_wheelwright"))
        .args(["wheel", "check", "--json"])
        .arg(&wheel);
    let m = measure(&mut sh, Duration::from_secs(300));
    let checked = checked_wheel(&m);
    let f = finding(&checked, "binary-too-large");
    assert_eq!(f["severity"], "error", "{f}");
    assert!(f["message"].as_str().unwrap().contains("bomb/_C.so"), "{f}");
    assert_eq!(checked["passed"], false);
}

/// Item 8. Two entries of one name: the first is what an installer that
/// extracts in order overwrites, or keeps; it was never hashed. An error
/// finding (`wheel-duplicate-entry`) that names it, though RECORD matches
/// the second copy.
#[test]
fn duplicate_entries_are_an_error() {
    let ctx = TestContext::new();
    let mut parts = WheelParts::new("dup", "1.0", "py3-none-any");
    parts.files.push(Entry::file(
        "dup/__init__.py",
        "import os; os.system('id')\n",
    ));
    parts.files.push(Entry::file("dup/__init__.py", "\n"));
    let wheel = parts.write(ctx.path(), "dup-1.0-py3-none-any.whl");
    let m = check_measured(&ctx, &wheel, Duration::from_secs(60));
    let checked = checked_wheel(&m);
    let f = finding(&checked, "wheel-duplicate-entry");
    assert_eq!(f["severity"], "error");
    assert!(
        f["message"].as_str().unwrap().contains("dup/__init__.py"),
        "{f}"
    );
    assert_eq!(m.output.status.code(), Some(1), "{}", m.describe());
}

/// Item 8. `clash/lib` as a file and `clash/lib/_C.so` clash: an installer
/// cannot write both. A `wheel-path-clash` error finding, whichever comes
/// first and whether or not the file is a binary the check extracts (both
/// ELF gave "File exists" with a disk-space hint, exit 3; a plain file
/// passed).
#[test]
fn a_file_and_a_directory_of_one_name_are_a_finding() {
    let ctx = TestContext::new();
    let elf = elf_with_fatbin(&fatbin_container(&[(2, 90)]));
    let cases: [[(&str, &[u8]); 2]; 3] = [
        [("clash/lib", &elf), ("clash/lib/_C.so", &elf)],
        [("clash/lib/_C.so", &elf), ("clash/lib", &elf)],
        [("clash/lib", b"a file"), ("clash/lib/_C.so", &elf)],
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut parts = WheelParts::new("clash", "1.0", "cp312-cp312-linux_x86_64");
        for (name, bytes) in case {
            parts.files.push(Entry::file(name, *bytes));
        }
        let dir = ctx.path().join(i.to_string());
        let wheel = parts.write(&dir, "clash-1.0-cp312-cp312-linux_x86_64.whl");
        let m = check_measured(&ctx, &wheel, Duration::from_secs(60));
        let checked = checked_wheel(&m);
        let f = finding(&checked, "wheel-path-clash");
        assert_eq!(f["severity"], "error");
        assert!(f["message"].as_str().unwrap().contains("clash/lib"), "{f}");
        assert_eq!(m.output.status.code(), Some(1), "{}", m.describe());
    }
}

/// Item 8. A FIFO with a wheel's name is refused at once as not a regular
/// file (exit 2, a hint), never opened (opening it waits for a writer).
#[test]
fn a_fifo_is_refused_before_it_is_opened() {
    let ctx = TestContext::new();
    let fifo = ctx.path().join("x-1.0-py3-none-any.whl");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let m = check_measured(&ctx, &fifo, Duration::from_secs(20));
    assert!(!m.timed_out, "it hung: {}", m.describe());
    assert_eq!(m.output.status.code(), Some(2), "{}", m.describe());
    let stderr = String::from_utf8_lossy(&m.output.stderr);
    assert!(
        stderr.contains("not a regular file") && stderr.contains("hint:"),
        "{stderr}"
    );
}

/// Item 8. File names that are not PEP 427 wheel names of a PEP 508
/// project with a PEP 440 version are refused (exit 2, a hint) before the
/// archive is read, by `wheel check` and by `publish`, which indexed them.
#[test]
fn names_that_are_not_wheel_names_are_refused_by_check_and_publish() {
    let ctx = TestContext::new();
    let bad = [
        "de<mo-1.0-py3-none-any.whl",
        "a b-1.0-py3-none-any.whl",
        "q\"uote-1.0-py3-none-any.whl",
        "it's-1.0-py3-none-any.whl",
        "_lead-1.0-py3-none-any.whl",
        "pkg-1.0$(id)-py3-none-any.whl",
        "pkg-not.a.version-py3-none-any.whl",
        "pkg-1.0-py3-none-any-UPPER.whl",
        "pkg-1.0-py3-none-any-x86_64_v3-extra.whl",
    ];
    for name in bad {
        let dir = ctx.path().join(format!("d{}", name.len()));
        let dist = name.split('-').next().unwrap();
        let version = name.split('-').nth(1).unwrap();
        let mut parts = WheelParts::new(dist, version, "py3-none-any");
        parts.files.push(Entry::file("m.py", ""));
        let wheel = parts.write(&dir, name);
        let out = ctx
            .wheelwright()
            .args(["wheel", "check"])
            .arg(&wheel)
            .output()
            .unwrap();
        expect_code(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not a wheel file name") && stderr.contains("hint:"),
            "{name}: {stderr}"
        );

        let house = ctx.path().join("house");
        let out = ctx
            .wheelwright()
            .args(["publish", "--wheelhouse"])
            .arg(&house)
            .arg(&wheel)
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{name} was published");
        let index = house.join("wheelwright-index.json");
        let listed = std::fs::read_to_string(&index).unwrap_or_default();
        assert!(!listed.contains(dist), "{name} was indexed: {listed}");
    }
}

/// Item 8 (and the fleet issue): the wheel-variant form of PEP 825 (draft),
/// `{name}-{ver}(-{build})?-{py}-{abi}-{platform}-{label}.whl` with a label
/// of `[0-9a-z_.]+`, is a wheel name: checked like any other.
#[test]
fn a_variant_wheel_name_is_a_wheel_name() {
    let ctx = TestContext::new();
    for name in [
        "pkg-1.0-py3-none-any-cu128_sm90.whl",
        "pkg-1.0-1-py3-none-any-x86_64_v3.whl",
    ] {
        let mut parts = WheelParts::new("pkg", "1.0", "py3-none-any");
        parts.files.push(Entry::file("pkg/__init__.py", ""));
        let wheel = parts.write(&ctx.path().join(name.len().to_string()), name);
        let m = check_measured(&ctx, &wheel, Duration::from_secs(60));
        assert_eq!(m.output.status.code(), Some(0), "{name}: {}", m.describe());
    }
}
