//! Test servers on 127.0.0.1, each on a thread of its own with its own tokio
//! runtime (so synchronous callers such as `HttpNetwork::fetch` work too):
//! a hyper HTTP/1 server (optionally TLS with a certificate from a generated
//! CA), and a forwarding/`CONNECT` proxy that records what it was asked.
#![allow(dead_code)]

pub mod fake_github;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The body type of test answers.
pub type Body = BoxBody<Bytes, std::io::Error>;
/// What a test server's handler returns: an answer, or an error that makes
/// hyper drop the connection.
pub type Answer = Result<hyper::Response<Body>, std::io::Error>;
/// A request handler.
pub type Handler = Arc<
    dyn Fn(hyper::Request<Incoming>) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync,
>;

/// A complete answer with this status and body.
pub fn answer(status: u16, body: impl Into<Bytes>) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .body(
            Full::new(body.into())
                .map_err(|e: Infallible| match e {})
                .boxed(),
        )
        .unwrap()
}

/// Run `f` on a fresh thread with its own runtime, forever.
fn background<F>(make: impl FnOnce() -> F + Send + 'static)
where
    F: Future<Output = ()> + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(make());
    });
}

fn bind() -> (std::net::TcpListener, SocketAddr) {
    bind_on("127.0.0.1")
}

fn bind_on(ip: &str) -> (std::net::TcpListener, SocketAddr) {
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// Serve `handler` over HTTP/1 (TLS with `tls` when given) on a free port.
pub fn serve(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    serve_on("127.0.0.1", handler, tls)
}

/// [`serve`] on another loopback address (`127.0.0.2`: another host).
pub fn serve_on(ip: &str, handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let (std_listener, addr) = bind_on(ip);
    background(move || async move {
        let listener = TcpListener::from_std(std_listener).unwrap();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handler(req));
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    addr
}

/// A server that accepts connections and never says a word.
pub fn silent_server() -> SocketAddr {
    let (std_listener, addr) = bind();
    background(move || async move {
        let listener = TcpListener::from_std(std_listener).unwrap();
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    addr
}

/// A CA and a server certificate for 127.0.0.1 and `localhost` signed by it.
pub struct TestPki {
    /// The CA certificate, PEM (what SSL_CERT_FILE points to).
    pub ca_pem: String,
    /// The TLS acceptor presenting the server certificate.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// Generate a [`TestPki`].
pub fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wheelwright test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    TestPki {
        ca_pem: ca.pem(),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    }
}

/// What the proxy was asked: the request line and the `Proxy-Authorization`
/// header of each request it saw.
pub type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// An HTTP proxy: `CONNECT host:port` opens a tunnel; an absolute-form
/// request is forwarded to its origin as it came. Every request is logged.
pub fn proxy() -> (SocketAddr, ProxyLog) {
    let (std_listener, addr) = bind();
    let log: ProxyLog = Arc::default();
    let log2 = log.clone();
    background(move || async move {
        let listener = TcpListener::from_std(std_listener).unwrap();
        while let Ok((client, _)) = listener.accept().await {
            let log = log2.clone();
            tokio::spawn(async move {
                let _ = proxy_one(client, log).await;
            });
        }
    });
    (addr, log)
}

async fn proxy_one(mut client: TcpStream, log: ProxyLog) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let line = text.lines().next().unwrap_or("").to_string();
    let auth = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("proxy-authorization:"))
        .map(|l| l.split_once(':').unwrap().1.trim().to_string());
    log.lock().unwrap().push((line.clone(), auth));
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("");
    let target = words.next().unwrap_or("");
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    } else {
        let authority = target
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        let mut upstream = TcpStream::connect(authority).await?;
        upstream.write_all(&head).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    }
    Ok(())
}

/// Write `text` to `dir/name` and give the path.
pub fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
