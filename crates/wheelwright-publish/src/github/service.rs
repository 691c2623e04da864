//! The service octocrab runs over: octocrab's own reqwest connector on our
//! client (proxies, CAs, connect timeout; no redirects) with our retry
//! policy in front, for the API calls octocrab makes (octocrab's own retry
//! is not compiled in: it re-sends at once, without backoff). A request is
//! retried only when its body can be re-sent (octocrab keeps a copy of the
//! JSON bodies it builds; an empty body, as every `GET` and `DELETE` has, is
//! made anew): 5xx answers, rate limits (`Retry-After`,
//! `x-ratelimit-reset`) and dropped connections. Each attempt waits for the
//! answer at most the client's total timeout, capped at two minutes: an API
//! call never hangs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use octocrab::service::middleware::reqwest_connector::ReqwestConnector;
use octocrab::OctoBody;
use tower_service::Service;

use crate::http::{classify, wait_before_retry, RetryPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Answer = <ReqwestConnector as Service<Request<OctoBody>>>::Response;

/// Our client with retries, as a `tower` service of octocrab's requests.
#[derive(Debug, Clone)]
pub(crate) struct RetryingClient {
    pub(crate) connector: ReqwestConnector,
    pub(crate) policy: RetryPolicy,
    /// How long one attempt may wait for the answer's head.
    pub(crate) answer_timeout: std::time::Duration,
}

fn copy_request(parts: &http::request::Parts, body: OctoBody) -> Request<OctoBody> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

/// A copy of `body` to send again: octocrab keeps the bytes of the JSON
/// bodies it builds (`try_clone`), but not of an empty body, whose copy is
/// just another empty body.
fn resendable(body: &OctoBody) -> Option<OctoBody> {
    use http_body::Body as _;
    body.try_clone()
        .or_else(|| (body.size_hint().exact() == Some(0)).then(OctoBody::empty))
}

/// Did the request fail before a connection was made (nothing was sent)?
fn not_connected(e: &octocrab::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>() {
            return r.is_connect();
        }
        cur = err.source();
    }
    false
}

impl Service<Request<OctoBody>> for RetryingClient {
    type Response = Answer;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<OctoBody>) -> Self::Future {
        let mut connector = self.connector.clone();
        let policy = self.policy.clone();
        let limit = self.answer_timeout;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let mut first = Some(body);
            let mut attempt = 0;
            loop {
                // A body that cannot be copied is sent once, never retried.
                let (body, can_retry) = match first.as_ref().and_then(resendable) {
                    Some(copy) => (copy, true),
                    None => match first.take() {
                        Some(b) => (b, false),
                        None => return Err(BoxError::from("request body already sent")),
                    },
                };
                let last = !can_retry || attempt + 1 >= policy.attempts;
                let sent = tokio::time::timeout(limit, connector.call(copy_request(&parts, body)));
                let Ok(result) = sent.await else {
                    return Err(BoxError::from(format!(
                        "no answer within {:.0} s",
                        limit.as_secs_f64()
                    )));
                };
                match result {
                    Ok(resp) => {
                        let Some(why) = classify(resp.status(), resp.headers()) else {
                            return Ok(resp);
                        };
                        if last {
                            return Ok(resp);
                        }
                        match wait_before_retry(&policy, attempt, &why) {
                            Ok(wait) => tokio::time::sleep(wait).await,
                            Err(_) => return Ok(resp),
                        }
                    }
                    Err(e) if !not_connected(&e) && !last => {
                        tokio::time::sleep(policy.backoff(attempt)).await;
                    }
                    Err(e) => return Err(Box::new(e) as BoxError),
                }
                attempt += 1;
            }
        })
    }
}
