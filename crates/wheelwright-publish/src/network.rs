//! [`HttpNetwork`]: the [`Network`] a job uses when it may reach the network.
//! It owns a small tokio runtime and blocks the calling thread on it, as the
//! synchronous library expects.

use std::path::Path;

use wheelwright_core::net::{FetchOptions, Fetched, NetError, Network};

use crate::http::{HttpClient, HttpError, Request};

/// The network, through [`HttpClient`] (proxies, CAs and retries from the
/// environment). Do not call its methods from inside a tokio runtime: they
/// block on their own.
#[derive(Debug)]
pub struct HttpNetwork {
    client: HttpClient,
    runtime: tokio::runtime::Runtime,
}

impl HttpNetwork {
    /// The network as the environment configures it: `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`, `SSL_CERT_DIR`.
    pub fn from_env() -> Result<Self, NetError> {
        let client = HttpClient::from_env().map_err(|e| NetError::Other(e.to_string()))?;
        Self::with_client(client)
    }

    /// The network through this client.
    pub fn with_client(client: HttpClient) -> Result<Self, NetError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NetError::Other(format!("cannot start the network runtime: {e}")))?;
        Ok(HttpNetwork { client, runtime })
    }

    /// The client underneath (for publishing, which is async).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Run `fut` to completion on this network's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }
}

impl Network for HttpNetwork {
    fn fetch(&self, url: &str, dest: &Path, opts: &FetchOptions) -> Result<Fetched, NetError> {
        let client = self
            .client
            .with_timeouts(opts.connect_timeout, opts.total_timeout);
        let req = Request::get(url);
        self.runtime
            .block_on(client.download(&req, dest))
            .map_err(net_error)
    }
}

/// Our error as the library's.
pub fn net_error(e: HttpError) -> NetError {
    match e {
        HttpError::Status {
            url, status: 404 | 410, ..
        } => NetError::NotFound { url },
        HttpError::Status {
            url,
            status,
            message,
        } => NetError::Status {
            url,
            status,
            message,
        },
        HttpError::ConnectTimeout { url, seconds } | HttpError::Timeout { url, seconds } => {
            NetError::Timeout { url, seconds }
        }
        HttpError::Connect { url, message } | HttpError::Dropped { url, message } => {
            NetError::Connect { url, message }
        }
        HttpError::BadUrl { url, message } => NetError::BadUrl { url, message },
        HttpError::Io { path, source } => NetError::Io { path, source },
        e @ (HttpError::RateLimited { .. } | HttpError::Setup(_)) => NetError::Other(e.to_string()),
    }
}
