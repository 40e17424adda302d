//! A strict mock of OpenAI's Responses API (`POST /v1/responses`,
//! <https://platform.openai.com/docs/api-reference/responses/create>): it
//! validates requests the way api.openai.com does — unknown top-level
//! parameters, `input` as a string or items, item and part shapes, function
//! tools and the hosted `web_search`, every `function_call_output` paired
//! with a `function_call` of the input (and every call answered), a
//! reasoning item followed by the output it led to — plus what a stateless
//! client owes it: `store: false` whenever encrypted reasoning is asked
//! for, no `previous_response_id`, and reasoning items sent back byte for
//! byte as this mock emitted them. It renders a [`Script`] as a response
//! object and as the event stream (text, reasoning summaries, parallel
//! function calls whose argument deltas interleave), and fails on purpose
//! (`response.failed`, `error` events, cut streams).

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::mock::{Recorded, Reply};
use super::script::{Script, ToolCall};

const TOP_LEVEL: &[&str] = &[
    "background",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

const INCLUDABLE: &[&str] = &[
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "message.input_image.image_url",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
];

/// Every reasoning item this mock emitted, as the JSON text it sent.
static EMITTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn remember(item: &Value) {
    let mut emitted = EMITTED.lock().expect("lock");
    emitted
        .get_or_insert_with(HashSet::new)
        .insert(item.to_string());
}

fn was_emitted(text: &str) -> bool {
    EMITTED
        .lock()
        .expect("lock")
        .as_ref()
        .is_some_and(|e| e.contains(text))
}

fn check_keys(obj: &Value, allowed: &[&str], at: &str) -> Result<(), String> {
    let map = obj.as_object().ok_or(format!("{at}: expected an object"))?;
    for k in map.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("Unknown parameter: '{at}.{k}'."));
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

/// Validates a Responses request like OpenAI does.
pub fn validate(rec: &Recorded) -> Result<(), String> {
    if rec.path != "/v1/responses" {
        return Err(format!("unexpected path {}", rec.path));
    }
    if !rec
        .header("authorization")
        .unwrap_or("")
        .starts_with("Bearer ")
    {
        return Err("missing bearer auth".into());
    }
    if rec.header("x-api-key").is_some() || rec.header("anthropic-beta").is_some() {
        return Err("client credentials or Anthropic headers were forwarded".into());
    }
    let b = &rec.body;
    let map = b.as_object().ok_or("body: expected a JSON object")?;
    for k in map.keys() {
        if !TOP_LEVEL.contains(&k.as_str()) {
            return Err(format!("Unknown parameter: '{k}'."));
        }
    }
    if b["model"].as_str().is_none_or(str::is_empty) {
        return Err("Missing required parameter: 'model'.".into());
    }
    if b.get("previous_response_id").is_some() {
        return Err("previous_response_id: the proxy must stay stateless".into());
    }
    if b.get("stream").is_some_and(|s| !s.is_boolean()) {
        return Err("stream: expected a boolean".into());
    }
    if b.get("stream_options").is_some() && b["stream"] != json!(true) {
        return Err("stream_options is only allowed when stream is true".into());
    }
    if b.get("instructions").is_some_and(|i| !i.is_string()) {
        return Err("instructions: expected a string".into());
    }
    if let Some(n) = b.get("max_output_tokens") {
        let n = n.as_u64().ok_or("max_output_tokens: expected an integer")?;
        if n < 16 {
            return Err(format!(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {n} instead."
            ));
        }
    }
    for (field, max) in [("temperature", 2.0), ("top_p", 1.0)] {
        if let Some(v) = b.get(field) {
            let v = v.as_f64().ok_or(format!("{field}: expected a number"))?;
            if !(0.0..=max).contains(&v) {
                return Err(format!("{field}: out of range"));
            }
        }
    }
    if let Some(u) = b.get("user") {
        if u.as_str().is_none_or(|u| u.len() > 64) {
            return Err("user: a string of at most 64 characters".into());
        }
    }
    let include: Vec<&str> = match b.get("include") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .ok_or("include: expected an array")?
            .iter()
            .map(|i| i.as_str().unwrap_or(""))
            .collect(),
    };
    if let Some(bad) = include.iter().find(|i| !INCLUDABLE.contains(i)) {
        return Err(format!("include: unknown value {bad:?}"));
    }
    let encrypted = include.contains(&"reasoning.encrypted_content");
    if encrypted && b["store"] != json!(false) {
        return Err(
            "reasoning.encrypted_content can only be included with store set to false".into(),
        );
    }
    if let Some(r) = b.get("reasoning") {
        check_keys(r, &["effort", "summary", "generate_summary"], "reasoning")?;
        let effort = r["effort"].as_str();
        if r.get("effort").is_some()
            && !effort
                .is_some_and(|e| ["none", "minimal", "low", "medium", "high", "xhigh"].contains(&e))
        {
            return Err(format!("reasoning.effort: invalid value {}", r["effort"]));
        }
        if r.get("summary").is_some()
            && !r["summary"]
                .as_str()
                .is_some_and(|s| ["auto", "concise", "detailed"].contains(&s))
        {
            return Err(format!("reasoning.summary: invalid value {}", r["summary"]));
        }
    }
    validate_tools(b)?;
    if let Some(p) = b.get("parallel_tool_calls") {
        if !p.is_boolean() {
            return Err("parallel_tool_calls: expected a boolean".into());
        }
    }
    validate_input(rec, encrypted)
}

fn validate_tools(b: &Value) -> Result<Vec<String>, String> {
    let tools = match b.get("tools") {
        None => Vec::new(),
        Some(t) => t.as_array().ok_or("tools: expected an array")?.clone(),
    };
    let mut names = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        if t["type"] == "web_search" {
            // A hosted tool: only a client's own body (the pass-through)
            // carries one; the translated path offers function tools only.
            check_keys(
                t,
                &["type", "search_context_size", "user_location", "filters"],
                &at,
            )?;
            continue;
        }
        check_keys(
            t,
            &["type", "name", "description", "parameters", "strict"],
            &at,
        )?;
        if t["type"] != "function" {
            return Err(format!("{at}.type: only function tools are expected"));
        }
        let name = t["name"].as_str().unwrap_or("");
        if !valid_name(name) {
            return Err(format!("{at}.name invalid: {name:?}"));
        }
        if !t["parameters"].is_object() {
            return Err(format!("{at}.parameters: expected an object"));
        }
        if !t["strict"].is_boolean() {
            return Err(format!("Missing required parameter: '{at}.strict'."));
        }
        if t.get("description").is_some_and(|d| !d.is_string()) {
            return Err(format!("{at}.description: expected a string"));
        }
        names.push(name.to_owned());
    }
    match &b["tool_choice"] {
        Value::Null => {}
        Value::String(s) if ["none", "auto", "required"].contains(&s.as_str()) => {
            if tools.is_empty() && s != "none" {
                return Err("tool_choice needs tools".into());
            }
        }
        Value::Object(_) => {
            check_keys(&b["tool_choice"], &["type", "name"], "tool_choice")?;
            let name = b["tool_choice"]["name"].as_str().unwrap_or("");
            if b["tool_choice"]["type"] != "function" || !names.iter().any(|n| n == name) {
                return Err(format!("tool_choice names unknown function {name:?}"));
            }
        }
        other => return Err(format!("tool_choice: invalid value {other}")),
    }
    Ok(names)
}

fn validate_input(rec: &Recorded, encrypted: bool) -> Result<(), String> {
    // A string is one user message, as the API documents.
    if let Some(text) = rec.body["input"].as_str() {
        return if text.is_empty() {
            Err("input: must not be empty".into())
        } else {
            Ok(())
        };
    }
    let input = rec.body["input"]
        .as_array()
        .ok_or("input: expected a string or an array of items")?;
    if input.is_empty() {
        return Err("input: must not be empty".into());
    }
    let raw = String::from_utf8_lossy(&rec.raw);
    let mut calls: Vec<String> = Vec::new();
    let mut answered: Vec<String> = Vec::new();
    for (i, item) in input.iter().enumerate() {
        let at = format!("input[{i}]");
        let kind = item["type"]
            .as_str()
            .unwrap_or(if item.get("role").is_some() {
                "message"
            } else {
                ""
            });
        match kind {
            "message" => validate_message(item, &at)?,
            "function_call" => {
                check_keys(
                    item,
                    &["type", "id", "call_id", "name", "arguments", "status"],
                    &at,
                )?;
                let call_id = item["call_id"]
                    .as_str()
                    .ok_or(format!("Missing required parameter: '{at}.call_id'."))?;
                if !valid_name(item["name"].as_str().unwrap_or("")) {
                    return Err(format!("{at}.name invalid"));
                }
                let args = item["arguments"]
                    .as_str()
                    .ok_or(format!("{at}.arguments: expected a string"))?;
                let parsed: Value =
                    serde_json::from_str(args).map_err(|e| format!("{at}.arguments: {e}"))?;
                if !parsed.is_object() {
                    return Err(format!("{at}.arguments must encode an object"));
                }
                calls.push(call_id.to_owned());
            }
            "function_call_output" => {
                check_keys(item, &["type", "id", "call_id", "output", "status"], &at)?;
                let call_id = item["call_id"].as_str().unwrap_or("");
                if !calls.iter().any(|c| c == call_id) {
                    return Err(format!(
                        "No tool call found for function call output with call_id {call_id}."
                    ));
                }
                if answered.iter().any(|c| c == call_id) {
                    return Err(format!("Duplicate function call output for {call_id}."));
                }
                answered.push(call_id.to_owned());
                match &item["output"] {
                    Value::String(_) => {}
                    Value::Array(parts) => {
                        for (j, p) in parts.iter().enumerate() {
                            validate_input_part(p, &format!("{at}.output[{j}]"))?;
                        }
                    }
                    _ => return Err(format!("{at}.output: expected a string or a list")),
                }
            }
            "reasoning" => {
                check_keys(
                    item,
                    &[
                        "type",
                        "id",
                        "summary",
                        "content",
                        "encrypted_content",
                        "status",
                    ],
                    &at,
                )?;
                if !item["summary"].is_array() {
                    return Err(format!("Missing required parameter: '{at}.summary'."));
                }
                if !encrypted || item["encrypted_content"].as_str().is_none() {
                    return Err(format!(
                        "Item with id '{}' not found. Items are not persisted when `store` is set to false.",
                        item["id"].as_str().unwrap_or("")
                    ));
                }
                let text = item.to_string();
                if !was_emitted(&text) || !raw.contains(&text) {
                    return Err(format!(
                        "The encrypted content for item {} could not be verified: not the item this server sent ({text})",
                        item["id"].as_str().unwrap_or("")
                    ));
                }
                let next = input.get(i + 1).and_then(|n| n["type"].as_str());
                if next.is_none_or(|t| t == "reasoning") {
                    return Err(format!(
                        "Item '{}' of type 'reasoning' was provided without its required following item.",
                        item["id"].as_str().unwrap_or("")
                    ));
                }
            }
            other => return Err(format!("{at}.type: unexpected item type {other:?}")),
        }
    }
    if let Some(open) = calls.iter().find(|c| !answered.contains(c)) {
        return Err(format!("No tool output found for function call {open}."));
    }
    Ok(())
}

fn validate_message(item: &Value, at: &str) -> Result<(), String> {
    check_keys(
        item,
        &["type", "role", "content", "id", "status", "phase"],
        at,
    )?;
    let role = item["role"].as_str().unwrap_or("");
    if !["user", "assistant", "system", "developer"].contains(&role) {
        return Err(format!("{at}.role: invalid value {role:?}"));
    }
    match &item["content"] {
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::Array(parts) if !parts.is_empty() => {
            for (j, p) in parts.iter().enumerate() {
                let pat = format!("{at}.content[{j}]");
                if role == "assistant" {
                    match p["type"].as_str() {
                        Some("output_text") => {
                            check_keys(p, &["type", "text", "annotations", "logprobs"], &pat)?;
                            if !p["text"].is_string() {
                                return Err(format!("{pat}.text: expected a string"));
                            }
                        }
                        Some("refusal") => check_keys(p, &["type", "refusal"], &pat)?,
                        other => {
                            return Err(format!(
                                "{pat}: invalid part type {other:?} for an assistant message"
                            ))
                        }
                    }
                } else {
                    validate_input_part(p, &pat)?;
                }
            }
            Ok(())
        }
        _ => Err(format!("{at}.content: must be a non-empty string or list")),
    }
}

fn validate_input_part(p: &Value, at: &str) -> Result<(), String> {
    match p["type"].as_str() {
        Some("input_text") => {
            check_keys(p, &["type", "text"], at)?;
            if !p["text"].is_string() {
                return Err(format!("{at}.text: expected a string"));
            }
        }
        Some("input_image") => {
            check_keys(p, &["type", "image_url", "detail", "file_id"], at)?;
            let url = p["image_url"].as_str().unwrap_or("");
            if !(url.starts_with("data:image/")
                || url.starts_with("https://")
                || url.starts_with("http://"))
            {
                return Err(format!("{at}.image_url: invalid image url"));
            }
            if !p["detail"]
                .as_str()
                .is_some_and(|d| ["low", "high", "auto"].contains(&d))
            {
                return Err(format!("Missing required parameter: '{at}.detail'."));
            }
        }
        Some("input_file") => {
            check_keys(
                p,
                &["type", "file_data", "file_id", "file_url", "filename"],
                at,
            )?;
            if p.get("file_data").is_some() && p.get("filename").is_none() {
                return Err(format!("{at}: file_data needs a filename"));
            }
        }
        other => return Err(format!("{at}: invalid part type {other:?}")),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Scripts

fn usage(s: &Script) -> Value {
    let input = s.usage.input + s.usage.cached;
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": s.usage.cached},
           "output_tokens": s.usage.output, "output_tokens_details": {"reasoning_tokens": 0},
           "total_tokens": input + s.usage.output})
}

/// The reasoning item the script's thinking becomes; remembered so that a
/// later request must send it back exactly.
fn reasoning_item(s: &Script) -> Option<Value> {
    let thinking = s.thinking.as_ref()?;
    let n = thinking.len() + s.signature.len();
    let item = json!({
        "id": format!("rs_mock{n:04}"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": thinking}],
        "encrypted_content": format!("gAAAAB-mock-{}-{}", s.signature, thinking.replace(' ', "_")),
    });
    remember(&item);
    Some(item)
}

fn message_item(s: &Script) -> Option<Value> {
    let text = s.full_text();
    (!text.is_empty()).then(|| {
        json!({"id": "msg_mock", "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": text, "annotations": []}]})
    })
}

fn call_id(c: &ToolCall, i: usize) -> String {
    c.id.clone().unwrap_or_else(|| format!("call_{i}"))
}

fn call_item(c: &ToolCall, i: usize, arguments: &str) -> Value {
    json!({"id": format!("fc_{i}"), "type": "function_call", "status": "completed",
           "call_id": call_id(c, i), "name": c.name, "arguments": arguments})
}

fn output(s: &Script) -> Vec<Value> {
    let mut out: Vec<Value> = reasoning_item(s).into_iter().collect();
    out.extend(message_item(s));
    for (i, c) in s.tools.iter().enumerate() {
        out.push(call_item(c, i, &c.input.to_string()));
    }
    out
}

fn response(status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({"id": "resp_mock", "object": "response", "created_at": 1_735_689_600, "status": status,
           "error": null, "incomplete_details": null, "model": "gpt-mock", "output": output,
           "parallel_tool_calls": true, "store": false, "tools": [], "usage": usage})
}

/// The script as one response object.
pub fn script_json(s: &Script) -> Value {
    response("completed", output(s), usage(s))
}

/// One SSE event as OpenAI frames it: `event:` is the type.
pub fn event(mut v: Value, seq: &mut u64) -> String {
    v["sequence_number"] = json!(*seq);
    *seq += 1;
    format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""))
}

/// The script as the event stream: `response.created` and
/// `.in_progress` first (they complete nothing), the reasoning item with
/// its summary, the message one delta per text piece, the function calls
/// all added, their argument deltas interleaved (every call's first half,
/// then every call's second half) and then done, and `response.completed`.
pub fn script_stream(s: &Script) -> Vec<String> {
    let mut seq = 0;
    let mut v = vec![
        event(
            json!({"type": "response.created", "response": response("in_progress", vec![], Value::Null)}),
            &mut seq,
        ),
        event(
            json!({"type": "response.in_progress", "response": response("in_progress", vec![], Value::Null)}),
            &mut seq,
        ),
    ];
    let mut index = 0;
    if let Some(item) = reasoning_item(s) {
        let id = item["id"].clone();
        let text = item["summary"][0]["text"].clone();
        let mut added = item.clone();
        added["summary"] = json!([]);
        added
            .as_object_mut()
            .expect("object")
            .remove("encrypted_content");
        for e in [
            json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            json!({"type": "response.reasoning_summary_part.added", "item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "output_index": index, "summary_index": 0, "delta": text}),
            json!({"type": "response.reasoning_summary_text.done", "item_id": id, "output_index": index, "summary_index": 0, "text": text}),
            json!({"type": "response.reasoning_summary_part.done", "item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": text}}),
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ] {
            v.push(event(e, &mut seq));
        }
        index += 1;
    }
    if let Some(item) = message_item(s) {
        let mut added = item.clone();
        added["content"] = json!([]);
        added["status"] = json!("in_progress");
        v.push(event(
            json!({"type": "response.output_item.added", "output_index": index, "item": added}),
            &mut seq,
        ));
        v.push(event(json!({"type": "response.content_part.added", "item_id": "msg_mock", "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}), &mut seq));
        for p in &s.text {
            v.push(event(json!({"type": "response.output_text.delta", "item_id": "msg_mock", "output_index": index, "content_index": 0, "delta": p, "logprobs": []}), &mut seq));
        }
        let text = s.full_text();
        v.push(event(json!({"type": "response.output_text.done", "item_id": "msg_mock", "output_index": index, "content_index": 0, "text": text}), &mut seq));
        v.push(event(json!({"type": "response.content_part.done", "item_id": "msg_mock", "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}), &mut seq));
        v.push(event(
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
            &mut seq,
        ));
        index += 1;
    }
    let calls: Vec<(usize, String, String)> = s
        .tools
        .iter()
        .enumerate()
        .map(|(i, c)| (i, format!("fc_{i}"), c.input.to_string()))
        .collect();
    for (i, _, _) in &calls {
        let c = &s.tools[*i];
        v.push(event(json!({"type": "response.output_item.added", "output_index": index + i, "item": call_item(c, *i, "")}), &mut seq));
    }
    for half in 0..2 {
        for (i, id, args) in &calls {
            let (a, b) = args.split_at(args.len() / 2);
            let delta = if half == 0 { a } else { b };
            v.push(event(json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": index + i, "delta": delta}), &mut seq));
        }
    }
    for (i, id, args) in &calls {
        v.push(event(json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": index + i, "arguments": args}), &mut seq));
        v.push(event(json!({"type": "response.output_item.done", "output_index": index + i, "item": call_item(&s.tools[*i], *i, args)}), &mut seq));
    }
    v.push(event(
        json!({"type": "response.completed", "response": script_json(s)}),
        &mut seq,
    ));
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

/// A 200 stream that fails before any content: `response.created`, then
/// `response.failed` with `code`.
pub fn failed_stream(code: &str, message: &str) -> Vec<String> {
    let mut seq = 0;
    let mut failed = response("failed", vec![], Value::Null);
    failed["error"] = json!({"code": code, "message": message});
    vec![
        event(
            json!({"type": "response.created", "response": response("in_progress", vec![], Value::Null)}),
            &mut seq,
        ),
        event(
            json!({"type": "response.failed", "response": failed}),
            &mut seq,
        ),
    ]
}

/// A 200 stream whose first event after `response.created` is an `error`.
pub fn error_stream(code: &str, message: &str) -> Vec<String> {
    let mut seq = 0;
    vec![
        event(
            json!({"type": "response.created", "response": response("in_progress", vec![], Value::Null)}),
            &mut seq,
        ),
        event(
            json!({"type": "error", "code": code, "message": message, "param": null}),
            &mut seq,
        ),
    ]
}

/// An OpenAI error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        429 => ("rate_limit_exceeded", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}
