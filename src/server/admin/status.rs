//! `GET /admin/api/status`: what the proxy runs with, right now — version,
//! uptime, the settings (secrets masked), every upstream with its keys
//! (masked) and their state, its circuit, the current upstream, the router,
//! the strategy, and the request store's state.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::config::{mask_secret, Scenario};
use crate::routing::circuit::CircuitView;
use crate::routing::{LiveState, UpstreamRuntime};
use crate::server::state::AppState;
use crate::server::util::rfc3339;

/// The handler.
pub(crate) async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live.load_full();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs_f64(),
        "settings": settings(&state),
        "upstreams": live
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| upstream_view(&state, &live, i, u))
            .collect::<Vec<_>>(),
        "currentUpstream": live.current().map(|u| json!({
            "index": live.config.current_upstream,
            "name": u.config.name,
        })),
        "router": router(&live),
        "loadBalance": live.config.load_balance.as_str(),
        "store": store_status(&state),
    }))
}

/// The request store's state (`off` with `DATA_DIR=off`).
pub(crate) fn store_status(state: &AppState) -> Value {
    state.store.status_json()
}

/// The settings that shape behaviour; keys masked.
fn settings(state: &AppState) -> Value {
    let s = &state.settings;
    let mask = |k: &Option<String>| k.as_deref().map(mask_secret);
    json!({
        "host": s.host.to_string(),
        "port": s.port,
        "development": s.development,
        "configPath": s.config_path.display().to_string(),
        "proxyAccessKey": mask(&s.proxy_access_key),
        "adminAccessKey": mask(&s.admin_access_key),
        "logLevel": s.log_level,
        "requestTimeoutMs": s.request_timeout.as_millis() as u64,
        "firstByteTimeoutMs": s.first_byte_timeout.as_millis() as u64,
        "streamIdleTimeoutMs": s.stream_idle_timeout.as_millis() as u64,
        "shutdownTimeoutMs": s.shutdown_timeout.as_millis() as u64,
        "maxConcurrentRequests": s.max_concurrent_requests,
        "runningRequests": state.running(),
        "maxBodySize": s.max_body_size,
        "defaultLoadBalance": s.load_balance_strategy.as_str(),
        "enableCors": s.enable_cors,
        "enableRateLimit": s.enable_rate_limit,
        "rateLimitWindowMs": s.rate_limit_window.as_millis() as u64,
        "rateLimitMaxRequests": s.rate_limit_max_requests,
        "healthCheckPath": s.health_check_enabled.then_some(s.health_check_path.as_str()),
        "metricsPublic": s.metrics_public,
        "enableRequestLogs": s.enable_request_logs,
        "enableResponseLogs": s.enable_response_logs,
        "circuitBreaker": {
            "failures": s.circuit_breaker.failures,
            "openMs": s.circuit_breaker.open.as_millis() as u64,
            "maxOpenMs": s.circuit_breaker.max_open.as_millis() as u64,
        },
    })
}

/// One upstream as the admin API shows it: keys masked, with their state.
pub(crate) fn upstream_view(
    state: &AppState,
    live: &LiveState,
    index: usize,
    up: &UpstreamRuntime,
) -> Value {
    let c = &up.config;
    let now = SystemTime::now();
    let keys: Vec<Value> = up
        .keys
        .views()
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            json!({
                "index": i,
                "key": k.masked,
                "state": if k.resting_for.is_some() { "resting" } else { "healthy" },
                "restingUntil": k.resting_for.map(|d| rfc3339(now + d)),
                "restingForMs": k.resting_for.map(|d| d.as_millis() as u64),
                "reason": k.last_failure,
                "consecutiveFailures": k.consecutive_failures,
            })
        })
        .collect();
    let circuit = up.circuit.view();
    let open_until = match circuit {
        CircuitView::Open { until } => {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            Some(rfc3339(now + left))
        }
        CircuitView::Closed | CircuitView::HalfOpen => None,
    };
    let limits = c.circuit_breaker(&state.settings.circuit_breaker);
    json!({
        "index": index,
        "name": c.name,
        "serviceType": c.service_type.as_str(),
        "baseUrl": c.base_url.as_str(),
        "description": c.description,
        "current": index == live.config.current_upstream,
        "keys": keys,
        "modelMapping": c
            .model_mapping
            .entries()
            .iter()
            .map(|(from, to)| (from.clone(), Value::String(to.clone())))
            .collect::<Map<_, _>>(),
        "maxTokens": c.max_tokens,
        "insecureSkipVerify": c.insecure_skip_verify,
        "fallback": c.fallback,
        "loadBalance": up.load_balance(live.config.load_balance).as_str(),
        "circuit": {
            "state": circuit.as_str(),
            "openUntil": open_until,
            "failures": limits.failures,
            "openMs": limits.open.as_millis() as u64,
            "maxOpenMs": limits.max_open.as_millis() as u64,
        },
    })
}

/// The router as it runs: each scenario's targets, the threshold and the
/// rules; `null` without a `router` object.
fn router(live: &LiveState) -> Value {
    let Some(router) = &live.config.router else {
        return Value::Null;
    };
    let labels = |targets: &[crate::config::RouteTarget]| -> Vec<String> {
        targets
            .iter()
            .map(|t| live.config.target_label(t))
            .collect()
    };
    let scenarios: Map<String, Value> = Scenario::ALL
        .iter()
        .filter_map(|s| {
            router
                .scenario(*s)
                .map(|t| (s.as_str().to_owned(), json!(labels(t))))
        })
        .collect();
    let rules: Vec<Value> = router
        .rules()
        .iter()
        .map(|r| {
            json!({
                "model": r.model().map(|g| g.as_str()),
                "headers": r.headers().iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>(),
                "to": labels(r.targets()),
            })
        })
        .collect();
    json!({
        "scenarios": scenarios,
        "longContextThreshold": router.long_context_threshold(),
        "rules": rules,
    })
}
