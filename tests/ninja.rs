//! What real ninja does with a pre-seeded `.ninja_log`: the fact behind the
//! planner's "longest first" line. Released ninja (1.12 to 1.13.2) weighs every
//! non-phony edge 1 in its critical-path scheduler and reads `.ninja_log`
//! durations only for its ETA, so a seeded log does not change which job starts
//! first; only a ninja with PR #2686 (unreleased as of 1.13.2) would start the
//! long job first. Evidence and timings: `bench/ninja-log-order.md`.
//!
//! Needs a real `ninja` >= 1.12 on PATH. `.ci/run` installs one and sets
//! `WHEELWRIGHT_REQUIRE_REAL_NINJA`, so CI fails instead of skipping.

mod common;

use std::path::Path;
use std::process::Command;

/// Seven independent edges in manifest order; the long one comes last, as
/// flash-attn's split-KV forward kernels do in torch's generated build.ninja.
const EDGES: &[(&str, u32)] = &[
    ("a.o", 200),
    ("b.o", 200),
    ("c.o", 200),
    ("d.o", 200),
    ("e.o", 200),
    ("f.o", 200),
    ("z_long.o", 1200),
];

/// The first release whose scheduler could honour `.ninja_log` (PR #2686 is
/// in no release up to 1.13.2; which release ships it is not known yet).
const FIRST_UNKNOWN: (u32, u32) = (1, 14);

fn ninja_version() -> Option<(u32, u32, String)> {
    let out = Command::new("ninja").arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor, text))
}

/// Build every edge with `-j 1` in a clean tree, optionally over a seeded
/// `.ninja_log` (v7: start, end, mtime, output, command hash), and return the
/// outputs in the order their commands started.
fn start_order(dir: &Path, seed: bool) -> Vec<String> {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let mut manifest =
        String::from("rule job\n  command = echo $out >> starts.txt && touch $out\n");
    for (out, _) in EDGES {
        manifest.push_str(&format!("build {out}: job\n"));
    }
    std::fs::write(dir.join("build.ninja"), manifest).unwrap();
    if seed {
        let mut log = String::from("# ninja log v7\n");
        for (out, ms) in EDGES {
            // Hash 0 matches no command: an output that existed would be rebuilt.
            log.push_str(&format!("0\t{ms}\t0\t{out}\t0\n"));
        }
        std::fs::write(dir.join(".ninja_log"), log).unwrap();
    }
    let out = Command::new("ninja")
        .args(["-j", "1"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ninja failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::read_to_string(dir.join("starts.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn seeded_ninja_log_does_not_reorder_released_ninja() {
    let Some((major, minor, text)) = ninja_version().filter(|v| (v.0, v.1) >= (1, 12)) else {
        assert!(
            std::env::var_os("WHEELWRIGHT_REQUIRE_REAL_NINJA").is_none(),
            "WHEELWRIGHT_REQUIRE_REAL_NINJA is set but no ninja >= 1.12 is on PATH"
        );
        common::prerequisite_missing("ninja >= 1.12 on PATH (pip install ninja)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest_order: Vec<String> = EDGES.iter().map(|(o, _)| o.to_string()).collect();

    let cold = start_order(dir.path(), false);
    assert_eq!(cold, manifest_order, "ninja {text}, no log: manifest order");

    let seeded = start_order(dir.path(), true);
    if (major, minor) < FIRST_UNKNOWN {
        assert_eq!(
            seeded, manifest_order,
            "ninja {text} started jobs in a different order over a seeded .ninja_log"
        );
    } else {
        let honours = seeded.first().map(String::as_str) == Some("z_long.o");
        eprintln!(
            "ninja {text}: a seeded .ninja_log {} the start order ({seeded:?}); \
             if it does, seeding it before the build is worth revisiting",
            if honours {
                "changes"
            } else {
                "does not change"
            }
        );
    }
}
