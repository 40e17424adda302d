//! Optional request parameters that some models refuse, and how a request
//! is sent again without them: recognising the refusal in a 400, leaving
//! the parameter out of an encoded body, and remembering the refusal per
//! model so later requests go right the first time. Both OpenAI protocols
//! (Chat Completions and Responses) use this, each with its own names for
//! the parameters ([`CHAT_PARAMS`], [`RESPONSES_PARAMS`]); leaving a
//! parameter out of a translated request is the provider's own
//! ([`Retranslate`]), the retry around it ([`without`]) is shared.

use std::sync::Mutex;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{Outgoing, Prepared};
use crate::config::Upstream;
use crate::error::ApiError;
use crate::protocol::anthropic::MessagesRequest;

/// Optional request parameters that some upstream models refuse (OpenAI's
/// reasoning models reject `temperature`; non-reasoning models reject
/// `reasoning_effort` / `reasoning`; some servers know no `stream_options`).
/// When an upstream names one in a 400, the proxy sends the request again
/// without it and remembers that for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionalParam {
    /// `reasoning_effort` (Chat Completions), the whole `reasoning`
    /// (Responses).
    ReasoningEffort,
    /// `reasoning.summary` (Responses; an unverified organisation may not
    /// ask for summaries).
    ReasoningSummary,
    Temperature,
    TopP,
    StreamOptions,
    ParallelToolCalls,
    User,
    /// `stop` (Chat Completions; some compatible servers know none).
    Stop,
    /// `include` (Responses: non-reasoning models refuse encrypted
    /// reasoning).
    Include,
    /// The reasoning items replayed in `input` (Responses: their encrypted
    /// content is bound to the organisation that made it). A property of
    /// one conversation, not of the model: never remembered.
    ReasoningItems,
    /// `max_tokens` refused in favour of `max_completion_tokens`.
    MaxTokens,
    /// The output-token limit is above what the model allows: send at most
    /// this many (Claude Code asks for up to 128,000).
    MaxTokensAtMost(u64),
}

impl OptionalParam {
    /// Whether a refusal of this parameter holds for every later request to
    /// the same model.
    pub(crate) fn holds_for_model(self) -> bool {
        self != OptionalParam::ReasoningItems
    }
}

/// How one protocol names its optional parameters: `(parameter, field)`,
/// more specific names first; a dotted field is nested (`reasoning.summary`).
pub(crate) type ParamNames = &'static [(OptionalParam, &'static str)];

/// The Chat Completions names.
pub(crate) const CHAT_PARAMS: ParamNames = &[
    (OptionalParam::ReasoningEffort, "reasoning_effort"),
    (OptionalParam::Temperature, "temperature"),
    (OptionalParam::TopP, "top_p"),
    (OptionalParam::StreamOptions, "stream_options"),
    (OptionalParam::ParallelToolCalls, "parallel_tool_calls"),
    (OptionalParam::User, "user"),
    (OptionalParam::Stop, "stop"),
    (OptionalParam::MaxTokens, "max_tokens"),
];

/// The Responses API names
/// (<https://platform.openai.com/docs/api-reference/responses/create>).
pub(crate) const RESPONSES_PARAMS: ParamNames = &[
    (OptionalParam::ReasoningSummary, "reasoning.summary"),
    (OptionalParam::ReasoningEffort, "reasoning"),
    (OptionalParam::Temperature, "temperature"),
    (OptionalParam::TopP, "top_p"),
    (OptionalParam::ParallelToolCalls, "parallel_tool_calls"),
    (OptionalParam::User, "user"),
    (OptionalParam::Include, "include"),
];

/// The field `p` is in `names`, for the parameters that are one field.
fn field(names: ParamNames, p: OptionalParam) -> Option<&'static str> {
    names.iter().find_map(|&(q, name)| (q == p).then_some(name))
}

/// The optional parameter a 400 complains about, if the complaint is that
/// the parameter (or its value) is unsupported.
pub(crate) fn rejected_param(names: ParamNames, status: u16, body: &[u8]) -> Option<OptionalParam> {
    if status != 400 && status != 422 {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error").unwrap_or(&v);
    let message = err
        .get("message")
        .or_else(|| v.get("detail"))
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let code = err.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let unsupported = [
        "unsupported",
        "not supported",
        "unrecognized",
        "unknown",
        "does not support",
        "not allowed",
        "extra inputs",
        "not permitted",
    ]
    .iter()
    .any(|w| message.contains(w))
        || code.starts_with("unsupported");
    let param = err.get("param").and_then(|p| p.as_str()).unwrap_or("");
    if let Some(cap) = max_tokens_limit(param, &message) {
        return Some(OptionalParam::MaxTokensAtMost(cap));
    }
    if field(names, OptionalParam::Include).is_some() {
        if let Some(p) = encrypted_refusal(param, &message, code, unsupported) {
            return Some(p);
        }
    }
    if !unsupported {
        return None;
    }
    names.iter().find_map(|&(p, name)| {
        let named = param == name
            || param
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('.'));
        (named || mentions(&message, name)).then_some(p)
    })
}

/// Whether `message` names the field `name` (or a field inside it): quoted
/// (`'name'`, `"name"`, `` `name` ``, or `'name.…'`), or after a colon
/// ("…supplied: name") as a whole word.
fn mentions(message: &str, name: &str) -> bool {
    let quoted = ['\'', '"', '`'].iter().any(|q| {
        message.contains(&format!("{q}{name}{q}")) || message.contains(&format!("{q}{name}."))
    });
    quoted
        || message.match_indices(&format!(": {name}")).any(|(at, m)| {
            !message[at + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A Responses refusal about replayed reasoning: content that cannot be
/// verified (made for another organisation), or an item the upstream
/// looked up by id, is the replayed items' fault; a model that does not do
/// encrypted reasoning at all refuses `include`.
fn encrypted_refusal(
    param: &str,
    message: &str,
    code: &str,
    unsupported: bool,
) -> Option<OptionalParam> {
    // A replayed item the upstream looked up instead of decrypting.
    if message.contains("not persisted when `store` is set to false") && message.contains("'rs_") {
        return Some(OptionalParam::ReasoningItems);
    }
    let about = message.contains("encrypted content")
        || message.contains("encrypted_content")
        || code.contains("encrypted_content");
    if !about {
        return None;
    }
    if message.contains("verif") || message.contains("decrypt") || code.starts_with("invalid") {
        return Some(OptionalParam::ReasoningItems);
    }
    (param == "include" || unsupported).then_some(OptionalParam::Include)
}

/// The limit in a "max_tokens is too large" complaint, in the wordings of
/// OpenAI ("supports at most 16384 completion tokens"), DeepSeek ("the valid
/// range of max_tokens is [1, 8192]") and vLLM ("(128000 > 32768 - 1500)").
fn max_tokens_limit(param: &str, message: &str) -> Option<u64> {
    let about_max_tokens = param.contains("max_tokens")
        || param.contains("max_completion_tokens")
        || message.contains("max_tokens")
        || message.contains("max_completion_tokens")
        || message.contains("max_output_tokens");
    let too_large = [
        "too large",
        "at most",
        "valid range",
        "maximum",
        "exceed",
        "must be less",
    ]
    .iter()
    .any(|w| message.contains(w));
    if !about_max_tokens || !too_large {
        return None;
    }
    // vLLM: "(requested > context - input)".
    if let Some(gt) = message.rfind(" > ") {
        let rest = &message[gt + 3..];
        let nums = numbers(rest);
        if rest.contains(" - ") && nums.len() >= 2 && nums[0] > nums[1] {
            return Some(nums[0] - nums[1]).filter(|n| *n > 0);
        }
    }
    if let Some(at) = message.find("at most") {
        if let Some(n) = numbers(&message[at..]).first() {
            return Some(*n).filter(|n| *n > 0);
        }
    }
    // Otherwise the smallest plausible limit mentioned ("[1, 8192]").
    numbers(message).into_iter().filter(|n| *n >= 256).min()
}

fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Leaves `p` out of an encoded request body whose parameters `names`
/// names; `None` when the body does not change.
pub(crate) fn drop_param_in_body(
    names: ParamNames,
    body: &[u8],
    p: OptionalParam,
) -> Result<Option<Bytes>, serde_json::Error> {
    let mut obj: Map<String, Value> = serde_json::from_slice(body)?;
    let changed = match p {
        OptionalParam::MaxTokensAtMost(cap) => {
            let mut changed = false;
            for field in ["max_tokens", "max_completion_tokens", "max_output_tokens"] {
                if let Some(v) = obj.get_mut(field) {
                    if v.as_u64().is_some_and(|n| n > cap) {
                        *v = Value::from(cap);
                        changed = true;
                    }
                }
            }
            changed
        }
        OptionalParam::ReasoningItems => {
            let Some(input) = obj.get_mut("input").and_then(Value::as_array_mut) else {
                return Ok(None);
            };
            let before = input.len();
            input.retain(|item| item.get("type").and_then(Value::as_str) != Some("reasoning"));
            input.len() != before
        }
        _ => {
            let Some(name) = field(names, p) else {
                return Ok(None);
            };
            match name.split_once('.') {
                Some((parent, child)) => remove_nested(&mut obj, parent, child),
                None => match obj.shift_remove(name) {
                    None => false,
                    Some(value) => {
                        if p == OptionalParam::MaxTokens {
                            obj.insert("max_completion_tokens".to_owned(), value);
                        }
                        true
                    }
                },
            }
        }
    };
    changed
        .then(|| serde_json::to_vec(&obj).map(Bytes::from))
        .transpose()
}

/// Removes `parent.child`, and `parent` too when nothing is left in it.
fn remove_nested(obj: &mut Map<String, Value>, parent: &str, child: &str) -> bool {
    let Some(inner) = obj.get_mut(parent).and_then(Value::as_object_mut) else {
        return false;
    };
    if inner.shift_remove(child).is_none() {
        return false;
    }
    if inner.is_empty() {
        obj.shift_remove(parent);
    }
    true
}

/// (upstream model, parameter) pairs an upstream refused. Bounded: a
/// handful of models times a handful of parameters.
#[derive(Debug, Default)]
pub(crate) struct Refusals(Mutex<Vec<(String, OptionalParam)>>);

/// Most refusals remembered per upstream.
const MAX_REFUSALS: usize = 256;

impl Refusals {
    /// The parameters `model` is known to refuse.
    pub(crate) fn for_model(&self, model: &str) -> Vec<OptionalParam> {
        let Ok(list) = self.0.lock() else {
            return Vec::new();
        };
        list.iter()
            .filter(|(m, _)| m == model)
            .map(|(_, p)| *p)
            .collect()
    }

    /// Remembers that `model` refuses `param` (unless the refusal was about
    /// this one request, see [`OptionalParam::holds_for_model`]).
    pub(crate) fn remember(&self, model: &str, param: OptionalParam) {
        if !param.holds_for_model() {
            return;
        }
        if let Ok(mut list) = self.0.lock() {
            if list.len() < MAX_REFUSALS && !list.iter().any(|(m, p)| m == model && *p == param) {
                list.push((model.to_owned(), param));
            }
        }
    }
}

/// How many refused optional parameters one request may drop.
const MAX_DROPPED_PARAMS: usize = 4;

/// The parameters a prepared request already goes without.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dropped(pub(crate) Vec<OptionalParam>);

/// A provider of an OpenAI protocol: its requests can be translated again
/// without a parameter its upstream refused.
pub(super) trait Retranslate {
    /// The protocol's names for the optional parameters.
    const NAMES: ParamNames;
    /// What this upstream's models refused so far.
    fn refusals(&self) -> &Refusals;
    /// `req` translated for `model`, leaving out what `dropped` lists.
    fn translate(
        &self,
        up: &Upstream,
        req: &MessagesRequest,
        raw_len: usize,
        model: &str,
        dropped: Dropped,
    ) -> Result<Outgoing, ApiError>;
    /// The provider's state of a request that goes without `dropped`.
    fn prepared(dropped: Dropped) -> Prepared;
}

/// `req` translated for `model`, leaving out at once what the model refused
/// before.
pub(super) fn prepare<P: Retranslate>(
    p: &P,
    up: &Upstream,
    req: &MessagesRequest,
    raw_len: usize,
    model: &str,
) -> Result<Outgoing, ApiError> {
    let dropped = Dropped(p.refusals().for_model(model));
    p.translate(up, req, raw_len, model, dropped)
}

/// `out` again without `param`: translated anew when the parsed request is
/// still there, else patched in the encoded body. `None` when the parameter
/// was already left out, too many were, or the body would not change.
/// A retry remembers the refusal for the model.
pub(super) fn without<P: Retranslate>(
    p: &P,
    up: &Upstream,
    out: &Outgoing,
    dropped: &Dropped,
    parsed: Option<&MessagesRequest>,
    raw_len: usize,
    param: OptionalParam,
) -> Result<Option<Outgoing>, ApiError> {
    if dropped.0.contains(&param) || dropped.0.len() >= MAX_DROPPED_PARAMS {
        return Ok(None);
    }
    let mut dropped = dropped.clone();
    dropped.0.push(param);
    let next = match parsed {
        Some(req) => {
            let next = p.translate(up, req, raw_len, &out.upstream_model, dropped)?;
            (next.body != out.body).then_some(next)
        }
        None => drop_param_in_body(P::NAMES, &out.body, param)
            .map_err(|e| ApiError::api(format!("cannot re-encode the upstream request: {e}")))?
            .map(|body| Outgoing {
                url: out.url.clone(),
                body,
                headers: out.headers.clone(),
                upstream_model: out.upstream_model.clone(),
                stream: out.stream,
                state: P::prepared(dropped),
            }),
    };
    if next.is_some() {
        tracing::info!(
            upstream = %up.name,
            model = %out.upstream_model,
            ?param,
            "upstream model refuses a parameter; sending again without it"
        );
        p.refusals().remember(&out.upstream_model, param);
    }
    Ok(next)
}

#[cfg(test)]
#[path = "refused_tests.rs"]
mod tests;
