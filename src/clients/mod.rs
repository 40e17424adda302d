//! Named client keys at run time (docs/clients.md): who is calling, and
//! whether they may.
//!
//! A request's credential is hashed once (SHA-256) and looked up in a map
//! from digest to client; the map's key compares digests in constant time
//! ([`KeyDigest`]), so neither the lookup nor the comparison leaks through
//! timing how close a wrong key came. `PROXY_ACCESS_KEY` stays the
//! all-access key and is checked first; no client key reaches `/admin`.
//!
//! The table is rebuilt with every configuration ([`ClientTable::build`]);
//! each client's [`Meter`] is carried over by name, so a reload (a rotated
//! key, a new limit) keeps what the client has used.

pub mod fleet;
pub mod meter;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Client, KeyDigest};
use crate::error::{ApiError, ErrorKind};

pub use fleet::FleetMeter;
pub use meter::{Meter, MeterView, Refusal};

use crate::shared_state::SharedState;

/// A configured client with its counters.
#[derive(Debug)]
pub struct ClientEntry {
    /// The client as configured.
    pub config: Client,
    /// What it has used (kept across reloads).
    pub meter: Arc<Meter>,
    /// Its counters in the fleet's shared state (`REDIS_URL`).
    pub fleet: Option<FleetMeter>,
}

impl ClientEntry {
    /// Admits one request at `now` under the client's limits, or says which
    /// limit refuses it: this instance's meter first, then (in a fleet)
    /// the fleet's totals.
    pub async fn admit(&self, now: i64) -> Result<(), Refusal> {
        self.meter.admit(&self.config.limits, now)?;
        match &self.fleet {
            Some(f) => f.admit(&self.config.limits, now).await,
            None => Ok(()),
        }
    }

    /// Charges a finished request's tokens and cost (US$, when priced).
    pub fn charge(&self, tokens: u64, cost_usd: Option<f64>, now: i64) {
        self.meter.charge(tokens, cost_usd, now);
        if let Some(f) = &self.fleet {
            f.charge(tokens, cost_usd, now);
        }
    }
}

/// Every configured client, by key digest and in configuration order.
#[derive(Debug, Default)]
pub struct ClientTable {
    by_digest: HashMap<KeyDigest, Arc<ClientEntry>>,
    entries: Vec<Arc<ClientEntry>>,
}

impl ClientTable {
    /// The table of `clients`, with meters carried over by name (ASCII
    /// case-insensitively) from `previous`; in a fleet each client also
    /// counts in `shared`.
    pub fn build(
        clients: &[Client],
        previous: Option<&ClientTable>,
        shared: &SharedState,
    ) -> ClientTable {
        let mut by_digest = HashMap::with_capacity(clients.len());
        let mut entries = Vec::with_capacity(clients.len());
        for c in clients {
            let meter = previous
                .and_then(|p| p.find(&c.name))
                .map(|e| e.meter.clone())
                .unwrap_or_default();
            let entry = Arc::new(ClientEntry {
                config: c.clone(),
                meter,
                fleet: FleetMeter::new(shared, &c.name),
            });
            by_digest.insert(c.key_digest, entry.clone());
            entries.push(entry);
        }
        ClientTable { by_digest, entries }
    }

    /// Whether no client is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The clients in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ClientEntry>> {
        self.entries.iter()
    }

    /// The client named `name` (ASCII case-insensitively).
    pub fn find(&self, name: &str) -> Option<&Arc<ClientEntry>> {
        self.entries
            .iter()
            .find(|e| e.config.name.eq_ignore_ascii_case(name))
    }

    /// The client whose key is `key`.
    pub fn lookup(&self, key: &[u8]) -> Option<&Arc<ClientEntry>> {
        if self.entries.is_empty() {
            return None;
        }
        self.by_digest.get(&KeyDigest::of(key))
    }
}

/// Who sent a request: the all-access key, or a named client. The auth
/// middleware puts it in the request's extensions.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `PROXY_ACCESS_KEY`: no client limits.
    AllAccess,
    /// A named client key.
    Client(Arc<ClientEntry>),
}

impl Caller {
    /// The client, when the caller is one.
    pub fn client(&self) -> Option<&Arc<ClientEntry>> {
        match self {
            Caller::AllAccess => None,
            Caller::Client(c) => Some(c),
        }
    }

    /// The client's name (`None` for the all-access key).
    pub fn name(&self) -> Option<&str> {
        self.client().map(|c| c.config.name.as_str())
    }

    /// A 403 unless the caller may ask for `model` (of an explicit
    /// `upstream,model`, the model part).
    pub fn check_model(&self, model: &str) -> Result<(), ApiError> {
        let Some(c) = self.client() else {
            return Ok(());
        };
        let model = model.split_once(',').map_or(model, |(_, m)| m.trim());
        if c.config.allows_model(model) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::Permission,
            format!(
                "client {:?} may not use model {model:?}; its allowed models are: {}",
                c.config.name,
                c.config.model_patterns().join(", ")
            ),
        ))
    }

    /// Whether routing may send this caller's request to `upstream`.
    pub fn allows_upstream(&self, upstream: &str) -> bool {
        self.client()
            .is_none_or(|c| c.config.allows_upstream(upstream))
    }

    /// The 403 for a request whose route has no upstream this caller may
    /// use; `wanted` names the upstreams the route would have taken.
    pub fn upstream_refusal(&self, wanted: &[&str]) -> ApiError {
        let (name, allowed) = match self.client() {
            Some(c) => (
                c.config.name.as_str(),
                c.config.upstreams.clone().unwrap_or_default(),
            ),
            None => ("-", Vec::new()),
        };
        ApiError::new(
            ErrorKind::Permission,
            format!(
                "client {name:?} may not use upstream {}; its allowed upstreams are: {}",
                wanted.join(", "),
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
        )
    }
}

/// The 401 of a key that matched a client who may not use it now: expired
/// or disabled. `None` when the client may.
pub fn unusable(entry: &ClientEntry, now_ms: i64) -> Option<ApiError> {
    let c = &entry.config;
    if c.disabled {
        return Some(ApiError::authentication(format!(
            "the key of client {:?} is disabled",
            c.name
        )));
    }
    match c.expires_ms {
        Some(exp) if now_ms >= exp => Some(ApiError::authentication(format!(
            "the key of client {:?} expired at {}",
            c.name,
            crate::time::rfc3339(exp)
        ))),
        _ => None,
    }
}

/// The 429 for a limit that refuses `client`'s request.
pub fn refusal_error(client: &str, r: &Refusal) -> ApiError {
    match *r {
        Refusal::Rpm { limit, retry_after } => ApiError::new(
            ErrorKind::RateLimit,
            format!(
                "client {client:?} reached its limit of {limit} requests per minute (rpm); retry in {retry_after} s"
            ),
        )
        .with_retry_after(Some(retry_after)),
        Refusal::Tpm { limit, retry_after } => ApiError::new(
            ErrorKind::RateLimit,
            format!(
                "client {client:?} reached its limit of {limit} tokens per minute (tpm); retry in {retry_after} s"
            ),
        )
        .with_retry_after(Some(retry_after)),
        Refusal::DailyTokens {
            limit,
            used,
            resets_ms,
        } => ApiError::new(
            ErrorKind::RateLimit,
            format!(
                "client {client:?} has spent its daily token budget (dailyTokens: {used} of {limit} tokens used today); it resets at {} (UTC midnight)",
                crate::time::rfc3339(resets_ms)
            ),
        )
        .not_retryable(),
        Refusal::MonthlyCost {
            limit,
            spent,
            resets_ms,
        } => ApiError::new(
            ErrorKind::RateLimit,
            format!(
                "client {client:?} has spent its monthly budget (monthlyCostUsd: US${spent:.2} of US${limit:.2} this month); it resets at {} (the 1st, 00:00 UTC)",
                crate::time::rfc3339(resets_ms)
            ),
        )
        .not_retryable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    fn client(name: &str, key: &str) -> Client {
        Client {
            name: name.to_owned(),
            key_digest: KeyDigest::of(key.as_bytes()),
            models: Vec::new(),
            upstreams: None,
            limits: Limits::default(),
            expires_ms: None,
            disabled: false,
            created: None,
        }
    }

    #[test]
    fn lookup_finds_the_right_client_and_refuses_a_near_miss() {
        let key_a = crate::config::clients::new_client_key();
        let key_b = crate::config::clients::new_client_key();
        let table = ClientTable::build(
            &[client("alice", &key_a), client("bob", &key_b)],
            None,
            &SharedState::local(),
        );
        assert_eq!(table.lookup(key_a.as_bytes()).unwrap().config.name, "alice");
        assert_eq!(table.lookup(key_b.as_bytes()).unwrap().config.name, "bob");
        // Every one-character change of the key is refused.
        for i in 0..key_a.len() {
            let mut bytes = key_a.clone().into_bytes();
            bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            assert!(table.lookup(&bytes).is_none(), "changed at {i}");
        }
        assert!(table.lookup(&key_a.as_bytes()[1..]).is_none());
        assert!(table.lookup(b"").is_none());
    }

    #[test]
    fn digests_compare_by_value_in_constant_time() {
        let a = KeyDigest::of(b"k");
        let mut b = a;
        assert_eq!(a, b);
        b.0[31] ^= 1;
        assert_ne!(a, b);
        b = a;
        b.0[0] ^= 0x80;
        assert_ne!(a, b);
    }

    #[test]
    fn meters_survive_a_rebuild_by_name() {
        let t = ClientTable::build(&[client("alice", "k1")], None, &SharedState::local());
        t.find("alice").unwrap().meter.charge(7, None, 0);
        // Rotated key, same name: the counters stay.
        let t2 = ClientTable::build(&[client("Alice", "k2")], Some(&t), &SharedState::local());
        assert_eq!(t2.find("alice").unwrap().meter.view(0).day_tokens, 7);
        assert!(t2.lookup(b"k1").is_none());
        assert!(t2.lookup(b"k2").is_some());
    }

    #[test]
    fn expired_and_disabled_keys_are_refused_with_401() {
        let mut c = client("c", "k");
        c.expires_ms = Some(1_000);
        let entry = ClientEntry {
            config: c,
            meter: Arc::default(),
            fleet: None,
        };
        assert!(unusable(&entry, 999).is_none());
        let e = unusable(&entry, 1_000).unwrap();
        assert_eq!(e.status.as_u16(), 401);
        assert!(
            e.message.contains("expired at 1970-01-01T00:00:01.000Z"),
            "{}",
            e.message
        );
        let mut c = entry.config.clone();
        c.expires_ms = None;
        c.disabled = true;
        let entry = ClientEntry {
            config: c,
            meter: Arc::default(),
            fleet: None,
        };
        assert!(unusable(&entry, 0).unwrap().message.contains("disabled"));
    }
}
