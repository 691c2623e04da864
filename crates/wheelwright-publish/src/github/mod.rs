//! Wheels to a GitHub release: octocrab for the REST API (over our own client:
//! proxies, CAs, timeouts, retries with backoff and jitter), our own upload
//! POST (octocrab 0.54's `upload_asset` does not percent-encode the name, so
//! GitHub turns `+` into `.`; it prefixes `/api/v3` to a GitHub Enterprise
//! upload URL; and a retried streamed body goes out empty).
//!
//! - The repository comes from `--repo`/`GITHUB_REPOSITORY`, the token from
//!   `GITHUB_TOKEN` or the variable `--token-env` names (never printed), the
//!   API base from `--api-url`/`GITHUB_API_URL`; the upload base is derived:
//!   `https://api.github.com` → `https://uploads.github.com`,
//!   `https://HOST/api/v3` → `https://HOST/api/uploads` (GitHub Enterprise).
//!   The token goes only to those two hosts: URLs the API's answers name
//!   elsewhere (an asset's `url`, a redirect) are fetched without it.
//! - [`GithubRelease::ensure_release`] finds the release by tag, drafts
//!   included (GitHub's by-tag lookup does not return drafts), or creates it;
//!   a concurrent creator's `422 already_exists` is answered by reading again.
//! - [`GithubRelease::publish_wheels`] (in `upload`) uploads each wheel and
//!   its PEP 658 `.metadata`, exactly once: see there; a PEP 825 variant
//!   wheel also its version's `-variants.json` (in `variants`).

mod names;
mod service;
mod upload;
mod variants;

use http::header::{HeaderName, HeaderValue, ACCEPT, USER_AGENT};
use octocrab::models::repos::{Asset, Release};
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::service::middleware::reqwest_connector::ReqwestConnector;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};
use wheelwright_base::env_vars;
use wheelwright_job::publish::GithubReleaseTarget;

use crate::http::{display_url, HttpClient};

pub use names::github_asset_name;
pub use upload::ReleaseWheel;

/// The bytes of one asset to put.
pub(crate) enum Source<'a> {
    /// A file, streamed anew for each attempt.
    File(&'a std::path::Path),
    /// Bytes in memory.
    Bytes(&'a [u8]),
}

/// The public GitHub API.
pub const GITHUB_API: &str = "https://api.github.com";

/// Why talking to GitHub failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// Configuration missing or malformed (repository, token, URL).
    #[error("{0}")]
    Config(String),
    /// GitHub refused the token (401), or it lacks a permission (403).
    #[error("GitHub refused the token from {token_env}: HTTP {status}: {message}")]
    Auth {
        /// The variable the token came from (the token itself is never shown).
        token_env: String,
        /// 401 or 403.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// GitHub answered with an error.
    #[error("GitHub API: {what}: HTTP {status}: {message}")]
    Api {
        /// What was being done.
        what: String,
        /// The status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// The request did not get an answer (connect, timeout, dropped).
    #[error("GitHub API: {what}: {message}")]
    Transport {
        /// What was being done.
        what: String,
        /// Why.
        message: String,
    },
}

impl GithubError {
    /// Bad configuration or a refused token (exit 2), rather than GitHub or
    /// the network failing (exit 1 for the files, 3 for the run).
    pub fn is_usage(&self) -> bool {
        matches!(self, GithubError::Config(_) | GithubError::Auth { .. })
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            GithubError::Config(_) => "pass --repo OWNER/NAME (or set GITHUB_REPOSITORY), a token in GITHUB_TOKEN (or --token-env NAME), and --api-url https://HOST/api/v3 for GitHub Enterprise".to_string(),
            GithubError::Auth { token_env, .. } => format!("check that {token_env} holds a valid token with write access to the repository's contents (in a workflow: `permissions: contents: write`)"),
            GithubError::Api { status, .. } if *status == 404 => "check the repository name and the tag, and that the token can see the repository".to_string(),
            GithubError::Api { .. } => "run again: assets already uploaded are skipped".to_string(),
            GithubError::Transport { .. } => "check the network path to the API (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE, --api-url), then run again: assets already uploaded are skipped".to_string(),
        }
    }
}

/// Where and as whom to publish.
#[derive(Clone)]
pub struct GithubConfig {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// REST API base, e.g. `https://api.github.com` or `https://HOST/api/v3`.
    pub api_base: String,
    /// Upload base, e.g. `https://uploads.github.com` or `https://HOST/api/uploads`.
    pub upload_base: String,
    /// The token (kept out of `Debug`).
    token: String,
    /// The variable it came from, for messages.
    pub token_env: String,
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("api_base", &self.api_base)
            .field("upload_base", &self.upload_base)
            .field("token_env", &self.token_env)
            .finish_non_exhaustive()
    }
}

/// The upload base that goes with an API base (GitHub.com, GitHub Enterprise
/// Server's `/api/v3`, or any other base: its own host, `/api/uploads`).
pub fn upload_base_for(api_base: &str) -> String {
    let api = api_base.trim_end_matches('/');
    if api.eq_ignore_ascii_case(GITHUB_API) {
        return "https://uploads.github.com".to_string();
    }
    match api.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/uploads"),
        None => format!("{api}/api/uploads"),
    }
}

impl GithubConfig {
    /// Read a target: `repo` or `GITHUB_REPOSITORY`, `api_url` or
    /// `GITHUB_API_URL` or the public API, the token from `token_env` or
    /// `GITHUB_TOKEN`, all through `var` (the process environment in the CLI).
    pub fn from_target(
        target: &GithubReleaseTarget,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, GithubError> {
        let repo = target
            .repo
            .clone()
            .or_else(|| var(env_vars::GITHUB_REPOSITORY))
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| {
                GithubError::Config(
                    "no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY".into(),
                )
            })?;
        let (owner, name) = repo
            .split_once('/')
            .filter(|(o, n)| valid_part(o) && valid_part(n))
            .ok_or_else(|| GithubError::Config(format!("repository {repo:?} is not OWNER/NAME")))?;
        let api_base = target
            .api_url
            .clone()
            .or_else(|| var(env_vars::GITHUB_API_URL))
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| GITHUB_API.to_string());
        let api_base = api_base.trim_end_matches('/').to_string();
        if api_base
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(|_| ()))
            .is_none()
        {
            return Err(GithubError::Config(format!(
                "API URL {} is not an http(s) URL",
                display_url(&api_base)
            )));
        }
        let token_env = target
            .token_env
            .clone()
            .unwrap_or_else(|| env_vars::GITHUB_TOKEN.to_string());
        let token = var(&token_env)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| GithubError::Config(format!("no token: {token_env} is not set")))?;
        Ok(GithubConfig {
            owner: owner.to_string(),
            repo: name.to_string(),
            upload_base: upload_base_for(&api_base),
            api_base,
            token: token.trim().to_string(),
            token_env,
        })
    }
}

impl GithubConfig {
    /// Does `url` go to the configured API or upload host (same scheme,
    /// host and port)? Only those get the token.
    pub fn sends_token_to(&self, url: &str) -> bool {
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
        let Some(target) = origin(url) else {
            return false;
        };
        target.is_tuple()
            && [&self.api_base, &self.upload_base]
                .into_iter()
                .any(|base| origin(base).as_ref() == Some(&target))
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s != "."
        && s != ".."
}

/// One repository's releases, through octocrab and our client.
#[derive(Debug, Clone)]
pub struct GithubRelease {
    pub(crate) octo: Octocrab,
    pub(crate) http: HttpClient,
    pub(crate) config: GithubConfig,
}

impl GithubRelease {
    /// Connect (lazily: nothing is sent yet) with this client and configuration.
    /// Call it inside a tokio runtime (octocrab starts a task there); the
    /// synchronous `HttpNetwork::publish_to_github` and friends do.
    pub fn new(http: &HttpClient, config: GithubConfig) -> Result<Self, GithubError> {
        let bad = |e: String| GithubError::Config(e);
        let api: http::Uri = config
            .api_base
            .parse()
            .map_err(|e| bad(format!("API URL: {e}")))?;
        let upload: http::Uri = config
            .upload_base
            .parse()
            .map_err(|e| bad(format!("upload URL: {e}")))?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.token)).map_err(|_| {
                bad(format!(
                    "the token in {} is not a valid header",
                    config.token_env
                ))
            })?;
        auth.set_sensitive(true);
        let ua = HeaderValue::from_str(&http.config().user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static("wheelwright"));
        let headers = vec![
            (USER_AGENT, ua),
            (
                ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            ),
            (
                HeaderName::from_static("x-github-api-version"),
                HeaderValue::from_static("2022-11-28"),
            ),
        ];
        let service = service::RetryingClient {
            connector: ReqwestConnector::new(http.direct.clone()),
            policy: http.config().retry.clone(),
            answer_timeout: http
                .config()
                .total_timeout
                .min(std::time::Duration::from_secs(120)),
        };
        let octo = OctocrabBuilder::new_empty()
            .with_service(service)
            .with_layer(&BaseUriLayer::new(api.clone()))
            .with_layer(&ExtraHeadersLayer::new(std::sync::Arc::new(headers)))
            .with_layer(&AuthHeaderLayer::new(Some(auth), api, upload))
            .with_auth(AuthState::None)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(GithubRelease {
            octo,
            http: http.clone(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GithubConfig {
        &self.config
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.config.owner, self.config.repo)
    }

    /// Turn an octocrab error into ours, for `what` was being done.
    pub(crate) fn api_error(&self, what: &str, e: octocrab::Error) -> GithubError {
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let mut message = source.message.clone();
                if let Some(errors) = &source.errors {
                    let codes: Vec<String> = errors
                        .iter()
                        .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(String::from))
                        .collect();
                    if !codes.is_empty() {
                        message = format!("{message} ({})", codes.join(", "));
                    }
                }
                if status == 401
                    || (status == 403 && !message.to_lowercase().contains("rate limit"))
                {
                    GithubError::Auth {
                        token_env: self.config.token_env.clone(),
                        status,
                        message,
                    }
                } else {
                    GithubError::Api {
                        what: what.to_string(),
                        status,
                        message,
                    }
                }
            }
            other => {
                let mut message = other.to_string();
                let mut cur = std::error::Error::source(&other);
                while let Some(s) = cur {
                    let t = s.to_string();
                    if !message.contains(&t) {
                        message = format!("{message}: {t}");
                    }
                    cur = s.source();
                }
                GithubError::Transport {
                    what: what.to_string(),
                    message: message.replace(&self.config.token, "***"),
                }
            }
        }
    }

    /// Every release, drafts included (newest first, as GitHub lists them).
    pub async fn list_releases(&self) -> Result<Vec<Release>, GithubError> {
        let what = "listing releases";
        let first = self
            .octo
            .repos(&self.config.owner, &self.config.repo)
            .releases()
            .list()
            .per_page(100)
            .send()
            .await
            .map_err(|e| self.api_error(what, e))?;
        self.octo
            .all_pages(first)
            .await
            .map_err(|e| self.api_error(what, e))
    }

    /// The release tagged `tag`, a draft too; `None` when there is none.
    pub async fn find_release(&self, tag: &str) -> Result<Option<Release>, GithubError> {
        let by_tag = self
            .octo
            .repos(&self.config.owner, &self.config.repo)
            .releases()
            .get_by_tag(tag)
            .await;
        match by_tag {
            Ok(r) => return Ok(Some(r)),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {}
            Err(e) => return Err(self.api_error("reading the release", e)),
        }
        // Drafts are not returned by tag: look through the list.
        Ok(self
            .list_releases()
            .await?
            .into_iter()
            .find(|r| r.tag_name == tag))
    }

    /// The release tagged `tag`, created (published, not a draft) when missing.
    pub async fn ensure_release(&self, tag: &str) -> Result<Release, GithubError> {
        if let Some(r) = self.find_release(tag).await? {
            return Ok(r);
        }
        let created = self
            .octo
            .repos(&self.config.owner, &self.config.repo)
            .releases()
            .create(tag)
            .name(tag)
            .send()
            .await;
        match created {
            Ok(r) => Ok(r),
            // Another matrix cell created it meanwhile: read theirs.
            Err(octocrab::Error::GitHub { source, .. })
                if source.status_code.as_u16() == 422
                    && source.errors.iter().flatten().any(|e| {
                        e.get("code").and_then(|c| c.as_str()) == Some("already_exists")
                    }) =>
            {
                self.find_release(tag)
                    .await?
                    .ok_or_else(|| GithubError::Api {
                        what: format!("creating release {tag}"),
                        status: 422,
                        message: "GitHub says it exists, but it cannot be found".into(),
                    })
            }
            Err(e) => Err(self.api_error(&format!("creating release {tag}"), e)),
        }
    }

    /// The assets of a release, as GitHub lists them now (all pages).
    pub async fn list_assets(&self, release_id: u64) -> Result<Vec<Asset>, GithubError> {
        let what = "listing release assets";
        let mut all: Vec<Asset> = Vec::new();
        for page in 1u32.. {
            let route = self.route(&format!("/releases/{release_id}/assets"));
            let batch: Vec<Asset> = self
                .octo
                .get(route, Some(&[("per_page", 100u32), ("page", page)]))
                .await
                .map_err(|e| self.api_error(what, e))?;
            let n = batch.len();
            all.extend(batch);
            if n < 100 {
                break;
            }
        }
        Ok(all)
    }

    /// Delete an asset (one already gone counts as deleted).
    pub async fn delete_asset(&self, asset_id: u64) -> Result<(), GithubError> {
        let r = self
            .octo
            .repos(&self.config.owner, &self.config.repo)
            .release_assets()
            .delete(asset_id)
            .await;
        match r {
            Ok(()) => Ok(()),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
                Ok(())
            }
            Err(e) => Err(self.api_error("deleting a release asset", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_base_is_derived_for_github_and_enterprise() {
        assert_eq!(
            upload_base_for("https://api.github.com"),
            "https://uploads.github.com"
        );
        assert_eq!(
            upload_base_for("https://api.github.com/"),
            "https://uploads.github.com"
        );
        assert_eq!(
            upload_base_for("https://ghe.corp.example/api/v3"),
            "https://ghe.corp.example/api/uploads"
        );
        assert_eq!(
            upload_base_for("https://ghe.corp.example/api/v3/"),
            "https://ghe.corp.example/api/uploads"
        );
    }

    #[test]
    fn config_comes_from_the_target_then_the_environment_and_hides_the_token() {
        let env = |k: &str| match k {
            "GITHUB_REPOSITORY" => Some("o/r".to_string()),
            "GITHUB_TOKEN" => Some("ghp_secret".to_string()),
            "MY_TOKEN" => Some("other_secret".to_string()),
            "GITHUB_API_URL" => Some("https://ghe.example/api/v3".to_string()),
            _ => None,
        };
        let t = GithubReleaseTarget {
            tag: "v1".into(),
            repo: None,
            api_url: None,
            token_env: None,
        };
        let c = GithubConfig::from_target(&t, env).unwrap();
        assert_eq!((c.owner.as_str(), c.repo.as_str()), ("o", "r"));
        assert_eq!(c.upload_base, "https://ghe.example/api/uploads");
        assert!(!format!("{c:?}").contains("ghp_secret"));
        assert!(c.sends_token_to("https://ghe.example/api/v3/repos/o/r/releases/assets/1"));
        assert!(c.sends_token_to("https://ghe.example:443/api/uploads/x"));
        for elsewhere in [
            "https://127.0.0.2/api/v3/repos/o/r/releases/assets/1",
            "http://ghe.example/api/v3/x",
            "https://ghe.example:8443/api/v3/x",
            "https://ghe.example.evil/api/v3/x",
            "not a url",
        ] {
            assert!(!c.sends_token_to(elsewhere), "{elsewhere}");
        }
        let t2 = GithubReleaseTarget {
            repo: Some("a/b".into()),
            token_env: Some("MY_TOKEN".into()),
            api_url: Some(GITHUB_API.into()),
            ..t.clone()
        };
        let c = GithubConfig::from_target(&t2, env).unwrap();
        assert_eq!((c.owner.as_str(), c.token_env.as_str()), ("a", "MY_TOKEN"));
        assert_eq!(c.upload_base, "https://uploads.github.com");
        let bad = GithubReleaseTarget {
            repo: Some("no-slash".into()),
            ..t.clone()
        };
        assert!(GithubConfig::from_target(&bad, env).is_err());
        let e = GithubConfig::from_target(&t, |_| None).unwrap_err();
        assert!(e.to_string().contains("GITHUB_REPOSITORY"), "{e}");
    }
}
