//! Anthropic → Anthropic pass-through: the client's body goes out unchanged
//! except for the mapped `model` and thinking blocks whose signature the
//! proxy made up (real Anthropic rejects those). Top-level values are kept
//! as raw JSON, so nothing that does not change is re-encoded.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::is_synthetic_signature;
use crate::protocol::anthropic::{Content, ContentBlock, Message, Tool};

/// A JSON object as an ordered list of raw members: rewriting one member
/// leaves the others' bytes as they were.
pub(crate) struct RawObject(pub(crate) Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// True when some assistant turn holds a thinking block signed by the proxy.
pub fn has_synthetic_thinking(messages: &[Message]) -> bool {
    messages.iter().any(|m| match &m.content {
        Content::Blocks(blocks) => blocks.iter().any(|b| {
            matches!(b, ContentBlock::Thinking { signature, .. } if is_synthetic_signature(signature))
        }),
        Content::Text(_) => false,
    })
}

/// True when some tool is in OpenAI's form
/// (`{"type":"function","function":{…}}`), which Anthropic rejects.
pub fn has_openai_tools(tools: Option<&[Tool]>) -> bool {
    tools.is_some_and(|t| t.iter().any(|t| t.function.is_some()))
}

/// What a pass-through changes in the client's body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rewrite<'a> {
    /// The mapped model, when it differs from the client's.
    pub model: Option<&'a str>,
    /// Remove thinking blocks this proxy signed (see [`has_synthetic_thinking`]).
    pub strip_synthetic: bool,
    /// Turn OpenAI-form tools into Anthropic's (see [`has_openai_tools`]).
    pub convert_tools: bool,
    /// The upstream's `maxTokens`: a larger `max_tokens` becomes this, and a thinking budget that no longer fits below it is
    /// lowered to one less, or left out when that is under Anthropic's
    /// minimum of 1024 (`budget_tokens` must be at least 1024 and below
    /// `max_tokens`: <https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking>).
    pub max_tokens: Option<u64>,
}

/// Anthropic's smallest `thinking.budget_tokens`.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The body to send to an Anthropic upstream. Returns `None` when the
/// client's bytes can go out exactly as they are.
pub fn rewrite_body(body: &[u8], rewrite: Rewrite<'_>) -> Result<Option<Vec<u8>>, String> {
    let Rewrite {
        model,
        strip_synthetic,
        convert_tools,
        max_tokens,
    } = rewrite;
    if model.is_none() && !strip_synthetic && !convert_tools && max_tokens.is_none() {
        return Ok(None);
    }
    let mut obj: RawObject = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut drop_thinking = false;
    for (key, value) in obj.0.iter_mut() {
        match key.as_str() {
            "model" => {
                if let Some(m) = model {
                    *value = to_raw(&Value::String(m.to_owned()))?;
                }
            }
            "messages" if strip_synthetic => {
                let mut messages: Value =
                    serde_json::from_str(value.get()).map_err(|e| e.to_string())?;
                strip_synthetic_thinking(&mut messages);
                *value = to_raw(&messages)?;
            }
            "max_tokens" => {
                let asked: Option<u64> = serde_json::from_str(value.get()).ok();
                if let (Some(cap), Some(asked)) = (max_tokens, asked) {
                    if asked > cap {
                        *value = to_raw(&Value::from(cap))?;
                    }
                }
            }
            "thinking" => {
                if let Some(cap) = max_tokens {
                    let mut thinking: Value =
                        serde_json::from_str(value.get()).map_err(|e| e.to_string())?;
                    let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
                    match budget {
                        Some(b) if b >= cap && cap > MIN_THINKING_BUDGET => {
                            thinking["budget_tokens"] = Value::from(cap - 1);
                            *value = to_raw(&thinking)?;
                        }
                        Some(b) if b >= cap => drop_thinking = true,
                        _ => {}
                    }
                }
            }
            "tools" if convert_tools => {
                let mut tools: Value =
                    serde_json::from_str(value.get()).map_err(|e| e.to_string())?;
                to_anthropic_tools(&mut tools);
                *value = to_raw(&tools)?;
            }
            _ => {}
        }
    }
    if drop_thinking {
        obj.0.retain(|(key, _)| key != "thinking");
    }
    serde_json::to_vec(&obj)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// `v` as a raw JSON value.
pub(crate) fn to_raw(v: &Value) -> Result<Box<RawValue>, String> {
    serde_json::value::to_raw_value(v).map_err(|e| e.to_string())
}

/// OpenAI-form tools in Anthropic's form: `name`, `description` and
/// `parameters` (an empty object schema when absent) become `name`,
/// `description` and `input_schema`; every other tool is left as it is.
fn to_anthropic_tools(tools: &mut Value) {
    let Some(list) = tools.as_array_mut() else {
        return;
    };
    for tool in list {
        let Some(function) = tool.get("function").and_then(Value::as_object) else {
            continue;
        };
        let mut converted = serde_json::Map::new();
        if let Some(name) = function.get("name") {
            converted.insert("name".to_owned(), name.clone());
        }
        if let Some(d) = function.get("description").filter(|d| !d.is_null()) {
            converted.insert("description".to_owned(), d.clone());
        }
        let schema = function
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
        converted.insert("input_schema".to_owned(), schema);
        *tool = Value::Object(converted);
    }
}

/// Removes proxy-signed thinking blocks from every message.
fn strip_synthetic_thinking(messages: &mut Value) {
    let Some(list) = messages.as_array_mut() else {
        return;
    };
    for m in list {
        if let Some(blocks) = m.get_mut("content").and_then(Value::as_array_mut) {
            blocks.retain(|b| {
                !(b.get("type").and_then(Value::as_str) == Some("thinking")
                    && b.get("signature")
                        .and_then(Value::as_str)
                        .is_some_and(is_synthetic_signature))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::synthetic_signature;

    #[test]
    fn untouched_body_is_not_rewritten() {
        assert_eq!(
            rewrite_body(b"{\"model\":\"x\"}", Rewrite::default()).unwrap(),
            None
        );
    }

    #[test]
    fn max_tokens_is_capped_and_a_thinking_budget_with_it() {
        let cap = |body: &str, cap: u64| -> String {
            let rewrite = Rewrite {
                max_tokens: Some(cap),
                ..Rewrite::default()
            };
            String::from_utf8(rewrite_body(body.as_bytes(), rewrite).unwrap().unwrap()).unwrap()
        };
        let body =
            r#"{"max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":16384},"x":1}"#;
        assert_eq!(
            cap(body, 4096),
            r#"{"max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":4095},"x":1}"#
        );
        // A budget that fits stays; a smaller request is not raised.
        assert_eq!(
            cap(body, 20000),
            r#"{"max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":16384},"x":1}"#
        );
        assert_eq!(cap(r#"{"max_tokens":100}"#, 4096), r#"{"max_tokens":100}"#);
        // Below Anthropic's smallest budget, thinking is left out.
        assert_eq!(cap(body, 1000), r#"{"max_tokens":1000,"x":1}"#);
        let adaptive = r#"{"max_tokens":32000,"thinking":{"type":"adaptive"}}"#;
        assert_eq!(
            cap(adaptive, 1000),
            r#"{"max_tokens":1000,"thinking":{"type":"adaptive"}}"#
        );
    }

    #[test]
    fn model_is_replaced_and_everything_else_kept_verbatim() {
        let body = br#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"h\u00e9"}],"z":{"b":1,"a":2}}"#;
        let out = rewrite_body(
            body,
            Rewrite {
                model: Some("claude-y"),
                ..Rewrite::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"claude-y","max_tokens":5,"messages":[{"role":"user","content":"h\u00e9"}],"z":{"b":1,"a":2}}"#
        );
    }

    #[test]
    fn synthetic_thinking_is_stripped() {
        let sig = synthetic_signature("openai", "");
        let body = serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "t", "signature": sig},
                    {"type": "thinking", "thinking": "real", "signature": "EqQB"},
                    {"type": "text", "text": "a"}
                ]}
            ]
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let req: crate::protocol::anthropic::MessagesRequest = serde_json::from_value(
            serde_json::json!({"model": "m", "max_tokens": 1, "messages": body["messages"].clone()}),
        )
        .unwrap();
        assert!(has_synthetic_thinking(&req.messages));
        let out: Value = serde_json::from_slice(
            &rewrite_body(
                &bytes,
                Rewrite {
                    strip_synthetic: true,
                    ..Rewrite::default()
                },
            )
            .unwrap()
            .unwrap(),
        )
        .unwrap();
        let blocks = out["messages"][1]["content"].as_array().unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["signature"], "EqQB");
    }

    #[test]
    fn openai_form_tools_become_anthropic_tools_and_nothing_else_changes() {
        let body = br#"{"model":"m","tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"now"}},{"name":"Read","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}],"messages":[]}"#;
        let req: crate::protocol::anthropic::CountTokensRequest =
            serde_json::from_slice(body).unwrap();
        assert!(has_openai_tools(req.tools.as_deref()));
        let out = rewrite_body(
            body,
            Rewrite {
                convert_tools: true,
                ..Rewrite::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"m","tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},{"name":"now","input_schema":{"type":"object","properties":{}}},{"name":"Read","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}],"messages":[]}"#
        );
        let plain: crate::protocol::anthropic::CountTokensRequest = serde_json::from_slice(
            br#"{"model":"m","tools":[{"name":"Read","input_schema":{"type":"object"}}],"messages":[]}"#,
        )
        .unwrap();
        assert!(!has_openai_tools(plain.tools.as_deref()));
    }
}
