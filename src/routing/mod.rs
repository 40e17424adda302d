//! Where a request goes: the per-request snapshot of upstreams ([`live`]),
//! which upstreams a request may use and in what order ([`plan`], narrowed
//! to a client key's `upstreams` by [`access`]), the key
//! order and cooldowns within one upstream ([`keys`]), and the failover
//! loop over both (`failover`). Model mapping lives with the config
//! (`config::ModelMapping`).

pub mod access;
pub mod circuit;
pub(crate) mod failover;
pub mod keys;
pub mod live;
pub mod plan;
pub(crate) mod scenario;
pub(crate) mod verdict;

pub use live::{LiveState, UpstreamRuntime};
