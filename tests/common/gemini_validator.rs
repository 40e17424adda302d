//! A strict stand-in for Gemini's request validation (the rules of
//! <https://ai.google.dev/api/generate-content> as docs/translation.md sums
//! them up): it rejects what the real `generateContent` endpoint answers with
//! 400, so translator tests can check bodies without a network. Uses only
//! `serde_json`; include it with
//! `#[path = "support/gemini_validator.rs"] mod gemini_validator;`.
#![allow(dead_code)]

use serde_json::{Map, Value};

/// Keys Gemini's `Schema` accepts on the `parameters` path (C.3 path 1).
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "example",
    "default",
    "anyOf",
    "propertyOrdering",
];

const TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// `Ok` when Gemini would accept `body` as a `GenerateContentRequest`.
pub fn validate_gemini_request(body: &Value) -> Result<(), String> {
    let obj = body.as_object().ok_or("body is not an object")?;
    for key in obj.keys() {
        if ![
            "contents",
            "systemInstruction",
            "tools",
            "toolConfig",
            "generationConfig",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("unknown top-level field {key}"));
        }
    }
    if let Some(sys) = obj.get("systemInstruction") {
        check_parts(sys, "systemInstruction")?;
    }
    let contents = obj
        .get("contents")
        .and_then(Value::as_array)
        .ok_or("contents missing")?;
    check_contents(contents)?;
    let names = check_tools(obj.get("tools"))?;
    if let Some(tc) = obj.get("toolConfig") {
        check_tool_config(tc, &names)?;
    }
    if let Some(gc) = obj.get("generationConfig") {
        check_generation_config(gc)?;
    }
    Ok(())
}

fn check_parts(content: &Value, at: &str) -> Result<(), String> {
    let parts = content
        .get("parts")
        .and_then(Value::as_array)
        .ok_or(format!("{at}: parts missing"))?;
    if parts.is_empty() {
        return Err(format!("{at}: empty parts"));
    }
    for (i, p) in parts.iter().enumerate() {
        let data = [
            "text",
            "inlineData",
            "fileData",
            "functionCall",
            "functionResponse",
        ]
        .iter()
        .filter(|k| p.get(**k).is_some())
        .count();
        if data != 1 {
            return Err(format!("{at}.parts[{i}]: {data} data fields"));
        }
        if let Some(fc) = p.get("functionCall") {
            if !fc.get("name").is_some_and(Value::is_string) {
                return Err(format!("{at}.parts[{i}]: functionCall without name"));
            }
            if fc.get("args").is_some_and(|a| !a.is_object()) {
                return Err(format!(
                    "{at}.parts[{i}]: functionCall args is not an object"
                ));
            }
        }
        if let Some(fr) = p.get("functionResponse") {
            if !fr.get("name").is_some_and(Value::is_string)
                || !fr.get("response").is_some_and(Value::is_object)
            {
                return Err(format!(
                    "{at}.parts[{i}]: functionResponse needs name and response object"
                ));
            }
        }
        if let Some(d) = p.get("inlineData") {
            if !d.get("mimeType").is_some_and(Value::is_string)
                || !d.get("data").is_some_and(Value::is_string)
            {
                return Err(format!(
                    "{at}.parts[{i}]: inlineData needs mimeType and data"
                ));
            }
        }
    }
    Ok(())
}

fn count(parts: &[Value], key: &str) -> usize {
    parts.iter().filter(|p| p.get(key).is_some()).count()
}

fn names(parts: &[Value], key: &str) -> Vec<String> {
    parts
        .iter()
        .filter_map(|p| p.get(key)?.get("name")?.as_str().map(str::to_owned))
        .collect()
}

fn check_contents(contents: &[Value]) -> Result<(), String> {
    if contents.is_empty() {
        return Err("contents is empty".into());
    }
    let mut previous: Option<&str> = None;
    for (i, c) in contents.iter().enumerate() {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        if role != "user" && role != "model" {
            return Err(format!("contents[{i}]: role {role}"));
        }
        if previous == Some(role) {
            return Err(format!("contents[{i}]: two consecutive {role} contents"));
        }
        previous = Some(role);
        check_parts(c, &format!("contents[{i}]"))?;
        let parts = c["parts"].as_array().map(Vec::as_slice).unwrap_or_default();
        if role == "model" && count(parts, "functionResponse") > 0 {
            return Err(format!("contents[{i}]: functionResponse in a model turn"));
        }
        if role == "user" && count(parts, "functionCall") > 0 {
            return Err(format!("contents[{i}]: functionCall in a user turn"));
        }
        let calls = count(parts, "functionCall");
        if role == "model" && calls > 0 {
            let next = contents
                .get(i + 1)
                .ok_or(format!("contents[{i}]: function calls not answered"))?;
            let next_parts = next["parts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let responses = count(next_parts, "functionResponse");
            if responses != calls {
                return Err(format!(
                    "contents[{i}]: {calls} function calls but {responses} responses"
                ));
            }
            if names(parts, "functionCall") != names(next_parts, "functionResponse") {
                return Err(format!(
                    "contents[{i}]: function response names do not match the calls"
                ));
            }
        }
        if role == "user" && count(parts, "functionResponse") > 0 {
            let prev_calls = i
                .checked_sub(1)
                .and_then(|p| contents[p]["parts"].as_array())
                .map_or(0, |p| count(p, "functionCall"));
            if prev_calls == 0 {
                return Err(format!("contents[{i}]: function responses without calls"));
            }
        }
    }
    if previous == Some("model") {
        return Err("the request ends with a model turn".into());
    }
    Ok(())
}

fn check_tools(tools: Option<&Value>) -> Result<Vec<String>, String> {
    let mut declared = Vec::new();
    let Some(tools) = tools else {
        return Ok(declared);
    };
    for (t, tool) in tools
        .as_array()
        .ok_or("tools is not an array")?
        .iter()
        .enumerate()
    {
        let decls = tool
            .get("functionDeclarations")
            .and_then(Value::as_array)
            .ok_or(format!("tools[{t}]: functionDeclarations missing"))?;
        for (d, decl) in decls.iter().enumerate() {
            let at = format!("tools[{t}].functionDeclarations[{d}]");
            let name = decl
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{at}: name"))?;
            check_name(name).map_err(|e| format!("{at}: {e}"))?;
            if declared.iter().any(|n| n == name) {
                return Err(format!("{at}: duplicate name {name}"));
            }
            declared.push(name.to_owned());
            for key in decl.as_object().map(Map::keys).into_iter().flatten() {
                if !["name", "description", "parameters"].contains(&key.as_str()) {
                    return Err(format!("{at}: unknown field {key}"));
                }
            }
            if let Some(p) = decl.get("parameters") {
                if p.get("type")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                    != Some("object")
                {
                    return Err(format!("{at}.parameters: root type must be object"));
                }
                check_schema(p, &format!("{at}.parameters"))?;
            }
        }
    }
    Ok(declared)
}

fn check_name(name: &str) -> Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if !first_ok || !chars_ok || name.len() > 128 {
        return Err(format!("invalid function name {name:?}"));
    }
    Ok(())
}

fn check_schema(s: &Value, at: &str) -> Result<(), String> {
    let obj = s
        .as_object()
        .ok_or(format!("{at}: schema is not an object"))?;
    for key in obj.keys() {
        if !SCHEMA_KEYS.contains(&key.as_str()) {
            return Err(format!("Unknown name \"{key}\" at '{at}'"));
        }
    }
    let ty = match obj.get("type") {
        None => None,
        Some(Value::String(t)) if TYPES.contains(&t.to_ascii_lowercase().as_str()) => {
            Some(t.to_ascii_lowercase())
        }
        Some(Value::Array(_)) => {
            return Err(format!(
                "{at}.type: Proto field is not repeating, cannot start list"
            ))
        }
        Some(other) => return Err(format!("{at}.type: invalid value {other}")),
    };
    let any_of = obj.get("anyOf");
    if ty.is_none() && any_of.is_none() {
        return Err(format!(
            "{at}.type: must be specified when not using one_of, any_of or all_of fields"
        ));
    }
    let ty = ty.as_deref();
    if let Some(values) = obj.get("enum") {
        let values = values.as_array().ok_or(format!("{at}.enum: not a list"))?;
        if values.iter().any(|v| !v.is_string()) {
            return Err(format!("{at}.enum: values must be strings"));
        }
        if ty != Some("string") {
            return Err(format!("{at}.enum: only allowed for STRING type"));
        }
    }
    if let Some(f) = obj.get("format").and_then(Value::as_str) {
        if ty == Some("string") && f != "enum" && f != "date-time" {
            return Err(format!(
                "{at}.format: only 'enum' and 'date-time' are supported for STRING type"
            ));
        }
    }
    if let Some(props) = obj.get("properties") {
        if ty != Some("object") {
            return Err(format!("{at}.properties: only allowed for OBJECT type"));
        }
        let props = props
            .as_object()
            .ok_or(format!("{at}.properties: not an object"))?;
        if props.is_empty() {
            return Err(format!(
                "{at}.properties: should be non-empty for OBJECT type"
            ));
        }
        for (name, p) in props {
            check_schema(p, &format!("{at}.properties[{name}]"))?;
        }
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            for r in req {
                if !r.as_str().is_some_and(|r| props.contains_key(r)) {
                    return Err(format!("{at}.required: {r} is not a property"));
                }
            }
        }
    } else if obj.contains_key("required") {
        return Err(format!("{at}.required without properties"));
    }
    if ty == Some("array") {
        let items = obj
            .get("items")
            .ok_or(format!("{at}.items: missing field"))?;
        check_schema(items, &format!("{at}.items"))?;
    } else if obj.contains_key("items") {
        return Err(format!("{at}.items: only allowed for ARRAY type"));
    }
    if let Some(variants) = any_of {
        let variants = variants
            .as_array()
            .ok_or(format!("{at}.anyOf: not a list"))?;
        for (i, v) in variants.iter().enumerate() {
            check_schema(v, &format!("{at}.anyOf[{i}]"))?;
        }
    }
    Ok(())
}

fn check_tool_config(tc: &Value, declared: &[String]) -> Result<(), String> {
    let fcc = tc
        .get("functionCallingConfig")
        .ok_or("toolConfig: functionCallingConfig missing")?;
    let mode = fcc.get("mode").and_then(Value::as_str).unwrap_or("AUTO");
    if !["AUTO", "ANY", "NONE", "VALIDATED"].contains(&mode) {
        return Err(format!("toolConfig: mode {mode}"));
    }
    if let Some(allowed) = fcc.get("allowedFunctionNames").and_then(Value::as_array) {
        if mode != "ANY" {
            return Err("allowedFunctionNames needs mode ANY".into());
        }
        for n in allowed {
            if !n.as_str().is_some_and(|n| declared.iter().any(|d| d == n)) {
                return Err(format!("allowedFunctionNames: {n} is not declared"));
            }
        }
    }
    Ok(())
}

fn check_generation_config(gc: &Value) -> Result<(), String> {
    if gc
        .get("stopSequences")
        .and_then(Value::as_array)
        .is_some_and(|s| s.len() > 5)
    {
        return Err("stopSequences: at most 5".into());
    }
    if let Some(tc) = gc.get("thinkingConfig") {
        if tc.get("thinkingLevel").is_some() && tc.get("thinkingBudget").is_some() {
            return Err(
                "thinkingConfig: thinkingLevel and thinkingBudget are mutually exclusive".into(),
            );
        }
    }
    if let Some(t) = gc.get("temperature").and_then(Value::as_f64) {
        if !(0.0..=2.0).contains(&t) {
            return Err(format!("temperature {t} out of range"));
        }
    }
    Ok(())
}
