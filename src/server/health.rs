//! `GET /health` (path from HEALTH_CHECK_PATH): liveness and a summary of the
//! configuration. No auth, and nothing secret: counts only, never keys.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::state::AppState;
use super::util::rfc3339_now;

pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live.load();
    let upstreams: Vec<Value> = live
        .upstreams
        .iter()
        .map(|u| {
            json!({
                "name": u.config.name,
                "serviceType": u.config.service_type.as_str(),
                "keys": u.keys.len(),
                "restingKeys": u.keys.resting_count(),
            })
        })
        .collect();
    Json(json!({
        "status": "healthy",
        "timestamp": rfc3339_now(),
        "uptime": state.started.elapsed().as_secs_f64(),
        "mode": if state.settings.development { "development" } else { "production" },
        "version": env!("CARGO_PKG_VERSION"),
        "config": {
            "upstreamCount": live.config.upstreams.len(),
            "currentUpstream": live.config.current_upstream,
            "currentUpstreamName": live.current().map(|u| u.config.name.as_str()),
            "loadBalance": live.config.load_balance.as_str(),
            "upstreams": upstreams,
        }
    }))
}
