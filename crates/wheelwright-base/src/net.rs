//! The network, seen from the stages below the Job: [`Fetch`], a small trait
//! through which a stage downloads a URL (a listing of published wheels, an
//! sdist, a `report.json`, a prebuilt wheel), without any library crate
//! depending on an HTTP stack.
//!
//! The Job's `Network` (wheelwright-job) is a [`Fetch`] that also publishes;
//! `wheelwright-publish` implements both (tokio + octocrab + reqwest, proxies
//! and corporate CAs honoured). A library user who needs no network passes
//! [`Offline`], which refuses every request with a clear error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a fetch may behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Give up connecting after this long (a runner without internet must not hang).
    pub connect_timeout: Duration,
    /// Give up on the whole transfer after this long.
    pub total_timeout: Duration,
    /// Give up when the server has not answered (status line and headers)
    /// this long after the request went out: a lookup on a server that
    /// accepts the connection and stays silent ends in seconds, while the
    /// transfer itself may take up to `total_timeout`. `None`: only
    /// `total_timeout` bounds the wait.
    pub answer_timeout: Option<Duration>,
    /// Refuse a body larger than this many bytes: from its announced
    /// `Content-Length` before a byte is written, else as soon as the count
    /// passes it. `None`: no cap.
    pub max_bytes: Option<u64>,
    /// Give up when fewer than [`STALL_BYTES`] arrive in any window this
    /// long: a server that sends nothing, and one that trickles a byte every
    /// few seconds (which no per-read timeout catches), ends here instead of
    /// at `total_timeout`. `None`: only `total_timeout` bounds a slow body.
    pub idle_timeout: Option<Duration>,
}

/// The least a body must bring in every [`FetchOptions::idle_timeout`]
/// window (16 KiB: 0.5 KiB/s over the default 30 s, far below any real link).
pub const STALL_BYTES: u64 = 16 * 1024;

/// The default [`FetchOptions::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(1800),
            answer_timeout: None,
            max_bytes: None,
            idle_timeout: Some(IDLE_TIMEOUT),
        }
    }
}

/// What a successful fetch left on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    /// The file written (created anew; never through a symlink).
    pub path: PathBuf,
    /// Bytes written.
    pub size: u64,
    /// Lower-case hex sha256 of the bytes written.
    pub sha256: String,
}

/// Why a network request did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No network layer is wired in (a library user passed [`Offline`]).
    #[error("no network access is configured for this job ({what})")]
    Unavailable {
        /// What needed the network.
        what: String,
    },
    /// The server answered that the thing does not exist (HTTP 404/410).
    #[error("{url}: not found")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// Connecting or transferring took longer than allowed.
    #[error("{url}: timed out after {seconds:.0} s")]
    Timeout {
        /// The URL.
        url: String,
        /// The time allowed.
        seconds: f64,
    },
    /// The connection could not be made or was dropped.
    #[error("{url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// What the connection said.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's message, masked.
        message: String,
    },
    /// The URL is not one we can fetch (scheme, syntax).
    #[error("{url}: {message}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// Writing the fetched bytes failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// Why.
        source: std::io::Error,
    },
    /// Anything else the implementation reports (message already masked).
    #[error("{0}")]
    Other(String),
}

/// Downloading a URL into a file. Implementations block the calling thread
/// (the library is synchronous); `wheelwright-publish` runs its own runtime
/// inside.
pub trait Fetch {
    /// Download `url` into the file `dest` (created, never followed through a
    /// symlink; left absent on failure).
    fn fetch(&self, url: &str, dest: &Path, opts: &FetchOptions) -> Result<Fetched, NetError>;
}

/// The network of a job that has none: every request fails with
/// [`NetError::Unavailable`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl Fetch for Offline {
    fn fetch(&self, url: &str, _dest: &Path, _opts: &FetchOptions) -> Result<Fetched, NetError> {
        Err(NetError::Unavailable {
            what: format!("fetching {url}"),
        })
    }
}

/// Is `s` a URL the network layer handles (`http://` or `https://`)?
pub fn is_http_url(s: &str) -> bool {
    let lower = s.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_refuses_with_what_was_asked() {
        let e = Offline
            .fetch(
                "https://example.invalid/r.json",
                Path::new("/nonexistent/x"),
                &FetchOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(e, NetError::Unavailable { .. }));
        assert!(e.to_string().contains("https://example.invalid/r.json"));
    }

    #[test]
    fn http_urls_are_told_apart_from_paths() {
        assert!(is_http_url("https://h/x"));
        assert!(is_http_url("HTTP://h/x"));
        assert!(!is_http_url("./report.json"));
        assert!(!is_http_url("file:///x"));
    }
}
