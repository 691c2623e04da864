//! [`HttpNetwork`]: the [`Network`] a job uses when it may reach the network.
//! It owns a small tokio runtime and blocks the calling thread on it, as the
//! synchronous library expects.

use std::path::Path;
use std::sync::OnceLock;

use wheelwright_core::net::{FetchOptions, Fetched, NetError, Network};

use crate::http::{HttpClient, HttpConfig, HttpError, Request};

/// The network, through [`HttpClient`] (proxies, CAs and retries from the
/// environment). The client and the runtime are made on first use, so a
/// command that never touches the network pays nothing, and a broken
/// `SSL_CERT_FILE` is reported by the request that needs it. Do not call its
/// methods from inside a tokio runtime: they block on their own.
#[derive(Debug)]
pub struct HttpNetwork {
    config: HttpConfig,
    client: OnceLock<Result<HttpClient, String>>,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl HttpNetwork {
    /// The network as the environment configures it: `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`, `SSL_CERT_DIR`.
    pub fn from_env() -> Self {
        Self::from_config(HttpConfig::from_env())
    }

    /// The network with this configuration.
    pub fn from_config(config: HttpConfig) -> Self {
        HttpNetwork {
            config,
            client: OnceLock::new(),
            runtime: OnceLock::new(),
        }
    }

    /// The network through this (already made) client.
    pub fn with_client(client: HttpClient) -> Self {
        let config = client.config().clone();
        HttpNetwork {
            config,
            client: OnceLock::from(Ok(client)),
            runtime: OnceLock::new(),
        }
    }

    /// The client underneath, made now if not yet.
    pub fn client(&self) -> Result<&HttpClient, NetError> {
        self.client
            .get_or_init(|| HttpClient::new(self.config.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| NetError::Other(e.clone()))
    }

    /// Run `fut` to completion on this network's runtime (made now if not yet).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> Result<F::Output, NetError> {
        let runtime = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the network runtime: {e}"))
            })
            .as_ref()
            .map_err(|e| NetError::Other(e.clone()))?;
        Ok(runtime.block_on(fut))
    }
}

impl Network for HttpNetwork {
    fn fetch(&self, url: &str, dest: &Path, opts: &FetchOptions) -> Result<Fetched, NetError> {
        let client = self
            .client()?
            .with_timeouts(opts.connect_timeout, opts.total_timeout);
        let req = Request::get(url);
        self.block_on(async { client.download(&req, dest).await })?
            .map_err(net_error)
    }
}

/// Our error as the library's.
pub fn net_error(e: HttpError) -> NetError {
    match e {
        HttpError::Status {
            url,
            status: 404 | 410,
            ..
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
