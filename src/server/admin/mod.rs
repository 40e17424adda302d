//! Admin endpoints: `/admin/config/reload` and the development-only
//! `/admin/dev/info` (admin key only), and the admin API under
//! `/admin/api` that the console uses (admin key or console session, see
//! [`auth`]). Nothing here shows a secret unmasked.
//!
//! | file | routes |
//! |---|---|
//! | [`auth`] (sessions: `server/session.rs`) | `login`, `logout`, `session`; who may call the rest |
//! | [`status`] | `GET status` |
//! | [`clients`] | `clients`: named client keys, their limits and usage |
//! | [`upstreams`] | every change of `config.json`, and `upstreams/{name}/test` |

mod auth;
mod clients;
mod status;
mod upstreams;

pub(crate) mod store_api;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{middleware, Json, Router};

use super::state::AppState;
use crate::error::ApiError;
use crate::routing::LiveState;

/// Every admin route, each behind its authentication.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let mut by_key = Router::new().route("/admin/config/reload", post(reload_config));
    if state.settings.development {
        by_key = by_key.route("/admin/dev/info", get(dev_info));
    }
    let by_key = by_key.route_layer(middleware::from_fn_with_state(
        state.clone(),
        super::middleware::require_admin_key,
    ));
    let api = api_routes().route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_admin,
    ));
    // Login is the one route without credentials (it takes the key in
    // its body).
    let login = Router::new().route("/admin/api/login", post(auth::login));
    Router::new().merge(by_key).merge(api).merge(login)
}

/// The authenticated `/admin/api` routes. The request store's routes
/// (`requests`, `requests/live`, `usage`) are merged in here.
fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/api/session", get(auth::session))
        .route("/admin/api/logout", post(auth::logout))
        .route("/admin/api/status", get(status::status))
        .route("/admin/api/upstreams", post(upstreams::create))
        .route(
            "/admin/api/upstreams/{name}",
            patch(upstreams::update).delete(upstreams::remove),
        )
        .route(
            "/admin/api/upstreams/{name}/keys",
            post(upstreams::add_keys),
        )
        .route(
            "/admin/api/upstreams/{name}/keys/{index}",
            delete(upstreams::remove_key),
        )
        .route(
            "/admin/api/upstreams/{name}/mapping",
            put(upstreams::set_mapping),
        )
        .route("/admin/api/upstreams/{name}/test", post(upstreams::test))
        .route("/admin/api/current", put(upstreams::set_current))
        .route("/admin/api/balance", put(upstreams::set_balance))
        .route(
            "/admin/api/clients",
            get(clients::list).post(clients::create),
        )
        .route(
            "/admin/api/clients/{name}",
            patch(clients::update).delete(clients::remove),
        )
        .route("/admin/api/clients/{name}/rotate", post(clients::rotate))
        .route("/admin/api/clients/{name}/disable", post(clients::disable))
        .route("/admin/api/clients/{name}/enable", post(clients::enable))
        // The request store: requests, requests/live, requests/{id}, usage.
        .nest("/admin/api", store_api::routes())
}

/// `POST /admin/config/reload`.
pub(crate) async fn reload_config(State(state): State<Arc<AppState>>) -> Response {
    match state.reload() {
        Ok(live) => {
            tracing::info!(
                upstreams = live.config.upstreams.len(),
                "configuration reloaded on request"
            );
            Json(serde_json::json!({
                "status": "reloaded",
                "config": config_summary(&live),
            }))
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed; keeping the running configuration");
            let mut err = ApiError::invalid_request(format!(
                "reload failed, running configuration kept: {e}"
            ));
            err.status = StatusCode::UNPROCESSABLE_ENTITY;
            err.into_response()
        }
    }
}

/// `GET /admin/dev/info` (NODE_ENV=development only): settings and the
/// running configuration, every secret masked.
pub(crate) async fn dev_info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let s = &state.settings;
    let live = state.live.load();
    let mask = |k: &Option<String>| k.as_deref().map(crate::config::mask_secret);
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": state.started.elapsed().as_secs_f64(),
        "settings": {
            "host": s.host.to_string(),
            "port": s.port,
            "configPath": s.config_path.display().to_string(),
            "proxyAccessKey": mask(&s.proxy_access_key),
            "adminAccessKey": mask(&s.admin_access_key),
            "logLevel": s.log_level,
            "requestTimeoutMs": s.request_timeout.as_millis() as u64,
            "firstByteTimeoutMs": s.first_byte_timeout.as_millis() as u64,
            "streamIdleTimeoutMs": s.stream_idle_timeout.as_millis() as u64,
            "shutdownTimeoutMs": s.shutdown_timeout.as_millis() as u64,
            "maxConcurrentRequests": s.max_concurrent_requests,
            "maxBodySize": s.max_body_size,
            "enableCors": s.enable_cors,
            "corsOrigin": s.cors_origin,
            "enableRateLimit": s.enable_rate_limit,
            "rateLimitWindowMs": s.rate_limit_window.as_millis() as u64,
            "rateLimitMaxRequests": s.rate_limit_max_requests,
            "enableRequestLogs": s.enable_request_logs,
            "enableResponseLogs": s.enable_response_logs,
        },
        "config": config_summary(&live),
        "inflightPermitsAvailable": state.inflight.as_ref().map(|s| s.available_permits()),
    }))
}

/// The configuration as admin endpoints show it: keys masked.
pub(crate) fn config_summary(live: &LiveState) -> serde_json::Value {
    let upstreams: Vec<_> = live
        .upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let c = &u.config;
            serde_json::json!({
                "index": i,
                "name": c.name,
                "serviceType": c.service_type.as_str(),
                "baseUrl": c.base_url.as_str(),
                "apiKeys": c.api_keys.iter().map(|k| k.masked()).collect::<Vec<_>>(),
                "modelMapping": c
                    .model_mapping
                    .entries()
                    .iter()
                    .map(|(from, to)| (from.clone(), serde_json::Value::String(to.clone())))
                    .collect::<serde_json::Map<_, _>>(),
                "insecureSkipVerify": c.insecure_skip_verify,
                "maxTokens": c.max_tokens,
                "fallback": c.fallback,
                "keys": u.keys.len(),
                "restingKeys": u.keys.resting_count(),
                "current": i == live.config.current_upstream,
            })
        })
        .collect();
    serde_json::json!({
        "upstream": upstreams,
        "currentUpstream": live.config.current_upstream,
        "loadBalance": live.config.load_balance.as_str(),
    })
}
