//! The routes: the Anthropic API under `/v1` and the OpenAI-compatible
//! `/v1/chat/completions` and `/v1/responses`, admin endpoints and the
//! admin API, the web console under `/ui`, metrics and health, with their
//! middleware, CORS and the body-size limit.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::middleware as mw;
use super::state::AppState;
use crate::error::ApiError;

/// The whole application as a router (tests serve it on a random port).
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/messages", post(super::messages::create_message))
        .route(
            "/v1/messages/count_tokens",
            post(super::count_tokens::count_tokens),
        )
        // OpenAI-compatible endpoints (docs/openai-inbound.md).
        .route(
            "/v1/chat/completions",
            post(super::openai::chat_completions),
        )
        .route("/v1/responses", post(super::openai::create_response))
        .route("/v1/models", get(super::models::list_models))
        // A wildcard: upstream model names may contain `/` (`openai/gpt-4o`).
        .route("/v1/models/{*model_id}", get(super::models::get_model))
        // Inner layer: runs after authentication, so only accepted clients
        // get a rate-limit window.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            mw::rate_limit,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            mw::require_access_key,
        ))
        // Outermost: every answer, refusals included, carries its id.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            mw::with_request_id,
        ));
    let admin = super::admin::routes(&state);
    // Install the recorder before the first request is counted.
    let _ = crate::observe::metrics::handle();
    let mut metrics_route = Router::new().route("/metrics", get(render_metrics));
    if !state.settings.metrics_public {
        metrics_route = metrics_route.route_layer(middleware::from_fn_with_state(
            state.clone(),
            mw::require_access_key,
        ));
    }
    let mut app = Router::new()
        .merge(api)
        .merge(admin)
        .merge(metrics_route)
        .merge(crate::console::routes());
    if state.settings.health_check_enabled {
        app = app.route(
            &state.settings.health_check_path,
            get(super::health::health),
        );
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

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    // Circuit states change with time as well as with requests: read them
    // now.
    for up in &state.live.load().upstreams {
        crate::observe::metrics::record_circuit(&up.config.name, up.circuit.view().gauge());
    }
    match crate::observe::metrics::handle() {
        Some(h) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            h.render() + &crate::observe::metrics::shared_state_lines(&state.shared),
        )
            .into_response(),
        None => ApiError::api("metrics recorder is not available").into_response(),
    }
}
