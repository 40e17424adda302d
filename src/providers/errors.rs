//! Upstream failures every provider shares: `Retry-After`, transport
//! errors, and keeping a key out of error messages.

use std::time::Duration;

use crate::config::ApiKey;
use crate::error::{ApiError, ErrorKind};

/// `Retry-After` (seconds or HTTP date) or `retry-after-ms`.
pub fn retry_after(headers: &http::header::HeaderMap) -> Option<Duration> {
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
        .get(http::header::RETRY_AFTER)?
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
pub(crate) fn transport_error(upstream: &str, err: &super::client::Error) -> ApiError {
    // The root cause's text names neither a header nor the URL (and keys
    // only travel in headers).
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
pub(crate) fn scrub_key(mut err: ApiError, key: &ApiKey) -> ApiError {
    let secret = key.expose();
    if !secret.is_empty() && err.message.contains(secret) {
        err.message = err.message.replace(secret, &key.masked());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let mut h = http::header::HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }
}
