//! `config.json`: the upstream list, keys, model mapping and balancing.
//!
//! [`raw`] is the file's shape (its `router` object in `raw_router.rs`),
//! [`model`] the validated form the server uses (routes, targets and rules in
//! `route.rs`, re-exported from [`model`]);
//! [`load`] reads a file and reports problems with line/column or field path;
//! [`check`] lists every problem of a file, [`store`] writes it atomically
//! under a lock, [`watch`] notices when it changes; [`glob`] is the matcher
//! of router rules and of [`prices`] (the request store's cost estimates).

pub mod check;
mod circuit;
pub mod clients;
mod field;
pub mod glob;
pub mod model;
pub mod prices;
pub mod raw;
mod raw_router;
mod raw_upstream;
mod route;
pub mod store;
pub mod watch;

use std::path::Path;

pub use clients::{Client, KeyDigest, Limits, RawClient};
pub use model::{
    mask_secret, ApiKey, AuthHeader, CircuitBreakerConfig, CircuitBreakerSettings, Config,
    LoadBalance, ModelMapping, Route, RouteTarget, Router, Rule, Scenario, ServiceType,
    TargetError, Upstream, DEFAULT_LONG_CONTEXT_THRESHOLD,
};
pub use prices::{Price, Prices};
pub use raw::RawConfig;

/// Why a configuration could not be read, validated, written or watched.
/// Every message names the file and, where there is one, the place in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file (as given; only labels the message).
        path: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong, prefixed with the field path when known
        /// (`upstream[0].name: invalid type …`).
        message: String,
    },
    /// The JSON parsed, but values are wrong: every problem found, each as
    /// `field.path: what is wrong`.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// Writing the file (or its temporary sibling, or the lock) failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An edit refused by its own rules (unknown upstream, duplicate name, …);
    /// the message is meant for the user as is.
    #[error("{0}")]
    Rejected(String),
    /// The file watcher could not be set up.
    #[error("cannot watch {path}: {message}")]
    Watch {
        /// The file.
        path: String,
        /// What the watcher said.
        message: String,
    },
}

/// Parses the text of a config file. `path` only labels error messages.
pub fn parse_raw(path: &str, text: &str) -> Result<RawConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        // An unknown position inside an element shows as `?`; drop it.
        let full_path = e.path().to_string();
        let field = full_path.trim_end_matches(".?").trim_end_matches('?');
        // serde_json appends " at line L column C"; the location is given once, in front.
        let full = inner.to_string();
        let suffix = format!(" at line {} column {}", inner.line(), inner.column());
        let inner_text = full.strip_suffix(&suffix).unwrap_or(&full);
        let message = if field.is_empty() || field == "." {
            inner_text.to_owned()
        } else {
            format!("{field}: {inner_text}")
        };
        ConfigError::Syntax {
            path: path.to_owned(),
            line: inner.line(),
            column: inner.column(),
            message,
        }
    })
}

/// Reads and validates a config file. A missing file is an empty
/// configuration (the server still starts; the CLI creates it on first write).
pub fn load(path: &Path, default_balance: LoadBalance) -> Result<Config, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Config {
                load_balance: default_balance,
                ..Config::default()
            })
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse_raw(&path.display().to_string(), &text)?.validate(default_balance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err =
            parse_raw("c.json", "{\n  \"upstream\": [\n    {\"name\": 1}\n  ]\n}").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("c.json:3:"), "{msg}");
        assert!(msg.contains("upstream[0].name"), "{msg}");
        let err = parse_raw("c.json", "{\"upstream\": [,]}").unwrap_err();
        assert!(err.to_string().starts_with("c.json:1:"), "{err}");
    }

    #[test]
    fn validation_reports_every_problem() {
        let raw = parse_raw(
            "c",
            r#"{"upstream":[{"name":"a","baseUrl":"ftp://x","serviceType":"nope","apiKeys":[]}],"currentUpstream":3,"loadBalance":"fastest"}"#,
        )
        .unwrap();
        let Err(ConfigError::Invalid(p)) = raw.validate(LoadBalance::RoundRobin) else {
            panic!()
        };
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn load_reports_router_problems_with_their_path() {
        // `load` is what start-up and every reload call.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"upstream":[{"name":"a","baseUrl":"https://a","serviceType":"openai"}],"router":{"think":["a","b"],"longContextThreshold":-1}}"#,
        )
        .unwrap();
        let err = load(&path, LoadBalance::RoundRobin).unwrap_err();
        let ConfigError::Invalid(p) = &err else {
            panic!("{err}")
        };
        assert_eq!(
            p,
            &[
                "router.think[1]: no upstream is named \"b\" (configured: a)",
                "router.longContextThreshold: must be a positive integer, got -1",
            ]
        );
        std::fs::write(
            &path,
            r#"{"upstream":[{"name":"a","baseUrl":"https://a","serviceType":"openai"}],"router":{"think":"A,o3"}}"#,
        )
        .unwrap();
        let cfg = load(&path, LoadBalance::RoundRobin).unwrap();
        let think = cfg.router.unwrap();
        let think = think.scenario(Scenario::Think).unwrap();
        assert_eq!((think[0].upstream(), think[0].model()), (0, Some("o3")));
    }

    #[test]
    fn seed_format_loads_and_keeps_unknown_fields() {
        let text = r#"{"upstream":[{"name":"OpenAI","baseUrl":"https://api.openai.com/v1","apiKeys":["sk-1","sk-2"],"serviceType":"openai","insecureSkipVerify":false,"modelMapping":{"sonnet":"gpt-4o","haiku":"gpt-4o-mini"},"custom":1}],"currentUpstream":0,"loadBalance":"round-robin","future":{"x":true}}"#;
        let raw = parse_raw("c", text).unwrap();
        let cfg = raw.validate(LoadBalance::Failover).unwrap();
        assert_eq!(cfg.upstreams[0].api_keys.len(), 2);
        assert_eq!(cfg.load_balance, LoadBalance::RoundRobin);
        assert_eq!(
            cfg.upstreams[0].model_mapping.resolve("claude-3-5-haiku"),
            "gpt-4o-mini"
        );
        let back = serde_json::to_value(&raw).unwrap();
        assert_eq!(back["future"]["x"], true);
        assert_eq!(back["upstream"][0]["custom"], 1);
    }
}
