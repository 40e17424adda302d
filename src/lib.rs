//! claude-proxy: an Anthropic Messages API gateway.
//!
//! A request flows `server` (auth, limits) → `routing` (upstream and key) →
//! `translate` (pure conversion to the upstream's protocol) → `providers`
//! (the only upstream HTTP) → `translate` back → client. See DESIGN in the
//! README for the module map.

pub mod config;
pub mod error;
pub mod protocol;
pub mod translate;
