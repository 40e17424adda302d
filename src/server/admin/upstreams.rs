//! The admin API's changes: upstreams (add, change, remove), their keys and
//! model mapping, the current upstream, the strategy, and the test.
//!
//! Each change is made by the CLI's own edit function (`commands::…`) on
//! `config.json` through the CLI's writer (`config::store::update`: locked,
//! validated, atomic), off the async runtime; then the running server
//! reloads the file, so the answer already shows the change in effect.
//! The CLI, the console and hand edits therefore never lose each other's
//! changes and are held to the same rules.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::status::upstream_view;
use crate::commands::test::{self as probe, TestOptions};
use crate::commands::{keys, mapping, upstreams, UpdateArgs};
use crate::config::{mask_secret, store, ConfigError, LoadBalance, RawConfig, ServiceType};
use crate::error::ApiError;
use crate::routing::LiveState;
use crate::server::extract::parse_json;
use crate::server::state::AppState;

type Answer = Result<Response, ApiError>;

/// `serde` helper: tells a field given as `null` (`Some(None)`) from one
/// left out (`None`).
pub(super) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A body parsed with its field named on error.
pub(super) fn body<T: DeserializeOwned>(raw: &Bytes) -> Result<T, ApiError> {
    parse_json(raw)
}

/// The `{name}` of the path, or a 400 naming it.
pub(super) fn path_name(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(n)| n)
        .map_err(|e| ApiError::invalid_request(format!("name: {}", e.body_text())))
}

/// The upstream called `name` (case-insensitively), or a 404.
fn index_of(raw: &RawConfig, name: &str) -> Result<usize, ApiError> {
    let wanted = name.trim();
    raw.upstream
        .iter()
        .position(|u| u.name.trim().eq_ignore_ascii_case(wanted))
        .ok_or_else(|| not_found(raw, wanted))
}

fn not_found(raw: &RawConfig, name: &str) -> ApiError {
    let known: Vec<&str> = raw.upstream.iter().map(|u| u.name.as_str()).collect();
    ApiError::not_found(format!(
        "no upstream is named {name:?} (configured: {})",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

/// A message from an edit function, as a 400 naming `field`.
pub(super) fn field(name: &'static str) -> impl Fn(String) -> ApiError {
    move |e| ApiError::invalid_request(format!("{name}: {e}"))
}

/// Runs `edit` through the CLI's writer and reloads. The edit works on a
/// copy that is kept only when it succeeds, so a refused change writes
/// nothing, even half of itself.
pub(super) async fn write<T, F>(
    state: &Arc<AppState>,
    edit: F,
) -> Result<(T, Arc<LiveState>), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut RawConfig) -> Result<T, ApiError> + Send + 'static,
{
    let st = state.clone();
    // File locking, fsync and the reload's read are blocking I/O.
    tokio::task::spawn_blocking(move || {
        let path = st.settings.config_path.clone();
        let outcome = store::update(&path, |raw| {
            let mut copy = raw.clone();
            Ok(edit(&mut copy).inspect(|_| *raw = copy))
        });
        let value = match outcome {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(scrub(config_error(e), &st)),
        };
        let live = st.reload().map_err(|e| {
            scrub(
                ApiError::api(format!(
                    "config.json was written but the running server could not apply it: {e}"
                )),
                &st,
            )
        })?;
        Ok((value, live))
    })
    .await
    .map_err(|e| ApiError::api(format!("internal error: the change did not finish: {e}")))?
}

fn config_error(e: ConfigError) -> ApiError {
    match e {
        // The edit's own refusal, or its result failing validation.
        ConfigError::Rejected(m) => ApiError::invalid_request(m),
        // The file on disk is already broken: nothing is written over it.
        e @ (ConfigError::Syntax { .. } | ConfigError::Invalid(_)) => ApiError::invalid_request(
            format!("config.json is invalid as it is, so it was not changed; fix it first (`claude-proxy config check`): {e}"),
        )
        .with_status(409),
        e => ApiError::api(e.to_string()),
    }
}

/// No configured key in an error message, even one quoted by a parser.
fn scrub(mut e: ApiError, state: &AppState) -> ApiError {
    for up in &state.live.load().upstreams {
        for key in up.config.api_keys.iter().map(|k| k.expose()) {
            if key.len() >= 4 && e.message.contains(key) {
                e.message = e.message.replace(key, &mask_secret(key));
            }
        }
    }
    e
}

/// The view of the upstream now called `name`, after a change.
fn view_of(state: &AppState, live: &LiveState, name: &str) -> Value {
    live.upstreams
        .iter()
        .enumerate()
        .find(|(_, u)| u.config.name.eq_ignore_ascii_case(name.trim()))
        .map(|(i, u)| upstream_view(state, live, i, u))
        .unwrap_or(Value::Null)
}

fn changed(status: StatusCode, message: String, upstream: Option<Value>) -> Response {
    let mut v = json!({"message": message.trim_end()});
    if let Some(u) = upstream {
        v["upstream"] = u;
    }
    (status, Json(v)).into_response()
}

pub(super) fn respond(answer: Answer) -> Response {
    answer.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    name: String,
    service_type: String,
    base_url: String,
    #[serde(default)]
    api_keys: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default)]
    max_tokens: Option<u64>,
}

fn service_type(s: &str) -> Result<ServiceType, ApiError> {
    ServiceType::parse(s).ok_or_else(|| field("serviceType")(upstreams::unknown_type(s)))
}

/// `POST /admin/api/upstreams`: as `config add`.
pub(crate) async fn create(State(state): State<Arc<AppState>>, raw: Bytes) -> Response {
    respond(
        async {
            let b: CreateBody = body(&raw)?;
            let new = upstreams::NewUpstream {
                service_type: service_type(&b.service_type)?,
                name: b.name,
                base_url: b.base_url,
                keys: b.api_keys,
                description: b.description,
                insecure_skip_verify: b.insecure_skip_verify,
                max_tokens: b.max_tokens,
            };
            if new.max_tokens == Some(0) {
                return Err(field("maxTokens")("must be at least 1".into()));
            }
            let name = new.name.trim().to_owned();
            let (message, live) = write(&state, move |raw| {
                upstreams::check_name(raw, &new.name, None).map_err(field("name"))?;
                upstreams::check_url(&new.base_url).map_err(field("baseUrl"))?;
                upstreams::add_upstream(raw, &new).map_err(ApiError::invalid_request)
            })
            .await?;
            let view = view_of(&state, &live, &name);
            Ok(changed(StatusCode::CREATED, message, Some(view)))
        }
        .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchBody {
    name: Option<String>,
    base_url: Option<String>,
    service_type: Option<String>,
    /// `null` or `""` removes it.
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    insecure_skip_verify: Option<bool>,
    /// `null` or 0 removes the cap.
    #[serde(default, deserialize_with = "nullable")]
    max_tokens: Option<Option<u64>>,
    circuit_breaker: Option<CircuitPatch>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CircuitPatch {
    /// `null` or 0: the `CIRCUIT_*` setting applies again.
    #[serde(default, deserialize_with = "nullable")]
    failures: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    open_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    max_open_ms: Option<Option<u64>>,
}

/// A circuit field as `config update --circuit-*` takes it (0 removes).
fn circuit_flag(
    v: Option<Option<u64>>,
    name: &'static str,
    max: u64,
) -> Result<Option<u64>, ApiError> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(0)),
        Some(Some(n)) if n <= max => Ok(Some(n)),
        Some(Some(n)) => Err(field(name)(format!("{n} is too large (at most {max})"))),
    }
}

/// `PATCH /admin/api/upstreams/{name}`: as `config update`.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    raw: Bytes,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let b: PatchBody = body(&raw)?;
            let cb = b.circuit_breaker.unwrap_or_default();
            let args = UpdateArgs {
                upstream: String::new(),
                name: b.name.clone(),
                url: b.base_url.clone(),
                service_type: b.service_type.as_deref().map(service_type).transpose()?,
                description: b.description.map(Option::unwrap_or_default),
                insecure_skip_verify: b.insecure_skip_verify,
                max_tokens: b.max_tokens.map(|m| m.unwrap_or(0)),
                circuit_failures: circuit_flag(
                    cb.failures,
                    "circuitBreaker.failures",
                    u64::from(u32::MAX),
                )?,
                circuit_open_ms: circuit_flag(cb.open_ms, "circuitBreaker.openMs", i64::MAX as u64)?,
                circuit_max_open_ms: circuit_flag(
                    cb.max_open_ms,
                    "circuitBreaker.maxOpenMs",
                    i64::MAX as u64,
                )?,
            };
            let nothing = args.name.is_none()
                && args.url.is_none()
                && args.service_type.is_none()
                && args.description.is_none()
                && args.insecure_skip_verify.is_none()
                && args.max_tokens.is_none()
                && args.circuit_failures.is_none()
                && args.circuit_open_ms.is_none()
                && args.circuit_max_open_ms.is_none();
            if nothing {
                return Err(ApiError::invalid_request(
                    "nothing to update: give at least one of name, baseUrl, serviceType, description, insecureSkipVerify, maxTokens, circuitBreaker",
                ));
            }
            let (message, live) = write(&state, move |raw| {
                let i = index_of(raw, &name)?;
                if let Some(n) = &args.name {
                    upstreams::check_name(raw, n, Some(i)).map_err(field("name"))?;
                }
                if let Some(u) = &args.url {
                    upstreams::check_url(u).map_err(field("baseUrl"))?;
                }
                let message =
                    upstreams::update_at(raw, i, &args).map_err(ApiError::invalid_request)?;
                Ok((message, raw.upstream[i].name.clone()))
            })
            .await?;
            let (message, now_named) = message;
            let view = view_of(&state, &live, &now_named);
            Ok(changed(StatusCode::OK, message, Some(view)))
        }
        .await,
    )
}

/// `DELETE /admin/api/upstreams/{name}`: as `config remove` (refused while
/// the router or a fallback list names it).
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let (message, _) = write(&state, move |raw| {
                let i = index_of(raw, &name)?;
                upstreams::remove_at(raw, i).map_err(ApiError::invalid_request)
            })
            .await?;
            Ok(changed(StatusCode::OK, message, None))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysBody {
    keys: Vec<String>,
}

/// `POST /admin/api/upstreams/{name}/keys` `{"keys": […]}`: as
/// `config key … add` (duplicates skipped).
pub(crate) async fn add_keys(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    raw: Bytes,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let b: KeysBody = body(&raw)?;
            let (message, live) = write(&state, move |raw| {
                let i = index_of(raw, &name)?;
                let message = keys::add_at(raw, i, &b.keys).map_err(field("keys"))?;
                Ok((message, raw.upstream[i].name.clone()))
            })
            .await?;
            let (message, name) = message;
            let view = view_of(&state, &live, &name);
            Ok(changed(StatusCode::OK, message, Some(view)))
        }
        .await,
    )
}

/// `DELETE /admin/api/upstreams/{name}/keys/{index}`: as
/// `config key … remove <index>` (0-based, as `config key … list` shows).
pub(crate) async fn remove_key(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    respond(
        async {
            let Path((name, index)) =
                path.map_err(|e| ApiError::invalid_request(format!("path: {}", e.body_text())))?;
            let at: usize = index.trim().parse().map_err(|_| {
                ApiError::invalid_request(format!(
                    "index: expected a key number from 0 (as `config key … list` shows), got {index:?}"
                ))
            })?;
            let (message, live) = write(&state, move |raw| {
                let i = index_of(raw, &name)?;
                let message = keys::remove_at(raw, i, at).map_err(ApiError::not_found)?;
                Ok((message, raw.upstream[i].name.clone()))
            })
            .await?;
            let (message, name) = message;
            let view = view_of(&state, &live, &name);
            Ok(changed(StatusCode::OK, message, Some(view)))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MappingBody {
    model_mapping: Map<String, Value>,
}

/// `PUT /admin/api/upstreams/{name}/mapping` `{"modelMapping": {…}}`:
/// replaces the whole mapping, in the order given.
pub(crate) async fn set_mapping(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    raw: Bytes,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let b: MappingBody = body(&raw)?;
            let mut entries = Vec::with_capacity(b.model_mapping.len());
            for (from, to) in &b.model_mapping {
                let to = to.as_str().ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "modelMapping.{from}: expected a model name (a string), got {to}"
                    ))
                })?;
                entries.push((from.clone(), to.to_owned()));
            }
            let (message, live) = write(&state, move |raw| {
                let i = index_of(raw, &name)?;
                let message =
                    mapping::replace_at(raw, i, &entries).map_err(field("modelMapping"))?;
                Ok((message, raw.upstream[i].name.clone()))
            })
            .await?;
            let (message, name) = message;
            let view = view_of(&state, &live, &name);
            Ok(changed(StatusCode::OK, message, Some(view)))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrentBody {
    upstream: String,
}

/// `PUT /admin/api/current` `{"upstream": NAME}`: as `config use`.
pub(crate) async fn set_current(State(state): State<Arc<AppState>>, raw: Bytes) -> Response {
    respond(
        async {
            let b: CurrentBody = body(&raw)?;
            let (message, live) = write(&state, move |raw| {
                let i = index_of(raw, &b.upstream)?;
                Ok(upstreams::select_at(raw, i))
            })
            .await?;
            let current = live
                .current()
                .map(|u| json!({"index": live.config.current_upstream, "name": u.config.name}));
            Ok(
                Json(json!({"message": message.trim_end(), "currentUpstream": current}))
                    .into_response(),
            )
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BalanceBody {
    load_balance: String,
}

/// `PUT /admin/api/balance` `{"loadBalance": "round-robin" | "random" |
/// "failover"}`: as `config balance`.
pub(crate) async fn set_balance(State(state): State<Arc<AppState>>, raw: Bytes) -> Response {
    respond(
        async {
            let b: BalanceBody = body(&raw)?;
            let strategy = LoadBalance::parse(&b.load_balance).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "loadBalance: unknown strategy {:?} (expected round-robin, random or failover)",
                    b.load_balance
                ))
            })?;
            let (message, live) =
                write(&state, move |raw| Ok(upstreams::balance(raw, strategy))).await?;
            Ok(Json(json!({
                "message": message.trim_end(),
                "loadBalance": live.config.load_balance.as_str(),
            }))
            .into_response())
        }
        .await,
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestBody {
    #[serde(default)]
    deep: bool,
    #[serde(default)]
    model: Option<String>,
}

/// `POST /admin/api/upstreams/{name}/test` (body optional: `{"deep":
/// true, "model": "…"}`): as `config test`, on the running configuration.
pub(crate) async fn test(
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    raw: Bytes,
) -> Response {
    respond(
        async {
            let name = path_name(name)?;
            let b: TestBody = if raw.iter().all(u8::is_ascii_whitespace) {
                TestBody::default()
            } else {
                body(&raw)?
            };
            let live = state.live.load_full();
            let Some(up) = live.find(name.trim()).cloned() else {
                let known: Vec<&str> = live
                    .upstreams
                    .iter()
                    .map(|u| u.config.name.as_str())
                    .collect();
                return Err(ApiError::not_found(format!(
                    "no upstream is named {:?} (configured: {})",
                    name.trim(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let options = TestOptions {
                deep: b.deep,
                model: b.model,
            };
            let report = probe::run(state.net(), &up, &options).await;
            Ok(Json(report).into_response())
        }
        .await,
    )
}
