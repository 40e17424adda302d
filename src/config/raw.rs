//! `config.json` exactly as it is on disk: lenient serde types that keep
//! fields they do not know (written back unchanged) and are turned into the
//! validated [`super::model::Config`] by [`RawConfig::validate`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{
    ApiKey, AuthHeader, CircuitBreakerConfig, Config, LoadBalance, ModelMapping, ServiceType,
    Upstream,
};
use super::prices::Prices;
pub(crate) use super::raw_router::{compile_glob, header_pair, resolve_raw_target};
pub use super::raw_router::{RawRouter, RawRule, RawTargets};
use super::ConfigError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub upstream: Vec<RawUpstream>,
    #[serde(
        default,
        rename = "currentUpstream",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_upstream: Option<i64>,
    #[serde(
        default,
        rename = "loadBalance",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balance: Option<String>,
    /// Scenario and rule routing; absent = the current upstream serves all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<RawRouter>,
    /// Model glob → US$ per million tokens (see [`super::prices`]); kept as
    /// a JSON map so the user's order, which decides between globs, survives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Map<String, Value>>,
    /// Named client keys with their limits (see [`super::clients`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<super::clients::RawClient>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawUpstream {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "baseUrl")]
    pub base_url: String,
    #[serde(default, rename = "apiKeys")]
    pub api_keys: Vec<String>,
    #[serde(default, rename = "serviceType")]
    pub service_type: String,
    #[serde(
        default,
        rename = "insecureSkipVerify",
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_verify: Option<bool>,
    /// Kept as a JSON map so the user's key order survives a rewrite.
    #[serde(
        default,
        rename = "modelMapping",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_mapping: Option<Map<String, Value>>,
    #[serde(default, rename = "maxTokens", skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Names of upstreams that take over when every key of this one failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Vec<String>>,
    /// Per-upstream key strategy (overrides the top-level `loadBalance`).
    #[serde(
        default,
        rename = "loadBalance",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balance: Option<String>,
    /// `claude` upstreams: `auto` (default), `x-api-key` or `bearer`.
    #[serde(
        default,
        rename = "authHeader",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_header: Option<String>,
    /// Overrides of the `CIRCUIT_*` settings for this upstream.
    #[serde(
        default,
        rename = "circuitBreaker",
        skip_serializing_if = "Option::is_none"
    )]
    pub circuit_breaker: Option<RawCircuitBreaker>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An upstream's `circuitBreaker` object. Numbers are signed here so that a
/// zero or negative value is reported by validation with its field path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawCircuitBreaker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,
    #[serde(default, rename = "openMs", skip_serializing_if = "Option::is_none")]
    pub open_ms: Option<i64>,
    #[serde(default, rename = "maxOpenMs", skip_serializing_if = "Option::is_none")]
    pub max_open_ms: Option<i64>,
    /// Unknown keys: kept so a rewrite does not lose them, and reported by
    /// validation (a misspelt limit must not be silently ignored).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RawCircuitBreaker {
    /// Whether no field is set at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.failures.is_none()
            && self.open_ms.is_none()
            && self.max_open_ms.is_none()
            && self.extra.is_empty()
    }
}

impl RawConfig {
    /// Checks every field and returns the validated configuration, or every
    /// problem found, each with its field path.
    pub fn validate(&self, default_balance: LoadBalance) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut upstreams = Vec::with_capacity(self.upstream.len());
        for (i, raw) in self.upstream.iter().enumerate() {
            let at = |field: &str| format!("upstream[{i}].{field}");
            let name = raw.name.trim().to_owned();
            if name.is_empty() {
                problems.push(format!("{}: must not be empty", at("name")));
            } else if self.upstream[..i]
                .iter()
                .any(|u| u.name.trim().eq_ignore_ascii_case(&name))
            {
                problems.push(format!("{}: duplicate upstream name {name:?}", at("name")));
            }
            let service_type = ServiceType::parse(&raw.service_type);
            if service_type.is_none() {
                problems.push(format!(
                    "{}: unknown serviceType {:?} (expected one of: openai, openaiold, responses, gemini, claude)",
                    at("serviceType"),
                    raw.service_type
                ));
            }
            let base_url = match parse_base_url(&raw.base_url) {
                Ok(u) => Some(u),
                Err(e) => {
                    problems.push(format!("{}: {e}", at("baseUrl")));
                    None
                }
            };
            let mut mapping = Vec::new();
            for (from, to) in raw.model_mapping.iter().flatten() {
                match to.as_str() {
                    Some(to) if !to.trim().is_empty() => {
                        mapping.push((from.clone(), to.to_owned()))
                    }
                    _ => problems.push(format!(
                        "{}: must be a non-empty string",
                        at(&format!("modelMapping.{from}"))
                    )),
                }
            }
            if raw.max_tokens == Some(0) {
                problems.push(format!("{}: must be at least 1", at("maxTokens")));
            }
            let load_balance = raw.load_balance.as_deref().and_then(|lb| {
                let parsed = LoadBalance::parse(lb);
                if parsed.is_none() {
                    problems.push(format!(
                        "{}: unknown strategy {lb:?} (expected round-robin, random or failover)",
                        at("loadBalance")
                    ));
                }
                parsed
            });
            let auth_header = match raw.auth_header.as_deref() {
                None => AuthHeader::Auto,
                Some(a) => AuthHeader::parse(a).unwrap_or_else(|| {
                    problems.push(format!(
                        "{}: unknown value {a:?} (expected auto, x-api-key or bearer)",
                        at("authHeader")
                    ));
                    AuthHeader::Auto
                }),
            };
            let fallback: Vec<String> = raw
                .fallback
                .iter()
                .flatten()
                .map(|f| f.trim().to_owned())
                .collect();
            for (j, f) in fallback.iter().enumerate() {
                let known = self
                    .upstream
                    .iter()
                    .any(|u| u.name.trim().eq_ignore_ascii_case(f));
                if !known {
                    problems.push(format!(
                        "{}: no upstream is named {f:?}",
                        at(&format!("fallback[{j}]"))
                    ));
                } else if f.eq_ignore_ascii_case(&name) {
                    problems.push(format!(
                        "{}: an upstream cannot fall back to itself",
                        at(&format!("fallback[{j}]"))
                    ));
                }
            }
            let api_keys = raw
                .api_keys
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .map(ApiKey::new)
                .collect();
            let circuit_breaker = raw
                .circuit_breaker
                .as_ref()
                .map(|cb| cb.validate(&at("circuitBreaker"), &mut problems));
            if let (Some(base_url), Some(service_type)) = (base_url, service_type) {
                upstreams.push(Upstream {
                    name,
                    base_url,
                    api_keys,
                    service_type,
                    insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
                    model_mapping: ModelMapping::new(mapping),
                    max_tokens: raw.max_tokens,
                    description: raw.description.clone(),
                    fallback,
                    load_balance,
                    auth_header,
                    circuit_breaker,
                });
            }
        }
        let current_upstream = match self.current_upstream {
            None => 0,
            Some(n) if n >= 0 && (n as usize) < self.upstream.len().max(1) => n as usize,
            Some(n) => {
                problems.push(format!(
                    "currentUpstream: {n} is out of range ({} upstream(s) configured)",
                    self.upstream.len()
                ));
                0
            }
        };
        let load_balance = match &self.load_balance {
            None => default_balance,
            Some(s) => LoadBalance::parse(s).unwrap_or_else(|| {
                problems.push(format!(
                    "loadBalance: unknown strategy {s:?} (expected round-robin, random or failover)"
                ));
                default_balance
            }),
        };
        let router = self
            .router
            .as_ref()
            .map(|r| r.validate(&self.upstream, current_upstream, &mut problems));
        let prices = self
            .prices
            .as_ref()
            .map(|p| Prices::validate(p, &mut problems))
            .unwrap_or_default();
        let clients = super::clients::validate(&self.clients, &self.upstream, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Config {
            upstreams,
            current_upstream,
            load_balance,
            router,
            prices,
            clients,
        })
    }
}

impl RawCircuitBreaker {
    /// The validated values; problems are reported under `at`
    /// (`upstream[2].circuitBreaker`).
    fn validate(&self, at: &str, problems: &mut Vec<String>) -> CircuitBreakerConfig {
        for key in self.extra.keys() {
            problems.push(format!(
                "{at}.{key}: unknown key{} (expected failures, openMs or maxOpenMs)",
                did_you_mean(key, &["failures", "openMs", "maxOpenMs"])
            ));
        }
        let failures = positive(self.failures, &format!("{at}.failures"), problems).and_then(|n| {
            match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("{at}.failures: must be at most {}", u32::MAX));
                    None
                }
            }
        });
        let open = positive(self.open_ms, &format!("{at}.openMs"), problems);
        let max_open = positive(self.max_open_ms, &format!("{at}.maxOpenMs"), problems);
        if let (Some(open), Some(max)) = (open, max_open) {
            if max < open {
                problems.push(format!(
                    "{at}.maxOpenMs: must be at least openMs ({open}), got {max}"
                ));
            }
        }
        CircuitBreakerConfig {
            failures,
            open: open.map(Duration::from_millis),
            max_open: max_open.map(Duration::from_millis),
        }
    }
}

/// `value` when it is at least 1; otherwise a problem at `path`.
pub(super) fn positive(value: Option<i64>, path: &str, problems: &mut Vec<String>) -> Option<u64> {
    let v = value?;
    match u64::try_from(v) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            problems.push(format!("{path}: must be a positive integer, got {v}"));
            None
        }
    }
}

/// ` (did you mean "longContext"?)` when `key` is one of `known` written with
/// another case, with `-`/`_`, or with a typo or two (the closest one).
pub(crate) fn did_you_mean(key: &str, known: &[&str]) -> String {
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let folded = fold(key);
    let allowed = if folded.len() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(&fold(k), &folded), k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

/// Levenshtein distance (insertions, deletions, substitutions).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Parses an upstream `baseUrl`: absolute http(s), with a host.
pub fn parse_base_url(s: &str) -> Result<reqwest::Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    let url = reqwest::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("invalid URL {s:?}: scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {s:?}: no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "invalid URL {s:?}: must not have a query or fragment"
        ));
    }
    Ok(url)
}

#[cfg(test)]
#[path = "raw_tests.rs"]
mod tests;
