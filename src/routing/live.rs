//! The routing snapshot: the configuration plus each upstream's runtime
//! state (its provider, key pool and cooldowns). Swapped whole on reload; a
//! request loads it once and works on that snapshot to the end, so
//! in-flight requests finish on the configuration they started with.

use std::sync::Arc;

use super::circuit::Circuit;
use super::keys::KeyPool;
use crate::clients::ClientTable;
use crate::config::{Config, LoadBalance, Upstream};
use crate::providers::Provider;
use crate::shared_state::SharedState;

/// One configured upstream with its runtime state.
#[derive(Debug)]
pub struct UpstreamRuntime {
    /// The upstream as configured.
    pub config: Upstream,
    /// Its keys, their order and cooldowns.
    pub keys: KeyPool,
    /// Its protocol, with endpoints parsed once.
    pub(crate) provider: Provider,
    /// Its circuit breaker (kept across reloads, like the key pool).
    pub circuit: Arc<Circuit>,
}

impl UpstreamRuntime {
    fn new(config: Upstream, keys: KeyPool, circuit: Arc<Circuit>) -> Self {
        UpstreamRuntime {
            provider: Provider::new(&config),
            config,
            keys,
            circuit,
        }
    }

    /// This upstream's key order strategy (its own, else the global one).
    pub fn load_balance(&self, global: LoadBalance) -> LoadBalance {
        self.config.load_balance.unwrap_or(global)
    }
}

/// The configuration and the runtime built from it.
#[derive(Debug)]
pub struct LiveState {
    /// The validated `config.json`.
    pub config: Config,
    /// One runtime per configured upstream, in configuration order.
    pub upstreams: Vec<Arc<UpstreamRuntime>>,
    /// The named client keys, with their counters.
    pub clients: ClientTable,
}

impl LiveState {
    /// Builds the runtime for `config`, carrying key counters and cooldowns
    /// and circuit breakers over from `previous` for upstreams that still exist
    /// (matched by name), and client counters for clients that still exist.
    pub fn build(config: Config, previous: Option<&LiveState>) -> Self {
        Self::build_shared(config, previous, &SharedState::local())
    }

    /// [`LiveState::build`] for a fleet: new upstreams' key pools and
    /// circuits share their state through `shared` (carried-over ones keep
    /// the link they have).
    pub fn build_shared(
        config: Config,
        previous: Option<&LiveState>,
        shared: &SharedState,
    ) -> Self {
        let upstreams = config
            .upstreams
            .iter()
            .map(|up| {
                let old = previous.and_then(|p| p.find(&up.name));
                let (keys, circuit) = match old {
                    Some(o) => (
                        o.keys.carry_over(&up.name, up.api_keys.clone()),
                        o.circuit.clone(),
                    ),
                    None => (
                        KeyPool::shared(up.api_keys.clone(), &up.name, shared),
                        Circuit::shared(&up.name, shared),
                    ),
                };
                Arc::new(UpstreamRuntime::new(up.clone(), keys, circuit))
            })
            .collect();
        let clients = ClientTable::build(&config.clients, previous.map(|p| &p.clients), shared);
        LiveState {
            config,
            upstreams,
            clients,
        }
    }

    /// The upstream named `name` (case-insensitively).
    pub fn find(&self, name: &str) -> Option<&Arc<UpstreamRuntime>> {
        self.upstreams
            .iter()
            .find(|u| u.config.name.eq_ignore_ascii_case(name))
    }

    /// The upstream `currentUpstream` names.
    pub fn current(&self) -> Option<&Arc<UpstreamRuntime>> {
        self.upstreams.get(self.config.current_upstream)
    }
}
