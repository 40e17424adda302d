//! `claude-proxy config client …`: named client keys (docs/clients.md).
//!
//! The edits here work on a [`RawConfig`] and are shared with the admin API
//! (`/admin/api/clients`), so the CLI, the console and hand edits follow
//! the same rules and go through the same locked, atomic writer. A new or
//! rotated key is returned once, to be printed on standard output (so
//! `KEY=$(claude-proxy config client add bob)` captures it); everything
//! else the CLI says goes to standard error. Only the key's SHA-256 digest
//! is written to the file.

use std::fmt::Write as _;
use std::str::FromStr;

use clap::{Args, Subcommand};

use crate::config::clients::{check_client_name, new_client_key, parse_expiry, RawClient};
use crate::config::{KeyDigest, RawConfig};

/// A value to set, or `none` to remove it.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting<T> {
    /// Set to this value.
    Set(T),
    /// Remove the setting (no limit).
    Clear,
}

impl<T: FromStr> FromStr for Setting<T>
where
    T::Err: std::fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("none") {
            return Ok(Setting::Clear);
        }
        s.trim()
            .parse()
            .map(Setting::Set)
            .map_err(|e| format!("{s:?}: {e} (or `none` to remove the limit)"))
    }
}

/// What a client may use; every field optional (`none` removes a limit on
/// `update`).
#[derive(Debug, Clone, Default, Args)]
pub struct ClientLimits {
    /// Model globs the client may ask for (e.g. `claude-haiku-*`); several
    /// values or a comma-separated list; `none` = every model.
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "GLOB")]
    pub models: Option<Vec<String>>,
    /// Upstreams routing may pick for the client; `none` = every upstream.
    #[arg(long, num_args = 1.., value_delimiter = ',', value_name = "NAME")]
    pub upstreams: Option<Vec<String>>,
    /// Requests per minute.
    #[arg(long, value_name = "N")]
    pub rpm: Option<Setting<u64>>,
    /// Tokens per minute (input, cached or not, and output).
    #[arg(long, value_name = "N")]
    pub tpm: Option<Setting<u64>>,
    /// Tokens per UTC day.
    #[arg(long = "daily-tokens", value_name = "N")]
    pub daily_tokens: Option<Setting<u64>>,
    /// US$ per UTC calendar month (priced with the `prices` table).
    #[arg(long = "monthly-cost", value_name = "USD")]
    pub monthly_cost: Option<Setting<f64>>,
    /// When the key stops working: an RFC 3339 date (`2027-06-30`, midnight
    /// UTC) or date-time (`2027-06-30T12:00:00Z`).
    #[arg(long, value_name = "DATE")]
    pub expires: Option<Setting<String>>,
}

/// `config client …`.
#[derive(Debug, Subcommand)]
pub enum ClientAction {
    /// Create a client and print its new key once, on standard output.
    #[command(after_help = "\
Examples:
  KEY=$(claude-proxy config client add alice --upstreams deepseek --monthly-cost 50)
  claude-proxy config client add ci --models 'claude-haiku-*' --rpm 30 --expires 2027-06-30")]
    Add {
        /// The client's name (letters, digits, `.`, `_`, `-`, `@`).
        name: String,
        /// Its limits.
        #[command(flatten)]
        limits: ClientLimits,
    },
    /// List the clients and their limits (never their keys).
    #[command(visible_alias = "ls")]
    List,
    /// Change a client's limits (`none` removes one).
    #[command(after_help = "\
Examples:
  claude-proxy config client update alice --rpm 120 --daily-tokens none")]
    Update {
        /// The client's name.
        name: String,
        /// The limits to change.
        #[command(flatten)]
        limits: ClientLimits,
    },
    /// Give a client a new key (printed once); the old key stops working at
    /// once.
    Rotate {
        /// The client's name.
        name: String,
    },
    /// Refuse a client's key until it is enabled again.
    Disable {
        /// The client's name.
        name: String,
    },
    /// Accept a disabled client's key again.
    Enable {
        /// The client's name.
        name: String,
    },
    /// Delete a client.
    #[command(visible_alias = "rm")]
    Remove {
        /// The client's name.
        name: String,
    },
}

/// The index of the client called `name` (ASCII case-insensitively).
pub fn find(raw: &RawConfig, name: &str) -> Result<usize, String> {
    let wanted = name.trim();
    raw.clients
        .iter()
        .position(|c| c.name.trim().eq_ignore_ascii_case(wanted))
        .ok_or_else(|| {
            let known: Vec<&str> = raw.clients.iter().map(|c| c.name.as_str()).collect();
            format!(
                "no client is named {wanted:?} (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })
}

/// Adds client `name` with `limits`; returns its new key (shown once).
/// `created` is the RFC 3339 time written as the client's `created`.
pub fn add(
    raw: &mut RawConfig,
    name: &str,
    limits: &ClientLimits,
    created: &str,
) -> Result<String, String> {
    let name = name.trim();
    check_client_name(name).map_err(|e| format!("name: {e}"))?;
    if find(raw, name).is_ok() {
        return Err(format!(
            "a client named {name:?} exists already (rotate its key with `config client rotate {name}`)"
        ));
    }
    let key = new_client_key();
    let mut client = RawClient {
        name: name.to_owned(),
        key_hash: KeyDigest::of(key.as_bytes()).to_key_hash(),
        created: Some(created.to_owned()),
        ..RawClient::default()
    };
    apply(&mut client, limits, raw)?;
    raw.clients.push(client);
    Ok(key)
}

/// Changes client `name`'s limits.
pub fn update(raw: &mut RawConfig, name: &str, limits: &ClientLimits) -> Result<String, String> {
    let i = find(raw, name)?;
    let mut client = raw.clients[i].clone();
    apply(&mut client, limits, raw)?;
    if client == raw.clients[i] {
        return Ok(format!("client {:?}: nothing to change\n", client.name));
    }
    let message = format!("client {:?} updated\n", client.name);
    raw.clients[i] = client;
    Ok(message)
}

/// Gives client `name` a new key; returns it (shown once).
pub fn rotate(raw: &mut RawConfig, name: &str) -> Result<String, String> {
    let i = find(raw, name)?;
    let key = new_client_key();
    raw.clients[i].key_hash = KeyDigest::of(key.as_bytes()).to_key_hash();
    Ok(key)
}

/// Disables (`true`) or enables client `name`.
pub fn set_disabled(raw: &mut RawConfig, name: &str, disabled: bool) -> Result<String, String> {
    let i = find(raw, name)?;
    let c = &mut raw.clients[i];
    let verb = if disabled { "disabled" } else { "enabled" };
    if c.disabled == disabled {
        return Ok(format!("client {:?} is already {verb}\n", c.name));
    }
    c.disabled = disabled;
    Ok(format!("client {:?} {verb}\n", c.name))
}

/// Deletes client `name`.
pub fn remove(raw: &mut RawConfig, name: &str) -> Result<String, String> {
    let i = find(raw, name)?;
    let c = raw.clients.remove(i);
    Ok(format!("client {:?} removed\n", c.name))
}

/// The clients as a table: name, limits, state and a short key digest.
pub fn list(raw: &RawConfig) -> String {
    if raw.clients.is_empty() {
        return "no clients (add one with `claude-proxy config client add NAME`)\n".to_owned();
    }
    let mut out = String::new();
    for c in &raw.clients {
        let digest = KeyDigest::parse(&c.key_hash)
            .map(|d| d.short())
            .unwrap_or_else(|_| "(invalid keyHash)".to_owned());
        let state = if c.disabled { "  [disabled]" } else { "" };
        let _ = writeln!(out, "{}  key {digest}{state}", c.name);
        let mut facts = Vec::new();
        let list = |v: &Option<Vec<String>>| match v {
            Some(v) if !v.is_empty() => v.join(", "),
            _ => "all".to_owned(),
        };
        facts.push(format!("models: {}", list(&c.models)));
        facts.push(format!("upstreams: {}", list(&c.upstreams)));
        let _ = writeln!(out, "    {}", facts.join("; "));
        let mut limits = Vec::new();
        if let Some(v) = c.rpm {
            limits.push(format!("rpm {v}"));
        }
        if let Some(v) = c.tpm {
            limits.push(format!("tpm {v}"));
        }
        if let Some(v) = c.daily_tokens {
            limits.push(format!("daily tokens {v}"));
        }
        if let Some(v) = c.monthly_cost_usd {
            limits.push(format!("monthly cost US${v:.2}"));
        }
        if let Some(v) = &c.expires {
            limits.push(format!("expires {v}"));
        }
        if !limits.is_empty() {
            let _ = writeln!(out, "    {}", limits.join("; "));
        }
    }
    out
}

/// Applies `limits` to `client`, checking each value (upstream names
/// against `raw`).
fn apply(client: &mut RawClient, limits: &ClientLimits, raw: &RawConfig) -> Result<(), String> {
    if let Some(models) = &limits.models {
        client.models = list_setting(models, "models")?;
        for m in client.models.iter().flatten() {
            crate::config::raw::compile_glob(m).map_err(|e| format!("models: {e}"))?;
        }
    }
    if let Some(ups) = &limits.upstreams {
        let names = list_setting(ups, "upstreams")?;
        client.upstreams = match names {
            None => None,
            Some(names) => {
                let mut canonical = Vec::with_capacity(names.len());
                for n in names {
                    let up = raw
                        .upstream
                        .iter()
                        .find(|u| u.name.trim().eq_ignore_ascii_case(&n))
                        .ok_or_else(|| {
                            let known: Vec<&str> =
                                raw.upstream.iter().map(|u| u.name.as_str()).collect();
                            format!(
                                "upstreams: no upstream is named {n:?} (configured: {})",
                                if known.is_empty() {
                                    "none".to_owned()
                                } else {
                                    known.join(", ")
                                }
                            )
                        })?;
                    canonical.push(up.name.trim().to_owned());
                }
                Some(canonical)
            }
        };
    }
    let count = |s: &Option<Setting<u64>>, field: &str| -> Result<Option<Option<i64>>, String> {
        match s {
            None => Ok(None),
            Some(Setting::Clear) => Ok(Some(None)),
            Some(Setting::Set(0)) => Err(format!("{field}: must be at least 1 (or `none`)")),
            Some(Setting::Set(n)) => i64::try_from(*n)
                .map(|n| Some(Some(n)))
                .map_err(|_| format!("{field}: {n} is too large")),
        }
    };
    if let Some(v) = count(&limits.rpm, "rpm")? {
        client.rpm = v;
    }
    if let Some(v) = count(&limits.tpm, "tpm")? {
        client.tpm = v;
    }
    if let Some(v) = count(&limits.daily_tokens, "dailyTokens")? {
        client.daily_tokens = v;
    }
    match &limits.monthly_cost {
        None => {}
        Some(Setting::Clear) => client.monthly_cost_usd = None,
        Some(Setting::Set(v)) if v.is_finite() && *v > 0.0 => client.monthly_cost_usd = Some(*v),
        Some(Setting::Set(v)) => {
            return Err(format!(
                "monthlyCostUsd: must be a positive number of US$ (or `none`), got {v}"
            ))
        }
    }
    match &limits.expires {
        None => {}
        Some(Setting::Clear) => client.expires = None,
        Some(Setting::Set(text)) => {
            parse_expiry(text).map_err(|e| format!("expires: {e}"))?;
            client.expires = Some(text.trim().to_owned());
        }
    }
    Ok(())
}

/// A list option: `none` alone clears it; blanks are dropped.
fn list_setting(values: &[String], field: &str) -> Result<Option<Vec<String>>, String> {
    let items: Vec<String> = values
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if items.len() == 1 && items[0].eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    if items.is_empty() {
        return Err(format!(
            "{field}: give at least one value, or `none` for no restriction"
        ));
    }
    Ok(Some(items))
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
