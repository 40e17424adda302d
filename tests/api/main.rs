//! Integration tests: the real server on a random loopback port against
//! in-process mock upstreams (tests/common).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod admin_api;
mod auth_and_errors;
mod claude;
mod clients;
mod count_tokens;
mod failover;
mod fleet;
mod fleet_clients;
mod fleet_lb;
mod gemini;
mod hostile;
mod inbound_chat;
mod inbound_codex;
mod inbound_common;
mod inbound_errors;
mod inbound_passthrough;
mod inbound_responses;
mod inbound_sdk;
mod limits;
mod load;
mod models;
mod observe;
mod openai;
mod reload;
mod responses;
mod routing;
mod sdk;
mod shutdown;
mod store;
mod stream_check;
mod tls;
