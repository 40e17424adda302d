//! An `upstream` entry of `config.json` as written (re-exported from
//! [`super::raw`]), and its `circuitBreaker` object.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::circuit::CircuitBreakerConfig;
use super::field::{did_you_mean, positive};

/// One entry of `upstream` as written; see [`super::model::Upstream`] for the meaning of each
/// field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawUpstream {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `baseUrl`.
    #[serde(default, rename = "baseUrl")]
    pub base_url: String,
    /// `apiKeys`, untrimmed.
    #[serde(default, rename = "apiKeys")]
    pub api_keys: Vec<String>,
    /// `serviceType`: `openai`, `openaiold`, `responses`, `gemini` or `claude`.
    #[serde(default, rename = "serviceType")]
    pub service_type: String,
    /// `insecureSkipVerify` (absent: false).
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
    /// `maxTokens`: cap on the output-token limit sent upstream; 0 is a validation error.
    #[serde(default, rename = "maxTokens", skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// `description`.
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
    /// Keys this version does not know, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An upstream's `circuitBreaker` object. Numbers are signed here so that a
/// zero or negative value is reported by validation with its field path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawCircuitBreaker {
    /// `failures`: consecutive failures that open the circuit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,
    /// `openMs`: first open time, in milliseconds.
    #[serde(default, rename = "openMs", skip_serializing_if = "Option::is_none")]
    pub open_ms: Option<i64>,
    /// `maxOpenMs`: longest open time, in milliseconds.
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

impl RawCircuitBreaker {
    /// The validated values; problems are reported under `at`
    /// (`upstream[2].circuitBreaker`).
    pub(super) fn validate(&self, at: &str, problems: &mut Vec<String>) -> CircuitBreakerConfig {
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
