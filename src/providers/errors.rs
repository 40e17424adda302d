//! What an upstream's failure means: rest the key and try the next one, or
//! give the client an error (mapped to Anthropic's error types by
//! [`ApiError::from_upstream`]). Shared by every provider.

use std::time::Duration;

use crate::config::ApiKey;
use crate::error::{ApiError, ErrorKind, UpstreamErrorDetail};
use crate::routing::keys::KeyFailure;

/// What to do after an upstream answered with an error status.
#[derive(Debug)]
pub enum Verdict {
    /// The key (not the request) is at fault: rest it and try another.
    NextKey(KeyFailure, ApiError),
    /// The request itself is at fault: the client gets this error.
    Fail(ApiError),
}

/// Classifies an upstream error response (status mapping: docs/translation.md, "Errors"; plus key health).
pub fn classify(
    upstream: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Verdict {
    let secs = retry_after.map(|d| d.as_secs().max(1));
    let err = ApiError::from_upstream(upstream, status, body, secs);
    match status {
        401 | 403 => Verdict::NextKey(KeyFailure::Rejected, err),
        402 => Verdict::NextKey(KeyFailure::Rejected, err),
        429 => {
            let detail = UpstreamErrorDetail::parse(body);
            if is_quota_exhausted(&detail) {
                Verdict::NextKey(KeyFailure::Rejected, err)
            } else {
                Verdict::NextKey(KeyFailure::RateLimited(retry_after), err)
            }
        }
        500 | 502 | 503 | 504 | 529 => Verdict::NextKey(KeyFailure::Unavailable, err),
        400 => {
            let detail = UpstreamErrorDetail::parse(body);
            if detail.is_invalid_key() || is_quota_exhausted(&detail) {
                Verdict::NextKey(KeyFailure::Rejected, err)
            } else {
                Verdict::Fail(err)
            }
        }
        _ => Verdict::Fail(err),
    }
}

/// "Insufficient balance / quota" bodies that some providers send with 400,
/// 402 or 429: the key is out of money, not the request wrong.
fn is_quota_exhausted(detail: &UpstreamErrorDetail) -> bool {
    const MARKERS: [&str; 6] = [
        "insufficient_quota",
        "insufficient balance",
        "insufficient_balance",
        "exceeded your current quota",
        "quota exceeded",
        "billing",
    ];
    let hit = |s: &str| {
        let s = s.to_ascii_lowercase();
        MARKERS.iter().any(|m| s.contains(m))
    };
    detail.codes.iter().any(|c| hit(c)) || detail.message.as_deref().is_some_and(hit)
}

/// `Retry-After` (seconds or HTTP date) or `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_millis(ms as u64));
        }
    }
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The client-facing error for a transport failure (no HTTP answer).
pub fn transport_error(upstream: &str, err: &reqwest::Error) -> ApiError {
    // reqwest's Display may include the URL, never a header; the URL holds no
    // key because keys only travel in headers.
    if err.is_timeout() {
        ApiError::new(ErrorKind::Timeout, format!("upstream {upstream} timed out"))
    } else if err.is_connect() {
        ApiError::new(
            ErrorKind::Api,
            format!("upstream {upstream} is unreachable: connection failed"),
        )
        .with_status(502)
    } else {
        ApiError::new(
            ErrorKind::Api,
            format!("upstream {upstream} request failed: {}", root_cause(err)),
        )
        .with_status(502)
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An error message with the key that was sent replaced by its masked form:
/// some providers echo the key in their error text, and it must not travel
/// on to the client or the logs.
pub fn scrub_key(mut err: ApiError, key: &ApiKey) -> ApiError {
    let secret = key.expose();
    if !secret.is_empty() && err.message.contains(secret) {
        err.message = err.message.replace(secret, &key.masked());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn classification() {
        let v = |s, b: &str| classify("u", s, b.as_bytes(), None);
        assert!(matches!(
            v(401, "{}"),
            Verdict::NextKey(KeyFailure::Rejected, _)
        ));
        assert!(matches!(
            v(429, "{}"),
            Verdict::NextKey(KeyFailure::RateLimited(None), _)
        ));
        assert!(matches!(
            v(
                429,
                r#"{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}"#
            ),
            Verdict::NextKey(KeyFailure::Rejected, _)
        ));
        assert!(matches!(
            v(503, "{}"),
            Verdict::NextKey(KeyFailure::Unavailable, _)
        ));
        assert!(matches!(
            v(400, r#"{"error":{"message":"bad tool"}}"#),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            v(400, r#"{"error":{"message":"Insufficient Balance"}}"#),
            Verdict::NextKey(KeyFailure::Rejected, _)
        ));
        assert!(matches!(v(404, "{}"), Verdict::Fail(_)));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }
}
