//! The half of a stream translator that every provider shares: the
//! message's beginning and its one ending, unique tool ids, and the blocks in
//! between (through [`BlockWriter`], which keeps the event grammar).
//! docs/translation.md, "Streams", describes the rules.

use crate::error::ErrorKind;
use crate::protocol::anthropic::{
    ErrorBody, MessageDeltaBody, MessagesResponse, StopReason, StreamEvent, Usage,
};
use crate::translate::{sanitize_tool_id, BlockWriter, ResponseContext};

/// Emits one Anthropic message: `message_start` once, then blocks, then
/// either `message_delta` + `message_stop` or one `error` event, and nothing
/// after that.
#[derive(Debug)]
pub(crate) struct Emitter {
    ctx: ResponseContext,
    blocks: BlockWriter,
    ids: ToolIds,
    /// `usage.input_tokens` of `message_start`.
    start_input_tokens: u64,
    started: bool,
    done: bool,
}

impl Emitter {
    /// `default_signature` closes thinking blocks whose upstream gave no
    /// signature.
    pub(crate) fn new(ctx: ResponseContext, default_signature: String) -> Self {
        Emitter {
            ctx,
            blocks: BlockWriter::new(default_signature),
            ids: ToolIds::default(),
            start_input_tokens: 0,
            started: false,
            done: false,
        }
    }

    /// The request this message answers.
    pub(crate) fn ctx(&self) -> &ResponseContext {
        &self.ctx
    }

    /// The content blocks, for text and thinking.
    pub(crate) fn blocks(&mut self) -> &mut BlockWriter {
        &mut self.blocks
    }

    /// Number of `tool_use` blocks emitted so far.
    pub(crate) fn tool_use_count(&self) -> u32 {
        self.blocks.tool_use_count()
    }

    /// True once `message_start` was emitted.
    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    /// True once `message_stop` or `error` was emitted.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The input size `message_start` reports (0 unless the upstream told it
    /// before the message started); the real numbers follow in
    /// `message_delta`.
    pub(crate) fn set_start_input_tokens(&mut self, tokens: u64) {
        self.start_input_tokens = tokens;
    }

    /// Emits `message_start`, once.
    pub(crate) fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut message =
            MessagesResponse::new(self.ctx.message_id.clone(), self.ctx.model.clone());
        message.usage.input_tokens = self.start_input_tokens;
        out.push(StreamEvent::MessageStart { message });
    }

    /// Emits a complete `tool_use` block under a unique id: the upstream's
    /// (made valid) or a generated one. `input_json` must be the text of a
    /// JSON object.
    pub(crate) fn tool_use(
        &mut self,
        out: &mut Vec<StreamEvent>,
        upstream_id: Option<&str>,
        name: String,
        input_json: String,
    ) {
        let id = self.ids.assign(upstream_id, &self.ctx);
        self.blocks.tool_use(out, id, name, input_json);
    }

    /// Ends the message: closes the open block and emits `message_delta`
    /// (with `usage`, or, when the upstream reported none, the input size
    /// `message_start` gave) and `message_stop`.
    pub(crate) fn end(
        &mut self,
        out: &mut Vec<StreamEvent>,
        stop_reason: StopReason,
        stop_sequence: Option<String>,
        usage: Option<Usage>,
    ) {
        if self.done {
            return;
        }
        self.start(out);
        self.blocks.close(out);
        let usage = usage.unwrap_or_else(|| Usage {
            input_tokens: self.start_input_tokens,
            ..Usage::default()
        });
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_reason),
                stop_sequence,
            },
            usage,
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    /// Ends the stream with one `error` event (after `message_start`, so
    /// the client always sees the message begin).
    pub(crate) fn fail(&mut self, out: &mut Vec<StreamEvent>, kind: ErrorKind, message: &str) {
        if self.done {
            return;
        }
        self.start(out);
        out.push(StreamEvent::Error {
            error: ErrorBody {
                kind: kind.as_str().to_owned(),
                message: message.to_owned(),
            },
        });
        self.done = true;
    }
}

/// Hands out the `tool_use` ids of one message: the upstream's id made
/// valid, or a generated one when it is missing or already taken (ids must
/// be unique within a message, and upstreams repeat or omit them).
#[derive(Debug, Default)]
struct ToolIds {
    used: Vec<String>,
}

impl ToolIds {
    /// The id for the next `tool_use` of the message.
    fn assign(&mut self, upstream: Option<&str>, ctx: &ResponseContext) -> String {
        let id = upstream
            .and_then(sanitize_tool_id)
            .filter(|id| !self.used.contains(id))
            .unwrap_or_else(|| self.generate(ctx));
        self.used.push(id.clone());
        id
    }

    /// The first generated id from the message's own sequence that no
    /// upstream id has taken yet.
    fn generate(&self, ctx: &ResponseContext) -> String {
        let mut n = self.used.len();
        loop {
            let id = ctx.tool_id(n);
            if !self.used.contains(&id) {
                return id;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::accumulate;

    fn ctx() -> ResponseContext {
        ResponseContext {
            message_id: "msg_X".into(),
            model: "m".into(),
            stop_sequences: vec![],
        }
    }

    #[test]
    fn tool_ids_are_unique_and_valid() {
        let ctx = ctx();
        let mut ids = ToolIds::default();
        assert_eq!(
            ids.assign(Some("functions.Read:0"), &ctx),
            "functions_Read_0"
        );
        assert_eq!(ids.assign(Some("functions.Read:0"), &ctx), "toolu_X01");
        assert_eq!(ids.assign(Some("functions_Read_0"), &ctx), "toolu_X02");
        // An upstream id that looks generated does not get a twin.
        assert_eq!(ids.assign(Some("toolu_X04"), &ctx), "toolu_X04");
        assert_eq!(ids.assign(None, &ctx), "toolu_X05");
        assert_eq!(ids.assign(Some(""), &ctx), "toolu_X06");
    }

    #[test]
    fn one_start_one_end_and_nothing_after() {
        let mut e = Emitter::new(ctx(), "sig".into());
        let mut out = Vec::new();
        e.set_start_input_tokens(5);
        e.start(&mut out);
        e.start(&mut out);
        e.blocks().text(&mut out, "hi");
        e.end(&mut out, StopReason::EndTurn, None, None);
        e.end(&mut out, StopReason::EndTurn, None, None);
        e.fail(&mut out, ErrorKind::Api, "late");
        assert!(e.is_done());
        let m = accumulate(&out).unwrap();
        assert_eq!(m.usage.input_tokens, 5, "no usage: message_start's stands");
        assert_eq!(m.stop_reason, Some(StopReason::EndTurn));
    }

    #[test]
    fn failing_first_still_starts_the_message() {
        let mut e = Emitter::new(ctx(), "sig".into());
        let mut out = Vec::new();
        e.fail(&mut out, ErrorKind::Timeout, "slow");
        e.fail(&mut out, ErrorKind::Api, "again");
        assert!(matches!(
            &out[..],
            [StreamEvent::MessageStart { .. }, StreamEvent::Error { error }] if error.kind == "timeout_error"
        ));
    }
}
