//! Tool-history pairing (docs/translation.md, "Tool history").
//!
//! Anthropic lets a conversation carry a `tool_use` that no `tool_result`
//! answers (the user interrupted the call) and results whose call is not in
//! the turn before. OpenAI and Gemini reject both, so every upstream pairs
//! the history the same way: the calls of an assistant turn wait in
//! [`PendingCalls`]; a result answers the waiting call with its id; a result
//! no call waits for is dropped; a call still waiting when the conversation
//! moves on is answered with [`INTERRUPTED`].

/// The error a call the client never answered gets as its result.
pub(crate) const INTERRUPTED: &str = "tool call was interrupted";

/// [`INTERRUPTED`] as the text of an error result, for upstreams whose tool
/// results are text only.
pub(crate) const INTERRUPTED_TEXT: &str = "Error: tool call was interrupted (no result)";

/// A call waiting in [`PendingCalls`]: anything that knows its `tool_use` id.
pub(crate) trait PendingCall {
    /// The `tool_use` id a result names to answer this call.
    fn tool_use_id(&self) -> &str;
}

impl PendingCall for &str {
    fn tool_use_id(&self) -> &str {
        self
    }
}

/// The calls of the last assistant turn that have no result yet, in call
/// order.
#[derive(Debug)]
pub(crate) struct PendingCalls<C> {
    calls: Vec<C>,
}

impl<C> Default for PendingCalls<C> {
    fn default() -> Self {
        PendingCalls { calls: Vec::new() }
    }
}

impl<C: PendingCall> PendingCalls<C> {
    /// A call that now waits for its result.
    pub(crate) fn push(&mut self, call: C) {
        self.calls.push(call);
    }

    /// True when no call is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The waiting call that a result for `id` answers, no longer waiting;
    /// `None` when no call waits for it (a stray or repeated result).
    pub(crate) fn answer(&mut self, id: &str) -> Option<C> {
        let pos = self.calls.iter().position(|c| c.tool_use_id() == id)?;
        Some(self.calls.remove(pos))
    }

    /// Every waiting call with the first of `results` that answers it, in
    /// call order (`None`: interrupted). No call waits afterwards; results
    /// that answer none are left out.
    pub(crate) fn pair_all<'r, R>(
        &mut self,
        results: &'r [R],
        result_id: impl Fn(&R) -> &str,
    ) -> Vec<(C, Option<&'r R>)> {
        self.calls
            .drain(..)
            .map(|call| {
                let result = results.iter().find(|r| result_id(r) == call.tool_use_id());
                (call, result)
            })
            .collect()
    }

    /// The calls still waiting, in call order; none waits afterwards.
    pub(crate) fn unanswered(&mut self) -> std::vec::Drain<'_, C> {
        self.calls.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_answer_their_call_once_and_the_rest_are_interrupted() {
        let mut p = PendingCalls::default();
        p.push("a");
        p.push("b");
        p.push("c");
        assert_eq!(p.answer("b"), Some("b"));
        assert_eq!(p.answer("b"), None, "answered already");
        assert_eq!(p.answer("zz"), None, "no such call");
        assert_eq!(p.unanswered().collect::<Vec<_>>(), ["a", "c"]);
        assert!(p.is_empty());
    }

    #[test]
    fn pairing_follows_call_order() {
        let mut p = PendingCalls::default();
        p.push("a");
        p.push("b");
        let results = [("b", 2), ("stray", 0), ("b", 3)];
        let pairs = p.pair_all(&results, |r| r.0);
        assert_eq!(pairs, [("a", None), ("b", Some(&("b", 2)))]);
        assert!(p.is_empty());
        assert!(INTERRUPTED_TEXT.contains(INTERRUPTED));
    }
}
