//! Every problem of a config file at once, for `config check`.
//!
//! Loading stops at the first error; a person fixing a file by hand wants the
//! whole list. Syntax errors carry line and column (JSON cannot be parsed past
//! one); wrongly typed fields are all listed by field path, the first also by
//! line and column; then the rest of the file is validated as if the wrong
//! fields were absent, without repeating problems those fields cause.

use serde_json::{Map, Value};

use super::{parse_raw, ConfigError, LoadBalance, RawConfig};

/// Every problem in `text`, one line each; empty when the file is valid.
/// `label` (the file name) prefixes locations given as line and column.
pub fn diagnose(label: &str, text: &str) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let first = match parse_raw(label, text) {
        Ok(raw) => return validation_problems(&raw, &[]),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        // Not JSON at all: the first error is the only one we can know.
        return vec![first.to_string()];
    };
    let type_errors = salvage(&mut value);
    let mut problems = vec![first.to_string()];
    let first_path = match &first {
        ConfigError::Syntax { message, .. } => {
            message.split(": ").next().unwrap_or_default().to_owned()
        }
        _ => String::new(),
    };
    let blocked: Vec<String> = type_errors.iter().map(|(path, _)| path.clone()).collect();
    problems.extend(
        type_errors
            .into_iter()
            .filter(|(path, _)| *path != first_path)
            .map(|(path, message)| format!("{path}: {message}")),
    );
    if let Ok(raw) = serde_json::from_value::<RawConfig>(value) {
        problems.extend(validation_problems(&raw, &blocked));
    }
    problems
}

fn validation_problems(raw: &RawConfig, blocked: &[String]) -> Vec<String> {
    match raw.validate(LoadBalance::default()) {
        Err(ConfigError::Invalid(problems)) => problems
            .into_iter()
            .filter(|p| {
                let path = p.split(": ").next().unwrap_or_default();
                !blocked.iter().any(|b| is_within(path, b))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `upstream[1].name` is within `upstream[1]` but not within `upstream[10]`.
fn is_within(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    OptStr,
    OptBool,
    OptUint,
    OptInt,
    OptObject,
    StrArray,
}

impl Kind {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.is_string(),
            Kind::OptStr => v.is_null() || v.is_string(),
            Kind::OptBool => v.is_null() || v.is_boolean(),
            Kind::OptUint => v.is_null() || v.is_u64(),
            Kind::OptInt => v.is_null() || v.is_i64(),
            Kind::OptObject => v.is_null() || v.is_object(),
            Kind::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Str | Kind::OptStr => "a string",
            Kind::OptBool => "true or false",
            Kind::OptUint => "a non-negative integer",
            Kind::OptInt => "an integer",
            Kind::OptObject => "an object",
            Kind::StrArray => "an array of strings",
        }
    }
}

const UPSTREAM_FIELDS: [(&str, Kind); 8] = [
    ("name", Kind::Str),
    ("baseUrl", Kind::Str),
    ("apiKeys", Kind::StrArray),
    ("serviceType", Kind::Str),
    ("insecureSkipVerify", Kind::OptBool),
    ("modelMapping", Kind::OptObject),
    ("maxTokens", Kind::OptUint),
    ("description", Kind::OptStr),
];

const ROOT_FIELDS: [(&str, Kind); 2] = [
    ("currentUpstream", Kind::OptInt),
    ("loadBalance", Kind::OptStr),
];

/// Lists wrongly typed fields (path, message) and removes them from `value`
/// so the rest can still be deserialized and validated.
fn salvage(value: &mut Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let Some(root) = value.as_object_mut() else {
        errors.push(("(root)".to_owned(), type_message(value, "an object")));
        return errors;
    };
    check_fields(root, &ROOT_FIELDS, "", &mut errors);
    match root.get_mut("upstream") {
        None => {}
        Some(Value::Array(list)) => {
            for (i, item) in list.iter_mut().enumerate() {
                let at = format!("upstream[{i}]");
                match item.as_object_mut() {
                    Some(obj) => {
                        check_fields(obj, &UPSTREAM_FIELDS, &format!("{at}."), &mut errors)
                    }
                    None => {
                        errors.push((at, type_message(item, "an object")));
                        *item = Value::Object(Map::new());
                    }
                }
            }
        }
        Some(other) => {
            errors.push(("upstream".to_owned(), type_message(other, "an array")));
            root.remove("upstream");
        }
    }
    errors
}

fn check_fields(
    obj: &mut Map<String, Value>,
    fields: &[(&str, Kind)],
    prefix: &str,
    errors: &mut Vec<(String, String)>,
) {
    for (name, kind) in fields {
        let Some(v) = obj.get(*name) else { continue };
        if kind.accepts(v) {
            continue;
        }
        let path = match (kind, v.as_array()) {
            // Point at the offending element, not the whole list.
            (Kind::StrArray, Some(items)) => items
                .iter()
                .position(|x| !x.is_string())
                .map(|j| format!("{prefix}{name}[{j}]"))
                .unwrap_or_else(|| format!("{prefix}{name}")),
            _ => format!("{prefix}{name}"),
        };
        let message = match (kind, v.as_array()) {
            (Kind::StrArray, Some(items)) => items
                .iter()
                .find(|x| !x.is_string())
                .map(|x| type_message(x, "a string"))
                .unwrap_or_default(),
            _ => type_message(v, kind.expected()),
        };
        errors.push((path, message));
        obj.shift_remove(*name);
    }
}

fn type_message(found: &Value, expected: &str) -> String {
    let found = match found {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    };
    format!("invalid type: {found}, expected {expected}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_empty_files_have_no_problems() {
        assert!(diagnose("c", "").is_empty());
        assert!(diagnose("c", r#"{"upstream":[{"name":"a","baseUrl":"https://x","serviceType":"openai","apiKeys":["k"]}]}"#).is_empty());
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let p = diagnose("c.json", "{\n  \"upstream\": [,]\n}");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("c.json:2:"), "{p:?}");
    }

    #[test]
    fn every_type_and_validation_problem_is_listed_once() {
        let text = r#"{
  "upstream": [
    {"name": 1, "baseUrl": "https://a", "serviceType": "openai", "apiKeys": ["k", 2]},
    {"name": "b", "baseUrl": "ftp://b", "serviceType": "nope", "maxTokens": -1},
    "oops"
  ],
  "currentUpstream": "x",
  "loadBalance": "fastest"
}"#;
        let p = diagnose("c.json", text);
        let joined = p.join("\n");
        assert!(p[0].starts_with("c.json:"), "{joined}");
        for needle in [
            "upstream[0].name",
            "upstream[0].apiKeys[1]",
            "upstream[1].baseUrl",
            "upstream[1].serviceType",
            "upstream[1].maxTokens",
            "upstream[2]: invalid type",
            "currentUpstream",
            "loadBalance",
        ] {
            assert!(joined.contains(needle), "missing {needle}:\n{joined}");
        }
        // The wrongly typed name is not also reported as empty.
        assert!(!joined.contains("must not be empty"), "{joined}");
        assert_eq!(
            p.iter().filter(|l| l.contains("upstream[0].name")).count(),
            1,
            "{joined}"
        );
    }

    #[test]
    fn within_respects_index_boundaries() {
        assert!(is_within("upstream[1].name", "upstream[1]"));
        assert!(is_within("upstream[1]", "upstream[1]"));
        assert!(!is_within("upstream[10].name", "upstream[1]"));
    }
}
