//! Anthropic `messages` → Gemini `contents` (docs/translation.md, "Gemini
//! history shape"). Pure.
//!
//! Gemini is stricter than Anthropic about history shape, and every rule
//! below exists because Gemini answers 400 otherwise:
//! * roles alternate `user`/`model` (consecutive same-role messages merge;
//!   `role:"system"` turns go to `systemInstruction` instead);
//! * a model turn with N `functionCall`s is followed by a user turn with
//!   exactly N `functionResponse`s, in call order (missing results are
//!   synthesized as errors, results for unknown calls dropped);
//! * no empty `parts`, and the request never ends with a model turn.
//!
//! User text that follows tool results (Claude Code sends `[tool_result…,
//! text]`) goes into its own user turn after a placeholder model turn: fused
//! into the function-response turn, Gemini 3 may read it as tool output or
//! answer with an empty candidate.

use std::borrow::Cow;

use serde_json::Value;

use super::{sanitize_tool_name, SIGNATURE_PROVIDER, SKIP_SIGNATURE};
use crate::protocol::anthropic::{
    self, ContentBlock, DocumentSource, ImageSource, JsonText, Message, Role,
};
use crate::protocol::gemini::{
    Blob, Content, FunctionCall, FunctionResponse, FunctionResponsePart, Part,
};
use crate::protocol::text::Text;
use crate::translate::common::content::{document_text, flatten_tool_result, Piece};
use crate::translate::common::history::{PendingCall, PendingCalls, INTERRUPTED};
use crate::translate::parse_synthetic_signature;

/// Model turn interposed between function responses and the user text that
/// came with them, to keep roles alternating.
pub(crate) const CONTINUE_PLACEHOLDER: &str = "(continuing)";
/// Ids the proxy (or Anthropic) made up; Gemini never saw them, so they are
/// not echoed as `functionCall.id`.
const CLIENT_ID_PREFIX: &str = "toolu_";

/// `parts` of `systemInstruction` contributed by `role:"system"` turns.
pub(crate) fn system_turn_parts(messages: &[Message]) -> impl Iterator<Item = Part<'_>> {
    messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| block_refs(&m.content))
        .filter_map(|b| match b {
            BlockRef::Text(t) => Some(Text::Raw(t)),
            BlockRef::Block(b) => b.as_text(),
        })
        .filter(|t| !t.is_empty())
        .map(Part::text)
}

/// The conversation as Gemini `contents`. `gemini3` enables the
/// missing-signature sentinel on function calls of the current turn.
pub(crate) fn to_contents(messages: &[Message], gemini3: bool) -> Vec<Content<'_>> {
    let turns: Vec<&Message> = messages.iter().filter(|m| m.role != Role::System).collect();
    let mut b = Builder::default();
    for group in turns.chunk_by(|x, y| x.role == y.role) {
        let blocks = group.iter().flat_map(|m| block_refs(&m.content));
        if group[0].role == Role::Assistant {
            let (parts, calls) = model_parts(blocks);
            b.model(parts, calls);
        } else {
            let (results, parts) = user_parts(blocks);
            b.user(&results, parts);
        }
    }
    b.finish(gemini3)
}

#[derive(Clone, Copy)]
enum BlockRef<'a> {
    Text(&'a JsonText),
    Block(&'a ContentBlock),
}

fn block_refs(c: &anthropic::Content) -> impl Iterator<Item = BlockRef<'_>> {
    let (text, blocks): (Option<BlockRef<'_>>, &[ContentBlock]) = match c {
        anthropic::Content::Text(s) => (Some(BlockRef::Text(s)), &[]),
        anthropic::Content::Blocks(b) => (None, b),
    };
    text.into_iter().chain(blocks.iter().map(BlockRef::Block))
}

/// A `functionCall` awaiting its response.
struct Call<'a> {
    tool_use_id: &'a str,
    name: Cow<'a, str>,
    /// Echo the id to Gemini only when it came from Gemini.
    echo_id: bool,
}

impl PendingCall for Call<'_> {
    fn tool_use_id(&self) -> &str {
        self.tool_use_id
    }
}

struct ToolResult<'a> {
    tool_use_id: &'a str,
    content: &'a anthropic::Content,
    is_error: bool,
}

#[derive(Default)]
struct Builder<'a> {
    out: Vec<Content<'a>>,
    /// Calls of the last model content, not yet answered.
    pending: PendingCalls<Call<'a>>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, role: &'static str, parts: Vec<Part<'a>>) {
        if parts.is_empty() {
            return;
        }
        match self.out.last_mut() {
            Some(c) if c.role.as_deref() == Some(role) => c.parts.extend(parts),
            _ => self.out.push(Content {
                role: Some(Cow::Borrowed(role)),
                parts,
            }),
        }
    }

    fn model(&mut self, parts: Vec<Part<'a>>, calls: Vec<Call<'a>>) {
        if !parts.is_empty() {
            self.push("model", parts);
            calls.into_iter().for_each(|c| self.pending.push(c));
        }
    }

    fn user(&mut self, results: &[ToolResult<'a>], parts: Vec<Part<'a>>) {
        if !self.pending.is_empty() {
            let answers = answer(self.pending.pair_all(results, |r| r.tool_use_id));
            self.push("user", answers);
        }
        self.user_text(parts);
    }

    fn user_text(&mut self, parts: Vec<Part<'a>>) {
        if parts.is_empty() {
            return;
        }
        let after_responses = self.out.last().is_some_and(|c| {
            c.role.as_deref() == Some("user")
                && c.parts.iter().any(|p| p.function_response.is_some())
        });
        if after_responses {
            self.push("model", vec![Part::text(CONTINUE_PLACEHOLDER)]);
        }
        self.push("user", parts);
    }

    fn finish(mut self, gemini3: bool) -> Vec<Content<'a>> {
        if !self.pending.is_empty() {
            // The history ends with unanswered calls: answer them so the
            // request is valid and ends with a user turn.
            let answers = answer(self.pending.unanswered().map(|c| (c, None)).collect());
            self.push("user", answers);
        } else if self
            .out
            .last()
            .is_some_and(|c| c.role.as_deref() == Some("model"))
        {
            // Assistant prefill: Gemini rejects a request ending with a model
            // turn. Ask for the continuation instead, which is what the
            // client expects back (the reply without the prefix).
            let prefill: String = self
                .out
                .pop()
                .into_iter()
                .flat_map(|c| c.parts)
                .filter_map(|p| p.text)
                .map(Text::into_string)
                .collect();
            if !prefill.trim().is_empty() {
                self.user_text(vec![Part::text(format!(
                    "Continue your reply, which you have already begun with the text below. \
                     Output only the continuation, without repeating it.\n\n{prefill}"
                ))]);
            }
        }
        if gemini3 {
            fill_missing_signatures(&mut self.out);
        }
        self.out
    }
}

/// One `functionResponse` per call, in call order (`None`: interrupted).
fn answer<'a>(pairs: Vec<(Call<'a>, Option<&ToolResult<'a>>)>) -> Vec<Part<'a>> {
    pairs
        .into_iter()
        .map(|(call, result)| {
            let (response, parts) = match result {
                None => (serde_json::json!({ "error": INTERRUPTED }), Vec::new()),
                Some(r) => {
                    let (text, media) = flatten_result(r.content);
                    let response = if r.is_error {
                        serde_json::json!({ "error": text })
                    } else {
                        serde_json::json!({ "output": json_or_text(text) })
                    };
                    (response, media)
                }
            };
            Part {
                function_response: Some(FunctionResponse {
                    id: call.echo_id.then_some(Cow::Borrowed(call.tool_use_id)),
                    name: call.name,
                    response,
                    parts,
                }),
                ..Part::default()
            }
        })
        .collect()
}

/// Tool output that is a JSON object or array is passed as structure (Gemini
/// reads it better); anything else stays text.
fn json_or_text(text: String) -> Value {
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            return v;
        }
    }
    Value::String(text)
}

/// Text of a `tool_result` and the media it carries.
fn flatten_result(content: &anthropic::Content) -> (String, Vec<FunctionResponsePart<'_>>) {
    let (text, media) = flatten_tool_result(content, |block| match block_part(block)? {
        Part {
            inline_data: Some(blob),
            ..
        } => Some(Piece::Media(FunctionResponsePart { inline_data: blob })),
        Part { text: Some(t), .. } => Some(Piece::Text(t)),
        _ => None,
    });
    (text.into_string(), media)
}

/// Text, image and document blocks (and unknown blocks that have text) as a
/// part; `None` for everything else and for empty text.
fn block_part(block: &ContentBlock) -> Option<Part<'_>> {
    let part = match block {
        ContentBlock::Text { text } => Part::text(text),
        ContentBlock::Image { source } => match source {
            ImageSource::Base64 { media_type, data } => inline(media_type, data),
            // Gemini cannot fetch arbitrary URLs (fileData is for its Files
            // API) and this layer does no I/O: leave the model a reference.
            ImageSource::Url { url } => Part::text(format!("[image: {url}]")),
        },
        ContentBlock::Document { source, .. } => match source {
            DocumentSource::Base64 { media_type, data } => inline(media_type, data),
            DocumentSource::Text { data, .. } => Part::text(data.as_str()),
            DocumentSource::Url { url } => Part::text(format!("[document: {url}]")),
            DocumentSource::Content { content } => Part::text(document_text(content)),
        },
        ContentBlock::Other { text: Some(t), .. } => Part::text(t.as_str()),
        _ => return None,
    };
    match &part.text {
        Some(t) if t.is_empty() => None,
        _ => Some(part),
    }
}

fn inline<'a>(mime: &'a str, data: &'a str) -> Part<'a> {
    Part {
        inline_data: Some(Blob {
            mime_type: Cow::Borrowed(mime),
            data: Cow::Borrowed(data),
        }),
        ..Part::default()
    }
}

fn model_parts<'a>(blocks: impl Iterator<Item = BlockRef<'a>>) -> (Vec<Part<'a>>, Vec<Call<'a>>) {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    // Signature taken from a thinking block, for the next part (see mod docs).
    let mut signature: Option<&'a str> = None;
    for b in blocks {
        let block = match b {
            BlockRef::Text(t) if t.is_empty() => continue,
            BlockRef::Text(t) => {
                let mut part = Part::text(t);
                part.thought_signature = signature.take().map(Cow::Borrowed);
                parts.push(part);
                continue;
            }
            BlockRef::Block(block) => block,
        };
        let mut part = match block {
            ContentBlock::ToolUse { id, name, input } => {
                let name = sanitize_tool_name(name);
                let echo_id = !id.starts_with(CLIENT_ID_PREFIX);
                calls.push(Call {
                    tool_use_id: id,
                    name: name.clone(),
                    echo_id,
                });
                Part {
                    function_call: Some(FunctionCall {
                        id: echo_id.then_some(Cow::Borrowed(id.as_str())),
                        name,
                        args: Some(Cow::Borrowed(&**input)),
                    }),
                    ..Part::default()
                }
            }
            // Thinking is never replayed as text; only a Gemini signature it
            // carries matters.
            ContentBlock::Thinking { signature: sig, .. } => {
                if let Some((SIGNATURE_PROVIDER, payload)) = parse_synthetic_signature(sig) {
                    if !payload.is_empty() {
                        if let Some(previous) = signature.replace(payload) {
                            parts.push(signature_part(previous));
                        }
                    }
                }
                continue;
            }
            // Real Anthropic reasoning and results misplaced in an assistant
            // turn mean nothing to Gemini.
            ContentBlock::RedactedThinking { .. } | ContentBlock::ToolResult { .. } => continue,
            other => match block_part(other) {
                Some(p) => p,
                None => continue,
            },
        };
        part.thought_signature = signature.take().map(Cow::Borrowed);
        parts.push(part);
    }
    if let Some(s) = signature {
        parts.push(signature_part(s));
    }
    (parts, calls)
}

/// A signature with no part after it: Gemini streams these on an empty text
/// part, and that is how it is replayed.
fn signature_part(signature: &str) -> Part<'_> {
    Part {
        text: Some(Text::default()),
        thought_signature: Some(Cow::Borrowed(signature)),
        ..Part::default()
    }
}

fn user_parts<'a>(
    blocks: impl Iterator<Item = BlockRef<'a>>,
) -> (Vec<ToolResult<'a>>, Vec<Part<'a>>) {
    let mut results = Vec::new();
    let mut parts = Vec::new();
    for b in blocks {
        match b {
            BlockRef::Text(t) if !t.is_empty() => parts.push(Part::text(t)),
            BlockRef::Text(_) => {}
            BlockRef::Block(ContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            }) => results.push(ToolResult {
                tool_use_id,
                content,
                is_error: *is_error,
            }),
            BlockRef::Block(other) => parts.extend(block_part(other)),
        }
    }
    (results, parts)
}

/// Gemini 3 validates thought signatures on the function calls of the
/// current turn (since the last user content with ordinary parts). A call
/// whose signature was lost — history from another model, or a client that
/// dropped thinking blocks — gets the placeholder Gemini documents for that
/// (<https://ai.google.dev/gemini-api/docs/thought-signatures>).
fn fill_missing_signatures(contents: &mut [Content<'_>]) {
    let start = contents
        .iter()
        .rposition(|c| {
            c.role.as_deref() == Some("user")
                && c.parts.iter().any(|p| p.function_response.is_none())
        })
        .map_or(0, |i| i + 1);
    for content in contents[start..]
        .iter_mut()
        .filter(|c| c.role.as_deref() == Some("model"))
    {
        if let Some(first) = content.parts.iter_mut().find(|p| p.function_call.is_some()) {
            if first.thought_signature.is_none() {
                first.thought_signature = Some(Cow::Borrowed(SKIP_SIGNATURE));
            }
        }
    }
}
