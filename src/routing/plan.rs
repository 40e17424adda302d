//! Which upstreams a request may use, in order.

use std::sync::Arc;

use super::live::{LiveState, UpstreamRuntime};

/// The upstreams a request may use, in order: the current one, then its
/// `fallback` list (each once).
pub(crate) fn plan(live: &LiveState) -> Vec<Arc<UpstreamRuntime>> {
    let Some(current) = live.current() else {
        return Vec::new();
    };
    let mut route: Vec<Arc<UpstreamRuntime>> =
        Vec::with_capacity(1 + current.config.fallback.len());
    let candidates = std::iter::once(current.clone()).chain(
        current
            .config
            .fallback
            .iter()
            .filter_map(|name| live.find(name).cloned()),
    );
    for up in candidates {
        if !route.iter().any(|r| Arc::ptr_eq(r, &up)) {
            route.push(up);
        }
    }
    route
}
