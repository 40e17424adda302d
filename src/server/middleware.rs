//! Middleware of the API routes: request ids (and response body logs),
//! client authentication, and the per-client rate limit. Their refusals
//! come in the error shape the client expects (`extract::error_shape`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::{credentials, error_shape, is_authorized, RequestId};
use super::state::AppState;
use super::util::request_id;
use crate::clients::{self, Caller};
use crate::error::{ApiError, ErrorKind};

/// Gives the request its `req_…` id (handlers find it as [`RequestId`]),
/// sends it back as the `request-id` header, logs the response body when
/// `ENABLE_RESPONSE_LOGS` is on, and captures both bodies for the store when
/// `STORE_BODIES` is.
pub(crate) async fn with_request_id(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let rid = request_id();
    req.extensions_mut().insert(RequestId(rid.clone()));
    // STORE_BODIES: the bodies are stored with the request's row.
    let bodies = crate::store::bodies::BodyCapture::start(&state, &rid, &mut req);
    let mut resp = match oversized_header(req.headers()) {
        Some(name) => ApiError::invalid_request(format!(
            "header {name}: the value is longer than {MAX_HEADER_VALUE} bytes"
        ))
        .into_response(),
        None => next.run(req).await,
    };
    if let Some(bodies) = bodies {
        resp = bodies.finish(resp);
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("request-id", v);
    }
    if state.settings.enable_response_logs {
        resp = super::body_log::log_response(rid, resp);
    }
    resp
}

/// Longest header value a request may carry (the whole request head is
/// bounded by the connection's 8 KB read buffer: beyond that, 431).
const MAX_HEADER_VALUE: usize = 4096;

/// The first header whose value is longer than [`MAX_HEADER_VALUE`].
fn oversized_header(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .iter()
        .find(|(_, v)| v.len() > MAX_HEADER_VALUE)
        .map(|(k, _)| k.as_str())
}

/// The proxy access key or a client key, in `x-api-key` or
/// `Authorization: Bearer`. Who it is goes into the request's extensions
/// as a [`Caller`]. The client's credentials are consumed here and never
/// forwarded upstream.
pub(crate) async fn require_access_key(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    match authenticate(&state, req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response_as(error_shape(req.uri().path(), req.headers())),
    }
}

/// Only `PROXY_ACCESS_KEY` (for `/metrics`, which shows every client's
/// usage: no client key may read it).
pub(crate) async fn require_all_access_key(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if is_authorized(req.headers(), &state.access_key) {
        return next.run(req).await;
    }
    ApiError::authentication("this endpoint requires PROXY_ACCESS_KEY").into_response()
}

/// The caller the credentials name: the all-access key first, then a
/// client key (by its SHA-256 digest), or a 401.
fn authenticate(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
    if is_authorized(headers, &state.access_key) {
        return Ok(Caller::AllAccess);
    }
    let live = state.live.load();
    for candidate in credentials(headers) {
        if let Some(entry) = live.clients.lookup(candidate) {
            if let Some(refused) = clients::unusable(entry, crate::time::now_ms()) {
                tracing::warn!(client = %entry.config.name, error = %refused.message, "client key refused");
                return Err(refused);
            }
            return Ok(Caller::Client(entry.clone()));
        }
    }
    let message = if credentials(headers).next().is_none() {
        "missing API key: send the proxy access key or your client key in the x-api-key header or as Authorization: Bearer <key>"
    } else if live.clients.is_empty() {
        "invalid API key: the key does not match PROXY_ACCESS_KEY"
    } else {
        "invalid API key: the key does not match PROXY_ACCESS_KEY or any client key"
    };
    Err(ApiError::authentication(message))
}

/// A client key's `rpm`, `tpm` and budgets, checked before the request is
/// read (so a refused request costs nothing and reaches no upstream). The
/// all-access key has no client limits.
pub(crate) async fn client_limits(req: Request, next: Next) -> Response {
    let entry = match req.extensions().get::<Caller>() {
        Some(Caller::Client(entry)) => Some(entry.clone()),
        _ => None,
    };
    let refused = match entry {
        Some(entry) => entry
            .admit(crate::time::now_ms())
            .await
            .err()
            .map(|r| (entry.config.name.clone(), r)),
        None => None,
    };
    match refused {
        None => next.run(req).await,
        Some((name, r)) => {
            let e = clients::refusal_error(&name, &r);
            tracing::warn!(client = %name, error = %e.message, "client limit reached");
            e.into_response_as(error_shape(req.uri().path(), req.headers()))
        }
    }
}

/// The admin key on `/admin/*`.
pub(crate) async fn require_admin_key(
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

/// `ENABLE_RATE_LIMIT` for `/v1/*` (runs after authentication, so only
/// accepted clients get a window). The same key counts once whether it came
/// as `x-api-key` or as a bearer token.
pub(crate) async fn rate_limit(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(limiter) = state.rate_limiter.as_ref() else {
        return next.run(req).await;
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let credential = credentials(req.headers()).next();
    match limiter.admit(ip, credential).await {
        Ok(()) => next.run(req).await,
        Err(l) => {
            tracing::warn!(client = %ip, retry_after = l.retry_after_secs, "client rate limit reached");
            ApiError::new(
                ErrorKind::RateLimit,
                format!(
                    "rate limit of {} requests per {} s reached for this client (ENABLE_RATE_LIMIT); retry in {} s",
                    limiter.max(),
                    limiter.window().as_secs_f64(),
                    l.retry_after_secs
                ),
            )
            .with_retry_after(Some(l.retry_after_secs))
            .into_response_as(error_shape(req.uri().path(), req.headers()))
        }
    }
}
