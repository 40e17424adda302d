//! A strict mock of OpenAI Chat Completions: it validates requests the way
//! api.openai.com does (unknown parameters, roles, tool-call pairing,
//! argument strings) and offers canned JSON and SSE answers.

use serde_json::{json, Value};

use super::mock::{Recorded, Reply};
use super::script::Script;

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "user",
    "safety_identifier",
];

fn check_keys(obj: &Value, allowed: &[&str], at: &str) -> Result<(), String> {
    let map = obj.as_object().ok_or(format!("{at}: expected an object"))?;
    for k in map.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("Unrecognized request argument supplied: {at}.{k}"));
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates a Chat Completions request like OpenAI does.
pub fn validate(rec: &Recorded) -> Result<(), String> {
    if rec.path != "/v1/chat/completions" {
        return Err(format!("unexpected path {}", rec.path));
    }
    let auth = rec.header("authorization").unwrap_or("");
    if !auth.starts_with("Bearer ") {
        return Err("missing bearer auth".into());
    }
    if rec.header("x-api-key").is_some() || rec.header("anthropic-beta").is_some() {
        return Err("client credentials or Anthropic headers were forwarded".into());
    }
    let b = &rec.body;
    check_keys(b, TOP_LEVEL, "body")?;
    if b["model"].as_str().is_none_or(|m| m.is_empty()) {
        return Err("model: required".into());
    }
    if b.get("max_tokens").is_some() && b.get("max_completion_tokens").is_some() {
        return Err("max_tokens and max_completion_tokens are mutually exclusive".into());
    }
    if b.get("stream_options").is_some() && b["stream"] != json!(true) {
        return Err("stream_options is only allowed when stream is true".into());
    }
    let tools = b["tools"].as_array().cloned().unwrap_or_default();
    if b.get("tools").is_some() && tools.is_empty() {
        return Err("tools: empty array".into());
    }
    if b.get("parallel_tool_calls").is_some() && tools.is_empty() {
        return Err("'parallel_tool_calls' is only allowed when 'tools' are specified".into());
    }
    let mut tool_names = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        check_keys(t, &["type", "function"], &format!("tools[{i}]"))?;
        if t["type"] != "function" {
            return Err(format!("tools[{i}].type must be function"));
        }
        let f = &t["function"];
        check_keys(
            f,
            &["name", "description", "parameters", "strict"],
            &format!("tools[{i}].function"),
        )?;
        let name = f["name"].as_str().unwrap_or("");
        if !valid_name(name) {
            return Err(format!("tools[{i}].function.name invalid: {name:?}"));
        }
        if f.get("parameters").is_some_and(|p| !p.is_object()) {
            return Err(format!("tools[{i}].function.parameters must be an object"));
        }
        tool_names.push(name.to_owned());
    }
    match &b["tool_choice"] {
        Value::Null => {}
        Value::String(s) if ["none", "auto", "required"].contains(&s.as_str()) => {
            if tools.is_empty() {
                return Err("tool_choice is only allowed when tools are specified".into());
            }
        }
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or("");
            if !tool_names.iter().any(|t| t == name) {
                return Err(format!("tool_choice names unknown tool {name:?}"));
            }
        }
        other => return Err(format!("invalid tool_choice {other}")),
    }
    let messages = b["messages"].as_array().ok_or("messages: required array")?;
    if messages.is_empty() {
        return Err("messages: must not be empty".into());
    }
    let mut pending: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m["role"].as_str().unwrap_or("");
        if role != "tool" && !pending.is_empty() {
            return Err(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. Missing: {pending:?} (at {at})"
            ));
        }
        match role {
            "system" | "developer" => {
                check_keys(m, &["role", "content", "name"], &at)?;
                check_text_content(&m["content"], &at)?;
            }
            "user" => {
                check_keys(m, &["role", "content", "name"], &at)?;
                match &m["content"] {
                    Value::String(s) if !s.is_empty() => {}
                    Value::Array(parts) if !parts.is_empty() => {
                        for (j, p) in parts.iter().enumerate() {
                            let pat = format!("{at}.content[{j}]");
                            match p["type"].as_str() {
                                Some("text") => {
                                    check_keys(p, &["type", "text"], &pat)?;
                                    if !p["text"].is_string() {
                                        return Err(format!("{pat}.text must be a string"));
                                    }
                                }
                                Some("image_url") => {
                                    check_keys(p, &["type", "image_url"], &pat)?;
                                    check_keys(&p["image_url"], &["url", "detail"], &pat)?;
                                    let url = p["image_url"]["url"].as_str().unwrap_or("");
                                    if !(url.starts_with("data:image/")
                                        || url.starts_with("https://")
                                        || url.starts_with("http://"))
                                    {
                                        return Err(format!("{pat}: invalid image url"));
                                    }
                                }
                                Some("file") => check_keys(p, &["type", "file"], &pat)?,
                                other => return Err(format!("{pat}: unknown part type {other:?}")),
                            }
                        }
                    }
                    _ => return Err(format!("{at}.content: must be a non-empty string or array")),
                }
            }
            "assistant" => {
                check_keys(
                    m,
                    &[
                        "role",
                        "content",
                        "tool_calls",
                        "name",
                        "refusal",
                        "reasoning_content",
                    ],
                    &at,
                )?;
                let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
                let has_text = m["content"].as_str().is_some_and(|s| !s.is_empty());
                if !has_text && calls.is_empty() {
                    return Err(format!(
                        "{at}: assistant message needs content or tool_calls"
                    ));
                }
                for (j, c) in calls.iter().enumerate() {
                    let cat = format!("{at}.tool_calls[{j}]");
                    check_keys(c, &["id", "type", "function"], &cat)?;
                    let id = c["id"].as_str().ok_or(format!("{cat}.id required"))?;
                    let args = c["function"]["arguments"]
                        .as_str()
                        .ok_or(format!("{cat}.function.arguments must be a string"))?;
                    let parsed: Value = serde_json::from_str(args)
                        .map_err(|e| format!("{cat}.function.arguments: {e}"))?;
                    if !parsed.is_object() {
                        return Err(format!("{cat}.function.arguments must encode an object"));
                    }
                    if !valid_name(c["function"]["name"].as_str().unwrap_or("")) {
                        return Err(format!("{cat}.function.name invalid"));
                    }
                    pending.push(id.to_owned());
                }
            }
            "tool" => {
                check_keys(m, &["role", "content", "tool_call_id"], &at)?;
                let id = m["tool_call_id"]
                    .as_str()
                    .ok_or(format!("{at}.tool_call_id required"))?;
                let Some(pos) = pending.iter().position(|p| p == id) else {
                    return Err(format!(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' ({at}, id {id})"
                    ));
                };
                pending.remove(pos);
                check_text_content(&m["content"], &at)?;
            }
            other => return Err(format!("{at}.role: invalid value {other:?}")),
        }
    }
    if !pending.is_empty() {
        return Err(format!("tool calls without responses: {pending:?}"));
    }
    Ok(())
}

fn check_text_content(content: &Value, at: &str) -> Result<(), String> {
    match content {
        Value::String(_) => Ok(()),
        Value::Array(parts) => {
            for p in parts {
                if p["type"] != "text" {
                    return Err(format!("{at}.content: only text parts are allowed"));
                }
            }
            Ok(())
        }
        _ => Err(format!("{at}.content: must be a string")),
    }
}

// ---------------------------------------------------------------------------
// Canned answers

pub fn completion(
    message: Value,
    finish_reason: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_735_689_600,
        "model": "mock-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
    })
}

pub fn text_completion(text: &str) -> Value {
    completion(json!({"role": "assistant", "content": text}), "stop", 12, 5)
}

/// A chunk with the given delta.
pub fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "mock-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    });
    format!("data: {c}\n\n")
}

pub fn usage_chunk(prompt: u64, completion: u64) -> String {
    let c = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "mock-model",
        "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    });
    format!("data: {c}\n\n")
}

pub const DONE: &str = "data: [DONE]\n\n";

/// A complete text stream in `pieces`.
pub fn text_stream(pieces: &[&str]) -> Vec<String> {
    let mut v = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    for p in pieces {
        v.push(chunk(json!({"content": p}), None));
    }
    v.push(chunk(json!({}), Some("stop")));
    v.push(usage_chunk(12, pieces.len() as u64));
    v.push(DONE.to_owned());
    v
}

// ---------------------------------------------------------------------------
// Scripts

fn script_usage(s: &Script) -> Value {
    let prompt = s.usage.input + s.usage.cached;
    json!({"prompt_tokens": prompt, "completion_tokens": s.usage.output,
           "total_tokens": prompt + s.usage.output,
           "prompt_tokens_details": {"cached_tokens": s.usage.cached}})
}

fn finish_reason(s: &Script) -> &'static str {
    if s.tools.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

/// The script as one `chat.completion`.
pub fn script_json(s: &Script) -> Value {
    let text = s.full_text();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
    if let Some(t) = &s.thinking {
        message["reasoning_content"] = json!(t);
    }
    if !s.tools.is_empty() {
        let calls: Vec<Value> = s
            .tools
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": c.id.clone().unwrap_or_else(|| format!("call_{i}")), "type": "function",
                       "function": {"name": c.name, "arguments": c.input.to_string()}})
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_735_689_600, "model": "mock-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(s), "logprobs": null}],
        "usage": script_usage(s)
    })
}

/// The script as `data:` chunks: a role chunk first (it completes
/// nothing), reasoning, one chunk per text piece, each tool call's arguments
/// in two halves, the finish chunk, the usage chunk and `[DONE]`.
pub fn script_stream(s: &Script) -> Vec<String> {
    let mut v = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    if let Some(t) = &s.thinking {
        v.push(chunk(json!({"reasoning_content": t}), None));
    }
    for p in &s.text {
        v.push(chunk(json!({"content": p}), None));
    }
    for (i, c) in s.tools.iter().enumerate() {
        let args = c.input.to_string();
        let (a, b) = args.split_at(args.len() / 2);
        let id = c.id.clone().unwrap_or_else(|| format!("call_{i}"));
        v.push(chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": c.name, "arguments": a}}]}),
            None,
        ));
        v.push(chunk(
            json!({"tool_calls": [{"index": i, "function": {"arguments": b}}]}),
            None,
        ));
    }
    v.push(chunk(json!({}), Some(finish_reason(s))));
    let usage = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "mock-model",
        "choices": [], "usage": script_usage(s)
    });
    v.push(format!("data: {usage}\n\n"));
    v.push(DONE.to_owned());
    v
}

/// The script in the form the request asked for.
pub fn script_reply(rec: &Recorded, s: &Script) -> Reply {
    if rec.body["stream"] == json!(true) {
        Reply::sse(script_stream(s))
    } else {
        Reply::ok(script_json(s))
    }
}

/// An OpenAI error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}
