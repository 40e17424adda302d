//! What handlers take from a request, with failures as [`ApiError`]s: the
//! client's credentials (one parser, shared by authentication and the rate
//! limiter), the request id, the error shape the client expects
//! ([`error_shape`]), and a JSON body parsed into its type
//! ([`AnthropicBody`]; the OpenAI-compatible handlers render its errors in
//! OpenAI's shape).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::state::AppState;
use crate::error::{ApiError, ErrorKind, ErrorShape};

/// Every credential the client presented, `x-api-key` first (both headers
/// may be present: the official SDK sends both when both are configured).
pub(crate) fn credentials(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    let api_key = headers.get("x-api-key").map(|v| v.as_bytes());
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .and_then(|v| {
            let (scheme, rest) = v.split_at(v.len().min(7));
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
        })
        .map(|t| t.trim_ascii());
    api_key.into_iter().chain(bearer)
}

/// True when any presented credential equals `expected` (constant time in
/// the key's content).
pub(crate) fn is_authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let mut ok = 0u8;
    let mut any = false;
    for candidate in credentials(headers) {
        any = true;
        ok |= candidate.ct_eq(expected).unwrap_u8();
    }
    any && ok == 1
}

/// The error shape the client expects (docs/openai-inbound.md, "Errors"):
/// OpenAI's on the OpenAI-compatible endpoints, and on `GET /v1/models`
/// without an `anthropic-version` header (the Anthropic SDKs, and so
/// Claude Code, always send one); Anthropic's everywhere else.
pub(crate) fn error_shape(path: &str, headers: &HeaderMap) -> ErrorShape {
    let openai_endpoint = path == "/v1/chat/completions" || path == "/v1/responses";
    let openai_models = (path == "/v1/models" || path.starts_with("/v1/models/"))
        && !headers.contains_key("anthropic-version");
    if openai_endpoint || openai_models {
        ErrorShape::OpenAi
    } else {
        ErrorShape::Anthropic
    }
}

/// A copy of `headers` that owns its values. The values hyper parses
/// share the connection's read buffer (8 KB), so a handler that keeps the
/// request's headers across the upstream wait keeps that whole buffer
/// alive; the copy is a few hundred bytes.
pub(crate) fn owned_headers(headers: HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in &headers {
        let mut copy = match axum::http::HeaderValue::from_bytes(value.as_bytes()) {
            Ok(v) => v,
            Err(_) => continue,
        };
        copy.set_sensitive(value.is_sensitive());
        out.append(name.clone(), copy);
    }
    out
}

/// The `req_…` id of the request, set by the request-id middleware.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// A JSON body parsed into `T`, with the client's bytes kept (a
/// pass-through forwards them).
pub(crate) struct AnthropicBody<T> {
    pub parsed: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for AnthropicBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let rid = req.extensions().get::<RequestId>().cloned();
        let headers = state
            .settings
            .enable_request_logs
            .then(|| req.headers().clone());
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|rej| body_error(rej.status(), &rej.body_text()))?;
        if let (Some(headers), Some(rid)) = (headers, rid) {
            super::body_log::log_request(&rid.0, &headers, &raw);
        }
        let parsed = parse_json(&raw)?;
        Ok(AnthropicBody { parsed, raw })
    }
}

/// Maps a body-reading failure (size limit, read error) to Anthropic's error.
fn body_error(status: StatusCode, text: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorKind::RequestTooLarge,
            "request body is larger than the proxy's limit (MAX_BODY_SIZE)",
        )
    } else {
        ApiError::invalid_request(format!("cannot read request body: {text}"))
    }
}

/// Parses a JSON body, naming the offending field on error.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_request(
            "request body is empty; expected a JSON object",
        ));
    }
    // Fast path without path tracking; a failure is parsed again to name
    // the field (errors are rare, and cost nothing on the hot path). The
    // body is checked as UTF-8 once, in one pass, so the parser need not
    // check each string and each raw value it keeps again.
    let fast = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    if let Ok(v) = fast {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            format!("invalid JSON in request body: {inner}")
        } else if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        ApiError::invalid_request(what)
    })
}

/// Longest `model` a request may name (real names are under 100 bytes).
const MAX_MODEL_LEN: usize = 256;

/// Refuses a `model` no upstream could know: empty or absurdly long.
pub(crate) fn check_model(model: &str) -> Result<(), ApiError> {
    if model.trim().is_empty() {
        return Err(ApiError::invalid_request("model: must not be empty"));
    }
    if model.len() > MAX_MODEL_LEN {
        return Err(ApiError::invalid_request(format!(
            "model: must be at most {MAX_MODEL_LEN} bytes, got {}",
            model.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn owned_headers_copy_every_value_out_of_the_shared_buffer() {
        let buffer = bytes::Bytes::from_static(b"sk-secret-valuebeta-1");
        let mut h = HeaderMap::new();
        let mut key = HeaderValue::from_maybe_shared(buffer.slice(0..15)).unwrap();
        key.set_sensitive(true);
        h.append("x-api-key", key);
        h.append(
            "anthropic-beta",
            HeaderValue::from_maybe_shared(buffer.slice(15..)).unwrap(),
        );
        h.append("anthropic-beta", HeaderValue::from_static("b2"));
        let copy = owned_headers(h.clone());
        assert_eq!(copy, h);
        assert!(copy["x-api-key"].is_sensitive());
        let range = buffer.as_ptr_range();
        for v in copy.values() {
            assert!(
                !range.contains(&v.as_bytes().as_ptr()),
                "a value still shares the buffer"
            );
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accepts_either_header() {
        assert!(is_authorized(&headers(&[("x-api-key", "k1")]), b"k1"));
        assert!(is_authorized(
            &headers(&[("authorization", "Bearer k1")]),
            b"k1"
        ));
        assert!(is_authorized(
            &headers(&[("authorization", "bearer  k1 ")]),
            b"k1"
        ));
        assert!(is_authorized(
            &headers(&[("x-api-key", "wrong"), ("authorization", "Bearer k1")]),
            b"k1"
        ));
        assert!(!is_authorized(&headers(&[("x-api-key", "k2")]), b"k1"));
        assert!(!is_authorized(&headers(&[("x-api-key", "k")]), b"k1"));
        assert!(!is_authorized(
            &headers(&[("authorization", "Basic k1")]),
            b"k1"
        ));
        assert!(!is_authorized(&headers(&[]), b"k1"));
    }

    #[test]
    fn the_first_credential_is_the_api_key_header() {
        let h = headers(&[("authorization", "Bearer b"), ("x-api-key", "a")]);
        assert_eq!(credentials(&h).next(), Some(&b"a"[..]));
        let h = headers(&[("authorization", "Bearer b")]);
        assert_eq!(credentials(&h).next(), Some(&b"b"[..]));
    }

    #[test]
    fn openai_endpoints_and_models_without_anthropic_version_get_openai_errors() {
        let none = HeaderMap::new();
        let anthropic = headers(&[("anthropic-version", "2023-06-01")]);
        assert_eq!(
            error_shape("/v1/chat/completions", &anthropic),
            ErrorShape::OpenAi
        );
        assert_eq!(error_shape("/v1/responses", &none), ErrorShape::OpenAi);
        assert_eq!(error_shape("/v1/models", &none), ErrorShape::OpenAi);
        assert_eq!(
            error_shape("/v1/models/x", &anthropic),
            ErrorShape::Anthropic
        );
        assert_eq!(error_shape("/v1/messages", &none), ErrorShape::Anthropic);
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            n: u32,
        }
        let e = parse_json::<T>(br#"{"n":"x"}"#).unwrap_err();
        assert!(e.message.starts_with("n: "), "{}", e.message);
        let e = parse_json::<T>(b"  ").unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
        let e = parse_json::<T>(b"{\"n\":").unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{}", e.message);
    }
}
