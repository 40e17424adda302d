//! Request settings every upstream derives the same way from an Anthropic
//! request (docs/translation.md, "Settings").

use crate::protocol::anthropic::ToolChoice;
use crate::translate::common::hash::fnv1a64;

/// OpenAI's limit on `user` / `safety_identifier`.
const MAX_USER_LEN: usize = 64;

/// How hard the model should reason, in the three steps both OpenAI's
/// `reasoning_effort` and Gemini 3's `thinkingLevel` offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReasoningLevel {
    Low,
    Medium,
    High,
}

impl ReasoningLevel {
    /// A thinking budget in tokens, bucketed: under 4096 is low, under
    /// 16384 medium, anything more high.
    pub(crate) fn for_budget(budget: u64) -> Self {
        match budget {
            0..=4095 => ReasoningLevel::Low,
            4096..=16383 => ReasoningLevel::Medium,
            _ => ReasoningLevel::High,
        }
    }

    /// Anthropic's `output_config.effort`; `xhigh` and `max` are as high as
    /// the other providers go. `None` for a word Anthropic does not define.
    pub(crate) fn for_effort(effort: &str) -> Option<Self> {
        match effort {
            "low" => Some(ReasoningLevel::Low),
            "medium" => Some(ReasoningLevel::Medium),
            "high" | "xhigh" | "max" => Some(ReasoningLevel::High),
            _ => None,
        }
    }

    /// The level in OpenAI's `reasoning_effort` words.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReasoningLevel::Low => "low",
            ReasoningLevel::Medium => "medium",
            ReasoningLevel::High => "high",
        }
    }
}

/// The output limit to send: the client's, lowered to the upstream model's
/// own limit when that is known and smaller.
pub(crate) fn capped_max_tokens(requested: u64, cap: Option<u64>) -> u64 {
    cap.map_or(requested, |cap| requested.min(cap))
}

/// The client's `tool_choice` when the upstream can take it: `None` when
/// there are no tools to choose from, or when it names a tool that
/// `declared` does not know (both upstreams reject either with a 400).
pub(crate) fn usable_tool_choice(
    choice: Option<&ToolChoice>,
    has_tools: bool,
    declared: impl FnOnce(&str) -> bool,
) -> Option<&ToolChoice> {
    if !has_tools {
        return None;
    }
    match choice? {
        ToolChoice::Tool { name, .. } if !declared(name) => None,
        choice => Some(choice),
    }
}

/// `metadata.user_id` as OpenAI's `user` (both its protocols): Claude
/// Code's user ids are long JSON strings and OpenAI allows 64 characters, so
/// longer ids become a stable hash (same user → same value).
pub(crate) fn openai_user(user_id: &str) -> Option<String> {
    if user_id.is_empty() {
        return None;
    }
    if user_id.len() <= MAX_USER_LEN {
        return Some(user_id.to_owned());
    }
    Some(format!("user_{:016x}", fnv1a64(user_id.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_and_efforts_bucket_into_three_levels() {
        use ReasoningLevel::*;
        let levels: Vec<_> = [0, 4095, 4096, 16383, 16384, u64::MAX]
            .into_iter()
            .map(ReasoningLevel::for_budget)
            .collect();
        assert_eq!(levels, [Low, Low, Medium, Medium, High, High]);
        assert_eq!(ReasoningLevel::for_effort("xhigh"), Some(High));
        assert_eq!(ReasoningLevel::for_effort("medium"), Some(Medium));
        assert_eq!(ReasoningLevel::for_effort("bogus"), None);
        assert_eq!(Medium.as_str(), "medium");
    }

    #[test]
    fn max_tokens_is_only_ever_lowered() {
        assert_eq!(capped_max_tokens(100, None), 100);
        assert_eq!(capped_max_tokens(100, Some(64)), 64);
        assert_eq!(capped_max_tokens(100, Some(1000)), 100);
    }

    #[test]
    fn tool_choice_needs_tools_and_a_declared_name() {
        let named = ToolChoice::Tool {
            name: "T".into(),
            disable_parallel_tool_use: None,
        };
        let auto = ToolChoice::Auto {
            disable_parallel_tool_use: None,
        };
        assert_eq!(usable_tool_choice(Some(&auto), false, |_| true), None);
        assert_eq!(usable_tool_choice(None, true, |_| true), None);
        assert_eq!(
            usable_tool_choice(Some(&auto), true, |_| false),
            Some(&auto)
        );
        assert_eq!(
            usable_tool_choice(Some(&named), true, |n| n == "T"),
            Some(&named)
        );
        assert_eq!(usable_tool_choice(Some(&named), true, |n| n == "U"), None);
    }

    #[test]
    fn long_user_ids_become_a_stable_hash() {
        assert_eq!(openai_user(""), None);
        assert_eq!(openai_user("u-1").as_deref(), Some("u-1"));
        let long = "x".repeat(65);
        let h = openai_user(&long).unwrap();
        assert!(h.starts_with("user_") && h.len() <= MAX_USER_LEN, "{h}");
        assert_eq!(openai_user(&long), Some(h));
    }
}
