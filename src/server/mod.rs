//! The HTTP server: router, middleware, handlers and shared state.

pub mod auth;
pub mod count_tokens;
pub mod health;
pub mod messages;
pub mod models;
pub mod state;
pub mod stream;
pub mod upstream;
pub mod util;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;
pub use state::AppState;

/// The whole application as a router (tests serve it on a random port).
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/messages", post(messages::create_message))
        .route(
            "/v1/messages/count_tokens",
            post(count_tokens::count_tokens),
        )
        .route("/v1/models", get(models::list_models))
        // A wildcard: upstream model names may contain `/` (`openai/gpt-4o`).
        .route("/v1/models/{*model_id}", get(models::get_model))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_access_key,
        ));
    let admin = Router::new()
        .route("/admin/config/reload", post(reload_config))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin_key,
        ));
    let mut app = Router::new().merge(api).merge(admin);
    if state.settings.health_check_enabled {
        app = app.route(&state.settings.health_check_path, get(health::health));
    }
    let mut app = app
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.settings.max_body_size));
    if state.settings.enable_cors {
        app = app.layer(cors_layer(&state.settings.cors_origin));
    }
    app.with_state(state)
}

fn cors_layer(origin: &str) -> CorsLayer {
    let origins = if origin.trim() == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origin
                .split(',')
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("anthropic-version"),
            HeaderName::from_static("anthropic-beta"),
            HeaderName::from_static("anthropic-dangerous-direct-browser-access"),
        ])
        .expose_headers([HeaderName::from_static("request-id")])
        .max_age(std::time::Duration::from_secs(3600))
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    if method == Method::HEAD {
        return StatusCode::NOT_FOUND.into_response();
    }
    ApiError::not_found(format!("no route for {method} {}", uri.path())).into_response()
}

async fn reload_config(State(state): State<Arc<AppState>>) -> Response {
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

/// The configuration as admin endpoints show it: keys masked.
pub fn config_summary(live: &state::LiveState) -> serde_json::Value {
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

/// Serves until `shutdown` resolves, then stops accepting and lets running
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Build the tokenizer tables off the async workers now, so the first
    // count_tokens request does not pay for them.
    tokio::task::spawn_blocking(crate::tokens::warm_up);
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
