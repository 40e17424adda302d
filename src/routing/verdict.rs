//! What an upstream's error status means for the key that got it: rest the
//! key and try the next one, or give the client the error (mapped to
//! Anthropic's error types by [`ApiError::from_upstream`]; the status table
//! is in docs/translation.md, "Errors").

use std::time::Duration;

use super::keys::KeyFailure;
use crate::error::{ApiError, UpstreamErrorDetail};

/// What to do after an upstream answered with an error status.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The key (not the request) is at fault: rest it and try another.
    NextKey(KeyFailure, ApiError),
    /// The request itself is at fault: the client gets this error.
    Fail(ApiError),
}

/// Classifies an upstream error response: which status rests the key and
/// which one is the request's fault.
pub(crate) fn classify(
    upstream: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    location: Option<&str>,
) -> Verdict {
    let secs = retry_after.map(|d| d.as_secs().max(1));
    let err = || ApiError::from_upstream(upstream, status, body, secs);
    match status {
        300..=399 => Verdict::NextKey(
            KeyFailure::Unavailable,
            redirected(upstream, status, location),
        ),
        401 | 403 => Verdict::NextKey(KeyFailure::Rejected, err()),
        402 => Verdict::NextKey(KeyFailure::Rejected, err()),
        // From the forward proxy (HTTP_PROXY), not the upstream: the
        // client must not be asked for proxy credentials it does not hold.
        407 => Verdict::NextKey(
            KeyFailure::Unavailable,
            ApiError::api(format!(
                "upstream {upstream}: the HTTP proxy refused the request (407 Proxy Authentication \
                 Required); check the user and password in HTTP_PROXY / HTTPS_PROXY"
            ))
            .with_status(502),
        ),
        429 => {
            let detail = UpstreamErrorDetail::parse(body);
            if is_quota_exhausted(&detail) {
                Verdict::NextKey(KeyFailure::Rejected, err())
            } else {
                Verdict::NextKey(KeyFailure::RateLimited(retry_after), err())
            }
        }
        500 | 502 | 503 | 504 | 529 => Verdict::NextKey(KeyFailure::Unavailable, err()),
        400 => {
            let detail = UpstreamErrorDetail::parse(body);
            if detail.is_invalid_key() || is_quota_exhausted(&detail) {
                Verdict::NextKey(KeyFailure::Rejected, err())
            } else {
                Verdict::Fail(err())
            }
        }
        _ => Verdict::Fail(err()),
    }
}

/// The error for an upstream that answered with a redirect, which the
/// proxy never follows (the key would go along): a 502 naming the address
/// it pointed to, without its query or user info (either may hold a token).
fn redirected(upstream: &str, status: u16, location: Option<&str>) -> ApiError {
    let to = location
        .map(|l| l.split(['?', '#']).next().unwrap_or_default())
        .map(crate::util::without_userinfo)
        .filter(|l| !l.is_empty())
        .map(|l| format!(" to {l}"))
        .unwrap_or_default();
    ApiError::api(format!(
        "upstream {upstream} answered {status}, a redirect{to}; the proxy does not follow redirects \
         (they would carry the API key along): set the upstream's baseUrl to the final address"
    ))
    .with_status(502)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let v = |s, b: &str| classify("u", s, b.as_bytes(), None, None);
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
        match classify(
            "u",
            308,
            b"",
            None,
            Some("https://user:secret@elsewhere.example/v1?k=secret"),
        ) {
            Verdict::NextKey(KeyFailure::Unavailable, e) => {
                assert_eq!(e.status.as_u16(), 502);
                assert!(
                    e.message.contains("to https://elsewhere.example/v1;"),
                    "{}",
                    e.message
                );
                assert!(!e.message.contains("secret"), "{}", e.message);
            }
            other => panic!("a redirect is an unusable upstream: {other:?}"),
        }
    }
}
