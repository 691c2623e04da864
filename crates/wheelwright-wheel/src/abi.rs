//! The C++ ABI a binary was compiled with, read from its dynamic symbols.
//!
//! libstdc++ has two ABIs for `std::string` and `std::list`
//! (`_GLIBCXX_USE_CXX11_ABI`). A binary built with the new one (1) names
//! them in the `std::__cxx11` namespace or with the `[abi:cxx11]` tag, so
//! its mangled names hold `__cxx11` (`NSt7__cxx1112basic_string...`,
//! `B5cxx11`). A binary built with the old one (0) names `std::string` by
//! the substitution `Ss` and `std::basic_string` by `Sb`
//! (`_ZN3c106detail14torchCheckFailEPKcS2_jRKSs`), which the new ABI never
//! uses. A binary whose interface passes neither (an `extern "C"` kernel
//! library) says nothing: its ABI is unknown and nothing is claimed.
//!
//! A torch extension must match torch's `torch._C._GLIBCXX_USE_CXX11_ABI`,
//! or importing it fails with `undefined symbol`; flash-attn's wheel names
//! carry it as `cxx11abiTRUE`/`cxx11abiFALSE`, and a build report records
//! torch's. [`super::check_wheel`] compares the binaries with what the
//! wheel's label (or the caller) says.

use serde::{Deserialize, Serialize};

/// At most this many example symbols are kept per ABI.
const MAX_EXAMPLES: usize = 3;

/// What a binary's dynamic symbols say about its C++ ABI.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CxxAbiEvidence {
    /// Symbols mangled with the new ABI (`__cxx11`).
    pub new_abi_symbols: usize,
    /// Symbols mangled with the old ABI's `std::string` (`Ss`, `Sb`).
    pub old_abi_symbols: usize,
    /// A few of them, for the finding's evidence.
    pub examples: Vec<String>,
}

impl CxxAbiEvidence {
    /// Read the evidence from a binary's dynamic symbol names (defined and
    /// undefined alike).
    pub fn from_symbols<'a>(names: impl IntoIterator<Item = &'a str>) -> CxxAbiEvidence {
        let mut out = CxxAbiEvidence::default();
        let (mut new_examples, mut old_examples) = (Vec::new(), Vec::new());
        for name in names {
            if !name.starts_with("_Z") {
                continue;
            }
            if name.contains("__cxx11") || name.contains("B5cxx11") {
                out.new_abi_symbols += 1;
                if new_examples.len() < MAX_EXAMPLES {
                    new_examples.push(name.to_string());
                }
            } else if has_old_string(name) {
                out.old_abi_symbols += 1;
                if old_examples.len() < MAX_EXAMPLES {
                    old_examples.push(name.to_string());
                }
            }
        }
        out.examples = new_examples.into_iter().chain(old_examples).collect();
        out
    }

    /// `Some(true)`: only new-ABI names; `Some(false)`: only old-ABI names;
    /// `None`: neither (nothing to tell) or both (see [`Self::mixed`]).
    pub fn cxx11_abi(&self) -> Option<bool> {
        match (self.new_abi_symbols > 0, self.old_abi_symbols > 0) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }

    /// Names of both ABIs: objects compiled with different settings were
    /// linked together.
    pub fn mixed(&self) -> bool {
        self.new_abi_symbols > 0 && self.old_abi_symbols > 0
    }
}

/// `TRUE`/`FALSE`, as flash-attn's labels and torch's build settings spell it.
pub fn abi_word(abi: bool) -> &'static str {
    if abi {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// The C++ ABI a local version label names (`cu12torch2.8cxx11abiTRUE`,
/// any case); `None` when it names none.
pub fn label_cxx11_abi(label: &str) -> Option<bool> {
    let lower = label.to_ascii_lowercase();
    let at = lower.rfind("cxx11abi")?;
    let rest = &lower[at + "cxx11abi".len()..];
    if rest.starts_with("true") {
        Some(true)
    } else if rest.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether the mangled `name` uses the old ABI's `std::string` (`Ss`) or
/// `std::basic_string` (`Sb`) outside any identifier. Identifiers
/// (`<length><chars>`) are skipped by their length, so a class named
/// `MySsThing` does not count; digits after `S`, `T`, `A` or `_` are
/// sequence ids, template parameters, array sizes or discriminators, not
/// lengths.
fn has_old_string(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("_Z") else {
        return false;
    };
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            let prev = if i == 0 { 0 } else { b[i - 1] };
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if matches!(prev, b'S' | b'T' | b'A' | b'_') {
                continue;
            }
            let Ok(len) = rest[start..i].parse::<usize>() else {
                return false;
            };
            i = i.saturating_add(len);
            continue;
        }
        if c == b'S' && matches!(b.get(i + 1), Some(b's' | b'b')) {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_two_abis_apart_by_their_mangling() {
        // torch's check helper under each ABI, as g++ mangles it.
        let old = "_ZN3c106detail14torchCheckFailEPKcS2_jRKSs";
        let new = "_ZN3c106detail14torchCheckFailEPKcS2_jRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE";
        let e = CxxAbiEvidence::from_symbols([old, "_ZNSs4_Rep20_S_empty_rep_storageE"]);
        assert_eq!((e.old_abi_symbols, e.cxx11_abi()), (2, Some(false)));
        let e = CxxAbiEvidence::from_symbols([new, "_ZNK3foo4nameB5cxx11Ev"]);
        assert_eq!((e.new_abi_symbols, e.cxx11_abi()), (2, Some(true)));
        let e = CxxAbiEvidence::from_symbols([old, new]);
        assert!(e.mixed());
        assert_eq!(e.cxx11_abi(), None);
    }

    #[test]
    fn identifiers_and_plain_names_say_nothing() {
        // `MySsThing` holds `Ss` inside an identifier; `launch` is C.
        let e = CxxAbiEvidence::from_symbols([
            "_ZN9MySsThing3runEv",
            "launch",
            "_ZNSt8ios_base4InitC1Ev",
            "_Z3addPfPKfi",
        ]);
        assert_eq!(e, CxxAbiEvidence::default());
        assert_eq!(e.cxx11_abi(), None);
    }

    #[test]
    fn reads_the_abi_a_label_names() {
        assert_eq!(label_cxx11_abi("cu12torch2.8cxx11abiTRUE"), Some(true));
        assert_eq!(label_cxx11_abi("cu12torch2.6cxx11abifalse"), Some(false));
        assert_eq!(label_cxx11_abi("cu12torch2.8"), None);
        assert_eq!(label_cxx11_abi("cxx11abimaybe"), None);
    }
}
