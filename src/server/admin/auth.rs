//! Who may use `/admin/api`: a caller with the admin key (`x-api-key` or
//! `Authorization: Bearer`, as for `/admin/config/reload`), or the console
//! with its session cookie. A browser attaches a cookie to any request, so
//! a state-changing call on a cookie also needs the session's CSRF token in
//! `x-csrf-token`, and an `Origin`, when the browser sends one, must be
//! this server. A key in a header is never sent by a browser on its own,
//! so calls with the key need neither.
//!
//! Login (`POST /admin/api/login`) trades the admin key for the cookie;
//! wrong keys slow the address down (see [`super::session`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorKind};
use crate::server::extract::{credentials, is_authorized, parse_json};
use crate::server::session::{ConsoleAuth, Session, COOKIE, SESSION_TTL};
use crate::server::state::AppState;
use crate::server::util::rfc3339;

/// The header that carries the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// How an admin request was let in; handlers find it as an extension.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The admin key in a header.
    Key,
    /// The console's session cookie.
    Console(Session),
}

/// The middleware of every `/admin/api` route but login.
pub(crate) async fn require_admin(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_authorized(req.headers(), &state.admin_key) {
        req.extensions_mut().insert(Caller::Key);
        return next.run(req).await;
    }
    // A wrong key is refused even when a cookie came along: the caller
    // meant to use the key.
    if credentials(req.headers()).next().is_some() {
        return ApiError::authentication(
            "invalid admin key: it does not match ADMIN_ACCESS_KEY (or PROXY_ACCESS_KEY when unset)",
        )
        .into_response();
    }
    let Some(session) = session_of(&state.console, req.headers()) else {
        return ApiError::authentication(
            "the admin API needs the admin key (x-api-key or Authorization: Bearer) or a console session (POST /admin/api/login)",
        )
        .into_response();
    };
    if !is_safe(req.method()) {
        if let Err(e) = check_same_origin(req.headers()) {
            return e.into_response();
        }
        let token = req
            .headers()
            .get(CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !ConsoleAuth::csrf_matches(&session, token) {
            return ApiError::new(
                ErrorKind::Permission,
                "missing or wrong x-csrf-token: state-changing calls from the console need the session's CSRF token",
            )
            .into_response();
        }
    }
    req.extensions_mut().insert(Caller::Console(session));
    next.run(req).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session the request's cookie names, if it is valid.
fn session_of(auth: &ConsoleAuth, headers: &HeaderMap) -> Option<Session> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .find_map(|(_, value)| auth.verify(value))
}

/// An `Origin` header, when present, must name this host (either scheme:
/// a TLS-terminating proxy in front may not say which one the browser
/// used).
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    if !host.is_empty() && origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host)) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Permission,
            "cross-origin request refused: the admin API only takes the console's own origin",
        ))
    }
}

/// Whether the browser reached us over HTTPS (directly, or through a proxy
/// that says so): then the cookie is `Secure`.
fn is_https(req_headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    uri.scheme_str() == Some("https")
        || req_headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn cookie_header(value: &str, max_age: u64, secure: bool) -> Result<HeaderValue, ApiError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(|_| ApiError::api("internal error: bad cookie"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    key: String,
}

/// `POST /admin/api/login` `{"key": "<admin key>"}`: sets the session
/// cookie and answers the CSRF token.
pub(crate) async fn login(State(state): State<Arc<AppState>>, req: Request) -> Response {
    // The peer address, as the accept loop recorded it (a forwarded-for
    // header is the client's word and could name any address).
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match try_login(&state, ip, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn try_login(
    state: &Arc<AppState>,
    ip: Option<IpAddr>,
    req: Request,
) -> Result<Response, ApiError> {
    let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    check_same_origin(req.headers())?;
    if let Err(wait) = state.console.login_allowed(ip) {
        return Err(locked_out(wait));
    }
    let secure = is_https(req.headers(), req.uri());
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let body: LoginBody = parse_json(&body)?;
    let ok: bool = body.key.trim().as_bytes().ct_eq(&state.admin_key).into();
    if !ok {
        let lockout = state.console.login_failed(ip);
        tracing::warn!(client = %ip, locked_for_s = lockout.map(|l| l.as_secs()), "console login with a wrong admin key");
        return Err(match lockout {
            Some(wait) => locked_out(wait),
            None => ApiError::authentication("wrong admin key"),
        });
    }
    state.console.login_succeeded(ip);
    let (session, cookie) = state.console.create();
    tracing::info!(client = %ip, "console login");
    let mut resp = Json(session_json(&session)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(&cookie, SESSION_TTL.as_secs(), secure)?,
    );
    Ok(resp)
}

fn locked_out(wait: std::time::Duration) -> ApiError {
    let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
    ApiError::new(
        ErrorKind::RateLimit,
        format!("too many wrong admin keys from this address; try again in {secs} s"),
    )
    .with_retry_after(Some(secs))
}

fn session_json(session: &Session) -> serde_json::Value {
    json!({
        "authenticated": true,
        "via": "session",
        "csrfToken": session.csrf,
        "expiresAt": rfc3339(session.expires),
    })
}

/// `GET /admin/api/session`: who is calling; the console's CSRF token.
pub(crate) async fn session(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    Json(match caller {
        Caller::Key => {
            json!({"authenticated": true, "via": "key", "csrfToken": null, "expiresAt": null})
        }
        Caller::Console(s) => session_json(&s),
    })
}

/// `POST /admin/api/logout`: ends the session on the server and clears
/// the cookie.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Caller::Console(s) = &caller {
        state.console.end(s);
    }
    let mut resp = Json(json!({"authenticated": false})).into_response();
    if let Ok(v) = cookie_header("", 0, is_https(&headers, &uri)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_be_this_host() {
        assert!(check_same_origin(&headers(&[("host", "a:3000")])).is_ok());
        assert!(
            check_same_origin(&headers(&[("host", "a:3000"), ("origin", "http://a:3000")])).is_ok()
        );
        assert!(check_same_origin(&headers(&[
            ("host", "a:3000"),
            ("origin", "https://A:3000")
        ]))
        .is_ok());
        assert!(
            check_same_origin(&headers(&[("host", "a:3000"), ("origin", "http://evil")])).is_err()
        );
        assert!(check_same_origin(&headers(&[("host", "a:3000"), ("origin", "null")])).is_err());
        assert!(check_same_origin(&headers(&[("origin", "http://a:3000")])).is_err());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let auth = ConsoleAuth::new();
        let (_, value) = auth.create();
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}=forged; {COOKIE}={value}")).unwrap(),
        );
        assert!(session_of(&auth, &h).is_some());
        assert!(session_of(&auth, &headers(&[("cookie", "a=b")])).is_none());
    }

    #[test]
    fn secure_when_https() {
        let uri: axum::http::Uri = "/admin/api/login".parse().unwrap();
        assert!(!is_https(&HeaderMap::new(), &uri));
        assert!(is_https(&headers(&[("x-forwarded-proto", "https")]), &uri));
        assert!(is_https(
            &headers(&[("x-forwarded-proto", "HTTPS, http")]),
            &uri
        ));
        let v = cookie_header("x", 5, true).unwrap();
        let v = v.to_str().unwrap();
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.ends_with("; Secure"));
    }
}
