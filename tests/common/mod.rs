//! Support shared by every test binary.
//!
//! One convention: a single-file test binary (`tests/x.rs`) says `mod common;`;
//! a directory test binary (`tests/x/main.rs`) says
//! `#[path = "../common/mod.rs"] mod common;`. Each binary uses a part of
//! this module, hence the `dead_code` allowance.
//!
//! - [`app`]: the server in-process on a random 127.0.0.1 port, the
//!   `hello()` request, config helpers, `/metrics` samples;
//! - [`process`]: the real binary (`CARGO_BIN_EXE_claude-proxy`) as a
//!   child process, killed on drop; bounded runs of other commands;
//! - [`mock`]: a recording mock upstream, plus [`mock_openai`],
//!   [`mock_responses`], [`mock_gemini`] and [`mock_anthropic`], which
//!   validate requests the way each provider does and render a
//!   provider-neutral [`script::Script`] in that provider's wire format;
//! - [`sse`]: reading the proxy's SSE answers, with an accumulator that
//!   checks the Anthropic event grammar on its own (not with the code under
//!   test), and `expect_error`;
//! - [`fixtures`]: the recorded Claude Code requests in tests/fixtures;
//! - [`wait`]: bounded polling;
//! - [`redis_server`]: a real `redis-server` per test (the fleet tests);
//! - [`tls`]: TLS upstreams with self-signed certificates.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod fixtures;
pub mod gemini_validator;
pub mod mock;
pub mod mock_anthropic;
pub mod mock_gemini;
pub mod mock_openai;
pub mod mock_responses;
pub mod process;
pub mod redis_server;
pub mod script;
pub mod sse;
pub mod tls;
pub mod wait;

pub use app::*;
pub use fixtures::*;
pub use mock::*;
pub use script::*;
pub use sse::*;
pub use wait::*;
