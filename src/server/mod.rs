//! The HTTP server: routes (`router`), the accept loop and shutdown
//! (`listener`), middleware, request extractors, one handler file per
//! endpoint (the OpenAI-compatible ones in `openai/`), admin endpoints, and
//! the shared state.

mod admin;
pub(crate) mod body_log;
mod capture;
mod count_tokens;
mod extract;
mod health;
mod listener;
mod messages;
mod middleware;
mod models;
mod openai;
mod rate_limit;
mod router;
mod session;
mod state;
pub(crate) use crate::util;

pub use listener::serve;
pub use state::{watch_config_file, AppState};
