//! Adding, removing, selecting and changing upstreams: pure edits of a
//! [`RawConfig`] that return the message to print, or why they refuse.

use serde_json::Map;

use super::{AddArgs, UpdateArgs};
use crate::config::raw::{parse_base_url, RawUpstream};
use crate::config::{LoadBalance, RawConfig, ServiceType};

/// The index of the upstream `sel` names: an index in range, else a name
/// (case-insensitive).
pub fn find(raw: &RawConfig, sel: &str) -> Result<usize, String> {
    let sel = sel.trim();
    if let Ok(i) = sel.parse::<usize>() {
        if i < raw.upstream.len() {
            return Ok(i);
        }
    }
    if let Some(i) = raw
        .upstream
        .iter()
        .position(|u| u.name.trim().eq_ignore_ascii_case(sel))
    {
        return Ok(i);
    }
    let known = if raw.upstream.is_empty() {
        "no upstreams are configured; add one with `claude-proxy config add`".to_owned()
    } else {
        let names: Vec<String> = raw
            .upstream
            .iter()
            .enumerate()
            .map(|(i, u)| format!("{i}:{}", u.name))
            .collect();
        format!("known: {}", names.join(", "))
    };
    Err(format!("no upstream {sel:?} ({known})"))
}

/// `#1 "groq"`, how messages refer to an upstream.
pub fn label(raw: &RawConfig, i: usize) -> String {
    format!(
        "#{i} {:?}",
        raw.upstream
            .get(i)
            .map(|u| u.name.as_str())
            .unwrap_or_default()
    )
}

pub fn current_index(raw: &RawConfig) -> usize {
    raw.current_upstream
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

pub fn unknown_type(s: &str) -> String {
    let known: Vec<&str> = ServiceType::ALL.iter().map(|t| t.as_str()).collect();
    format!(
        "unknown service type {s:?} (expected one of: {})",
        known.join(", ")
    )
}

fn check_name(raw: &RawConfig, name: &str, except: Option<usize>) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the upstream name must not be empty".into());
    }
    if let Some(i) = raw
        .upstream
        .iter()
        .enumerate()
        .position(|(i, u)| Some(i) != except && u.name.trim().eq_ignore_ascii_case(name))
    {
        return Err(format!(
            "an upstream named {name:?} already exists ({})",
            label(raw, i)
        ));
    }
    Ok(name.to_owned())
}

fn check_url(url: &str) -> Result<String, String> {
    parse_base_url(url).map_err(|e| format!("bad URL: {e}"))?;
    Ok(url.trim().to_owned())
}

/// Tells the URL from the type by "://", so both orders work.
fn url_and_type(first: &str, second: &str) -> Result<(String, ServiceType), String> {
    let (url, ty) = match (first.contains("://"), second.contains("://")) {
        (false, true) => (second, first),
        (true, false) => (first, second),
        _ => {
            return Err(format!(
                "expected a service type and a URL with a scheme (like https://…), got {first:?} and {second:?}"
            ))
        }
    };
    let ty = ServiceType::parse(ty).ok_or_else(|| unknown_type(ty))?;
    Ok((check_url(url)?, ty))
}

pub fn add(raw: &mut RawConfig, args: &AddArgs) -> Result<String, String> {
    let name = check_name(raw, &args.name, None)?;
    let (base_url, ty) = url_and_type(&args.first, &args.second)?;
    let mut api_keys: Vec<String> = Vec::new();
    for key in args.keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if !api_keys.iter().any(|k| k == key) {
            api_keys.push(key.to_owned());
        }
    }
    let key_count = api_keys.len();
    raw.upstream.push(RawUpstream {
        name,
        base_url,
        api_keys,
        service_type: ty.as_str().to_owned(),
        insecure_skip_verify: Some(args.insecure_skip_verify),
        model_mapping: Some(Map::new()),
        max_tokens: args.max_tokens,
        description: args.description.clone().filter(|d| !d.trim().is_empty()),
        fallback: None,
        load_balance: None,
        auth_header: None,
        circuit_breaker: None,
        extra: Map::new(),
    });
    let i = raw.upstream.len() - 1;
    if raw.current_upstream.is_none() {
        raw.current_upstream = Some(0);
    }
    let mut out = format!(
        "Added upstream {} ({ty}, {} key(s))\n",
        label(raw, i),
        key_count
    );
    if key_count == 0 {
        out.push_str(&format!(
            "Note: it has no API key yet; add one with `claude-proxy config key {i} add <key>`\n"
        ));
    }
    if i == current_index(raw) {
        out.push_str("It is the current upstream.\n");
    }
    Ok(out)
}

pub fn remove(raw: &mut RawConfig, sel: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    let removed = label(raw, i);
    let current = current_index(raw);
    raw.upstream.remove(i);
    let new_current = if i < current {
        current - 1
    } else {
        // Removing the current one makes the next one (or the new last) current.
        current.min(raw.upstream.len().saturating_sub(1))
    };
    if raw.current_upstream.is_some() || new_current != current {
        raw.current_upstream = Some(new_current as i64);
    }
    let mut out = format!("Removed upstream {removed}\n");
    if raw.upstream.is_empty() {
        out.push_str("No upstreams are left.\n");
    } else if i == current || new_current != current {
        out.push_str(&format!("Current upstream: {}\n", label(raw, new_current)));
    }
    Ok(out)
}

pub fn select(raw: &mut RawConfig, sel: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    raw.current_upstream = Some(i as i64);
    Ok(format!("Current upstream: {}\n", label(raw, i)))
}

pub fn balance(raw: &mut RawConfig, strategy: LoadBalance) -> String {
    raw.load_balance = Some(strategy.as_str().to_owned());
    format!("Load balance: {strategy}\n")
}

pub fn update(raw: &mut RawConfig, args: &UpdateArgs) -> Result<String, String> {
    let i = find(raw, &args.upstream)?;
    let mut changes = Vec::new();
    if let Some(name) = &args.name {
        let name = check_name(raw, name, Some(i))?;
        changes.push(format!("name: {:?} → {name:?}", raw.upstream[i].name));
        raw.upstream[i].name = name;
    }
    let up = &mut raw.upstream[i];
    if let Some(url) = &args.url {
        let url = check_url(url)?;
        changes.push(format!("baseUrl: {} → {url}", up.base_url));
        up.base_url = url;
    }
    if let Some(ty) = args.service_type {
        changes.push(format!("serviceType: {} → {ty}", up.service_type));
        up.service_type = ty.as_str().to_owned();
    }
    if let Some(d) = &args.description {
        let d = d.trim();
        if d.is_empty() {
            changes.push("description: removed".to_owned());
            up.description = None;
        } else {
            changes.push(format!("description: {d:?}"));
            up.description = Some(d.to_owned());
        }
    }
    if let Some(b) = args.insecure_skip_verify {
        changes.push(format!("insecureSkipVerify: {b}"));
        up.insecure_skip_verify = Some(b);
    }
    match args.max_tokens {
        None => {}
        Some(0) => {
            changes.push("maxTokens: removed".to_owned());
            up.max_tokens = None;
        }
        Some(n) => {
            changes.push(format!("maxTokens: {n}"));
            up.max_tokens = Some(n);
        }
    }
    if changes.is_empty() {
        return Err(
            "nothing to update: give at least one of --name, --url, --type, --description, --insecure-skip-verify, --max-tokens"
                .into(),
        );
    }
    Ok(format!(
        "Updated upstream {}\n  {}\n",
        label(raw, i),
        changes.join("\n  ")
    ))
}

#[cfg(test)]
mod tests {
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
}
