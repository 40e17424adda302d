//! Adding, removing, selecting and changing upstreams: pure edits of a
//! [`RawConfig`] that return the message to print, or why they refuse.

use serde_json::Map;

pub(crate) use super::args::unknown_type;
use super::router::{references, rename_references, still_referenced};
pub(crate) use super::select::current_index;
pub use super::select::{find, label};
use super::{AddArgs, UpdateArgs};
use crate::config::raw::{parse_base_url, RawCircuitBreaker, RawUpstream};
use crate::config::{LoadBalance, RawConfig, ServiceType};

/// The trimmed `name` when it can name a new upstream (or upstream
/// `except` renamed): non-empty, no comma, not taken (case-insensitively).
pub(crate) fn check_name(
    raw: &RawConfig,
    name: &str,
    except: Option<usize>,
) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the upstream name must not be empty".into());
    }
    if name.contains(',') {
        // Router targets are written `upstream,model`.
        return Err(format!(
            "the upstream name {name:?} must not contain a comma (router targets are written \"upstream,model\")"
        ));
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

/// The trimmed `url` when it is a usable base URL.
pub(crate) fn check_url(url: &str) -> Result<String, String> {
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

/// A new upstream as the CLI (`config add`) and the admin API
/// (`POST /admin/api/upstreams`) describe it.
#[derive(Debug, Clone)]
pub(crate) struct NewUpstream {
    pub name: String,
    pub service_type: ServiceType,
    pub base_url: String,
    pub keys: Vec<String>,
    pub description: Option<String>,
    pub insecure_skip_verify: bool,
    pub max_tokens: Option<u64>,
}

pub fn add(raw: &mut RawConfig, args: &AddArgs) -> Result<String, String> {
    // The name is checked first: its error is the likelier one.
    check_name(raw, &args.name, None)?;
    let (base_url, service_type) = url_and_type(&args.first, &args.second)?;
    add_upstream(
        raw,
        &NewUpstream {
            name: args.name.clone(),
            service_type,
            base_url,
            keys: args.keys.clone(),
            description: args.description.clone(),
            insecure_skip_verify: args.insecure_skip_verify,
            max_tokens: args.max_tokens,
        },
    )
}

/// Appends `new` (name and URL checked, keys trimmed and deduplicated); the
/// first upstream becomes the current one.
pub(crate) fn add_upstream(raw: &mut RawConfig, new: &NewUpstream) -> Result<String, String> {
    let name = check_name(raw, &new.name, None)?;
    let base_url = check_url(&new.base_url)?;
    let ty = new.service_type;
    if new.max_tokens == Some(0) {
        return Err("maxTokens must be at least 1".into());
    }
    let mut api_keys: Vec<String> = Vec::new();
    for key in new.keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
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
        insecure_skip_verify: Some(new.insecure_skip_verify),
        model_mapping: Some(Map::new()),
        max_tokens: new.max_tokens,
        description: new
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
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

/// Refuses while the router or another upstream's `fallback` names the
/// upstream: silently dropping a route would send those requests elsewhere.
pub fn remove(raw: &mut RawConfig, sel: &str) -> Result<String, String> {
    let i = find(raw, sel)?;
    remove_at(raw, i)
}

/// [`remove`] of the upstream at index `i` (in range).
pub(crate) fn remove_at(raw: &mut RawConfig, i: usize) -> Result<String, String> {
    let paths = references(raw, i);
    if !paths.is_empty() {
        return Err(still_referenced(raw, i, &paths));
    }
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
    Ok(select_at(raw, i))
}

/// [`select`] of the upstream at index `i` (in range).
pub(crate) fn select_at(raw: &mut RawConfig, i: usize) -> String {
    raw.current_upstream = Some(i as i64);
    let mut out = format!("Current upstream: {}\n", label(raw, i));
    if let Some(default) = raw.router.as_ref().and_then(|r| r.default.as_ref()) {
        out.push_str(&format!(
            "Note: router.default ({}) decides where requests go; change it with `claude-proxy config router set default <target>…` or remove it with `claude-proxy config router unset default`.\n",
            default.items().join(", ")
        ));
    }
    out
}

pub fn balance(raw: &mut RawConfig, strategy: LoadBalance) -> String {
    raw.load_balance = Some(strategy.as_str().to_owned());
    format!("Load balance: {strategy}\n")
}

pub fn update(raw: &mut RawConfig, args: &UpdateArgs) -> Result<String, String> {
    let i = find(raw, &args.upstream)?;
    update_at(raw, i, args)
}

/// [`update`] of the upstream at index `i` (in range); `args.upstream` is
/// not looked at.
pub(crate) fn update_at(
    raw: &mut RawConfig,
    i: usize,
    args: &UpdateArgs,
) -> Result<String, String> {
    let mut changes = Vec::new();
    if let Some(name) = &args.name {
        let name = check_name(raw, name, Some(i))?;
        let old = std::mem::replace(&mut raw.upstream[i].name, name.clone());
        changes.push(format!("name: {old:?} → {name:?}"));
        // The router and fallback lists follow the new name.
        let moved = rename_references(raw, &old, &name);
        if !moved.is_empty() {
            changes.push(format!("now named {name:?} at: {}", moved.join(", ")));
        }
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
    circuit_changes(&mut up.circuit_breaker, args, &mut changes)?;
    if changes.is_empty() {
        return Err(
            "nothing to update: give at least one of --name, --url, --type, --description, --insecure-skip-verify, --max-tokens, --circuit-failures, --circuit-open-ms, --circuit-max-open-ms"
                .into(),
        );
    }
    Ok(format!(
        "Updated upstream {}\n  {}\n",
        label(raw, i),
        changes.join("\n  ")
    ))
}

/// The `--circuit-*` flags of `config update`: a number sets the field, 0
/// removes it (the `CIRCUIT_*` setting applies again); an emptied
/// `circuitBreaker` object is removed.
fn circuit_changes(
    field: &mut Option<RawCircuitBreaker>,
    args: &UpdateArgs,
    changes: &mut Vec<String>,
) -> Result<(), String> {
    let flags = [
        args.circuit_failures,
        args.circuit_open_ms,
        args.circuit_max_open_ms,
    ];
    if flags.iter().all(Option::is_none) {
        return Ok(());
    }
    // Edited on a copy: a refused combination leaves the upstream as it was.
    let mut cb = field.clone().unwrap_or_default();
    let RawCircuitBreaker {
        failures,
        open_ms,
        max_open_ms,
        ..
    } = &mut cb;
    let fields = [
        ("failures", "CIRCUIT_FAILURES", failures),
        ("openMs", "CIRCUIT_OPEN_MS", open_ms),
        ("maxOpenMs", "CIRCUIT_MAX_OPEN_MS", max_open_ms),
    ];
    for ((key, setting, slot), value) in fields.into_iter().zip(flags) {
        match value {
            None => {}
            Some(0) => {
                *slot = None;
                changes.push(format!("circuitBreaker.{key}: removed (uses {setting})"));
            }
            Some(n) => {
                // clap bounds the flags, so this always fits.
                *slot = Some(i64::try_from(n).unwrap_or(i64::MAX));
                changes.push(format!("circuitBreaker.{key}: {n}"));
            }
        }
    }
    if let (Some(open), Some(max)) = (cb.open_ms, cb.max_open_ms) {
        if max < open {
            return Err(format!(
                "circuitBreaker.maxOpenMs ({max}) must be at least openMs ({open})"
            ));
        }
    }
    *field = (!cb.is_empty()).then_some(cb);
    Ok(())
}

#[cfg(test)]
#[path = "upstreams_tests.rs"]
mod tests;
