//! The API keys of one upstream. Keys are echoed only masked, including the
//! ones a user mistyped.

use super::upstreams::{find, label};
use crate::config::{mask_secret, RawConfig};

pub fn add(raw: &mut RawConfig, sel: &str, keys: &[String]) -> Result<String, String> {
    let i = find(raw, sel)?;
    add_at(raw, i, keys)
}

/// [`add`] to the upstream at index `i` (in range): keys trimmed, empty
/// ones ignored, duplicates skipped (and said so, masked).
pub(crate) fn add_at(raw: &mut RawConfig, i: usize, keys: &[String]) -> Result<String, String> {
    let name = label(raw, i);
    let list = &mut raw.upstream[i].api_keys;
    let mut out = String::new();
    let mut added = 0;
    for key in keys.iter().map(|k| k.trim()) {
        if key.is_empty() {
            continue;
        }
        if list.iter().any(|k| k.trim() == key) {
            out.push_str(&format!(
                "Skipped {}: already a key of {name}\n",
                mask_secret(key)
            ));
            continue;
        }
        list.push(key.to_owned());
        added += 1;
        out.push_str(&format!("Added key {}\n", mask_secret(key)));
    }
    if added == 0 && out.is_empty() {
        return Err("no key given".into());
    }
    out.push_str(&format!("{name} has {} key(s)\n", list.len()));
    Ok(out)
}

/// `which` is a key, or its index when no key is literally equal to it.
pub fn remove(raw: &mut RawConfig, sel: &str, which: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    let name = label(raw, i);
    let list = &raw.upstream[i].api_keys;
    let which = which.trim();
    let at = list
        .iter()
        .position(|k| k.trim() == which)
        .or_else(|| which.parse::<usize>().ok().filter(|&n| n < list.len()))
        .ok_or_else(|| {
            format!(
                "{name} has no key {} ({} key(s); `claude-proxy config key {i} list` shows them masked with their index)",
                mask_secret(which),
                list.len()
            )
        })?;
    remove_at(raw, i, at)
}

/// Removes key number `at` of the upstream at index `i` (in range); `Err`
/// when it has no such key.
pub(crate) fn remove_at(raw: &mut RawConfig, i: usize, at: usize) -> Result<String, String> {
    let name = label(raw, i);
    let list = &mut raw.upstream[i].api_keys;
    if at >= list.len() {
        return Err(format!(
            "{name} has no key #{at} ({} key(s), numbered from 0)",
            list.len()
        ));
    }
    let key = list.remove(at);
    Ok(format!(
        "Removed key #{at} {} from {name} ({} left)\n",
        mask_secret(&key),
        list.len()
    ))
}

pub fn list(raw: &RawConfig, sel: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    let keys = &raw.upstream[i].api_keys;
    if keys.is_empty() {
        return Ok(format!("{} has no keys\n", label(raw, i)));
    }
    Ok(keys
        .iter()
        .enumerate()
        .map(|(n, k)| format!("{n:>3}  {}\n", mask_secret(k)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawUpstream;

    fn config() -> RawConfig {
        RawConfig {
            upstream: vec![RawUpstream {
                name: "up".into(),
                api_keys: vec!["sk-aaaaaaaaaaaaaaaaaaaa1111".into()],
                ..RawUpstream::default()
            }],
            ..RawConfig::default()
        }
    }

    #[test]
    fn add_skips_duplicates_and_masks() {
        let mut raw = config();
        let out = add(
            &mut raw,
            "up",
            &[
                "sk-aaaaaaaaaaaaaaaaaaaa1111".into(),
                "sk-bbbbbbbbbbbbbbbbbbbb2222".into(),
                "sk-bbbbbbbbbbbbbbbbbbbb2222".into(),
            ],
        )
        .unwrap();
        assert_eq!(raw.upstream[0].api_keys.len(), 2);
        assert_eq!(out.matches("Skipped").count(), 2, "{out}");
        assert!(!out.contains("bbbbbbbbbbbb"), "{out}");
        assert!(add(&mut raw, "up", &[" ".into()]).is_err());
    }

    #[test]
    fn remove_by_key_or_index_and_list_masked() {
        let mut raw = config();
        add(&mut raw, "0", &["sk-cccccccccccccccccccc3333".into()]).unwrap();
        remove(&mut raw, "0", "sk-aaaaaaaaaaaaaaaaaaaa1111").unwrap();
        assert_eq!(
            raw.upstream[0].api_keys,
            vec!["sk-cccccccccccccccccccc3333"]
        );
        let e = remove(&mut raw, "0", "sk-dddddddddddddddddddd4444").unwrap_err();
        assert!(!e.contains("dddddddddddd"), "{e}");
        let out = list(&raw, "0").unwrap();
        assert!(out.contains("sk-ccccc…3333"), "{out}");
        remove(&mut raw, "0", "0").unwrap();
        assert!(raw.upstream[0].api_keys.is_empty());
        assert!(list(&raw, "0").unwrap().contains("no keys"));
    }
}
