//! The Anthropic request an OpenAI request becomes, and the rules both
//! inbound protocols share (docs/openai-inbound.md, "Requests"): system
//! text, turn merging, images and files, tools, `tool_choice`, reasoning
//! effort and the output limit.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::translate::tool_args::normalize_tool_arguments;

/// The output limit when the client sets none. OpenAI's own default is the
/// model's maximum, which Anthropic's API cannot express (`max_tokens` is
/// required); an upstream's `maxTokens` lowers it further.
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 16_384;

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

/// Who an Anthropic turn is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    User,
    Assistant,
}

impl Turn {
    fn as_str(self) -> &'static str {
        match self {
            Turn::User => "user",
            Turn::Assistant => "assistant",
        }
    }
}

/// The request's settings, already read from the OpenAI request.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    pub model: String,
    pub max_tokens: Option<u64>,
    /// OpenAI's `reasoning_effort` / `reasoning.effort` word.
    pub effort: Option<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// Anthropic tools.
    pub tools: Vec<Value>,
    /// Anthropic `tool_choice`, without `disable_parallel_tool_use`.
    pub tool_choice: Option<Value>,
    /// `parallel_tool_calls` as the client sent it.
    pub parallel_tool_calls: Option<bool>,
    pub user: Option<String>,
    /// A structured-output request as an instruction (see [`format_instruction`]).
    pub format_instruction: Option<String>,
}

/// The conversation under construction: system texts, and turns whose
/// consecutive same-role messages are merged (Anthropic alternates roles).
#[derive(Debug, Default)]
pub(crate) struct Draft {
    system: Vec<String>,
    turns: Vec<(Turn, Vec<Value>)>,
}

impl Draft {
    /// Appends system text (empty text is skipped).
    pub(crate) fn system(&mut self, text: &str) {
        if !text.is_empty() {
            self.system.push(text.to_owned());
        }
    }

    /// Appends a block to the conversation. In a user turn, `tool_result`
    /// blocks go before any other block: Anthropic requires the results to
    /// come first.
    pub(crate) fn push(&mut self, turn: Turn, block: Value) {
        let is_result = block["type"] == "tool_result";
        match self.turns.last_mut() {
            Some((t, blocks)) if *t == turn => {
                if is_result {
                    let at = blocks
                        .iter()
                        .take_while(|b| b["type"] == "tool_result")
                        .count();
                    blocks.insert(at, block);
                } else {
                    blocks.push(block);
                }
            }
            _ => self.turns.push((turn, vec![block])),
        }
    }

    /// Appends a text block (empty text is skipped: Anthropic rejects empty
    /// text blocks).
    pub(crate) fn text(&mut self, turn: Turn, text: &str) {
        if !text.is_empty() {
            self.push(turn, json!({"type": "text", "text": text}));
        }
    }

    /// Appends a `tool_use` block; arguments that are not a JSON object
    /// are repaired into one (crate::translate::tool_args).
    pub(crate) fn tool_use(&mut self, id: &str, name: &str, arguments: &str) {
        self.push(
            Turn::Assistant,
            json!({"type": "tool_use", "id": id, "name": name, "input": arguments_object(arguments)}),
        );
    }

    /// The Anthropic request body.
    pub(crate) fn finish(mut self, s: Settings) -> Result<Value, ApiError> {
        if self.turns.is_empty() {
            return Err(ApiError::invalid_request(
                "the conversation has no user or assistant content",
            ));
        }
        if let Some(f) = &s.format_instruction {
            self.system.push(f.clone());
        }
        let mut req = Map::new();
        req.insert("model".into(), json!(s.model));
        let (max_tokens, thinking) = limits(s.max_tokens, s.effort.as_deref());
        // Anthropic refuses a thinking request whose last assistant turn
        // calls tools without the thinking block it began with (a client
        // that dropped it, or a chat client, which has no way to send it).
        let thinking = thinking.filter(|t| t["type"] != "enabled" || self.keeps_thinking());
        req.insert("max_tokens".into(), json!(max_tokens));
        let messages: Vec<Value> = self
            .turns
            .into_iter()
            .map(|(turn, blocks)| json!({"role": turn.as_str(), "content": blocks}))
            .collect();
        req.insert("messages".into(), Value::Array(messages));
        if !self.system.is_empty() {
            let blocks: Vec<Value> = self
                .system
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            req.insert("system".into(), Value::Array(blocks));
        }
        if let Some(t) = thinking {
            req.insert("thinking".into(), t);
        }
        if let Some(t) = s.temperature {
            req.insert("temperature".into(), json!(t));
        }
        if let Some(p) = s.top_p {
            req.insert("top_p".into(), json!(p));
        }
        if !s.stop.is_empty() {
            req.insert("stop_sequences".into(), json!(s.stop));
        }
        if s.stream {
            req.insert("stream".into(), json!(true));
        }
        if let Some(u) = s.user.filter(|u| !u.is_empty()) {
            req.insert("metadata".into(), json!({"user_id": u}));
        }
        if !s.tools.is_empty() {
            let single = s.parallel_tool_calls == Some(false);
            let choice = match s.tool_choice {
                Some(mut c) => {
                    if single && c["type"] != "none" {
                        c["disable_parallel_tool_use"] = json!(true);
                    }
                    Some(c)
                }
                None if single => Some(json!({"type": "auto", "disable_parallel_tool_use": true})),
                None => None,
            };
            req.insert("tools".into(), Value::Array(s.tools));
            if let Some(c) = choice {
                req.insert("tool_choice".into(), c);
            }
        }
        Ok(Value::Object(req))
    }

    /// False when the last assistant turn calls tools but does not begin
    /// with a thinking block.
    fn keeps_thinking(&self) -> bool {
        let Some((_, blocks)) = self.turns.iter().rev().find(|(t, _)| *t == Turn::Assistant) else {
            return true;
        };
        let calls = blocks.iter().any(|b| b["type"] == "tool_use");
        !calls || blocks.first().is_some_and(|b| b["type"] == "thinking")
    }
}

/// A tool's arguments as a JSON object.
fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::from_str(&normalize_tool_arguments(arguments))
            .unwrap_or_else(|_| Value::Object(Map::new())),
    }
}

/// `max_tokens` and `thinking` for the client's limit and effort.
///
/// Efforts map to budgets that land in the same level when the OpenAI or
/// Gemini translator buckets them again (docs/translation.md, "Settings"):
/// `minimal` 1024, `low` 2048, `medium` 8192, `high` 16384, `xhigh` and
/// `max` 32768; `none` disables thinking. The budget must stay below
/// `max_tokens`: with a client limit it is lowered (and thinking left out
/// below Anthropic's minimum budget), without one the default limit comes
/// on top of the budget.
pub(crate) fn limits(max_tokens: Option<u64>, effort: Option<&str>) -> (u64, Option<Value>) {
    let budget = match effort {
        Some("none") => {
            return (
                max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).max(1),
                Some(json!({"type": "disabled"})),
            )
        }
        Some("minimal") => Some(1024),
        Some("low") => Some(2048),
        Some("medium") => Some(8192),
        Some("high") => Some(16_384),
        Some("xhigh" | "max") => Some(32_768),
        _ => None,
    };
    let Some(budget) = budget else {
        return (max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).max(1), None);
    };
    match max_tokens {
        None => (
            budget + DEFAULT_MAX_TOKENS,
            Some(json!({"type": "enabled", "budget_tokens": budget})),
        ),
        Some(max) => {
            let max = max.max(1);
            let budget = budget.min(max.saturating_sub(1));
            let thinking = (budget >= MIN_THINKING_BUDGET)
                .then(|| json!({"type": "enabled", "budget_tokens": budget}));
            (max, thinking)
        }
    }
}

/// A function declaration as an Anthropic tool; a missing or non-object
/// schema becomes the empty object schema.
pub(crate) fn tool(name: &str, description: Option<&str>, parameters: Option<&Value>) -> Value {
    let schema = match parameters {
        Some(p @ Value::Object(_)) => p.clone(),
        _ => json!({"type": "object", "properties": {}}),
    };
    let mut t = json!({"name": name, "input_schema": schema});
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        t["description"] = json!(d);
    }
    t
}

/// OpenAI's `tool_choice` word or object as Anthropic's. `name_of` reads a
/// named function's name from the object (Chat Completions nests it under
/// `function`, Responses does not). Anything else (hosted-tool choices)
/// becomes `auto`.
pub(crate) fn tool_choice(choice: &Value, name_of: fn(&Value) -> Option<&str>) -> Option<Value> {
    match choice {
        Value::String(s) => match s.as_str() {
            "none" => Some(json!({"type": "none"})),
            "required" => Some(json!({"type": "any"})),
            _ => Some(json!({"type": "auto"})),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => name_of(choice).map(|n| json!({"type": "tool", "name": n})),
            Some("allowed_tools") => {
                let mode = o
                    .get("mode")
                    .or_else(|| o.get("allowed_tools").and_then(|a| a.get("mode")))
                    .and_then(Value::as_str);
                Some(match mode {
                    Some("required") => json!({"type": "any"}),
                    _ => json!({"type": "auto"}),
                })
            }
            _ => Some(json!({"type": "auto"})),
        },
        _ => None,
    }
}

/// An image URL as an Anthropic image block: a `data:` URL becomes a base64
/// source, an `http(s)` URL a URL source.
pub(crate) fn image(url: &str, at: &str) -> Result<Value, ApiError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        if !media_type.starts_with("image/") {
            return Err(ApiError::invalid_request(format!(
                "{at}: a data URL of type {media_type:?} is not an image"
            )));
        }
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(ApiError::invalid_request(format!(
        "{at}: the image URL must be a data: URL or an http(s) URL"
    )))
}

/// A file as an Anthropic document block: a PDF `data:` URL as a base64
/// document, a text file as a text document, a PDF URL as a URL document.
/// File ids need stored files, which this gateway does not have.
pub(crate) fn file(
    data: Option<&str>,
    url: Option<&str>,
    file_id: Option<&str>,
    filename: Option<&str>,
    at: &str,
) -> Result<Value, ApiError> {
    let mut doc = if let Some(data) = data {
        let (media_type, b64) = parse_data_url(data).unwrap_or(("application/pdf", data));
        if media_type == "application/pdf" {
            json!({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": b64}})
        } else if media_type.starts_with("text/") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| ApiError::invalid_request(format!("{at}: invalid base64: {e}")))?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}})
        } else {
            return Err(ApiError::invalid_request(format!(
                "{at}: files of type {media_type:?} are not supported; send a PDF or text file"
            )));
        }
    } else if let Some(url) = url {
        json!({"type": "document", "source": {"type": "url", "url": url}})
    } else if file_id.is_some() {
        return Err(ApiError::invalid_request(format!(
            "{at}: file ids are not supported (this gateway stores no files); send the file as file_data"
        )));
    } else {
        return Err(ApiError::invalid_request(format!(
            "{at}: a file needs file_data"
        )));
    };
    if let Some(name) = filename.filter(|n| !n.is_empty()) {
        doc["title"] = json!(name);
    }
    Ok(doc)
}

/// `data:<media type>;base64,<data>` as `(media type, data)`.
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// A structured-output request as a system instruction, for upstreams the
/// request does not reach as OpenAI's `response_format`
/// (docs/openai-inbound.md, "Structured output"). `None` for plain text.
pub(crate) fn format_instruction(kind: &str, schema: Option<&Value>) -> Option<String> {
    match kind {
        "json_object" => Some(
            "Respond with a single valid JSON object and nothing else: no prose, no code fences."
                .to_owned(),
        ),
        "json_schema" => {
            let schema = schema.map(Value::to_string).unwrap_or_else(|| "{}".into());
            Some(format!(
                "Respond with a single valid JSON value that matches this JSON Schema, and nothing else (no prose, no code fences):\n{schema}"
            ))
        }
        _ => None,
    }
}

/// Text of a tool result's or system message's parts: the texts joined by
/// newlines.
pub(crate) fn joined<'a>(texts: impl Iterator<Item = &'a str>) -> String {
    texts
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efforts_become_budgets_below_the_limit() {
        assert_eq!(limits(None, None), (DEFAULT_MAX_TOKENS, None));
        let (max, t) = limits(None, Some("high"));
        assert_eq!(max, 16_384 + DEFAULT_MAX_TOKENS);
        assert_eq!(t.unwrap()["budget_tokens"], 16_384);
        let (max, t) = limits(Some(4000), Some("high"));
        assert_eq!(
            (max, t.unwrap()["budget_tokens"].as_u64()),
            (4000, Some(3999))
        );
        assert_eq!(limits(Some(500), Some("low")), (500, None));
        assert_eq!(limits(Some(0), None).0, 1);
        assert_eq!(limits(None, Some("none")).1.unwrap()["type"], "disabled");
    }

    #[test]
    fn tool_results_come_first_in_a_user_turn() {
        let mut d = Draft::default();
        d.text(Turn::User, "hi");
        d.push(
            Turn::User,
            json!({"type": "tool_result", "tool_use_id": "a", "content": "x"}),
        );
        d.push(
            Turn::User,
            json!({"type": "tool_result", "tool_use_id": "b", "content": "y"}),
        );
        let types: Vec<_> = d.turns[0].1.iter().map(|b| b["type"].clone()).collect();
        assert_eq!(types, ["tool_result", "tool_result", "text"]);
    }

    #[test]
    fn thinking_is_left_out_when_a_tool_turn_lost_its_thinking_block() {
        let s = || Settings {
            model: "m".into(),
            effort: Some("high".into()),
            ..Settings::default()
        };
        let mut d = Draft::default();
        d.text(Turn::User, "q");
        d.tool_use("c1", "f", "{}");
        d.push(
            Turn::User,
            json!({"type": "tool_result", "tool_use_id": "c1", "content": "r"}),
        );
        assert!(d.finish(s()).unwrap().get("thinking").is_none());
        let mut d = Draft::default();
        d.text(Turn::User, "q");
        assert_eq!(d.finish(s()).unwrap()["thinking"]["type"], "enabled");
    }

    #[test]
    fn images_and_files() {
        let i = image("data:image/png;base64,AAAA", "x").unwrap();
        assert_eq!(i["source"]["media_type"], "image/png");
        assert_eq!(
            image("https://e/x.png", "x").unwrap()["source"]["type"],
            "url"
        );
        assert!(image("ftp://x", "x").is_err());
        assert!(image("data:text/plain;base64,AAAA", "x").is_err());
        let f = file(
            Some("data:text/plain;base64,aGk="),
            None,
            None,
            Some("a.txt"),
            "x",
        )
        .unwrap();
        assert_eq!(f["source"]["data"], "hi");
        assert_eq!(f["title"], "a.txt");
        assert!(file(None, None, Some("file-1"), None, "x").is_err());
    }

    #[test]
    fn tool_arguments_become_objects() {
        assert_eq!(arguments_object(r#"{"a":1}"#), json!({"a": 1}));
        assert!(arguments_object("").is_object());
        assert!(arguments_object("[1]").is_object());
    }
}
