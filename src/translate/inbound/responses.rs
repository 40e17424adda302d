//! A Responses API request as an Anthropic request, and reasoning items
//! as the thinking blocks they carry (docs/openai-inbound.md, "Responses").
//!
//! The gateway is stateless: a reasoning item it returned carries the whole
//! thinking block (text and signature) in `encrypted_content`, so when the
//! client sends the item back — as Codex does with `store: false` and
//! `include: ["reasoning.encrypted_content"]` — the thinking block is
//! restored exactly, and an upstream that checks signatures (Anthropic,
//! Gemini's thought signatures) sees its own again.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::draft::{self, Draft, Settings, Turn};
use crate::error::ApiError;
use crate::protocol::responses_in::{
    ContentPartIn, InputItem, MessageContentIn, ResponsesInput, ResponsesRequest,
};
use crate::translate::anthropic::{to_raw, RawObject};

/// Marks `encrypted_content` this gateway wrote.
const REASONING_PREFIX: &str = "claude-proxy.r1.";

#[derive(Serialize, Deserialize)]
struct Carried {
    thinking: String,
    signature: String,
}

/// The `encrypted_content` that carries a thinking block.
pub(crate) fn encode_reasoning(thinking: &str, signature: &str) -> String {
    let json = serde_json::to_vec(&Carried {
        thinking: thinking.to_owned(),
        signature: signature.to_owned(),
    })
    .unwrap_or_default();
    format!(
        "{REASONING_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// The thinking block `(thinking, signature)` an `encrypted_content` of
/// this gateway carries; `None` for anything else.
pub(crate) fn decode_reasoning(content: &str) -> Option<(String, String)> {
    let b64 = content.strip_prefix(REASONING_PREFIX)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()?;
    let c: Carried = serde_json::from_slice(&bytes).ok()?;
    Some((c.thinking, c.signature))
}

/// The client's Responses body for a Responses upstream, which gets it as
/// it is (docs/openai-inbound.md, "Pass-through"): `model` becomes the
/// mapped one, and a reasoning item this gateway wrote — it carries a
/// thinking block that an earlier turn got through the translated path —
/// becomes the upstream's own reasoning item again when the block came
/// from a Responses upstream, and is left out otherwise (no Responses
/// upstream could verify it). Every other member keeps its bytes.
pub(crate) fn pass_through_body(body: &[u8], model: &str) -> Result<Vec<u8>, String> {
    let mut obj: RawObject = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let prefix = REASONING_PREFIX.as_bytes();
    let carries = body.windows(prefix.len()).any(|w| w == prefix);
    for (key, value) in obj.0.iter_mut() {
        match key.as_str() {
            "model" => *value = to_raw(&Value::String(model.to_owned()))?,
            "input" if carries => {
                if let Ok(items) = serde_json::from_str::<Vec<Box<RawValue>>>(value.get()) {
                    let items: Vec<Box<RawValue>> =
                        items.into_iter().filter_map(upstream_item).collect();
                    *value = serde_json::value::to_raw_value(&items).map_err(|e| e.to_string())?;
                }
            }
            _ => {}
        }
    }
    serde_json::to_vec(&obj).map_err(|e| e.to_string())
}

/// An input item as a Responses upstream can take it (see
/// [`pass_through_body`]); `None` to leave it out.
fn upstream_item(item: Box<RawValue>) -> Option<Box<RawValue>> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: Option<String>,
        encrypted_content: Option<String>,
    }
    let Ok(probe) = serde_json::from_str::<Probe>(item.get()) else {
        return Some(item);
    };
    let carried = match (probe.kind.as_deref(), probe.encrypted_content.as_deref()) {
        (Some("reasoning"), Some(content)) => decode_reasoning(content),
        _ => None,
    };
    match carried {
        None => Some(item),
        Some((_, signature)) => crate::translate::responses::reasoning_item(&signature),
    }
}

/// The Anthropic request body for `req`, or the 400 that names what this
/// gateway cannot serve.
pub(crate) fn to_anthropic(req: &ResponsesRequest) -> Result<Value, ApiError> {
    if req.previous_response_id.is_some() {
        return Err(ApiError::invalid_request(
            "previous_response_id: not supported; this gateway is stateless (it stores no responses). Send the whole conversation in input, with store: false",
        ));
    }
    if req.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(ApiError::invalid_request(
            "conversation: not supported; this gateway is stateless. Send the whole conversation in input",
        ));
    }
    if req.background == Some(true) {
        return Err(ApiError::invalid_request(
            "background: not supported; this gateway stores no responses to poll",
        ));
    }
    let mut d = Draft::default();
    if let Some(i) = req.instructions.as_deref() {
        d.system(i);
    }
    match &req.input {
        None => {}
        Some(ResponsesInput::Text(t)) => d.text(Turn::User, t),
        Some(ResponsesInput::Items(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(&mut d, item, &format!("input[{i}]"))?;
            }
        }
    }
    let mut tools = Vec::new();
    for t in req.tools.iter().flatten() {
        // Hosted tools (web search, file search, …) and custom (grammar)
        // tools have no equivalent in other providers and are left out, as
        // /v1/messages leaves out Anthropic's server tools. A namespace's
        // functions become tools named `namespace__function`.
        match t.get("type").and_then(Value::as_str) {
            Some("function") => function_tool(&mut tools, None, t),
            Some("namespace") => {
                let ns = t.get("name").and_then(Value::as_str).unwrap_or_default();
                for inner in t
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if inner.get("type").and_then(Value::as_str) == Some("function") {
                        function_tool(&mut tools, Some(ns), inner);
                    }
                }
            }
            _ => {}
        }
    }
    let format_instruction = req
        .text
        .as_ref()
        .and_then(|t| t.format.as_ref())
        .and_then(|f| draft::format_instruction(f["type"].as_str()?, f.get("schema")));
    d.finish(Settings {
        model: req.model.clone(),
        max_tokens: req.max_output_tokens,
        effort: req.reasoning.as_ref().and_then(|r| r.effort.clone()),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: Vec::new(),
        stream: req.is_stream(),
        tools,
        tool_choice: req
            .tool_choice
            .as_ref()
            .and_then(|c| draft::tool_choice(c, |c| c["name"].as_str())),
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.safety_identifier.clone().or_else(|| req.user.clone()),
        format_instruction,
    })
}

/// A function tool as an Anthropic tool; inside namespace `ns`, under its
/// [`namespaced_name`].
fn function_tool(tools: &mut Vec<Value>, ns: Option<&str>, t: &Value) {
    let Some(name) = t.get("name").and_then(Value::as_str) else {
        return;
    };
    let name = match ns {
        Some(ns) => namespaced_name(ns, name),
        None => name.to_owned(),
    };
    tools.push(draft::tool(
        &name,
        t.get("description").and_then(Value::as_str),
        t.get("parameters"),
    ));
}

/// Longest tool name every upstream takes (Anthropic, OpenAI and Gemini
/// allow 64 characters of `[a-zA-Z0-9_-]`).
const MAX_TOOL_NAME: usize = 64;

/// The one name function `name` of namespace `ns` has for upstreams that
/// know no namespaces: `ns__name`, with characters other than
/// `[a-zA-Z0-9_-]` as `_`, and shortened to 64 characters with a hash of
/// the whole when longer (so two long names stay apart). The answer's
/// calls are mapped back through the request's namespaces
/// (`responses_out::Echo`), so the client sees `namespace` and `name` again.
pub(crate) fn namespaced_name(ns: &str, name: &str) -> String {
    let full: String = format!("{ns}__{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if full.len() <= MAX_TOOL_NAME {
        return full;
    }
    let hash = crate::translate::common::hash::fnv1a64(format!("{ns}\0{name}").as_bytes());
    format!("{}_{:08x}", &full[..MAX_TOOL_NAME - 9], hash as u32)
}

fn input_item(d: &mut Draft, item: &InputItem, at: &str) -> Result<(), ApiError> {
    match item.kind.as_deref() {
        None | Some("message") => message(d, item, at),
        Some("function_call") => {
            let (Some(call_id), Some(name)) = (item.call_id.as_deref(), item.name.as_deref())
            else {
                return Err(ApiError::invalid_request(format!(
                    "{at}: a function_call needs call_id and name"
                )));
            };
            let name = match item.namespace.as_deref() {
                Some(ns) => namespaced_name(ns, name),
                None => name.to_owned(),
            };
            d.tool_use(call_id, &name, item.arguments.as_deref().unwrap_or(""));
            Ok(())
        }
        Some("function_call_output") => {
            let call_id = item.call_id.as_deref().ok_or_else(|| {
                ApiError::invalid_request(format!("{at}.call_id: required"))
            })?;
            let content = tool_output(item.output.as_ref(), at)?;
            d.push(
                Turn::User,
                json!({"type": "tool_result", "tool_use_id": call_id, "content": content}),
            );
            Ok(())
        }
        Some("reasoning") => {
            // Only this gateway's own items can be restored; a reasoning
            // item without them carries nothing an upstream would accept.
            if let Some((thinking, signature)) =
                item.encrypted_content.as_deref().and_then(decode_reasoning)
            {
                d.push(
                    Turn::Assistant,
                    json!({"type": "thinking", "thinking": thinking, "signature": signature}),
                );
            }
            Ok(())
        }
        Some("item_reference") => Err(ApiError::invalid_request(format!(
            "{at}: item references are not supported; this gateway is stateless. Send the items themselves"
        ))),
        // Calls of hosted or custom tools, which this gateway never
        // offers, and their outputs.
        Some(_) => Ok(()),
    }
}

fn message(d: &mut Draft, item: &InputItem, at: &str) -> Result<(), ApiError> {
    let role = item.role.as_deref().unwrap_or("user");
    let turn = match role {
        "system" | "developer" => {
            let text = match &item.content {
                Some(MessageContentIn::Text(t)) => t.clone(),
                Some(MessageContentIn::Parts(parts)) => {
                    draft::joined(parts.iter().filter_map(|p| p.text.as_deref()))
                }
                None => String::new(),
            };
            d.system(&text);
            return Ok(());
        }
        "user" => Turn::User,
        "assistant" => Turn::Assistant,
        other => {
            return Err(ApiError::invalid_request(format!(
                "{at}.role: unknown role {other:?}"
            )))
        }
    };
    match &item.content {
        None => {}
        Some(MessageContentIn::Text(t)) => d.text(turn, t),
        Some(MessageContentIn::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                if let Some(block) = part(p, &format!("{at}.content[{j}]"))? {
                    if block["type"] == "text" {
                        d.text(turn, block["text"].as_str().unwrap_or(""));
                    } else if turn == Turn::User {
                        d.push(turn, block);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A content part as an Anthropic block (`None` for nothing to send).
fn part(p: &ContentPartIn, at: &str) -> Result<Option<Value>, ApiError> {
    match p.kind.as_str() {
        "input_text" | "output_text" | "text" => Ok(Some(
            json!({"type": "text", "text": p.text.as_deref().unwrap_or("")}),
        )),
        "refusal" => Ok(Some(
            json!({"type": "text", "text": p.refusal.as_deref().unwrap_or("")}),
        )),
        "input_image" => match (&p.image_url, &p.file_id) {
            (Some(url), _) => draft::image(url, at).map(Some),
            (None, Some(_)) => Err(ApiError::invalid_request(format!(
                "{at}: file ids are not supported (this gateway stores no files); send image_url"
            ))),
            (None, None) => Err(ApiError::invalid_request(format!(
                "{at}.image_url: required"
            ))),
        },
        "input_file" => draft::file(
            p.file_data.as_deref(),
            p.file_url.as_deref(),
            p.file_id.as_deref(),
            p.filename.as_deref(),
            at,
        )
        .map(Some),
        "input_audio" => Err(ApiError::invalid_request(format!(
            "{at}: audio input is not supported"
        ))),
        other => Err(ApiError::invalid_request(format!(
            "{at}.type: unknown content part type {other:?}"
        ))),
    }
}

/// A function call's output as `tool_result` content: a string as it is,
/// a list of parts as text and image blocks.
fn tool_output(output: Option<&Value>, at: &str) -> Result<Value, ApiError> {
    match output {
        None | Some(Value::Null) => Ok(json!("")),
        Some(Value::String(s)) => Ok(json!(s)),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                let p: ContentPartIn = serde_json::from_value(p.clone())
                    .map_err(|e| ApiError::invalid_request(format!("{at}.output[{j}]: {e}")))?;
                match part(&p, &format!("{at}.output[{j}]"))? {
                    Some(b) if b["type"] == "text" && b["text"] == "" => {}
                    Some(b) if b["type"] == "text" || b["type"] == "image" => blocks.push(b),
                    _ => {
                        return Err(ApiError::invalid_request(format!(
                            "{at}.output[{j}]: only text and images can be tool output"
                        )))
                    }
                }
            }
            Ok(Value::Array(blocks))
        }
        Some(other) => Ok(json!(other.to_string())),
    }
}
