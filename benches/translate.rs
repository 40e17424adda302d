//! Criterion benches of the pure translation work on a Claude Code-sized
//! request (tests/fixtures/claude-code/01-write-turn2.json, ~55 KB), of
//! the stream translators over realistic chunk sequences, and of the
//! non-streamed answers.
//!
//! `cargo bench --bench translate` (add `-- --quick` for a fast pass).
//! They report; nothing here gates CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::json;

use claude_proxy::protocol::anthropic::{MessagesRequest, StreamEvent};
use claude_proxy::protocol::gemini::GenerateContentResponse;
use claude_proxy::protocol::openai::ChatResponse;
use claude_proxy::sse::encode_events;
use claude_proxy::translate::gemini::{
    from_gemini_response, to_gemini_request, GeminiRequestOptions, GeminiStreamTranslator,
};
use claude_proxy::translate::openai::{
    from_openai_response, to_openai_request, MaxTokensField, OpenAiRequestOptions,
    OpenAiStreamTranslator,
};
use claude_proxy::translate::ResponseContext;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/claude-code/01-write-turn2.json"
);

/// The fixture as Claude Code sent it: compact JSON.
fn claude_code_body() -> Vec<u8> {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let v: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    serde_json::to_vec(&v).expect("encode")
}

fn ctx() -> ResponseContext {
    ResponseContext {
        message_id: "msg_01BenchXyZ".into(),
        model: "claude-opus-4-1".into(),
        stop_sequences: Vec::new(),
    }
}

const WORDS: [&str; 10] = [
    "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
];

/// An OpenAI stream as gpt-4o sends it: role chunk, 100 text deltas, a tool
/// call in 20 argument fragments, finish, usage, `[DONE]` (SSE payloads).
fn openai_chunks() -> Vec<String> {
    let head = |choices: serde_json::Value| {
        json!({"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1735689600,
               "model":"gpt-4o","system_fingerprint":"fp_bench","choices":choices})
        .to_string()
    };
    let mut v = vec![head(
        json!([{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]),
    )];
    for i in 0..100 {
        v.push(head(json!([{"index":0,"delta":{"content":WORDS[i % 10]},"logprobs":null,"finish_reason":null}])));
    }
    v.push(head(
        json!([{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_abc123","type":"function",
        "function":{"name":"Write","arguments":""}}]},"logprobs":null,"finish_reason":null}]),
    ));
    let args = r#"{"file_path":"/home/user/project/hello.txt","content":"hello\nworld\nthis is a longer file body"}"#;
    let step = args.len().div_ceil(20);
    for piece in args.as_bytes().chunks(step) {
        let piece = std::str::from_utf8(piece).unwrap();
        v.push(head(
            json!([{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":piece}}]},
            "logprobs":null,"finish_reason":null}]),
        ));
    }
    v.push(head(
        json!([{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]),
    ));
    let mut usage = serde_json::from_str::<serde_json::Value>(&head(json!([]))).unwrap();
    usage["usage"] = json!({"prompt_tokens":12000,"completion_tokens":140,"total_tokens":12140,
        "prompt_tokens_details":{"cached_tokens":11000}});
    v.push(usage.to_string());
    v.push("[DONE]".to_owned());
    v
}

/// A Gemini 2.5 stream: 10 thought chunks, 100 text chunks, a function call,
/// each with usage metadata like the real API.
fn gemini_chunks() -> Vec<String> {
    let chunk = |parts: serde_json::Value, finish: Option<&str>, out: usize| {
        let mut c = json!({"content":{"parts":parts,"role":"model"},"index":0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"candidates":[c],"usageMetadata":{"promptTokenCount":12000,"candidatesTokenCount":out,
            "thoughtsTokenCount":40,"totalTokenCount":12040 + out},
            "modelVersion":"gemini-2.5-flash","responseId":"bench"})
        .to_string()
    };
    let mut v = Vec::new();
    for i in 0..10 {
        v.push(chunk(
            json!([{"text":WORDS[i % 10],"thought":true}]),
            None,
            0,
        ));
    }
    for i in 0..100 {
        v.push(chunk(json!([{"text":WORDS[i % 10]}]), None, i + 1));
    }
    v.push(chunk(
        json!([{"functionCall":{"name":"Write","args":{"file_path":"/home/user/project/hello.txt",
            "content":"hello\nworld"}},"thoughtSignature":"Q2lRQmVuY2hTaWduYXR1cmU="}]),
        Some("STOP"),
        120,
    ));
    v
}

/// A whole OpenAI answer: reasoning, 1 KB of text, two tool calls, usage.
fn openai_response() -> String {
    let text: String = (0..200).map(|i| WORDS[i % 10]).collect();
    json!({"id":"chatcmpl-bench","object":"chat.completion","created":1735689600,"model":"gpt-4o",
        "choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"Let me think.",
            "content":text,"tool_calls":[
                {"id":"call_a","type":"function","function":{"name":"Write",
                    "arguments":"{\"file_path\":\"/home/user/project/hello.txt\",\"content\":\"hello\\nworld\"}"}},
                {"id":"call_b","type":"function","function":{"name":"Read",
                    "arguments":"{\"file_path\":\"/home/user/project/README.md\"}"}}]},
            "finish_reason":"tool_calls"}],
        "usage":{"prompt_tokens":12000,"completion_tokens":140,"total_tokens":12140,
            "prompt_tokens_details":{"cached_tokens":11000}}})
    .to_string()
}

/// A whole Gemini answer: a thought, 1 KB of text, two function calls, usage.
fn gemini_response() -> String {
    let text: String = (0..200).map(|i| WORDS[i % 10]).collect();
    json!({"candidates":[{"content":{"role":"model","parts":[
            {"text":"Let me think.","thought":true},
            {"text":text},
            {"functionCall":{"name":"Write","args":{"file_path":"/home/user/project/hello.txt",
                "content":"hello\nworld"}},"thoughtSignature":"Q2lRQmVuY2hTaWduYXR1cmU="},
            {"functionCall":{"name":"Read","args":{"file_path":"/home/user/project/README.md"}}}]},
        "finishReason":"STOP","index":0}],
        "usageMetadata":{"promptTokenCount":12000,"candidatesTokenCount":140,
            "thoughtsTokenCount":40,"totalTokenCount":12180},
        "modelVersion":"gemini-2.5-flash","responseId":"bench"})
    .to_string()
}

fn request_translation(c: &mut Criterion) {
    let body = claude_code_body();
    let req: MessagesRequest = serde_json::from_slice(&body).unwrap();
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse_messages_request_57k", |b| {
        b.iter(|| serde_json::from_slice::<MessagesRequest>(black_box(&body)).unwrap())
    });
    let oa = OpenAiRequestOptions {
        model: "gpt-4o",
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        max_tokens_cap: Some(32_000),
        stream: true,
    };
    g.bench_function("to_openai_request+serialize", |b| {
        b.iter(|| serde_json::to_vec(&to_openai_request(black_box(&req), &oa)).unwrap())
    });
    let gm = GeminiRequestOptions {
        model: "gemini-2.5-flash",
        max_tokens_cap: Some(32_000),
    };
    g.bench_function("to_gemini_request+serialize", |b| {
        b.iter(|| serde_json::to_vec(&to_gemini_request(black_box(&req), &gm)).unwrap())
    });
    g.bench_function("parse+to_openai_request+serialize", |b| {
        b.iter(|| {
            let req: MessagesRequest = serde_json::from_slice(black_box(&body)).unwrap();
            serde_json::to_vec(&to_openai_request(&req, &oa)).unwrap()
        })
    });
    g.finish();
}

fn stream_translation(c: &mut Criterion) {
    let oa = openai_chunks();
    let gm = gemini_chunks();
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Elements(oa.len() as u64));
    g.bench_function("openai_push_124_chunks", |b| {
        b.iter_batched(
            || {
                (
                    OpenAiStreamTranslator::new(ctx()),
                    Vec::<StreamEvent>::with_capacity(256),
                )
            },
            |(mut t, mut out)| {
                for p in &oa {
                    t.push(black_box(p), &mut out);
                }
                t.finish(&mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("openai_push+encode_124_chunks", |b| {
        b.iter_batched(
            || {
                (
                    OpenAiStreamTranslator::new(ctx()),
                    BytesMut::with_capacity(32 * 1024),
                )
            },
            |(mut t, mut buf)| {
                let mut out = Vec::new();
                for p in &oa {
                    t.push(black_box(p), &mut out);
                    encode_events(&out, &mut buf);
                    out.clear();
                }
                t.finish(&mut out);
                encode_events(&out, &mut buf);
                buf
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(gm.len() as u64));
    g.bench_function("gemini_push_111_chunks", |b| {
        b.iter_batched(
            || {
                (
                    GeminiStreamTranslator::new(ctx()),
                    Vec::<StreamEvent>::with_capacity(256),
                )
            },
            |(mut t, mut out)| {
                for p in &gm {
                    t.push(black_box(p), &mut out);
                }
                t.finish(&mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn response_translation(c: &mut Criterion) {
    let oa = openai_response();
    let gm = gemini_response();
    let mut g = c.benchmark_group("response");
    g.bench_function("parse+from_openai_response", |b| {
        b.iter(|| {
            let resp: ChatResponse = serde_json::from_str(black_box(&oa)).unwrap();
            from_openai_response(resp, &ctx()).unwrap()
        })
    });
    g.bench_function("parse+from_gemini_response", |b| {
        b.iter(|| {
            let resp: GenerateContentResponse = serde_json::from_str(black_box(&gm)).unwrap();
            from_gemini_response(resp, &ctx()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    request_translation,
    stream_translation,
    response_translation
);
criterion_main!(benches);
