//! A request, its answer, the errors, and [`HttpClient::send`]: one request
//! (redirects followed for `GET`/`HEAD`, by reqwest, which drops the
//! `Authorization` header when one leaves the host), an answer timeout and a
//! total timeout per attempt, and retries as [`super::RetryPolicy`] says.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{HeaderMap, Method, StatusCode};

use super::body::{Multipart, Payload};
use super::retry::{classify, wait_before_retry};
use super::HttpClient;

/// Why a request failed. Messages name the URL without credentials.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be requested (syntax, scheme).
    #[error("{url}: {message}")]
    BadUrl {
        /// The URL, credentials removed.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// Connecting (TCP, proxy, TLS) took longer than the connect timeout.
    #[error("{url}: could not connect within {seconds:.0} s")]
    ConnectTimeout {
        /// The URL, credentials removed.
        url: String,
        /// The timeout.
        seconds: f64,
    },
    /// The attempt as a whole took longer than the total timeout.
    #[error("{url}: no complete answer within {seconds:.0} s")]
    Timeout {
        /// The URL, credentials removed.
        url: String,
        /// The timeout.
        seconds: f64,
    },
    /// No connection could be made (refused, DNS, proxy refused, certificate).
    #[error("{url}: cannot connect: {message}")]
    Connect {
        /// The URL, credentials removed.
        url: String,
        /// The cause chain.
        message: String,
    },
    /// The connection was dropped while the request or answer was on the wire.
    #[error("{url}: connection dropped: {message}")]
    Dropped {
        /// The URL, credentials removed.
        url: String,
        /// The cause chain.
        message: String,
    },
    /// The server answered with an error status (after any retries).
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The URL, credentials removed.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the answer's body.
        message: String,
    },
    /// A download brought less than [`super::STALL_BYTES`] in one stall window.
    #[error("{url}: stalled: {bytes} bytes in {seconds:.0} s (a download must bring at least {} every {seconds:.0} s)", wheelwright_base::units::format_bytes(super::STALL_BYTES))]
    Stalled {
        /// The URL, credentials removed.
        url: String,
        /// Bytes that came in the window.
        bytes: u64,
        /// The window.
        seconds: f64,
    },
    /// An answer larger than allowed (announced, or counted while it came).
    #[error("{url}: the answer is {} bytes, more than the {limit} bytes ({}) allowed", size_text(*.bytes, *.announced), wheelwright_base::units::format_bytes(*.limit))]
    TooLarge {
        /// The URL, credentials removed.
        url: String,
        /// The announced size, or what had come when the limit was passed.
        bytes: u64,
        /// Whether `bytes` is the announced `Content-Length`.
        announced: bool,
        /// The limit.
        limit: u64,
    },
    /// Rate limited for longer than the retry policy waits.
    #[error("{url}: rate limited; the limit resets in {wait_seconds} s")]
    RateLimited {
        /// The URL, credentials removed.
        url: String,
        /// Seconds until the limit resets.
        wait_seconds: u64,
    },
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The client could not be set up (CA files, TLS).
    #[error("HTTP client setup: {0}")]
    Setup(String),
}

fn size_text(bytes: u64, announced: bool) -> String {
    if announced {
        bytes.to_string()
    } else {
        format!("at least {bytes}")
    }
}

impl HttpError {
    /// Worth another attempt: a dropped connection.
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Dropped { .. })
    }
}

/// A URL for messages: without `user:password@`.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => url.chars().take(200).collect(),
    }
}

/// A request to send: method, URL, headers, body.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute `http://` or `https://` URL.
    pub url: String,
    /// Headers besides `User-Agent`, `Host` and `Content-Length` (set by the client).
    pub headers: HeaderMap,
    /// The body, opened anew for each attempt.
    pub body: Payload,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Payload::empty(),
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::POST, url)
    }

    /// Set a header (replacing one of the same name). A value that is not a
    /// valid header value is dropped (callers pass constants and numbers).
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    /// `Authorization: Basic ...` (the value is marked sensitive).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut v = HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        v.set_sensitive(true);
        self.headers.insert(AUTHORIZATION, v);
        self
    }

    /// `Authorization: Bearer TOKEN` (the value is marked sensitive).
    pub fn bearer(mut self, token: &str) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            v.set_sensitive(true);
            self.headers.insert(AUTHORIZATION, v);
        }
        self
    }

    /// This body.
    pub fn body(mut self, body: Payload) -> Self {
        self.body = body;
        self
    }

    /// A `multipart/form-data` body (its `Content-Type`, with the boundary,
    /// is set when it is sent).
    pub fn multipart(self, form: Multipart) -> Self {
        self.body(Payload::Form(form))
    }
}

/// A complete answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The URL that answered (after redirects).
    pub url: String,
}

impl Response {
    /// `Ok(self)` for a 2xx answer, else [`HttpError::Status`] with the start
    /// of the body as the message.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(self.to_error())
    }

    /// This answer as an [`HttpError::Status`] (whatever its status).
    pub fn to_error(&self) -> HttpError {
        let text = String::from_utf8_lossy(&self.body);
        let message: String = text.trim().chars().take(300).collect();
        HttpError::Status {
            url: display_url(&self.url),
            status: self.status.as_u16(),
            message: if message.is_empty() {
                self.status.canonical_reason().unwrap_or("").to_string()
            } else {
                message
            },
        }
    }
}

/// The cause chain of an error as one line, each cause once.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

impl HttpClient {
    /// Turn a reqwest error into ours. reqwest's own line names the URL
    /// (possibly with credentials), so only its causes are kept.
    pub(crate) fn error(&self, url: &str, e: &reqwest::Error) -> HttpError {
        let url = display_url(url);
        let message = match std::error::Error::source(e) {
            Some(cause) => chain(cause),
            None => e.to_string(),
        };
        if e.is_timeout() && e.is_connect() {
            HttpError::ConnectTimeout {
                url,
                seconds: self.config.connect_timeout.as_secs_f64(),
            }
        } else if e.is_timeout() {
            HttpError::Timeout {
                url,
                seconds: self.config.total_timeout.as_secs_f64(),
            }
        } else if e.is_connect() {
            HttpError::Connect { url, message }
        } else if e.is_builder() || e.is_redirect() {
            HttpError::BadUrl { url, message }
        } else {
            HttpError::Dropped { url, message }
        }
    }

    /// Send the request and give the answer with its body not yet read: one
    /// attempt, bounded by the total timeout (to the end of the body) and the
    /// answer timeout (to the answer's head).
    pub(crate) async fn start(&self, req: &Request) -> Result<reqwest::Response, HttpError> {
        let bad = |message: &str| HttpError::BadUrl {
            url: display_url(&req.url),
            message: message.to_string(),
        };
        let url = url::Url::parse(&req.url).map_err(|_| bad("not a valid URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("only http:// and https:// URLs can be fetched"));
        }
        if url.host_str().is_none() {
            return Err(bad("no host in the URL"));
        }
        let builder = self
            .for_method(&req.method)
            .request(req.method.clone(), url)
            .headers(req.headers.clone())
            .timeout(self.config.total_timeout);
        let builder = req
            .body
            .attach(builder)
            .await
            .map_err(|source| HttpError::Io {
                path: std::path::PathBuf::from("<request body>"),
                source,
            })?;
        let answer = builder.send();
        let answered = match self.config.answer_timeout {
            Some(limit) => {
                tokio::time::timeout(limit, answer)
                    .await
                    .map_err(|_| HttpError::Timeout {
                        url: display_url(&req.url),
                        seconds: limit.as_secs_f64(),
                    })?
            }
            None => answer.await,
        };
        answered.map_err(|e| self.error(&req.url, &e))
    }

    /// Send `req` once (no retry; redirects followed for `GET`/`HEAD`),
    /// reading the whole answer, within the total timeout.
    pub async fn send_once(&self, req: &Request) -> Result<Response, HttpError> {
        let answer = self.start(req).await?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let url = answer.url().to_string();
        let body = answer.bytes().await.map_err(|e| self.error(&req.url, &e))?;
        Ok(Response {
            status,
            headers,
            body,
            url,
        })
    }

    /// Send `req` (see [`Self::send_once`]), retrying 5xx answers, rate
    /// limits and dropped connections as the policy says. Any final answer
    /// is returned, error statuses included: see [`Response::error_for_status`].
    pub async fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            let last = attempt + 1 >= policy.attempts;
            match self.send_once(req).await {
                Ok(resp) => {
                    let Some(why) = classify(resp.status, &resp.headers) else {
                        return Ok(resp);
                    };
                    if last {
                        return Ok(resp);
                    }
                    match wait_before_retry(policy, attempt, &why) {
                        Ok(wait) => tokio::time::sleep(wait).await,
                        Err(wait) => {
                            return Err(HttpError::RateLimited {
                                url: display_url(&resp.url),
                                wait_seconds: wait.as_secs(),
                            })
                        }
                    }
                }
                Err(e) if e.is_transient() && !last => {
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_appear_in_displayed_urls() {
        assert_eq!(
            display_url("https://user:s3cret@proxy.example:3128/x"),
            "https://proxy.example:3128/x"
        );
        assert_eq!(display_url("https://h/x?y=1"), "https://h/x?y=1");
    }
}
