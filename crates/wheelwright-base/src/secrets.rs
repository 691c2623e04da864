//! Secrets masked by value: the values of the secret-bearing environment
//! variables this process sees, wherever they appear in what we print or
//! store.
//!
//! The patterns of [`super::redact`] catch a token by its shape, and only a
//! long one: `GITHUB_TOKEN=ghp_secret123` echoed by a build went through to
//! the console, `build.log`, `report.json` and the Action's outputs. So every
//! output is also masked by the actual values of:
//! - the variables of [`env_vars::SECRET_VARS`] (GitHub, PyPI and index
//!   tokens, compiler-cache credentials): the whole value;
//! - the URLs of [`env_vars::CREDENTIAL_URL_VARS`] (pip's and uv's index
//!   URLs, proxies): the password of `user:password@`, or a lone `token@`
//!   (Gemfury, Artifactory), raw and percent-decoded;
//! - any variable the user names, with `--mask-env NAME` or in
//!   [`env_vars::WHEELWRIGHT_MASK_ENV`] (comma or space separated).
//!
//! A value shorter than [`MIN_SECRET_CHARS`] is not masked: replacing every
//! `abc` or `1234` in a build log would wreck it and hide nothing worth
//! hiding. A [`MaskWarning`] names such a variable (never its value), and a
//! named variable that is not set.
//!
//! One [`SecretSet`] per process. The environment is the process's, so the set
//! is too: the binary builds it once from the environment and the user's
//! names and [`install`]s it before anything prints; every sink then masks
//! through it: [`redact_secrets`] (the console, the fenced
//! echo, findings' evidence, error messages, command lines), the build log's
//! [`super::masking_writer::MaskingWriter`], and `report.json` through
//! [`SecretSet::mask_json_text`]. A library caller that installs none gets one
//! built from the process environment and the built-in names on first use.
//!
//! No `::add-mask::` is printed. Every byte this process writes already goes
//! through the set, so it would add nothing to our own output; the values the
//! runner knows (`secrets.*`, `GITHUB_TOKEN`) it masks already; and the
//! command itself writes the value to stdout in clear: captured by a
//! `wheelwright build > out.txt` that a later step uploads, or printed inside
//! the `::stop-commands::` fence that all build output goes through (where
//! the runner ignores it), it would be the very leak this module prevents.
//! A workflow that wants later steps masked too says `::add-mask::` itself.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

use super::redact::{redact_patterns, MASK};
use crate::env_vars;

/// `line` with the values of the process's secrets masked (the installed
/// [`SecretSet`]), then every token shape
/// ([`redact_patterns`]). Borrowed (no allocation) when there is nothing to
/// mask. Every sink masks through this or through the set itself.
pub fn redact_secrets(line: &str) -> Cow<'_, str> {
    installed().mask(line)
}

/// Characters a value needs to be masked.
pub const MIN_SECRET_CHARS: usize = 6;

/// Why a variable's value is not masked. Names the variable, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskWarning {
    /// The value (or a credential in its URL) is too short to mask.
    #[error(
        "{name} holds a secret of {chars} characters, too short to mask (masking starts at \
         {MIN_SECRET_CHARS}): it is shown as it is wherever it appears"
    )]
    TooShort {
        /// The variable.
        name: String,
        /// Its value's length.
        chars: usize,
    },
    /// A variable the user asked to mask is not set.
    #[error("{name} is to be masked but is not set")]
    Unset {
        /// The variable.
        name: String,
    },
}

/// The secret values to mask, with one automaton that finds them all.
#[derive(Debug, Clone, Default)]
pub struct SecretSet {
    /// Distinct, at least [`MIN_SECRET_CHARS`] characters each.
    values: Vec<String>,
    finder: Option<AhoCorasick>,
}

/// The names in a `WHEELWRIGHT_MASK_ENV`-style list: separated by commas or
/// whitespace, empty pieces ignored.
pub fn parse_names(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
}

impl SecretSet {
    /// The set for an environment read through `lookup`: the built-in
    /// variables, those [`env_vars::WHEELWRIGHT_MASK_ENV`] names, and `names`.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
        names: &[String],
    ) -> (SecretSet, Vec<MaskWarning>) {
        let listed = lookup(env_vars::WHEELWRIGHT_MASK_ENV).unwrap_or_default();
        let user: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .chain(parse_names(&listed))
            .collect();
        let mut warnings = Vec::new();
        let mut values = Vec::new();
        let mut keep = |name: &str, value: String, warnings: &mut Vec<MaskWarning>| {
            let chars = value.chars().count();
            if chars >= MIN_SECRET_CHARS {
                values.push(value);
            } else if chars > 0 {
                let w = MaskWarning::TooShort {
                    name: name.to_string(),
                    chars,
                };
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
        };
        let whole = env_vars::SECRET_VARS
            .iter()
            .copied()
            .chain(user.iter().copied());
        for name in whole {
            match lookup(name) {
                Some(value) => {
                    for line in value_lines(&value) {
                        keep(name, line.to_string(), &mut warnings);
                    }
                }
                None if user.contains(&name) => {
                    let w = MaskWarning::Unset {
                        name: name.to_string(),
                    };
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                None => {}
            }
        }
        for name in env_vars::CREDENTIAL_URL_VARS {
            for credential in lookup(name).iter().flat_map(|v| url_credentials(v)) {
                keep(name, credential, &mut warnings);
            }
        }
        (SecretSet::from_values(values), warnings)
    }

    /// [`SecretSet::from_env`] on this process's environment.
    pub fn from_process_env(names: &[String]) -> (SecretSet, Vec<MaskWarning>) {
        SecretSet::from_env(|name| std::env::var(name).ok(), names)
    }

    /// A set of these values; those shorter than [`MIN_SECRET_CHARS`] are
    /// left out.
    pub fn from_values<I, S>(values: I) -> SecretSet
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut values: Vec<String> = values
            .into_iter()
            .map(Into::into)
            .filter(|v| v.chars().count() >= MIN_SECRET_CHARS)
            .collect();
        values.sort();
        values.dedup();
        // Leftmost-longest: of two secrets starting at one place, the longer
        // one is masked whole.
        let finder = (!values.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&values)
                .expect("plain string patterns build an automaton")
        });
        SecretSet { values, finder }
    }

    /// Whether there is no value to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// How many distinct values are masked.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Bytes of the longest value (0 when empty).
    pub fn longest(&self) -> usize {
        self.values.iter().map(String::len).max().unwrap_or(0)
    }

    /// Where the values occur in `bytes`: (start, end), leftmost-longest,
    /// not overlapping.
    pub(crate) fn find_iter<'a>(
        &'a self,
        bytes: &'a [u8],
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.finder
            .iter()
            .flat_map(move |f| f.find_iter(bytes).map(|m| (m.start(), m.end())))
    }

    /// `text` with every value replaced by [`MASK`]. Borrowed when there is
    /// none.
    pub fn mask_values<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(finder) = &self.finder else {
            return Cow::Borrowed(text);
        };
        if !finder.is_match(text) {
            return Cow::Borrowed(text);
        }
        Cow::Owned(finder.replace_all(text, &vec![MASK; self.values.len()]))
    }

    /// `text` with every value and every token shape masked (values first,
    /// then [`redact_patterns`]).
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.mask_values(text) {
            Cow::Borrowed(t) => redact_patterns(t),
            Cow::Owned(t) => Cow::Owned(redact_patterns(&t).into_owned()),
        }
    }

    /// JSON text with every string in it (keys too) masked by
    /// [`SecretSet::mask`]: each string literal is decoded, masked and, when
    /// that changed it, encoded again, so escapes cannot hide a secret and a
    /// mask never breaks the document (a number that happens to equal a
    /// secret is left alone). Text that is not JSON is masked as plain text.
    pub fn mask_json_text(&self, json: &str) -> String {
        let bytes = json.as_bytes();
        let mut out = String::with_capacity(json.len());
        let (mut copied, mut i) = (0, 0);
        while i < bytes.len() {
            if bytes[i] != b'"' {
                i += 1;
                continue;
            }
            // A string literal from `i` to its closing quote.
            let mut end = i + 1;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            if end >= bytes.len() {
                return self.mask(json).into_owned();
            }
            let literal = &json[i..=end];
            let Ok(decoded) = serde_json::from_str::<String>(literal) else {
                return self.mask(json).into_owned();
            };
            if let Cow::Owned(masked) = self.mask(&decoded) {
                out.push_str(&json[copied..i]);
                out.push_str(&serde_json::to_string(&masked).expect("a string encodes"));
                copied = end + 1;
            }
            i = end + 1;
        }
        out.push_str(&json[copied..]);
        out
    }
}

/// The pieces of a value that are masked: each non-empty line (a multi-line
/// value, such as a key file, is echoed line by line), trimmed.
fn value_lines(value: &str) -> impl Iterator<Item = &str> {
    value.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// The credentials in the URLs of `value` (space separated; uv's
/// `name=URL` form too): the password of `user:password@host`, or the user of
/// `token@host`; each raw and, when it differs, percent-decoded.
fn url_credentials(value: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in value.split_whitespace() {
        let Some(at) = word.find("://") else {
            continue;
        };
        let authority = &word[at + 3..];
        let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
        let Some(userinfo) = authority.rfind('@').map(|i| &authority[..i]) else {
            continue;
        };
        let secret = match userinfo.split_once(':') {
            Some((_, password)) => password,
            None => userinfo,
        };
        if secret.is_empty() {
            continue;
        }
        let decoded = percent_decode(secret);
        if decoded != secret {
            found.push(decoded);
        }
        found.push(secret.to_string());
    }
    found
}

/// `%XX` decoded; the text as it is when the result is not UTF-8.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

static INSTALLED: OnceLock<SecretSet> = OnceLock::new();

/// Make `set` the one every sink masks with. Call it once, before anything
/// prints; `Err` gives the set back when one was installed (or used) already.
pub fn install(set: SecretSet) -> Result<(), SecretSet> {
    INSTALLED.set(set)
}

/// Install the set of the process environment and `names` (a command's
/// `--mask-env`), as a program does before it prints anything; the warnings
/// to show. A set installed before (of the same environment) stays.
pub fn install_from_process_env(names: &[String]) -> Vec<MaskWarning> {
    let (set, warnings) = SecretSet::from_process_env(names);
    let _ = install(set);
    warnings
}

/// The installed set; without one, the set of the process environment and
/// the built-in names, built on first use (and installed).
pub fn installed() -> &'static SecretSet {
    INSTALLED.get_or_init(|| SecretSet::from_process_env(&[]).0)
}

#[cfg(test)]
mod tests;
