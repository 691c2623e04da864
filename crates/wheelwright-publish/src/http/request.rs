//! A request, its answer, the errors, and [`HttpClient::send`]: one request
//! with redirects (for `GET`/`HEAD`), a total timeout per attempt, and retries
//! as [`super::RetryPolicy`] says.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION, USER_AGENT};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::BodyExt;

use super::body::{Multipart, Payload};
use super::connect::ConnectTimeout;
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

    /// A `multipart/form-data` body, with its `Content-Type`.
    pub fn multipart(self, form: Multipart) -> Self {
        let ct = form.content_type();
        self.header(CONTENT_TYPE, &ct).body(form.into_payload())
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

/// Turn a hyper client error into ours, by what its cause chain says.
pub(crate) fn classify_client_error(
    url: &str,
    e: &(dyn std::error::Error + 'static),
    connect_timeout: Duration,
    is_connect: bool,
) -> HttpError {
    let url = display_url(url);
    let mut chain = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<ConnectTimeout>() {
            return HttpError::ConnectTimeout {
                url,
                seconds: connect_timeout.as_secs_f64(),
            };
        }
        let text = err.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        cur = err.source();
    }
    let message = chain.join(": ");
    if is_connect {
        HttpError::Connect { url, message }
    } else {
        HttpError::Dropped { url, message }
    }
}

fn parse_uri(url: &str) -> Result<Uri, HttpError> {
    let bad = |message: &str| HttpError::BadUrl {
        url: display_url(url),
        message: message.to_string(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("only http:// and https:// URLs can be fetched")),
    }
    if uri.host().is_none() {
        return Err(bad("no host in the URL"));
    }
    Ok(uri)
}

impl HttpClient {
    /// Send `req` once (no retry, no redirect), reading the whole answer,
    /// within the total timeout.
    pub async fn send_once(&self, req: &Request) -> Result<Response, HttpError> {
        let seconds = self.config.total_timeout.as_secs_f64();
        match tokio::time::timeout(self.config.total_timeout, self.send_once_unbounded(req)).await {
            Ok(r) => r,
            Err(_) => Err(HttpError::Timeout {
                url: display_url(&req.url),
                seconds,
            }),
        }
    }

    async fn send_once_unbounded(&self, req: &Request) -> Result<Response, HttpError> {
        let answer = self.start(req).await?;
        let (parts, body) = answer.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| classify_client_error(&req.url, &e, self.config.connect_timeout, false))?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
            url: req.url.clone(),
        })
    }

    /// Send the request and give the answer with its body not yet read.
    pub(crate) async fn start(
        &self,
        req: &Request,
    ) -> Result<http::Response<hyper::body::Incoming>, HttpError> {
        let uri = parse_uri(&req.url)?;
        let body = req.body.open().map_err(|source| HttpError::Io {
            path: std::path::PathBuf::from("<request body>"),
            source,
        })?;
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(uri.clone());
        let headers = builder.headers_mut().expect("fresh builder");
        headers.extend(req.headers.clone());
        if !headers.contains_key(USER_AGENT) {
            if let Ok(ua) = HeaderValue::from_str(&self.config.user_agent) {
                headers.insert(USER_AGENT, ua);
            }
        }
        if let Some(mut auth) = self.connector.forward_auth(&uri) {
            auth.set_sensitive(true);
            headers.insert(http::header::PROXY_AUTHORIZATION, auth);
        }
        let request = builder.body(body).map_err(|e| HttpError::BadUrl {
            url: display_url(&req.url),
            message: e.to_string(),
        })?;
        let answer = self.client.request(request);
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
        answered.map_err(|e| {
            classify_client_error(&req.url, &e, self.config.connect_timeout, e.is_connect())
        })
    }

    /// Send `req`, following redirects for `GET`/`HEAD` (the `Authorization`
    /// header is dropped when a redirect leaves the host), retrying 5xx
    /// answers, rate limits and dropped connections as the policy says.
    /// Any final answer is returned, error statuses included: see
    /// [`Response::error_for_status`].
    pub async fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            let last = attempt + 1 >= policy.attempts;
            match self.send_following(req).await {
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

    async fn send_following(&self, req: &Request) -> Result<Response, HttpError> {
        let follow = req.method == Method::GET || req.method == Method::HEAD;
        let mut current = req.clone();
        for _ in 0..10 {
            let resp = self.send_once(&current).await?;
            if !follow || !resp.status.is_redirection() {
                return Ok(resp);
            }
            let Some(next) = redirect_target(&current.url, &resp.headers) else {
                return Ok(resp);
            };
            if host_of(&next) != host_of(&current.url) {
                current.headers.remove(AUTHORIZATION);
            }
            current.url = next;
        }
        Err(HttpError::BadUrl {
            url: display_url(&req.url),
            message: "more than 10 redirects".into(),
        })
    }
}

/// The absolute URL a redirect answer points to.
pub(crate) fn redirect_target(from: &str, headers: &HeaderMap) -> Option<String> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let base = url::Url::parse(from).ok()?;
    base.join(location).ok().map(|u| u.to_string())
}

pub(crate) fn host_of(url: &str) -> Option<(String, Option<u16>)> {
    let u = url::Url::parse(url).ok()?;
    Some((u.host_str()?.to_string(), u.port_or_known_default()))
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

    #[test]
    fn redirects_resolve_relative_locations() {
        let mut h = HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_static("/b/c?d=1"));
        assert_eq!(
            redirect_target("https://h.example/a/x", &h).as_deref(),
            Some("https://h.example/b/c?d=1")
        );
    }
}
