//! `config.json` exactly as it is on disk: lenient serde types that keep
//! fields they do not know (written back unchanged) and are turned into the
//! validated [`super::model::Config`] by [`RawConfig::validate`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use super::field::compile_glob;
use super::model::{ApiKey, AuthHeader, Config, LoadBalance, ModelMapping, ServiceType, Upstream};
use super::prices::Prices;
pub(crate) use super::raw_router::{header_pair, resolve_raw_target};
pub use super::raw_router::{RawRouter, RawRule, RawTargets};
pub use super::raw_upstream::{RawCircuitBreaker, RawUpstream};
use super::ConfigError;

/// The whole file as written: every field optional and unknown fields kept in `extra`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawConfig {
    /// `upstream`: the upstreams in file order.
    #[serde(default)]
    pub upstream: Vec<RawUpstream>,
    /// `currentUpstream`: index of the default upstream; signed so that a negative value is a
    /// validation error.
    #[serde(
        default,
        rename = "currentUpstream",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_upstream: Option<i64>,
    /// `loadBalance`: the default key strategy, as written (checked by validation).
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
    /// Keys this version does not know, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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

/// Parses an upstream `baseUrl`: absolute http(s), with a host.
pub(crate) fn parse_base_url(s: &str) -> Result<url::Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    let url = url::Url::parse(s).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
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
