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

/// The one middleware of the API routes, in this order: the request's
/// `req_…` id (handlers find it as [`RequestId`]; every answer, refusals
/// included, carries it as the `request-id` header), the header-size check,
/// authentication, `ENABLE_RATE_LIMIT` and a client key's own limits; then
/// the response body log (`ENABLE_RESPONSE_LOGS`) and the capture of both
/// bodies for the store (`STORE_BODIES`). One layer instead of four: each
/// `from_fn` layer boxes the rest of the request's future and clones the
/// inner service, on every request.
pub(crate) async fn api_gate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let rid = request_id();
    req.extensions_mut().insert(RequestId(rid.clone()));
    // STORE_BODIES: the bodies are stored with the request's row.
    let bodies = crate::store::bodies::BodyCapture::start(&state, &rid, &mut req);
    // Boxed: the checks' state (3.7 KB, Redis calls included in fleet mode)
    // would otherwise stay allocated with this future while the handler
    // waits on the upstream.
    let mut resp = match Box::pin(admit(&state, &mut req)).await {
        Ok(()) => next.run(req).await,
        Err(refused) => refused,
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

/// Everything that may refuse a request before its body is read; on
/// success the caller is in the request's extensions as a [`Caller`].
async fn admit(state: &AppState, req: &mut Request) -> Result<(), Response> {
    if let Some(name) = oversized_header(req.headers()) {
        return Err(ApiError::invalid_request(format!(
            "header {name}: the value is longer than {MAX_HEADER_VALUE} bytes"
        ))
        .into_response());
    }
    let refused = |e: ApiError, req: &Request| {
        e.into_response_as(error_shape(req.uri().path(), req.headers()))
    };
    let caller = authenticate(state, req.headers()).map_err(|e| refused(e, req))?;
    // After authentication, so only accepted clients get a window.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    rate_limit(state, ip, req.headers())
        .await
        .map_err(|e| refused(e, req))?;
    if let Caller::Client(entry) = &caller {
        client_limits(entry).await.map_err(|e| refused(e, req))?;
    }
    req.extensions_mut().insert(caller);
    Ok(())
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

/// The caller the credentials name (the proxy access key or a client key,
/// in `x-api-key` or `Authorization: Bearer`): the all-access key first,
/// then a client key (by its SHA-256 digest), or a 401. The client's
/// credentials are consumed here and never forwarded upstream.
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
async fn client_limits(entry: &Arc<clients::ClientEntry>) -> Result<(), ApiError> {
    match entry.admit(crate::time::now_ms()).await {
        Ok(()) => Ok(()),
        Err(r) => {
            let e = clients::refusal_error(&entry.config.name, &r);
            tracing::warn!(client = %entry.config.name, error = %e.message, "client limit reached");
            Err(e)
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

/// `ENABLE_RATE_LIMIT` for `/v1/*`. The same key counts once whether it
/// came as `x-api-key` or as a bearer token.
async fn rate_limit(
    state: &AppState,
    ip: IpAddr,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    let Some(limiter) = state.rate_limiter.as_ref() else {
        return Ok(());
    };
    let credential = credentials(headers).next();
    match limiter.admit(ip, credential).await {
        Ok(()) => Ok(()),
        Err(l) => {
            tracing::warn!(client = %ip, retry_after = l.retry_after_secs, "client rate limit reached");
            Err(ApiError::new(
                ErrorKind::RateLimit,
                format!(
                    "rate limit of {} requests per {} s reached for this client (ENABLE_RATE_LIMIT); retry in {} s",
                    limiter.max(),
                    limiter.window().as_secs_f64(),
                    l.retry_after_secs
                ),
            )
            .with_retry_after(Some(l.retry_after_secs)))
        }
    }
}
