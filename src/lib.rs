#![warn(missing_docs)]
//! claude-proxy: an Anthropic Messages API gateway.
//!
//! A request flows `server` (auth, limits) → `routing` (upstream and key) →
//! `translate` (pure conversion to the upstream's protocol) → `providers`
//! (the only upstream HTTP) → `translate` back → client.
//!
//! | module | owns |
//! |---|---|
//! | [`cli`], [`commands`] | command-line shape and the `config` subcommands |
//! | [`settings`] | environment / `.env` settings, validated once |
//! | [`config`] | `config.json`: model, loading, validation |
//! | [`protocol`] | wire types of each API (serde only) |
//! | [`translate`] | pure request/response/stream conversions |
//! | [`routing`] | per-request snapshot, upstream plan, key order and cooldowns, failover loop |
//! | `providers` | one file per upstream protocol behind `enum Provider`: the only upstream HTTP |
//! | [`server`] | routes, accept loop, middleware, extractors, handlers, admin API |
//! | `console` | the web console's files, compiled in, served under `/ui` |
//! | `observe` | the per-request record (log line) and Prometheus metrics |
//! | [`store`] | the SQLite request store: request log, live feed, usage rollups |
//! | [`shared_state`] | fleet state: cooldowns, circuits, turns, windows, counters in Redis (`REDIS_URL`), local fallback |
//! | [`sse`] | SSE decoder (upstream) and encoder (client) |
//! | [`app`] | process start-up and shutdown |
//! | `health_check` | `claude-proxy health`: the container health check |
//! | [`error`] | the Anthropic-shaped error every client sees |
//! | [`tokens`] | local input-token counting (o200k BPE) |
//! | `time` | wall-clock ms, RFC 3339, the UTC calendar budgets reset on (a leaf) |
//! | `util` | ids, RFC 3339 of a `SystemTime`, body truncation: helpers any module may use |
//! | [`clients`] | named client keys: lookup by digest, limits and budgets |

pub mod app;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod config;
pub(crate) mod console;
pub mod error;
pub(crate) mod health_check;
pub(crate) mod observe;
pub mod protocol;
pub(crate) mod providers;
pub mod routing;
pub mod server;
pub mod settings;
pub mod shared_state;
pub mod sse;
pub mod store;
pub(crate) mod time;
pub mod tokens;
pub mod translate;
pub(crate) mod util;
