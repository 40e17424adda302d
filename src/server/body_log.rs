//! `ENABLE_REQUEST_LOGS` / `ENABLE_RESPONSE_LOGS`: the client's request
//! (headers and body) and the final response body, at debug level,
//! truncated to [`LIMIT`] bytes, every credential-like header redacted.
//!
//! Nothing here runs unless the setting is on: no copy of a body is made on
//! the normal path. Upstream keys never reach this module — it only sees
//! what the client sent and what the client receives.

use std::fmt::Write as _;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::StreamExt;

pub use crate::util::truncated;
/// Largest part of a body that is logged.
pub use crate::util::BODY_LIMIT as LIMIT;

/// True for headers that carry credentials (their values are never logged).
fn is_sensitive(name: &str) -> bool {
    const WORDS: [&str; 6] = ["auth", "key", "token", "secret", "cookie", "session"];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
}

/// `name: value` pairs with credential-like values replaced by `[redacted]`.
pub(crate) fn masked_headers(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        if !out.is_empty() {
            out.push_str("; ");
        }
        let shown = if is_sensitive(name.as_str()) {
            "[redacted]"
        } else {
            value.to_str().unwrap_or("[binary]")
        };
        let _ = write!(out, "{name}: {shown}");
    }
    out
}

/// Logs the client's request.
pub(crate) fn log_request(request_id: &str, headers: &HeaderMap, body: &[u8]) {
    tracing::debug!(
        request_id,
        headers = %masked_headers(headers),
        body = %truncated(body, body.len()),
        "request body"
    );
}

/// Wraps the response body so that its first [`LIMIT`] bytes are logged
/// when it ends (for a stream: when the stream ends or the client leaves).
pub(crate) fn log_response(request_id: String, resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let mut capture = Capture {
        request_id,
        status: parts.status.as_u16(),
        head: Vec::new(),
        total: 0,
    };
    let body = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            capture.push(bytes);
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

struct Capture {
    request_id: String,
    status: u16,
    head: Vec<u8>,
    total: usize,
}

impl Capture {
    fn push(&mut self, bytes: &Bytes) {
        self.total += bytes.len();
        let room = LIMIT.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        tracing::debug!(
            request_id = %self.request_id,
            status = self.status,
            bytes = self.total,
            body = %truncated(&self.head, self.total),
            "response body"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn credentials_are_redacted() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("sk-secret"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-secret"),
        );
        h.insert("x-goog-api-key", HeaderValue::from_static("sk-secret"));
        h.insert("cookie", HeaderValue::from_static("sk-secret"));
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        let s = masked_headers(&h);
        assert!(!s.contains("sk-secret"), "{s}");
        assert!(s.contains("anthropic-version: 2023-06-01"), "{s}");
        assert_eq!(s.matches("[redacted]").count(), 4);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = vec![b'a'; LIMIT * 2];
        let s = truncated(&body, body.len());
        assert!(s.starts_with(&"a".repeat(LIMIT)));
        assert!(s.ends_with(&format!("[truncated, {} bytes in all]", LIMIT * 2)));
        assert_eq!(truncated(b"{}", 2), "{}");
    }
}
