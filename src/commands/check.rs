//! `config check`: validates the file and lists every problem with its
//! location; a missing file is a valid, empty configuration.

use std::path::Path;

use super::upstreams::current_index;
use crate::config::{check, mask_secret, store, LoadBalance, Scenario};

pub fn run(path: &Path) -> Result<String, String> {
    let shown = path.display().to_string();
    let Some(text) = store::read_text(path).map_err(|e| e.to_string())? else {
        return Ok(format!(
            "{shown} does not exist: an empty configuration (the CLI creates it on first change)\n"
        ));
    };
    let problems = check::diagnose(&shown, &text);
    if !problems.is_empty() {
        return Err(format!(
            "{shown} is invalid ({} problem(s)):\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        ));
    }
    let raw = store::load_raw(path).map_err(|e| e.to_string())?;
    let keys: usize = raw.upstream.iter().map(|u| u.api_keys.len()).sum();
    let mut out = format!(
        "{shown} is valid: {} upstream(s), {keys} key(s)",
        raw.upstream.len()
    );
    if let Some(u) = raw.upstream.get(current_index(&raw)) {
        out.push_str(&format!(", current #{} {:?}", current_index(&raw), u.name));
    }
    let balance = raw
        .load_balance
        .as_deref()
        .and_then(LoadBalance::parse)
        .map_or("default", LoadBalance::as_str);
    out.push_str(&format!(", load balance {balance}\n"));
    if let Some(router) = &raw.router {
        let scenarios: Vec<&str> = Scenario::ALL
            .iter()
            .filter(|s| router.targets(**s).is_some())
            .map(|s| s.as_str())
            .collect();
        let rules = router.rules.as_ref().map_or(0, Vec::len);
        let scenarios = if scenarios.is_empty() {
            "no scenario set".to_owned()
        } else {
            scenarios.join(", ")
        };
        out.push_str(&format!("router: {scenarios}; {rules} rule(s)\n"));
    }
    let keyless: Vec<&str> = raw
        .upstream
        .iter()
        .filter(|u| u.api_keys.iter().all(|k| k.trim().is_empty()))
        .map(|u| u.name.as_str())
        .collect();
    if !keyless.is_empty() {
        out.push_str(&format!("note: no API key for: {}\n", keyless.join(", ")));
    }
    // Catches a key pasted twice, a common copy-paste slip; shown masked.
    for u in &raw.upstream {
        for (n, k) in u.api_keys.iter().enumerate() {
            if u.api_keys[..n].contains(k) {
                out.push_str(&format!(
                    "note: {}: key {} is listed twice\n",
                    u.name,
                    mask_secret(k)
                ));
            }
        }
    }
    Ok(out)
}
