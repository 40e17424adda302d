use super::*;

fn add_args(name: &str, a: &str, b: &str) -> AddArgs {
    AddArgs {
        name: name.into(),
        first: a.into(),
        second: b.into(),
        keys: vec!["k1".into(), "k1".into(), " ".into()],
        description: None,
        insecure_skip_verify: false,
        max_tokens: None,
    }
}

fn config() -> RawConfig {
    let mut raw = RawConfig::default();
    for (n, t, u) in [
        ("a", "openai", "https://a"),
        ("b", "https://b", "gemini"),
        ("c", "claude", "http://c:8080"),
    ] {
        add(&mut raw, &add_args(n, t, u)).unwrap();
    }
    raw
}

#[test]
fn add_accepts_both_orders_and_rejects_bad_input() {
    let mut raw = config();
    assert_eq!(raw.upstream[1].service_type, "gemini");
    assert_eq!(raw.upstream[1].base_url, "https://b");
    assert_eq!(raw.upstream[0].api_keys, vec!["k1"]);
    assert_eq!(raw.current_upstream, Some(0));
    let e = add(&mut raw, &add_args("A", "openai", "https://x")).unwrap_err();
    assert!(e.contains("already exists"), "{e}");
    let e = add(&mut raw, &add_args("d", "opena", "https://x")).unwrap_err();
    assert!(e.contains("unknown service type"), "{e}");
    let e = add(&mut raw, &add_args("d", "openai", "ftp://x")).unwrap_err();
    assert!(e.contains("bad URL"), "{e}");
    let e = add(&mut raw, &add_args("d", "openai", "gemini")).unwrap_err();
    assert!(e.contains("URL"), "{e}");
    assert_eq!(raw.upstream.len(), 3);
}

#[test]
fn find_by_index_or_name() {
    let raw = config();
    assert_eq!(find(&raw, "1"), Ok(1));
    assert_eq!(find(&raw, "C"), Ok(2));
    assert!(find(&raw, "3").unwrap_err().contains("0:a"));
    assert!(find(&RawConfig::default(), "x")
        .unwrap_err()
        .contains("config add"));
}

#[test]
fn remove_keeps_current_sensible() {
    let mut raw = config();
    select(&mut raw, "c").unwrap();
    remove(&mut raw, "a").unwrap();
    assert_eq!(raw.current_upstream, Some(1));
    assert_eq!(raw.upstream[1].name, "c");
    remove(&mut raw, "c").unwrap();
    assert_eq!(raw.current_upstream, Some(0));
    remove(&mut raw, "0").unwrap();
    assert_eq!(raw.current_upstream, Some(0));
    assert!(raw.upstream.is_empty());
    let mut raw = config();
    remove(&mut raw, "2").unwrap();
    assert_eq!(raw.current_upstream, Some(0));
}

#[test]
fn update_changes_only_given_fields() {
    let mut raw = config();
    let mut u = UpdateArgs {
        upstream: "b".into(),
        name: Some("B2".into()),
        url: None,
        service_type: Some(ServiceType::OpenAiOld),
        description: Some("x".into()),
        insecure_skip_verify: Some(true),
        max_tokens: Some(5),
        circuit_failures: None,
        circuit_open_ms: None,
        circuit_max_open_ms: None,
    };
    update(&mut raw, &u).unwrap();
    let b = &raw.upstream[1];
    assert_eq!(
        (b.name.as_str(), b.service_type.as_str()),
        ("B2", "openaiold")
    );
    assert_eq!(
        (b.insecure_skip_verify, b.max_tokens),
        (Some(true), Some(5))
    );
    u.upstream = "0".into();
    assert!(update(&mut raw, &u).unwrap_err().contains("already exists"));
    let none = UpdateArgs {
        upstream: "0".into(),
        name: None,
        url: None,
        service_type: None,
        description: None,
        insecure_skip_verify: None,
        max_tokens: None,
        circuit_failures: None,
        circuit_open_ms: None,
        circuit_max_open_ms: None,
    };
    assert!(update(&mut raw, &none)
        .unwrap_err()
        .contains("nothing to update"));
    assert!(update(
        &mut raw,
        &UpdateArgs {
            url: Some("nope".into()),
            ..none
        }
    )
    .unwrap_err()
    .contains("bad URL"));
}

fn update_args(upstream: &str) -> UpdateArgs {
    UpdateArgs {
        upstream: upstream.into(),
        name: None,
        url: None,
        service_type: None,
        description: None,
        insecure_skip_verify: None,
        max_tokens: None,
        circuit_failures: None,
        circuit_open_ms: None,
        circuit_max_open_ms: None,
    }
}

fn routed() -> RawConfig {
    let mut raw = config();
    let targets = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    super::super::router::set(
        &mut raw,
        crate::config::Scenario::Think,
        &targets(&["b,gemini-2.5-pro", "c"]),
    )
    .unwrap();
    raw.upstream[0].fallback = Some(vec!["B".into()]);
    raw
}

#[test]
fn names_with_a_comma_are_refused() {
    let mut raw = config();
    let e = add(&mut raw, &add_args("a,b", "openai", "https://x")).unwrap_err();
    assert!(e.contains("must not contain a comma"), "{e}");
    let e = update(
        &mut raw,
        &UpdateArgs {
            name: Some("x,y".into()),
            ..update_args("a")
        },
    )
    .unwrap_err();
    assert!(e.contains("must not contain a comma"), "{e}");
}

#[test]
fn remove_refuses_while_the_router_or_a_fallback_names_it() {
    let mut raw = routed();
    let before = raw.clone();
    let e = remove(&mut raw, "b").unwrap_err();
    assert_eq!(
        e,
        "cannot remove upstream #1 \"b\": it is named at router.think[0], upstream[0].fallback[0]. \
         Point those elsewhere first (`claude-proxy config router …`, or the fallback lists in config.json)"
    );
    assert_eq!(raw.upstream.len(), before.upstream.len());
    assert!(remove(&mut raw, "c")
        .unwrap_err()
        .contains("router.think[1]"));
    // Unreferenced upstreams go as before.
    remove(&mut raw, "a").unwrap();
    assert_eq!(raw.upstream.len(), 2);
}

#[test]
fn rename_updates_router_and_fallback_references() {
    let mut raw = routed();
    let out = update(
        &mut raw,
        &UpdateArgs {
            name: Some("gem".into()),
            ..update_args("B")
        },
    )
    .unwrap();
    assert!(
        out.contains("now named \"gem\" at: router.think[0], upstream[0].fallback[0]"),
        "{out}"
    );
    let think = raw
        .router
        .as_ref()
        .unwrap()
        .think
        .as_ref()
        .unwrap()
        .items()
        .to_vec();
    assert_eq!(think, ["gem,gemini-2.5-pro", "c"]);
    assert_eq!(raw.upstream[0].fallback, Some(vec!["gem".to_owned()]));
    raw.validate(LoadBalance::default()).unwrap();
    let out = update(
        &mut raw,
        &UpdateArgs {
            name: Some("A2".into()),
            ..update_args("a")
        },
    )
    .unwrap();
    assert!(!out.contains("now named"), "{out}");
}

#[test]
fn use_notes_that_router_default_decides() {
    let mut raw = routed();
    assert!(!select(&mut raw, "c").unwrap().contains("router.default"));
    super::super::router::set(
        &mut raw,
        crate::config::Scenario::Default,
        &["b".to_owned()],
    )
    .unwrap();
    let out = select(&mut raw, "c").unwrap();
    assert!(out.contains("Note: router.default (b) decides"), "{out}");
}

#[test]
fn circuit_flags_set_remove_and_check_the_order() {
    let mut raw = config();
    let args = UpdateArgs {
        circuit_failures: Some(3),
        circuit_open_ms: Some(1000),
        ..update_args("a")
    };
    let out = update(&mut raw, &args).unwrap();
    assert!(
        out.contains("circuitBreaker.failures: 3") && out.contains("circuitBreaker.openMs: 1000"),
        "{out}"
    );
    let cb = raw.upstream[0].circuit_breaker.clone().unwrap();
    assert_eq!(
        (cb.failures, cb.open_ms, cb.max_open_ms),
        (Some(3), Some(1000), None)
    );
    let e = update(
        &mut raw,
        &UpdateArgs {
            circuit_max_open_ms: Some(500),
            ..update_args("a")
        },
    )
    .unwrap_err();
    assert!(e.contains("must be at least openMs (1000)"), "{e}");
    let out = update(
        &mut raw,
        &UpdateArgs {
            circuit_failures: Some(0),
            ..update_args("a")
        },
    )
    .unwrap();
    assert!(
        out.contains("circuitBreaker.failures: removed (uses CIRCUIT_FAILURES)"),
        "{out}"
    );
    assert!(raw.upstream[0].circuit_breaker.is_some());
    update(
        &mut raw,
        &UpdateArgs {
            circuit_open_ms: Some(0),
            ..update_args("a")
        },
    )
    .unwrap();
    assert!(
        raw.upstream[0].circuit_breaker.is_none(),
        "an emptied object is removed"
    );
}
