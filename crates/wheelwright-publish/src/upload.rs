//! Upload to a PyPI-compatible index (pypiserver, devpi, a company mirror)
//! through the legacy upload API that twine speaks: one multipart `POST` per
//! wheel with `:action=file_upload`, `protocol_version=1`, the core metadata
//! fields, `filetype=bdist_wheel`, `pyversion`, `sha256_digest` and the file
//! in `content`, with HTTP basic auth from the environment.
//!
//! "Already exists" comes back as 409, or as 400/403 with a message saying
//! so: the index's simple page is then read, and the file is skipped when
//! its `#sha256=` is ours, and failed otherwise (an index never replaces a
//! file). The request goes through [`crate::http::HttpClient`]: proxies, the
//! system's CAs, timeouts, retries with backoff.

use std::time::Duration;

use wheelwright_base::env_vars;
use wheelwright_job::publish::{PublishStatus, UploadTarget};

use crate::http::{display_url, HttpClient, Multipart, Request};
use crate::index::html::encode_segment;
use crate::wheel_file::WheelFile;

/// The user name twine sends with an API token.
const TOKEN_USER: &str = "__token__";

/// Default limit of one upload attempt.
pub const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Who uploads: read from the environment, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (`__token__` when only a password/token is set).
    pub username: Option<String>,
    /// The password or API token.
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// The target's variables (default `TWINE_USERNAME`, `TWINE_PASSWORD`),
    /// read through `var`; empty values count as unset.
    pub fn from_lookup(target: &UploadTarget, var: impl Fn(&str) -> Option<String>) -> Credentials {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        let user_var = target
            .username_env
            .as_deref()
            .unwrap_or(env_vars::TWINE_USERNAME);
        let password_var = target
            .password_env
            .as_deref()
            .unwrap_or(env_vars::TWINE_PASSWORD);
        let password = get(password_var);
        let username = get(user_var).or_else(|| password.as_ref().map(|_| TOKEN_USER.to_string()));
        Credentials { username, password }
    }
}

/// What one upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    /// Uploaded, skipped (the index has these bytes), or failed.
    pub status: PublishStatus,
    /// The index page that lists the file, when known.
    pub url: Option<String>,
    /// Why it was skipped or failed.
    pub message: Option<String>,
}

/// Upload `wheel` to the index at `url`.
pub async fn upload_wheel(
    client: &HttpClient,
    url: &str,
    creds: &Credentials,
    wheel: &WheelFile,
) -> UploadOutcome {
    let m = &wheel.metadata;
    let mut form = Multipart::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("metadata_version", &m.metadata_version)
        .text("name", &m.name)
        .text("version", &m.version)
        .text("filetype", "bdist_wheel")
        .text("pyversion", &wheel.name.python_tag)
        .text("sha256_digest", &wheel.sha256);
    if let Some(rp) = &m.requires_python {
        form = form.text("requires_python", rp);
    }
    let form = form.file("content", &wheel.file_name, &wheel.path);
    let mut req = Request::post(url).multipart(form);
    if let (Some(user), Some(password)) = (&creds.username, &creds.password) {
        req = req.basic_auth(user, password);
    }
    let failed = |message: String| UploadOutcome {
        status: PublishStatus::Failed,
        url: None,
        message: Some(message),
    };
    let resp = match client.send(&req).await {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let status = resp.status.as_u16();
    let body = String::from_utf8_lossy(&resp.body).to_lowercase();
    if resp.status.is_success() {
        let page = find_on_index(client, url, wheel)
            .await
            .map(|(page, _)| page);
        return UploadOutcome {
            status: PublishStatus::Uploaded,
            url: page,
            message: None,
        };
    }
    let exists = status == 409 || (matches!(status, 400 | 403) && body.contains("exist"));
    if !exists {
        let mut message = resp.to_error().to_string();
        if matches!(status, 401 | 403) {
            message.push_str(&format!(
                " (the index refused the credentials: set {} and {})",
                creds_names().0,
                creds_names().1
            ));
        }
        return failed(message);
    }
    match find_on_index(client, url, wheel).await {
        Some((page, Some(sha))) if sha == wheel.sha256 => UploadOutcome {
            status: PublishStatus::Skipped,
            url: Some(page),
            message: Some("the index already has this file with the same sha256".to_string()),
        },
        Some((page, Some(sha))) => UploadOutcome {
            status: PublishStatus::Failed,
            url: Some(page),
            message: Some(format!(
                "the index already has {} with sha256 {sha}, this file has {}; an index never replaces a file: publish it under another version or local label",
                wheel.file_name, wheel.sha256
            )),
        },
        _ => failed(format!(
            "the index says {} already exists (HTTP {status}), and its simple page could not be read to compare the sha256",
            wheel.file_name
        )),
    }
}

fn creds_names() -> (&'static str, &'static str) {
    (env_vars::TWINE_USERNAME, env_vars::TWINE_PASSWORD)
}

/// The simple page listing `wheel` on the index whose upload URL is
/// `upload_url` (pypiserver: `URL/simple/<project>/`, devpi:
/// `URL/+simple/<project>/`), and the sha256 it gives the file.
async fn find_on_index(
    client: &HttpClient,
    upload_url: &str,
    wheel: &WheelFile,
) -> Option<(String, Option<String>)> {
    let base = upload_url.trim_end_matches('/');
    let project = encode_segment(&wheel.project());
    for simple in ["simple", "+simple"] {
        let page = format!("{base}/{simple}/{project}/");
        let Ok(resp) = client.send(&Request::get(page.as_str())).await else {
            continue;
        };
        if !resp.status.is_success() {
            continue;
        }
        let html = String::from_utf8_lossy(&resp.body);
        if let Some(sha) = listed_sha256(&html, &wheel.file_name) {
            return Some((display_url(&page), sha));
        }
    }
    None
}

/// On a simple page, the link to `file`: `Some(Some(sha256))` from its
/// `#sha256=` fragment, `Some(None)` when listed without one, `None` when
/// not listed.
pub fn listed_sha256(html: &str, file: &str) -> Option<Option<String>> {
    for tag in html.split("<a ").skip(1) {
        let Some(href) = attr(tag, "href") else {
            continue;
        };
        let (path, fragment) = href.split_once('#').unwrap_or((href, ""));
        let last = path.rsplit('/').next().unwrap_or(path);
        let decoded = percent_encoding::percent_decode_str(last).decode_utf8_lossy();
        if decoded != file {
            continue;
        }
        let sha = fragment
            .strip_prefix("sha256=")
            .map(|s| s.to_ascii_lowercase());
        return Some(sha);
    }
    None
}

/// The value of attribute `name` in the start of a tag (`href="..."` or `'...'`).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let end = tag.find('>').unwrap_or(tag.len());
    let tag = &tag[..end];
    let start = tag.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[start..];
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        let rest = &rest[1..];
        rest.find(quote).map(|e| &rest[..e])
    } else {
        rest.split_whitespace().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_twine_variables_or_named_ones() {
        let target = UploadTarget {
            url: "http://x/".into(),
            username_env: None,
            password_env: None,
            timeout_seconds: None,
        };
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Credentials::from_lookup(
            &target,
            env(&[("TWINE_USERNAME", "u"), ("TWINE_PASSWORD", "p")]),
        );
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("u"), Some("p"))
        );
        let c = Credentials::from_lookup(&target, env(&[("TWINE_PASSWORD", "pypi-tok")]));
        assert_eq!(c.username.as_deref(), Some("__token__"));
        assert!(!format!("{c:?}").contains("pypi-tok"));
        let named = UploadTarget {
            password_env: Some("MY_PW".into()),
            ..target
        };
        let c = Credentials::from_lookup(&named, env(&[("MY_PW", "s"), ("TWINE_PASSWORD", "")]));
        assert_eq!(c.password.as_deref(), Some("s"));
        assert_eq!(
            Credentials::from_lookup(&named, env(&[])),
            Credentials::default()
        );
    }

    #[test]
    fn reads_the_sha256_a_simple_page_gives_a_file() {
        // pypiserver 2.x's page shape.
        let html = r#"<html><body><h1>Links for tinyvar</h1>
<a href="../../packages/tinyvar-1.0%2Bcu12-py3-none-any.whl#sha256=ABC123" data-requires-python="&gt;=3.8">tinyvar-1.0+cu12-py3-none-any.whl</a><br>
<a href='../../packages/tinyvar-2.0-py3-none-any.whl'>tinyvar-2.0-py3-none-any.whl</a>
</body></html>"#;
        assert_eq!(
            listed_sha256(html, "tinyvar-1.0+cu12-py3-none-any.whl"),
            Some(Some("abc123".to_string()))
        );
        assert_eq!(
            listed_sha256(html, "tinyvar-2.0-py3-none-any.whl"),
            Some(None)
        );
        assert_eq!(listed_sha256(html, "tinyvar-3.0-py3-none-any.whl"), None);
    }
}
