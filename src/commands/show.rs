//! `config show`: the whole configuration for a terminal (aligned table plus
//! per-upstream details) or as JSON; keys masked either way.

use std::fmt::Write as _;
use std::path::Path;

use super::router;
use super::upstreams::current_index;
use crate::config::raw::RawCircuitBreaker;
use crate::config::{mask_secret, store, RawConfig};

pub fn table(raw: &RawConfig, path: &Path) -> String {
    let mut out = String::new();
    let exists = if path.exists() {
        ""
    } else {
        "  (does not exist yet)"
    };
    let _ = writeln!(out, "Config file:   {}{exists}", path.display());
    let balance = match &raw.load_balance {
        Some(b) => b.clone(),
        None => "not set (LOAD_BALANCE_STRATEGY, default round-robin)".to_owned(),
    };
    let _ = writeln!(out, "Load balance:  {balance}");
    if raw.upstream.is_empty() {
        out.push_str("\nNo upstreams configured. Add one with:\n  claude-proxy config add <name> <type> <url> --key <key>\n");
        return out;
    }
    let current = current_index(raw);
    let _ = writeln!(out, "Current:       #{current} {}\n", name_of(raw, current));

    let mut rows =
        vec![["", "#", "NAME", "TYPE", "BASE URL", "KEYS", "MAX TOKENS"].map(str::to_owned)];
    for (i, u) in raw.upstream.iter().enumerate() {
        rows.push([
            if i == current { "*" } else { "" }.to_owned(),
            i.to_string(),
            u.name.clone(),
            u.service_type.clone(),
            u.base_url.clone(),
            u.api_keys.len().to_string(),
            u.max_tokens
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        ]);
    }
    out.push_str(&align(&rows, &[1, 5, 6]));

    for (i, u) in raw.upstream.iter().enumerate() {
        let mark = if i == current { "  (current)" } else { "" };
        let _ = writeln!(out, "\n#{i} {}{mark}", u.name);
        if let Some(d) = &u.description {
            let _ = writeln!(out, "  description:  {d}");
        }
        let keys: Vec<String> = u.api_keys.iter().map(|k| mask_secret(k)).collect();
        let keys = if keys.is_empty() {
            "none".to_owned()
        } else {
            keys.join(", ")
        };
        let _ = writeln!(out, "  keys:         {keys}");
        let mapping: Vec<String> = u
            .model_mapping
            .iter()
            .flatten()
            .map(|(k, v)| {
                format!(
                    "{k} → {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect();
        if !mapping.is_empty() {
            let _ = writeln!(out, "  mapping:      {}", mapping.join(", "));
        }
        if u.insecure_skip_verify == Some(true) {
            out.push_str("  tls:          certificate checks OFF (insecureSkipVerify)\n");
        }
        if let Some(cb) = &u.circuit_breaker {
            let _ = writeln!(out, "  circuit:      {}", circuit_text(cb));
        }
        if !u.extra.is_empty() {
            let names: Vec<&str> = u.extra.keys().map(String::as_str).collect();
            let _ = writeln!(out, "  other fields: {}", names.join(", "));
        }
    }
    if raw.router.is_some() {
        out.push('\n');
        out.push_str(&router::show(raw));
    }
    if !raw.clients.is_empty() {
        let names: Vec<&str> = raw.clients.iter().map(|c| c.name.as_str()).collect();
        let _ = writeln!(
            out,
            "\nClients:       {} ({}; `config client list` shows their limits)",
            names.len(),
            names.join(", ")
        );
    }
    out
}

/// `opens after 3 failures, open 10000 ms, max open CIRCUIT_MAX_OPEN_MS`:
/// the fields set, and which settings fill the rest.
fn circuit_text(cb: &RawCircuitBreaker) -> String {
    let ms =
        |v: Option<i64>, setting: &str| v.map_or_else(|| setting.to_owned(), |n| format!("{n} ms"));
    let failures = cb
        .failures
        .map_or_else(|| "CIRCUIT_FAILURES".to_owned(), |n| n.to_string());
    format!(
        "opens after {failures} failures, open {}, max open {}",
        ms(cb.open_ms, "CIRCUIT_OPEN_MS"),
        ms(cb.max_open_ms, "CIRCUIT_MAX_OPEN_MS"),
    )
}

fn name_of(raw: &RawConfig, i: usize) -> String {
    raw.upstream
        .get(i)
        .map_or_else(|| "(none)".to_owned(), |u| u.name.clone())
}

/// Left-aligned columns, except the `right` ones; two spaces between columns.
fn align<const N: usize>(rows: &[[String; N]], right: &[usize]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let w = widths[c];
                if right.contains(&c) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The file's JSON with every key masked (unknown fields included as they are).
pub fn json(raw: &RawConfig) -> Result<String, String> {
    let mut masked = raw.clone();
    for u in &mut masked.upstream {
        u.api_keys = u.api_keys.iter().map(|k| mask_secret(k)).collect();
    }
    // Key digests are shown short, as everywhere else.
    for c in &mut masked.clients {
        if let Ok(d) = crate::config::KeyDigest::parse(&c.key_hash) {
            c.key_hash = d.short();
        }
    }
    store::to_json(&masked).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_raw;
    use serde_json::Value;

    const TEXT: &str = r#"{"upstream":[
        {"name":"OpenAI","baseUrl":"https://api.openai.com/v1","apiKeys":["sk-proj-abcdefghijklmnopqrstuvwxyz"],"serviceType":"openai","modelMapping":{"sonnet":"gpt-4o"},"custom":1},
        {"name":"g","baseUrl":"https://g","apiKeys":[],"serviceType":"gemini","maxTokens":8192,"insecureSkipVerify":true,"description":"test"}
    ],"currentUpstream":1}"#;

    #[test]
    fn table_is_aligned_marks_current_and_masks() {
        let raw = parse_raw("c", TEXT).unwrap();
        let out = table(&raw, Path::new("/nonexistent/config.json"));
        assert!(!out.contains("abcdefghijklmnop"), "{out}");
        assert!(out.contains("sk-proj-…wxyz"), "{out}");
        let lines: Vec<&str> = out.lines().filter(|l| l.contains("https://")).collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[1].starts_with('*'), "{out}");
        assert_eq!(lines[0].find("https"), lines[1].find("https"), "{out}");
        assert!(
            out.contains("other fields: custom") && out.contains("certificate checks OFF"),
            "{out}"
        );
    }

    #[test]
    fn json_masks_keys_and_keeps_other_fields() {
        let raw = parse_raw("c", TEXT).unwrap();
        let out = json(&raw).unwrap();
        assert!(!out.contains("abcdefghijklmnop"), "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["upstream"][0]["custom"], 1);
        assert_eq!(v["upstream"][0]["apiKeys"][0], "sk-proj-…wxyz");
    }

    #[test]
    fn router_and_circuit_are_shown_only_when_set() {
        let raw = parse_raw("c", TEXT).unwrap();
        let out = table(&raw, Path::new("x.json"));
        assert!(!out.contains("Router") && !out.contains("circuit"), "{out}");
        let text = TEXT
            .replace(
                r#""description":"test""#,
                r#""description":"test","circuitBreaker":{"failures":3,"openMs":1000}"#,
            )
            .replace(
                r#""currentUpstream":1"#,
                r#""currentUpstream":1,"router":{"think":["g,gemini-2.5-pro","OpenAI"]}"#,
            );
        let raw = parse_raw("c", &text).unwrap();
        let out = table(&raw, Path::new("x.json"));
        assert!(
            out.contains("  circuit:      opens after 3 failures, open 1000 ms, max open CIRCUIT_MAX_OPEN_MS\n"),
            "{out}"
        );
        assert!(out.contains("\nRouter (a → b"), "{out}");
        assert!(
            out.contains("  think:        g,gemini-2.5-pro → OpenAI\n"),
            "{out}"
        );
        assert!(
            out.contains("  default:      g (currentUpstream)\n"),
            "{out}"
        );
    }

    #[test]
    fn empty_config_explains_how_to_start() {
        let out = table(&RawConfig::default(), Path::new("x.json"));
        assert!(out.contains("config add"), "{out}");
    }
}
