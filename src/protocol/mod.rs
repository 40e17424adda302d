//! Wire types of each API the proxy speaks; serde only, no logic.

pub mod anthropic;
pub mod chat_in;
pub mod gemini;
pub mod openai;
pub mod responses;
pub mod responses_in;
pub mod text;
