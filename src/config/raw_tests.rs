use std::time::Duration;

use serde_json::json;

use super::super::glob::Glob;
use super::super::model::Scenario;
use super::super::{parse_raw, CircuitBreakerSettings, Route, TargetError};
use super::*;

const UPSTREAMS: &str = r#"[
    {"name":"deepseek","baseUrl":"https://api.deepseek.com","serviceType":"openaiold","apiKeys":["k"],"modelMapping":{"*":"deepseek-chat"}},
    {"name":"Anthropic","baseUrl":"https://api.anthropic.com","serviceType":"claude","apiKeys":["k"]},
    {"name":"local","baseUrl":"http://localhost:11434/v1","serviceType":"openaiold","apiKeys":[]},
    {"name":"gemini","baseUrl":"https://generativelanguage.googleapis.com","serviceType":"gemini","apiKeys":["k"]}
]"#;

fn config(router: serde_json::Value) -> Result<Config, ConfigError> {
    let text = format!(r#"{{"upstream":{UPSTREAMS},"currentUpstream":2,"router":{router}}}"#);
    parse_raw("c", &text)?.validate(LoadBalance::RoundRobin)
}

fn problems(router: serde_json::Value) -> Vec<String> {
    match config(router) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

/// The problem at `path`: exactly one, whose text contains `needle`.
fn assert_problem(router: serde_json::Value, path: &str, needle: &str) {
    let p = problems(router);
    let at: Vec<&String> = p
        .iter()
        .filter(|l| l.starts_with(&format!("{path}: ")))
        .collect();
    assert_eq!(at.len(), 1, "want one problem at {path}: {p:?}");
    assert!(at[0].contains(needle), "{path}: want {needle:?} in {p:?}");
}

fn targets(cfg: &Config, scenario: Scenario) -> Vec<String> {
    let router = cfg.router.as_ref().unwrap();
    router
        .scenario(scenario)
        .unwrap_or_default()
        .iter()
        .map(|t| cfg.target_label(t))
        .collect()
}

#[test]
fn the_issue_example_validates_into_targets_and_rules() {
    let cfg = config(json!({
        "default": "deepseek",
        "background": "local,qwen2.5-coder:7b",
        "think": ["deepseek,deepseek-reasoner", "anthropic"],
        "longContext": "GEMINI, gemini-2.5-pro",
        "longContextThreshold": 100000,
        "webSearch": "gemini,gemini-2.5-flash",
        "rules": [
            { "model": "claude-opus-*", "to": "anthropic" },
            { "header": { "X-Team": "eu" }, "to": ["local", "deepseek"] }
        ]
    }))
    .unwrap();
    let router = cfg.router.as_ref().unwrap();
    assert_eq!(targets(&cfg, Scenario::Default), ["deepseek"]);
    assert_eq!(
        targets(&cfg, Scenario::Background),
        ["local,qwen2.5-coder:7b"]
    );
    // Names match case-insensitively and resolve to the configured one.
    assert_eq!(
        targets(&cfg, Scenario::Think),
        ["deepseek,deepseek-reasoner", "Anthropic"]
    );
    assert_eq!(
        targets(&cfg, Scenario::LongContext),
        ["gemini,gemini-2.5-pro"]
    );
    assert!(router.scenario(Scenario::Image).is_none());
    assert_eq!(router.long_context_threshold(), 100_000);
    let think = router.scenario(Scenario::Think).unwrap();
    assert_eq!(
        (think[0].upstream(), think[0].model()),
        (0, Some("deepseek-reasoner"))
    );
    assert_eq!((think[1].upstream(), think[1].model()), (1, None));

    let rules = router.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].model().map(Glob::as_str), Some("claude-opus-*"));
    assert_eq!(rules[1].headers(), [("x-team".to_owned(), "eu".to_owned())]);
    assert_eq!(rules[1].targets().len(), 2);
    let no_headers = |_: &str| None;
    assert_eq!(
        router
            .matching_rule("claude-opus-4-1", no_headers)
            .map(|(i, _)| i),
        Some(0)
    );
    assert!(router
        .matching_rule("claude-sonnet-4-5", no_headers)
        .is_none());
    let eu = |name: &str| (name == "x-team").then_some("eu");
    assert_eq!(
        router
            .matching_rule("claude-sonnet-4-5", eu)
            .map(|(i, _)| i),
        Some(1)
    );
    let us = |name: &str| (name == "x-team").then_some("EU");
    assert!(
        router.matching_rule("claude-sonnet-4-5", us).is_none(),
        "header values match exactly"
    );
    assert_eq!(Route::Rule(1).as_str(), "rule");
}

#[test]
fn default_comes_from_current_upstream_and_threshold_has_a_default() {
    let cfg = config(json!({ "think": "deepseek" })).unwrap();
    assert_eq!(cfg.current_upstream, 2);
    assert_eq!(targets(&cfg, Scenario::Default), ["local"]);
    let router = cfg.router.as_ref().unwrap();
    assert_eq!(router.long_context_threshold(), 60_000);
    assert!(router.rules().is_empty());
    // An empty router object is valid too.
    let cfg = config(json!({})).unwrap();
    assert_eq!(targets(&cfg, Scenario::Default), ["local"]);
    for s in [
        Scenario::Background,
        Scenario::Think,
        Scenario::LongContext,
        Scenario::WebSearch,
        Scenario::Image,
    ] {
        assert!(cfg.router.as_ref().unwrap().scenario(s).is_none(), "{s}");
    }
    // No upstreams, no default.
    let cfg = parse_raw("c", r#"{"router":{"longContextThreshold":5}}"#)
        .unwrap()
        .validate(LoadBalance::RoundRobin)
        .unwrap();
    assert!(cfg.router.unwrap().scenario(Scenario::Default).is_none());
}

#[test]
fn no_router_and_unknown_root_fields_load_as_before() {
    let text = format!(r#"{{"upstream":{UPSTREAMS},"currentUpstream":1}}"#);
    let raw = parse_raw("c", &text).unwrap();
    let cfg = raw.validate(LoadBalance::Failover).unwrap();
    assert!(cfg.router.is_none());
    assert!(cfg.upstreams.iter().all(|u| u.circuit_breaker.is_none()));
    let back = serde_json::to_value(&raw).unwrap();
    assert!(back.get("router").is_none(), "{back}");
    assert!(
        back["upstream"][0].get("circuitBreaker").is_none(),
        "{back}"
    );
}

#[test]
fn target_errors_carry_their_field_path() {
    assert_problem(
        json!({ "think": ["deepseek", "nope"] }),
        "router.think[1]",
        "no upstream is named \"nope\" (configured: deepseek, Anthropic, local, gemini)",
    );
    assert_problem(
        json!({ "background": "nope,x" }),
        "router.background",
        "\"nope\"",
    );
    assert_problem(
        json!({ "image": [] }),
        "router.image",
        "at least one target",
    );
    assert_problem(
        json!({ "default": "" }),
        "router.default",
        "must not be empty",
    );
    assert_problem(
        json!({ "webSearch": ["gemini", " "] }),
        "router.webSearch[1]",
        "must not be empty",
    );
    assert_problem(
        json!({ "longContext": "gemini," }),
        "router.longContext",
        "model after \"gemini,\"",
    );
    assert_problem(
        json!({ "longContext": ",x" }),
        "router.longContext",
        "upstream name before the comma",
    );
    assert_problem(
        json!({ "rules": [{ "model": "a*", "to": ["local", "x"] }] }),
        "router.rules[0].to[1]",
        "no upstream is named \"x\"",
    );
    assert_problem(
        json!({ "rules": [{ "model": "a*", "to": "x" }] }),
        "router.rules[0].to",
        "no upstream is named \"x\"",
    );
}

#[test]
fn threshold_must_be_positive() {
    for bad in [0, -1] {
        assert_problem(
            json!({ "longContextThreshold": bad }),
            "router.longContextThreshold",
            &format!("must be a positive integer, got {bad}"),
        );
    }
    assert_eq!(
        config(json!({ "longContextThreshold": 1 }))
            .unwrap()
            .router
            .unwrap()
            .long_context_threshold(),
        1
    );
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    assert_problem(
        json!({ "longcontext": "gemini" }),
        "router.longcontext",
        "unknown key (did you mean \"longContext\"?)",
    );
    assert_problem(
        json!({ "webserch": "gemini" }),
        "router.webserch",
        "did you mean \"webSearch\"?",
    );
    assert_problem(
        json!({ "Long_Context_Treshold": 5 }),
        "router.Long_Context_Treshold",
        "did you mean \"longContextThreshold\"?",
    );
    let p = problems(json!({ "fast": "gemini" }));
    assert_eq!(
        p,
        ["router.fast: unknown key (expected one of: default, background, think, longContext, longContextThreshold, webSearch, image, rules)"]
    );
    assert_problem(
        json!({ "rules": [{ "model": "x", "to": "local", "headers": {"a": "b"} }] }),
        "router.rules[0].headers",
        "did you mean \"header\"?",
    );
}

#[test]
fn rule_errors_carry_their_field_path() {
    assert_problem(
        json!({ "rules": [{ "to": "local" }] }),
        "router.rules[0]",
        "needs \"model\"",
    );
    assert_problem(
        json!({ "rules": [{ "model": "a", "to": "local" }, { "model": "claude-[", "to": "local" }] }),
        "router.rules[1].model",
        "bad glob \"claude-[\"",
    );
    assert_problem(
        json!({ "rules": [{ "model": " ", "to": "local" }] }),
        "router.rules[0].model",
        "must not be empty",
    );
    assert_problem(
        json!({ "rules": [{ "model": "a" }] }),
        "router.rules[0].to",
        "required",
    );
    assert_problem(
        json!({ "rules": [{ "model": "a", "to": [] }] }),
        "router.rules[0].to",
        "at least one target",
    );
    assert_problem(
        json!({ "rules": [{ "header": {}, "to": "local" }] }),
        "router.rules[0].header",
        "at least one header",
    );
    assert_problem(
        json!({ "rules": [{ "header": { "x-team": 5 }, "to": "local" }] }),
        "router.rules[0].header.x-team",
        "must be a string",
    );
    assert_problem(
        json!({ "rules": [{ "header": { "bad name": "v" }, "to": "local" }] }),
        "router.rules[0].header.bad name",
        "not a valid header name",
    );
    assert_problem(
        json!({ "rules": [{ "header": { "x-a": "line\nbreak" }, "to": "local" }] }),
        "router.rules[0].header.x-a",
        "not a valid header value",
    );
    assert_problem(
        json!({ "rules": [{ "header": { "X-Team": "a", "x-team": "b" }, "to": "local" }] }),
        "router.rules[0].header.x-team",
        "listed twice",
    );
}

#[test]
fn edit_distance_counts_single_edits() {
    let d = |a: &str, b: &str| {
        edit_distance(
            &a.chars().collect::<Vec<_>>(),
            &b.chars().collect::<Vec<_>>(),
        )
    };
    assert_eq!(d("kitten", "sitting"), 3);
    assert_eq!(d("", "abc"), 3);
    assert_eq!(d("abc", "abc"), 0);
    assert_eq!(d("websearch", "webserch"), 1);
}

#[test]
fn every_router_problem_is_reported_at_once() {
    let p = problems(json!({
        "think": "nope",
        "longContextThreshold": 0,
        "rules": [{ "model": "[", "to": "nope2" }],
        "extra": 1
    }));
    assert_eq!(p.len(), 5, "{p:?}");
}

#[test]
fn parse_target_resolves_against_the_config() {
    let cfg = config(json!({})).unwrap();
    let t = cfg.parse_target(" DeepSeek , deepseek-chat ").unwrap();
    assert_eq!((t.upstream(), t.model()), (0, Some("deepseek-chat")));
    assert_eq!(cfg.target_label(&t), "deepseek,deepseek-chat");
    // Only the first comma separates.
    let t = cfg.parse_target("local,a,b").unwrap();
    assert_eq!(t.model(), Some("a,b"));
    let t = cfg.parse_target("anthropic").unwrap();
    assert_eq!(t.upstream_model(&cfg.upstreams[1], "claude-x"), "claude-x");
    let t = cfg.parse_target("deepseek").unwrap();
    assert_eq!(
        t.upstream_model(&cfg.upstreams[0], "claude-x"),
        "deepseek-chat"
    );
    let t = cfg.parse_target("deepseek,deepseek-reasoner").unwrap();
    assert_eq!(
        t.upstream_model(&cfg.upstreams[0], "claude-x"),
        "deepseek-reasoner"
    );
    let err = cfg.parse_target("openai,gpt-4o").unwrap_err();
    assert!(
        matches!(&err, TargetError::UnknownUpstream { name, known } if name == "openai" && known.len() == 4)
    );
    assert_eq!(
        err.to_string(),
        "no upstream is named \"openai\" (configured: deepseek, Anthropic, local, gemini)"
    );
    assert_eq!(cfg.find_upstream("GEMINI"), Some(3));
    assert_eq!(
        Config::default().parse_target("x").unwrap_err().to_string(),
        "no upstream is named \"x\" (no upstreams are configured)"
    );
}

fn with_circuit(cb: serde_json::Value) -> Result<Config, ConfigError> {
    let mut upstreams: serde_json::Value = serde_json::from_str(UPSTREAMS).unwrap();
    upstreams[1]["circuitBreaker"] = cb;
    let text = json!({ "upstream": upstreams }).to_string();
    parse_raw("c", &text)?.validate(LoadBalance::RoundRobin)
}

#[test]
fn circuit_breaker_validates_and_resolves_against_settings() {
    let cfg = with_circuit(json!({ "failures": 3, "openMs": 1000, "maxOpenMs": 8000 })).unwrap();
    let own = cfg.upstreams[1].circuit_breaker.unwrap();
    assert_eq!(own.failures, Some(3));
    assert_eq!(own.open, Some(Duration::from_millis(1000)));
    assert_eq!(own.max_open, Some(Duration::from_millis(8000)));
    let defaults = CircuitBreakerSettings::DEFAULT;
    let eff = cfg.upstreams[1].circuit_breaker(&defaults);
    assert_eq!(
        (eff.failures, eff.open, eff.max_open),
        (3, Duration::from_secs(1), Duration::from_secs(8))
    );
    assert_eq!(cfg.upstreams[0].circuit_breaker(&defaults), defaults);

    let cfg = with_circuit(json!({ "failures": 2 })).unwrap();
    let eff = cfg.upstreams[1].circuit_breaker(&defaults);
    assert_eq!(
        (eff.failures, eff.open, eff.max_open),
        (2, Duration::from_secs(30), Duration::from_secs(600))
    );
    // A given value wins over a conflicting default.
    let cfg = with_circuit(json!({ "openMs": 900000 })).unwrap();
    let eff = cfg.upstreams[1].circuit_breaker(&defaults);
    assert_eq!(
        (eff.open, eff.max_open),
        (Duration::from_secs(900), Duration::from_secs(900))
    );
    let cfg = with_circuit(json!({ "maxOpenMs": 10000 })).unwrap();
    let eff = cfg.upstreams[1].circuit_breaker(&defaults);
    assert_eq!(
        (eff.open, eff.max_open),
        (Duration::from_secs(10), Duration::from_secs(10))
    );
    assert!(with_circuit(json!({})).unwrap().upstreams[1]
        .circuit_breaker
        .is_some());
}

#[test]
fn circuit_breaker_errors_carry_their_field_path() {
    let cases = [
        (
            json!({ "failures": 0 }),
            "upstream[1].circuitBreaker.failures: must be a positive integer, got 0",
        ),
        (
            json!({ "openMs": -5 }),
            "upstream[1].circuitBreaker.openMs: must be a positive integer, got -5",
        ),
        (
            json!({ "maxOpenMs": 0 }),
            "upstream[1].circuitBreaker.maxOpenMs: must be a positive integer",
        ),
        (
            json!({ "failures": 5_000_000_000_i64 }),
            "upstream[1].circuitBreaker.failures: must be at most",
        ),
        (
            json!({ "openMs": 2000, "maxOpenMs": 1000 }),
            "upstream[1].circuitBreaker.maxOpenMs: must be at least openMs (2000), got 1000",
        ),
        (
            json!({ "openMS": 2000 }),
            "upstream[1].circuitBreaker.openMS: unknown key (did you mean \"openMs\"?)",
        ),
    ];
    for (cb, want) in cases {
        let Err(ConfigError::Invalid(p)) = with_circuit(cb.clone()) else {
            panic!("{cb} should be invalid")
        };
        assert_eq!(p.len(), 1, "{cb}: {p:?}");
        assert!(p[0].starts_with(want), "{cb}: {p:?}");
    }
}

#[test]
fn targets_keep_their_written_form() {
    let text = format!(
        r#"{{"upstream":{UPSTREAMS},"router":{{"default":"local","think":["deepseek"],"rules":[{{"model":"x","to":"local","note":1}}]}}}}"#
    );
    let raw = parse_raw("c", &text).unwrap();
    let back = serde_json::to_value(&raw).unwrap();
    assert_eq!(back["router"]["default"], "local");
    assert_eq!(back["router"]["think"], json!(["deepseek"]));
    assert_eq!(back["router"]["rules"][0]["note"], 1);
    assert_eq!(
        RawTargets::from_vec(vec!["a".into()]),
        RawTargets::One("a".into())
    );
    assert_eq!(
        RawTargets::from_vec(vec!["a".into(), "b".into()]).item_path("router.think", 1),
        "router.think[1]"
    );
    assert_eq!(
        RawTargets::One("a".into()).item_path("router.image", 0),
        "router.image"
    );
}

#[test]
fn wrongly_typed_router_fields_have_path_line_and_column() {
    let text = "{\n  \"router\": {\n    \"think\": [\"a\", 5]\n  }\n}";
    let err = parse_raw("c.json", text).unwrap_err().to_string();
    assert!(err.starts_with("c.json:3:"), "{err}");
    assert!(
        err.contains("router.think[1]: invalid type: integer `5`, expected a string"),
        "{err}"
    );
    let err = parse_raw("c.json", r#"{"router":{"image":{"a":1}}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("router.image: invalid type: map, expected \"upstream\""),
        "{err}"
    );
    let err = parse_raw("c.json", r#"{"router":{"longContextThreshold":"big"}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("router.longContextThreshold: invalid type"),
        "{err}"
    );
}
