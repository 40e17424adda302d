//! What the OpenAI, Responses and Gemini translators share, so that a rule is written
//! once and both upstreams follow it.
//!
//! | module | holds |
//! |---|---|
//! | [`emit`] | the stream emitter: `message_start`, one ending (`message_stop` or `error`), the usage fallback, unique tool ids |
//! | [`content`] | reading request content: system texts (without Claude Code's billing header), document text, tool-result flattening |
//! | [`request`] | request settings: reasoning levels, the `max_tokens` cap, a `tool_choice` the upstream can take, OpenAI's end-user id |
//! | [`history`] | tool-history pairing: which `tool_result` answers which `tool_use`, and the answer for interrupted calls |
//! | [`stop`] | stop sequences the proxy enforces itself, scanned as the text streams |
//! | [`hash`] | the one stable hash |
//!
//! The error-kind table every provider uses is [`crate::error::ErrorKind`]'s.

pub(crate) mod content;
pub(crate) mod emit;
pub(crate) mod hash;
pub(crate) mod history;
pub(crate) mod request;
pub(crate) mod stop;
