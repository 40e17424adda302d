//! A strict mock of Anthropic's Messages API (`/v1/messages` and
//! `/v1/messages/count_tokens`): it refuses what api.anthropic.com answers
//! with 400 or 401 — no credential, no `anthropic-version`, unknown
//! top-level fields, a missing or bad `model` / `max_tokens`, bad roles or
//! blocks, tool results that answer no call, calls left unanswered, a bad
//! thinking budget — and renders a [`Script`] as a Messages JSON answer and
//! as named SSE events.

use serde_json::{json, Value};

use super::mock::{Recorded, Reply};
use super::script::Script;

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    // Betas Claude Code uses.
    "context_management",
    "output_config",
];

const BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "tool_reference",
    "container_upload",
];

/// Validates a request like the Anthropic API does.
pub fn validate(rec: &Recorded) -> Result<(), String> {
    let count_tokens = match rec.path.as_str() {
        "/v1/messages" => false,
        "/v1/messages/count_tokens" => true,
        other => return Err(format!("unexpected path {other}")),
    };
    let api_key = rec.header("x-api-key").is_some_and(|k| !k.is_empty());
    let bearer = rec
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| !t.is_empty());
    if !api_key && !bearer {
        return Err("authentication: x-api-key or Authorization: Bearer is required".into());
    }
    if rec.header("anthropic-version").is_none_or(str::is_empty) {
        return Err("anthropic-version: header is required".into());
    }
    let b = rec.body.as_object().ok_or("body: expected a JSON object")?;
    for k in b.keys() {
        if !TOP_LEVEL.contains(&k.as_str()) {
            return Err(format!("{k}: Extra inputs are not permitted"));
        }
    }
    if b.get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("model: Field required".into());
    }
    let max_tokens = b.get("max_tokens").and_then(Value::as_u64);
    if !count_tokens && max_tokens.is_none_or(|n| n == 0) {
        return Err("max_tokens: Field required (a positive integer)".into());
    }
    if b.get("stream").is_some_and(|s| !s.is_boolean()) {
        return Err("stream: Input should be a valid boolean".into());
    }
    match b.get("system") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (i, p) in parts.iter().enumerate() {
                if p["type"] != "text" || !p["text"].is_string() {
                    return Err(format!("system.{i}: expected a text block"));
                }
            }
        }
        Some(_) => return Err("system: expected a string or a list of text blocks".into()),
    }
    if let Some(t) = b.get("thinking") {
        check_thinking(t, max_tokens)?;
    }
    let mut tool_names = Vec::new();
    if let Some(tools) = b.get("tools") {
        let tools = tools.as_array().ok_or("tools: expected a list")?;
        for (i, t) in tools.iter().enumerate() {
            // OpenAI's `{"type":"function","function":{…}}` is not a tool here.
            if t.get("function").is_some() || t["type"] == "function" {
                return Err(format!(
                    "tools.{i}: Input tag 'function' found using 'type' does not match any of the expected tags"
                ));
            }
            let name = t["name"].as_str().unwrap_or("");
            if name.is_empty() {
                return Err(format!("tools.{i}.name: Field required"));
            }
            // Server tools carry a `type`; custom tools need a schema.
            if t.get("type").is_none() && !t["input_schema"].is_object() {
                return Err(format!("tools.{i}.input_schema: Field required"));
            }
            tool_names.push(name.to_owned());
        }
    }
    if let Some(tc) = b.get("tool_choice") {
        if tc["type"] == "tool" && !tool_names.iter().any(|n| tc["name"] == n.as_str()) {
            return Err(format!(
                "tool_choice: names an undeclared tool {}",
                tc["name"]
            ));
        }
    }
    let messages = b
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    if messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    check_messages(messages)
}

fn check_thinking(t: &Value, max_tokens: Option<u64>) -> Result<(), String> {
    match t["type"].as_str() {
        Some("enabled") => {
            let budget = t["budget_tokens"]
                .as_u64()
                .ok_or("thinking.budget_tokens: Field required")?;
            if budget < 1024 {
                return Err(
                    "thinking.budget_tokens: Input should be greater than or equal to 1024".into(),
                );
            }
            if max_tokens.is_some_and(|m| budget >= m) {
                return Err("`max_tokens` must be greater than `thinking.budget_tokens`".into());
            }
            Ok(())
        }
        Some("disabled" | "adaptive") => Ok(()),
        other => Err(format!("thinking.type: invalid value {other:?}")),
    }
}

fn blocks(content: &Value, at: &str) -> Result<Vec<Value>, String> {
    match content {
        Value::String(s) if !s.is_empty() => Ok(vec![json!({"type": "text", "text": s})]),
        Value::Array(parts) if !parts.is_empty() => {
            for (j, p) in parts.iter().enumerate() {
                let kind = p["type"].as_str().unwrap_or("");
                if !BLOCKS.contains(&kind) {
                    return Err(format!(
                        "{at}.content.{j}.type: unknown block type {kind:?}"
                    ));
                }
                check_block(p, &format!("{at}.content.{j}"))?;
            }
            Ok(parts.clone())
        }
        _ => Err(format!("{at}.content: must be a non-empty string or list")),
    }
}

fn check_block(p: &Value, at: &str) -> Result<(), String> {
    match p["type"].as_str().unwrap_or("") {
        "text" if p["text"].as_str().is_none_or(str::is_empty) => {
            Err(format!("{at}: text content blocks must be non-empty"))
        }
        "image" => {
            let src = &p["source"];
            match src["type"].as_str() {
                Some("base64") => {
                    let mt = src["media_type"].as_str().unwrap_or("");
                    if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&mt) {
                        return Err(format!("{at}.source.media_type: invalid {mt:?}"));
                    }
                    if src["data"].as_str().is_none_or(str::is_empty) {
                        return Err(format!("{at}.source.data: Field required"));
                    }
                    Ok(())
                }
                Some("url" | "file") => Ok(()),
                other => Err(format!("{at}.source.type: invalid {other:?}")),
            }
        }
        "tool_use" => {
            if p["id"].as_str().is_none_or(str::is_empty) || p["name"].as_str().is_none() {
                return Err(format!("{at}: tool_use needs id and name"));
            }
            if !p["input"].is_object() {
                return Err(format!("{at}.input: Input should be a valid dictionary"));
            }
            Ok(())
        }
        "tool_result" if p["tool_use_id"].as_str().is_none_or(str::is_empty) => {
            Err(format!("{at}.tool_use_id: Field required"))
        }
        "thinking" if !p["thinking"].is_string() || !p["signature"].is_string() => {
            Err(format!("{at}: thinking needs thinking and signature"))
        }
        _ => Ok(()),
    }
}

fn ids_of(blocks: &[Value], kind: &str, field: &str) -> Vec<String> {
    blocks
        .iter()
        .filter(|b| b["type"] == kind)
        .filter_map(|b| b[field].as_str().map(str::to_owned))
        .collect()
}

/// Roles, blocks, and tool pairing: every `tool_use` is answered in the
/// next message, every `tool_result` answers a call of the message before.
fn check_messages(messages: &[Value]) -> Result<(), String> {
    let mut open_calls: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages.{i}");
        let role = m["role"].as_str().unwrap_or("");
        let blocks = match role {
            "user" | "assistant" => blocks(&m["content"], &at)?,
            // Claude Code's mid-conversation system turns.
            "system" => blocks(&m["content"], &at)?,
            other => {
                return Err(format!(
                    "{at}.role: Input should be 'user' or 'assistant', got {other:?}"
                ))
            }
        };
        let results = ids_of(&blocks, "tool_result", "tool_use_id");
        if !open_calls.is_empty() {
            let missing: Vec<&String> =
                open_calls.iter().filter(|c| !results.contains(c)).collect();
            if role != "user" || !missing.is_empty() {
                return Err(format!(
                    "{at}: `tool_use` ids were found without `tool_result` blocks immediately after: {missing:?}"
                ));
            }
        }
        for r in &results {
            if role != "user" || !open_calls.contains(r) {
                return Err(format!(
                    "{at}: unexpected `tool_use_id` found in `tool_result` blocks: {r}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                ));
            }
        }
        open_calls = if role == "assistant" {
            ids_of(&blocks, "tool_use", "id")
        } else {
            Vec::new()
        };
        if role == "user" && blocks.iter().any(|b| b["type"] == "tool_use") {
            return Err(format!("{at}: tool_use blocks belong in assistant turns"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Scripts

fn blocks_of(s: &Script) -> Vec<Value> {
    let mut content = Vec::new();
    if let Some(t) = &s.thinking {
        content.push(json!({"type": "thinking", "thinking": t, "signature": s.signature}));
    }
    if !s.text.is_empty() {
        content.push(json!({"type": "text", "text": s.full_text()}));
    }
    for (i, c) in s.tools.iter().enumerate() {
        let id = c.id.clone().unwrap_or_else(|| format!("toolu_mock{i:02}"));
        content.push(json!({"type": "tool_use", "id": id, "name": c.name, "input": c.input}));
    }
    content
}

/// The script as one Messages answer for `model`.
pub fn script_json(s: &Script, model: &str) -> Value {
    json!({
        "id": "msg_mock01", "type": "message", "role": "assistant", "model": model,
        "content": blocks_of(s), "stop_reason": s.stop_reason(), "stop_sequence": null,
        "usage": s.anthropic_usage()
    })
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The script as named SSE events, one event per piece: `message_start`
/// (input and cache counts, as Anthropic sends them), a `ping`, the
/// blocks (thinking and signature deltas, one text delta per piece, tool
/// input in two halves), `message_delta` with the cumulative output count,
/// `message_stop`.
pub fn script_stream(s: &Script, model: &str) -> Vec<String> {
    let mut start_usage = s.anthropic_usage();
    start_usage["output_tokens"] = json!(1);
    let start = json!({"type": "message_start", "message": {
        "id": "msg_mock01", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": start_usage}});
    let mut v = vec![event("message_start", &start)];
    v.push(event("ping", &json!({"type": "ping"})));
    let mut index = 0;
    let mut block = |v: &mut Vec<String>, shell: Value, deltas: Vec<Value>| {
        v.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": shell}),
        ));
        for d in deltas {
            v.push(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": d}),
            ));
        }
        v.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    };
    if let Some(t) = &s.thinking {
        block(
            &mut v,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            vec![
                json!({"type": "thinking_delta", "thinking": t}),
                json!({"type": "signature_delta", "signature": s.signature}),
            ],
        );
    }
    if !s.text.is_empty() {
        let deltas = s
            .text
            .iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect();
        block(&mut v, json!({"type": "text", "text": ""}), deltas);
    }
    for (i, c) in s.tools.iter().enumerate() {
        let id = c.id.clone().unwrap_or_else(|| format!("toolu_mock{i:02}"));
        let args = c.input.to_string();
        let (a, b) = args.split_at(args.len() / 2);
        block(
            &mut v,
            json!({"type": "tool_use", "id": id, "name": c.name, "input": {}}),
            vec![
                json!({"type": "input_json_delta", "partial_json": a}),
                json!({"type": "input_json_delta", "partial_json": b}),
            ],
        );
    }
    v.push(event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": s.stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": s.usage.output}}),
    ));
    v.push(event("message_stop", &json!({"type": "message_stop"})));
    v
}

/// The script in the form the request asked for, for the requested model.
pub fn script_reply(rec: &Recorded, s: &Script) -> Reply {
    let model = rec.body["model"].as_str().unwrap_or("claude-mock");
    if rec.body["stream"] == json!(true) {
        Reply::sse(script_stream(s, model))
    } else {
        Reply::ok(script_json(s, model))
    }
}

/// An Anthropic error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}
