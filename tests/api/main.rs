//! Integration tests: the real server on a random loopback port against
//! in-process mock upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod support;

mod mock_openai;

#[path = "../support/gemini_validator.rs"]
mod gemini_validator;

mod auth_and_errors;
mod claude;
mod count_tokens;
mod failover;
mod gemini;
mod limits;
mod load;
mod models;
mod observe;
mod openai;
mod reload;
mod routing;
mod sdk;
mod shutdown;
mod stream_check;
mod tls;
