//! Downloading a URL into a new file: streamed (never whole in memory),
//! hashed (sha256) and counted on the way, the file created exclusively (an
//! existing file or a symlink at the destination is refused, never followed
//! or overwritten) and removed again when the download fails. Redirects are
//! followed (release assets redirect to a storage host), and failed attempts
//! are retried like [`HttpClient::send`] does, from the first byte.

use std::io::SeekFrom;
use std::path::Path;

use http::header::AUTHORIZATION;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use wheelwright_job::net::Fetched;

use super::request::{classify_client_error, display_url, host_of, redirect_target};
use super::retry::{classify, wait_before_retry};
use super::{HttpClient, HttpError, Request, Response};

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
    /// Download `req` (normally a `GET`) into the new file `dest`. On any
    /// failure `dest` is removed. 404/410 and other error statuses come back
    /// as [`HttpError::Status`].
    pub async fn download(&self, req: &Request, dest: &Path) -> Result<Fetched, HttpError> {
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
        let result = self.download_into(req, dest, &mut file).await;
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
    ) -> Result<Fetched, HttpError> {
        let policy = self.config.retry.clone();
        let mut attempt = 0;
        loop {
            let last = attempt + 1 >= policy.attempts;
            let bounded = tokio::time::timeout(
                self.config.total_timeout,
                self.download_attempt(req, dest, file),
            )
            .await;
            let outcome = match bounded {
                Ok(r) => r?,
                Err(_) => {
                    return Err(HttpError::Timeout {
                        url: display_url(&req.url),
                        seconds: self.config.total_timeout.as_secs_f64(),
                    })
                }
            };
            match outcome {
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
    ) -> Result<Attempt, HttpError> {
        let io = |source| HttpError::Io {
            path: dest.to_path_buf(),
            source,
        };
        file.set_len(0).await.map_err(io)?;
        file.seek(SeekFrom::Start(0)).await.map_err(io)?;
        let mut current = req.clone();
        let mut redirects = 0;
        let answer = loop {
            let answer = match self.start(&current).await {
                Ok(a) => a,
                Err(e) if e.is_transient() => return Ok(Attempt::Again(Box::new(Err(e)))),
                Err(e) => return Err(e),
            };
            if !answer.status().is_redirection() || redirects >= 10 {
                break answer;
            }
            let Some(next) = redirect_target(&current.url, answer.headers()) else {
                break answer;
            };
            if host_of(&next) != host_of(&current.url) {
                current.headers.remove(AUTHORIZATION);
            }
            current.url = next;
            redirects += 1;
        };
        let status = answer.status();
        if !status.is_success() {
            let (parts, body) = answer.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let resp = Response {
                status: parts.status,
                headers: parts.headers,
                body,
                url: current.url.clone(),
            };
            if classify(resp.status, &resp.headers).is_some() {
                return Ok(Attempt::Again(Box::new(Ok(resp))));
            }
            return Ok(Attempt::Refused(resp));
        }
        let mut body = answer.into_body();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    let err =
                        classify_client_error(&current.url, &e, self.config.connect_timeout, false);
                    return Ok(Attempt::Again(Box::new(Err(err))));
                }
            };
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                size += data.len() as u64;
                file.write_all(&data).await.map_err(io)?;
            }
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
