//! Masking tokens in untrusted text before anything prints or stores it.
//!
//! A build log can contain a token that a build step echoed (a `pip` index URL
//! with a password, a `git` remote with a GitHub token), and a command line
//! shown in a message can hold one (`--find-links https://user:pass@host/`).
//! GitHub masks the secrets it knows; these patterns catch the ones it does
//! not: GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`),
//! PyPI API tokens (`pypi-Ag...`) and the password of a URL's
//! `user:password@`. The prefix or user stays visible so a reader knows what
//! was there. The values of the secrets this process knows are masked by
//! [`crate::secrets`] (whose [`redact_secrets`](crate::secrets::redact_secrets)
//! masks both), which builds on these patterns.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// The mask put in place of a token's secret part.
pub const MASK: &str = "***";

/// Token prefixes; the secret part is what follows.
pub const PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "pypi-Ag",
];
/// Characters of secret a match needs before it is taken for a token.
const MIN_SECRET: usize = 20;
/// What starts a URL's authority (`user:password@host`).
pub const URL_SCHEME_END: &str = "://";

/// One automaton for the token prefixes, then [`URL_SCHEME_END`].
fn finder() -> &'static AhoCorasick {
    static FINDER: OnceLock<AhoCorasick> = OnceLock::new();
    FINDER.get_or_init(|| {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(PREFIXES.iter().chain([&URL_SCHEME_END]))
            .expect("static token prefixes")
    })
}

/// The byte range of the password in the URL authority that starts at
/// `start` (just after `://`): `user:password@host`. `None` without one, or
/// when the password is itself a token that [`PREFIXES`] masks.
fn url_password(line: &str, start: usize) -> Option<(usize, usize)> {
    let authority = &line[start..];
    let len = authority
        .bytes()
        .position(|b| {
            b.is_ascii_whitespace()
                || matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`')
        })
        .unwrap_or(authority.len());
    let userinfo = &authority[..authority[..len].rfind('@')?];
    let colon = userinfo.find(':')?;
    let password = &userinfo[colon + 1..];
    let masked_as_token = PREFIXES.iter().any(|p| password.starts_with(p));
    (!password.is_empty() && password != MASK && !masked_as_token)
        .then_some((start + colon + 1, start + userinfo.len()))
}

fn is_secret_char(prefix: &str, b: u8) -> bool {
    match prefix {
        "github_pat_" => b.is_ascii_alphanumeric() || b == b'_',
        "pypi-Ag" => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
        _ => b.is_ascii_alphanumeric(),
    }
}

/// `line` with every GitHub or PyPI token replaced by its prefix and `***`,
/// and every URL password by `***`. Borrowed (no allocation) when there is
/// nothing to mask.
pub fn redact_patterns(line: &str) -> Cow<'_, str> {
    let bytes = line.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    for m in finder().find_iter(line) {
        if m.start() < copied {
            continue;
        }
        let Some(&prefix) = PREFIXES.get(m.pattern().as_usize()) else {
            // `://`: a URL, perhaps with `user:password@`.
            if let Some((from, to)) = url_password(line, m.end()) {
                let s = out.get_or_insert_with(|| String::with_capacity(line.len()));
                s.push_str(&line[copied..from]);
                s.push_str(MASK);
                copied = to;
            }
            continue;
        };
        // A token starts a word: `xghp_...` is not one.
        let boundary = m.start() == 0 || {
            let b = bytes[m.start() - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        if !boundary {
            continue;
        }
        let secret = bytes[m.end()..]
            .iter()
            .take_while(|b| is_secret_char(prefix, **b))
            .count();
        if secret < MIN_SECRET {
            continue;
        }
        let s = out.get_or_insert_with(|| String::with_capacity(line.len()));
        s.push_str(&line[copied..m.start()]);
        // Keep `pypi-` for PyPI tokens, the whole prefix for GitHub's.
        let shown = if prefix == "pypi-Ag" { "pypi-" } else { prefix };
        s.push_str(shown);
        s.push_str(MASK);
        copied = m.end() + secret;
    }
    match out {
        None => Cow::Borrowed(line),
        Some(mut s) => {
            s.push_str(&line[copied..]);
            Cow::Owned(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_github_and_pypi_tokens() {
        let ghp = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A";
        let pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV";
        let pypi = "pypi-AgEIcHlwaS5vcmcCJGQ3ZTg5YjYwLWUxNzctNGNkZS1iYmE5LTk2YjY4ZjZlZjc1MQ";
        for (token, shown) in [
            (ghp, "ghp_***"),
            (pat, "github_pat_***"),
            (pypi, "pypi-***"),
        ] {
            let line =
                format!("git remote https://x-access-token:{token}@github.com/o/r (token={token})");
            let r = redact_patterns(&line);
            assert!(!r.contains(&token[token.len() - 10..]), "{r}");
            assert_eq!(r.matches(shown).count(), 2, "{r}");
        }
        for prefix in ["gho_", "ghu_", "ghs_", "ghr_"] {
            let line = format!("{prefix}{}", "a1".repeat(18));
            assert_eq!(redact_patterns(&line), format!("{prefix}***"));
        }
    }

    #[test]
    fn masks_url_passwords() {
        for (line, masked) in [
            (
                "pip install --find-links https://ci:s3cr3t@wheels.example.com/simple x",
                "pip install --find-links https://ci:***@wheels.example.com/simple x",
            ),
            (
                "Looking in indexes: 'https://u:p%40ss@h:8443?x', http://a:b@c",
                "Looking in indexes: 'https://u:***@h:8443?x', http://a:***@c",
            ),
            // A token as the password keeps its prefix.
            (
                "https://x-access-token:ghs_0123456789abcdefghij0123@github.com/o/r",
                "https://x-access-token:ghs_***@github.com/o/r",
            ),
        ] {
            assert_eq!(redact_patterns(line), masked);
            assert_eq!(redact_patterns(masked), masked, "masking is idempotent");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for line in [
            "building ghp_short",
            "xghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
            "pypi-server run -p 8080",
            "compile csrc/flash_attn/src/flash_fwd_hdim64_fp16_sm80.cu",
            "",
            "git clone ssh://git@github.com/o/r https://github.com/o/r",
            "see https://host:8443/path?a=b@c and http://[::1]:80/",
            "std::vector<int> a; a::b",
        ] {
            assert!(matches!(redact_patterns(line), Cow::Borrowed(_)), "{line}");
        }
    }

    #[test]
    fn handles_adjacent_and_multibyte_text() {
        let t = "ghs_0123456789abcdefghij0123";
        let line = format!("é{t} ü{t}");
        assert_eq!(redact_patterns(&line), "éghs_*** üghs_***");
    }
}
