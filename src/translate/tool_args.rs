//! Normalisation of upstream tool-call arguments (docs/translation.md, "Tool
//! arguments").
//!
//! The Anthropic SDKs throw on tool input that is not a JSON object, so
//! whatever an upstream sends — empty, truncated, double-encoded, an array —
//! leaves here as the text of a JSON object.

use serde_json::{Map, Value};

/// Key under which arguments that cannot be repaired are handed to the client,
/// so the model sees its own output when the tool's schema check fails.
pub(crate) const RAW_ARGUMENTS_KEY: &str = "_raw_arguments";

/// Returns `raw` as the compact text of a JSON object.
pub(crate) fn normalize_tool_arguments(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return "{}".to_owned();
    }
    let value = match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => v,
        Err(_) => match repair(trimmed).and_then(|r| serde_json::from_str::<Value>(&r).ok()) {
            Some(v) => v,
            None => return wrap(Value::String(raw.to_owned())),
        },
    };
    object_text(value)
}

fn object_text(value: Value) -> String {
    match value {
        Value::Object(_) => value.to_string(),
        Value::Null => "{}".to_owned(),
        // Double-encoded: a JSON string whose content is the JSON object.
        Value::String(s) => match serde_json::from_str::<Value>(s.trim()) {
            Ok(inner @ Value::Object(_)) => inner.to_string(),
            _ => wrap(Value::String(s)),
        },
        other => wrap(other),
    }
}

fn wrap(v: Value) -> String {
    let mut m = Map::with_capacity(1);
    m.insert(RAW_ARGUMENTS_KEY.to_owned(), v);
    Value::Object(m).to_string()
}

/// Best-effort completion of truncated JSON: closes an open string, drops a
/// dangling key or trailing comma, and closes open brackets.
fn repair(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 8);
    let mut stack = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in s.chars() {
        out.push(c);
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => stack.push('}'),
            '[' => stack.push(']'),
            // The guard pops: a matching closer falls through to `_`.
            '}' | ']' if stack.pop() != Some(c) => return None,
            _ => {}
        }
    }
    if escaped {
        out.pop();
    }
    if in_string {
        out.push('"');
    }
    loop {
        let t = out.trim_end();
        let colon = t.ends_with(':');
        if !(colon || t.ends_with(',')) {
            break;
        }
        let len = t.len() - 1;
        out.truncate(len);
        // A key without a value: drop the key too.
        if colon {
            if let Some(key) = out.trim_end().strip_suffix('"') {
                if let Some(start) = key.rfind('"') {
                    out.truncate(start);
                }
            }
        }
    }
    while let Some(close) = stack.pop() {
        let t = out.trim_end();
        if t.ends_with(',') {
            let len = t.len() - 1;
            out.truncate(len);
        }
        out.push(close);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Value {
        let text = normalize_tool_arguments(s);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.is_object(), "{text}");
        v
    }

    #[test]
    fn empty_and_valid() {
        assert_eq!(norm(""), serde_json::json!({}));
        assert_eq!(norm("  "), serde_json::json!({}));
        assert_eq!(norm(r#"{"a": 1}"#), serde_json::json!({"a":1}));
        assert_eq!(norm("null"), serde_json::json!({}));
    }

    #[test]
    fn double_encoded() {
        assert_eq!(
            norm(r#""{\"city\":\"Paris\"}""#),
            serde_json::json!({"city":"Paris"})
        );
    }

    #[test]
    fn non_objects_are_wrapped() {
        assert_eq!(norm("[1,2]"), serde_json::json!({RAW_ARGUMENTS_KEY: [1,2]}));
        assert_eq!(norm("42"), serde_json::json!({RAW_ARGUMENTS_KEY: 42}));
    }

    #[test]
    fn truncated_is_repaired() {
        assert_eq!(norm(r#"{"city": "Par"#), serde_json::json!({"city":"Par"}));
        assert_eq!(norm(r#"{"a": [1, 2"#), serde_json::json!({"a":[1,2]}));
        assert_eq!(norm(r#"{"a": 1,"#), serde_json::json!({"a":1}));
        assert_eq!(norm(r#"{"a": 1, "b":"#), serde_json::json!({"a":1}));
        assert_eq!(norm(r#"{"a": "x\"#), serde_json::json!({"a":"x"}));
    }

    #[test]
    fn garbage_is_wrapped_not_lost() {
        assert_eq!(
            norm("not json"),
            serde_json::json!({RAW_ARGUMENTS_KEY: "not json"})
        );
        assert_eq!(norm("{]"), serde_json::json!({RAW_ARGUMENTS_KEY: "{]"}));
    }
}
