//! The SSE decoder alone: arbitrary event-stream-like bytes (every line
//! ending, comments, fields with and without their space, invalid and cut
//! UTF-8) decode to the same events however they are cut, and to the
//! events a direct reading of the SSE rules gives (with the decoder's one
//! documented difference: a last event without its blank line still counts).

use claude_proxy::sse::{SseDecoder, SseEvent};
use proptest::prelude::*;
use proptest::sample::{select, Index};

use crate::gen::{cut_points, pieces};
use crate::harness::fuzz;

/// Bytes that make up event streams, and some that break them.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"data",
        b"data:",
        b"data: ",
        b"event",
        b"event: ",
        b"id: 1",
        b"retry: 5",
        b":",
        b": ping",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\r\n\r\n",
        b"{\"a\":1}",
        b"[DONE]",
        "é".as_bytes(),
        "日本".as_bytes(),
        "😀".as_bytes(),
        b"\xe6\x97",
        b"\xf0\x9f",
        b"\xff",
        b"\x80",
        b"\0",
        "\u{feff}".as_bytes(),
    ];
    prop_oneof![
        8 => select(fixed).prop_map(<[u8]>::to_vec),
        2 => "[a-z]{1,6}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 1..6),
    ]
}

/// Decodes `pieces` one after another.
fn decode(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for p in pieces {
        d.push(p, &mut out);
    }
    d.finish(&mut out);
    out
}

/// A direct reading of the rules on the whole input: lines end at CRLF, LF
/// or CR; a blank line dispatches; `:` starts a comment; a field's value
/// loses one leading space; `data` lines join with `\n`; `event` names the
/// event; other fields are ignored; text is decoded as lossy UTF-8.
fn reference(input: &[u8]) -> Vec<SseEvent> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&input[start..i]);
                i += if input.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    let tail = &input[start..];
    let mut out = Vec::new();
    let mut event: Option<String> = None;
    let mut data: Option<String> = None;
    let dispatch =
        |event: &mut Option<String>, data: &mut Option<String>, out: &mut Vec<SseEvent>| {
            if let Some(d) = data.take() {
                out.push(SseEvent {
                    event: event.take(),
                    data: d,
                });
            }
            *event = None;
        };
    let all = lines
        .iter()
        .copied()
        .chain((!tail.is_empty()).then_some(tail));
    for line in all {
        if line.is_empty() {
            dispatch(&mut event, &mut data, &mut out);
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match field {
            b"data" => match data.as_mut() {
                Some(d) => {
                    d.push('\n');
                    d.push_str(&value);
                }
                None => data = Some(value),
            },
            b"event" => event = Some(value),
            _ => {}
        }
    }
    dispatch(&mut event, &mut data, &mut out);
    out
}

#[test]
fn any_cut_gives_the_same_events() {
    let s = (
        proptest::collection::vec(token(), 0..80),
        proptest::collection::vec(any::<Index>(), 0..24),
        proptest::bool::weighted(0.1),
    );
    fuzz("sse/decoder", 512, s, |(tokens, cuts, bytewise)| {
        let input: Vec<u8> = tokens.concat();
        let whole = decode(&[&input]);
        prop_assert_eq!(&whole, &reference(&input), "decoder and rules disagree");
        let cuts = cut_points(input.len(), &cuts, bytewise);
        let cut = decode(&pieces(&input, &cuts));
        prop_assert_eq!(&cut, &whole, "cut at {:?}", cuts);
        // Nothing is invented: the events hold no more text than came in
        // (times three for U+FFFD replacing single invalid bytes).
        let size: usize = whole
            .iter()
            .map(|e| e.data.len() + e.event.as_ref().map_or(0, String::len))
            .sum();
        prop_assert!(size <= 3 * input.len());
        Ok(())
    });
}

/// Long streams through the decoder's buffer compaction (over 4 KB).
#[test]
fn long_streams_survive_compaction() {
    let s = (
        proptest::collection::vec((0usize..3000, any::<bool>()), 1..12),
        proptest::collection::vec(any::<Index>(), 0..40),
    );
    fuzz("sse/decoder-long", 64, s, |(events, cuts)| {
        let mut input = Vec::new();
        for (len, crlf) in &events {
            input.extend_from_slice(b"data: ");
            input.extend(std::iter::repeat_n(b'x', *len));
            input.extend_from_slice(if *crlf { b"\r\n\r\n" } else { b"\n\n" });
        }
        let cuts = cut_points(input.len(), &cuts, false);
        let got = decode(&pieces(&input, &cuts));
        prop_assert_eq!(got.len(), events.len());
        for (ev, (len, _)) in got.iter().zip(&events) {
            prop_assert_eq!(ev.data.len(), *len);
        }
        Ok(())
    });
}
