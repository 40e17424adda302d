//! The `clients` section of `config.json`: named client keys, each with its
//! own models, upstreams, rate limits and budgets (docs/clients.md).
//!
//! Only a SHA-256 digest of a client key is stored (`keyHash`:
//! `"sha256:"` and the lowercase hex digest of the key's UTF-8 bytes, so
//! `printf %s KEY | sha256sum` writes one by hand). [`RawClient`] is the
//! file's shape (it keeps fields it does not know); [`Client`] the validated
//! form the server checks requests against.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::field::positive;
use super::glob::Glob;
use super::raw_upstream::RawUpstream;

/// Prefix of every key `config client add` makes.
pub const CLIENT_KEY_PREFIX: &str = "cp-";

/// Random bytes in a new client key (encoded in base62: 43 characters).
const CLIENT_KEY_BYTES: usize = 32;

/// Longest client name: names are log fields and metric labels.
pub const MAX_CLIENT_NAME: usize = 64;

/// One entry of `clients` as it is on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RawClient {
    /// The client's name: shown in logs, metrics, the store and the console.
    #[serde(default)]
    pub name: String,
    /// `sha256:<64 lowercase hex digits>` of the client's key.
    #[serde(default, rename = "keyHash")]
    pub key_hash: String,
    /// Globs on the requested model; absent or empty = every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Upstreams routing may pick for this client; absent = every upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstreams: Option<Vec<String>>,
    /// Requests per minute (fixed one-minute windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<i64>,
    /// Tokens per minute (fixed one-minute windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<i64>,
    /// Tokens per UTC day.
    #[serde(
        default,
        rename = "dailyTokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub daily_tokens: Option<i64>,
    /// US$ per UTC calendar month, priced with the `prices` table.
    #[serde(
        default,
        rename = "monthlyCostUsd",
        skip_serializing_if = "Option::is_none"
    )]
    pub monthly_cost_usd: Option<f64>,
    /// RFC 3339 date or date-time after which the key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// A disabled client's key is refused (401) until enabled again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// When the client was created (RFC 3339; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Fields this version does not know, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The SHA-256 digest of a client key. Equality is constant-time (it runs
/// over all 32 bytes whatever they hold), so a hash-map lookup by digest
/// does not leak through timing how close a presented key came.
#[derive(Clone, Copy, Eq)]
pub struct KeyDigest(pub [u8; 32]);

impl PartialEq for KeyDigest {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for KeyDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell two apart in a debug dump; never the whole digest.
        write!(f, "KeyDigest(sha256:{}…)", &hex(&self.0)[..8])
    }
}

impl KeyDigest {
    /// The digest of `key`'s bytes.
    pub fn of(key: &[u8]) -> KeyDigest {
        let d = ring::digest::digest(&ring::digest::SHA256, key);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        KeyDigest(out)
    }

    /// Parses the `keyHash` form, `sha256:` and 64 hex digits (either case).
    pub fn parse(text: &str) -> Result<KeyDigest, String> {
        let Some(hexpart) = text.trim().strip_prefix("sha256:") else {
            return Err(
                "must be \"sha256:\" followed by the key's SHA-256 digest in hex \
                 (printf %s KEY | sha256sum)"
                    .to_owned(),
            );
        };
        if hexpart.len() != 64 {
            return Err(format!(
                "a SHA-256 digest has 64 hex digits, got {}",
                hexpart.len()
            ));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hexpart.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(hi), Some(lo)) => out[i] = (hi * 16 + lo) as u8,
                _ => return Err("the digest must be hexadecimal".to_owned()),
            }
        }
        Ok(KeyDigest(out))
    }

    /// The `keyHash` form: `sha256:` and the lowercase hex digest.
    pub fn to_key_hash(&self) -> String {
        format!("sha256:{}", hex(&self.0))
    }

    /// A short, safe label for listings: `sha256:` and the first 8 hex
    /// digits (enough to tell keys apart, useless for guessing one).
    pub fn short(&self) -> String {
        format!("sha256:{}…", &hex(&self.0)[..8])
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// A new client key: `cp-` and 32 random bytes from the operating system's
/// generator, in base62 (43 characters; 256 bits).
pub fn new_client_key() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; CLIENT_KEY_BYTES];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // The OS generator failed (it practically cannot): fall back to the
        // thread's CSPRNG, seeded from the OS.
        rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    }
    format!("{CLIENT_KEY_PREFIX}{}", base62(&bytes))
}

/// `bytes` as a big-endian number in base62, padded to the full width of
/// its byte count (so every key has the same length).
fn base62(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // ceil(len * 8 / log2(62)) digits hold any value of `len` bytes.
    let width = (bytes.len() * 8 * 1000).div_ceil(5954);
    let mut num = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while digits.len() < width {
        let mut rem = 0u32;
        for b in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            rem = acc % 62;
        }
        digits.push(ALPHABET[rem as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A validated client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The name, as written (trimmed).
    pub name: String,
    /// The digest its key must hash to.
    pub key_digest: KeyDigest,
    /// Globs on the requested model; empty = every model.
    pub models: Vec<Glob>,
    /// Names (as configured) of the upstreams routing may pick for it;
    /// `None` = every upstream.
    pub upstreams: Option<Vec<String>>,
    /// The client's limits.
    pub limits: Limits,
    /// Ms since the epoch after which the key is refused.
    pub expires_ms: Option<i64>,
    /// Refused until enabled again.
    pub disabled: bool,
    /// When it was created, as written (informational).
    pub created: Option<String>,
}

/// A client's optional limits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Requests per one-minute window.
    pub rpm: Option<u64>,
    /// Tokens per one-minute window.
    pub tpm: Option<u64>,
    /// Tokens per UTC day.
    pub daily_tokens: Option<u64>,
    /// US$ per UTC calendar month.
    pub monthly_cost_usd: Option<f64>,
}

impl Client {
    /// Whether the client may ask for `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|g| g.matches(model))
    }

    /// Whether routing may send this client's requests to `upstream`.
    pub fn allows_upstream(&self, upstream: &str) -> bool {
        match &self.upstreams {
            None => true,
            Some(list) => list.iter().any(|u| u.eq_ignore_ascii_case(upstream)),
        }
    }

    /// The model globs, as written, for messages.
    pub fn model_patterns(&self) -> Vec<&str> {
        self.models.iter().map(Glob::as_str).collect()
    }
}

/// Whether `name` may name a client: 1–64 characters of letters, digits
/// and `.`, `_`, `-`, `@`.
pub fn check_client_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > MAX_CLIENT_NAME {
        return Err(format!(
            "is {} characters long; the limit is {MAX_CLIENT_NAME}",
            name.len()
        ));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        Some(c) => Err(format!(
            "{name:?} contains {c:?}; use letters, digits, '.', '_', '-' and '@'"
        )),
        None => Ok(()),
    }
}

/// Parses an `expires` value: an RFC 3339 date-time, or a date alone
/// (midnight UTC at its start), into ms since the epoch.
pub fn parse_expiry(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_owned()
    };
    crate::time::parse_rfc3339(&full).ok_or_else(|| {
        format!("{text:?} is not an RFC 3339 date (2027-06-30) or date-time (2027-06-30T12:00:00Z)")
    })
}

/// Validates `clients`; problems go to `problems` with their field path.
pub(crate) fn validate(
    raw: &[RawClient],
    upstreams: &[RawUpstream],
    problems: &mut Vec<String>,
) -> Vec<Client> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let at = |field: &str| format!("clients[{i}].{field}");
        let before = problems.len();
        let name = c.name.trim().to_owned();
        if let Err(e) = check_client_name(&name) {
            problems.push(format!("{}: {e}", at("name")));
        } else if raw[..i]
            .iter()
            .any(|o| o.name.trim().eq_ignore_ascii_case(&name))
        {
            problems.push(format!("{}: duplicate client name {name:?}", at("name")));
        }
        let digest = match KeyDigest::parse(&c.key_hash) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!("{}: {e}", at("keyHash")));
                None
            }
        };
        if let Some(d) = digest {
            let dup = raw[..i]
                .iter()
                .position(|o| KeyDigest::parse(&o.key_hash).is_ok_and(|od| od == d));
            if let Some(j) = dup {
                problems.push(format!(
                    "{}: the same key as clients[{j}] ({:?}); every client needs its own key",
                    at("keyHash"),
                    raw[j].name
                ));
            }
        }
        let mut models = Vec::new();
        for (j, pattern) in c.models.iter().flatten().enumerate() {
            match super::field::compile_glob(pattern) {
                Ok(g) => models.push(g),
                Err(e) => problems.push(format!("{}: {e}", at(&format!("models[{j}]")))),
            }
        }
        let allowed = c.upstreams.as_ref().map(|list| {
            let mut names = Vec::with_capacity(list.len());
            for (j, u) in list.iter().enumerate() {
                match upstreams
                    .iter()
                    .find(|up| up.name.trim().eq_ignore_ascii_case(u.trim()))
                {
                    Some(up) => names.push(up.name.trim().to_owned()),
                    None => problems.push(format!(
                        "{}: no upstream is named {u:?} (configured: {})",
                        at(&format!("upstreams[{j}]")),
                        known(upstreams)
                    )),
                }
            }
            names
        });
        let limits = Limits {
            rpm: positive(c.rpm, &at("rpm"), problems),
            tpm: positive(c.tpm, &at("tpm"), problems),
            daily_tokens: positive(c.daily_tokens, &at("dailyTokens"), problems),
            monthly_cost_usd: c.monthly_cost_usd.and_then(|v| {
                if v.is_finite() && v > 0.0 {
                    Some(v)
                } else {
                    problems.push(format!(
                        "{}: must be a positive number of US$, got {v}",
                        at("monthlyCostUsd")
                    ));
                    None
                }
            }),
        };
        let expires_ms = c.expires.as_deref().and_then(|e| match parse_expiry(e) {
            Ok(ms) => Some(ms),
            Err(msg) => {
                problems.push(format!("{}: {msg}", at("expires")));
                None
            }
        });
        if let (Some(key_digest), true) = (digest, problems.len() == before) {
            out.push(Client {
                name,
                key_digest,
                models,
                upstreams: allowed,
                limits,
                expires_ms,
                disabled: c.disabled,
                created: c.created.clone(),
            });
        }
    }
    out
}

fn known(upstreams: &[RawUpstream]) -> String {
    if upstreams.is_empty() {
        return "none".to_owned();
    }
    upstreams
        .iter()
        .map(|u| u.name.trim())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
