//! A stateful fake of GitHub's REST API for releases, in the GitHub
//! Enterprise layout: the API under `/api/v3` and uploads under
//! `/api/uploads`, served by an API listener (which also answers
//! `/api/uploads`, as one GHE host does) and a separate upload listener.
//! It keeps releases (drafts too) and assets (with `state` and `digest`),
//! checks the token, decodes the upload's `name` query as GitHub does (a raw
//! `+` is a space, and GitHub stores a space as `.`), and plays faults queued
//! by the test.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{answer, serve, Answer, Handler};

/// The only token the fake accepts.
pub const GOOD_TOKEN: &str = "ghp_good_token_for_tests";

/// A fault played on the next upload POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFault {
    /// Leave a `starter` asset and answer 502.
    BadGateway,
    /// Leave a `starter` asset, read part of the body, drop the connection.
    Drop,
    /// 403 with `x-ratelimit-remaining: 0` and a reset one second ahead.
    RateLimit,
}

/// A fault played on the next API request (not an upload) that matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFault {
    /// 500 with GitHub's JSON error body.
    ServerError,
    /// 429 with `Retry-After: N` seconds.
    TooManyRequests {
        /// The `Retry-After` value in seconds.
        retry_after: u64,
    },
}

/// An asset as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeAsset {
    /// Its id.
    pub id: u64,
    /// Its name, after GitHub's handling.
    pub name: String,
    /// `uploaded`, `starter`.
    pub state: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A release as the fake keeps it.
#[derive(Debug, Clone)]
pub struct FakeRelease {
    /// Its id.
    pub id: u64,
    /// Its tag.
    pub tag: String,
    /// A draft (not found by tag).
    pub draft: bool,
    /// Its assets.
    pub assets: Vec<FakeAsset>,
}

/// Everything the fake knows, and what it was asked.
#[derive(Debug, Default)]
pub struct State {
    /// The releases.
    pub releases: Vec<FakeRelease>,
    next_id: u64,
    /// Faults for the next uploads, in order.
    pub upload_faults: VecDeque<UploadFault>,
    /// Before answering the next release creation, create the release as
    /// another uploader would, and answer 422 `already_exists`.
    pub concurrent_creator: bool,
    /// Assets carry `digest: null` (older GitHub Enterprise).
    pub digest_null: bool,
    /// Faults for API requests: the first whose "METHOD path" is a
    /// request's is played on it (once) instead of the answer.
    pub api_faults: Vec<(String, ApiFault)>,
    /// The root (`http://HOST:PORT`) the assets' API `url` names instead of
    /// the API's own (a hostile or misconfigured API).
    pub asset_url_root: Option<String>,
    /// "METHOD path?query" of every request, in order.
    pub log: Vec<String>,
    /// The `Authorization` header of every request, in order (`None`: absent).
    pub auth_log: Vec<Option<String>>,
    /// The root (`http://HOST:PORT`) the asset API's download redirect
    /// points to instead of the API's own.
    pub download_root: Option<String>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Add a release.
    pub fn add_release(&mut self, tag: &str, draft: bool) -> u64 {
        let id = self.id();
        self.releases.push(FakeRelease {
            id,
            tag: tag.into(),
            draft,
            assets: Vec::new(),
        });
        id
    }

    /// Add an asset to the release tagged `tag`.
    pub fn add_asset(&mut self, tag: &str, name: &str, state: &str, bytes: &[u8]) {
        let id = self.id();
        let r = self.releases.iter_mut().find(|r| r.tag == tag).unwrap();
        r.assets.push(FakeAsset {
            id,
            name: name.into(),
            state: state.into(),
            bytes: bytes.to_vec(),
        });
    }

    /// The assets of release `tag`.
    pub fn assets(&self, tag: &str) -> Vec<FakeAsset> {
        self.releases
            .iter()
            .find(|r| r.tag == tag)
            .map(|r| r.assets.clone())
            .unwrap_or_default()
    }
}

/// A running fake: its addresses and state.
pub struct FakeGithub {
    /// `http://127.0.0.1:PORT/api/v3` (the API listener).
    pub api_base: String,
    /// `http://127.0.0.1:PORT2/api/uploads` (the separate upload listener).
    pub upload_base: String,
    /// The state, shared with the server.
    pub state: Arc<Mutex<State>>,
}

/// Start a fake with an empty state.
pub fn start() -> FakeGithub {
    let state: Arc<Mutex<State>> = Arc::default();
    let api_addr: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let (s1, a1) = (state.clone(), api_addr.clone());
    let api: Handler = Arc::new(move |req| {
        let (s, a) = (s1.clone(), a1.clone());
        Box::pin(async move {
            let root = format!("http://{}", a.lock().unwrap().unwrap());
            handle(req, s, root, true).await
        })
    });
    let addr = serve(api, None);
    *api_addr.lock().unwrap() = Some(addr);
    let (s2, a2) = (state.clone(), api_addr.clone());
    let uploads: Handler = Arc::new(move |req| {
        let (s, a) = (s2.clone(), a2.clone());
        Box::pin(async move {
            let root = format!("http://{}", a.lock().unwrap().unwrap());
            handle(req, s, root, false).await
        })
    });
    let upload_addr = serve(uploads, None);
    FakeGithub {
        api_base: format!("http://{addr}/api/v3"),
        upload_base: format!("http://{upload_addr}/api/uploads"),
        state,
    }
}

fn json_answer(status: u16, v: Value) -> Answer {
    let mut a = answer(status, v.to_string());
    a.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(a)
}

/// How the fake shows things: its root URL, GitHub's `digest` or null, and
/// the root an asset's API `url` names.
struct View {
    root: String,
    digest_null: bool,
    asset_url_root: Option<String>,
}

impl View {
    fn of(state: &State, root: &str) -> View {
        View {
            root: root.to_string(),
            digest_null: state.digest_null,
            asset_url_root: state.asset_url_root.clone(),
        }
    }
}

fn asset_json(view: &View, a: &FakeAsset) -> Value {
    let root = &view.root;
    let digest = if view.digest_null {
        Value::Null
    } else {
        let hex: String = Sha256::digest(&a.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        json!(format!("sha256:{hex}"))
    };
    json!({
        "url": format!("{}/api/v3/repos/o/r/releases/assets/{}", view.asset_url_root.as_deref().unwrap_or(root), a.id),
        "browser_download_url": format!("{root}/download/{}", a.id),
        "id": a.id, "node_id": format!("RA_{}", a.id), "name": a.name, "label": null,
        "state": a.state, "content_type": "application/octet-stream",
        "size": a.bytes.len(), "digest": digest, "download_count": 0,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "uploader": null
    })
}

fn release_json(view: &View, r: &FakeRelease) -> Value {
    let root = &view.root;
    json!({
        "url": format!("{root}/api/v3/repos/o/r/releases/{}", r.id),
        "html_url": format!("{root}/o/r/releases/tag/{}", r.tag),
        "assets_url": format!("{root}/api/v3/repos/o/r/releases/{}/assets", r.id),
        "upload_url": format!("{root}/api/uploads/repos/o/r/releases/{}/assets{{?name,label}}", r.id),
        "tarball_url": null, "zipball_url": null,
        "id": r.id, "node_id": format!("RE_{}", r.id), "tag_name": r.tag,
        "target_commitish": "main", "name": r.tag, "body": null, "draft": r.draft,
        "prerelease": false, "created_at": "2026-01-01T00:00:00Z", "published_at": null,
        "author": null,
        "assets": r.assets.iter().map(|a| asset_json(view, a)).collect::<Vec<_>>()
    })
}

fn already_exists(resource: &str, field: &str) -> Answer {
    json_answer(
        422,
        json!({"message": "Validation Failed",
               "errors": [{"resource": resource, "code": "already_exists", "field": field}],
               "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// The `name` query value as GitHub reads it: form decoding (a raw `+` is a
/// space), then a space stored as `.`.
pub fn github_name(query: &str) -> Option<String> {
    let raw = query.split('&').find_map(|kv| kv.strip_prefix("name="))?;
    let spaced = raw.replace('+', " ");
    let decoded = percent_decode(&spaced);
    Some(decoded.replace(' ', "."))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    req: hyper::Request<Incoming>,
    state: Arc<Mutex<State>>,
    root: String,
    api_listener: bool,
) -> Answer {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let fault = {
        let mut s = state.lock().unwrap();
        s.log.push(format!("{method} {path}?{query}"));
        s.auth_log.push(auth.clone());
        let line = format!("{method} {path}");
        let hit = s.api_faults.iter().position(|(l, _)| *l == line);
        hit.map(|i| s.api_faults.remove(i).1)
    };
    match fault {
        Some(ApiFault::ServerError) => {
            return json_answer(500, json!({"message": "Server Error"}));
        }
        Some(ApiFault::TooManyRequests { retry_after }) => {
            let mut a = json_answer(
                429,
                json!({"message": "You have exceeded a secondary rate limit."}),
            )?;
            a.headers_mut()
                .insert("retry-after", retry_after.to_string().parse().unwrap());
            return Ok(a);
        }
        None => {}
    }
    if let Some(id) = path.strip_prefix("/download/") {
        let s = state.lock().unwrap();
        let asset = s
            .releases
            .iter()
            .flat_map(|r| r.assets.iter())
            .find(|a| a.id.to_string() == id);
        return Ok(match asset {
            Some(a) => answer(200, a.bytes.clone()),
            None => answer(404, "Not Found"),
        });
    }
    if auth.as_deref() != Some(format!("Bearer {GOOD_TOKEN}").as_str()) {
        return json_answer(
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
        );
    }
    if let Some(rest) = path.strip_prefix("/api/uploads/repos/o/r/releases/") {
        let id: u64 = rest.trim_end_matches("/assets").parse().unwrap_or(0);
        return upload(req, state, &root, id, &query).await;
    }
    if !api_listener {
        return Ok(answer(404, "Not Found"));
    }
    let Some(rest) = path.strip_prefix("/api/v3/repos/o/r/releases") else {
        return json_answer(404, json!({"message": "Not Found"}));
    };
    let view = View::of(&state.lock().unwrap(), &root);
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", [""]) => {
            let s = state.lock().unwrap();
            let all: Vec<Value> = s
                .releases
                .iter()
                .rev()
                .map(|r| release_json(&view, r))
                .collect();
            json_answer(200, json!(all))
        }
        ("GET", ["tags", tag]) => {
            let s = state.lock().unwrap();
            match s.releases.iter().find(|r| r.tag == *tag && !r.draft) {
                Some(r) => json_answer(200, release_json(&view, r)),
                None => json_answer(404, json!({"message": "Not Found"})),
            }
        }
        ("POST", [""]) => {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let tag = v["tag_name"].as_str().unwrap_or("").to_string();
            let mut s = state.lock().unwrap();
            if s.concurrent_creator {
                s.concurrent_creator = false;
                s.add_release(&tag, false);
            }
            if s.releases.iter().any(|r| r.tag == tag) {
                return already_exists("Release", "tag_name");
            }
            let draft = v["draft"].as_bool().unwrap_or(false);
            s.add_release(&tag, draft);
            let r = s.releases.last().unwrap();
            json_answer(201, release_json(&view, r))
        }
        ("GET", [id, "assets"]) => {
            let s = state.lock().unwrap();
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            match s.releases.iter().find(|r| r.id.to_string() == *id) {
                Some(r) if page == 1 => json_answer(
                    200,
                    json!(r
                        .assets
                        .iter()
                        .map(|a| asset_json(&view, a))
                        .collect::<Vec<_>>()),
                ),
                Some(_) => json_answer(200, json!([])),
                None => json_answer(404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["assets", id]) => {
            let to = state.lock().unwrap().download_root.clone();
            let to = to.as_deref().unwrap_or(&root);
            let mut a = answer(302, "");
            a.headers_mut()
                .insert("location", format!("{to}/download/{id}").parse().unwrap());
            Ok(a)
        }
        ("DELETE", ["assets", id]) => {
            let mut s = state.lock().unwrap();
            for r in &mut s.releases {
                if let Some(pos) = r.assets.iter().position(|a| a.id.to_string() == *id) {
                    r.assets.remove(pos);
                    return Ok(answer(204, ""));
                }
            }
            json_answer(404, json!({"message": "Not Found"}))
        }
        _ => json_answer(404, json!({"message": "Not Found"})),
    }
}

async fn upload(
    req: hyper::Request<Incoming>,
    state: Arc<Mutex<State>>,
    root: &str,
    release_id: u64,
    query: &str,
) -> Answer {
    let Some(name) = github_name(query) else {
        return json_answer(422, json!({"message": "name is required"}));
    };
    // Uploads state their size (GitHub takes no chunked body).
    if !req.headers().contains_key("content-length") {
        return json_answer(411, json!({"message": "Length Required"}));
    }
    let fault = {
        let mut s = state.lock().unwrap();
        if !s.releases.iter().any(|r| r.id == release_id) {
            return json_answer(404, json!({"message": "Not Found"}));
        }
        let r = s.releases.iter().find(|r| r.id == release_id).unwrap();
        if r.assets.iter().any(|a| a.name == name) {
            return already_exists("ReleaseAsset", "name");
        }
        s.upload_faults.pop_front()
    };
    let leave_starter = |state: &Arc<Mutex<State>>| {
        let mut s = state.lock().unwrap();
        let id = s.id();
        let r = s.releases.iter_mut().find(|r| r.id == release_id).unwrap();
        r.assets.push(FakeAsset {
            id,
            name: name.clone(),
            state: "starter".into(),
            bytes: Vec::new(),
        });
    };
    let mut body = req.into_body();
    match fault {
        Some(UploadFault::RateLimit) => {
            let _ = body.collect().await;
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 1;
            let mut a = answer(403, r#"{"message":"API rate limit exceeded for user."}"#);
            a.headers_mut()
                .insert("x-ratelimit-remaining", "0".parse().unwrap());
            a.headers_mut()
                .insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
            Ok(a)
        }
        Some(UploadFault::BadGateway) => {
            leave_starter(&state);
            let _ = body.collect().await;
            Ok(answer(502, "Bad Gateway"))
        }
        Some(UploadFault::Drop) => {
            leave_starter(&state);
            let _ = body.frame().await;
            Err(std::io::Error::other("connection dropped mid-upload"))
        }
        None => {
            let bytes: Bytes = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return Err(std::io::Error::other(e)),
            };
            let mut s = state.lock().unwrap();
            let view = View::of(&s, root);
            let id = s.id();
            let r = s.releases.iter_mut().find(|r| r.id == release_id).unwrap();
            let asset = FakeAsset {
                id,
                name,
                state: "uploaded".into(),
                bytes: bytes.to_vec(),
            };
            r.assets.push(asset.clone());
            json_answer(201, asset_json(&view, &asset))
        }
    }
}
