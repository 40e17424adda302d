//! The validated configuration: what the rest of the proxy reads.
//!
//! `config.json` is parsed into [`super::raw`] types first (lenient, keeps
//! unknown fields) and turned into these once ("parse, don't validate"); code
//! that holds a [`Config`] never re-checks it.

use std::fmt;

use reqwest::Url;

/// An upstream API key. `Debug`/`Display` print it masked, so a key can only
/// reach a log line or a response through an explicit [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Masked form for humans: first 8 and last 4 characters at most; short
    /// keys are mostly hidden.
    pub fn masked(&self) -> String {
        mask_secret(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a secret for display: `sk-proj-…wxyz`. Keys of 16 characters or
/// fewer show at most their first 2 and last 2 characters.
pub fn mask_secret(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0 => return String::new(),
        1..=6 => return "*".repeat(n.min(6)),
        7..=16 => (2, 2),
        _ => (8, 4),
    };
    let head: String = chars[..head].iter().collect();
    let tail: String = chars[n - tail..].iter().collect();
    format!("{head}…{tail}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    /// OpenAI Chat Completions with `max_completion_tokens`.
    OpenAi,
    /// OpenAI-compatible servers that only know `max_tokens`.
    OpenAiOld,
    Gemini,
    Claude,
}

impl ServiceType {
    pub const ALL: [ServiceType; 4] = [
        ServiceType::OpenAi,
        ServiceType::OpenAiOld,
        ServiceType::Gemini,
        ServiceType::Claude,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::OpenAi => "openai",
            ServiceType::OpenAiOld => "openaiold",
            ServiceType::Gemini => "gemini",
            ServiceType::Claude => "claude",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ServiceType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Path segment added when `baseUrl` has no path of its own.
    pub fn default_version_path(self) -> &'static str {
        match self {
            ServiceType::Gemini => "/v1beta",
            _ => "/v1",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LoadBalance {
    #[default]
    RoundRobin,
    Random,
    Failover,
}

impl LoadBalance {
    pub const ALL: [LoadBalance; 3] = [
        LoadBalance::RoundRobin,
        LoadBalance::Random,
        LoadBalance::Failover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalance::RoundRobin => "round-robin",
            LoadBalance::Random => "random",
            LoadBalance::Failover => "failover",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        LoadBalance::ALL.into_iter().find(|t| {
            t.as_str().eq_ignore_ascii_case(s)
                || t.as_str().replace('-', "_").eq_ignore_ascii_case(s)
        })
    }
}

impl fmt::Display for LoadBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `modelMapping`: exact names first, then the family words `opus`, `sonnet`,
/// `haiku` as case-insensitive substrings, then `"*"`; unmapped names pass
/// through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelMapping {
    entries: Vec<(String, String)>,
}

const FAMILIES: [&str; 3] = ["opus", "sonnet", "haiku"];

impl ModelMapping {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        ModelMapping { entries }
    }

    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The upstream model for the model a client asked for.
    pub fn resolve<'a>(&'a self, requested: &'a str) -> &'a str {
        if let Some((_, to)) = self.entries.iter().find(|(from, _)| from == requested) {
            return to;
        }
        let lower = requested.to_ascii_lowercase();
        for family in FAMILIES {
            if lower.contains(family) {
                if let Some((_, to)) = self
                    .entries
                    .iter()
                    .find(|(from, _)| from.eq_ignore_ascii_case(family))
                {
                    return to;
                }
            }
        }
        if let Some((_, to)) = self.entries.iter().find(|(from, _)| from == "*") {
            return to;
        }
        requested
    }
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub base_url: Url,
    pub api_keys: Vec<ApiKey>,
    pub service_type: ServiceType,
    pub insecure_skip_verify: bool,
    pub model_mapping: ModelMapping,
    /// Cap on `max_tokens` sent upstream (many models accept less than the
    /// 128,000 Claude Code asks for).
    pub max_tokens: Option<u64>,
    pub description: Option<String>,
    /// Upstreams (by name) that take over when every key of this one
    /// failed, in order. Empty: no cross-upstream fallback.
    pub fallback: Vec<String>,
    /// Key order for this upstream; `None` uses the global `loadBalance`.
    pub load_balance: Option<LoadBalance>,
    /// How the key is sent to a `claude` upstream.
    pub auth_header: AuthHeader,
}

/// Where a `claude` upstream's key goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthHeader {
    /// `x-api-key` for API keys, `Authorization: Bearer` for OAuth tokens
    /// (`sk-ant-oat…`).
    #[default]
    Auto,
    XApiKey,
    Bearer,
}

impl AuthHeader {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(AuthHeader::Auto),
            "x-api-key" | "x_api_key" | "apikey" => Some(AuthHeader::XApiKey),
            "bearer" | "authorization" => Some(AuthHeader::Bearer),
            _ => None,
        }
    }
}

impl Upstream {
    /// `baseUrl` joined with `path`, adding the protocol's version segment
    /// (`/v1`, `/v1beta`) when `baseUrl` has no path of its own.
    pub fn endpoint(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        if self.base_url.path() == "/" || self.base_url.path().is_empty() {
            format!("{base}{}{path}", self.service_type.default_version_path())
        } else {
            format!("{base}{path}")
        }
    }
}

#[cfg(test)]
impl Upstream {
    /// A keyless upstream named `u` with defaults everywhere else.
    pub(crate) fn for_tests(base_url: &str, service_type: ServiceType) -> Upstream {
        Upstream {
            name: "u".into(),
            base_url: Url::parse(base_url).unwrap(),
            api_keys: vec![],
            service_type,
            insecure_skip_verify: false,
            model_mapping: ModelMapping::default(),
            max_tokens: None,
            description: None,
            fallback: Vec::new(),
            load_balance: None,
            auth_header: AuthHeader::Auto,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub upstreams: Vec<Upstream>,
    pub current_upstream: usize,
    pub load_balance: LoadBalance,
}

impl Config {
    pub fn current(&self) -> Option<&Upstream> {
        self.upstreams.get(self.current_upstream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(pairs: &[(&str, &str)]) -> ModelMapping {
        ModelMapping::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn mapping_order_exact_family_star_passthrough() {
        let m = mapping(&[
            ("claude-opus-5-5", "exact"),
            ("sonnet", "fam-sonnet"),
            ("haiku", "fam-haiku"),
            ("*", "default"),
        ]);
        assert_eq!(m.resolve("claude-opus-5-5"), "exact");
        assert_eq!(m.resolve("claude-sonnet-4-5-20250929"), "fam-sonnet");
        assert_eq!(m.resolve("claude-HAIKU-4-5"), "fam-haiku");
        assert_eq!(m.resolve("claude-opus-4"), "default");
        assert_eq!(mapping(&[]).resolve("gpt-4o"), "gpt-4o");
        assert_eq!(mapping(&[("haiku", "x")]).resolve("gpt-4o"), "gpt-4o");
    }

    #[test]
    fn endpoint_adds_version_only_without_path() {
        let up = Upstream::for_tests;
        assert_eq!(
            up("https://api.openai.com", ServiceType::OpenAi).endpoint("/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            up("https://api.openai.com/v1/", ServiceType::OpenAi).endpoint("/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            up("https://x.ai/api/openai", ServiceType::OpenAiOld).endpoint("/chat/completions"),
            "https://x.ai/api/openai/chat/completions"
        );
        assert_eq!(
            up(
                "https://generativelanguage.googleapis.com",
                ServiceType::Gemini
            )
            .endpoint("/models/g:generateContent"),
            "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent"
        );
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_secret("sk-proj-abcdefghijklmnopqrstuvwxyz"),
            "sk-proj-…wxyz"
        );
        assert_eq!(mask_secret("abcdefghij"), "ab…ij");
        assert_eq!(mask_secret("abc"), "***");
        let k = ApiKey::new("sk-1234567890abcdefghij");
        assert!(!format!("{k:?}{k}").contains("567890abcdef"));
    }
}
