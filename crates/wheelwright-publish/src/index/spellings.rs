//! The other spellings a variant's index answers to.
//!
//! A variant's folder is its local label normalized as PEP 440 says (lower
//! case, `.` separators: `cu12torch2.8cxx11abitrue`), since local labels
//! compare case-insensitively and pip lower-cases them in the file names it
//! builds. But users build the URL from what they were shown: the build's
//! `local-version` output and flash-attn's own release assets and `setup.py`
//! write `cu12torch2.8cxx11abiTRUE`, and a static host (GitHub Pages, nginx)
//! serves paths case-sensitively. So the index writes the same variant root
//! under each of these spellings too:
//! - the label as written in a listed wheel's file name, where it differs
//!   (release assets keep flash-attn's spelling);
//! - flash-attn's spelling of the C++ ABI suffix: `cxx11abiTRUE` /
//!   `cxx11abiFALSE` (what `local-version` prints).
//!
//! The copies are plain folders, not links: a Pages artifact and every static
//! host serve them alike, and pip and uv read the same pages from either.

use std::collections::BTreeSet;

/// The spellings other than `label` (a normalized variant label) under which
/// its root is also written: `file_labels` are the local labels as written in
/// the variant's wheel file names. Only spellings that normalize to `label`
/// and are one safe path component (ASCII letters, digits, single dots).
pub fn other_spellings<'a>(
    label: &str,
    file_labels: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut out = BTreeSet::new();
    for written in file_labels {
        out.insert(written.to_string());
    }
    for (lower, upper) in [
        ("cxx11abitrue", "cxx11abiTRUE"),
        ("cxx11abifalse", "cxx11abiFALSE"),
    ] {
        if let Some(stem) = label.strip_suffix(lower) {
            out.insert(format!("{stem}{upper}"));
        }
    }
    out.into_iter()
        .filter(|s| s != label && s.to_ascii_lowercase() == label && is_safe(s))
        .collect()
}

/// One path component of letters, digits and single dots.
fn is_safe(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::other_spellings;

    #[test]
    fn flash_attns_spelling_and_the_file_names_own() {
        assert_eq!(
            other_spellings("cu12torch2.8cxx11abitrue", ["cu12torch2.8cxx11abitrue"]),
            ["cu12torch2.8cxx11abiTRUE"]
        );
        assert_eq!(
            other_spellings("cu12torch2.6cxx11abifalse", ["cu12torch2.6cxx11abiFALSE"]),
            ["cu12torch2.6cxx11abiFALSE"]
        );
        // A label written otherwise in a file name (release assets).
        assert_eq!(
            other_spellings("cu13torch2.11", ["CU13Torch2.11"]),
            ["CU13Torch2.11"]
        );
        // Nothing else to answer; never another label, never an unsafe path.
        assert!(other_spellings("cu13torch2.11", ["cu13torch2.11"]).is_empty());
        assert!(
            other_spellings("cu13torch2.11", ["cu13torch2.12", "CU13_torch2.11", "../x"])
                .is_empty()
        );
    }
}
