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
pub(crate) fn diagnose(label: &str, text: &str) -> Vec<String> {
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
    let blocked: Vec<String> = type_errors.iter().map(|e| e.removed.clone()).collect();
    problems.extend(
        type_errors
            .into_iter()
            .filter(|e| e.path != first_path)
            .map(|e| format!("{}: {}", e.path, e.message)),
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

/// A wrongly typed field: where (`path`, maybe an element of it), what is
/// wrong, and the field that was `removed` so the rest could be checked.
struct TypeError {
    path: String,
    message: String,
    removed: String,
}

impl TypeError {
    fn at(path: String, message: String) -> TypeError {
        TypeError {
            removed: path.clone(),
            path,
            message,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    OptStr,
    OptBool,
    OptUint,
    OptInt,
    OptObject,
    OptArray,
    StrArray,
    /// A router target: a string, or an array of strings.
    Targets,
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
            Kind::OptArray => v.is_null() || v.is_array(),
            Kind::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::Targets => {
                v.is_null()
                    || v.is_string()
                    || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            }
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Str | Kind::OptStr => "a string",
            Kind::OptBool => "true or false",
            Kind::OptUint => "a non-negative integer",
            Kind::OptInt => "an integer",
            Kind::OptObject => "an object",
            Kind::OptArray => "an array",
            Kind::StrArray => "an array of strings",
            Kind::Targets => "\"upstream\", \"upstream,model\" or a list of them",
        }
    }
}

const UPSTREAM_FIELDS: [(&str, Kind); 9] = [
    ("name", Kind::Str),
    ("baseUrl", Kind::Str),
    ("apiKeys", Kind::StrArray),
    ("serviceType", Kind::Str),
    ("insecureSkipVerify", Kind::OptBool),
    ("modelMapping", Kind::OptObject),
    ("maxTokens", Kind::OptUint),
    ("description", Kind::OptStr),
    ("circuitBreaker", Kind::OptObject),
];

const CIRCUIT_FIELDS: [(&str, Kind); 3] = [
    ("failures", Kind::OptInt),
    ("openMs", Kind::OptInt),
    ("maxOpenMs", Kind::OptInt),
];

const ROOT_FIELDS: [(&str, Kind); 4] = [
    ("currentUpstream", Kind::OptInt),
    ("loadBalance", Kind::OptStr),
    ("router", Kind::OptObject),
    ("prices", Kind::OptObject),
];

const ROUTER_FIELDS: [(&str, Kind); 8] = [
    ("default", Kind::Targets),
    ("background", Kind::Targets),
    ("think", Kind::Targets),
    ("longContext", Kind::Targets),
    ("longContextThreshold", Kind::OptInt),
    ("webSearch", Kind::Targets),
    ("image", Kind::Targets),
    ("rules", Kind::OptArray),
];

const RULE_FIELDS: [(&str, Kind); 3] = [
    ("model", Kind::OptStr),
    ("header", Kind::OptObject),
    ("to", Kind::Targets),
];

/// Lists wrongly typed fields and removes them from `value` so the rest can
/// still be deserialized and validated.
fn salvage(value: &mut Value) -> Vec<TypeError> {
    let mut errors = Vec::new();
    let Some(root) = value.as_object_mut() else {
        errors.push(TypeError::at(
            "(root)".to_owned(),
            type_message(value, "an object"),
        ));
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
                        check_fields(obj, &UPSTREAM_FIELDS, &format!("{at}."), &mut errors);
                        if let Some(Value::Object(cb)) = obj.get_mut("circuitBreaker") {
                            let prefix = format!("{at}.circuitBreaker.");
                            check_fields(cb, &CIRCUIT_FIELDS, &prefix, &mut errors);
                        }
                    }
                    None => {
                        errors.push(TypeError::at(at, type_message(item, "an object")));
                        *item = Value::Object(Map::new());
                    }
                }
            }
        }
        Some(other) => {
            errors.push(TypeError::at(
                "upstream".to_owned(),
                type_message(other, "an array"),
            ));
            root.remove("upstream");
        }
    }
    if let Some(Value::Object(router)) = root.get_mut("router") {
        check_fields(router, &ROUTER_FIELDS, "router.", &mut errors);
        if let Some(Value::Array(rules)) = router.get_mut("rules") {
            for (k, rule) in rules.iter_mut().enumerate() {
                let at = format!("router.rules[{k}]");
                match rule.as_object_mut() {
                    Some(obj) => check_fields(obj, &RULE_FIELDS, &format!("{at}."), &mut errors),
                    None => {
                        errors.push(TypeError::at(at, type_message(rule, "an object")));
                        *rule = Value::Object(Map::new());
                    }
                }
            }
        }
    }
    errors
}

fn check_fields(
    obj: &mut Map<String, Value>,
    fields: &[(&str, Kind)],
    prefix: &str,
    errors: &mut Vec<TypeError>,
) {
    for (name, kind) in fields {
        let Some(v) = obj.get(*name) else { continue };
        if kind.accepts(v) {
            continue;
        }
        let field = format!("{prefix}{name}");
        // Point at the offending element of a list, not the whole list.
        let bad_element = match (kind, v.as_array()) {
            (Kind::StrArray | Kind::Targets, Some(items)) => {
                items.iter().enumerate().find(|(_, x)| !x.is_string())
            }
            _ => None,
        };
        let (path, message) = match bad_element {
            Some((j, x)) => (format!("{field}[{j}]"), type_message(x, "a string")),
            None => (field.clone(), type_message(v, kind.expected())),
        };
        errors.push(TypeError {
            path,
            message,
            removed: field,
        });
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
    fn router_type_and_validation_problems_are_all_listed() {
        let text = r#"{
  "upstream": [
    {"name": "a", "baseUrl": "https://a", "serviceType": "openai",
     "circuitBreaker": {"failures": "many", "openMs": 0}}
  ],
  "router": {
    "think": ["a", 7],
    "image": "nope",
    "longContextThreshold": -3,
    "rules": [
      {"model": "x*", "to": [1]},
      "oops",
      {"header": {"x-team": "eu"}, "to": "ghost"}
    ]
  }
}"#;
        let p = diagnose("c.json", text);
        let joined = p.join("\n");
        assert!(p[0].starts_with("c.json:4:"), "{joined}");
        for needle in [
            "upstream[0].circuitBreaker.failures: invalid type: string \"many\"",
            "upstream[0].circuitBreaker.openMs: must be a positive integer",
            "router.think[1]: invalid type: number `7`, expected a string",
            "router.image: no upstream is named \"nope\"",
            "router.longContextThreshold: must be a positive integer, got -3",
            "router.rules[0].to[0]: invalid type: number `1`, expected a string",
            "router.rules[1]: invalid type: string \"oops\", expected an object",
            "router.rules[2].to: no upstream is named \"ghost\"",
        ] {
            assert!(
                joined.contains(needle),
                "missing {needle}:
{joined}"
            );
        }
        // Fields removed for their type are not also reported as missing.
        assert!(!joined.contains("required"), "{joined}");
        assert!(!joined.contains("needs \"model\""), "{joined}");
        assert_eq!(p.len(), 8, "{joined}");
    }

    #[test]
    fn a_router_that_is_not_an_object_is_one_problem() {
        let p = diagnose("c.json", r#"{"router": ["a"], "loadBalance": 3}"#);
        let joined = p.join("\n");
        assert!(
            p[0].starts_with("c.json:1:11: router: invalid type: sequence, expected an object"),
            "{joined}"
        );
        assert!(joined.contains("loadBalance"), "{joined}");
        assert_eq!(p.len(), 2, "{joined}");
    }

    #[test]
    fn within_respects_index_boundaries() {
        assert!(is_within("upstream[1].name", "upstream[1]"));
        assert!(is_within("upstream[1]", "upstream[1]"));
        assert!(!is_within("upstream[10].name", "upstream[1]"));
    }
}
