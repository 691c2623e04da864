//! The one HTTP client of wheelwright: reqwest over rustls with the ring
//! provider (no aws-lc: the release binary is built for glibc 2.17), with
//! proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`, the system's
//! CA store plus `SSL_CERT_FILE`/`SSL_CERT_DIR`, a connect timeout, an answer
//! timeout and a total timeout per attempt, redirects followed for `GET` and
//! `HEAD` only, and our own retries with backoff and jitter on 5xx answers,
//! dropped connections and rate limits (reqwest does not retry; a streamed
//! upload must be opened anew for each attempt, which [`Payload`] does).
//! Downloads are streamed to a file, bounded in size and refused when they
//! stall ([`DownloadLimits`]).
//!
//! ```no_run
//! # async fn upload() -> Result<(), wheelwright_publish::http::HttpError> {
//! use wheelwright_publish::http::{HttpClient, Multipart, Request};
//! let client = HttpClient::from_env()?;
//! let form = Multipart::new()
//!     .text(":action", "file_upload")
//!     .text("sha256_digest", "ab12...")
//!     .file("content", "pkg-1.0-py3-none-any.whl", "dist/pkg-1.0-py3-none-any.whl");
//! let answer = client
//!     .send(&Request::post("https://upload.example/legacy/").multipart(form).basic_auth("__token__", "pypi-..."))
//!     .await?;
//! println!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
//! # Ok(()) }
//! ```

mod body;
mod download;
mod request;
mod retry;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wheelwright_base::env_vars;

pub use body::{Multipart, Payload};
pub use download::{DownloadLimits, STALL_BYTES};
pub use request::{display_url, HttpError, Request, Response};
pub use retry::{classify, wait_before_retry, RetryAnswer, RetryPolicy};
pub use tls::CaSources;

/// Proxy settings, as the conventional environment variables give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy for `http://` URLs (`HTTP_PROXY`; ignored under CGI, where a
    /// request header could set it).
    pub http: Option<String>,
    /// Proxy for `https://` URLs (`HTTPS_PROXY`).
    pub https: Option<String>,
    /// Proxy for both, where the specific one is unset (`ALL_PROXY`).
    pub all: Option<String>,
    /// Hosts, domains (`.example.com`, `example.com`), IPs and CIDR blocks to
    /// reach directly; `*` for all (`NO_PROXY`).
    pub no_proxy: Option<String>,
}

impl ProxySettings {
    /// The proxies as reqwest takes them, in the order they are tried: the
    /// scheme's own, then `ALL_PROXY`.
    fn proxies(&self) -> Result<Vec<reqwest::Proxy>, HttpError> {
        let no_proxy = self
            .no_proxy
            .as_deref()
            .and_then(reqwest::NoProxy::from_string);
        let mut out = Vec::new();
        let mut add = |url: &Option<String>,
                       made: fn(String) -> reqwest::Result<reqwest::Proxy>| {
            if let Some(url) = url {
                let proxy = made(url.clone())
                    .map_err(|e| HttpError::Setup(format!("proxy {}: {e}", display_url(url))))?;
                out.push(proxy.no_proxy(no_proxy.clone()));
            }
            Ok::<(), HttpError>(())
        };
        add(&self.http, reqwest::Proxy::http)?;
        add(&self.https, reqwest::Proxy::https)?;
        add(&self.all, reqwest::Proxy::all)?;
        Ok(out)
    }
}

/// Everything the client is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Which requests go through which proxy.
    pub proxies: ProxySettings,
    /// CA certificates trusted besides the system's.
    pub ca: CaSources,
    /// Giving up on connecting (TCP, proxy tunnel, TLS handshake) after this.
    pub connect_timeout: Duration,
    /// Giving up on one attempt (connect, send, receive the whole answer) after this.
    pub total_timeout: Duration,
    /// Giving up when a request's answer (status and headers) has not come
    /// this long after it went out; `None`: only `total_timeout` bounds it.
    pub answer_timeout: Option<Duration>,
    /// Retries of [`HttpClient::send`] and [`HttpClient::download`].
    pub retry: RetryPolicy,
    /// The `User-Agent` header (GitHub refuses requests without one).
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            proxies: ProxySettings::default(),
            ca: CaSources::default(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(1800),
            answer_timeout: None,
            retry: RetryPolicy::default(),
            user_agent: format!("wheelwright/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl HttpConfig {
    /// Defaults, with proxies and CA sources read from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Defaults, with proxies and CA sources read through `var` (upper-case
    /// names first, then lower-case, as curl does; empty values are unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |upper: &str| {
            var(upper)
                .or_else(|| var(&upper.to_ascii_lowercase()))
                .filter(|v| !v.trim().is_empty())
        };
        // Under CGI the HTTP_PROXY variable can come from a request header ("httpoxy").
        let cgi = var(env_vars::REQUEST_METHOD).is_some();
        let proxies = ProxySettings {
            http: if cgi { None } else { get(env_vars::HTTP_PROXY) },
            https: get(env_vars::HTTPS_PROXY),
            all: get(env_vars::ALL_PROXY),
            no_proxy: get(env_vars::NO_PROXY),
        };
        let ca = CaSources {
            cert_file: var(env_vars::SSL_CERT_FILE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cert_dirs: var(env_vars::SSL_CERT_DIR)
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        };
        HttpConfig {
            proxies,
            ca,
            ..HttpConfig::default()
        }
    }
}

/// The HTTP client: cheap to clone (connections are pooled and shared).
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Follows redirects (for `GET` and `HEAD`).
    pub(crate) follows: reqwest::Client,
    /// Never follows one (a `POST` is answered, not re-sent elsewhere).
    pub(crate) direct: reqwest::Client,
    pub(crate) roots: Arc<Vec<reqwest::Certificate>>,
    pub(crate) config: HttpConfig,
}

impl HttpClient {
    /// A client configured from the process environment ([`HttpConfig::from_env`]).
    pub fn from_env() -> Result<Self, HttpError> {
        Self::new(HttpConfig::from_env())
    }

    /// A client with this configuration. Fails when an extra CA source cannot
    /// be read or no CA certificate is found at all.
    pub fn new(config: HttpConfig) -> Result<Self, HttpError> {
        let roots = Arc::new(tls::root_certificates(&config.ca).map_err(HttpError::Setup)?);
        Self::with_roots(config, roots)
    }

    fn with_roots(
        config: HttpConfig,
        roots: Arc<Vec<reqwest::Certificate>>,
    ) -> Result<Self, HttpError> {
        tls::install_ring();
        let build = |redirects: reqwest::redirect::Policy| {
            let mut b = reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(config.connect_timeout)
                .tcp_nodelay(true)
                .http1_only()
                .redirect(redirects)
                .tls_certs_only(roots.iter().cloned());
            if let Ok(ua) = reqwest::header::HeaderValue::from_str(&config.user_agent) {
                b = b.user_agent(ua);
            }
            for proxy in config.proxies.proxies()? {
                b = b.proxy(proxy);
            }
            b.build().map_err(|e| HttpError::Setup(request::chain(&e)))
        };
        Ok(HttpClient {
            follows: build(reqwest::redirect::Policy::limited(10))?,
            direct: build(reqwest::redirect::Policy::none())?,
            roots,
            config,
        })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The same client (proxies, CAs, retries) with other timeouts: see
    /// [`HttpConfig`]'s.
    pub fn with_timeouts(
        &self,
        connect: Duration,
        total: Duration,
        answer: Option<Duration>,
    ) -> Result<HttpClient, HttpError> {
        let mut config = self.config.clone();
        config.connect_timeout = connect;
        config.total_timeout = total;
        config.answer_timeout = answer;
        if connect == self.config.connect_timeout {
            return Ok(HttpClient {
                config,
                ..self.clone()
            });
        }
        Self::with_roots(config, self.roots.clone())
    }

    /// The client for `method`: redirects are followed for `GET` and `HEAD`.
    pub(crate) fn for_method(&self, method: &http::Method) -> &reqwest::Client {
        if method == http::Method::GET || method == http::Method::HEAD {
            &self.follows
        } else {
            &self.direct
        }
    }
}
