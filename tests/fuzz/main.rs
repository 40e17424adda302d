//! Property-based fuzz targets over every parser and translator the proxy
//! runs on untrusted input, through the crate's public API
//! (docs/fuzzing.md):
//!
//! | module | inputs |
//! |---|---|
//! | `requests` | client bodies: plausible, arbitrary JSON, mutated, raw bytes; schemas; image headers |
//! | `responses` | whole upstream answers (OpenAI, Gemini) and upstream error bodies |
//! | `streams` | upstream SSE streams (OpenAI, Gemini), cut at arbitrary bytes |
//! | `sse` | the SSE decoder alone |
//! | `grammar` | the oracle: Anthropic's message and stream grammar, on the wire form |
//!
//! `cargo test --test fuzz` runs a few hundred cases per target;
//! `scripts/fuzz.sh` runs many more (`FUZZ_CASES`, `FUZZ_SECONDS`,
//! `FUZZ_SEED`; see `harness`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gen;
mod grammar;
mod harness;
mod requests;
mod responses;
mod sse;
mod streams;
