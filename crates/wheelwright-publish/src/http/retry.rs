//! When to try a request again and how long to wait: exponential backoff with
//! jitter for 5xx answers and dropped connections, and the server's own word
//! for rate limits (`Retry-After`, or GitHub's `x-ratelimit-remaining: 0` with
//! `x-ratelimit-reset`, on 403 and 429).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub attempts: u32,
    /// Backoff before the second attempt; doubled after each (before jitter).
    pub base_delay: Duration,
    /// Backoff never exceeds this (before jitter).
    pub max_delay: Duration,
    /// A rate limit that resets later than this is not waited for: the
    /// request fails with [`super::HttpError::RateLimited`].
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The backoff after failed attempt number `attempt` (0 = the first):
    /// `base * 2^attempt`, capped, then "equal jitter" (a random point in the
    /// upper half), so that matrix cells retrying together spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Why an answer should be retried, and after how long at the least.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAnswer {
    /// A server error (5xx): back off.
    ServerError,
    /// Rate limited; the server says when it resets (`None`: it does not say).
    RateLimited(Option<Duration>),
}

/// Classify an answer: `None` when it is final (success or a client error).
pub fn classify(status: StatusCode, headers: &HeaderMap) -> Option<RetryAnswer> {
    if status.is_server_error() {
        return Some(RetryAnswer::ServerError);
    }
    let remaining_zero = header_str(headers, "x-ratelimit-remaining") == Some("0");
    let retry_after = header_str(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (remaining_zero || retry_after.is_some()));
    if !limited {
        return None;
    }
    if let Some(secs) = retry_after {
        return Some(RetryAnswer::RateLimited(Some(Duration::from_secs(secs))));
    }
    if remaining_zero {
        if let Some(reset) =
            header_str(headers, "x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok())
        {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            // One second more: the reset time is whole seconds, rounded down.
            return Some(RetryAnswer::RateLimited(Some(Duration::from_secs(
                reset.saturating_sub(now) + 1,
            ))));
        }
    }
    Some(RetryAnswer::RateLimited(None))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// How long to wait before the next attempt, after failed attempt `attempt`
/// answered `why`; `Err(wait)` when the wait exceeds the policy's patience.
pub fn wait_before_retry(
    policy: &RetryPolicy,
    attempt: u32,
    why: &RetryAnswer,
) -> Result<Duration, Duration> {
    match why {
        RetryAnswer::ServerError | RetryAnswer::RateLimited(None) => Ok(policy.backoff(attempt)),
        RetryAnswer::RateLimited(Some(wait)) if *wait > policy.max_rate_limit_wait => Err(*wait),
        // The server's time plus a little jitter, so waiting cells do not all
        // come back in the same instant.
        RetryAnswer::RateLimited(Some(wait)) => {
            Ok(*wait + Duration::from_millis(fastrand::u64(0..=250)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn server_errors_and_rate_limits_are_retried_client_errors_are_not() {
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &HeaderMap::new()),
            Some(RetryAnswer::ServerError)
        );
        assert_eq!(classify(StatusCode::NOT_FOUND, &HeaderMap::new()), None);
        // A 403 without rate-limit headers is a permission error: final.
        assert_eq!(classify(StatusCode::FORBIDDEN, &HeaderMap::new()), None);
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &headers(&[("retry-after", "7")])),
            Some(RetryAnswer::RateLimited(Some(Duration::from_secs(7))))
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new()),
            Some(RetryAnswer::RateLimited(None))
        );
    }

    #[test]
    fn github_rate_limit_reset_is_waited_for_until_it_is_too_far() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &(now + 3).to_string()),
        ]);
        let Some(RetryAnswer::RateLimited(Some(wait))) = classify(StatusCode::FORBIDDEN, &h) else {
            panic!("not classified as a rate limit")
        };
        assert!(
            wait >= Duration::from_secs(3) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
        let policy = RetryPolicy::default();
        let far = RetryAnswer::RateLimited(Some(Duration::from_secs(3600)));
        assert_eq!(
            wait_before_retry(&policy, 0, &far),
            Err(Duration::from_secs(3600))
        );
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_the_upper_half() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_rate_limit_wait: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d0 = p.backoff(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = p.backoff(2);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = p.backoff(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(spread.len() > 1, "no jitter");
    }
}
