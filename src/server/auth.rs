//! Client authentication: the proxy access key in `x-api-key` or
//! `Authorization: Bearer`, compared in constant time. The client's
//! credentials are consumed here and never forwarded upstream.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::state::AppState;
use crate::error::ApiError;

/// Every credential the client presented (both headers may be present: the
/// official SDK sends both when both are configured).
fn presented(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
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
pub fn is_authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let mut ok = 0u8;
    let mut any = false;
    for candidate in presented(headers) {
        any = true;
        ok |= candidate.ct_eq(expected).unwrap_u8();
    }
    any && ok == 1
}

pub async fn require_access_key(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if is_authorized(req.headers(), &state.access_key) {
        return next.run(req).await;
    }
    let message = if presented(req.headers()).next().is_none() {
        "missing API key: send the proxy access key in the x-api-key header or as Authorization: Bearer <key>"
    } else {
        "invalid API key: the key does not match PROXY_ACCESS_KEY"
    };
    ApiError::authentication(message).into_response()
}

pub async fn require_admin_key(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if is_authorized(req.headers(), &state.admin_key) {
        return next.run(req).await;
    }
    ApiError::authentication(
        "admin endpoints require ADMIN_ACCESS_KEY (or PROXY_ACCESS_KEY when unset)",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
}
