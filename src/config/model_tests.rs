use super::super::glob::Glob;
use std::time::Duration;

use super::*;

fn mapping(pairs: &[(&str, &str)]) -> ModelMapping {
    ModelMapping::new(
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    )
}

#[test]
fn mapping_order_exact_family_star_passthrough() {
    let m = mapping(&[
        ("claude-opus-5-5", "exact"),
        ("sonnet", "fam-sonnet"),
        ("haiku", "fam-haiku"),
        ("*", "default"),
    ]);
    assert_eq!(m.resolve("claude-opus-5-5"), "exact");
    assert_eq!(m.resolve("claude-sonnet-4-5-20250929"), "fam-sonnet");
    assert_eq!(m.resolve("claude-HAIKU-4-5"), "fam-haiku");
    assert_eq!(m.resolve("claude-opus-4"), "default");
    assert_eq!(mapping(&[]).resolve("gpt-4o"), "gpt-4o");
    assert_eq!(mapping(&[("haiku", "x")]).resolve("gpt-4o"), "gpt-4o");
}

#[test]
fn endpoint_adds_version_only_without_path() {
    let up = Upstream::for_tests;
    assert_eq!(
        up("https://api.openai.com", ServiceType::OpenAi).endpoint("/chat/completions"),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(
        up("https://api.openai.com/v1/", ServiceType::OpenAi).endpoint("/chat/completions"),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(
        up("https://x.ai/api/openai", ServiceType::OpenAiOld).endpoint("/chat/completions"),
        "https://x.ai/api/openai/chat/completions"
    );
    assert_eq!(
        up("https://api.openai.com", ServiceType::Responses).endpoint("/responses"),
        "https://api.openai.com/v1/responses"
    );
    assert_eq!(
        up("https://gw.example/openai/v1", ServiceType::Responses).endpoint("/responses"),
        "https://gw.example/openai/v1/responses"
    );
    assert_eq!(
        up(
            "https://generativelanguage.googleapis.com",
            ServiceType::Gemini
        )
        .endpoint("/models/g:generateContent"),
        "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent"
    );
}

#[test]
fn scenario_names_and_route_labels() {
    let labels: Vec<&str> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        labels,
        [
            "default",
            "background",
            "think",
            "longContext",
            "webSearch",
            "image"
        ]
    );
    for s in Scenario::ALL {
        assert_eq!(Scenario::parse(s.as_str()), Some(s));
        assert_eq!(Route::Scenario(s).as_str(), s.as_str());
        assert_eq!(Scenario::ALL[s.index()], s);
    }
    for (text, want) in [
        ("LONGCONTEXT", Scenario::LongContext),
        ("long-context", Scenario::LongContext),
        ("long_context", Scenario::LongContext),
        (" web-search ", Scenario::WebSearch),
        ("WebSearch", Scenario::WebSearch),
        ("Think", Scenario::Think),
    ] {
        assert_eq!(Scenario::parse(text), Some(want), "{text}");
    }
    assert_eq!(Scenario::parse("thinking"), None);
    assert_eq!(Scenario::parse(""), None);
    assert_eq!(Route::Explicit.as_str(), "explicit");
    assert_eq!(Route::Rule(3).to_string(), "rule");
    assert_eq!(Scenario::PRECEDENCE.last(), Some(&Scenario::Default));
    assert_eq!(Scenario::PRECEDENCE[0], Scenario::LongContext);
    let mut sorted = Scenario::PRECEDENCE.map(Scenario::index);
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2, 3, 4, 5], "every scenario once");
}

#[test]
fn rules_need_the_glob_and_every_header() {
    let to = vec![RouteTarget::for_upstream(0)];
    let headers = vec![
        ("x-team".to_owned(), "eu".to_owned()),
        ("x-tier".to_owned(), "gold".to_owned()),
    ];
    let both = Rule::new(
        Some(Glob::new("claude-*").unwrap()),
        headers.clone(),
        to.clone(),
    );
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    };
    let all = lookup(&[("x-team", "eu"), ("x-tier", "gold")]);
    assert!(both.matches("claude-opus-4", all));
    assert!(!both.matches("gpt-4o", all), "the glob must match too");
    assert!(!both.matches("claude-opus-4", lookup(&[("x-team", "eu")])));
    assert!(!both.matches(
        "claude-opus-4",
        lookup(&[("x-team", "eu"), ("x-tier", "Gold")])
    ));
    let headers_only = Rule::new(None, headers, to.clone());
    assert!(headers_only.matches("anything", all));
    let model_only = Rule::new(Some(Glob::new("*haiku*").unwrap()), Vec::new(), to);
    assert!(model_only.matches("claude-3-5-haiku", |_| None));
    assert!(!model_only.matches("claude-sonnet-4", |_| None));
}

#[test]
fn circuit_resolution_keeps_max_at_least_open() {
    let d = CircuitBreakerSettings {
        failures: 4,
        open: Duration::from_secs(10),
        max_open: Duration::from_secs(100),
    };
    let ms = |n| Some(Duration::from_millis(n));
    let r = |open, max_open| {
        let eff = CircuitBreakerConfig {
            failures: None,
            open,
            max_open,
        }
        .resolve(&d);
        assert_eq!(eff.failures, 4);
        (eff.open.as_millis(), eff.max_open.as_millis())
    };
    assert_eq!(r(None, None), (10_000, 100_000));
    assert_eq!(r(ms(5_000), None), (5_000, 100_000));
    assert_eq!(r(ms(200_000), None), (200_000, 200_000));
    assert_eq!(r(None, ms(50_000)), (10_000, 50_000));
    assert_eq!(r(None, ms(2_000)), (2_000, 2_000));
    assert_eq!(r(ms(1_000), ms(3_000)), (1_000, 3_000));
    assert_eq!(CircuitBreakerSettings::default().failures, 5);
}

#[test]
fn masking() {
    assert_eq!(
        mask_secret("sk-proj-abcdefghijklmnopqrstuvwxyz"),
        "sk-proj-…wxyz"
    );
    assert_eq!(mask_secret("abcdefghij"), "ab…ij");
    assert_eq!(mask_secret("abc"), "***");
    let k = ApiKey::new("sk-1234567890abcdefghij");
    assert!(!format!("{k:?}{k}").contains("567890abcdef"));
}
