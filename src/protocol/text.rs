//! [`JsonText`], a JSON string kept as it arrived, and [`Text`], a string
//! field of an outgoing body that may be copied from the client's JSON.
//!
//! Message and system texts are most of a Claude Code request's bytes. Kept
//! as the client's JSON string literals ([`JsonText`]) they are neither
//! unescaped when the request is read nor escaped again when the upstream
//! body is written: the bytes are copied. Texts the translators make
//! themselves (separators, placeholders, `Error: …`) are plain strings, and
//! joining pieces joins their escaped forms (JSON escaping maps each
//! character on its own, so the escaped pieces concatenated are the escaped
//! whole).

use std::borrow::Cow;
use std::fmt;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A JSON string kept as it arrived, escapes and all. Long texts that pass
/// through to another JSON API unchanged (tool descriptions run to 18 KB in
/// a Claude Code request) are then neither unescaped on the way in nor
/// escaped again on the way out: they are copied.
#[derive(Debug, Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// `raw`, which the caller has checked is a string literal; an escaped
    /// surrogate without its pair is refused, as decoding it would be.
    pub(crate) fn from_raw<E: de::Error>(raw: Box<RawValue>) -> Result<JsonText, E> {
        debug_assert!(raw.get().starts_with('"'));
        check_surrogates(raw.get())?;
        Ok(JsonText(raw))
    }

    /// The JSON string literal, quotes included.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// True for `""`.
    pub fn is_empty(&self) -> bool {
        self.json() == "\"\""
    }

    /// The escaped characters between the quotes.
    pub fn escaped(&self) -> &str {
        let json = self.json();
        &json[1..json.len() - 1]
    }

    /// The literal of a decoded `text`: escaped once (a text without
    /// characters to escape is copied between quotes).
    pub fn from_text(text: &str) -> Result<JsonText, serde_json::Error> {
        serde_json::value::to_raw_value(text).map(JsonText)
    }

    /// `json` when it is one JSON string literal.
    pub fn from_json(json: String) -> Option<JsonText> {
        if !json.starts_with('"') {
            return None;
        }
        RawValue::from_string(json).ok().map(JsonText)
    }

    /// Length of the literal: at least the decoded text's length in bytes
    /// (escapes only lengthen), so a bound for size estimates.
    pub fn json_len(&self) -> usize {
        self.json().len()
    }

    /// True when the decoded text starts with `prefix`, decoding only when
    /// an escape falls inside the prefix's length.
    pub fn starts_with(&self, prefix: &str) -> bool {
        let inner = self.escaped();
        match inner.get(..prefix.len()) {
            Some(head) if !head.contains('\\') => head == prefix,
            _ => self.text().starts_with(prefix),
        }
    }

    /// The decoded text (borrowed when it has no escapes).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        let json = self.json();
        let inner = &json[1..json.len() - 1];
        if inner.contains('\\') {
            // Valid by construction: it parsed as a JSON string.
            std::borrow::Cow::Owned(serde_json::from_str(json).unwrap_or_default())
        } else {
            std::borrow::Cow::Borrowed(inner)
        }
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if !raw.get().starts_with('"') {
            return Err(de::Error::invalid_type(
                de::Unexpected::Other("a value that is not a string"),
                &"a string",
            ));
        }
        JsonText::from_raw(raw)
    }
}

/// serde_json keeps a raw string's escapes unchecked beyond their syntax,
/// so `"\ud800"` would pass through where decoding it fails (and
/// Anthropic answers 400). Only a literal with a `\uD…` escape can hold
/// one, and only such a literal is decoded to find out.
fn check_surrogates<E: de::Error>(json: &str) -> Result<(), E> {
    let bytes = json.as_bytes();
    let suspect = memchr::memmem::find_iter(bytes, b"\\u")
        .any(|i| bytes.get(i + 2).is_some_and(|b| b | 0x20 == b'd'));
    if suspect && serde_json::from_str::<String>(json).is_err() {
        return Err(E::custom(
            "a string holds a \\uD800-\\uDFFF escape (UTF-16 surrogate) without its pair",
        ));
    }
    Ok(())
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A string to write into an outgoing JSON body.
#[derive(Clone)]
pub enum Text<'a> {
    /// The client's string literal, copied verbatim.
    Raw(&'a JsonText),
    /// A string escaped when it is written.
    Plain(Cow<'a, str>),
    /// Pieces already joined as one escaped literal.
    Joined(JsonText),
}

impl<'a> Text<'a> {
    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        match self {
            Text::Raw(j) => j.is_empty(),
            Text::Joined(j) => j.is_empty(),
            Text::Plain(s) => s.is_empty(),
        }
    }

    /// The decoded string (borrowed when nothing needs decoding).
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Text::Raw(j) => j.text(),
            Text::Joined(j) => j.text(),
            Text::Plain(s) => Cow::Borrowed(s),
        }
    }

    /// The decoded string, owned.
    pub fn into_string(self) -> String {
        match self {
            Text::Plain(s) => s.into_owned(),
            other => other.as_str().into_owned(),
        }
    }

    /// True when the decoded string starts with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self {
            Text::Raw(j) => j.starts_with(prefix),
            Text::Joined(j) => j.starts_with(prefix),
            Text::Plain(s) => s.starts_with(prefix),
        }
    }

    /// The JSON-escaped characters, without the quotes.
    fn escaped(&self) -> Cow<'_, str> {
        match self {
            Text::Raw(j) => Cow::Borrowed(j.escaped()),
            Text::Joined(j) => Cow::Borrowed(j.escaped()),
            Text::Plain(s) => Cow::Owned(escape(s)),
        }
    }

    /// `pieces` joined by `sep`; no copy when there is at most one.
    pub fn join(mut pieces: Vec<Text<'a>>, sep: &str) -> Text<'a> {
        match pieces.len() {
            0 => return Text::Plain(Cow::Borrowed("")),
            1 => return pieces.pop().unwrap_or(Text::Plain(Cow::Borrowed(""))),
            _ => {}
        }
        if pieces.iter().all(|p| matches!(p, Text::Plain(_))) {
            let parts: Vec<&str> = pieces
                .iter()
                .map(|p| match p {
                    Text::Plain(s) => s.as_ref(),
                    _ => "",
                })
                .collect();
            return Text::Plain(Cow::Owned(parts.join(sep)));
        }
        let escaped_sep = escape(sep);
        let escaped: Vec<Cow<'_, str>> = pieces.iter().map(Text::escaped).collect();
        let len =
            escaped.iter().map(|e| e.len()).sum::<usize>() + escaped_sep.len() * pieces.len() + 2;
        let mut json = String::with_capacity(len);
        json.push('"');
        for (i, e) in escaped.iter().enumerate() {
            if i > 0 {
                json.push_str(&escaped_sep);
            }
            json.push_str(e);
        }
        json.push('"');
        match JsonText::from_json(json) {
            Some(j) => Text::Joined(j),
            // Not reachable (every piece is a valid escaped string); the
            // decoded pieces joined say the same.
            None => Text::Plain(Cow::Owned(
                pieces
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(sep),
            )),
        }
    }

    /// `prefix` followed by this text.
    pub fn prefixed(self, prefix: &str) -> Text<'a> {
        match self {
            Text::Plain(s) => Text::Plain(Cow::Owned(format!("{prefix}{s}"))),
            other => Text::join(vec![Text::Plain(Cow::Owned(prefix.to_owned())), other], ""),
        }
    }
}

/// `s` JSON-escaped, without quotes.
fn escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Raw(j) => j.serialize(s),
            Text::Joined(j) => j.serialize(s),
            Text::Plain(t) => s.serialize_str(t),
        }
    }
}

/// Read from an upstream's answer: always a plain string.
impl<'de> Deserialize<'de> for Text<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Text::Plain(Cow::Owned(s)))
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str().as_ref(), f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Default for Text<'_> {
    fn default() -> Self {
        Text::Plain(Cow::Borrowed(""))
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<'a> From<&'a JsonText> for Text<'a> {
    fn from(j: &'a JsonText) -> Self {
        Text::Raw(j)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text::Plain(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Text<'a> {
    fn from(s: &'a String) -> Self {
        Text::Plain(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text::Plain(Cow::Owned(s))
    }
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Text::Plain(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> JsonText {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_unpaired_surrogate_escape_is_refused_like_a_decoded_string() {
        let err = serde_json::from_str::<JsonText>(r#""a \ud800 b""#).unwrap_err();
        assert!(err.to_string().contains("surrogate"), "{err}");
        assert!(serde_json::from_str::<JsonText>(r#""\udc00""#).is_err());
        let pair = raw(r#""\ud83d\ude00 \\ud""#);
        assert_eq!(Text::Raw(&pair), "\u{1f600} \\ud");
    }

    #[test]
    fn raw_text_is_copied_and_plain_text_escaped() {
        let r = raw(r#""a\nb \u00e9 \/""#);
        assert_eq!(
            serde_json::to_string(&Text::Raw(&r)).unwrap(),
            r#""a\nb \u00e9 \/""#
        );
        assert_eq!(Text::Raw(&r), "a\nb \u{e9} /");
        let p = Text::from("say \"hi\"\n");
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""say \"hi\"\n""#);
    }

    #[test]
    fn joining_mixes_raw_and_plain_pieces_exactly() {
        let a = raw(r#""line \"1\"\n""#);
        let b = raw(r#""tab\there""#);
        let joined = Text::join(
            vec![Text::Raw(&a), Text::from("plain \\ text"), Text::Raw(&b)],
            "\n\n",
        );
        let out = serde_json::to_string(&joined).unwrap();
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "line \"1\"\n\n\nplain \\ text\n\ntab\there");
        assert!(matches!(joined, Text::Joined(_)));

        let plain = Text::join(vec![Text::from("x"), Text::from("y")], "-");
        assert!(matches!(&plain, Text::Plain(s) if s == "x-y"));
        let one = Text::join(vec![Text::Raw(&a)], "-");
        assert!(matches!(one, Text::Raw(_)));
        assert!(Text::join(Vec::new(), "-").is_empty());
    }

    #[test]
    fn prefixes_and_prefix_checks_work_on_the_decoded_text() {
        let a = raw(r#""\u0078-header: v""#);
        assert!(Text::Raw(&a).starts_with("x-header:"));
        assert!(!Text::Raw(&a).starts_with("y"));
        let e = Text::Raw(&a).prefixed("Error: ");
        assert_eq!(e, "Error: x-header: v");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#""Error: \u0078-header: v""#
        );
        assert_eq!(Text::from("b").prefixed("a "), "a b");
    }
}
