//! The `modelMapping` of one upstream. Entries keep the order they are
//! written in (a changed entry stays where it was; a removed one does not
//! reorder the rest).

use serde_json::Value;

use super::upstreams::{find, label};
use crate::config::RawConfig;

pub fn set(raw: &mut RawConfig, sel: &str, from: &str, to: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    let (from, to) = check_pair(from, to)?;
    let name = label(raw, i);
    let map = raw.upstream[i]
        .model_mapping
        .get_or_insert_with(Default::default);
    let old = map.insert(from.to_owned(), Value::String(to.to_owned()));
    Ok(match old.as_ref().and_then(Value::as_str) {
        Some(old) if old == to => format!("{name}: {from} → {to} (unchanged)\n"),
        Some(old) => format!("{name}: {from} → {to} (was {old})\n"),
        None => format!("{name}: {from} → {to}\n"),
    })
}

/// Both names trimmed, when neither is empty.
fn check_pair<'a>(from: &'a str, to: &'a str) -> Result<(&'a str, &'a str), String> {
    let (from, to) = (from.trim(), to.trim());
    if from.is_empty() || to.is_empty() {
        return Err("both model names must be non-empty".into());
    }
    Ok((from, to))
}

pub fn remove(raw: &mut RawConfig, sel: &str, from: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    let name = label(raw, i);
    let from = from.trim();
    let removed = raw.upstream[i]
        .model_mapping
        .as_mut()
        .and_then(|m| m.shift_remove(from));
    match removed {
        Some(_) => Ok(format!("{name}: removed mapping for {from}\n")),
        None => Err(format!("{name} has no mapping for {from:?}")),
    }
}

pub fn list(raw: &RawConfig, sel: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    let entries: Vec<(&String, String)> = raw.upstream[i]
        .model_mapping
        .iter()
        .flatten()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    if entries.is_empty() {
        return Ok(format!(
            "{} has no model mapping (models pass through unchanged)\n",
            label(raw, i)
        ));
    }
    let width = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    Ok(entries
        .iter()
        .map(|(k, v)| format!("{k:<width$}  →  {v}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawUpstream;

    #[test]
    fn set_remove_list_keep_order() {
        let mut raw = RawConfig {
            upstream: vec![RawUpstream {
                name: "u".into(),
                ..RawUpstream::default()
            }],
            ..RawConfig::default()
        };
        for (f, t) in [("sonnet", "a"), ("haiku", "b"), ("*", "c"), ("opus", "d")] {
            set(&mut raw, "u", f, t).unwrap();
        }
        assert!(set(&mut raw, "u", "haiku", "b2").unwrap().contains("was b"));
        remove(&mut raw, "0", "haiku").unwrap();
        assert!(remove(&mut raw, "0", "haiku").is_err());
        let keys: Vec<&String> = raw.upstream[0]
            .model_mapping
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["sonnet", "*", "opus"]);
        let out = list(&raw, "u").unwrap();
        assert_eq!(out, "sonnet  →  a\n*       →  c\nopus    →  d\n");
        assert!(set(&mut raw, "u", "", "x").is_err());
    }
}
