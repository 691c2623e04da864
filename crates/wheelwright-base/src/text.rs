//! Small text helpers several layers share: a string cut to a number of
//! characters, a string kept on one line, and a random token (delimiters of runner files, fences around
//! echoed logs, the supervisor's fence).

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// `s` cut to its first `max` characters (on a character boundary), with `…`
/// added when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => {
            let mut t = s[..i].to_string();
            t.push('…');
            t
        }
    }
}

/// `s` on one line, for a comment, a message or a name shown to a user:
/// backslashes and control characters (line breaks, the terminal's escape)
/// escaped as Rust writes them (`\\`, `\n`, `\u{1b}`), everything else as
/// it is. Text from elsewhere (a report, a directory name) shown this way
/// cannot start a line of its own nor drive the terminal.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// 32 random hex characters from the OS (`/dev/urandom`). Where that cannot be
/// read (a sandbox without `/dev`), std's hash keys, which the OS seeds from
/// its own random source, key two SipHashes of a counter instead: never the
/// time or the process id, which a build could guess.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let from_os = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        bytes = keyed_random_bytes();
    }
    crate::digest::hex(&bytes)
}

/// The fallback of [`random_token`]: a counter hashed under std's secret,
/// OS-seeded SipHash keys, a fresh pair of keys per half.
fn keyed_random_bytes() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    for half in bytes.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_line_breaks_and_terminal_escapes() {
        assert_eq!(one_line("a\nb\r\x1b[2K\\n"), r"a\nb\r\u{1b}[2K\\n");
        assert_eq!(one_line("2.11.0+cu130 é"), "2.11.0+cu130 é");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }

    #[test]
    fn tokens_are_random() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert!(a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit()));
        // The fallback where /dev/urandom cannot be read: fresh every time, and
        // its two halves are not one value twice.
        let (x, y) = (keyed_random_bytes(), keyed_random_bytes());
        assert_ne!(x, y);
        assert_ne!(x[..8], x[8..]);
    }
}
