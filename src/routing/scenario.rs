//! What kind of request this is, for the router's scenarios: pure looks at
//! the parsed request, cheap enough for every request.

use crate::protocol::anthropic::{Content, ContentBlock, MessagesRequest, Role, Thinking};
use crate::tokens::{
    IMAGE_FALLBACK_TOKENS, PER_MESSAGE_TOKENS, PER_TOOL_BLOCK_TOKENS, PER_TOOL_TOKENS,
    SYSTEM_TOKENS, TOOLS_PREAMBLE_TOKENS,
};

/// Claude Code's small/fast model (titles, summaries, checks) is the haiku
/// family.
pub(crate) fn is_background(req: &MessagesRequest) -> bool {
    req.model.to_ascii_lowercase().contains("haiku")
}

/// `thinking` is `enabled` or `adaptive`.
pub(crate) fn wants_thinking(req: &MessagesRequest) -> bool {
    matches!(
        req.thinking,
        Some(Thinking::Enabled { .. } | Thinking::Adaptive)
    )
}

/// A server tool whose `type` starts with `web_search`.
pub(crate) fn uses_web_search(req: &MessagesRequest) -> bool {
    req.tools.iter().flatten().any(|t| {
        t.kind
            .as_deref()
            .is_some_and(|k| k.starts_with("web_search"))
    })
}

/// The last user turn holds an image (also inside a tool result: Claude
/// Code's Read tool returns images that way).
pub(crate) fn has_image(req: &MessagesRequest) -> bool {
    let Some(last) = req.messages.iter().rev().find(|m| m.role == Role::User) else {
        return false;
    };
    content_has_image(&last.content)
}

fn content_has_image(content: &Content) -> bool {
    match content {
        Content::Text(_) => false,
        Content::Blocks(blocks) => blocks.iter().any(|b| match b {
            ContentBlock::Image { .. } => true,
            ContentBlock::ToolResult { content, .. } => content_has_image(content),
            _ => false,
        }),
    }
}

/// What the cheap look at a request's size decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SizeVerdict {
    /// Certainly at most the threshold.
    Below,
    /// Far above it.
    Above,
    /// Too close to call without counting.
    Count,
}

/// The most bytes of text one `o200k_base` token stands for on average
/// over a long text: English prose averages about 4, code 3 to 4; runs of
/// repeated characters are the only longer tokens, and a request is not
/// made of them.
const MAX_BYTES_PER_TOKEN: u64 = 8;

/// Decides whether `req` has more than `threshold` input tokens from byte
/// lengths alone when it can. Every token covers at least one byte of the
/// text it counts, so text bytes plus the fixed framing and the most an
/// image or document can cost is an upper bound; text bytes divided by
/// [`MAX_BYTES_PER_TOKEN`] is the lower bound used for "far above".
pub(crate) fn size_verdict(req: &MessagesRequest, threshold: u64) -> SizeVerdict {
    let mut text = 0u64;
    let mut framing = SYSTEM_TOKENS;
    let add_content = |content: &Content, text: &mut u64, framing: &mut u64| {
        content_bytes(content, text, framing);
    };
    if let Some(system) = &req.system {
        add_content(system, &mut text, &mut framing);
    }
    for m in &req.messages {
        framing += PER_MESSAGE_TOKENS;
        add_content(&m.content, &mut text, &mut framing);
    }
    if let Some(tools) = &req.tools {
        framing += TOOLS_PREAMBLE_TOKENS;
        for t in tools {
            framing += PER_TOOL_TOKENS;
            text += t.name.as_deref().map_or(0, str::len) as u64;
            text += t.description.as_ref().map_or(0, |d| d.json().len()) as u64;
            text += t.input_schema.as_ref().map_or(0, |s| s.get().len()) as u64;
            if let Some(f) = &t.function {
                text += f.name.len() as u64;
                text += f.description.as_ref().map_or(0, |d| d.json().len()) as u64;
                text += f.parameters.as_ref().map_or(0, |s| s.get().len()) as u64;
            }
        }
    }
    if text + framing <= threshold {
        SizeVerdict::Below
    } else if text / MAX_BYTES_PER_TOKEN > threshold {
        SizeVerdict::Above
    } else {
        SizeVerdict::Count
    }
}

/// Adds a content's text bytes and the most its other blocks can cost.
fn content_bytes(content: &Content, text: &mut u64, framing: &mut u64) {
    match content {
        Content::Text(s) => *text += s.json_len() as u64,
        Content::Blocks(blocks) => {
            for b in blocks {
                match b {
                    ContentBlock::Text { text: s } => *text += s.json_len() as u64,
                    ContentBlock::Image { .. } => *framing += IMAGE_FALLBACK_TOKENS,
                    ContentBlock::Document { .. } => {
                        // A PDF costs per page; without a page count the
                        // exact count decides.
                        *framing += u64::MAX / 4;
                    }
                    ContentBlock::ToolUse { name, input, .. } => {
                        *framing += PER_TOOL_BLOCK_TOKENS;
                        *text += (name.len() + input.get().len()) as u64;
                    }
                    ContentBlock::ToolResult { content, .. } => {
                        *framing += PER_TOOL_BLOCK_TOKENS;
                        content_bytes(content, text, framing);
                    }
                    ContentBlock::Thinking { thinking, .. } => *text += thinking.len() as u64,
                    ContentBlock::RedactedThinking { data } => *text += data.len() as u64,
                    ContentBlock::Other { text: t, .. } => {
                        *text += t.as_deref().map_or(0, str::len) as u64
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::count_request_tokens;

    fn req(v: serde_json::Value) -> MessagesRequest {
        serde_json::from_value(v).unwrap()
    }

    fn fixture(name: &str) -> MessagesRequest {
        let path = format!(
            "{}/tests/fixtures/claude-code/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn scenarios_are_recognised() {
        let base = serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]});
        let plain = req(base.clone());
        assert!(!is_background(&plain) && !wants_thinking(&plain));
        assert!(!uses_web_search(&plain) && !has_image(&plain));

        let mut v = base.clone();
        v["model"] = "claude-3-5-HAIKU-latest".into();
        assert!(is_background(&req(v)));

        for (thinking, expected) in [
            (
                serde_json::json!({"type": "enabled", "budget_tokens": 2000}),
                true,
            ),
            (serde_json::json!({"type": "adaptive"}), true),
            (serde_json::json!({"type": "disabled"}), false),
        ] {
            let mut v = base.clone();
            v["thinking"] = thinking;
            assert_eq!(wants_thinking(&req(v)), expected);
        }

        let mut v = base.clone();
        v["tools"] = serde_json::json!([{"type": "web_search_20250305", "name": "web_search"}]);
        assert!(uses_web_search(&req(v)));
        let mut v = base.clone();
        v["tools"] =
            serde_json::json!([{"name": "web_search", "input_schema": {"type": "object"}}]);
        assert!(!uses_web_search(&req(v)));
    }

    #[test]
    fn only_the_last_user_turn_counts_for_images() {
        let image = serde_json::json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
        let with = |messages: serde_json::Value| {
            has_image(&req(
                serde_json::json!({"model": "m", "max_tokens": 1, "messages": messages}),
            ))
        };
        assert!(with(
            serde_json::json!([{"role": "user", "content": [image.clone()]}])
        ));
        assert!(with(serde_json::json!([
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [image.clone()]}]}
        ])));
        assert!(!with(serde_json::json!([
            {"role": "user", "content": [image]},
            {"role": "assistant", "content": "a cat"},
            {"role": "user", "content": "thanks"}
        ])));
    }

    /// The byte bound is sound: whenever it says below or above, counting
    /// agrees; and it decides Claude Code's real requests without counting
    /// at the default threshold.
    #[test]
    fn the_byte_bound_agrees_with_the_count() {
        for name in [
            "01-write-turn1",
            "01-write-turn2",
            "03-parallel-turn2",
            "07-toolsearch-turn2",
        ] {
            let r = fixture(name);
            let tokens = count_request_tokens(r.system.as_ref(), &r.messages, r.tools.as_deref());
            for threshold in [1_000, tokens / 2, tokens, tokens * 2, 60_000, 1_000_000] {
                match size_verdict(&r, threshold) {
                    SizeVerdict::Below => assert!(tokens <= threshold, "{name} {threshold}"),
                    SizeVerdict::Above => assert!(tokens > threshold, "{name} {threshold}"),
                    SizeVerdict::Count => {}
                }
            }
            assert_eq!(size_verdict(&r, 1_000), SizeVerdict::Above, "{name}");
        }
        // The 57 KB Claude Code turn is decided without counting.
        assert_eq!(
            size_verdict(&fixture("01-write-turn2"), 60_000),
            SizeVerdict::Below
        );
    }
}
