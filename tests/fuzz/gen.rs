//! Shared generators: text that stresses escaping and UTF-8, arbitrary JSON
//! values (biased towards the field names the three protocols use), raw
//! bytes, and byte-level mutations of valid documents.

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{Map, Number, Value};

/// One character: mostly ASCII letters, plus the characters JSON must
/// escape, multi-byte UTF-8 (Latin, CJK, emoji, joiners) and anything else.
pub fn any_char() -> impl Strategy<Value = char> + Clone {
    prop_oneof![
        8 => proptest::char::range('a', 'z'),
        2 => Just(' '),
        2 => select(vec![
            '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', '/', '{', '}', '[', ']',
            ':', ',',
        ]),
        2 => proptest::char::range('\u{4e00}', '\u{9fff}'),
        2 => proptest::char::range('\u{1f600}', '\u{1f64f}'),
        1 => select(vec![
            'é', 'ß', '—', '\u{200d}', '\u{fe0f}', '\u{fffd}', '\u{feff}', '\u{2028}', '\u{10ffff}',
        ]),
        1 => any::<char>(),
    ]
}

/// A string of at most `max` such characters.
pub fn text(max: usize) -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec(any_char(), 0..=max).prop_map(|v| v.into_iter().collect())
}

/// A non-empty string of at most `max` characters.
pub fn nonempty_text(max: usize) -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec(any_char(), 1..=max.max(1)).prop_map(|v| v.into_iter().collect())
}

/// Field names the request, response and chunk types read, so that random
/// objects sometimes land on a field that matters.
const KEYS: &[&str] = &[
    "type",
    "text",
    "content",
    "role",
    "model",
    "messages",
    "max_tokens",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "stop_sequences",
    "stream",
    "choices",
    "delta",
    "message",
    "candidates",
    "parts",
    "error",
    "usage",
    "tool_calls",
    "function",
    "arguments",
    "name",
    "id",
    "index",
    "finish_reason",
    "finishReason",
    "thought",
    "thoughtSignature",
    "functionCall",
    "args",
    "input",
    "source",
    "data",
    "media_type",
    "tool_use_id",
    "signature",
    "properties",
    "$ref",
    "anyOf",
    "items",
    "code",
    "status",
    "usageMetadata",
    "promptFeedback",
    "blockReason",
    "reasoning_content",
    "refusal",
    "input_schema",
    "parameters",
    "description",
    "prompt_tokens",
    "completion_tokens",
    "cache_control",
];

/// An object key: a known field name or random text.
pub fn key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => select(KEYS).prop_map(str::to_owned),
        1 => text(8),
    ]
}

fn number() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        3 => (0u64..100).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => select(vec![u64::MAX, u64::from(u32::MAX), 1 << 53]).prop_map(Value::from),
    ]
}

/// A JSON scalar.
pub fn json_leaf() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => number(),
        3 => text(12).prop_map(Value::String),
        1 => select(KEYS).prop_map(|k| Value::String(k.to_owned())),
    ]
}

/// Any JSON value, at most `depth` levels deep and about `size` nodes.
pub fn json(depth: u32, size: u32) -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(depth, size, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// A JSON object with arbitrary members.
pub fn json_object(depth: u32, size: u32) -> BoxedStrategy<Value> {
    proptest::collection::vec((key(), json(depth, size)), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
        .boxed()
}

/// A JSON object without floating-point numbers (which need not survive a
/// round trip exactly), for comparing tool inputs.
pub fn exact_object() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text(10).prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((text(6), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    });
    proptest::collection::vec((text(6), value), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
        .boxed()
}

/// `strategy`, or now and then an arbitrary value of any type in its place.
pub fn or_garbage(strategy: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![
        12 => strategy,
        1 => json(2, 8),
    ]
    .boxed()
}

/// An object from optional members: each `(name, value)` strategy yields
/// `None` to leave the member out.
pub fn object(members: Vec<BoxedStrategy<Option<(String, Value)>>>) -> BoxedStrategy<Value> {
    members
        .prop_map(|m| Value::Object(m.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

/// A member that is present with probability `p`, with now and then a value
/// of the wrong type.
pub fn member(
    name: &'static str,
    p: f64,
    value: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Option<(String, Value)>> {
    proptest::option::weighted(p, or_garbage(value))
        .prop_map(move |v| v.map(|v| (name.to_owned(), v)))
        .boxed()
}

/// A member that is always present and always of its own type.
pub fn fixed(
    name: &'static str,
    value: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Option<(String, Value)>> {
    value.prop_map(move |v| Some((name.to_owned(), v))).boxed()
}

/// Arbitrary bytes.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

/// One byte-level edit of a document.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR a byte.
    Flip(Index, u8),
    /// Insert bytes.
    Insert(Index, Vec<u8>),
    /// Delete up to `n` bytes.
    Delete(Index, usize),
    /// Cut the document here.
    Truncate(Index),
}

/// Byte sequences that are likely to matter to a JSON parser.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\udfff",
    b"\xff",
    b"\xc3",
    b"\xe6\x97",
    b"\xf0\x9f\x98",
    b"1e999",
    b"-",
    b"\x00",
    b"9999999999999999999999",
];

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), prop_oneof![select(TOKENS).prop_map(<[u8]>::to_vec), bytes(4)])
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// `doc` with the edits applied in order.
pub fn mutate(mut doc: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for e in edits {
        match e {
            Mutation::Flip(i, b) if !doc.is_empty() => {
                let at = i.index(doc.len());
                doc[at] ^= b | 1;
            }
            Mutation::Insert(i, bytes) => {
                let at = i.index(doc.len() + 1);
                doc.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(i, n) if !doc.is_empty() => {
                let at = i.index(doc.len());
                let end = (at + n).min(doc.len());
                doc.drain(at..end);
            }
            Mutation::Truncate(i) => {
                let at = i.index(doc.len() + 1);
                doc.truncate(at);
            }
            _ => {}
        }
    }
    doc
}

/// Cut points for feeding `len` bytes in pieces: sorted, deduplicated, or
/// every byte on its own.
pub fn cut_points(len: usize, cuts: &[Index], bytewise: bool) -> Vec<usize> {
    if bytewise {
        return (1..len).collect();
    }
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    at.sort_unstable();
    at.dedup();
    at
}

/// `bytes` split at `cuts` (which must be sorted).
pub fn pieces<'b>(bytes: &'b [u8], cuts: &[usize]) -> Vec<&'b [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &c in cuts {
        out.push(&bytes[from..c]);
        from = c;
    }
    out.push(&bytes[from..]);
    out
}
