//! `GET /v1/models` and `GET /v1/models/{model_id}`: the model names a
//! client can ask this proxy for, in Anthropic's list shape
//! (<https://docs.anthropic.com/en/api/models-list>) — or, for a client
//! that sends no `anthropic-version` header (OpenAI's SDKs, Codex, Cursor;
//! the Anthropic SDKs and Claude Code always send one), in OpenAI's
//! (<https://platform.openai.com/docs/api-reference/models/list>):
//! `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}`,
//! every model at once (OpenAI's list has no pages).
//!
//! The list comes from the current upstream's `modelMapping`: its source
//! names first (what clients ask for; the family words expand to
//! [`FAMILY_MODELS`]), then its targets (the upstream's own models, which
//! pass through unmapped), de-duplicated in that order. Built from the live
//! configuration on each call, so a reload shows at once; no upstream call.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::state::AppState;
use super::util::rfc3339;
use crate::clients::Caller;
use crate::config::{Config, Scenario, Upstream};
use crate::error::{ApiError, ErrorShape};

/// What a family word in `modelMapping` (`"opus"`, `"sonnet"`, `"haiku"`)
/// stands for in the list: the current Claude model of that family, as
/// Claude Code asks for it. Any other name containing the word maps the same
/// way; only these are listed, to keep the list short. Update on new releases.
pub(crate) const FAMILY_MODELS: [FamilyModel; 3] = [
    FamilyModel {
        family: "opus",
        id: "claude-opus-4-5",
        display_name: "Claude Opus 4.5",
        created_at: "2025-11-24T00:00:00Z",
    },
    FamilyModel {
        family: "sonnet",
        id: "claude-sonnet-4-5",
        display_name: "Claude Sonnet 4.5",
        created_at: "2025-09-29T00:00:00Z",
    },
    FamilyModel {
        family: "haiku",
        id: "claude-haiku-4-5",
        display_name: "Claude Haiku 4.5",
        created_at: "2025-10-15T00:00:00Z",
    },
];

/// Context window and output limit of the [`FAMILY_MODELS`] (all three).
const FAMILY_MAX_INPUT_TOKENS: u64 = 200_000;
const FAMILY_MAX_TOKENS: u64 = 64_000;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

/// `created_at` for names without a known release date: when this process
/// first listed models, so the value is stable between calls.
static FIRST_LISTED: LazyLock<String> = LazyLock::new(|| rfc3339(SystemTime::now()));

#[derive(Debug, Clone, Copy)]
pub(crate) struct FamilyModel {
    pub family: &'static str,
    pub id: &'static str,
    pub display_name: &'static str,
    pub created_at: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ModelInfo {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub display_name: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

impl ModelInfo {
    fn family(f: &FamilyModel) -> Self {
        ModelInfo {
            kind: "model",
            id: f.id.to_owned(),
            display_name: f.display_name.to_owned(),
            created_at: f.created_at.to_owned(),
            max_input_tokens: Some(FAMILY_MAX_INPUT_TOKENS),
            max_tokens: Some(FAMILY_MAX_TOKENS),
        }
    }

    fn named(id: &str, max_tokens: Option<u64>) -> Self {
        ModelInfo {
            kind: "model",
            id: id.to_owned(),
            display_name: id.to_owned(),
            created_at: FIRST_LISTED.clone(),
            max_input_tokens: None,
            max_tokens,
        }
    }
}

/// The models a client can ask for with `upstream` current. With no
/// upstream, or a mapping with no source names (empty, or only `"*"`),
/// every name reaches the upstream, so the family models are listed as what
/// Claude Code will ask for.
pub(crate) fn available_models(upstream: Option<&Upstream>) -> Vec<ModelInfo> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |m: ModelInfo, out: &mut Vec<ModelInfo>| {
        if seen.insert(m.id.clone()) {
            out.push(m);
        }
    };
    let entries = upstream.map(|u| u.model_mapping.entries()).unwrap_or(&[]);
    let sources = entries.iter().filter(|(from, _)| from != "*");
    if sources.clone().next().is_none() {
        FAMILY_MODELS
            .iter()
            .for_each(|f| push(ModelInfo::family(f), &mut out));
    }
    for (from, _) in sources {
        match FAMILY_MODELS
            .iter()
            .find(|f| f.family.eq_ignore_ascii_case(from))
        {
            Some(f) => push(ModelInfo::family(f), &mut out),
            None => push(ModelInfo::named(from, None), &mut out),
        }
    }
    let cap = upstream.and_then(|u| u.max_tokens);
    for (_, to) in entries {
        push(ModelInfo::named(to, cap), &mut out);
    }
    out
}

/// `upstream,model` ids for every upstream's mapped target models and the
/// models the router names, so a client can pick an upstream explicitly
/// (Claude Code: `/model deepseek,deepseek-chat`). With a single upstream
/// there is nothing to choose, and nothing is added.
pub(crate) fn explicit_models(config: &Config) -> Vec<ModelInfo> {
    let mut out = Vec::new();
    if config.upstreams.len() < 2 {
        return out;
    }
    let mut seen = HashSet::new();
    let mut push = |id: String, cap: Option<u64>| {
        if seen.insert(id.clone()) {
            out.push(ModelInfo::named(&id, cap));
        }
    };
    for up in &config.upstreams {
        for (_, to) in up.model_mapping.entries() {
            push(format!("{},{to}", up.name), up.max_tokens);
        }
    }
    let router_targets = config.router.iter().flat_map(|r| {
        Scenario::ALL
            .into_iter()
            .filter_map(|s| r.scenario(s))
            .chain(r.rules().iter().map(|rule| rule.targets()))
            .flatten()
    });
    for t in router_targets {
        if let (Some(up), Some(model)) = (config.upstreams.get(t.upstream()), t.model()) {
            push(format!("{},{model}", up.name), up.max_tokens);
        }
    }
    out
}

/// Everything `GET /v1/models` lists: what the current upstream serves,
/// then the explicit `upstream,model` ids.
fn all_models(config: &Config, current: Option<&Upstream>) -> Vec<ModelInfo> {
    let mut models = available_models(current);
    models.extend(explicit_models(config));
    models
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Kept as text so a bad value gets Anthropic's 400, not axum's.
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub after_id: Option<String>,
    #[serde(default)]
    pub before_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ModelPage<'a> {
    pub data: &'a [ModelInfo],
    pub has_more: bool,
    pub first_id: Option<&'a str>,
    pub last_id: Option<&'a str>,
}

/// One page of `models`, cursor semantics as Anthropic's: `after_id` pages
/// forward from just after that id, `before_id` backward from just before it.
pub fn page<'a>(models: &'a [ModelInfo], q: &ListQuery) -> Result<ModelPage<'a>, ApiError> {
    let limit = match q.limit.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "limit: must be an integer from 1 to {MAX_LIMIT}, got {s:?}"
                ))
            })?,
    };
    let position = |field: &str, id: &str| {
        models
            .iter()
            .position(|m| m.id == id)
            .ok_or_else(|| ApiError::invalid_request(format!("{field}: unknown model id {id:?}")))
    };
    let (start, end, has_more) = match (q.after_id.as_deref(), q.before_id.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request(
                "after_id and before_id cannot be used together",
            ))
        }
        (Some(after), None) => {
            let start = position("after_id", after)? + 1;
            let end = (start + limit).min(models.len());
            (start, end, end < models.len())
        }
        (None, Some(before)) => {
            let end = position("before_id", before)?;
            let start = end.saturating_sub(limit);
            (start, end, start > 0)
        }
        (None, None) => {
            let end = limit.min(models.len());
            (0, end, end < models.len())
        }
    };
    let data = &models[start..end];
    Ok(ModelPage {
        data,
        has_more,
        first_id: data.first().map(|m| m.id.as_str()),
        last_id: data.last().map(|m| m.id.as_str()),
    })
}

/// Who owns every model in OpenAI's list shape.
const OWNED_BY: &str = "claude-proxy";

/// A model in OpenAI's shape.
#[derive(Debug, Serialize)]
pub(crate) struct OpenAiModel<'a> {
    pub id: &'a str,
    pub object: &'static str,
    /// Unix seconds of `created_at`.
    pub created: u64,
    pub owned_by: &'static str,
}

impl<'a> OpenAiModel<'a> {
    fn of(m: &'a ModelInfo) -> Self {
        OpenAiModel {
            id: &m.id,
            object: "model",
            created: unix_seconds(&m.created_at),
            owned_by: OWNED_BY,
        }
    }
}

/// `GET /v1/models` in OpenAI's shape.
#[derive(Debug, Serialize)]
pub(crate) struct OpenAiModelList<'a> {
    pub object: &'static str,
    pub data: Vec<OpenAiModel<'a>>,
}

/// Unix seconds of an RFC 3339 UTC timestamp (`2025-09-29T00:00:00Z`); 0
/// when it cannot be read.
fn unix_seconds(t: &str) -> u64 {
    crate::time::parse_rfc3339(t)
        .and_then(|ms| u64::try_from(ms / 1000).ok())
        .unwrap_or(0)
}

/// True for an Anthropic client (it sends `anthropic-version`).
fn wants_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

/// `GET /v1/models`.
pub(crate) async fn list_models(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let live = state.live.load_full();
    let mut models = all_models(&live.config, live.current().map(|u| &u.config));
    // A client key sees only the models it may ask for.
    if let Some(c) = caller.client() {
        models.retain(|m| c.config.allows_model(&m.id));
    }
    if !wants_anthropic(&headers) {
        return Json(OpenAiModelList {
            object: "list",
            data: models.iter().map(OpenAiModel::of).collect(),
        })
        .into_response();
    }
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::invalid_request(e.body_text()).into_response(),
    };
    match page(&models, &q) {
        Ok(p) => Json(p).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/models/{model_id}`: one entry of the list, or 404.
pub(crate) async fn get_model(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
) -> Response {
    let anthropic = wants_anthropic(&headers);
    let shape = if anthropic {
        ErrorShape::Anthropic
    } else {
        ErrorShape::OpenAi
    };
    if let Err(e) = caller.check_model(&model_id) {
        return e.into_response_as(shape);
    }
    let answer = |m: ModelInfo| {
        if anthropic {
            Json(m).into_response()
        } else {
            Json(OpenAiModel::of(&m)).into_response()
        }
    };
    let live = state.live.load_full();
    let upstream = live.current().map(|u| &u.config);
    if let Some(m) = all_models(&live.config, upstream)
        .into_iter()
        .find(|m| m.id == model_id)
    {
        return answer(m);
    }
    // `upstream,model` with any model the upstream may serve.
    if model_id.contains(',') && live.config.parse_target(&model_id).is_ok() {
        return answer(ModelInfo::named(&model_id, None));
    }
    // Not listed, but routed: a dated id such as claude-sonnet-4-5-20250929
    // reaches the upstream through a family word or "*", so it exists here.
    let routed = upstream.is_some_and(|u| {
        let mapping = &u.model_mapping;
        mapping.resolve(&model_id) != model_id
            || mapping.entries().iter().any(|(from, _)| from == "*")
    });
    if routed {
        return answer(ModelInfo::named(&model_id, None));
    }
    ApiError::not_found(format!("model: {model_id}")).into_response_as(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(models: &[ModelInfo]) -> Vec<&str> {
        models.iter().map(|m| m.id.as_str()).collect()
    }

    fn list(n: usize) -> Vec<ModelInfo> {
        (0..n)
            .map(|i| ModelInfo::named(&format!("m{i}"), None))
            .collect()
    }

    fn q(limit: Option<&str>, after: Option<&str>, before: Option<&str>) -> ListQuery {
        ListQuery {
            limit: limit.map(str::to_owned),
            after_id: after.map(str::to_owned),
            before_id: before.map(str::to_owned),
        }
    }

    #[test]
    fn timestamps_become_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(unix_seconds("2025-09-29T00:00:00Z"), 1_759_104_000);
        assert_eq!(unix_seconds("2026-11-26T05:44:40.123Z"), 1_795_671_880);
        assert_eq!(unix_seconds("garbage"), 0);
    }

    #[test]
    fn no_upstream_lists_the_families() {
        assert_eq!(
            ids(&available_models(None)),
            ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"]
        );
    }

    #[test]
    fn pages_forward_and_backward() {
        let models = list(5);
        let p = page(&models, &q(Some("2"), None, None)).unwrap();
        assert_eq!((ids(p.data), p.has_more), (vec!["m0", "m1"], true));
        let p = page(&models, &q(Some("2"), Some("m1"), None)).unwrap();
        assert_eq!((ids(p.data), p.has_more), (vec!["m2", "m3"], true));
        let p = page(&models, &q(Some("2"), Some("m3"), None)).unwrap();
        assert_eq!((ids(p.data), p.has_more), (vec!["m4"], false));
        assert_eq!((p.first_id, p.last_id), (Some("m4"), Some("m4")));
        let p = page(&models, &q(Some("2"), None, Some("m3"))).unwrap();
        assert_eq!((ids(p.data), p.has_more), (vec!["m1", "m2"], true));
        let p = page(&models, &q(None, None, Some("m1"))).unwrap();
        assert_eq!((ids(p.data), p.has_more), (vec!["m0"], false));
        let p = page(&models, &q(None, Some("m4"), None)).unwrap();
        assert!(p.data.is_empty() && p.first_id.is_none() && !p.has_more);
    }

    #[test]
    fn bad_queries_are_400() {
        let models = list(3);
        for bad in [
            q(Some("0"), None, None),
            q(Some("1001"), None, None),
            q(Some("ten"), None, None),
            q(None, Some("nope"), None),
            q(None, Some("m0"), Some("m2")),
        ] {
            let err = page(&models, &bad).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad:?}");
        }
    }
}
