//! The HTTP client against local servers: downloads (hash, size, exclusive
//! file, 404, retries after a 502 and after a connection dropped mid-body,
//! timeouts), a real forwarding/`CONNECT` proxy chosen by HTTPS_PROXY /
//! HTTP_PROXY / NO_PROXY, and TLS with a CA trusted only via SSL_CERT_FILE.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use support::{answer, Answer, Handler};
use wheelwright_job::net::{Fetch, FetchOptions, NetError};
use wheelwright_job::prebuilt::{PrebuiltOptions, MAX_WHEEL_BYTES};
use wheelwright_publish::http::{
    HttpClient, HttpConfig, HttpError, Multipart, Request, RetryPolicy,
};
use wheelwright_publish::HttpNetwork;

fn hex_sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_rate_limit_wait: Duration::from_secs(5),
    }
}

fn config(vars: &[(&str, &str)]) -> HttpConfig {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut c = HttpConfig::from_lookup(|k| map.get(k).cloned());
    c.retry = quick_retries();
    c
}

fn network(vars: &[(&str, &str)]) -> HttpNetwork {
    HttpNetwork::with_client(HttpClient::new(config(vars)).unwrap())
}

const WHEEL: &[u8] = b"not really a wheel, but bytes with a known sha256\n";

/// Serves WHEEL at /w.whl, 404 elsewhere; `/flaky.whl` answers 502 first;
/// `/drop.whl` drops the connection mid-body first; `/moved` redirects.
fn file_server(hits: Arc<AtomicUsize>) -> Handler {
    Arc::new(move |req| {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let a: Answer = match path.as_str() {
                "/w.whl" => Ok(answer(200, WHEEL)),
                "/moved" => {
                    let mut a = answer(302, "");
                    a.headers_mut()
                        .insert("location", "/w.whl".parse().unwrap());
                    Ok(a)
                }
                "/flaky.whl" if n == 0 => Ok(answer(502, "bad gateway")),
                "/flaky.whl" => Ok(answer(200, WHEEL)),
                "/drop.whl" if n == 0 => {
                    // Promise the whole file, send half, then fail: hyper cuts the connection.
                    let half = Bytes::from_static(&WHEEL[..WHEEL.len() / 2]);
                    let stream = half_then_error(half);
                    let mut a = hyper::Response::new(stream);
                    a.headers_mut()
                        .insert("content-length", WHEEL.len().to_string().parse().unwrap());
                    Ok(a)
                }
                "/drop.whl" => Ok(answer(200, WHEEL)),
                _ => Ok(answer(404, "Not Found")),
            };
            a
        })
    })
}

/// A body that yields `first` and then an error.
fn half_then_error(first: Bytes) -> support::Body {
    HalfThenError(Some(first)).boxed()
}

struct HalfThenError(Option<Bytes>);

impl http_body::Body for HalfThenError {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(Some(match self.get_mut().0.take() {
            Some(b) => Ok(hyper::body::Frame::data(b)),
            None => Err(std::io::Error::other("server went away")),
        }))
    }
}

#[test]
fn fetch_streams_into_a_new_file_with_sha256_and_size() {
    let addr = support::serve(file_server(Arc::default()), None);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("w.whl");
    let net = network(&[]);
    let got = net
        .fetch(
            &format!("http://{addr}/w.whl"),
            &dest,
            &FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(got.size, WHEEL.len() as u64);
    assert_eq!(got.sha256, hex_sha256(WHEEL));
    assert_eq!(std::fs::read(&dest).unwrap(), WHEEL);

    // A redirect is followed.
    let dest2 = dir.path().join("moved.whl");
    let got = net
        .fetch(
            &format!("http://{addr}/moved"),
            &dest2,
            &FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(got.sha256, hex_sha256(WHEEL));
}

#[test]
fn fetch_refuses_an_existing_file_and_a_symlink_and_leaves_them_alone() {
    let addr = support::serve(file_server(Arc::default()), None);
    let dir = tempfile::tempdir().unwrap();
    let existing = support::write(dir.path(), "existing.whl", "mine");
    let target = support::write(dir.path(), "target", "precious");
    let link = dir.path().join("link.whl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let net = network(&[]);
    let url = format!("http://{addr}/w.whl");
    for dest in [&existing, &link] {
        let e = net.fetch(&url, dest, &FetchOptions::default()).unwrap_err();
        assert!(matches!(e, NetError::Io { .. }), "{e}");
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn not_found_is_not_found_and_leaves_no_file() {
    let addr = support::serve(file_server(Arc::default()), None);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.whl");
    let e = network(&[])
        .fetch(
            &format!("http://{addr}/missing.whl"),
            &dest,
            &FetchOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(e, NetError::NotFound { .. }), "{e}");
    assert!(!dest.exists());
}

#[test]
fn a_502_and_a_connection_dropped_mid_body_are_retried_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["flaky.whl", "drop.whl"] {
        let hits = Arc::new(AtomicUsize::new(0));
        let addr = support::serve(file_server(hits.clone()), None);
        let dest = dir.path().join(name);
        let got = network(&[])
            .fetch(
                &format!("http://{addr}/{name}"),
                &dest,
                &FetchOptions::default(),
            )
            .unwrap();
        assert_eq!(got.sha256, hex_sha256(WHEEL), "{name}");
        assert_eq!(std::fs::read(&dest).unwrap(), WHEEL, "{name}");
        assert_eq!(hits.load(Ordering::SeqCst), 2, "{name}: one retry");
    }
}

#[test]
fn a_silent_server_is_a_timeout_not_a_hang() {
    let addr = support::silent_server();
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        connect_timeout: Duration::from_millis(500),
        total_timeout: Duration::from_millis(800),
        answer_timeout: None,
        ..FetchOptions::default()
    };
    let net = network(&[]);
    let start = Instant::now();
    // Plain HTTP: connected, then no answer → the total timeout.
    let e = net
        .fetch(
            &format!("http://{addr}/w.whl"),
            &dir.path().join("a"),
            &opts,
        )
        .unwrap_err();
    assert!(matches!(e, NetError::Timeout { .. }), "{e}");
    // HTTPS: the TLS handshake never completes → the connect timeout.
    let e = net
        .fetch(
            &format!("https://{addr}/w.whl"),
            &dir.path().join("b"),
            &opts,
        )
        .unwrap_err();
    assert!(matches!(e, NetError::Timeout { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(!dir.path().join("a").exists() && !dir.path().join("b").exists());
}

/// The answer timeout bounds the wait for a silent server's answer, while
/// the total timeout stays long enough for a big download.
#[test]
fn the_answer_timeout_ends_a_silent_lookup_long_before_the_total_timeout() {
    let addr = support::silent_server();
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(600),
        answer_timeout: Some(Duration::from_millis(700)),
        ..FetchOptions::default()
    };
    let start = Instant::now();
    let e = network(&[])
        .fetch(
            &format!("http://{addr}/w.whl"),
            &dir.path().join("a"),
            &opts,
        )
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(e, NetError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("timed out after 1 s"), "{e}");
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(!dir.path().join("a").exists());
}

#[test]
fn tls_trusts_a_private_ca_only_through_ssl_cert_file() {
    let pki = support::test_pki();
    let addr = support::serve(file_server(Arc::default()), Some(pki.acceptor.clone()));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://{addr}/w.whl");

    let e = network(&[])
        .fetch(
            &url,
            &dir.path().join("untrusted"),
            &FetchOptions::default(),
        )
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, NetError::Connect { .. }), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");

    let ca = support::write(dir.path(), "ca.pem", &pki.ca_pem);
    let net = network(&[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let got = net
        .fetch(&url, &dir.path().join("trusted"), &FetchOptions::default())
        .unwrap();
    assert_eq!(got.sha256, hex_sha256(WHEEL));

    // A CA file that does not exist is a setup error that names it.
    let e = HttpClient::new(config(&[("SSL_CERT_FILE", "/nonexistent/ca.pem")])).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    // Through the Network, the same error comes with the request that needed it.
    let net = HttpNetwork::from_config(config(&[("SSL_CERT_FILE", "/nonexistent/ca.pem")]));
    let e = net
        .fetch(&url, &dir.path().join("never"), &FetchOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}

#[test]
fn https_goes_through_the_proxy_as_a_connect_tunnel_with_credentials() {
    let pki = support::test_pki();
    let addr = support::serve(file_server(Arc::default()), Some(pki.acceptor.clone()));
    let (proxy, log) = support::proxy();
    let dir = tempfile::tempdir().unwrap();
    let ca = support::write(dir.path(), "ca.pem", &pki.ca_pem);
    let net = network(&[
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("HTTPS_PROXY", &format!("http://user:s3cret@{proxy}")),
    ]);
    let got = net
        .fetch(
            &format!("https://{addr}/w.whl"),
            &dir.path().join("w.whl"),
            &FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(got.sha256, hex_sha256(WHEEL));
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].0, format!("CONNECT {addr} HTTP/1.1"));
    // "user:s3cret" in base64.
    assert_eq!(log[0].1.as_deref(), Some("Basic dXNlcjpzM2NyZXQ="));
}

#[test]
fn http_is_forwarded_by_the_proxy_and_no_proxy_bypasses_it() {
    let addr = support::serve(file_server(Arc::default()), None);
    let (proxy, log) = support::proxy();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/w.whl");
    let proxy_url = format!("http://u:p@{proxy}");

    let net = network(&[("HTTP_PROXY", &proxy_url)]);
    let got = net
        .fetch(&url, &dir.path().join("a"), &FetchOptions::default())
        .unwrap();
    assert_eq!(got.sha256, hex_sha256(WHEEL));
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].0, format!("GET {url} HTTP/1.1"));
        assert_eq!(log[0].1.as_deref(), Some("Basic dTpw"));
    }

    // Lower-case names work too; NO_PROXY naming the host goes direct.
    let net = network(&[("http_proxy", &proxy_url), ("no_proxy", "127.0.0.1")]);
    net.fetch(&url, &dir.path().join("b"), &FetchOptions::default())
        .unwrap();
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "NO_PROXY host went through the proxy"
    );

    // Under CGI, HTTP_PROXY may come from a request header: ignored.
    let net = network(&[("HTTP_PROXY", &proxy_url), ("REQUEST_METHOD", "GET")]);
    net.fetch(&url, &dir.path().join("c"), &FetchOptions::default())
        .unwrap();
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "HTTP_PROXY honoured under CGI"
    );
}

#[test]
fn a_dead_proxy_fails_fast_with_the_proxy_credentials_hidden() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let net = network(&[(
        "HTTPS_PROXY",
        &format!("http://user:s3cret@127.0.0.1:{port}"),
    )]);
    let e = net
        .fetch(
            "https://example.invalid/w.whl",
            &dir.path().join("x"),
            &FetchOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(e, NetError::Connect { .. }), "{e}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

/// Content-Type, Authorization and body of a request the server saw.
type Seen = (String, String, Vec<u8>);

#[tokio::test]
async fn multipart_post_with_basic_auth_arrives_as_sent() {
    let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    let handler: Handler = Arc::new(move |req| {
        let seen = seen2.clone();
        Box::pin(async move {
            let ct = req.headers()["content-type"].to_str().unwrap().to_string();
            let auth = req.headers()["authorization"].to_str().unwrap().to_string();
            let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
            seen.lock().unwrap().push((ct, auth, body));
            Ok(answer(200, "OK"))
        })
    });
    let addr = support::serve(handler, None);
    let dir = tempfile::tempdir().unwrap();
    let file = support::write(dir.path(), "p-1.0-py3-none-any.whl", "WHEELBYTES");
    let form = Multipart::new()
        .text(":action", "file_upload")
        .text("name", "p")
        .file("content", "p-1.0-py3-none-any.whl", &file);
    let client = HttpClient::new(config(&[])).unwrap();
    let resp = client
        .send(
            &Request::post(format!("http://{addr}/legacy/"))
                .multipart(form)
                .basic_auth("__token__", "pypi-abc"),
        )
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(resp.body, "OK");
    let (ct, auth, body) = seen.lock().unwrap()[0].clone();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{ct}"));
    assert_eq!(auth, "Basic X190b2tlbl9fOnB5cGktYWJj");
    let expected = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\np\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"p-1.0-py3-none-any.whl\"\r\n\
         Content-Type: application/octet-stream\r\n\r\nWHEELBYTES\r\n--{b}--\r\n",
        b = boundary
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);
}

#[tokio::test]
async fn rate_limit_reset_too_far_away_is_an_error_that_says_when() {
    let handler: Handler = Arc::new(|_req| {
        Box::pin(async move {
            let mut a = answer(403, r#"{"message":"API rate limit exceeded"}"#);
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 3600;
            a.headers_mut()
                .insert("x-ratelimit-remaining", "0".parse().unwrap());
            a.headers_mut()
                .insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
            Ok(a)
        })
    });
    let addr = support::serve(handler, None);
    let client = HttpClient::new(config(&[])).unwrap();
    let e = client
        .send(&Request::get(format!("http://{addr}/x")))
        .await
        .unwrap_err();
    assert!(
        matches!(e, HttpError::RateLimited { wait_seconds, .. } if wait_seconds > 3000),
        "{e}"
    );
}

/// Run `f` on a thread of its own and give its result, failing the test
/// when it is still running after `limit` (the thread is left behind).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("still running after {limit:?}"))
}

/// A body of `chunk` at once, then one every `every`, `left` times in all
/// (`usize::MAX`: forever).
struct Trickle {
    every: Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    chunk: Bytes,
    left: usize,
}

impl Trickle {
    fn new(every: Duration, chunk: impl Into<Bytes>, left: usize) -> Self {
        Trickle {
            every,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            chunk: chunk.into(),
            left,
        }
    }
}

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(std::future::Future::poll(this.sleep.as_mut(), cx));
        let next = tokio::time::Instant::now() + this.every;
        this.sleep.as_mut().reset(next);
        this.left -= 1;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(this.chunk.clone()))))
    }
}

/// Serves a [`Trickle`] made by `body` at every path, announcing
/// `content_length` when given (else the body is chunked), counting requests.
fn trickle_server(
    body: fn() -> Trickle,
    content_length: Option<u64>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let handler: Handler = Arc::new(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let mut a = hyper::Response::new(body().boxed());
            if let Some(len) = content_length {
                a.headers_mut()
                    .insert("content-length", len.to_string().parse().unwrap());
            }
            Ok(a)
        })
    });
    (support::serve(handler, None), hits)
}

/// The prebuilt download's options with an idle window of `idle`.
fn prebuilt_fetch(idle: Duration) -> FetchOptions {
    let mut opts = PrebuiltOptions::default().fetch;
    opts.idle_timeout = Some(idle);
    opts
}

/// A prebuilt download whose server sends one byte every 2 s (so a read
/// never waits long) is given up after one idle window (1 s here, 30 s in
/// use), not at the 600 s total timeout, asked once and leaving no file.
#[test]
fn a_prebuilt_download_trickling_a_byte_every_2_s_is_given_up_after_the_idle_window() {
    let (addr, hits) = trickle_server(
        || Trickle::new(Duration::from_secs(2), &b"x"[..], usize::MAX),
        Some(250_000_000),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("slow.whl");
    let opts = prebuilt_fetch(Duration::from_secs(1));
    assert_eq!(opts.total_timeout, Duration::from_secs(600));
    let url = format!("http://{addr}/slow.whl");
    let start = Instant::now();
    let d = dest.clone();
    let e = within(Duration::from_secs(20), move || {
        network(&[]).fetch(&url, &d, &opts)
    })
    .unwrap_err();
    let elapsed = start.elapsed();
    let text = e.to_string();
    assert!(
        text.contains("stalled: 1 bytes in 1 s (a download must bring at least 16 KiB every 1 s)"),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a stalled server is not asked again"
    );
    assert!(!dest.exists());
}

/// A trickle faster than any read timeout would notice (a byte every
/// 100 ms) still brings less than 16 KiB in a window and is given up.
#[test]
fn a_trickle_of_a_byte_every_100_ms_is_given_up_too() {
    let (addr, _) = trickle_server(
        || Trickle::new(Duration::from_millis(100), &b"x"[..], usize::MAX),
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("slow.whl");
    let opts = prebuilt_fetch(Duration::from_secs(1));
    let url = format!("http://{addr}/slow.whl");
    let d = dest.clone();
    let e = within(Duration::from_secs(20), move || {
        network(&[]).fetch(&url, &d, &opts)
    })
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("stalled: "), "{text}");
    assert!(!dest.exists());
}

/// A body that brings more than 16 KiB in every window is not stalled,
/// however long it takes in all (here 3 s, three windows of 1 s).
#[test]
fn a_slow_but_steady_download_is_not_stalled() {
    let (addr, _) = trickle_server(
        || Trickle::new(Duration::from_millis(300), vec![7u8; 32 * 1024], 10),
        Some(10 * 32 * 1024),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("steady.whl");
    let opts = prebuilt_fetch(Duration::from_secs(1));
    let url = format!("http://{addr}/steady.whl");
    let d = dest.clone();
    let got = within(Duration::from_secs(20), move || {
        network(&[]).fetch(&url, &d, &opts)
    })
    .unwrap();
    assert_eq!(got.size, 10 * 32 * 1024);
    assert_eq!(got.sha256, hex_sha256(&vec![7u8; 10 * 32 * 1024]));
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), got.size);
}

/// A prebuilt download that announces more bytes than a wheel of the
/// project can be (4 GiB, past the 2 GiB cap) is refused from its
/// `Content-Length`: asked once, nothing kept, the cap named.
#[test]
fn a_prebuilt_download_announcing_more_than_a_wheel_can_be_is_refused() {
    // 64 KiB sent, then nothing for an hour.
    let (addr, hits) = trickle_server(
        || Trickle::new(Duration::from_secs(3600), vec![0u8; 64 * 1024], usize::MAX),
        Some(4 << 30),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big.whl");
    let opts = PrebuiltOptions::default().fetch;
    let url = format!("http://{addr}/big.whl");
    let d = dest.clone();
    let e = within(Duration::from_secs(20), move || {
        network(&[]).fetch(&url, &d, &opts)
    })
    .unwrap_err();
    let text = e.to_string();
    assert_eq!(MAX_WHEEL_BYTES, 2 << 30);
    assert!(
        text.contains(
            "the answer is 4294967296 bytes, more than the 2147483648 bytes (2.0 GiB) allowed"
        ),
        "{text}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a refused size is not asked again"
    );
    assert!(!dest.exists());
}

/// A body that announces no size is counted as it comes and refused as
/// soon as it passes the cap (1 MiB here), nothing kept.
#[test]
fn a_chunked_body_past_the_cap_is_refused_as_it_comes() {
    let (addr, hits) = trickle_server(
        || Trickle::new(Duration::ZERO, vec![1u8; 64 * 1024], usize::MAX),
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("endless.whl");
    let mut opts = PrebuiltOptions::default().fetch;
    opts.max_bytes = Some(1 << 20);
    let url = format!("http://{addr}/endless.whl");
    let d = dest.clone();
    let e = within(Duration::from_secs(20), move || {
        network(&[]).fetch(&url, &d, &opts)
    })
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("the answer is at least ")
            && text.contains("bytes, more than the 1048576 bytes (1 MiB) allowed"),
        "{text}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(!dest.exists());
}
