//! What the request store's body capture (`STORE_BODIES`) needs from the
//! server: the store, and the secrets to mask — the access and admin keys
//! and the upstream keys of the configuration in force when the bodies are
//! stored.

use std::sync::Arc;

use super::state::AppState;
use crate::routing::LiveState;
use crate::store::bodies::{CaptureSource, Secrets};
use crate::store::Store;

impl CaptureSource for AppState {
    fn store(&self) -> &Store {
        &self.store
    }

    fn secrets(&self) -> Box<dyn Secrets> {
        Box::new(ServerSecrets {
            live: self.live.load_full(),
            keys: [self.access_key.clone(), self.admin_key.clone()],
        })
    }
}

/// The secrets of one configuration snapshot.
struct ServerSecrets {
    live: Arc<LiveState>,
    keys: [Vec<u8>; 2],
}

impl Secrets for ServerSecrets {
    fn each(&self, f: &mut dyn FnMut(&[u8])) {
        for key in &self.keys {
            f(key);
        }
        for up in &self.live.config.upstreams {
            for key in &up.api_keys {
                f(key.expose().as_bytes());
            }
        }
    }
}
