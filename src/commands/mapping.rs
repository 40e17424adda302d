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

/// Replaces the whole `modelMapping` of the upstream at index `i` (in
/// range) with `entries`, in their order; each pair is checked as
/// [`set`] checks it, and a name given twice is refused.
pub(crate) fn replace_at(
    raw: &mut RawConfig,
    i: usize,
    entries: &[(String, String)],
) -> Result<String, String> {
    let mut map = serde_json::Map::new();
    for (from, to) in entries {
        let (from, to) = check_pair(from, to).map_err(|e| format!("{from:?}: {e}"))?;
        if map
            .insert(from.to_owned(), Value::String(to.to_owned()))
            .is_some()
        {
            return Err(format!("{from:?} is mapped twice"));
        }
    }
    let n = map.len();
    raw.upstream[i].model_mapping = Some(map);
    Ok(format!("{}: {n} model mapping(s)\n", label(raw, i)))
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

    #[test]
    fn replace_keeps_the_given_order_and_checks_every_pair() {
        let mut raw = RawConfig {
            upstream: vec![RawUpstream {
                name: "u".into(),
                ..RawUpstream::default()
            }],
            ..RawConfig::default()
        };
        set(&mut raw, "u", "old", "x").unwrap();
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        replace_at(&mut raw, 0, &pairs(&[("*", "c"), ("sonnet", "a")])).unwrap();
        assert_eq!(list(&raw, "u").unwrap(), "*       →  c\nsonnet  →  a\n");
        let e = replace_at(&mut raw, 0, &pairs(&[("haiku", " ")])).unwrap_err();
        assert!(e.contains("\"haiku\": both model names"), "{e}");
        let e = replace_at(&mut raw, 0, &pairs(&[("a", "x"), (" a ", "y")])).unwrap_err();
        assert!(e.contains("mapped twice"), "{e}");
        replace_at(&mut raw, 0, &[]).unwrap();
        assert!(list(&raw, "u").unwrap().contains("no model mapping"));
    }
}
