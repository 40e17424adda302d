//! `GET /health` (path from HEALTH_CHECK_PATH): liveness and a summary of the
//! configuration (per upstream: keys, resting keys, circuit state). No auth,
//! and nothing secret: counts only, never keys.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::state::AppState;
use super::util::{rfc3339, rfc3339_now};
use crate::routing::circuit::CircuitView;
use std::time::SystemTime;

pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live.load();
    let upstreams: Vec<Value> = live
        .upstreams
        .iter()
        .map(|u| {
            let circuit = u.circuit.view();
            let open_until = match circuit {
                CircuitView::Open { until } => {
                    let left = until.saturating_duration_since(tokio::time::Instant::now());
                    Some(rfc3339(SystemTime::now() + left))
                }
                CircuitView::Closed | CircuitView::HalfOpen => None,
            };
            json!({
                "name": u.config.name,
                "serviceType": u.config.service_type.as_str(),
                "keys": u.keys.len(),
                "restingKeys": u.keys.resting_count(),
                "circuit": circuit.as_str(),
                "openUntil": open_until,
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
