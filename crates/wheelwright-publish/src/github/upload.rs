//! Release assets, exactly once. For each file, before every attempt, the
//! assets are listed again (so a retry after a lost answer never duplicates):
//! an asset of the same name and sha256 means skipped; a different sha256 is a
//! failure unless `clobber` (then it is replaced); an asset left in a state
//! other than `uploaded` (an interrupted upload's `starter`) is deleted and the
//! file sent again. The sha256 of an asset is its `digest` (`sha256:...`)
//! where GitHub gives one, else the hash of a download. The upload POST is
//! ours: the explicit upload base, the name percent-encoded (a raw `+` would
//! reach GitHub as a space and come out as `.`), the file streamed anew for
//! each attempt, retried with backoff and jitter on 5xx, rate limits and
//! dropped connections.

use http::header::{ACCEPT, CONTENT_TYPE};
use octocrab::models::repos::{Asset, Release};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use wheelwright_job::publish::{PublishStatus, PublishedFile, TargetKind};

use wheelwright_wheel::variant::VariantMetadata;

use super::variants::{variants_asset, ReleaseVariants};
use super::{github_asset_name, GithubError, GithubRelease, Source};
use crate::http::{classify, wait_before_retry, DownloadLimits, HttpError, Payload, Request};
use crate::wheel_file::WheelFile;
use wheelwright_base::net::Fetched;

/// Unreserved characters (RFC 3986) stay; everything else, `+` included, is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A wheel asset of a release, for an index built from the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseWheel {
    /// The asset (file) name.
    pub name: String,
    /// Where it is downloaded from (`browser_download_url`).
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 (GitHub's digest, or hashed from a download).
    pub sha256: String,
    /// A `NAME.metadata` asset (PEP 658) sits beside it.
    pub has_metadata: bool,
    /// A PEP 825 variant wheel's `variant.json`, from the release's
    /// `{name}-{version}-variants.json` asset (see `variants`), or why it
    /// cannot be had; `None` for any other wheel.
    pub variant: Option<Result<VariantMetadata, String>>,
}

impl GithubRelease {
    /// The sha256 of an asset: its `digest` when GitHub gives one, else the
    /// hash of its download.
    pub async fn asset_sha256(&self, asset: &Asset) -> Result<String, GithubError> {
        if let Some(hex) = asset
            .digest
            .as_deref()
            .and_then(|d| d.strip_prefix("sha256:"))
        {
            return Ok(hex.to_ascii_lowercase());
        }
        let what = format!("downloading asset {} to hash it", asset.name);
        let size = u64::try_from(asset.size).unwrap_or(0);
        let (_dir, fetched) = self.download_asset(asset, &what, size).await?;
        Ok(fetched.sha256)
    }

    /// Download `asset` into a temp dir (returned with it: the file lives
    /// as long as the dir), at most `max_bytes` and never a trickle; the
    /// token goes only to the configured hosts (the URL comes from the
    /// API's answer, and a redirect elsewhere drops it too).
    pub(crate) async fn download_asset(
        &self,
        asset: &Asset,
        what: &str,
        max_bytes: u64,
    ) -> Result<(tempfile::TempDir, Fetched), GithubError> {
        let dir = tempfile::tempdir().map_err(|e| GithubError::Transport {
            what: what.to_string(),
            message: e.to_string(),
        })?;
        let limits = DownloadLimits {
            max_bytes: Some(max_bytes),
            idle_timeout: Some(wheelwright_base::net::IDLE_TIMEOUT),
        };
        let url = asset.url.to_string();
        let mut req = Request::get(url.as_str()).header(ACCEPT, "application/octet-stream");
        if self.config.sends_token_to(&url) {
            req = req.bearer(&self.config.token);
        }
        let fetched = self
            .http
            .download(&req, &dir.path().join("asset"), limits)
            .await
            .map_err(|e| self.http_error(what, e))?;
        Ok((dir, fetched))
    }

    pub(crate) fn http_error(&self, what: &str, e: HttpError) -> GithubError {
        match e {
            HttpError::Status {
                status: status @ (401 | 403),
                message,
                ..
            } if !message.to_lowercase().contains("rate limit") => GithubError::Auth {
                token_env: self.config.token_env.clone(),
                status,
                message,
            },
            HttpError::Status {
                status, message, ..
            } => GithubError::Api {
                what: what.to_string(),
                status,
                message,
            },
            other => GithubError::Transport {
                what: what.to_string(),
                message: other.to_string().replace(&self.config.token, "***"),
            },
        }
    }

    /// The release's wheels (assets named `*.whl` and fully uploaded).
    pub async fn release_wheels(&self, tag: &str) -> Result<Vec<ReleaseWheel>, GithubError> {
        let release = self
            .find_release(tag)
            .await?
            .ok_or_else(|| GithubError::Api {
                what: format!("reading release {tag}"),
                status: 404,
                message: format!("no release tagged {tag}"),
            })?;
        let assets = self.list_assets(release.id.into_inner()).await?;
        let variants = ReleaseVariants::read(self, &assets).await;
        let mut wheels = Vec::new();
        for a in assets
            .iter()
            .filter(|a| a.name.ends_with(".whl") && a.state == "uploaded")
        {
            let metadata = format!("{}.metadata", a.name);
            wheels.push(ReleaseWheel {
                name: a.name.clone(),
                url: a.browser_download_url.to_string(),
                size: u64::try_from(a.size).unwrap_or(0),
                sha256: self.asset_sha256(a).await?,
                has_metadata: assets
                    .iter()
                    .any(|m| m.name == metadata && m.state == "uploaded"),
                variant: variants.for_wheel(&a.name),
            });
        }
        Ok(wheels)
    }

    /// Is the wheel `file_name` (under its published name) already an
    /// uploaded asset of release `tag`? `false` when there is no such release.
    pub async fn wheel_published(&self, tag: &str, file_name: &str) -> Result<bool, GithubError> {
        let Some(release) = self.find_release(tag).await? else {
            return Ok(false);
        };
        let name = github_asset_name(file_name);
        Ok(self
            .list_assets(release.id.into_inner())
            .await?
            .iter()
            .any(|a| a.name == name && a.state == "uploaded"))
    }

    /// Upload each wheel and its `.metadata` to release `tag` (created when
    /// missing), and for PEP 825 variant wheels their version's
    /// `-variants.json` merged with the release's (a variant wheel whose
    /// label conflicts there is not uploaded; see `variants`). One entry per
    /// file put; an error only for what stops them all (the release cannot
    /// be read or made, the token is refused).
    pub async fn publish_wheels(
        &self,
        tag: &str,
        wheels: &[WheelFile],
        clobber: bool,
    ) -> Result<Vec<PublishedFile>, GithubError> {
        let release = self.ensure_release(tag).await?;
        let variants = self.plan_variants(&release, wheels).await?;
        let mut on_release = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for w in wheels {
            let name = github_asset_name(&w.file_name);
            let variants_file = variants_asset(&w.file_name);
            if let Some(Err(why)) = variants_file.as_ref().and_then(|f| variants.get(f)) {
                out.push(PublishedFile {
                    target: TargetKind::GithubRelease,
                    file: name,
                    path: Some(w.path.clone()),
                    status: PublishStatus::Failed,
                    url: None,
                    sha256: w.sha256.clone(),
                    message: Some(format!("not uploaded: {why}")),
                });
                continue;
            }
            let entry = self
                .put_or_fail(&release, &name, Source::File(&w.path), &w.sha256, clobber)
                .await?;
            let failed = entry.status == PublishStatus::Failed;
            out.push(PublishedFile {
                path: Some(w.path.clone()),
                ..entry
            });
            if failed {
                continue;
            }
            on_release.extend(variants_file);
            let sha = w.metadata_sha256();
            let meta = format!("{name}.metadata");
            let entry = self
                .put_or_fail(
                    &release,
                    &meta,
                    Source::Bytes(&w.metadata_bytes),
                    &sha,
                    clobber,
                )
                .await?;
            out.push(entry);
        }
        for (file, doc) in &variants {
            if let (Ok(doc), true) = (doc, on_release.contains(file)) {
                out.push(self.put_variants(&release, file, doc).await?);
            }
        }
        Ok(out)
    }

    async fn put_or_fail(
        &self,
        release: &Release,
        name: &str,
        source: Source<'_>,
        sha256: &str,
        clobber: bool,
    ) -> Result<PublishedFile, GithubError> {
        let entry = |status, url: Option<String>, message: Option<String>| PublishedFile {
            target: TargetKind::GithubRelease,
            file: name.to_string(),
            path: None,
            status,
            url,
            sha256: sha256.to_string(),
            message,
        };
        match self
            .put_asset(release, name, &source, sha256, clobber)
            .await
        {
            Ok((status, url, message)) => Ok(entry(status, url, message)),
            Err(e @ (GithubError::Auth { .. } | GithubError::Config(_))) => Err(e),
            Err(e) => Ok(entry(PublishStatus::Failed, None, Some(e.to_string()))),
        }
    }

    pub(crate) async fn put_asset(
        &self,
        release: &Release,
        name: &str,
        source: &Source<'_>,
        sha256: &str,
        clobber: bool,
    ) -> Result<(PublishStatus, Option<String>, Option<String>), GithubError> {
        let id = release.id.into_inner();
        let policy = self.http.config().retry.clone();
        let mut last_problem = String::new();
        for attempt in 0..policy.attempts.max(1) {
            // Listed before every attempt: what a lost answer did is seen here.
            let assets = self.list_assets(id).await?;
            if let Some(a) = assets.iter().find(|a| a.name == name) {
                if a.state != "uploaded" {
                    self.delete_asset(a.id.into_inner()).await?;
                } else {
                    let remote = self.asset_sha256(a).await?;
                    let url = Some(a.browser_download_url.to_string());
                    if remote == sha256 {
                        return Ok((
                            PublishStatus::Skipped,
                            url,
                            Some("the same file is already there".into()),
                        ));
                    }
                    if !clobber {
                        return Ok((
                            PublishStatus::Failed,
                            url,
                            Some(format!("a different file of this name is there (sha256 {remote}); pass --clobber to replace it")),
                        ));
                    }
                    self.delete_asset(a.id.into_inner()).await?;
                }
            }
            let what = format!("uploading {name}");
            match self.upload_post(id, name, source).await {
                Ok(resp) if resp.status.as_u16() == 201 => {
                    let asset: Asset =
                        serde_json::from_slice(&resp.body).map_err(|e| GithubError::Api {
                            what: what.clone(),
                            status: 201,
                            message: format!("unreadable answer: {e}"),
                        })?;
                    if asset.name != name {
                        return Ok((
                            PublishStatus::Failed,
                            Some(asset.browser_download_url.to_string()),
                            Some(format!("GitHub stored it as {:?}", asset.name)),
                        ));
                    }
                    return Ok((
                        PublishStatus::Uploaded,
                        Some(asset.browser_download_url.to_string()),
                        None,
                    ));
                }
                Ok(resp) => {
                    last_problem = resp.to_error().to_string();
                    match classify(resp.status, &resp.headers) {
                        Some(why) => match wait_before_retry(&policy, attempt, &why) {
                            Ok(wait) => tokio::time::sleep(wait).await,
                            Err(wait) => {
                                return Err(GithubError::Api {
                                    what,
                                    status: resp.status.as_u16(),
                                    message: format!(
                                        "rate limited; resets in {} s",
                                        wait.as_secs()
                                    ),
                                })
                            }
                        },
                        // 422: an asset of that name appeared (another uploader,
                        // or our own lost attempt): list again and decide.
                        None if resp.status.as_u16() == 422 => {
                            tokio::time::sleep(policy.backoff(attempt)).await
                        }
                        None => {
                            return Err(self.http_error(&what, resp.to_error()));
                        }
                    }
                }
                Err(e @ (HttpError::Dropped { .. } | HttpError::Timeout { .. })) => {
                    last_problem = e.to_string();
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
                Err(e) => return Err(self.http_error(&what, e)),
            }
        }
        Err(GithubError::Transport {
            what: format!("uploading {name}"),
            message: format!(
                "gave up after {} attempts; last: {last_problem}",
                policy.attempts
            ),
        })
    }

    /// One upload POST (no retry: the caller re-lists first).
    async fn upload_post(
        &self,
        release_id: u64,
        name: &str,
        source: &Source<'_>,
    ) -> Result<crate::http::Response, HttpError> {
        let url = format!(
            "{}/repos/{}/{}/releases/{release_id}/assets?name={}",
            self.config.upload_base.trim_end_matches('/'),
            self.config.owner,
            self.config.repo,
            utf8_percent_encode(name, QUERY_VALUE)
        );
        let payload = match source {
            Source::File(p) => Payload::file(*p),
            Source::Bytes(b) => Payload::bytes(b.to_vec()),
        };
        let req = Request::post(url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(ACCEPT, "application/vnd.github+json")
            .bearer(&self.config.token)
            .body(payload);
        self.http.send_once(&req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_query_encodes_plus_and_keeps_unreserved() {
        let n = "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl";
        assert_eq!(
            utf8_percent_encode(n, QUERY_VALUE).to_string(),
            "flash_attn-2.8.3%2Bcu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
        );
    }
}
