//! The non-streamed answer, scenario by scenario, and the property that any
//! chunking of the same pieces streams to that same message.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::protocol::anthropic::{ResponseBlock, StopReason, StreamEvent, Usage};
use crate::protocol::openai::{
    ChatUsage, Choice, PromptTokensDetails, ResponseFunction, ResponseMessage, ResponseToolCall,
};
use crate::translate::accumulate;
use crate::translate::openai::thinking_signature;

fn ctx(stops: &[&str]) -> ResponseContext {
    ResponseContext {
        message_id: "msg_T".into(),
        model: "claude-x".into(),
        stop_sequences: stops.iter().map(|s| s.to_string()).collect(),
    }
}

fn translate(body: Value, stops: &[&str]) -> MessagesResponse {
    let resp: ChatResponse = serde_json::from_value(body).unwrap();
    from_openai_response(resp, &ctx(stops)).unwrap()
}

#[test]
fn text_reasoning_tools_and_usage() {
    let m = translate(
        json!({"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant",
            "reasoning_content":"think","reasoning":"ignored","content":"Let me check.",
            "tool_calls":[
              {"id":"call_A","type":"function","function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}},
              {"id":"functions.Read:1","type":"function","function":{"name":"Read","arguments":{"p":1}}},
              {"type":"function","function":{"name":"Noargs","arguments":""}},
              {"id":"call_X","type":"function","function":{"arguments":"{}"}}
            ]},"finish_reason":"stop"}],
          "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
                   "prompt_tokens_details":{"cached_tokens":64}}}),
        &[],
    );
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(
        v,
        json!({"id":"msg_T","type":"message","role":"assistant","model":"claude-x",
          "content":[
            {"type":"thinking","thinking":"think","signature":thinking_signature()},
            {"type":"text","text":"Let me check."},
            {"type":"tool_use","id":"call_A","name":"get","input":{"city":"Paris"}},
            {"type":"tool_use","id":"functions_Read_1","name":"Read","input":{"p":1}},
            {"type":"tool_use","id":"toolu_T02","name":"Noargs","input":{}}
          ],
          "stop_reason":"tool_use","stop_sequence":null,
          "usage":{"input_tokens":56,"output_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":64}})
    );
}

#[test]
fn vllm_reasoning_field_and_empty_content() {
    let m = translate(
        json!({"choices":[{"message":{"content":"","reasoning":"r"},"finish_reason":"length"}]}),
        &[],
    );
    assert_eq!(m.content.len(), 1);
    assert!(matches!(&m.content[0], ResponseBlock::Thinking { thinking, .. } if thinking == "r"));
    assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
    assert_eq!(m.usage, Usage::default());
}

#[test]
fn refusal_becomes_text_and_refusal_stop() {
    let m = translate(
        json!({"choices":[{"message":{"content":null,"refusal":"I can't."},"finish_reason":"stop"}]}),
        &[],
    );
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "I can't.".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::Refusal));
    let m = translate(
        json!({"choices":[{"message":{},"finish_reason":"content_filter"}]}),
        &[],
    );
    assert!(m.content.is_empty());
    assert_eq!(m.stop_reason, Some(StopReason::Refusal));
}

#[test]
fn finish_reasons() {
    let stop = |f: Value| {
        translate(
            json!({"choices":[{"message":{"content":"x"},"finish_reason":f}]}),
            &[],
        )
        .stop_reason
    };
    assert_eq!(stop(json!("stop")), Some(StopReason::EndTurn));
    assert_eq!(stop(json!("length")), Some(StopReason::MaxTokens));
    assert_eq!(stop(json!(null)), Some(StopReason::EndTurn));
    assert_eq!(stop(json!("eos")), Some(StopReason::EndTurn));
    let m = translate(
        json!({"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"length"}]}),
        &[],
    );
    assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
    assert!(matches!(&m.content[0], ResponseBlock::ToolUse { input, .. } if input == &json!({})));
}

#[test]
fn stop_sequence_cuts_text_and_drops_tools() {
    let m = translate(
        json!({"choices":[{"message":{"content":"one two STOP three",
            "tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}),
        &["STOP", "three"],
    );
    assert_eq!(
        m.content,
        vec![ResponseBlock::Text {
            text: "one two ".into()
        }]
    );
    assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
    assert_eq!(m.stop_sequence.as_deref(), Some("STOP"));
    let m = translate(
        json!({"choices":[{"message":{"content":"STOP"},"finish_reason":"stop"}]}),
        &["STOP"],
    );
    assert!(m.content.is_empty());
}

#[test]
fn vllm_stop_reason_names_the_sequence() {
    let m = translate(
        json!({"choices":[{"message":{"content":"abc"},"finish_reason":"stop","stop_reason":"END"}]}),
        &["END"],
    );
    assert_eq!(m.stop_reason, Some(StopReason::StopSequence));
    assert_eq!(m.stop_sequence.as_deref(), Some("END"));
    let m = translate(
        json!({"choices":[{"message":{"content":"abc"},"finish_reason":"stop","stop_reason":151643}]}),
        &["END"],
    );
    assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
}

#[test]
fn no_choices_is_an_empty_end_turn() {
    let m = translate(json!({"choices":null}), &[]);
    assert!(m.content.is_empty());
    assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
    let v = serde_json::to_value(&m).unwrap();
    assert!(v.as_object().unwrap().contains_key("stop_sequence"));
}

// ---------------------------------------------------------------------------
// Property: any plausible chunk sequence yields a valid Anthropic event
// sequence, and it accumulates to the same message as the non-streamed
// response made of the same pieces.

/// How a server delivers tool-call fragments (docs/translation.md, "OpenAI
/// streams").
#[derive(Debug, Clone, Copy)]
enum Keying {
    /// OpenAI: `index` on every fragment, id and name on the first.
    Indexed,
    /// Ollama: every call whole in one fragment, all at `index: 0`.
    OllamaIndexZero,
    /// No `index`; the id on every fragment.
    ById,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    name: String,
    args: String,
    /// Split points into `args` (ASCII, so any byte offset is a boundary).
    cuts: Vec<usize>,
}

impl Call {
    fn pieces(&self) -> Vec<&str> {
        let mut cuts: Vec<usize> = self
            .cuts
            .iter()
            .map(|c| c % (self.args.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain([self.args.len()]) {
            out.push(&self.args[prev..c]);
            prev = c;
        }
        out
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    reasoning: Vec<String>,
    reasoning_field: &'static str,
    text: Vec<String>,
    calls: Vec<Call>,
    keying: Keying,
    interleave: Vec<usize>,
    finish: Option<&'static str>,
    /// 0: none, 1: usage-only chunk, 2: on the finish chunk.
    usage_at: u8,
    usage: (u64, u64, u64),
    done: bool,
    stops: Vec<String>,
}

fn args_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("{}".to_owned()),
        ("[a-z]{1,4}", "[a-z \"]{0,6}", 0i64..1000)
            .prop_map(|(k, v, n)| json!({ k: v, "n": n, "l": [1, {"x": null}] }).to_string()),
        // Truncated by a length limit.
        ("[a-z]{1,4}", "[a-z]{0,6}").prop_map(|(k, v)| format!("{{\"{k}\": \"{v}")),
        Just("[1,2]".to_owned()),
        Just("\"{\\\"d\\\":1}\"".to_owned()),
        Just("not json".to_owned()),
    ]
}

fn call_strategy() -> impl Strategy<Value = Call> {
    (
        prop_oneof![Just("call_"), Just("functions.f:"), Just("")],
        "[a-zA-Z_]{1,6}",
        args_strategy(),
        prop::collection::vec(0usize..64, 0..5),
    )
        .prop_map(|(id_prefix, name, args, cuts)| Call {
            id: id_prefix.to_owned(),
            name,
            args,
            cuts,
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let stops = prop_oneof![
        Just(vec![]),
        Just(vec!["END".to_owned()]),
        Just(vec!["\n\n".to_owned(), "é!".to_owned(), "aEb".to_owned()]),
    ];
    (
        (
            prop::collection::vec("[a-z ]{0,4}", 0..4),
            prop_oneof![Just("reasoning_content"), Just("reasoning")],
            prop::collection::vec("[abEND \né!]{0,5}", 0..8),
            prop::collection::vec(call_strategy(), 0..4),
            prop_oneof![
                Just(Keying::Indexed),
                Just(Keying::OllamaIndexZero),
                Just(Keying::ById)
            ],
            prop::collection::vec(any::<usize>(), 0..24),
        ),
        (
            prop_oneof![
                Just(None),
                Just(Some("stop")),
                Just(Some("length")),
                Just(Some("tool_calls")),
                Just(Some("content_filter")),
            ],
            0u8..3,
            (0u64..500, 0u64..100, 0u64..50),
            any::<bool>(),
            stops,
        ),
    )
        .prop_map(
            |(
                (reasoning, reasoning_field, text, mut calls, keying, interleave),
                (finish, usage_at, usage, done, stops),
            )| {
                // Distinct upstream ids (an empty prefix means "no id").
                for (k, c) in calls.iter_mut().enumerate() {
                    if !c.id.is_empty() || matches!(keying, Keying::ById | Keying::OllamaIndexZero)
                    {
                        c.id = format!("{}{k}", if c.id.is_empty() { "id" } else { &c.id });
                    }
                }
                Scenario {
                    reasoning,
                    reasoning_field,
                    text,
                    calls,
                    keying,
                    interleave,
                    finish,
                    usage_at,
                    usage,
                    done,
                    stops,
                }
            },
        )
}

fn usage_json(s: &Scenario) -> Value {
    let (prompt, completion, cached) = s.usage;
    json!({"prompt_tokens": prompt + cached, "completion_tokens": completion,
           "total_tokens": prompt + cached + completion,
           "prompt_tokens_details": {"cached_tokens": cached}})
}

fn delta_chunk(delta: Value) -> String {
    json!({"object":"chat.completion.chunk","choices":[{"index":0,"delta":delta,"finish_reason":null}],"usage":null})
        .to_string()
}

/// The chunk payloads, and the calls in the order the stream first sees them.
fn chunks(s: &Scenario) -> (Vec<String>, Vec<usize>) {
    let mut out = vec![delta_chunk(json!({"role":"assistant","content":""}))];
    for r in &s.reasoning {
        out.push(delta_chunk(json!({ s.reasoning_field: r })));
    }
    for t in &s.text {
        out.push(delta_chunk(json!({ "content": t })));
    }
    // Per-call fragment queues, then an interleaving of them.
    let mut queues: Vec<Vec<Value>> = s
        .calls
        .iter()
        .enumerate()
        .map(|(k, c)| match s.keying {
            Keying::OllamaIndexZero => vec![json!({"index":0,"id":c.id,"type":"function",
                "function":{"name":c.name,"arguments":c.args}})],
            Keying::Indexed | Keying::ById => c
                .pieces()
                .iter()
                .enumerate()
                .map(|(n, piece)| {
                    let mut f = json!({"function":{"arguments":piece}});
                    if matches!(s.keying, Keying::Indexed) {
                        f["index"] = json!(k);
                    }
                    if (n == 0 || matches!(s.keying, Keying::ById)) && !c.id.is_empty() {
                        f["id"] = json!(c.id);
                    }
                    if n == 0 {
                        f["type"] = json!("function");
                        f["function"]["name"] = json!(c.name);
                    }
                    f
                })
                .collect(),
        })
        .collect();
    if matches!(s.keying, Keying::ById) {
        // Without index, an id-less first fragment could not be told apart.
        queues
            .iter_mut()
            .for_each(|q| q.retain(|f| f.get("id").is_some()));
    }
    let mut first_seen = Vec::new();
    let mut selectors = s.interleave.iter().copied();
    loop {
        let live: Vec<usize> = (0..queues.len())
            .filter(|k| !queues[*k].is_empty())
            .collect();
        if live.is_empty() {
            break;
        }
        let k = match selectors.next() {
            Some(sel) if !matches!(s.keying, Keying::OllamaIndexZero) => live[sel % live.len()],
            _ => live[0],
        };
        if !first_seen.contains(&k) {
            first_seen.push(k);
        }
        let fragment = queues[k].remove(0);
        out.push(delta_chunk(json!({ "tool_calls": [fragment] })));
    }
    if let Some(f) = s.finish {
        let mut c = json!({"choices":[{"index":0,"delta":{},"finish_reason":f}]});
        if s.usage_at == 2 {
            c["usage"] = usage_json(s);
        }
        out.push(c.to_string());
    }
    if s.usage_at == 1 {
        out.push(json!({"choices":[],"usage":usage_json(s)}).to_string());
    }
    if s.done {
        out.push("[DONE]".to_owned());
    }
    (out, first_seen)
}

/// The non-streamed response made of the same pieces.
fn whole_response(s: &Scenario, first_seen: &[usize]) -> ChatResponse {
    let reasoning: String = s.reasoning.concat();
    let mut message = ResponseMessage {
        content: Some(s.text.concat()),
        ..ResponseMessage::default()
    };
    if s.reasoning_field == "reasoning" {
        message.reasoning = Some(reasoning);
    } else {
        message.reasoning_content = Some(reasoning);
    }
    message.tool_calls = Some(
        first_seen
            .iter()
            .map(|k| {
                let c = &s.calls[*k];
                ResponseToolCall {
                    id: (!c.id.is_empty()).then(|| c.id.clone()),
                    function: ResponseFunction {
                        name: Some(c.name.clone()),
                        arguments: Some(Value::String(match s.keying {
                            Keying::ById if c.id.is_empty() => String::new(),
                            _ => c.args.clone(),
                        })),
                    },
                }
            })
            .collect(),
    );
    let (prompt, completion, cached) = s.usage;
    ChatResponse {
        choices: vec![Choice {
            message,
            finish_reason: s.finish.map(str::to_owned),
            stop_reason: None,
        }],
        usage: (s.usage_at == 1 || (s.usage_at == 2 && s.finish.is_some())).then(|| ChatUsage {
            prompt_tokens: prompt + cached,
            completion_tokens: completion,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(cached),
                cache_write_tokens: None,
            }),
            ..ChatUsage::default()
        }),
    }
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
        let (payloads, first_seen) = chunks(&s);
        let ctx = context(&s);
        let mut t = OpenAiStreamTranslator::new(ctx.clone());
        let mut events = Vec::new();
        t.start(&mut events);
        for p in &payloads {
            t.push(p, &mut events);
        }
        t.finish(&mut events);
        prop_assert!(t.is_done());
        let expected = from_openai_response(whole_response(&s, &first_seen), &ctx).unwrap();
        let stopped_by_sequence = expected.stop_reason == Some(StopReason::StopSequence);

        if !s.done && s.finish.is_none() && !stopped_by_sequence {
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
        if !stopped_by_sequence {
            prop_assert_eq!(&got.usage, &expected.usage);
        }
        let starts = events.iter().filter(|e| matches!(e, StreamEvent::MessageStart { .. })).count();
        let deltas = events.iter().filter(|e| matches!(e, StreamEvent::MessageDelta { .. })).count();
        prop_assert_eq!((starts, deltas), (1, 1));
        prop_assert!(matches!(events.last(), Some(StreamEvent::MessageStop)));
    }
}
