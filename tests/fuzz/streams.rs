//! Target group 3: upstream event streams. Chunk sequences for OpenAI and
//! Gemini — plausible ones (text, reasoning, tool-call fragments for
//! several calls, finish reasons, usage) with a known expected answer, and
//! chaotic ones (error objects, finish reasons anywhere, arbitrary JSON,
//! garbage lines) — are framed as SSE text (LF, CRLF or CR, comments,
//! multi-line data, a last event without its blank line), cut at arbitrary
//! byte boundaries (inside UTF-8 sequences too), and fed through
//! `SseDecoder` into the stream translator, as the proxy does.
//!
//! Invariants: no panic; the events obey Anthropic's stream grammar
//! (`grammar::check_stream`); how the bytes were cut changes nothing;
//! nothing is emitted once the stream ended; the output is at most a
//! linear function of the input; and for plausible streams, the text,
//! thinking, tool calls and stop reason are the ones the chunks carried.

use claude_proxy::error::ErrorKind;
use claude_proxy::protocol::anthropic::StreamEvent;
use claude_proxy::sse::SseDecoder;
use claude_proxy::translate::gemini::GeminiStreamTranslator;
use claude_proxy::translate::openai::OpenAiStreamTranslator;
use claude_proxy::translate::{ResponseContext, SYNTHETIC_SIGNATURE_PREFIX};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use crate::gen::{bytes, cut_points, exact_object, json, member, object, pieces, text};
use crate::grammar::{check_stream, Block, End, Outcome};
use crate::harness::{check, fuzz};
use crate::responses::{
    arguments, context, gemini_error, gemini_finish, gemini_response, gemini_usage, openai_usage,
};

/// The client's SSE text may be this many times the upstream's (plus the
/// slack): a one-character delta costs a few dozen bytes of framing on
/// either side, block changes add start/stop events and signatures.
const GROWTH_FACTOR: usize = 16;
const GROWTH_SLACK: usize = 4096;

/// The stream translators, as the proxy drives them.
pub trait Translator {
    fn start(&mut self, out: &mut Vec<StreamEvent>);
    fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>);
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
    fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>);
    fn is_done(&self) -> bool;
}

macro_rules! translator {
    ($t:ty) => {
        impl Translator for $t {
            fn start(&mut self, out: &mut Vec<StreamEvent>) {
                <$t>::start(self, out)
            }
            fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
                <$t>::push(self, data, out)
            }
            fn finish(&mut self, out: &mut Vec<StreamEvent>) {
                <$t>::finish(self, out)
            }
            fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>) {
                <$t>::fail(self, kind, message, out)
            }
            fn is_done(&self) -> bool {
                <$t>::is_done(self)
            }
        }
    };
}
translator!(OpenAiStreamTranslator);
translator!(GeminiStreamTranslator);

/// One SSE event of the upstream.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A `data:` payload (a `\n` in it starts another `data:` line).
    Data(String),
    /// A raw line (no line break of its own), then a blank line.
    Line(Vec<u8>),
}

/// A chunk as compact or pretty-printed (multi-line) JSON.
fn chunk(v: &Value, pretty: bool) -> Payload {
    let s = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    };
    Payload::Data(s.unwrap_or_default())
}

/// How events are framed: per event a style byte (line ending, an
/// `event:` line, `data:` without its space, a comment first), and how the
/// body ends.
#[derive(Debug, Clone)]
pub struct Framing {
    styles: Vec<u8>,
    /// 0: complete; 1: no blank line after the last event; 2: not even a
    /// line break.
    tail: u8,
}

fn framing() -> impl Strategy<Value = Framing> {
    (proptest::collection::vec(any::<u8>(), 1..6), 0u8..3)
        .prop_map(|(styles, tail)| Framing { styles, tail })
}

/// The upstream's body.
pub fn frame(payloads: &[Payload], f: &Framing) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let style = f.styles[i % f.styles.len()];
        let eol: &[u8] = match style & 3 {
            1 => b"\r\n",
            2 => b"\r",
            _ => b"\n",
        };
        if style & 16 != 0 {
            out.extend_from_slice(b": keep-alive");
            out.extend_from_slice(eol);
        }
        if style & 4 != 0 {
            out.extend_from_slice(b"event: chunk");
            out.extend_from_slice(eol);
        }
        let last = i + 1 == payloads.len();
        match p {
            Payload::Data(s) => {
                let lines: Vec<&str> = s.split('\n').collect();
                for (j, line) in lines.iter().enumerate() {
                    out.extend_from_slice(if style & 8 != 0 { b"data:" } else { b"data: " });
                    out.extend_from_slice(line.as_bytes());
                    if !(last && f.tail == 2 && j + 1 == lines.len()) {
                        out.extend_from_slice(eol);
                    }
                }
            }
            Payload::Line(b) => {
                out.extend_from_slice(b);
                if !(last && f.tail == 2) {
                    out.extend_from_slice(eol);
                }
            }
        }
        if !(last && f.tail > 0) {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// A line that is never a chunk: a comment, another field, or a `data:`
/// that is not JSON.
fn harmless_line() -> impl Strategy<Value = Payload> {
    let clean = || text(16).prop_map(|t| t.replace(['\r', '\n'], " "));
    prop_oneof![
        clean().prop_map(|t| Payload::Line(format!(": {t}").into_bytes())),
        (select(vec!["id", "retry", "event", "x-foo"]), clean())
            .prop_map(|(f, t)| Payload::Line(format!("{f}: {t}").into_bytes())),
        clean().prop_map(|t| Payload::Data(format!("#{t}"))),
    ]
}

/// A line of anything at all (line breaks included).
fn garbage_line() -> impl Strategy<Value = Payload> {
    prop_oneof![
        bytes(40).prop_map(Payload::Line),
        bytes(40).prop_map(|b| {
            let mut l = b"data: ".to_vec();
            l.extend(b);
            Payload::Line(l)
        }),
        harmless_line(),
    ]
}

/// Where a transport failure interrupts the stream: after piece `at` of the
/// cut body.
#[derive(Debug, Clone)]
pub struct Interruption {
    at: Index,
    timeout: bool,
}

fn interruption() -> impl Strategy<Value = Option<Interruption>> {
    proptest::option::weighted(
        0.15,
        (any::<Index>(), any::<bool>()).prop_map(|(at, timeout)| Interruption { at, timeout }),
    )
}

/// How the bytes reach the decoder.
#[derive(Debug, Clone)]
pub struct Delivery {
    cuts: Vec<Index>,
    bytewise: bool,
    /// Call `start` before the first byte, as the proxy does on a 200.
    start_first: bool,
    interruption: Option<Interruption>,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        proptest::collection::vec(any::<Index>(), 0..24),
        proptest::bool::weighted(0.1),
        any::<bool>(),
        interruption(),
    )
        .prop_map(|(cuts, bytewise, start_first, interruption)| Delivery {
            cuts,
            bytewise,
            start_first,
            interruption,
        })
}

/// Feeds `body` cut at `cuts` through a decoder into `t`, the way the
/// proxy's stream relay does; `fail_after` interrupts it after that piece.
fn drive<T: Translator>(
    mut t: T,
    body: &[u8],
    cuts: &[usize],
    start_first: bool,
    fail_after: Option<(usize, ErrorKind)>,
) -> Result<Vec<StreamEvent>, String> {
    let mut decoder = SseDecoder::new();
    let mut sse = Vec::new();
    let mut out = Vec::new();
    if start_first {
        t.start(&mut out);
    }
    let mut interrupted = false;
    for (i, piece) in pieces(body, cuts).into_iter().enumerate() {
        decoder.push(piece, &mut sse);
        for ev in sse.drain(..) {
            if t.is_done() {
                break;
            }
            t.push(&ev.data, &mut out);
        }
        if let Some((at, kind)) = fail_after {
            if at == i {
                t.fail(kind, "upstream connection broke mid-stream", &mut out);
                interrupted = true;
                break;
            }
        }
    }
    if !interrupted {
        decoder.finish(&mut sse);
        for ev in sse.drain(..) {
            if t.is_done() {
                break;
            }
            t.push(&ev.data, &mut out);
        }
        if !t.is_done() {
            t.finish(&mut out);
        }
    }
    if !t.is_done() {
        return Err("translator not done after finish".into());
    }
    // Nothing may follow the end.
    let n = out.len();
    t.push(r#"{"choices":[{"delta":{"content":"late"}}],"candidates":[{"content":{"parts":[{"text":"late"}]}}]}"#, &mut out);
    t.finish(&mut out);
    t.fail(ErrorKind::Api, "late", &mut out);
    t.start(&mut out);
    if out.len() != n {
        return Err(format!("events after the end: {:?}", &out[n..]));
    }
    Ok(out)
}

/// Runs one stream with every check that does not depend on its content.
fn run<T: Translator>(
    make: impl Fn() -> T,
    body: &[u8],
    d: &Delivery,
    ctx: &ResponseContext,
) -> Result<(Outcome, bool), String> {
    let cuts = cut_points(body.len(), &d.cuts, d.bytewise);
    let fail_after = d.interruption.as_ref().map(|i| {
        let kind = if i.timeout {
            ErrorKind::Timeout
        } else {
            ErrorKind::Api
        };
        (i.at.index(cuts.len() + 1), kind)
    });
    let events = drive(make(), body, &cuts, d.start_first, fail_after)?;
    if fail_after.is_none() {
        let whole = drive(make(), body, &[], d.start_first, None)?;
        if whole != events {
            return Err(format!(
                "cutting the body changed the events:\nwhole: {whole:?}\ncut:   {events:?}"
            ));
        }
    }
    let outcome = check_stream(&events, ctx)?;
    if outcome.bytes > GROWTH_FACTOR * body.len() + GROWTH_SLACK {
        return Err(format!(
            "{} bytes out for {} bytes in",
            outcome.bytes,
            body.len()
        ));
    }
    Ok((outcome, fail_after.is_some()))
}

// ---------------------------------------------------------------------------
// OpenAI

#[derive(Debug, Clone)]
enum OaStep {
    Content(String),
    /// Reasoning text, in `reasoning` (true) or `reasoning_content`.
    Reasoning(String, bool),
    Refusal(String),
    /// The next fragment of call `n % calls`.
    Tool(usize),
    RoleOnly,
    NoChoices,
    Harmless(Payload),
}

#[derive(Debug, Clone)]
struct OaCall {
    id: String,
    name: String,
    args: Value,
    cuts: Vec<Index>,
}

#[derive(Debug, Clone)]
struct OaPlan {
    steps: Vec<OaStep>,
    calls: Vec<OaCall>,
    finish: Option<&'static str>,
    usage: Option<(u64, u64)>,
    usage_with_finish: bool,
    done: bool,
    pretty: bool,
}

fn oa_plan() -> impl Strategy<Value = OaPlan> {
    let step = prop_oneof![
        6 => text(12).prop_map(OaStep::Content),
        3 => (text(12), any::<bool>()).prop_map(|(t, alt)| OaStep::Reasoning(t, alt)),
        1 => text(8).prop_map(OaStep::Refusal),
        4 => any::<usize>().prop_map(OaStep::Tool),
        1 => Just(OaStep::RoleOnly),
        1 => Just(OaStep::NoChoices),
        1 => harmless_line().prop_map(OaStep::Harmless),
    ];
    let call = (
        select(vec!["call_a", "call_b", "functions.Read:0", "call_a", ""]),
        prop_oneof![
            select(vec!["Read", "Bash", "get_weather"]).prop_map(str::to_owned),
            crate::gen::nonempty_text(8)
        ],
        exact_object(),
        proptest::collection::vec(any::<Index>(), 0..4),
    )
        .prop_map(|(id, name, args, cuts)| OaCall {
            id: id.to_owned(),
            name,
            args,
            cuts,
        });
    (
        proptest::collection::vec(step, 0..24),
        proptest::collection::vec(call, 0..4),
        proptest::option::weighted(
            0.85,
            select(vec![
                "stop",
                "length",
                "tool_calls",
                "content_filter",
                "function_call",
                "eos",
            ]),
        ),
        proptest::option::of((0u64..10_000, 0u64..10_000)),
        any::<bool>(),
        any::<bool>(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(steps, calls, finish, usage, usage_with_finish, done, pretty)| OaPlan {
                steps,
                calls,
                finish,
                usage,
                usage_with_finish,
                done,
                pretty,
            },
        )
}

/// What a plausible stream must turn into.
#[derive(Debug, Default)]
struct Expected {
    text: String,
    thinking: String,
    tools: Vec<(String, Value)>,
    stop_reason: Option<&'static str>,
    output_tokens: Option<u64>,
    /// Signatures the upstream sent (Gemini).
    signatures: Vec<String>,
}

/// `s` cut into pieces at char boundaries.
fn split_str(s: &str, cuts: &[Index]) -> Vec<String> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| {
            let mut i = c.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        })
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for a in at {
        out.push(s[from..a].to_owned());
        from = a;
    }
    out.push(s[from..].to_owned());
    out
}

fn oa_chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn build_openai(plan: &OaPlan) -> (Vec<Payload>, Expected) {
    let mut out = Vec::new();
    let mut exp = Expected::default();
    let mut refusal = false;
    let fragments: Vec<Vec<Value>> = plan
        .calls
        .iter()
        .enumerate()
        .map(|(k, c)| {
            split_str(&c.args.to_string(), &c.cuts)
                .into_iter()
                .enumerate()
                .map(|(j, piece)| {
                    if j == 0 {
                        json!({"index": k, "id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": piece}})
                    } else {
                        json!({"index": k, "function": {"arguments": piece}})
                    }
                })
                .collect()
        })
        .collect();
    let mut next = vec![0usize; plan.calls.len()];
    let mut order = Vec::new();
    let pretty = plan.pretty;
    let usage = plan
        .usage
        .map(|(p, c)| json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}));
    let fragment =
        |k: usize, out: &mut Vec<Payload>, next: &mut Vec<usize>, order: &mut Vec<usize>| {
            if next[k] == 0 {
                order.push(k);
            }
            out.push(chunk(
                &oa_chunk(json!({"tool_calls": [fragments[k][next[k]]]}), None),
                pretty,
            ));
            next[k] += 1;
        };
    for step in &plan.steps {
        match step {
            OaStep::Content(t) => {
                out.push(chunk(&oa_chunk(json!({"content": t}), None), pretty));
                exp.text.push_str(t);
            }
            OaStep::Reasoning(t, alt) => {
                let field = if *alt {
                    "reasoning"
                } else {
                    "reasoning_content"
                };
                out.push(chunk(&oa_chunk(json!({ field: t }), None), pretty));
                exp.thinking.push_str(t);
            }
            OaStep::Refusal(t) => {
                out.push(chunk(&oa_chunk(json!({"refusal": t}), None), pretty));
                exp.text.push_str(t);
                refusal |= !t.is_empty();
            }
            OaStep::Tool(n) if !plan.calls.is_empty() => {
                let k = n % plan.calls.len();
                if next[k] < fragments[k].len() {
                    fragment(k, &mut out, &mut next, &mut order);
                }
            }
            OaStep::Tool(_) => {}
            OaStep::RoleOnly => out.push(chunk(
                &oa_chunk(json!({"role": "assistant", "content": ""}), None),
                pretty,
            )),
            OaStep::NoChoices => {
                out.push(chunk(&json!({"id": "chatcmpl-1", "choices": []}), pretty))
            }
            OaStep::Harmless(p) => out.push(p.clone()),
        }
    }
    for k in 0..plan.calls.len() {
        while next[k] < fragments[k].len() {
            fragment(k, &mut out, &mut next, &mut order);
        }
    }
    if let Some(f) = plan.finish {
        let mut c = oa_chunk(json!({}), Some(f));
        if plan.usage_with_finish {
            if let Some(u) = &usage {
                c["usage"] = u.clone();
            }
        }
        out.push(chunk(&c, pretty));
    }
    if !plan.usage_with_finish || plan.finish.is_none() {
        if let Some(u) = &usage {
            out.push(chunk(
                &json!({"id": "chatcmpl-1", "choices": [], "usage": u}),
                pretty,
            ));
        }
    }
    if plan.done {
        out.push(Payload::Data("[DONE]".into()));
    }
    exp.tools = order
        .iter()
        .map(|&k| (plan.calls[k].name.clone(), plan.calls[k].args.clone()))
        .collect();
    exp.output_tokens = plan.usage.map(|(_, c)| c);
    let reason = match plan.finish {
        Some("length") => "max_tokens",
        _ if !exp.tools.is_empty() => "tool_use",
        Some("content_filter") => "refusal",
        _ if refusal => "refusal",
        _ => "end_turn",
    };
    exp.stop_reason = (plan.finish.is_some() || plan.done).then_some(reason);
    (out, exp)
}

/// Compares a plausible stream's outcome with what its chunks carried.
fn compare(outcome: &Outcome, exp: &Expected, interrupted: bool) -> Result<(), String> {
    let text = outcome.text();
    let thinking = outcome.thinking();
    if !exp.text.starts_with(&text) {
        return Err(format!("text {text:?} is not a prefix of {:?}", exp.text));
    }
    if !exp.thinking.starts_with(&thinking) {
        return Err(format!(
            "thinking {thinking:?} is not a prefix of {:?}",
            exp.thinking
        ));
    }
    if let End::Stop {
        stop_reason,
        stop_sequence: Some(seq),
        ..
    } = &outcome.end
    {
        if stop_reason != "stop_sequence" || !exp.text[text.len()..].starts_with(seq.as_str()) {
            return Err(format!(
                "stop sequence {seq:?} is not where the text {text:?} stops in {:?}",
                exp.text
            ));
        }
        if outcome
            .blocks
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. }))
        {
            return Err("tool calls after a stop sequence".into());
        }
        return Ok(());
    }
    if interrupted {
        return Ok(());
    }
    match (&outcome.end, exp.stop_reason) {
        (
            End::Stop {
                stop_reason, usage, ..
            },
            Some(want),
        ) => {
            if stop_reason != want {
                return Err(format!("stop_reason {stop_reason}, expected {want}"));
            }
            if let Some(n) = exp.output_tokens {
                if usage["output_tokens"] != n {
                    return Err(format!("usage {usage}, expected output_tokens {n}"));
                }
            }
        }
        (End::Error { kind, .. }, None) if kind == "api_error" => return Ok(()),
        (end, want) => return Err(format!("ended {end:?}, expected {want:?}")),
    }
    if text != exp.text || thinking != exp.thinking {
        return Err(format!(
            "text/thinking {text:?}/{thinking:?}, expected {:?}/{:?}",
            exp.text, exp.thinking
        ));
    }
    if outcome.tools() != exp.tools {
        return Err(format!(
            "tools {:?}, expected {:?}",
            outcome.tools(),
            exp.tools
        ));
    }
    Ok(())
}

fn oa_chaos_chunk() -> BoxedStrategy<Payload> {
    let fragment = object(vec![
        member(
            "index",
            0.8,
            prop_oneof![
                (0u64..3).prop_map(Value::from),
                Just(json!(u32::MAX)),
                Just(Value::Null)
            ],
        ),
        member(
            "id",
            0.5,
            select(vec!["call_a", "call_b", "", "x y"]).prop_map(Value::from),
        ),
        member("type", 0.3, Just(json!("function"))),
        member(
            "function",
            0.9,
            object(vec![
                member(
                    "name",
                    0.5,
                    select(vec!["Read", "Bash", ""]).prop_map(Value::from),
                ),
                member("arguments", 0.8, arguments()),
            ]),
        ),
    ]);
    let delta = object(vec![
        member("role", 0.2, Just(json!("assistant"))),
        member(
            "content",
            0.5,
            prop_oneof![text(12).prop_map(Value::from), Just(Value::Null)],
        ),
        member("reasoning_content", 0.2, text(12).prop_map(Value::from)),
        member("reasoning", 0.1, text(12).prop_map(Value::from)),
        member("refusal", 0.1, text(8).prop_map(Value::from)),
        member(
            "tool_calls",
            0.3,
            proptest::collection::vec(fragment, 0..3).prop_map(Value::Array),
        ),
    ]);
    let choice = object(vec![
        member(
            "index",
            0.7,
            prop_oneof![(0u64..2).prop_map(Value::from), Just(Value::Null)],
        ),
        member("delta", 0.9, delta),
        member(
            "finish_reason",
            0.2,
            select(vec!["stop", "length", "tool_calls", "content_filter", ""])
                .prop_map(Value::from),
        ),
        member(
            "stop_reason",
            0.05,
            select(vec!["END", "日本", "a"]).prop_map(Value::from),
        ),
    ]);
    let chunk_value = object(vec![
        member(
            "choices",
            0.9,
            proptest::collection::vec(choice, 0..3).prop_map(Value::Array),
        ),
        member("usage", 0.1, openai_usage()),
        member(
            "error",
            0.03,
            prop_oneof![
                gemini_error(),
                Just(json!({"message": "boom", "type": "server_error", "code": "overloaded"}))
                    .boxed(),
                text(8).prop_map(Value::from).boxed(),
                Just(Value::Null).boxed(),
            ],
        ),
    ]);
    prop_oneof![
        12 => (chunk_value, proptest::bool::weighted(0.1)).prop_map(|(v, p)| chunk(&v, p)),
        1 => Just(Payload::Data("[DONE]".into())),
        1 => json(3, 16).prop_map(|v| chunk(&v, false)),
        1 => garbage_line(),
    ]
    .boxed()
}

fn new_openai(ctx: &ResponseContext) -> impl Fn() -> OpenAiStreamTranslator + '_ {
    move || OpenAiStreamTranslator::new(ctx.clone())
}

#[test]
fn openai_plausible_streams() {
    let s = (oa_plan(), framing(), delivery(), context());
    fuzz("streams/openai-plausible", 192, s, |(plan, f, d, ctx)| {
        let (payloads, exp) = build_openai(&plan);
        let body = frame(&payloads, &f);
        let (outcome, interrupted) =
            run(new_openai(&ctx), &body, &d, &ctx).map_err(TestCaseError::fail)?;
        check(compare(&outcome, &exp, interrupted))
    });
}

#[test]
fn openai_chaotic_streams() {
    let s = (
        proptest::collection::vec(oa_chaos_chunk(), 0..24),
        framing(),
        delivery(),
        context(),
    );
    fuzz("streams/openai-chaos", 192, s, |(payloads, f, d, ctx)| {
        let body = frame(&payloads, &f);
        check(run(new_openai(&ctx), &body, &d, &ctx).map(drop))
    });
}

// ---------------------------------------------------------------------------
// Gemini

#[derive(Debug, Clone)]
enum GmPart {
    Text(String, Option<String>),
    Thought(String, Option<String>),
    Call {
        name: String,
        args: Value,
        id: Option<&'static str>,
        signature: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct GmPlan {
    chunks: Vec<Vec<GmPart>>,
    usage: Vec<bool>,
    finish: Option<&'static str>,
    /// The finish reason rides on the last chunk with parts.
    finish_with_parts: bool,
    harmless: Vec<(Index, Payload)>,
    pretty: bool,
}

fn signature() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.25,
        prop_oneof![text(10), Just("c2ln".to_owned()), Just(String::new())],
    )
}

fn gm_plan() -> impl Strategy<Value = GmPlan> {
    let part = prop_oneof![
        5 => (text(12), signature()).prop_map(|(t, s)| GmPart::Text(t, s)),
        3 => (text(12), signature()).prop_map(|(t, s)| GmPart::Thought(t, s)),
        2 => (
            prop_oneof![select(vec!["Read", "Bash"]).prop_map(str::to_owned), crate::gen::nonempty_text(8)],
            exact_object(),
            proptest::option::of(select(vec!["call_1", "call_1", "a b", ""])),
            signature(),
        )
            .prop_map(|(name, args, id, signature)| GmPart::Call { name, args, id, signature }),
    ];
    (
        proptest::collection::vec(proptest::collection::vec(part, 0..4), 0..10),
        proptest::collection::vec(any::<bool>(), 10),
        proptest::option::weighted(
            0.85,
            select(vec![
                "STOP",
                "MAX_TOKENS",
                "SAFETY",
                "RECITATION",
                "OTHER",
                "LANGUAGE",
                "BLOCKLIST",
                "FINISH_REASON_UNSPECIFIED",
                "SOMETHING_NEW",
                "IMAGE_SAFETY",
                "SPII",
            ]),
        ),
        any::<bool>(),
        proptest::collection::vec((any::<Index>(), harmless_line()), 0..3),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(chunks, usage, finish, finish_with_parts, harmless, pretty)| GmPlan {
                chunks,
                usage,
                finish,
                finish_with_parts,
                harmless,
                pretty,
            },
        )
}

fn gm_part(p: &GmPart) -> Value {
    let with_sig = |mut v: Value, s: &Option<String>| {
        if let Some(s) = s {
            v["thoughtSignature"] = json!(s);
        }
        v
    };
    match p {
        GmPart::Text(t, s) => with_sig(json!({"text": t}), s),
        GmPart::Thought(t, s) => with_sig(json!({"text": t, "thought": true}), s),
        GmPart::Call {
            name,
            args,
            id,
            signature,
        } => {
            let mut call = json!({"name": name, "args": args});
            if let Some(id) = id {
                call["id"] = json!(id);
            }
            with_sig(json!({"functionCall": call}), signature)
        }
    }
}

fn build_gemini(plan: &GmPlan) -> (Vec<Payload>, Expected) {
    let mut exp = Expected::default();
    let mut out = Vec::new();
    let n = plan.chunks.len();
    let mut total_out = 0u64;
    for (i, parts) in plan.chunks.iter().enumerate() {
        for p in parts {
            match p {
                GmPart::Text(t, s) => {
                    exp.text.push_str(t);
                    exp.signatures.extend(s.clone().filter(|s| !s.is_empty()));
                }
                GmPart::Thought(t, s) => {
                    exp.thinking.push_str(t);
                    exp.signatures.extend(s.clone().filter(|s| !s.is_empty()));
                }
                GmPart::Call {
                    name,
                    args,
                    signature,
                    ..
                } => {
                    exp.tools.push((name.clone(), args.clone()));
                    exp.signatures
                        .extend(signature.clone().filter(|s| !s.is_empty()));
                }
            }
        }
        let mut c = json!({"candidates": [{"content": {"role": "model", "parts": parts.iter().map(gm_part).collect::<Vec<_>>()}, "index": 0}],
                           "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
        if plan.usage[i % plan.usage.len()] {
            total_out += 3;
            c["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": total_out, "totalTokenCount": 10 + total_out});
        }
        if i + 1 == n && plan.finish_with_parts {
            if let Some(f) = plan.finish {
                c["candidates"][0]["finishReason"] = json!(f);
            }
        }
        out.push(chunk(&c, plan.pretty));
    }
    if !(plan.finish_with_parts && n > 0) {
        if let Some(f) = plan.finish {
            out.push(chunk(
                &json!({"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": f}],
                        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": total_out + 1, "thoughtsTokenCount": 2}}),
                plan.pretty,
            ));
        }
    }
    for (at, p) in &plan.harmless {
        let i = at.index(out.len() + 1);
        out.insert(i, p.clone());
    }
    exp.stop_reason = plan.finish.map(|f| match f {
        "MAX_TOKENS" => "max_tokens",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "IMAGE_SAFETY" | "SPII" => "refusal",
        _ if !exp.tools.is_empty() => "tool_use",
        _ => "end_turn",
    });
    (out, exp)
}

/// The Gemini signatures of the outcome's thinking blocks, in order.
fn gemini_signatures(o: &Outcome) -> Vec<String> {
    let prefix = format!("{SYNTHETIC_SIGNATURE_PREFIX}gemini.");
    o.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Thinking { signature, .. } => signature.strip_prefix(prefix.as_str()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn new_gemini(ctx: &ResponseContext) -> impl Fn() -> GeminiStreamTranslator + '_ {
    move || GeminiStreamTranslator::new(ctx.clone())
}

#[test]
fn gemini_plausible_streams() {
    let s = (gm_plan(), framing(), delivery(), context());
    fuzz("streams/gemini-plausible", 192, s, |(plan, f, d, ctx)| {
        let (payloads, exp) = build_gemini(&plan);
        let body = frame(&payloads, &f);
        let (outcome, interrupted) =
            run(new_gemini(&ctx), &body, &d, &ctx).map_err(TestCaseError::fail)?;
        check(compare(&outcome, &exp, interrupted))?;
        let sigs = gemini_signatures(&outcome);
        if interrupted || outcome.stop_reason().is_none() {
            prop_assert!(
                exp.signatures.starts_with(&sigs),
                "signatures {:?} of {:?}",
                sigs,
                exp.signatures
            );
        } else {
            prop_assert_eq!(sigs, exp.signatures);
        }
        Ok(())
    });
}

fn gm_chaos_chunk() -> BoxedStrategy<Payload> {
    prop_oneof![
        12 => (gemini_response(), proptest::bool::weighted(0.1)).prop_map(|(v, p)| chunk(&v, p)),
        1 => gemini_error().prop_map(|e| chunk(&json!({"error": e}), false)),
        1 => (gemini_finish(), gemini_usage()).prop_map(|(f, u)| chunk(&json!({"candidates": [{"finishReason": f}], "usageMetadata": u}), false)),
        1 => Just(Payload::Data("[DONE]".into())),
        1 => json(3, 16).prop_map(|v| chunk(&v, false)),
        1 => garbage_line(),
    ]
    .boxed()
}

#[test]
fn gemini_chaotic_streams() {
    let s = (
        proptest::collection::vec(gm_chaos_chunk(), 0..16),
        framing(),
        delivery(),
        context(),
    );
    fuzz("streams/gemini-chaos", 192, s, |(payloads, f, d, ctx)| {
        let body = frame(&payloads, &f);
        check(run(new_gemini(&ctx), &body, &d, &ctx).map(drop))
    });
}

/// Raw bytes as a stream body, for both translators.
#[test]
fn arbitrary_bytes_streams() {
    fuzz(
        "streams/bytes",
        256,
        (bytes(600), delivery(), context()),
        |(body, d, ctx)| {
            check(run(new_openai(&ctx), &body, &d, &ctx).map(drop))?;
            check(run(new_gemini(&ctx), &body, &d, &ctx).map(drop))
        },
    );
}

// ---------------------------------------------------------------------------
// Regressions: minimal inputs of failures the targets found.

fn plain_delivery() -> Delivery {
    Delivery {
        cuts: Vec::new(),
        bytewise: false,
        start_first: false,
        interruption: None,
    }
}

fn plain_context() -> ResponseContext {
    ResponseContext {
        message_id: "msg_01XFDUDYJgAACzvnptvVoYEL".into(),
        model: "claude-sonnet-4-5".into(),
        stop_sequences: Vec::new(),
    }
}

#[test]
fn regression_openai_stream_usage_overflow() {
    // Cached plus written input tokens overflowed u64 (a panic in debug builds).
    let ctx = plain_context();
    let body = b"data: {\"choices\":[{\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":1,\"cache_write_tokens\":18446744073709551615}}}\n\n";
    let (outcome, _) = run(new_openai(&ctx), body, &plain_delivery(), &ctx).unwrap();
    assert_eq!(outcome.stop_reason(), Some("end_turn"));
}

#[test]
fn regression_gemini_stream_usage_overflow() {
    // Candidates plus thoughts tokens overflowed u64.
    let ctx = plain_context();
    let body = b"data: {\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"candidatesTokenCount\":1,\"thoughtsTokenCount\":18446744073709551615}}\n\n";
    let (outcome, _) = run(new_gemini(&ctx), body, &plain_delivery(), &ctx).unwrap();
    assert_eq!(outcome.stop_reason(), Some("end_turn"));
}
