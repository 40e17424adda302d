use super::*;
use crate::config::parse_raw;
use crate::config::LoadBalance;

fn config() -> RawConfig {
    parse_raw(
        "c",
        r#"{"upstream":[
            {"name":"DeepSeek","baseUrl":"https://api.deepseek.com","serviceType":"openaiold"},
            {"name":"anthropic","baseUrl":"https://api.anthropic.com","serviceType":"claude","fallback":["deepseek"]},
            {"name":"local","baseUrl":"http://localhost:11434/v1","serviceType":"openaiold"}
        ],"currentUpstream":2}"#,
    )
    .unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn valid(raw: &RawConfig) {
    raw.validate(LoadBalance::default()).unwrap();
}

#[test]
fn set_normalises_names_and_refuses_unknown_upstreams() {
    let mut raw = config();
    let out = set(
        &mut raw,
        Scenario::Think,
        &strings(&["deepseek , deepseek-reasoner", "ANTHROPIC"]),
    )
    .unwrap();
    assert_eq!(
        out,
        "router.think: DeepSeek,deepseek-reasoner → anthropic\n"
    );
    let router = raw.router.as_ref().unwrap();
    assert_eq!(
        router.think,
        Some(RawTargets::List(strings(&[
            "DeepSeek,deepseek-reasoner",
            "anthropic"
        ])))
    );
    valid(&raw);
    let out = set(&mut raw, Scenario::Think, &strings(&["local"])).unwrap();
    assert!(
        out.contains("(was DeepSeek,deepseek-reasoner → anthropic)"),
        "{out}"
    );
    assert_eq!(
        raw.router.as_ref().unwrap().think,
        Some(RawTargets::One("local".into()))
    );
    assert!(set(&mut raw, Scenario::Think, &strings(&["local"]))
        .unwrap()
        .contains("unchanged"));

    let before = raw.clone();
    let err = set(
        &mut raw,
        Scenario::Image,
        &strings(&["local", "openai,gpt-4o"]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "target \"openai,gpt-4o\": no upstream is named \"openai\" (configured: DeepSeek, anthropic, local)"
    );
    assert!(set(&mut raw, Scenario::Image, &strings(&["local,"]))
        .unwrap_err()
        .contains("model after"));
    assert!(set(&mut raw, Scenario::Image, &[]).is_err());
    assert_eq!(raw.router, before.router, "a refused edit changes nothing");
    let err = set(
        &mut RawConfig::default(),
        Scenario::Default,
        &strings(&["x"]),
    )
    .unwrap_err();
    assert!(err.contains("config add"), "{err}");
}

#[test]
fn unset_removes_and_drops_an_empty_router() {
    let mut raw = config();
    set(&mut raw, Scenario::Default, &strings(&["deepseek"])).unwrap();
    set(&mut raw, Scenario::Background, &strings(&["local,qwen"])).unwrap();
    let out = unset(&mut raw, Scenario::Background).unwrap();
    assert!(
        out.contains("Removed router.background (was local,qwen)"),
        "{out}"
    );
    assert!(!out.contains("empty"), "{out}");
    assert!(unset(&mut raw, Scenario::Background)
        .unwrap_err()
        .contains("not set"));
    let out = unset(&mut raw, Scenario::Default).unwrap();
    assert!(out.contains("current upstream \"local\" again"), "{out}");
    assert!(out.contains("router is empty now"), "{out}");
    assert!(raw.router.is_none());
    assert!(unset(&mut raw, Scenario::Think).is_err());
}

#[test]
fn threshold_keeps_the_router() {
    let mut raw = config();
    assert_eq!(
        threshold(&mut raw, 100_000),
        "router.longContextThreshold: 100000 (was 60000)\n"
    );
    assert!(threshold(&mut raw, 100_000).contains("unchanged"));
    assert_eq!(
        raw.router.as_ref().unwrap().long_context_threshold,
        Some(100_000)
    );
    valid(&raw);
}

#[test]
fn rules_add_list_remove() {
    let mut raw = config();
    assert!(rule_list(&raw).contains("No routing rules"));
    let out = rule_add(
        &mut raw,
        Some(" claude-opus-* "),
        &[],
        &strings(&["Anthropic"]),
        None,
    )
    .unwrap();
    assert_eq!(out, "Added rule #0: model claude-opus-*: anthropic\n");
    let headers = [
        ("X-Team".to_owned(), "eu".to_owned()),
        ("x-tier".to_owned(), "gold".to_owned()),
    ];
    rule_add(
        &mut raw,
        None,
        &headers,
        &strings(&["local", "deepseek"]),
        None,
    )
    .unwrap();
    let out = rule_add(
        &mut raw,
        Some("*haiku*"),
        &[],
        &strings(&["local,qwen"]),
        Some(0),
    )
    .unwrap();
    assert!(out.contains("#0") && out.contains("moved down"), "{out}");
    valid(&raw);
    assert_eq!(
        rule_list(&raw),
        "  0  model *haiku*: local,qwen\n  1  model claude-opus-*: anthropic\n  2  header x-team=eu, header x-tier=gold: local → DeepSeek\n"
    );
    let rules = raw.router.as_ref().unwrap().rules.as_ref().unwrap();
    assert_eq!(rules[2].header.as_ref().unwrap()["x-team"], "eu");
    assert_eq!(
        rules[2].to,
        Some(RawTargets::List(strings(&["local", "DeepSeek"])))
    );

    let before = raw.clone();
    assert!(rule_add(&mut raw, None, &[], &strings(&["local"]), None)
        .unwrap_err()
        .contains("--model"));
    assert!(
        rule_add(&mut raw, Some("claude-["), &[], &strings(&["local"]), None)
            .unwrap_err()
            .contains("bad glob")
    );
    assert!(
        rule_add(&mut raw, Some("x"), &[], &strings(&["nope"]), None)
            .unwrap_err()
            .contains("no upstream is named \"nope\"")
    );
    let bad_header = [("bad name".to_owned(), "v".to_owned())];
    assert!(
        rule_add(&mut raw, None, &bad_header, &strings(&["local"]), None)
            .unwrap_err()
            .contains("not a valid header name")
    );
    let twice = [
        ("A".to_owned(), "1".to_owned()),
        ("a".to_owned(), "2".to_owned()),
    ];
    assert!(rule_add(&mut raw, None, &twice, &strings(&["local"]), None)
        .unwrap_err()
        .contains("twice"));
    assert!(
        rule_add(&mut raw, Some("x"), &[], &strings(&["local"]), Some(9))
            .unwrap_err()
            .contains("0 to 3")
    );
    assert_eq!(raw.router, before.router);

    let out = rule_remove(&mut raw, 1).unwrap();
    assert!(
        out.contains("Removed rule #1: model claude-opus-*") && out.contains("moved up"),
        "{out}"
    );
    assert!(rule_remove(&mut raw, 2)
        .unwrap_err()
        .contains("no rule #2 (2 rule(s)"));
    rule_remove(&mut raw, 1).unwrap();
    let out = rule_remove(&mut raw, 0).unwrap();
    assert!(out.contains("router is empty now"), "{out}");
    assert!(raw.router.is_none());
    assert!(rule_remove(&mut raw, 0)
        .unwrap_err()
        .contains("no routing rules"));
}

#[test]
fn show_lists_every_scenario_and_rule() {
    let mut raw = config();
    assert!(
        show(&raw).starts_with("No router: every request goes to the current upstream \"local\"")
    );
    set(
        &mut raw,
        Scenario::Think,
        &strings(&["deepseek,r1", "anthropic"]),
    )
    .unwrap();
    rule_add(
        &mut raw,
        Some("claude-opus-*"),
        &[],
        &strings(&["anthropic"]),
        None,
    )
    .unwrap();
    let out = show(&raw);
    assert!(
        out.contains("  default:      local (currentUpstream)\n"),
        "{out}"
    );
    assert!(
        out.contains("  think:        DeepSeek,r1 → anthropic\n"),
        "{out}"
    );
    assert!(out.contains("  image:        -\n"), "{out}");
    assert!(
        out.contains("longContext:  -  (above 60000 estimated input tokens)"),
        "{out}"
    );
    assert!(
        out.contains("    0  model claude-opus-*: anthropic\n"),
        "{out}"
    );
}

#[test]
fn references_and_renames_cover_router_and_fallback() {
    let mut raw = config();
    set(&mut raw, Scenario::Default, &strings(&["deepseek"])).unwrap();
    set(
        &mut raw,
        Scenario::Think,
        &strings(&["local", "deepseek,r1"]),
    )
    .unwrap();
    rule_add(
        &mut raw,
        Some("x*"),
        &[],
        &strings(&["anthropic", "DEEPSEEK"]),
        None,
    )
    .unwrap();
    assert_eq!(
        references(&raw, 0),
        [
            "router.default",
            "router.think[1]",
            "router.rules[0].to[1]",
            "upstream[1].fallback[0]"
        ]
    );
    assert_eq!(references(&raw, 2), ["router.think[0]"]);
    assert!(references(&raw, 9).is_empty());

    let changed = rename_references(&mut raw, "deepseek", "ds");
    assert_eq!(
        changed,
        [
            "router.default",
            "router.think[1]",
            "router.rules[0].to[1]",
            "upstream[1].fallback[0]"
        ]
    );
    let router = raw.router.as_ref().unwrap();
    assert_eq!(router.default, Some(RawTargets::One("ds".into())));
    assert_eq!(
        router.think,
        Some(RawTargets::List(strings(&["local", "ds,r1"])))
    );
    let to = router.rules.as_ref().unwrap()[0].to.clone();
    assert_eq!(to, Some(RawTargets::List(strings(&["anthropic", "ds"]))));
    assert_eq!(raw.upstream[1].fallback, Some(strings(&["ds"])));
}
