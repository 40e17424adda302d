//! `/admin/api/clients`: named client keys (docs/clients.md, docs/admin-api.md).
//!
//! `GET` lists every client with its limits, what it has used (this minute,
//! today, this month) and what is left of its budgets, from the running
//! configuration and its in-memory meters: no key material, and only the
//! first 8 hex digits of a key's digest. Changes go through the CLI's edit
//! functions (`commands::clients`) and the locked, atomic writer, then the
//! server reloads: a rotated or disabled key is refused from the next
//! request on, on every connection. A new or rotated key is in the answer
//! once, and nowhere else.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::upstreams::{body, nullable, path_name, respond, write};
use crate::clients::ClientEntry;
use crate::commands::clients::{self, ClientLimits, Setting};
use crate::error::ApiError;
use crate::routing::LiveState;
use crate::server::state::AppState;

/// A client as the admin API shows it, with its usage as of `now`.
pub(crate) fn client_view(entry: &ClientEntry, now: i64) -> Value {
    let c = &entry.config;
    let used = entry.meter.view(now);
    let l = &c.limits;
    let expired = c.expires_ms.is_some_and(|e| now >= e);
    let state = if c.disabled {
        "disabled"
    } else if expired {
        "expired"
    } else {
        "active"
    };
    let exhausted = l.daily_tokens.is_some_and(|d| used.day_tokens >= d)
        || l.monthly_cost_usd.is_some_and(|m| used.month_cost_usd >= m);
    json!({
        "name": c.name,
        "key": c.key_digest.short(),
        "state": state,
        "budgetSpent": exhausted,
        "models": (!c.models.is_empty()).then(|| c.model_patterns()),
        "upstreams": c.upstreams,
        "rpm": l.rpm,
        "tpm": l.tpm,
        "dailyTokens": l.daily_tokens,
        "monthlyCostUsd": l.monthly_cost_usd,
        "expires": c.expires_ms.map(crate::time::rfc3339),
        "disabled": c.disabled,
        "created": c.created,
        "usage": {
            "minuteRequests": used.minute_requests,
            "minuteTokens": used.minute_tokens,
            "dayTokens": used.day_tokens,
            "monthCostUsd": round_cents(used.month_cost_usd),
        },
        "remaining": {
            "dailyTokens": l.daily_tokens.map(|d| d.saturating_sub(used.day_tokens)),
            "monthlyCostUsd": l.monthly_cost_usd.map(|m| round_cents((m - used.month_cost_usd).max(0.0))),
        },
        "resets": {
            "minute": crate::time::rfc3339(used.minute_resets_ms),
            "day": crate::time::rfc3339(used.day_resets_ms),
            "month": crate::time::rfc3339(used.month_resets_ms),
        },
    })
}

/// US$ to 1/10 000 (what a table shows without float noise).
fn round_cents(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn view_named(live: &LiveState, name: &str) -> Value {
    live.clients
        .find(name.trim())
        .map(|e| client_view(e, crate::time::now_ms()))
        .unwrap_or(Value::Null)
}

/// `GET /admin/api/clients`.
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Response {
    let live = state.live.load();
    let now = crate::time::now_ms();
    let clients: Vec<Value> = live.clients.iter().map(|e| client_view(e, now)).collect();
    Json(json!({ "clients": clients })).into_response()
}

/// The limits of a create or patch body; `null` removes one.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LimitsBody {
    #[serde(default, deserialize_with = "nullable")]
    models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    upstreams: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    rpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    daily_tokens: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    monthly_cost_usd: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    expires: Option<Option<String>>,
}

impl LimitsBody {
    fn limits(self) -> ClientLimits {
        fn setting<T>(v: Option<Option<T>>) -> Option<Setting<T>> {
            v.map(|v| v.map_or(Setting::Clear, Setting::Set))
        }
        let list = |v: Option<Option<Vec<String>>>| {
            v.map(|v| match v {
                // An empty list means no restriction, like `null`.
                Some(list) if !list.is_empty() => list,
                _ => vec!["none".to_owned()],
            })
        };
        ClientLimits {
            models: list(self.models),
            upstreams: list(self.upstreams),
            rpm: setting(self.rpm),
            tpm: setting(self.tpm),
            daily_tokens: setting(self.daily_tokens),
            monthly_cost: setting(self.monthly_cost_usd),
            expires: setting(self.expires),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    name: String,
    #[serde(flatten)]
    limits: LimitsBody,
}

/// `POST /admin/api/clients`: as `config client add`; the new key is in
/// the answer, once.
pub(crate) async fn create(State(state): State<Arc<AppState>>, raw: Bytes) -> Response {
    respond(
        async {
            let b: CreateBody = body(&raw)?;
            let name = b.name.trim().to_owned();
            let limits = b.limits.limits();
            let created = crate::time::rfc3339(crate::time::now_ms());
            let n = name.clone();
            let (key, live) = write(&state, move |raw| {
                clients::add(raw, &n, &limits, &created).map_err(ApiError::invalid_request)
            })
            .await?;
            Ok((
                StatusCode::CREATED,
                Json(json!({
                    "message": format!("client {name:?} added; its key is shown only now"),
                    "key": key,
                    "client": view_named(&live, &name),
                })),
            )
                .into_response())
        }
        .await,
    )
}

/// `PATCH /admin/api/clients/{name}`: as `config client update`.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    raw: Bytes,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let b: LimitsBody = body(&raw)?;
            let limits = b.limits();
            let n = name.clone();
            let (message, live) = write(&state, move |raw| {
                clients::update(raw, &n, &limits).map_err(refusal)
            })
            .await?;
            Ok(changed(message, view_named(&live, &name)))
        }
        .await,
    )
}

/// `POST /admin/api/clients/{name}/rotate`: a new key, in the answer once;
/// the old one is refused from now on.
pub(crate) async fn rotate(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let n = name.clone();
            let (key, live) =
                write(&state, move |raw| clients::rotate(raw, &n).map_err(refusal)).await?;
            Ok(Json(json!({
                "message": format!("client {:?} has a new key, shown only now; the old key no longer works", name.trim()),
                "key": key,
                "client": view_named(&live, &name),
            }))
            .into_response())
        }
        .await,
    )
}

/// `POST /admin/api/clients/{name}/disable`.
pub(crate) async fn disable(
    state: State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    set_disabled(state, name, true).await
}

/// `POST /admin/api/clients/{name}/enable`.
pub(crate) async fn enable(
    state: State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    set_disabled(state, name, false).await
}

async fn set_disabled(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    disabled: bool,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let n = name.clone();
            let (message, live) = write(&state, move |raw| {
                clients::set_disabled(raw, &n, disabled).map_err(refusal)
            })
            .await?;
            Ok(changed(message, view_named(&live, &name)))
        }
        .await,
    )
}

/// `DELETE /admin/api/clients/{name}`.
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let (message, _) = write(&state, move |raw| {
                clients::remove(raw, &name).map_err(refusal)
            })
            .await?;
            Ok(Json(json!({ "message": message.trim_end() })).into_response())
        }
        .await,
    )
}

/// An edit's refusal: 404 for an unknown client, else 400.
fn refusal(message: String) -> ApiError {
    if message.starts_with("no client is named") {
        ApiError::not_found(message)
    } else {
        ApiError::invalid_request(message)
    }
}

fn changed(message: String, client: Value) -> Response {
    Json(json!({ "message": message.trim_end(), "client": client })).into_response()
}
