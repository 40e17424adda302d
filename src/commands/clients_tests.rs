use super::*;
use crate::config::LoadBalance;

fn raw() -> RawConfig {
    crate::config::parse_raw(
        "c",
        r#"{"upstream":[{"name":"DeepSeek","baseUrl":"https://api.deepseek.com","serviceType":"openai"},
                        {"name":"anthropic","baseUrl":"https://api.anthropic.com","serviceType":"claude"}]}"#,
    )
    .unwrap()
}

fn limits(args: &[&str]) -> ClientLimits {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: ClientLimits,
    }
    let mut argv = vec!["x"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap().limits
}

#[test]
fn add_stores_only_the_digest_and_returns_the_key_once() {
    let mut raw = raw();
    let key = add(
        &mut raw,
        "bob",
        &limits(&[
            "--upstreams",
            "deepseek",
            "--monthly-cost",
            "50",
            "--models",
            "claude-*,gpt-4o",
        ]),
        "2026-12-02T00:00:00.000Z",
    )
    .unwrap();
    let text = serde_json::to_string(&raw).unwrap();
    assert!(!text.contains(&key), "the key itself is never written");
    let c = &raw.clients[0];
    assert_eq!(c.key_hash, KeyDigest::of(key.as_bytes()).to_key_hash());
    assert_eq!(c.upstreams.as_deref(), Some(&["DeepSeek".to_owned()][..]));
    assert_eq!(c.models.as_ref().unwrap().len(), 2);
    assert_eq!(c.monthly_cost_usd, Some(50.0));
    let cfg = raw.validate(LoadBalance::RoundRobin).unwrap();
    assert_eq!(cfg.clients[0].key_digest, KeyDigest::of(key.as_bytes()));
    let e = add(&mut raw, "BOB", &ClientLimits::default(), "t").unwrap_err();
    assert!(e.contains("exists already"), "{e}");
}

#[test]
fn add_refuses_bad_values_with_their_field() {
    let mut raw = raw();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--upstreams", "nope"],
            "upstreams: no upstream is named \"nope\" (configured: DeepSeek, anthropic)",
        ),
        (&["--rpm", "0"], "rpm: must be at least 1"),
        (
            &["--expires", "soon"],
            "expires: \"soon\" is not an RFC 3339 date",
        ),
        (
            &["--monthly-cost=-3"],
            "monthlyCostUsd: must be a positive number",
        ),
        (&["--models", "[b-a]"], "models: bad glob"),
    ];
    for (args, want) in cases {
        let e = add(&mut raw, "x", &limits(args), "t").unwrap_err();
        assert!(e.starts_with(want), "{args:?}: {e}");
    }
    assert!(add(&mut raw, "a b", &ClientLimits::default(), "t")
        .unwrap_err()
        .starts_with("name:"));
    assert!(raw.clients.is_empty(), "nothing half-added");
}

#[test]
fn update_sets_and_removes_limits() {
    let mut raw = raw();
    add(
        &mut raw,
        "bob",
        &limits(&["--rpm", "10", "--upstreams", "anthropic"]),
        "t",
    )
    .unwrap();
    update(
        &mut raw,
        "Bob",
        &limits(&["--rpm", "none", "--tpm", "500", "--upstreams", "none"]),
    )
    .unwrap();
    let c = &raw.clients[0];
    assert_eq!((c.rpm, c.tpm, c.upstreams.clone()), (None, Some(500), None));
    let same = update(&mut raw, "bob", &limits(&["--tpm", "500"])).unwrap();
    assert!(same.contains("nothing to change"), "{same}");
    assert!(update(&mut raw, "carol", &ClientLimits::default())
        .unwrap_err()
        .starts_with("no client is named \"carol\" (configured: bob)"));
}

#[test]
fn rotate_replaces_the_digest() {
    let mut raw = raw();
    let old = add(&mut raw, "bob", &ClientLimits::default(), "t").unwrap();
    let new = rotate(&mut raw, "bob").unwrap();
    assert_ne!(old, new);
    assert_eq!(
        raw.clients[0].key_hash,
        KeyDigest::of(new.as_bytes()).to_key_hash()
    );
}

#[test]
fn disable_enable_remove_and_list() {
    let mut raw = raw();
    add(
        &mut raw,
        "bob",
        &limits(&["--daily-tokens", "1000", "--expires", "2027-06-30"]),
        "t",
    )
    .unwrap();
    assert!(set_disabled(&mut raw, "bob", true)
        .unwrap()
        .contains("disabled"));
    assert!(set_disabled(&mut raw, "bob", true)
        .unwrap()
        .contains("already"));
    let table = list(&raw);
    assert!(table.contains("bob  key sha256:"), "{table}");
    assert!(table.contains("[disabled]"), "{table}");
    assert!(
        table.contains("daily tokens 1000; expires 2027-06-30"),
        "{table}"
    );
    // Never the whole digest.
    assert!(!table.contains(&raw.clients[0].key_hash[7..20]), "{table}");
    assert!(set_disabled(&mut raw, "bob", false)
        .unwrap()
        .contains("enabled"));
    remove(&mut raw, "bob").unwrap();
    assert!(raw.clients.is_empty());
    assert!(list(&raw).starts_with("no clients"));
}
