//! Which matchers a line can concern: one Aho-Corasick scan of the line for
//! every literal some matcher needs, giving a bit per matcher; a line is then
//! tried only against the matchers whose bits are set.
//!
//! The same scan is the prefilter: a line that holds no needle is not read
//! further. A line that held one of a list of keywords used to be tried
//! against every matcher in turn, about thirty substring searches of the
//! whole line, after a second scan; in a log dense with OOM lines (every line
//! a kill report, ninja's `FAILED:` or the kilobytes-long command after it)
//! that made diagnosis 16 to 37 times slower than on an ordinary log.
//!
//! The contract: each matcher returns something only when the line holds at
//! least one of its needles (each needle is a substring of a literal the
//! matcher's code searches for, and every path to a hit searches for one).
//! `every_hit_holds_a_needle_of_its_matcher` in the tests checks this on
//! every captured log.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use memchr::memmem::Finder;

#[cfg(test)]
use wheelwright_base::redact::{PREFIXES, URL_SCHEME_END};

/// One bit per matcher.
pub(crate) type Mask = u32;

pub(crate) const GCC_TOO_NEW: Mask = 1 << 0;
pub(crate) const CUDA_MISMATCH: Mask = 1 << 1;
pub(crate) const CUDA_HOME_MISSING: Mask = 1 << 2;
pub(crate) const CUDA_TOO_OLD: Mask = 1 << 3;
pub(crate) const ARCH_UNSUPPORTED: Mask = 1 << 4;
pub(crate) const MISSING_SUBMODULE: Mask = 1 << 5;
pub(crate) const TORCH_MISSING: Mask = 1 << 6;
pub(crate) const DISK_FULL: Mask = 1 << 7;
/// The out-of-memory matcher, one bit per form of report (see
/// [`super::matchers`]'s `oom`): a shell's or gcc's `Killed`, ptxas's
/// allocation failure, `signal 9`, ninja's `code=137`, an allocation that
/// failed, a summary (`exit status 137`, `SIGKILL`).
pub(crate) const OOM_KILLED: Mask = 1 << 8;
pub(crate) const OOM_ALLOCATION: Mask = 1 << 18;
pub(crate) const OOM_SIGNAL_9: Mask = 1 << 19;
pub(crate) const OOM_CODE_137: Mask = 1 << 20;
pub(crate) const OOM_NO_MEMORY: Mask = 1 << 21;
pub(crate) const OOM_SUMMARY: Mask = 1 << 22;
/// Any form of out-of-memory report.
pub(crate) const OOM: Mask =
    OOM_KILLED | OOM_ALLOCATION | OOM_SIGNAL_9 | OOM_CODE_137 | OOM_NO_MEMORY | OOM_SUMMARY;
pub(crate) const ABI_MISMATCH: Mask = 1 << 9;
pub(crate) const NO_KERNEL_IMAGE: Mask = 1 << 10;
pub(crate) const WHEEL_UNSUPPORTED: Mask = 1 << 11;
pub(crate) const TIMEOUT: Mask = 1 << 12;
pub(crate) const NINJA_MISSING: Mask = 1 << 13;
pub(crate) const COMPILE_ERROR: Mask = 1 << 14;
/// [`super::matchers::context`]: `FAILED:`, job counts, build isolation.
pub(crate) const CONTEXT: Mask = 1 << 15;
/// [`super::matchers::nvcc_threads_masked`].
pub(crate) const NVCC_THREADS: Mask = 1 << 16;
/// Not a matcher: the line may hold a token shape to mask (set only on a
/// line with a bit of [`READ`]: no other is read further).
pub(crate) const TOKEN_SHAPE: Mask = 1 << 17;
/// nvcc's `--threads N` on a command line: read from a line that is read
/// anyway (the failed command after ninja's `FAILED:`), never a reason to
/// read one: every compile command of a flash-attn build has it.
pub(crate) const THREADS_FLAG: Mask = 1 << 23;
/// [`super::matchers::download_failed`] and [`super::matchers::wheel_url`]:
/// a package's setup.py guessing a prebuilt wheel's URL, and urllib failing
/// to reach it.
pub(crate) const PREBUILT: Mask = 1 << 24;
/// The bits that make a line worth reading: a line with none is not read
/// further.
pub(crate) const READ: Mask = !(TOKEN_SHAPE | THREADS_FLAG);

/// Each needle and the matchers that need it (a needle may serve several).
const NEEDLES: &[(&str, Mask)] = &[
    ("unsupported GNU version", GCC_TOO_NEW),
    ("unsupported clang version", GCC_TOO_NEW),
    ("maximum required version", GCC_TOO_NEW),
    ("mismatches the version", CUDA_MISMATCH),
    ("CUDA_HOME", CUDA_HOME_MISSING),
    ("CUDA was not found", CUDA_HOME_MISSING),
    ("nvcc not found", CUDA_HOME_MISSING),
    ("nvcc was not found", CUDA_HOME_MISSING),
    ("only supported on CUDA", CUDA_TOO_OLD),
    ("Unsupported gpu architecture", ARCH_UNSUPPORTED),
    ("Unknown CUDA arch", ARCH_UNSUPPORTED),
    ("cutlass is missing", MISSING_SUBMODULE),
    ("No such file or directory", MISSING_SUBMODULE),
    ("cannot open source file", MISSING_SUBMODULE),
    ("No module named", TORCH_MISSING),
    ("No space left", DISK_FULL),
    ("Errno 28", DISK_FULL),
    ("Killed", OOM_KILLED),
    ("Memory allocation failure", OOM_ALLOCATION),
    ("signal 9", OOM_SIGNAL_9),
    ("code=137", OOM_CODE_137),
    ("out of memory", OOM_NO_MEMORY),
    ("memory exhausted", OOM_NO_MEMORY),
    ("Cannot allocate memory", OOM_NO_MEMORY),
    ("bad_alloc", OOM_NO_MEMORY),
    ("status 137", OOM_SUMMARY),
    ("code 137", OOM_SUMMARY),
    ("code: 137", OOM_SUMMARY),
    ("Error 137", OOM_SUMMARY),
    ("code: -9", OOM_SUMMARY),
    ("SIGKILL", OOM_SUMMARY),
    ("undefined symbol", ABI_MISMATCH),
    ("no kernel image", NO_KERNEL_IMAGE),
    ("not a supported wheel", WHEEL_UNSUPPORTED),
    ("maximum execution time", TIMEOUT),
    ("took longer than", TIMEOUT),
    ("TimeoutExpired", TIMEOUT),
    ("timed out", TIMEOUT),
    ("Attempted to use ninja", NINJA_MISSING),
    ("wheel URL", PREBUILT),
    ("urlopen error", PREBUILT),
    ("name resolution", PREBUILT),
    ("Name or service not known", PREBUILT),
    ("Tunnel connection failed", PREBUILT),
    ("Building from source", PREBUILT),
    // `find_error_marker`: `error` then `:` or ` #N-D:`.
    ("error:", COMPILE_ERROR),
    ("error #", COMPILE_ERROR),
    ("FAILED: ", CONTEXT),
    ("job failed: ", CONTEXT),
    ("'-j', '", CONTEXT),
    ("MAX_JOBS=", CONTEXT),
    ("Getting requirements to build", CONTEXT),
    ("Installing build dependencies", CONTEXT),
    ("NVCC_THREADS=", NVCC_THREADS),
    ("--threads", THREADS_FLAG),
];

struct Needles {
    finder: AhoCorasick,
}

fn needles() -> &'static Needles {
    static NEEDLES_AC: OnceLock<Needles> = OnceLock::new();
    NEEDLES_AC.get_or_init(|| {
        let all = NEEDLES.iter().map(|(n, _)| *n);
        Needles {
            // Leftmost-first, which lets aho-corasick use its SIMD
            // prefilter (an overlapping search measured 3 times slower).
            finder: AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(all)
                .expect("literal needles build an automaton"),
        }
    })
}

/// The matchers `line` can concern, and [`TOKEN_SHAPE`] when it may hold a
/// token to mask. Masking only takes text out, so the mask of a line before
/// masking covers the mask after it.
pub(crate) fn mask(line: impl AsRef<[u8]>) -> Mask {
    let line = line.as_ref();
    let finder = &needles().finder;
    let mut mask = 0;
    let mut from = 0;
    // Each search resumes one byte after the last match's start, not at its
    // end, so a needle that starts inside another is found too; and as no
    // needle is a prefix of another (see the tests), the one needle that
    // matches at a position is the one reported there: every occurrence of
    // every needle is seen.
    while let Some(m) = finder.find(Input::new(line).span(from..line.len())) {
        mask |= NEEDLES[m.pattern().as_usize()].1;
        from = m.start() + 1;
    }
    if mask & READ != 0 && may_hold_token_shape(line) {
        mask |= TOKEN_SHAPE;
    }
    mask
}

/// Whether `line` may hold what [`wheelwright_base::redact::redact_patterns`]
/// masks: a token prefix (`gh?_`, `github_pat_`, `pypi-Ag`) or a URL's `://`.
/// Looked for apart from the needles: their short, common bytes would slow
/// the scan of every line down.
fn may_hold_token_shape(line: &[u8]) -> bool {
    // Searchers built once (building one per call cost more than the search).
    static FINDERS: OnceLock<[Finder<'static>; 4]> = OnceLock::new();
    FINDERS
        .get_or_init(|| TOKEN_SHAPES.map(|n| Finder::new(n.as_bytes())))
        .iter()
        .any(|f| f.find(line).is_some())
}

/// What [`may_hold_token_shape`] looks for.
const TOKEN_SHAPES: [&str; 4] = ["://", "gh", "github_pat_", "pypi-Ag"];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::super::clean::clean_line;
    use super::super::matchers::{classify_masked, context, nvcc_threads, nvcc_threads_masked};
    use super::*;

    /// Trying only the masked matchers finds what trying them all finds,
    /// with the mask the diagnoser takes (of the raw line, or of the cleaned
    /// one when cleaning changed it) and with the mask of the masked text.
    fn assert_same(line: &str) {
        let text = clean_line(line);
        let after = mask(&text);
        let printable = super::super::clean::printable(line);
        let before = match &printable {
            std::borrow::Cow::Borrowed(_) => mask(line),
            std::borrow::Cow::Owned(p) => mask(p),
        };
        assert_eq!(before & after, after, "{line}");
        if before & READ != 0 {
            assert_eq!(
                super::super::clean::masked(&printable, before & TOKEN_SHAPE != 0),
                text,
                "{line}"
            );
        }
        let all = classify_masked(&text, Mask::MAX);
        assert_eq!(classify_masked(&text, before), all, "{text}");
        assert_eq!(classify_masked(&text, after), all, "{text}");
        if all.is_some() || context(&text).is_some() {
            assert_ne!(before & READ, 0, "the line would be skipped: {line}");
        }
        if context(&text).is_some() {
            assert_ne!(after & CONTEXT, 0, "{text}");
        }
        assert_eq!(
            nvcc_threads_masked(&text, before),
            nvcc_threads(&text),
            "{text}"
        );
        assert_eq!(
            nvcc_threads_masked(&text, after),
            nvcc_threads(&text),
            "{text}"
        );
        if nvcc_threads(&text).is_some() {
            assert_ne!(after & (NVCC_THREADS | THREADS_FLAG), 0, "{text}");
        }
    }

    fn logs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                logs(&p, out);
            } else if p.extension().is_some_and(|x| x == "log") {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_hit_holds_a_needle_of_its_matcher() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let mut files = Vec::new();
        logs(&root, &mut files);
        assert!(files.len() >= 30, "the captured logs: {}", files.len());
        let mut lines = 0;
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            for line in String::from_utf8_lossy(&bytes).lines() {
                assert_same(line);
                lines += 1;
            }
        }
        assert!(lines > 1000, "{lines}");
    }

    /// Pieces of the lines the matchers read, and near misses.
    fn piece() -> impl Strategy<Value = String> {
        let literals: Vec<&'static str> = NEEDLES
            .iter()
            .map(|(n, _)| *n)
            .chain([
                "Killed signal terminated program cc1plus",
                "internal compiler error: Killed (program cicc)",
                "nvcc error   : 'ptxas' died due to signal 9 (Kill signal)",
                " terminated with signal 9 [Killed]",
                "ninja: job terminated due to signal 90: x",
                "line 1: 4321 Killed   /usr/bin/c++",
                "Out of memory: Killed process 4321 (cc1plus)",
                "cc1plus: out of memory allocating 65536 bytes",
                "exit status 1370",
                "<Signals.SIGKILL: 9>",
                "FAILED: [code=137] a.o",
                "csrc/a.cu:12:3: ",
                "x.cu(7): ",
                "fatal error: cute/tensor.hpp: No such file or directory",
                "error #20012-D: ",
                "undefined symbol: _ZN3c10",
                "/x/y.so: ",
                "ImportError: ",
                "No module named 'torch'",
                "The detected CUDA version (12.2) mismatches the version that was used to compile",
                "PyTorch (13.0)",
                "OSError: [Errno 28] No space left on device: '/tmp/x'",
                "is not a supported wheel on this platform.",
                "flash_attn-2.8.3-cp312-cp312-linux_x86_64.whl ",
                "Attempted to use ninja as the BuildExtension backend but we could not find ninja.. Falling back",
                "['ninja', '-v', '-j', '16']",
                "nvcc --threads 4 ",
                "  137 | ",
                " ",
                ":",
                "'",
                "(",
                ")",
                "9",
            ])
            .collect();
        prop_oneof![
            4 => prop::sample::select(literals).prop_map(str::to_string),
            1 => "[ -~]{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(crate::test_support::proptest_config(256))]

        #[test]
        fn masked_matching_finds_what_trying_every_matcher_finds(
            pieces in prop::collection::vec(piece(), 1..8),
        ) {
            assert_same(&pieces.concat());
        }
    }

    #[test]
    fn token_shapes_are_what_redact_looks_for() {
        for p in PREFIXES {
            assert!(TOKEN_SHAPES.iter().any(|s| p.starts_with(s)), "{p}");
            assert_ne!(mask(format!("Killed {p}")) & TOKEN_SHAPE, 0, "{p}");
        }
        assert_eq!(URL_SCHEME_END, "://");
    }

    #[test]
    fn no_needle_is_a_prefix_of_another() {
        let all: Vec<&str> = NEEDLES.iter().map(|(n, _)| *n).collect();
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                assert!(i == j || !b.starts_with(a), "`{a}` is a prefix of `{b}`");
            }
        }
    }

    #[test]
    fn overlapping_needles_are_all_found() {
        // A needle that starts inside another one's match.
        assert_eq!(
            mask("Memory allocation failurerror: x"),
            OOM_ALLOCATION | COMPILE_ERROR
        );
        assert_eq!(mask("timed out of memory"), TIMEOUT | OOM_NO_MEMORY);
        assert_eq!(
            mask("nvcc was not foundefined symbol"),
            CUDA_HOME_MISSING | ABI_MISMATCH
        );
        assert_eq!(
            mask("bad_allocode=137 https://ghp_x"),
            OOM_NO_MEMORY | OOM_CODE_137 | TOKEN_SHAPE
        );
        let m = mask("FAILED: [code=137] a.o Killed process 1 (cc1plus) -Werror");
        assert_eq!(m, CONTEXT | OOM_CODE_137 | OOM_KILLED);
        assert_eq!(mask("[1/73] c++ -c a.cpp -o a.o"), 0);
        assert_eq!(
            mask("nvcc --threads 4 -DNVCC_THREADS=4"),
            NVCC_THREADS | THREADS_FLAG
        );
        assert_eq!(mask("nvcc --threads 4 -c a.cu") & READ, 0);
    }
}
