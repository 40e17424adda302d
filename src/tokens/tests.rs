//! Counts checked against `o200k_base` directly, fixed overheads, images and
//! every recorded Claude Code request.

use std::time::Instant;

use super::*;
use crate::protocol::anthropic::MessagesRequest;

fn o200k(s: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(s).len() as u64
}

fn png_base64(width: u32, height: u32) -> String {
    use base64::Engine;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&width.to_be_bytes());
    png.extend_from_slice(&height.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(png)
}

#[test]
fn text_matches_o200k() {
    // Well-known o200k counts.
    assert_eq!(text_tokens("hello world"), 2);
    assert_eq!(text_tokens(""), 0);
    for s in [
        "Hello, world!",
        "fn main() { println!(\"hi\"); }",
        "Ünïcödé — 日本語のテキスト 🚀",
        "    indented\n\n\ttabs\r\nand   spaces   ",
        r#"{"type":"object","properties":{"file_path":{"type":"string"}}}"#,
    ] {
        assert_eq!(text_tokens(s), o200k(s), "{s:?}");
    }
}

#[test]
fn fixed_request_total() {
    let image = png_base64(640, 480);
    let body = serde_json::json!({
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Read it.", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "/a"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                    {"type": "text", "text": "ok"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}
                ]},
                {"type": "redacted_thinking", "data": "opaque"}
            ]}
        ],
        "tools": [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}]
    });
    let req: CountTokensRequest = serde_json::from_value(body).unwrap();
    // 640 x 480 / 750 = 409.6, rounded up.
    let image_tokens = 410;
    let expected = SYSTEM_TOKENS
        + o200k("You are terse.")
        + 3 * PER_MESSAGE_TOKENS
        + o200k("hello world")
        + o200k("Read it.")
        + PER_TOOL_BLOCK_TOKENS
        + o200k("Read")
        + o200k(r#"{"path":"/a"}"#)
        + PER_TOOL_BLOCK_TOKENS
        + o200k("ok")
        + image_tokens
        + TOOLS_PREAMBLE_TOKENS
        + PER_TOOL_TOKENS
        + o200k("Read")
        + o200k("Read a file")
        + o200k(r#"{"type":"object"}"#);
    assert_eq!(count_tokens(&req), expected);
    // The same number, spelled out so a change of overheads is noticed.
    assert_eq!(expected, 822);
}

#[test]
fn a_messages_request_counts_like_its_count_tokens_request() {
    let body = serde_json::json!({
        "model": "m", "max_tokens": 10, "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is 2 + 2?"}]
    });
    let create: MessagesRequest = serde_json::from_value(body.clone()).unwrap();
    let count: CountTokensRequest = serde_json::from_value(body).unwrap();
    let n = count_request_tokens(create.system.as_ref(), &create.messages, None);
    assert_eq!(n, count_tokens(&count));
    assert_eq!(
        n,
        SYSTEM_TOKENS + o200k("Be brief.") + PER_MESSAGE_TOKENS + o200k("What is 2 + 2?")
    );
}

#[test]
fn image_estimates() {
    let b64 = |w, h| ImageSource::Base64 {
        media_type: "image/png".into(),
        data: png_base64(w, h),
    };
    assert_eq!(image_tokens(&b64(200, 200)), 54);
    assert_eq!(image_tokens(&b64(1, 1)), 1);
    // Scaled to 1568 x 1176 first, then capped.
    assert_eq!(image_tokens(&b64(4000, 3000)), IMAGE_FALLBACK_TOKENS);
    let url = ImageSource::Url {
        url: "https://example.com/a.png".into(),
    };
    assert_eq!(image_tokens(&url), IMAGE_FALLBACK_TOKENS);
    let junk = ImageSource::Base64 {
        media_type: "image/png".into(),
        data: "????".into(),
    };
    assert_eq!(image_tokens(&junk), IMAGE_FALLBACK_TOKENS);
}

#[test]
fn empty_system_and_tools_cost_nothing() {
    let body = serde_json::json!({
        "model": "m", "system": [], "tools": [],
        "messages": [{"role": "user", "content": "hi"}]
    });
    let req: CountTokensRequest = serde_json::from_value(body).unwrap();
    assert_eq!(count_tokens(&req), PER_MESSAGE_TOKENS + o200k("hi"));
}

/// Every recorded Claude Code request gives a plausible count; prints
/// timings (run with `--nocapture`; not asserted): the tokenizer build, raw
/// BPE throughput, the first count of each request (memo cold for its new
/// texts) and repeated counts (memo warm, as for Claude Code's calls).
#[test]
fn claude_code_fixtures_are_plausible() {
    let started = Instant::now();
    warm_up();
    let build = started.elapsed();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name.ends_with(".headers.json") {
            continue;
        }
        bodies.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    bodies.sort();
    assert!(bodies.len() >= 12);
    let total_bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();

    let t = Instant::now();
    for (_, body) in &bodies {
        bpe_tokens(body);
    }
    let raw = t.elapsed();

    let requests: Vec<MessagesRequest> = bodies
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    let t = Instant::now();
    let count = |r: &MessagesRequest| {
        count_request_tokens(r.system.as_ref(), &r.messages, r.tools.as_deref())
    };
    let firsts: Vec<u64> = requests.iter().map(count).collect();
    let first = t.elapsed();
    const ROUNDS: u32 = 20;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        for (req, n) in requests.iter().zip(&firsts) {
            assert_eq!(count(req), *n);
        }
    }
    let warm = t.elapsed() / ROUNDS;

    for ((name, body), n) in bodies.iter().zip(&firsts) {
        let bytes = body.len() as u64;
        assert!(
            *n > bytes / 8 && *n < bytes / 2,
            "{name}: {n} tokens for {bytes} bytes"
        );
        eprintln!("{name}: {bytes} bytes -> {n} tokens");
    }
    let per = |d: std::time::Duration| d / bodies.len() as u32;
    eprintln!(
        "tokenizer build {build:?}; raw BPE {:.1} MB/s over {total_bytes} bytes; \
         per request: first count {:?}, repeated {:?}",
        total_bytes as f64 / raw.as_secs_f64() / 1e6,
        per(first),
        per(warm),
    );
}
