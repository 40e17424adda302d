//! Reading the content of an Anthropic request the same way for every
//! upstream (docs/translation.md, "Content").

use serde_json::Value;

use crate::protocol::anthropic::{Content, ContentBlock};
use crate::protocol::text::Text;

/// Separator between texts that were separate blocks on Anthropic's side
/// (system blocks, text blocks of one turn, the parts of a document): a
/// blank line, which is how a model reads a paragraph break.
pub(crate) const BLOCK_SEPARATOR: &str = "\n\n";

/// Separator between the text pieces of one tool result: tool output is
/// usually line-oriented, and a blank line would add lines it never had.
pub(crate) const TOOL_RESULT_SEPARATOR: &str = "\n";

/// Claude Code's first system block (`x-anthropic-billing-header:
/// cc_version=…`) is Anthropic-internal metadata that changes between
/// requests: sent to another provider it means nothing and, at the very
/// start of the prompt, defeats the provider's prefix caching.
pub(crate) fn is_billing_header(text: &Text<'_>) -> bool {
    text.starts_with("x-anthropic-billing-header:")
}

/// The texts of a `system` prompt or a `role: "system"` turn that another
/// provider should see: a plain string as it is, or the text of each block
/// except Claude Code's billing header; empty texts are skipped.
pub(crate) fn system_texts(content: &Content) -> impl Iterator<Item = Text<'_>> {
    let (text, blocks): (Option<Text<'_>>, &[ContentBlock]) = match content {
        Content::Text(s) => (Some(Text::Raw(s)), &[]),
        Content::Blocks(b) => (None, b),
    };
    text.into_iter()
        .chain(
            blocks
                .iter()
                .filter_map(ContentBlock::as_text)
                .filter(|t| !is_billing_header(t)),
        )
        .filter(|t| !t.is_empty())
}

/// Text of a document's `content` source: a string, or a list of blocks
/// whose non-empty texts are joined by [`BLOCK_SEPARATOR`].
pub(crate) fn document_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(BLOCK_SEPARATOR),
        _ => String::new(),
    }
}

/// One block of a `tool_result` as an upstream takes it.
pub(crate) enum Piece<'a, M> {
    /// Text, which goes into the result's text.
    Text(Text<'a>),
    /// Anything else (an image, a file), which travels beside the text.
    Media(M),
}

/// Flattens a `tool_result`'s content into its text (the text pieces joined
/// by [`TOOL_RESULT_SEPARATOR`]) and the media that come with it. `piece`
/// converts one block, `None` for what the upstream cannot use.
pub(crate) fn flatten_tool_result<'a, M>(
    content: &'a Content,
    mut piece: impl FnMut(&'a ContentBlock) -> Option<Piece<'a, M>>,
) -> (Text<'a>, Vec<M>) {
    let blocks = match content {
        Content::Text(s) => return (Text::Raw(s), Vec::new()),
        Content::Blocks(blocks) => blocks,
    };
    let mut texts = Vec::new();
    let mut media = Vec::new();
    for p in blocks.iter().filter_map(&mut piece) {
        match p {
            Piece::Text(t) if t.is_empty() => {}
            Piece::Text(t) => texts.push(t),
            Piece::Media(m) => media.push(m),
        }
    }
    (Text::join(texts, TOOL_RESULT_SEPARATOR), media)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content(v: Value) -> Content {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn system_texts_skip_empty_blocks_and_the_billing_header() {
        let c = content(json!([
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
            {"type": "text", "text": "A"},
            {"type": "text", "text": ""},
            {"type": "image", "source": {"type": "url", "url": "u"}},
            {"type": "text", "text": "B"}
        ]));
        assert_eq!(system_texts(&c).collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(
            system_texts(&content(json!("S"))).collect::<Vec<_>>(),
            ["S"]
        );
        let escaped: Content = serde_json::from_str(
            r#"[{"type": "text", "text": "\u0078-anthropic-billing-header: v"}, {"type": "text", "text": "C"}]"#,
        )
        .unwrap();
        assert_eq!(system_texts(&escaped).collect::<Vec<_>>(), ["C"]);
        assert_eq!(system_texts(&content(json!(""))).count(), 0);
    }

    #[test]
    fn document_parts_are_paragraphs() {
        let parts = json!([{"type": "text", "text": "c1"}, {"type": "text", "text": ""},
                           {"type": "text", "text": "c2"}]);
        assert_eq!(document_text(&parts), "c1\n\nc2");
        assert_eq!(document_text(&json!("whole")), "whole");
        assert_eq!(document_text(&json!(7)), "");
    }

    #[test]
    fn tool_results_flatten_to_lines_and_media() {
        let c = content(json!([
            {"type": "text", "text": "one"},
            {"type": "image", "source": {"type": "url", "url": "u"}},
            {"type": "text", "text": ""},
            {"type": "text", "text": "two"}
        ]));
        let (text, media) = flatten_tool_result(&c, |b| match b {
            ContentBlock::Text { text } => Some(Piece::Text(Text::Raw(text))),
            ContentBlock::Image { .. } => Some(Piece::Media("img")),
            _ => None,
        });
        assert_eq!((text.as_str().as_ref(), media), ("one\ntwo", vec!["img"]));
        let plain = content(json!("out"));
        let (text, media) = flatten_tool_result(&plain, |_| None::<Piece<'_, ()>>);
        assert!(matches!(text, Text::Raw(_)) && text == "out" && media.is_empty());
    }
}
