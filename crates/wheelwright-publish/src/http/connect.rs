//! The connector under every request we make: TCP (direct, or through an
//! HTTP proxy: `CONNECT` tunnels for `https://`, absolute-form forwarding for
//! `http://`), then TLS with rustls (ring) over the system's CA store plus
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`. Connecting is bounded by a timeout, so an
//! unreachable host costs seconds, never a hang.
//!
//! It is a `tower` service from `Uri` to a connection, the shape hyper-util's
//! pooled client takes; octocrab runs over the same client, so the GitHub API,
//! uploads and plain downloads share one HTTP and one TLS stack.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connecting (TCP, proxy tunnel and TLS handshake together) took longer than
/// allowed. Found in the source chain of a client error.
#[derive(Debug)]
pub(crate) struct ConnectTimeout;

impl std::fmt::Display for ConnectTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect timed out")
    }
}

impl std::error::Error for ConnectTimeout {}

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaSources {
    /// A PEM bundle added to the system's store (`SSL_CERT_FILE`).
    pub cert_file: Option<PathBuf>,
    /// Directories of PEM files added to the system's store (`SSL_CERT_DIR`).
    pub cert_dirs: Vec<PathBuf>,
}

/// Build the rustls root store: the system's certificates (the bundle and
/// directories OpenSSL would use) plus the configured extra sources. An extra
/// source that cannot be read is an error (a corporate CA silently missing
/// would give a confusing certificate failure later).
pub(crate) fn root_store(extra: &CaSources) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    // rustls-native-certs reads SSL_CERT_FILE itself and then skips the system
    // store; we want both, so the system store is loaded from the probed paths.
    let system = if extra.cert_file.is_some() || !extra.cert_dirs.is_empty() {
        let mut all = rustls_native_certs::CertificateResult::default();
        for bundle in SYSTEM_BUNDLES.iter().map(Path::new).filter(|p| p.exists()) {
            all.certs
                .extend(rustls_native_certs::load_certs_from_paths(Some(bundle), None).certs);
        }
        for dir in openssl_probe::candidate_cert_dirs() {
            all.certs
                .extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
        }
        all
    } else {
        rustls_native_certs::load_native_certs()
    };
    roots.add_parsable_certificates(system.certs);
    if let Some(file) = &extra.cert_file {
        let loaded = rustls_native_certs::load_certs_from_paths(Some(file), None);
        if let Some(e) = loaded.errors.first() {
            return Err(format!("cannot read CA file {}: {e}", file.display()));
        }
        if loaded.certs.is_empty() {
            return Err(format!(
                "CA file {} holds no PEM certificate",
                file.display()
            ));
        }
        roots.add_parsable_certificates(loaded.certs);
    }
    for dir in &extra.cert_dirs {
        let loaded = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        if let Some(e) = loaded.errors.first() {
            return Err(format!("cannot read CA directory {}: {e}", dir.display()));
        }
        roots.add_parsable_certificates(loaded.certs);
    }
    if roots.is_empty() {
        return Err("no CA certificates found (system store empty, no SSL_CERT_FILE)".into());
    }
    Ok(roots)
}

/// The bundle files of the common distributions (what OpenSSL's probe looks for).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Connects to a `Uri` as configured: see the module docs.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    tcp: HttpConnector,
    proxies: Arc<Matcher>,
    tls: TlsConnector,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ProxyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConnector")
            .field("proxies", &self.proxies)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl ProxyConnector {
    pub(crate) fn new(
        proxies: Matcher,
        roots: rustls::RootCertStore,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        Ok(ProxyConnector {
            tcp,
            proxies: Arc::new(proxies),
            tls: TlsConnector::from(Arc::new(tls)),
            connect_timeout,
        })
    }

    pub(crate) fn set_connect_timeout(&mut self, limit: Duration) {
        self.connect_timeout = limit;
        self.tcp.set_connect_timeout(Some(limit));
    }

    /// The `Proxy-Authorization` header a forwarded (plain `http://`) request
    /// to `uri` needs, if it goes through a proxy with credentials.
    pub(crate) fn forward_auth(&self, uri: &http::Uri) -> Option<http::HeaderValue> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        self.proxies
            .intercept(uri)
            .and_then(|i| i.basic_auth().cloned())
    }
}

async fn connect(
    mut tcp: HttpConnector,
    proxies: Arc<Matcher>,
    tls: TlsConnector,
    dst: http::Uri,
) -> Result<Conn, BoxError> {
    let https = dst.scheme_str() == Some("https");
    let proxy = proxies.intercept(&dst);
    let (stream, proxied) = match (proxy, https) {
        (Some(proxy), true) => {
            let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            let io = tunnel.call(dst.clone()).await?;
            (io.into_inner(), false)
        }
        (Some(proxy), false) => {
            if proxy.uri().scheme_str() == Some("https") {
                return Err(
                    "proxies reached over TLS (https:// proxy URLs) are not supported".into(),
                );
            }
            (tcp.call(proxy.uri().clone()).await?.into_inner(), true)
        }
        (None, _) => (tcp.call(dst.clone()).await?.into_inner(), false),
    };
    let stream = if https {
        let host = dst.host().ok_or("URL without a host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())?;
        Stream::Tls(Box::new(tls.connect(name, stream).await?))
    } else {
        Stream::Plain(stream)
    };
    Ok(Conn {
        io: TokioIo::new(stream),
        proxied,
    })
}

impl Service<http::Uri> for ProxyConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let (tcp, proxies, tls) = (self.tcp.clone(), self.proxies.clone(), self.tls.clone());
        let limit = self.connect_timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, connect(tcp, proxies, tls, dst)).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimeout) as BoxError),
            }
        })
    }
}

/// A TCP stream, with TLS on it or not.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One connection as hyper sees it; `proxied` makes hyper send plain `http://`
/// requests in absolute form, as a forwarding proxy needs.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TokioIo<Stream>,
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new().proxy(self.proxied)
    }
}

impl Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
