//! Integration tests: the real server on a random loopback port against
//! in-process mock upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod support;

mod mock_openai;

mod auth_and_errors;
mod count_tokens;
mod models;
mod openai;
mod sdk;
