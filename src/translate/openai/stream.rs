//! Streaming OpenAI chunks → Anthropic SSE events (docs/translation.md,
//! "OpenAI streams").
//!
//! Text and thinking are forwarded as they arrive (only the few characters
//! that might begin a stop sequence are held back). Tool calls are
//! accumulated and emitted whole when the upstream finishes — "simple mode":
//! arguments can then be normalised to valid JSON, which live streaming of
//! fragments could not retract.
//! [`BlockWriter`](crate::translate::BlockWriter) keeps the event grammar.

use super::{
    map_usage, non_empty, stop_reason, stream_error_kind, stream_error_message, thinking_signature,
    upstream_stop_sequence,
};
use crate::error::ErrorKind;
use crate::protocol::anthropic::{StopReason, StreamEvent};
use crate::protocol::openai::{ChatChunk, ChatUsage, ChunkDelta, ChunkToolCall};
use crate::translate::common::emit::Emitter;
use crate::translate::common::stop::{Scanned, StopScan};
use crate::translate::tool_args::normalize_tool_arguments;
use crate::translate::ResponseContext;

/// Translates one OpenAI chunk stream (or, through
/// [`from_openai_response`](super::from_openai_response), one whole answer)
/// into Anthropic stream events.
#[derive(Debug)]
pub struct OpenAiStreamTranslator {
    emit: Emitter,
    /// Set once any choice carried a `finish_reason`: the stream is then
    /// complete even without `[DONE]`.
    finished: bool,
    finish_reason: Option<String>,
    refusal: bool,
    /// vLLM's matched stop string, when it is one of the client's.
    upstream_stop: Option<String>,
    usage: Option<ChatUsage>,
    /// Text not yet sent because it may be the start of a stop sequence.
    held: StopScan,
    tools: Vec<ToolAcc>,
    /// Upstream `index` → the call it currently names (a few entries: a
    /// list is cheaper than a hash map).
    by_index: Vec<(u32, usize)>,
    /// Most recently touched call, for fragments with neither index nor id.
    last_tool: Option<usize>,
    /// `tools[..emitted]` have been sent (or skipped).
    emitted: usize,
}

#[derive(Debug, Default)]
struct ToolAcc {
    id: Option<String>,
    name: String,
    args: String,
}

impl OpenAiStreamTranslator {
    /// A translator for the answer to the request `ctx` describes.
    pub fn new(ctx: ResponseContext) -> Self {
        OpenAiStreamTranslator {
            emit: Emitter::new(ctx, thinking_signature()),
            finished: false,
            finish_reason: None,
            refusal: false,
            upstream_stop: None,
            usage: None,
            held: StopScan::default(),
            tools: Vec::new(),
            by_index: Vec::new(),
            last_tool: None,
            emitted: 0,
        }
    }

    /// Emits `message_start` (the real token numbers follow in
    /// `message_delta`). Idempotent.
    pub fn start(&mut self, out: &mut Vec<StreamEvent>) {
        self.emit.start(out);
    }

    /// One SSE `data:` payload from the upstream (may be `[DONE]`).
    pub fn push(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.emit.is_done() {
            return;
        }
        self.start(out);
        let data = data.trim();
        if data == "[DONE]" {
            self.complete(out);
            return;
        }
        // Malformed chunks are skipped: one bad line should not end an
        // otherwise good answer.
        if let Ok(chunk) = serde_json::from_str::<ChatChunk>(data) {
            self.push_chunk(chunk, out);
        }
    }

    /// One parsed chunk.
    pub(super) fn push_chunk(&mut self, chunk: ChatChunk, out: &mut Vec<StreamEvent>) {
        if self.emit.is_done() {
            return;
        }
        self.start(out);
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            self.fail(
                stream_error_kind(&error),
                &stream_error_message(&error),
                out,
            );
            return;
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        for choice in chunk
            .choices
            .into_iter()
            .filter(|c| c.index.unwrap_or(0) == 0)
        {
            self.delta(choice.delta, out);
            if self.emit.is_done() {
                return;
            }
            if let Some(seq) = upstream_stop_sequence(choice.stop_reason.as_ref(), self.emit.ctx())
            {
                self.upstream_stop = Some(seq);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finished = true;
                self.finish_reason = Some(reason);
                self.flush_blocks(out);
            }
        }
    }

    /// The upstream body ended. Completes the message, or reports an
    /// `api_error` if the upstream stopped without saying it was done.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.emit.is_done() {
            return;
        }
        if self.finished {
            self.complete(out);
        } else {
            self.fail(
                ErrorKind::Api,
                "upstream stream ended before the response was complete",
                out,
            );
        }
    }

    /// Transport failure or timeout mid-stream: one `error` event, nothing after.
    pub fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<StreamEvent>) {
        self.emit.fail(out, kind, message);
    }

    /// True once `message_stop` or `error` was emitted.
    pub fn is_done(&self) -> bool {
        self.emit.is_done()
    }

    fn delta(&mut self, delta: ChunkDelta, out: &mut Vec<StreamEvent>) {
        let reasoning = non_empty(delta.reasoning_content).or_else(|| non_empty(delta.reasoning));
        if let Some(r) = reasoning {
            self.flush_held(out);
            self.emit.blocks().thinking(out, &r);
        }
        if let Some(text) = non_empty(delta.content) {
            self.text(&text, out);
            if self.emit.is_done() {
                return;
            }
        }
        if let Some(text) = non_empty(delta.refusal) {
            self.refusal = true;
            self.text(&text, out);
            if self.emit.is_done() {
                return;
            }
        }
        for fragment in delta.tool_calls.unwrap_or_default() {
            // Tool blocks come after the text; close it now so text
            // streamed so far reaches the client before the calls finish.
            self.flush_held(out);
            self.emit.blocks().close(out);
            self.tool_fragment(fragment);
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        match self.held.push(text, &self.emit.ctx().stop_sequences) {
            Scanned::Text(ready) => self.emit.blocks().text(out, &ready),
            Scanned::Stop { before, sequence } => {
                self.emit.blocks().text(out, &before);
                self.end(out, StopReason::StopSequence, Some(sequence));
            }
        }
    }

    /// Releases held-back text: what follows is not text, so it can no
    /// longer grow into a stop sequence.
    fn flush_held(&mut self, out: &mut Vec<StreamEvent>) {
        let held = self.held.flush();
        self.emit.blocks().text(out, &held);
    }

    /// Finds the accumulator a fragment belongs to (docs/translation.md,
    /// "OpenAI streams") and appends to it.
    fn tool_fragment(&mut self, fragment: ChunkToolCall) {
        let (name, args) = match fragment.function {
            Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments),
            None => (None, None),
        };
        let id = fragment.id.filter(|i| !i.is_empty());
        let slot = self.tool_slot(fragment.index, id.as_deref(), name.is_some());
        self.last_tool = Some(slot);
        let Some(acc) = self.tools.get_mut(slot) else {
            return;
        };
        if acc.id.is_none() {
            acc.id = id;
        }
        if let Some(name) = name {
            if acc.name.is_empty() {
                acc.name = name;
            }
        }
        match args {
            Some(serde_json::Value::String(s)) => acc.args.push_str(&s),
            Some(serde_json::Value::Null) | None => {}
            Some(other) => acc.args.push_str(&other.to_string()),
        }
    }

    fn tool_slot(&mut self, index: Option<u32>, id: Option<&str>, named: bool) -> usize {
        match index {
            Some(ix) => {
                if let Some(&(_, slot)) = self.by_index.iter().find(|(i, _)| *i == ix) {
                    let existing = self.tools.get(slot).and_then(|t| t.id.as_deref());
                    // Ollama reuses index 0 for parallel calls that differ by
                    // id. A new id *without* a name is a continuation (some
                    // servers put a fresh id on every fragment).
                    let new_call =
                        named && matches!((id, existing), (Some(new), Some(old)) if new != old);
                    if !new_call {
                        return slot;
                    }
                }
                let slot = self.new_tool();
                match self.by_index.iter_mut().find(|(i, _)| *i == ix) {
                    Some(entry) => entry.1 = slot,
                    None => self.by_index.push((ix, slot)),
                }
                slot
            }
            None => {
                if let Some(id) = id {
                    if let Some(slot) = self.tools.iter().position(|t| t.id.as_deref() == Some(id))
                    {
                        return slot;
                    }
                }
                match self.last_tool {
                    Some(slot) if !named && self.emitted <= slot => slot,
                    _ => self.new_tool(),
                }
            }
        }
    }

    fn new_tool(&mut self) -> usize {
        self.tools.push(ToolAcc::default());
        self.tools.len() - 1
    }

    /// Closes the open block and emits every finished tool call, in the
    /// order the calls first appeared.
    fn flush_blocks(&mut self, out: &mut Vec<StreamEvent>) {
        self.flush_held(out);
        self.emit.blocks().close(out);
        // A stop sequence reported by the upstream ends the message at the
        // text, as in the non-streaming translation.
        if self.upstream_stop.is_some() {
            self.emitted = self.tools.len();
            return;
        }
        for acc in &self.tools[self.emitted..] {
            if acc.name.is_empty() {
                continue;
            }
            self.emit.tool_use(
                out,
                acc.id.as_deref(),
                acc.name.clone(),
                normalize_tool_arguments(&acc.args),
            );
        }
        self.emitted = self.tools.len();
    }

    /// `[DONE]`, the end of a body that had a `finish_reason`, or the end of
    /// a whole (non-streamed) answer.
    pub(super) fn complete(&mut self, out: &mut Vec<StreamEvent>) {
        self.flush_blocks(out);
        match self.upstream_stop.take() {
            Some(seq) => self.end(out, StopReason::StopSequence, Some(seq)),
            None => {
                let reason = stop_reason(
                    self.finish_reason.as_deref(),
                    self.emit.tool_use_count() as usize,
                    self.refusal,
                );
                self.end(out, reason, None);
            }
        }
    }

    fn end(
        &mut self,
        out: &mut Vec<StreamEvent>,
        reason: StopReason,
        stop_sequence: Option<String>,
    ) {
        let usage = self.usage.as_ref().map(map_usage);
        self.emit.end(out, reason, stop_sequence, usage);
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
