//! wheelwright-publish: everything of wheelwright that needs the network.
//!
//! It implements [`wheelwright_job::net::Network`] ([`HttpNetwork`]: fetching
//! a URL with timeouts, proxies and the system's CA store) and publishes
//! checked wheels: a GitHub release (octocrab for the API, our own upload
//! POST), a static PEP 503 index with one root per variant, a wheelhouse, and
//! a PyPI-compatible index through the legacy upload API. Every request goes
//! through one client, [`http::HttpClient`]. `wheelwright-core` stays
//! synchronous and free of HTTP; this crate runs its own tokio runtime behind
//! the trait.
//!
//! [`publish()`] is the one call `wheelwright publish` makes: [`wheel_file`]
//! reads each wheel once, [`wheelhouse`] copies it, [`index`] writes the
//! static pages, [`atomic`] makes every write safe.

#![warn(missing_docs)]

pub mod atomic;
pub mod github;
pub mod http;
pub mod index;
mod network;
pub mod publish;
#[cfg(test)]
mod test_wheel;
pub mod upload;
pub mod wheel_file;
pub mod wheelhouse;

use std::path::PathBuf;

pub use network::HttpNetwork;
pub use publish::{publish, report_wheels};

/// Why a publish could not run at all (per-file failures are in the report).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No target was given.
    #[error("nothing to publish to: no target given")]
    NoTarget,
    /// The targets contradict each other or miss a part.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
    },
    /// A file that is not a usable wheel.
    #[error("{}: {message}", path.display())]
    BadWheel {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A build report that names no publishable wheel.
    #[error("{}: {message}", path.display())]
    BadReport {
        /// The report.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An index manifest that cannot be read (never overwritten then).
    #[error("{}: not a wheelwright index manifest: {message}", path.display())]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another publish held the index folder's lock for too long.
    #[error("{}: another publish into this folder held the lock for {waited_seconds} s", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long this one waited.
        waited_seconds: u64,
    },
    /// The network layer could not be set up (CA store, runtime).
    #[error("{message}")]
    Network {
        /// What failed.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl PublishError {
    /// Bad input or usage (exit 2), rather than an I/O failure (exit 3).
    pub fn is_usage(&self) -> bool {
        !matches!(
            self,
            PublishError::Io { .. } | PublishError::Network { .. } | PublishError::Locked { .. }
        )
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            PublishError::NoTarget => "pass --wheelhouse DIR, --index-dir DIR --base-url URL, --github-release TAG or --index-url URL".to_string(),
            PublishError::Usage { .. } => "see `wheelwright publish --help`".to_string(),
            PublishError::BadWheel { .. } => "pass the .whl files a build wrote (its report.json names it)".to_string(),
            PublishError::BadReport { .. } => "publish after a successful `wheelwright build`, with the report.json it wrote beside the wheel".to_string(),
            PublishError::BadManifest { path, .. } => format!("nothing was written; {} is the only record of what the index lists: restore it from the folder's history or backup (in a git checkout: `git checkout -- {}`), or move it aside and publish every wheel again into a new folder", path.display(), path.display()),
            PublishError::Locked { .. } => "wait for the other publish to finish, then run again (a lock is released when its holder exits)".to_string(),
            PublishError::Network { .. } => "check SSL_CERT_FILE/SSL_CERT_DIR and the proxy variables (HTTPS_PROXY, NO_PROXY)".to_string(),
            PublishError::Io { .. } => "check that the folder is writable and has space".to_string(),
        }
    }
}
