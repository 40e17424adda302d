//! What the battery needs to know about each provider: its service type,
//! its validating mock and wire format, and where things land in the
//! requests it receives.

use serde_json::{json, Value};

use crate::common::{
    mock_anthropic, mock_gemini, mock_openai, mock_responses, Recorded, Reply, Script, ToolCall,
};

pub trait Provider: 'static {
    /// Name in test names and upstream names.
    const NAME: &'static str;
    /// `serviceType` in config.json.
    const SERVICE_TYPE: &'static str;
    /// The upstream model every client model is mapped to (`"*"`).
    const MODEL: &'static str;
    /// The client receives the upstream's stream byte for byte.
    const PASS_THROUGH: bool;

    /// Accepts a request the way the real provider does (else a 400).
    fn validate(rec: &Recorded) -> Result<(), String>;
    fn wants_stream(rec: &Recorded) -> bool;
    fn model_of(rec: &Recorded) -> String;
    /// The upstream's id for tool call `n` of an answer (`None`: it gives
    /// none, like Gemini).
    fn upstream_tool_id(n: usize) -> Option<String>;

    fn json(s: &Script, rec: &Recorded) -> Value;
    /// The script as SSE pieces; the first two never finish the message.
    fn stream(s: &Script) -> Vec<String>;
    fn error_body(status: u16, message: &str) -> Value;

    /// The answer in the form the request asked for.
    fn answer(rec: &Recorded, s: &Script) -> Reply {
        if Self::wants_stream(rec) {
            Reply::sse(Self::stream(s))
        } else {
            Reply::ok(Self::json(s, rec))
        }
    }

    /// Every text the user turns carry, in order.
    fn user_texts(rec: &Recorded) -> Vec<String>;
    /// `(media type, base64 data)` of every image in the request.
    fn images(rec: &Recorded) -> Vec<(String, String)>;
    /// Names of the declared tools.
    fn declared_tools(rec: &Recorded) -> Vec<String>;
    /// `(name, input)` of every tool call in the request's history.
    fn history_calls(rec: &Recorded) -> Vec<(String, Value)>;
    /// `(call reference, result text)` of every tool result in the request.
    fn tool_results(rec: &Recorded) -> Vec<(String, String)>;
    /// How [`Provider::tool_results`] refers to call `n` of `calls`.
    fn call_ref(calls: &[ToolCall], n: usize) -> String;
    /// The client-facing id of call `n` is acceptable.
    fn check_client_id(call: &ToolCall, n: usize, id: &str) {
        let _ = n;
        assert_eq!(
            Some(id),
            call.id.as_deref(),
            "the upstream's tool id is kept"
        );
    }
    /// The client asked for thinking with `budget`: the request says so in
    /// the provider's terms.
    fn assert_thinking_requested(rec: &Recorded, budget: u64);
    /// The thinking block's signature as the client gets it.
    fn assert_signature(signature: &str, s: &Script);
}

/// Text of an Anthropic / OpenAI-style content value (string or parts).
fn texts_of(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn messages(rec: &Recorded) -> Vec<Value> {
    rec.body["messages"].as_array().cloned().unwrap_or_default()
}

fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        other => texts_of(other).concat(),
    }
}

// ---------------------------------------------------------------------------

/// OpenAI Chat Completions; `OLD` is the `openaiold` service type (the
/// same wire format, `max_tokens` instead of `max_completion_tokens`).
pub struct OpenAiCompat<const OLD: bool>;

pub type OpenAi = OpenAiCompat<false>;
pub type OpenAiOld = OpenAiCompat<true>;

impl<const OLD: bool> Provider for OpenAiCompat<OLD> {
    const NAME: &'static str = if OLD { "openaiold" } else { "openai" };
    const SERVICE_TYPE: &'static str = Self::NAME;
    const MODEL: &'static str = "gpt-battery";
    const PASS_THROUGH: bool = false;

    fn validate(rec: &Recorded) -> Result<(), String> {
        mock_openai::validate(rec)?;
        let field = if OLD {
            "max_tokens"
        } else {
            "max_completion_tokens"
        };
        if rec.body.get(field).is_none() {
            return Err(format!("{} sends the output limit as {field}", Self::NAME));
        }
        Ok(())
    }
    fn wants_stream(rec: &Recorded) -> bool {
        rec.body["stream"] == json!(true)
    }
    fn model_of(rec: &Recorded) -> String {
        rec.body["model"].as_str().unwrap_or("").to_owned()
    }
    fn upstream_tool_id(n: usize) -> Option<String> {
        Some(format!("call_battery{n}"))
    }
    fn json(s: &Script, _rec: &Recorded) -> Value {
        mock_openai::script_json(s)
    }
    fn stream(s: &Script) -> Vec<String> {
        mock_openai::script_stream(s)
    }
    fn error_body(status: u16, message: &str) -> Value {
        mock_openai::error_body(status, message)
    }
    fn user_texts(rec: &Recorded) -> Vec<String> {
        messages(rec)
            .iter()
            .filter(|m| m["role"] == "user")
            .flat_map(|m| texts_of(&m["content"]))
            .collect()
    }
    fn images(rec: &Recorded) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for m in messages(rec) {
            for p in m["content"].as_array().cloned().unwrap_or_default() {
                if p["type"] != "image_url" {
                    continue;
                }
                let url = p["image_url"]["url"].as_str().unwrap_or("");
                let (head, data) = url.split_once(',').unwrap_or(("", ""));
                let mime = head
                    .strip_prefix("data:")
                    .and_then(|h| h.strip_suffix(";base64"))
                    .unwrap_or(head);
                out.push((mime.to_owned(), data.to_owned()));
            }
        }
        out
    }
    fn declared_tools(rec: &Recorded) -> Vec<String> {
        rec.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
            .collect()
    }
    fn history_calls(rec: &Recorded) -> Vec<(String, Value)> {
        messages(rec)
            .iter()
            .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
            .map(|c| {
                let args = c["function"]["arguments"].as_str().unwrap_or("null");
                (
                    c["function"]["name"].as_str().unwrap_or("").to_owned(),
                    serde_json::from_str(args).unwrap_or(Value::Null),
                )
            })
            .collect()
    }
    fn tool_results(rec: &Recorded) -> Vec<(String, String)> {
        messages(rec)
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| {
                (
                    m["tool_call_id"].as_str().unwrap_or("").to_owned(),
                    result_text(&m["content"]),
                )
            })
            .collect()
    }
    fn call_ref(calls: &[ToolCall], n: usize) -> String {
        calls[n].id.clone().expect("openai calls have ids")
    }
    fn assert_thinking_requested(rec: &Recorded, budget: u64) {
        // Budgets below 4096 are "low" effort.
        assert!(budget < 4096, "the battery asks for a small budget");
        assert_eq!(rec.body["reasoning_effort"], "low", "{}", rec.body);
    }
    fn assert_signature(signature: &str, _s: &Script) {
        assert!(
            signature.starts_with("claude-proxy."),
            "a proxy signature: {signature}"
        );
    }
}

// ---------------------------------------------------------------------------

/// OpenAI's Responses API.
pub struct Responses;

impl Responses {
    fn items(rec: &Recorded, kind: &str) -> Vec<Value> {
        rec.body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == kind)
            .cloned()
            .collect()
    }

    /// The parts of the user messages.
    fn user_parts(rec: &Recorded) -> Vec<Value> {
        Self::items(rec, "message")
            .iter()
            .filter(|m| m["role"] == "user")
            .flat_map(|m| match &m["content"] {
                Value::String(s) => vec![json!({"type": "input_text", "text": s})],
                Value::Array(parts) => parts.clone(),
                _ => Vec::new(),
            })
            .collect()
    }
}

impl Provider for Responses {
    const NAME: &'static str = "responses";
    const SERVICE_TYPE: &'static str = "responses";
    const MODEL: &'static str = "gpt-5-battery";
    const PASS_THROUGH: bool = false;

    fn validate(rec: &Recorded) -> Result<(), String> {
        mock_responses::validate(rec)?;
        if rec.body["store"] != json!(false) {
            return Err("the proxy is stateless: store must be false".into());
        }
        Ok(())
    }
    fn wants_stream(rec: &Recorded) -> bool {
        rec.body["stream"] == json!(true)
    }
    fn model_of(rec: &Recorded) -> String {
        rec.body["model"].as_str().unwrap_or("").to_owned()
    }
    fn upstream_tool_id(n: usize) -> Option<String> {
        Some(format!("call_battery{n}"))
    }
    fn json(s: &Script, _rec: &Recorded) -> Value {
        mock_responses::script_json(s)
    }
    fn stream(s: &Script) -> Vec<String> {
        mock_responses::script_stream(s)
    }
    fn error_body(status: u16, message: &str) -> Value {
        mock_responses::error_body(status, message)
    }
    fn user_texts(rec: &Recorded) -> Vec<String> {
        Self::user_parts(rec)
            .iter()
            .filter(|p| p["type"] == "input_text")
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect()
    }
    fn images(rec: &Recorded) -> Vec<(String, String)> {
        Self::user_parts(rec)
            .iter()
            .filter(|p| p["type"] == "input_image")
            .map(|p| {
                let url = p["image_url"].as_str().unwrap_or("");
                let (head, data) = url.split_once(',').unwrap_or(("", ""));
                let mime = head
                    .strip_prefix("data:")
                    .and_then(|h| h.strip_suffix(";base64"))
                    .unwrap_or(head);
                (mime.to_owned(), data.to_owned())
            })
            .collect()
    }
    fn declared_tools(rec: &Recorded) -> Vec<String> {
        rec.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }
    fn history_calls(rec: &Recorded) -> Vec<(String, Value)> {
        Self::items(rec, "function_call")
            .iter()
            .map(|c| {
                let args = c["arguments"].as_str().unwrap_or("null");
                (
                    c["name"].as_str().unwrap_or("").to_owned(),
                    serde_json::from_str(args).unwrap_or(Value::Null),
                )
            })
            .collect()
    }
    fn tool_results(rec: &Recorded) -> Vec<(String, String)> {
        Self::items(rec, "function_call_output")
            .iter()
            .map(|o| {
                (
                    o["call_id"].as_str().unwrap_or("").to_owned(),
                    result_text(&o["output"]),
                )
            })
            .collect()
    }
    fn call_ref(calls: &[ToolCall], n: usize) -> String {
        calls[n].id.clone().expect("responses calls have ids")
    }
    fn assert_thinking_requested(rec: &Recorded, budget: u64) {
        assert!(budget < 4096, "the battery asks for a small budget");
        assert_eq!(
            rec.body["reasoning"],
            json!({"effort": "low", "summary": "auto"}),
            "{}",
            rec.body
        );
        assert_eq!(rec.body["include"], json!(["reasoning.encrypted_content"]));
    }
    fn assert_signature(signature: &str, _s: &Script) {
        assert!(
            signature.starts_with("claude-proxy.v1.responses."),
            "a proxy signature carrying the reasoning item: {signature}"
        );
    }
}

// ---------------------------------------------------------------------------

pub struct Gemini;

impl Gemini {
    fn contents(rec: &Recorded) -> Vec<Value> {
        rec.body["contents"].as_array().cloned().unwrap_or_default()
    }

    fn parts(rec: &Recorded, role: Option<&str>) -> Vec<Value> {
        Self::contents(rec)
            .iter()
            .filter(|c| role.is_none_or(|r| c["role"].as_str().unwrap_or("user") == r))
            .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Provider for Gemini {
    const NAME: &'static str = "gemini";
    const SERVICE_TYPE: &'static str = "gemini";
    const MODEL: &'static str = "gemini-2.5-flash";
    const PASS_THROUGH: bool = false;

    fn validate(rec: &Recorded) -> Result<(), String> {
        mock_gemini::validate(rec)
    }
    fn wants_stream(rec: &Recorded) -> bool {
        mock_gemini::is_stream(rec)
    }
    fn model_of(rec: &Recorded) -> String {
        mock_gemini::model_of(rec)
    }
    fn upstream_tool_id(_n: usize) -> Option<String> {
        None
    }
    fn json(s: &Script, _rec: &Recorded) -> Value {
        mock_gemini::script_json(s)
    }
    fn stream(s: &Script) -> Vec<String> {
        mock_gemini::script_stream(s)
    }
    fn error_body(status: u16, message: &str) -> Value {
        mock_gemini::error_body(status, message)
    }
    fn user_texts(rec: &Recorded) -> Vec<String> {
        Self::parts(rec, Some("user"))
            .iter()
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect()
    }
    fn images(rec: &Recorded) -> Vec<(String, String)> {
        Self::parts(rec, None)
            .iter()
            .filter_map(|p| p.get("inlineData"))
            .map(|d| {
                (
                    d["mimeType"].as_str().unwrap_or("").to_owned(),
                    d["data"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
    fn declared_tools(rec: &Recorded) -> Vec<String> {
        rec.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t["functionDeclarations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect()
    }
    fn history_calls(rec: &Recorded) -> Vec<(String, Value)> {
        Self::parts(rec, Some("model"))
            .iter()
            .filter_map(|p| p.get("functionCall"))
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_owned(),
                    c["args"].clone(),
                )
            })
            .collect()
    }
    /// Gemini pairs results with calls by position: the reference is
    /// `name#position`.
    fn tool_results(rec: &Recorded) -> Vec<(String, String)> {
        Self::parts(rec, Some("user"))
            .iter()
            .filter_map(|p| p.get("functionResponse"))
            .enumerate()
            .map(|(i, r)| {
                let out = &r["response"]["output"];
                let text = out
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| r["response"].to_string());
                (format!("{}#{i}", r["name"].as_str().unwrap_or("")), text)
            })
            .collect()
    }
    fn call_ref(calls: &[ToolCall], n: usize) -> String {
        format!("{}#{n}", calls[n].name)
    }
    fn check_client_id(_call: &ToolCall, _n: usize, id: &str) {
        assert!(
            id.starts_with("toolu_") && id.len() > "toolu_".len(),
            "a generated Anthropic-style id: {id}"
        );
    }
    fn assert_thinking_requested(rec: &Recorded, budget: u64) {
        let tc = &rec.body["generationConfig"]["thinkingConfig"];
        assert_eq!(tc["includeThoughts"], true, "{}", rec.body);
        assert_eq!(tc["thinkingBudget"], budget, "{}", rec.body);
    }
    fn assert_signature(signature: &str, _s: &Script) {
        assert!(
            signature.starts_with("claude-proxy."),
            "a proxy signature: {signature}"
        );
    }
}

// ---------------------------------------------------------------------------

pub struct Claude;

impl Claude {
    fn blocks(rec: &Recorded, role: &str) -> Vec<Value> {
        messages(rec)
            .iter()
            .filter(|m| m["role"] == role)
            .flat_map(|m| match &m["content"] {
                Value::String(s) => vec![json!({"type": "text", "text": s})],
                Value::Array(b) => b.clone(),
                _ => Vec::new(),
            })
            .collect()
    }
}

impl Provider for Claude {
    const NAME: &'static str = "claude";
    const SERVICE_TYPE: &'static str = "claude";
    const MODEL: &'static str = "claude-battery-upstream";
    const PASS_THROUGH: bool = true;

    fn validate(rec: &Recorded) -> Result<(), String> {
        mock_anthropic::validate(rec)
    }
    fn wants_stream(rec: &Recorded) -> bool {
        rec.body["stream"] == json!(true)
    }
    fn model_of(rec: &Recorded) -> String {
        rec.body["model"].as_str().unwrap_or("").to_owned()
    }
    fn upstream_tool_id(n: usize) -> Option<String> {
        Some(format!("toolu_battery{n:02}"))
    }
    fn json(s: &Script, rec: &Recorded) -> Value {
        mock_anthropic::script_json(s, &Self::model_of(rec))
    }
    fn stream(s: &Script) -> Vec<String> {
        mock_anthropic::script_stream(s, Self::MODEL)
    }
    fn error_body(status: u16, message: &str) -> Value {
        mock_anthropic::error_body(status, message)
    }
    fn user_texts(rec: &Recorded) -> Vec<String> {
        Self::blocks(rec, "user")
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str().map(str::to_owned))
            .collect()
    }
    fn images(rec: &Recorded) -> Vec<(String, String)> {
        Self::blocks(rec, "user")
            .iter()
            .filter(|b| b["type"] == "image" && b["source"]["type"] == "base64")
            .map(|b| {
                (
                    b["source"]["media_type"].as_str().unwrap_or("").to_owned(),
                    b["source"]["data"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
    fn declared_tools(rec: &Recorded) -> Vec<String> {
        rec.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }
    fn history_calls(rec: &Recorded) -> Vec<(String, Value)> {
        Self::blocks(rec, "assistant")
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| {
                (
                    b["name"].as_str().unwrap_or("").to_owned(),
                    b["input"].clone(),
                )
            })
            .collect()
    }
    fn tool_results(rec: &Recorded) -> Vec<(String, String)> {
        Self::blocks(rec, "user")
            .iter()
            .filter(|b| b["type"] == "tool_result")
            .map(|b| {
                (
                    b["tool_use_id"].as_str().unwrap_or("").to_owned(),
                    result_text(&b["content"]),
                )
            })
            .collect()
    }
    fn call_ref(calls: &[ToolCall], n: usize) -> String {
        calls[n].id.clone().expect("claude calls have ids")
    }
    fn assert_thinking_requested(rec: &Recorded, budget: u64) {
        assert_eq!(
            rec.body["thinking"],
            json!({"type": "enabled", "budget_tokens": budget}),
            "passed through unchanged"
        );
    }
    fn assert_signature(signature: &str, s: &Script) {
        assert_eq!(signature, s.signature, "Anthropic's signature is kept");
    }
}
