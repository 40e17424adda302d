use super::*;
use crate::config::{parse_raw, ConfigError, LoadBalance};

fn problems(clients: serde_json::Value) -> Vec<String> {
    let text = serde_json::json!({
        "upstream": [{"name": "deepseek", "baseUrl": "https://api.deepseek.com", "serviceType": "openai"}],
        "clients": clients,
    })
    .to_string();
    match parse_raw("c", &text)
        .unwrap()
        .validate(LoadBalance::RoundRobin)
    {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid(p)) => p,
        Err(e) => panic!("{e}"),
    }
}

const HASH_A: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

#[test]
fn the_issue_example_validates() {
    let text = serde_json::json!({
        "upstream": [
            {"name": "deepseek", "baseUrl": "https://api.deepseek.com", "serviceType": "openai"},
            {"name": "local", "baseUrl": "http://127.0.0.1:11434/v1", "serviceType": "openaiold"},
        ],
        "clients": [{ "name": "alice", "keyHash": HASH_A, "models": ["claude-sonnet-*", "claude-haiku-*"],
            "upstreams": ["DeepSeek", "local"], "rpm": 60, "tpm": 400000,
            "dailyTokens": 5000000, "monthlyCostUsd": 50, "expires": "2027-06-30T00:00:00Z", "disabled": false }]
    })
    .to_string();
    let raw = parse_raw("c", &text).unwrap();
    let cfg = raw.validate(LoadBalance::RoundRobin).unwrap();
    let c = &cfg.clients[0];
    assert_eq!(c.name, "alice");
    assert_eq!(c.key_digest, KeyDigest::of(b"foo"));
    assert!(c.allows_model("claude-sonnet-4-5"));
    assert!(c.allows_model("CLAUDE-HAIKU-4-5"));
    assert!(!c.allows_model("claude-opus-4-5"));
    // Names are kept as the upstream spells them.
    assert_eq!(
        c.upstreams.as_deref(),
        Some(&["deepseek".to_owned(), "local".to_owned()][..])
    );
    assert_eq!(
        c.limits,
        Limits {
            rpm: Some(60),
            tpm: Some(400_000),
            daily_tokens: Some(5_000_000),
            monthly_cost_usd: Some(50.0)
        }
    );
    assert_eq!(
        crate::time::rfc3339(c.expires_ms.unwrap()),
        "2027-06-30T00:00:00.000Z"
    );
    // Written back as read (`disabled: false` is the default and dropped).
    let back = serde_json::to_value(&raw).unwrap();
    assert_eq!(back["clients"][0]["upstreams"][0], "DeepSeek");
    assert!(back["clients"][0].get("disabled").is_none());
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let p = problems(serde_json::json!([
        {"name": "", "keyHash": "abc"},
        {"name": "bob smith", "keyHash": HASH_A, "upstreams": ["nope"], "rpm": 0, "monthlyCostUsd": -1,
         "expires": "next week", "models": ["[z-a]"]},
        {"name": "carol", "keyHash": HASH_A.replace("2c", "XX")},
        {"name": "dave", "keyHash": HASH_A},
        {"name": "Dave", "keyHash": "sha256:00"},
    ]));
    let expect = [
        "clients[0].name: must not be empty",
        "clients[0].keyHash: must be \"sha256:\"",
        "clients[1].name: \"bob smith\" contains ' '",
        "clients[1].models[0]: bad glob",
        "clients[1].upstreams[0]: no upstream is named \"nope\" (configured: deepseek)",
        "clients[1].rpm: must be a positive integer, got 0",
        "clients[1].monthlyCostUsd: must be a positive number",
        "clients[1].expires: \"next week\" is not an RFC 3339 date",
        "clients[2].keyHash: the digest must be hexadecimal",
        "clients[3].keyHash: the same key as clients[1]",
        "clients[4].name: duplicate client name \"Dave\"",
        "clients[4].keyHash: a SHA-256 digest has 64 hex digits, got 2",
    ];
    for (want, got) in expect.iter().zip(&p) {
        assert!(
            got.starts_with(want),
            "want {want:?}\n got {got:?}\nall: {p:#?}"
        );
    }
    assert_eq!(p.len(), expect.len(), "{p:#?}");
}

#[test]
fn a_hand_written_hash_matches_sha256sum() {
    // `printf %s foo | sha256sum`
    let d = KeyDigest::parse(HASH_A).unwrap();
    assert_eq!(d, KeyDigest::of(b"foo"));
    assert_eq!(d.to_key_hash(), HASH_A);
    assert_eq!(
        KeyDigest::parse(&HASH_A.to_uppercase().replace("SHA256", "sha256")).unwrap(),
        d
    );
    assert_eq!(d.short(), "sha256:2c26b46b…");
    assert!(!format!("{d:?}").contains("68ffc68f"));
}

#[test]
fn new_keys_are_prefixed_base62_of_32_random_bytes() {
    let a = new_client_key();
    let b = new_client_key();
    assert_ne!(a, b);
    assert!(a.starts_with("cp-"), "{a}");
    assert_eq!(a.len(), 3 + 43, "{a}");
    assert!(a[3..].chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
    assert_eq!(base62(&[0; 32]), "0".repeat(43));
    assert_eq!(base62(&[0xff; 32]).len(), 43);
    assert_eq!(base62(&[0, 61]), "00z");
    // 256 = 4 × 62 + 8
    assert_eq!(base62(&[1, 0]), "048");
}

#[test]
fn expiry_takes_a_date_or_a_date_time() {
    let day = parse_expiry("2027-06-30").unwrap();
    assert_eq!(day, parse_expiry("2027-06-30T00:00:00Z").unwrap());
    assert_eq!(parse_expiry("2027-06-30T02:00:00+02:00").unwrap(), day);
    assert!(parse_expiry("2027-02-30").is_err());
    assert!(parse_expiry("30/06/2027").is_err());
}

#[test]
fn names_are_safe_labels() {
    for ok in ["alice", "bob.smith@corp", "ci-runner_2", &"x".repeat(64)] {
        assert!(check_client_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a b", "ünï", "a\"b", "<script>", &"x".repeat(65)] {
        assert!(check_client_name(bad).is_err(), "{bad}");
    }
}
