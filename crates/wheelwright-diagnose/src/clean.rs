//! Making an untrusted log line safe to keep: terminal escape sequences out,
//! other control characters out, secrets masked.
//!
//! Every string a finding carries that came from the log (evidence, file
//! names, messages) went through [`clean_line`], so no sink can print a token
//! or let a line move the cursor of the terminal showing it.

use std::borrow::Cow;

use wheelwright_base::redact::redact_patterns;
use wheelwright_base::secrets::redact_secrets;

/// `line` without ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ]
/// ... BEL|ESC \`, and two-byte `ESC x`).
pub fn strip_ansi(line: &str) -> Cow<'_, str> {
    if !line.contains('\x1b') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // CSI: parameters and intermediates, then one final byte @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC: until BEL or ST (ESC \).
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// `line` with escape sequences and control characters (but tabs) removed,
/// bidirectional-text controls shown as `<U+202E>` (so no output format
/// reorders what a reader sees), secrets masked, trimmed. Secrets are masked
/// last: a control character inside a token must not hide it from the mask
/// and then vanish.
pub fn clean_line(line: &str) -> String {
    redact_secrets(&printable(line)).into_owned()
}

/// [`clean_line`] but for the masking: escape sequences and control
/// characters out, bidi controls shown, trimmed. Borrowed for a line of
/// printable ASCII, as most are.
pub(crate) fn printable(line: &str) -> Cow<'_, str> {
    if is_printable_ascii(line.as_bytes()) {
        return Cow::Borrowed(line.trim());
    }
    let mut printable = String::with_capacity(line.len());
    for c in strip_ansi(line).chars() {
        if is_bidi_control(c) {
            printable.push_str(&format!("<U+{:04X}>", u32::from(c)));
        } else if c == '\t' || !c.is_control() {
            printable.push(c);
        }
    }
    Cow::Owned(printable.trim().to_string())
}

/// Whether every byte is printable ASCII (`' '..='~'`) or a tab, as nearly
/// every line of a build log is; 64 bytes at a time without a branch per
/// byte, which the compiler turns into vector code.
fn is_printable_ascii(bytes: &[u8]) -> bool {
    // Outside `' '..='~'` (one unsigned comparison) and not a tab.
    let out = |b: u8| (b.wrapping_sub(b' ') > b'~' - b' ') & (b != b'\t');
    let any_out = |block: &[u8]| block.iter().fold(false, |any, &b| any | out(b));
    const BLOCK: usize = 64;
    if bytes.len() < BLOCK {
        return !bytes.iter().any(|&b| out(b));
    }
    let mut blocks = bytes.chunks_exact(BLOCK);
    if blocks.by_ref().any(any_out) {
        return false;
    }
    // The last 64 bytes again rather than the rest one at a time.
    blocks.remainder().is_empty() || !any_out(&bytes[bytes.len() - BLOCK..])
}

/// A [`printable`] line masked as [`clean_line`] masks it: the secrets'
/// values, then the token shapes, which only a line that holds a token
/// prefix or `://` can have (`shapes`; the caller knows from its scan).
/// Borrowed when there was nothing to mask, as on nearly every line.
pub(crate) fn masked(printable: &str, shapes: bool) -> Cow<'_, str> {
    let values = wheelwright_base::secrets::installed().mask_values(printable);
    if !shapes {
        return values;
    }
    match values {
        Cow::Borrowed(v) => redact_patterns(v),
        Cow::Owned(v) => Cow::Owned(redact_patterns(&v).into_owned()),
    }
}

/// The Unicode bidirectional formatting characters (embeddings, overrides,
/// isolates, marks): invisible, they reorder the text around them
/// ("Trojan Source").
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 16, defect 7): a U+202E override reached every
    /// output format.
    #[test]
    fn bidi_controls_are_shown_not_obeyed() {
        let line = "error: x.cu: \u{202E}gnp.exe\u{202C} and \u{2066}y\u{2069} \u{200F}";
        let c = clean_line(line);
        assert!(!c.chars().any(is_bidi_control), "{c:?}");
        assert_eq!(
            c,
            "error: x.cu: <U+202E>gnp.exe<U+202C> and <U+2066>y<U+2069> <U+200F>"
        );
    }

    #[test]
    fn the_chunked_check_is_exact() {
        for len in [1, 7, 8, 9, 16, 23, 31, 32, 33, 63, 64, 65, 70, 128, 129] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut line = vec![b'a'; len];
                    line[at] = b;
                    let exact = b == b'\t' || (b' '..=b'~').contains(&b);
                    assert_eq!(is_printable_ascii(&line), exact, "{b:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn strips_colors_and_titles() {
        let gcc = "\x1b[01m\x1b[Kx.cpp:1:2:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[Kboom";
        assert_eq!(strip_ansi(gcc), "x.cpp:1:2: error: boom");
        assert_eq!(strip_ansi("a\x1b]0;title\x07b"), "ab");
        assert_eq!(strip_ansi("a\x1b]8;;http://x\x1b\\b"), "ab");
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed(_)));
        // A lone ESC at the end does not panic.
        assert_eq!(strip_ansi("x\x1b"), "x");
    }

    #[test]
    fn cleans_controls_and_secrets() {
        let line = "  token ghp_abcdefghijklmnopqrstuvwxyz0123456789 \x07\x08done\r ";
        let clean = clean_line(line);
        assert!(!clean.contains("abcdefghijklmnop"), "{clean}");
        assert!(!clean.chars().any(|c| c.is_control()), "{clean:?}");
        assert!(clean.ends_with("done"), "{clean}");
        // A control character splitting a token does not shield it.
        let split = "push ghp_abcdefghij\x08klmnopqrstuvwxyz0123456789";
        assert_eq!(clean_line(split), "push ghp_***");
    }
}
