//! Literals the matchers search lines for, each with its substring searcher
//! built once.
//!
//! `memchr::memmem::find(line, "FAILED: ")` builds a searcher for the needle
//! on every call (for a line of 64 bytes or more), and building one costs
//! more than searching a line of a few hundred bytes with it: in a log dense
//! with OOM lines, where every line is read, that was a tenth of the time.
//! `lit!("FAILED: ")` names a `static` [`Lit`] per call site whose searcher
//! is built on first use and kept.

use std::sync::OnceLock;

use memchr::memmem::Finder;

/// A literal and, once first searched for, its searcher.
pub(crate) struct Lit {
    text: &'static str,
    finder: OnceLock<Finder<'static>>,
}

impl Lit {
    /// A literal whose searcher is not built yet (for a `static`).
    pub(crate) const fn new(text: &'static str) -> Lit {
        Lit {
            text,
            finder: OnceLock::new(),
        }
    }

    /// The literal's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    /// Where the literal first occurs in `s`.
    pub(crate) fn find(&self, s: &str) -> Option<usize> {
        self.finder
            .get_or_init(|| Finder::new(self.text.as_bytes()))
            .find(s.as_bytes())
    }
}

/// `lit!("text")`: a `&'static Lit` for the literal, one per call site, so
/// its searcher is built once for the whole process.
macro_rules! lit {
    ($text:literal) => {{
        static LIT: $crate::lit::Lit = $crate::lit::Lit::new($text);
        &LIT
    }};
}
pub(crate) use lit;

#[cfg(test)]
mod tests {
    #[test]
    fn finds_what_str_find_finds() {
        let long = format!("{}FAILED: a.o {}", "x".repeat(100), "FAILED: b.o");
        for s in ["", "FAILED:", "FAILED: ", "a FAILED: b", long.as_str()] {
            assert_eq!(lit!("FAILED: ").find(s), s.find("FAILED: "), "{s}");
        }
        let l = lit!("nvcc");
        assert_eq!(l.len(), 4);
        // The searcher kept from the first call serves the next ones.
        assert_eq!(l.find("/usr/bin/nvcc -c"), Some(9));
        assert_eq!(l.find("g++ -c"), None);
    }
}
