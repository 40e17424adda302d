//! A strict mock of Gemini's `generateContent` / `streamGenerateContent`:
//! path, key header and `alt=sse` as the real endpoint wants them, the body
//! checked by [`gemini_validator`](super::gemini_validator), and the
//! rendering of a [`Script`] as Gemini JSON and SSE (CRLF framed, as Gemini
//! frames it).

use serde_json::{json, Value};

use super::gemini_validator::validate_gemini_request;
use super::mock::{Recorded, Reply};
use super::script::Script;

/// Validates a request like the Gemini API does.
pub fn validate(rec: &Recorded) -> Result<(), String> {
    if !valid_path(&rec.path) {
        return Err(format!("unexpected path {}", rec.path));
    }
    if rec.header("x-goog-api-key").is_none() {
        return Err("missing x-goog-api-key".into());
    }
    if rec.query.as_deref().is_some_and(|q| q.contains("key=")) {
        return Err("the key must not be in the query string".into());
    }
    if rec.path.ends_with(":streamGenerateContent") && rec.query.as_deref() != Some("alt=sse") {
        return Err("streaming needs alt=sse".into());
    }
    validate_gemini_request(&rec.body)
}

fn valid_path(path: &str) -> bool {
    path.strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(model, action)| {
            !model.is_empty() && matches!(action, "generateContent" | "streamGenerateContent")
        })
}

/// The model named in the request path.
pub fn model_of(rec: &Recorded) -> String {
    rec.path
        .strip_prefix("/v1beta/models/")
        .and_then(|r| r.split(':').next())
        .unwrap_or("")
        .to_owned()
}

pub fn is_stream(rec: &Recorded) -> bool {
    rec.path.ends_with(":streamGenerateContent")
}

fn usage(s: &Script) -> Value {
    let prompt = s.usage.input + s.usage.cached;
    json!({"promptTokenCount": prompt, "cachedContentTokenCount": s.usage.cached,
           "candidatesTokenCount": s.usage.output, "totalTokenCount": prompt + s.usage.output})
}

/// The script's parts: thought, text pieces, function calls.
fn parts(s: &Script) -> Vec<Value> {
    let mut parts = Vec::new();
    if let Some(t) = &s.thinking {
        parts.push(json!({"text": t, "thought": true}));
    }
    for p in &s.text {
        parts.push(json!({"text": p}));
    }
    for c in &s.tools {
        let mut call = json!({"name": c.name, "args": c.input});
        if let Some(id) = &c.id {
            call["id"] = json!(id);
        }
        parts.push(json!({"functionCall": call}));
    }
    parts
}

fn candidate(parts: Vec<Value>, finish: Option<&str>, s: &Script) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    json!({"candidates": [c], "usageMetadata": usage(s), "modelVersion": "gemini-2.5-flash"})
}

/// The script as one `GenerateContentResponse`.
pub fn script_json(s: &Script) -> Value {
    candidate(parts(s), Some("STOP"), s)
}

/// The script as SSE: one chunk per part, the last with `finishReason`.
pub fn script_stream(s: &Script) -> Vec<String> {
    let parts = parts(s);
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let finish = (i + 1 == n).then_some("STOP");
            format!("data: {}\r\n\r\n", candidate(vec![p], finish, s))
        })
        .collect()
}

/// The script in the form the request asked for.
pub fn script_reply(rec: &Recorded, s: &Script) -> Reply {
    if is_stream(rec) {
        Reply::sse(script_stream(s))
    } else {
        Reply::ok(script_json(s))
    }
}

/// A Gemini (Google API) error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let code = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json!({"error": {"code": status, "message": message, "status": code}})
}
