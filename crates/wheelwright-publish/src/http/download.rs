//! Downloading a URL into a new file: streamed (never whole in memory),
//! hashed (sha256) and counted on the way, the file created exclusively (an
//! existing file or a symlink at the destination is refused, never followed
//! or overwritten) and removed again when the download fails. Redirects are
//! followed (release assets redirect to a storage host), and failed attempts
//! are retried like [`HttpClient::send`] does, from the first byte, all
//! within the client's total timeout.
//!
//! What comes is data from elsewhere, so it is bounded ([`DownloadLimits`]):
//! a body larger than the limit is refused from its `Content-Length` before
//! a byte is written, or as soon as the count passes it; and a body that
//! brings less than [`STALL_BYTES`] in any window of `idle_timeout` is
//! given up (a server trickling a byte every few seconds never lets a
//! per-read timeout fire, and would hold a build until the total timeout).
//! Neither is retried: the same server would do it again.

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::time::Instant;
use wheelwright_job::net::Fetched;

use super::request::display_url;
use super::retry::{classify, wait_before_retry};
use super::{HttpClient, HttpError, Request, Response};

pub use wheelwright_base::net::STALL_BYTES;

/// How much a download may bring, and how slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownloadLimits {
    /// Refuse a body larger than this many bytes (`None`: no limit).
    pub max_bytes: Option<u64>,
    /// Give up when less than [`STALL_BYTES`] came in any window this long,
    /// nothing at all included (`None`: only the total timeout bounds a slow
    /// body).
    pub idle_timeout: Option<Duration>,
}

/// How one attempt ended.
enum Attempt {
    Done(Fetched),
    /// A final answer that is not a success.
    Refused(Response),
    /// Worth another try (5xx, rate limit, dropped connection), with the
    /// error to report if it was the last.
    Again(Box<Result<Response, HttpError>>),
}

impl HttpClient {
    /// Download `req` (normally a `GET`) into the new file `dest`, within
    /// `limits`. On any failure `dest` is removed. 404/410 and other error
    /// statuses come back as [`HttpError::Status`].
    pub async fn download(
        &self,
        req: &Request,
        dest: &Path,
        limits: DownloadLimits,
    ) -> Result<Fetched, HttpError> {
        let io = |source| HttpError::Io {
            path: dest.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(io)?;
        let mut file = tokio::fs::File::from_std(file);
        // The total timeout bounds the download, retries included.
        let total = self.config.total_timeout;
        let result = tokio::time::timeout(total, self.download_into(req, dest, &mut file, limits))
            .await
            .unwrap_or_else(|_| {
                Err(HttpError::Timeout {
                    url: display_url(&req.url),
                    seconds: total.as_secs_f64(),
                })
            });
        if result.is_err() {
            drop(file);
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    async fn download_into(
        &self,
        req: &Request,
        dest: &Path,
        file: &mut tokio::fs::File,
        limits: DownloadLimits,
    ) -> Result<Fetched, HttpError> {
        let policy = self.config.retry.clone();
        let mut attempt = 0;
        loop {
            let last = attempt + 1 >= policy.attempts;
            match self.download_attempt(req, dest, file, limits).await? {
                Attempt::Done(fetched) => return Ok(fetched),
                Attempt::Refused(resp) => return Err(resp.to_error()),
                Attempt::Again(result) => {
                    let wait = match *result {
                        Err(e) if last => return Err(e),
                        Ok(resp) if last => return Err(resp.to_error()),
                        Err(_) => policy.backoff(attempt),
                        Ok(resp) => {
                            let why = classify(resp.status, &resp.headers)
                                .unwrap_or(super::RetryAnswer::ServerError);
                            wait_before_retry(&policy, attempt, &why).map_err(|wait| {
                                HttpError::RateLimited {
                                    url: display_url(&resp.url),
                                    wait_seconds: wait.as_secs(),
                                }
                            })?
                        }
                    };
                    tokio::time::sleep(wait).await;
                }
            }
            attempt += 1;
        }
    }

    async fn download_attempt(
        &self,
        req: &Request,
        dest: &Path,
        file: &mut tokio::fs::File,
        limits: DownloadLimits,
    ) -> Result<Attempt, HttpError> {
        let io = |source| HttpError::Io {
            path: dest.to_path_buf(),
            source,
        };
        file.set_len(0).await.map_err(io)?;
        file.seek(SeekFrom::Start(0)).await.map_err(io)?;
        let mut answer = match self.start(req).await {
            Ok(a) => a,
            Err(e) if e.is_transient() => return Ok(Attempt::Again(Box::new(Err(e)))),
            Err(e) => return Err(e),
        };
        let url = answer.url().to_string();
        if !answer.status().is_success() {
            let resp = Response {
                status: answer.status(),
                headers: answer.headers().clone(),
                url,
                body: answer.bytes().await.unwrap_or_default(),
            };
            if classify(resp.status, &resp.headers).is_some() {
                return Ok(Attempt::Again(Box::new(Ok(resp))));
            }
            return Ok(Attempt::Refused(resp));
        }
        let too_large = |bytes, announced, limit| HttpError::TooLarge {
            url: display_url(&url),
            bytes,
            announced,
            limit,
        };
        if let (Some(limit), Some(len)) = (limits.max_bytes, answer.content_length()) {
            if len > limit {
                return Err(too_large(len, true, limit));
            }
        }
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut window = (Instant::now(), 0u64);
        loop {
            let chunk = match limits.idle_timeout {
                Some(stall) => {
                    match tokio::time::timeout_at(window.0 + stall, answer.chunk()).await {
                        Ok(chunk) => chunk,
                        Err(_) if window.1 < STALL_BYTES => {
                            return Err(HttpError::Stalled {
                                url: display_url(&url),
                                bytes: window.1,
                                seconds: stall.as_secs_f64(),
                            })
                        }
                        Err(_) => {
                            window = (Instant::now(), 0);
                            continue;
                        }
                    }
                }
                None => answer.chunk().await,
            };
            let data = match chunk {
                Ok(Some(data)) => data,
                Ok(None) => break,
                Err(e) => match self.error(&url, &e) {
                    e if e.is_transient() => return Ok(Attempt::Again(Box::new(Err(e)))),
                    e => return Err(e),
                },
            };
            size += data.len() as u64;
            window.1 += data.len() as u64;
            if let Some(limit) = limits.max_bytes.filter(|limit| size > *limit) {
                return Err(too_large(size, false, limit));
            }
            if let Some(stall) = limits.idle_timeout {
                if window.0.elapsed() >= stall && window.1 >= STALL_BYTES {
                    window = (Instant::now(), 0);
                }
            }
            hasher.update(&data);
            file.write_all(&data).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        Ok(Attempt::Done(Fetched {
            path: dest.to_path_buf(),
            size,
            sha256: wheelwright_base::digest::hex(&hasher.finalize()),
        }))
    }
}
