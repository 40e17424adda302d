//! Property tests of the Responses stream translator: for any output a
//! Responses upstream can send — reasoning summaries, messages with text
//! and refusal parts, parallel function calls whose argument deltas
//! interleave (sometimes every item's deltas at once), in any SSE chunking, streamed as deltas, as whole items or
//! as the final response only — the client's stream keeps Anthropic's
//! grammar and folds to exactly the message the non-streamed answer gives.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::ResponsesStreamTranslator;
use crate::protocol::anthropic::{StopReason, StreamEvent};
use crate::protocol::responses::ResponseObject;
use crate::sse::SseDecoder;
use crate::translate::{accumulate, ResponseContext};

#[derive(Debug, Clone)]
enum ItemSpec {
    /// Summary parts, each in delta pieces; whether it is encrypted.
    Reasoning(Vec<Vec<String>>, bool),
    /// Content parts (refusal or not), each in delta pieces.
    Message(Vec<(bool, Vec<String>)>),
    /// Call id (possibly empty or repeated) and argument pieces.
    Call(String, Vec<String>),
}

#[derive(Debug, Clone, Copy)]
enum Style {
    Deltas,
    DoneOnly,
    TerminalOnly,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Terminal {
    Completed,
    Incomplete(&'static str),
    Cut,
}

#[derive(Debug, Clone)]
struct Scenario {
    items: Vec<ItemSpec>,
    style: Style,
    terminal: Terminal,
    /// Pick the next item of a parallel group to send a delta for.
    interleave: Vec<usize>,
    /// Every item streams in parallel (not only consecutive calls).
    all_parallel: bool,
    /// Byte positions (modulo the stream's length) where SSE chunks split.
    cuts: Vec<usize>,
    stops: Vec<String>,
    usage: (u64, u64, u64),
}

fn pieces(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-zé S]{0,4}", 0..max)
}

fn args() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(String::new()),
        ("[a-z]{1,4}", "[a-z ]{0,6}", 0..100i64)
            .prop_map(|(k, v, n)| json!({ k: v, "n": n, "l": [1, {"x": null}] }).to_string()),
        // Cut off by the output limit.
        ("[a-z]{1,4}", "[a-z]{0,6}").prop_map(|(k, v)| format!("{{\"{k}\": \"{v}")),
    ]
    .prop_flat_map(|a| {
        let len = a.len();
        (Just(a), prop::collection::vec(0..=len, 0..3))
    })
    .prop_map(|(a, mut cuts)| {
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut at = 0;
        for c in cuts {
            // Arguments are ASCII here except inside values; keep boundaries.
            if c > at && a.is_char_boundary(c) {
                out.push(a[at..c].to_owned());
                at = c;
            }
        }
        out.push(a[at..].to_owned());
        out
    })
}

fn item() -> impl Strategy<Value = ItemSpec> {
    prop_oneof![
        (prop::collection::vec(pieces(4), 0..3), any::<bool>())
            .prop_map(|(p, e)| ItemSpec::Reasoning(p, e)),
        prop::collection::vec((prop::bool::weighted(0.15), pieces(4)), 1..3)
            .prop_map(ItemSpec::Message),
        (
            prop_oneof![Just("call_a"), Just("call_b"), Just(""), Just("fn.x:1")],
            args()
        )
            .prop_map(|(id, a)| ItemSpec::Call(id.to_owned(), a)),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let style = prop_oneof![
        6 => Just(Style::Deltas),
        1 => Just(Style::DoneOnly),
        1 => Just(Style::TerminalOnly)
    ];
    let terminal = prop_oneof![
        5 => Just(Terminal::Completed),
        1 => Just(Terminal::Incomplete("max_output_tokens")),
        1 => Just(Terminal::Incomplete("content_filter")),
        1 => Just(Terminal::Cut)
    ];
    let stops = prop_oneof![
        3 => Just(Vec::new()),
        1 => Just(vec!["S".to_owned()]),
        1 => Just(vec!["é S".to_owned(), "zz".to_owned()])
    ];
    (
        prop::collection::vec(item(), 0..6),
        style,
        terminal,
        (
            prop::collection::vec(0..8usize, 0..24),
            prop::bool::weighted(0.2),
        ),
        prop::collection::vec(0..10_000usize, 0..12),
        stops,
        (0..500u64, 0..100u64, 0..300u64),
    )
        .prop_map(
            |(items, style, terminal, (interleave, all_parallel), cuts, stops, usage)| Scenario {
                items,
                style,
                terminal,
                interleave,
                all_parallel,
                cuts,
                stops,
                usage,
            },
        )
}

/// The item as the upstream sends it whole.
fn item_json(k: usize, spec: &ItemSpec) -> Value {
    match spec {
        ItemSpec::Reasoning(parts, encrypted) => {
            let summary: Vec<Value> = parts
                .iter()
                .map(|p| json!({"type": "summary_text", "text": p.concat()}))
                .collect();
            let mut v = json!({"id": format!("rs_{k}"), "type": "reasoning", "summary": summary});
            if *encrypted {
                v["encrypted_content"] = json!(format!("gAAA{k}"));
            }
            v
        }
        ItemSpec::Message(parts) => {
            let content: Vec<Value> = parts
                .iter()
                .map(|(refusal, p)| {
                    if *refusal {
                        json!({"type": "refusal", "refusal": p.concat()})
                    } else {
                        json!({"type": "output_text", "text": p.concat(), "annotations": []})
                    }
                })
                .collect();
            json!({"id": format!("msg_{k}"), "type": "message", "role": "assistant",
                   "status": "completed", "content": content})
        }
        ItemSpec::Call(call_id, args) => {
            json!({"id": format!("fc_{k}"), "type": "function_call", "status": "completed",
                   "call_id": call_id, "name": "f", "arguments": args.concat()})
        }
    }
}

/// An item's `output_item.added`, deltas and `output_item.done`.
fn item_events(k: usize, spec: &ItemSpec) -> (Value, Vec<Value>, Value) {
    let whole = item_json(k, spec);
    let id = whole["id"].clone();
    let mut added = whole.clone();
    let mut deltas = Vec::new();
    match spec {
        ItemSpec::Reasoning(parts, _) => {
            added["summary"] = json!([]);
            for (s, p) in parts.iter().enumerate() {
                deltas.push(json!({"type": "response.reasoning_summary_part.added", "item_id": id,
                    "output_index": k, "summary_index": s, "part": {"type": "summary_text", "text": ""}}));
                for d in p {
                    deltas.push(
                        json!({"type": "response.reasoning_summary_text.delta", "item_id": id,
                        "output_index": k, "summary_index": s, "delta": d}),
                    );
                }
                deltas.push(
                    json!({"type": "response.reasoning_summary_text.done", "item_id": id,
                    "output_index": k, "summary_index": s, "text": p.concat()}),
                );
            }
        }
        ItemSpec::Message(parts) => {
            added["content"] = json!([]);
            for (c, (refusal, p)) in parts.iter().enumerate() {
                let kind = if *refusal {
                    "response.refusal.delta"
                } else {
                    "response.output_text.delta"
                };
                deltas.push(json!({"type": "response.content_part.added", "item_id": id,
                    "output_index": k, "content_index": c, "part": {"type": "output_text", "text": ""}}));
                for d in p {
                    deltas.push(json!({"type": kind, "item_id": id, "output_index": k,
                        "content_index": c, "delta": d}));
                }
            }
        }
        ItemSpec::Call(_, args) => {
            added["arguments"] = json!("");
            for d in args {
                deltas.push(
                    json!({"type": "response.function_call_arguments.delta", "item_id": id,
                    "output_index": k, "delta": d}),
                );
            }
            deltas.push(
                json!({"type": "response.function_call_arguments.done", "item_id": id,
                "output_index": k, "arguments": args.concat()}),
            );
        }
    }
    let added = json!({"type": "response.output_item.added", "output_index": k, "item": added});
    let done = json!({"type": "response.output_item.done", "output_index": k, "item": whole});
    (added, deltas, done)
}

fn response_json(s: &Scenario, status: &str) -> Value {
    let (input, cached, output) = s.usage;
    let items: Vec<Value> = s
        .items
        .iter()
        .enumerate()
        .map(|(k, i)| item_json(k, i))
        .collect();
    let mut r = json!({"id": "resp_P", "object": "response", "status": status, "output": items,
        "usage": {"input_tokens": input + cached, "input_tokens_details": {"cached_tokens": cached},
                  "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": input + cached + output}});
    if let Terminal::Incomplete(reason) = s.terminal {
        r["incomplete_details"] = json!({"reason": reason});
    }
    r
}

fn status(s: &Scenario) -> &'static str {
    match s.terminal {
        Terminal::Incomplete(_) => "incomplete",
        _ => "completed",
    }
}

/// The stream's event payloads.
fn payloads(s: &Scenario) -> Vec<Value> {
    let mut out = vec![
        json!({"type": "response.created", "response": {"id": "resp_P", "status": "in_progress", "output": []}}),
    ];
    let mut selectors = s.interleave.iter().copied();
    let mut k = 0;
    while k < s.items.len() {
        // Consecutive calls (or, sometimes, all items) stream in parallel:
        // all added, deltas interleaved, then done in an order of their own.
        let group_end = if s.all_parallel {
            s.items.len()
        } else if matches!(s.items[k], ItemSpec::Call(..)) {
            (k..s.items.len())
                .find(|j| !matches!(s.items[*j], ItemSpec::Call(..)))
                .unwrap_or(s.items.len())
        } else {
            k + 1
        };
        let group: Vec<(Value, Vec<Value>, Value)> = (k..group_end)
            .map(|j| item_events(j, &s.items[j]))
            .collect();
        match s.style {
            Style::Deltas => {
                let mut queues: Vec<Vec<Value>> = Vec::new();
                for (added, deltas, _) in &group {
                    out.push(added.clone());
                    queues.push(deltas.clone());
                }
                loop {
                    let live: Vec<usize> = (0..queues.len())
                        .filter(|q| !queues[*q].is_empty())
                        .collect();
                    if live.is_empty() {
                        break;
                    }
                    let q = live[selectors.next().unwrap_or(0) % live.len()];
                    out.push(queues[q].remove(0));
                }
                let mut dones: Vec<Value> = group.iter().map(|(_, _, d)| d.clone()).collect();
                let rotate = selectors.next().unwrap_or(0) % dones.len().max(1);
                dones.rotate_left(rotate);
                out.extend(dones);
            }
            Style::DoneOnly => out.extend(group.into_iter().map(|(_, _, d)| d)),
            Style::TerminalOnly => {}
        }
        k = group_end;
    }
    match s.terminal {
        Terminal::Completed => out
            .push(json!({"type": "response.completed", "response": response_json(s, "completed")})),
        Terminal::Incomplete(_) => out.push(
            json!({"type": "response.incomplete", "response": response_json(s, "incomplete")}),
        ),
        Terminal::Cut => {}
    }
    out
}

/// The payloads as SSE bytes cut into chunks, decoded again.
fn through_sse(payloads: &[Value], cuts: &[usize]) -> Vec<String> {
    let mut bytes = Vec::new();
    for p in payloads {
        bytes.extend_from_slice(
            format!(
                "event: {}\ndata: {p}\n\n",
                p["type"].as_str().unwrap_or("x")
            )
            .as_bytes(),
        );
    }
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.push(bytes.len());
    at.sort_unstable();
    let mut decoder = SseDecoder::new();
    let mut sse = Vec::new();
    let mut from = 0;
    for to in at {
        decoder.push(&bytes[from..to], &mut sse);
        from = to;
    }
    decoder.finish(&mut sse);
    sse.into_iter().map(|e| e.data).collect()
}

fn context(s: &Scenario) -> ResponseContext {
    ResponseContext {
        message_id: "msg_P".into(),
        model: "claude-p".into(),
        stop_sequences: s.stops.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn stream_is_valid_and_equals_non_stream(s in scenario()) {
        let ctx = context(&s);
        let mut t = ResponsesStreamTranslator::new(ctx.clone());
        let mut events = Vec::new();
        t.start(&mut events);
        for data in through_sse(&payloads(&s), &s.cuts) {
            t.push(&data, &mut events);
        }
        if !t.is_done() {
            t.finish(&mut events);
        }
        prop_assert!(t.is_done());
        let whole: ResponseObject = serde_json::from_value(response_json(&s, status(&s))).unwrap();
        let expected = super::from_responses_response(whole, &ctx).unwrap();
        let by_sequence = expected.stop_reason == Some(StopReason::StopSequence)
            && !matches!(s.style, Style::TerminalOnly);
        if s.terminal == Terminal::Cut && !by_sequence {
            // Cut stream: everything up to the error is still well formed.
            let kind = match events.last() {
                Some(StreamEvent::Error { error }) => error.kind.clone(),
                other => format!("{other:?}"),
            };
            prop_assert_eq!(kind, "api_error");
            prop_assert!(!events.iter().any(|e| matches!(e, StreamEvent::MessageStop)));
            return Ok(());
        }
        let got = accumulate(&events).map_err(|e| TestCaseError::fail(format!("{e}: {events:#?}")))?;
        prop_assert_eq!(&got.content, &expected.content);
        prop_assert_eq!(got.stop_reason, expected.stop_reason);
        prop_assert_eq!(&got.stop_sequence, &expected.stop_sequence);
        prop_assert_eq!(&got.id, &expected.id);
        prop_assert_eq!(&got.model, &expected.model);
        // A stream stopped by a stop sequence ends before usage arrives.
        if expected.stop_reason != Some(StopReason::StopSequence) {
            prop_assert_eq!(&got.usage, &expected.usage);
        }
        let starts = events.iter().filter(|e| matches!(e, StreamEvent::MessageStart { .. })).count();
        let deltas = events.iter().filter(|e| matches!(e, StreamEvent::MessageDelta { .. })).count();
        prop_assert_eq!((starts, deltas), (1, 1));
        prop_assert!(matches!(events.last(), Some(StreamEvent::MessageStop)));
    }
}
