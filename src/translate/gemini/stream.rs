//! Gemini `streamGenerateContent?alt=sse` payloads → Anthropic stream events
//! (docs/translation.md, "Gemini streams"). Pure and synchronous: the caller decodes SSE
//! (CRLF framing included) and hands over each `data:` payload.
//!
//! Every payload is a whole `GenerateContentResponse` whose parts are new
//! content only: thought text streams as thinking deltas, text as text
//! deltas, and each `functionCall` arrives complete and becomes a whole
//! `tool_use` block at once. [`BlockWriter`](crate::translate::BlockWriter)
//! keeps the output grammar.
//!
//! `message_start` waits for the first chunk, which usually carries the
//! prompt size: clients read the context size early from it. The real
//! numbers arrive in `message_delta.usage`, which the SDKs use to overwrite
//! it. `push`, `finish` and `fail` start the message themselves, so a caller
//! that never calls `start` still gets a valid stream.

use super::{
    block_reason, error_kind, error_message, stop_reason, usage, ToolNameMap, SIGNATURE_PROVIDER,
};
use crate::error::ErrorKind;
use crate::protocol::anthropic::{StopReason, StreamEvent};
use crate::protocol::gemini::{
    FinishReason, FunctionCall, GenerateContentResponse, Part, UsageMetadata,
};
use crate::translate::common::emit::Emitter;
use crate::translate::tool_args::normalize_tool_arguments;
use crate::translate::{synthetic_signature, ResponseContext};

#[derive(Debug, Clone, Copy)]
enum End {
    Finished(FinishReason),
    /// The prompt was blocked: no candidates at all.
    Blocked,
}

/// Translates one Gemini stream (or, through [`from_gemini_response`], one
/// whole answer) into Anthropic stream events.
///
/// [`from_gemini_response`]: super::from_gemini_response
#[derive(Debug)]
pub struct GeminiStreamTranslator {
    names: ToolNameMap,
    emit: Emitter,
    /// The open thinking block already carries a Gemini signature, so the
    /// next signature needs a block of its own.
    signed_thinking_open: bool,
    end: Option<End>,
    /// The last `usageMetadata` seen: later chunks carry the final totals.
    usage: Option<UsageMetadata>,
}

impl GeminiStreamTranslator {
    /// A translator for the answer to the request `ctx` describes.
    pub fn new(ctx: ResponseContext) -> Self {
        GeminiStreamTranslator {
            names: ToolNameMap::default(),
            // Thinking blocks Gemini gave no signature still need one that
            // the proxy recognises when the client sends them back.
            emit: Emitter::new(ctx, synthetic_signature(SIGNATURE_PROVIDER, "")),
            signed_thinking_open: false,
            end: None,
            usage: None,
        }
    }

    /// Reverse map for tool names the request had to sanitize
    /// ([`ToolNameMap::from_request`]).
    pub(crate) fn with_tool_names(mut self, names: ToolNameMap) -> Self {
        self.names = names;
        self
    }

    /// Emits `message_start` (once).
    pub fn start(&mut self, out: &mut Vec<StreamEvent>) {
        self.emit.start(out);
    }

    /// One SSE `data:` payload. Payloads that are not JSON are skipped.
    pub fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.emit.is_done() {
            return;
        }
        if let Ok(chunk) = serde_json::from_str::<GenerateContentResponse>(data.trim()) {
            self.push_response(chunk, out);
        }
    }

    /// The upstream body ended.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let Some(end) = self.end else {
            // A body cut short: the client must not take it for a complete answer.
            self.fail(
                ErrorKind::Api,
                "Gemini stream ended without a finish reason",
                out,
            );
            return;
        };
        let stop = match end {
            End::Blocked => StopReason::Refusal,
            End::Finished(reason) => stop_reason(reason, self.emit.tool_use_count() > 0),
        };
        let usage = self.usage.as_ref().map(usage);
        self.emit.end(out, stop, None, usage);
    }

    /// Ends the stream with an `error` event (transport failure, upstream
    /// error payload, truncated body).
    pub fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>) {
        self.emit.fail(out, kind, message);
    }

    /// True once `message_stop` or `error` was emitted.
    pub fn is_done(&self) -> bool {
        self.emit.is_done()
    }

    /// A complete non-streamed body without `finishReason` is still a whole
    /// answer (unlike a stream that stops short).
    pub(super) fn assume_finished(&mut self) {
        self.end
            .get_or_insert(End::Finished(FinishReason::FinishReasonUnspecified));
    }

    pub(super) fn push_response(
        &mut self,
        chunk: GenerateContentResponse,
        out: &mut Vec<StreamEvent>,
    ) {
        if self.emit.is_done() {
            return;
        }
        if !self.emit.is_started() {
            // The first chunk usually carries the prompt size: put it in
            // message_start, where clients read the context size early.
            if let Some(u) = chunk.usage_metadata.as_ref() {
                self.emit.set_start_input_tokens(usage(u).input_tokens);
            }
        }
        self.start(out);
        if let Some(err) = &chunk.error {
            self.fail(error_kind(err), &error_message(err), out);
            return;
        }
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(u);
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            if let Some(reason) = block_reason(chunk.prompt_feedback.as_ref()) {
                if self.end.is_none() {
                    self.text(out, &format!("Gemini blocked this request ({reason})."));
                    self.emit.blocks().close(out);
                    self.end = Some(End::Blocked);
                }
            }
            return;
        };
        for part in candidate.content.into_iter().flat_map(|c| c.parts) {
            self.part(part, out);
        }
        if let Some(reason) = candidate.finish_reason {
            if let Some(why) = malformed_call_note(reason) {
                let note = match candidate.finish_message.as_deref() {
                    Some(m) if !m.is_empty() => format!("{why} ({m})"),
                    _ => why.to_owned(),
                };
                self.text(out, &note);
            }
            self.emit.blocks().close(out);
            self.signed_thinking_open = false;
            self.end = Some(End::Finished(reason));
        }
    }

    fn part(&mut self, part: Part<'static>, out: &mut Vec<StreamEvent>) {
        let signature = part.thought_signature.filter(|s| !s.is_empty());
        if part.thought == Some(true) {
            // A signature on a thought part belongs to that thinking text.
            if signature.is_some() && self.signed_thinking_open {
                self.emit.blocks().close(out);
                self.signed_thinking_open = false;
            }
            if let Some(t) = &part.text {
                self.emit.blocks().thinking(out, &t.as_str());
            }
            if let Some(s) = signature {
                self.sign(&s, out);
            }
            return;
        }
        // On any other part the signature goes into a thinking block right
        // before the block made from the part (see the module docs of
        // `translate::gemini` for how it comes back).
        if let Some(s) = signature {
            if self.signed_thinking_open {
                self.emit.blocks().close(out);
            }
            self.sign(&s, out);
        }
        if let Some(call) = part.function_call {
            self.tool_use(call, out);
        } else if let Some(t) = &part.text {
            self.text(out, &t.as_str());
        }
    }

    fn sign(&mut self, signature: &str, out: &mut Vec<StreamEvent>) {
        self.emit
            .blocks()
            .thinking_signature(out, synthetic_signature(SIGNATURE_PROVIDER, signature));
        self.signed_thinking_open = true;
    }

    fn text(&mut self, out: &mut Vec<StreamEvent>, text: &str) {
        if !text.is_empty() {
            self.emit.blocks().text(out, text);
            self.signed_thinking_open = false;
        }
    }

    fn tool_use(&mut self, call: FunctionCall<'static>, out: &mut Vec<StreamEvent>) {
        let name = self.names.original(&call.name).to_owned();
        let input = call
            .args
            .as_deref()
            .map_or_else(|| "{}".to_owned(), |a| normalize_tool_arguments(a.get()));
        self.emit.tool_use(out, call.id.as_deref(), name, input);
        self.signed_thinking_open = false;
    }
}

/// Finish reasons that mean "the model tried to call a tool and failed": no
/// tool output exists, so the client is told in text (docs/translation.md,
/// "Gemini streams").
fn malformed_call_note(reason: FinishReason) -> Option<&'static str> {
    match reason {
        FinishReason::MalformedFunctionCall => {
            Some("[The model produced a malformed tool call, so no tool was run.]")
        }
        FinishReason::UnexpectedToolCall => {
            Some("[The model called a tool that is not available, so no tool was run.]")
        }
        FinishReason::TooManyToolCalls => {
            Some("[The model made too many tool calls in one turn, so no tool was run.]")
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
