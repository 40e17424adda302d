//! The HTTP server: router, middleware, handlers and shared state.

pub mod auth;
pub mod body_log;
pub mod count_tokens;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod models;
pub mod observe;
pub mod rate_limit;
pub mod respond;
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
        // Inner layer: runs after authentication, so only accepted clients
        // get a rate-limit window.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_access_key,
        ));
    let mut admin = Router::new().route("/admin/config/reload", post(reload_config));
    if state.settings.development {
        admin = admin.route("/admin/dev/info", get(dev_info));
    }
    let admin = admin.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_admin_key,
    ));
    // Install the recorder before the first request is counted.
    let _ = metrics::handle();
    let mut metrics_route = Router::new().route("/metrics", get(render_metrics));
    if !state.settings.metrics_public {
        metrics_route = metrics_route.route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_access_key,
        ));
    }
    let mut app = Router::new().merge(api).merge(admin).merge(metrics_route);
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

async fn render_metrics() -> Response {
    match metrics::handle() {
        Some(h) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            h.render(),
        )
            .into_response(),
        None => ApiError::api("metrics recorder is not available").into_response(),
    }
}

/// `GET /admin/dev/info` (NODE_ENV=development only): settings and the
/// running configuration, every secret masked.
async fn dev_info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
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

/// Watches config.json and swaps in every valid new version; an invalid one
/// is logged and the running configuration kept. Dropping the guard stops it.
pub fn watch_config_file(state: &Arc<AppState>) -> Option<crate::config::watch::WatchGuard> {
    let st = state.clone();
    let path = state.settings.config_path.clone();
    let watched = crate::config::watch::watch_config(path.clone(), move || match st.reload() {
        Ok(live) => tracing::info!(
            upstreams = live.config.upstreams.len(),
            current = live
                .current()
                .map(|u| u.config.name.as_str())
                .unwrap_or("-"),
            "config file changed; configuration reloaded"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "config file changed but cannot be used; keeping the running configuration"
        ),
    });
    match watched {
        Ok(guard) => Some(guard),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "hot reload is off: cannot watch the config file");
            None
        }
    }
}

/// Largest read buffer of a client connection. hyper grows a connection's
/// buffer to fit what arrives (up to ~400 KB) and, while a response is
/// pending, keeps reading into a buffer of that size to notice a client that
/// hangs up: a 55 KB Claude Code body left ~100 KB per connection held for as
/// long as the upstream took to answer. Larger bodies take more reads.
const MAX_CONN_READ_BUFFER: usize = 8 * 1024;

/// Accepts connections until `signal` resolves, then closes the listener
/// (new connections are refused) and waits for the open ones to finish.
/// Each connection's service sees the peer address as `ConnectInfo`.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_CONN_READ_BUFFER);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Small SSE writes must leave at once: with Nagle's algorithm on, a
        // write that follows an unacknowledged one waits for the client's
        // delayed ACK (40 ms on Linux).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut app = app.clone();
                async move {
                    use tower::Service;
                    app.call(req.map(axum::body::Body::new)).await
                }
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that hangs up mid-request is routine, not an error.
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves until `shutdown` resolves, then stops accepting (the listener is
/// closed, so new connections are refused) and lets running requests finish
/// for up to `SHUTDOWN_TIMEOUT`; after that it returns anyway.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The tokenizer tables (~40 MB) are built on the first count_tokens
    // request, on the blocking pool: a proxy nobody asks to count stays small.
    let deadline = state.settings.shutdown_timeout;
    let app = router(state.clone());
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = signalled_tx.send(());
    };
    let server = accept_loop(listener, app, signal);
    // Resolves only once the signal came and the deadline passed.
    let give_up = async move {
        if signalled_rx.await.is_err() {
            // The server ended before any signal: nothing to wait for.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(deadline).await;
    };
    tokio::select! {
        done = server => done,
        () = give_up => {
            let running = state
                .inflight
                .as_ref()
                .map(|s| state.settings.max_concurrent_requests.saturating_sub(s.available_permits()));
            tracing::warn!(
                running_requests = running,
                timeout_ms = deadline.as_millis() as u64,
                "SHUTDOWN_TIMEOUT passed with requests still running; exiting anyway"
            );
            Ok(())
        }
    }
}
