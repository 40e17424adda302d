//! Optional Chat Completions parameters that some models refuse, and how a
//! request is sent again without them: recognising the refusal in a 400,
//! leaving the parameter out of a translated request or of an encoded body,
//! and remembering the refusal per model so later requests go right the
//! first time.

use std::sync::Mutex;

use bytes::Bytes;

use crate::protocol::openai::ChatRequest;

/// Optional request parameters that some upstream models refuse (OpenAI's
/// reasoning models reject `temperature`; non-reasoning models reject
/// `reasoning_effort`; some servers know no `stream_options`). When an
/// upstream names one in a 400, the proxy sends the request again without it
/// and remembers that for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionalParam {
    ReasoningEffort,
    Temperature,
    TopP,
    StreamOptions,
    ParallelToolCalls,
    User,
    /// Some compatible servers know no `stop`.
    Stop,
    /// `max_tokens` refused in favour of `max_completion_tokens`.
    MaxTokens,
    /// The output-token limit is above what the model allows: send at most
    /// this many (Claude Code asks for up to 128,000).
    MaxTokensAtMost(u64),
}

impl OptionalParam {
    const ALL: [(OptionalParam, &'static str); 8] = [
        (OptionalParam::ReasoningEffort, "reasoning_effort"),
        (OptionalParam::Temperature, "temperature"),
        (OptionalParam::TopP, "top_p"),
        (OptionalParam::StreamOptions, "stream_options"),
        (OptionalParam::ParallelToolCalls, "parallel_tool_calls"),
        (OptionalParam::User, "user"),
        (OptionalParam::Stop, "stop"),
        (OptionalParam::MaxTokens, "max_tokens"),
    ];

    /// The request field this parameter is, for the ones that are one field
    /// (`MaxTokensAtMost` changes a value instead).
    pub fn field(self) -> Option<&'static str> {
        Self::ALL
            .iter()
            .find_map(|&(p, name)| (p == self).then_some(name))
    }
}

/// The optional parameter a 400 complains about, if the complaint is that
/// the parameter (or its value) is unsupported.
pub(crate) fn rejected_param(status: u16, body: &[u8]) -> Option<OptionalParam> {
    if status != 400 && status != 422 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error").unwrap_or(&v);
    let message = err
        .get("message")
        .or_else(|| v.get("detail"))
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let unsupported = [
        "unsupported",
        "not supported",
        "unrecognized",
        "unknown",
        "does not support",
        "not allowed",
        "extra inputs",
        "not permitted",
    ]
    .iter()
    .any(|w| message.contains(w))
        || err
            .get("code")
            .and_then(|c| c.as_str())
            .is_some_and(|c| c.starts_with("unsupported"));
    let param = err.get("param").and_then(|p| p.as_str()).unwrap_or("");
    if let Some(cap) = max_tokens_limit(param, &message) {
        return Some(OptionalParam::MaxTokensAtMost(cap));
    }
    if !unsupported {
        return None;
    }
    OptionalParam::ALL.iter().find_map(|&(p, name)| {
        let quoted = [
            format!("'{name}'"),
            format!("\"{name}\""),
            format!("`{name}`"),
            format!(": {name}"),
        ];
        (param == name || quoted.iter().any(|q| message.contains(q.as_str()))).then_some(p)
    })
}

/// The limit in a "max_tokens is too large" complaint, in the wordings of
/// OpenAI ("supports at most 16384 completion tokens"), DeepSeek ("the valid
/// range of max_tokens is [1, 8192]") and vLLM ("(128000 > 32768 - 1500)").
fn max_tokens_limit(param: &str, message: &str) -> Option<u64> {
    let about_max_tokens = param.contains("max_tokens")
        || param.contains("max_completion_tokens")
        || message.contains("max_tokens")
        || message.contains("max_completion_tokens")
        || message.contains("max_output_tokens");
    let too_large = [
        "too large",
        "at most",
        "valid range",
        "maximum",
        "exceed",
        "must be less",
    ]
    .iter()
    .any(|w| message.contains(w));
    if !about_max_tokens || !too_large {
        return None;
    }
    // vLLM: "(requested > context - input)".
    if let Some(gt) = message.rfind(" > ") {
        let rest = &message[gt + 3..];
        let nums = numbers(rest);
        if rest.contains(" - ") && nums.len() >= 2 && nums[0] > nums[1] {
            return Some(nums[0] - nums[1]).filter(|n| *n > 0);
        }
    }
    if let Some(at) = message.find("at most") {
        if let Some(n) = numbers(&message[at..]).first() {
            return Some(*n).filter(|n| *n > 0);
        }
    }
    // Otherwise the smallest plausible limit mentioned ("[1, 8192]").
    numbers(message).into_iter().filter(|n| *n >= 256).min()
}

fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// [`drop_param`] applied to an encoded Chat Completions body; `None` when
/// the body does not change.
pub(crate) fn drop_param_in_body(
    body: &[u8],
    p: OptionalParam,
) -> Result<Option<Bytes>, serde_json::Error> {
    use serde_json::{Map, Value};
    let mut obj: Map<String, Value> = serde_json::from_slice(body)?;
    if let OptionalParam::MaxTokensAtMost(cap) = p {
        let mut changed = false;
        for field in ["max_tokens", "max_completion_tokens"] {
            if let Some(v) = obj.get_mut(field) {
                if v.as_u64().is_some_and(|n| n > cap) {
                    *v = Value::from(cap);
                    changed = true;
                }
            }
        }
        return changed
            .then(|| serde_json::to_vec(&obj).map(Bytes::from))
            .transpose();
    }
    let Some(name) = p.field() else {
        return Ok(None);
    };
    let Some(value) = obj.shift_remove(name) else {
        return Ok(None);
    };
    if p == OptionalParam::MaxTokens {
        obj.insert("max_completion_tokens".to_owned(), value);
    }
    serde_json::to_vec(&obj).map(|v| Some(Bytes::from(v)))
}

/// Leaves out a parameter the upstream model refused.
pub(crate) fn drop_param(chat: &mut ChatRequest<'_>, p: OptionalParam) {
    match p {
        OptionalParam::ReasoningEffort => chat.reasoning_effort = None,
        OptionalParam::Temperature => chat.temperature = None,
        OptionalParam::TopP => chat.top_p = None,
        OptionalParam::StreamOptions => chat.stream_options = None,
        OptionalParam::ParallelToolCalls => chat.parallel_tool_calls = None,
        OptionalParam::User => chat.user = None,
        OptionalParam::Stop => chat.stop = None,
        OptionalParam::MaxTokensAtMost(cap) => {
            for field in [&mut chat.max_tokens, &mut chat.max_completion_tokens] {
                if let Some(n) = field.as_mut() {
                    *n = (*n).min(cap);
                }
            }
        }
        OptionalParam::MaxTokens => {
            if let Some(n) = chat.max_tokens.take() {
                chat.max_completion_tokens = Some(n);
            }
        }
    }
}

/// (upstream model, parameter) pairs an upstream refused. Bounded: a
/// handful of models times a handful of parameters.
#[derive(Debug, Default)]
pub(crate) struct Refusals(Mutex<Vec<(String, OptionalParam)>>);

/// Most refusals remembered per upstream.
const MAX_REFUSALS: usize = 256;

impl Refusals {
    /// The parameters `model` is known to refuse.
    pub(crate) fn for_model(&self, model: &str) -> Vec<OptionalParam> {
        let Ok(list) = self.0.lock() else {
            return Vec::new();
        };
        list.iter()
            .filter(|(m, _)| m == model)
            .map(|(_, p)| *p)
            .collect()
    }

    /// Remembers that `model` refuses `param`.
    pub(crate) fn remember(&self, model: &str, param: OptionalParam) {
        if let Ok(mut list) = self.0.lock() {
            if list.len() < MAX_REFUSALS && !list.iter().any(|(m, p)| m == model && *p == param) {
                list.push((model.to_owned(), param));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::anthropic::MessagesRequest;
    use crate::providers::encode;
    use crate::translate::openai::{to_openai_request, MaxTokensField, OpenAiRequestOptions};

    #[test]
    fn recognises_refused_optional_parameters() {
        let r = |b: &str| rejected_param(400, b.as_bytes());
        assert_eq!(
            r(
                r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#
            ),
            Some(OptionalParam::MaxTokens)
        );
        assert_eq!(
            r(
                r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.","param":"temperature","code":"unsupported_value"}}"#
            ),
            Some(OptionalParam::Temperature)
        );
        assert_eq!(
            r(
                r#"{"error":{"message":"Unrecognized request argument supplied: reasoning_effort"}}"#
            ),
            Some(OptionalParam::ReasoningEffort)
        );
        assert_eq!(
            r(r#"{"error":{"message":"messages: bad role","param":"messages"}}"#),
            None
        );
        assert_eq!(
            r(r#"{"error":{"message":"temperature must be <= 2"}}"#),
            None
        );
        assert_eq!(
            rejected_param(401, br#"{"error":{"message":"unsupported 'user'"}}"#),
            None
        );
    }

    #[test]
    fn recognises_output_token_limits() {
        let r = |b: &str| rejected_param(400, b.as_bytes());
        assert_eq!(
            r(
                r#"{"error":{"message":"max_tokens is too large: 128000. This model supports at most 16384 completion tokens, whereas you provided 128000.","param":"max_tokens","code":"invalid_value"}}"#
            ),
            Some(OptionalParam::MaxTokensAtMost(16384))
        );
        assert_eq!(
            r(
                r#"{"error":{"message":"Invalid max_tokens value, the valid range of max_tokens is [1, 8192]","type":"invalid_request_error"}}"#
            ),
            Some(OptionalParam::MaxTokensAtMost(8192))
        );
        assert_eq!(
            r(
                r#"{"object":"error","message":"'max_tokens' or 'max_completion_tokens' is too large: 128000. This model's maximum context length is 32768 tokens and your request has 1500 input tokens (128000 > 32768 - 1500).","type":"BadRequestError","code":400}"#
            ),
            Some(OptionalParam::MaxTokensAtMost(31268))
        );
        assert_eq!(
            r(r#"{"error":{"message":"prompt is too long: 300000 tokens > 200000 maximum"}}"#),
            None
        );
    }

    /// A Chat Completions request with every optional parameter set.
    fn chat_request(req: &MessagesRequest) -> ChatRequest<'_> {
        let opts = OpenAiRequestOptions {
            model: "gpt-x",
            max_tokens_field: MaxTokensField::MaxTokens,
            max_tokens_cap: None,
            stream: true,
        };
        let mut chat = to_openai_request(req, &opts);
        chat.temperature = Some(0.7);
        chat.top_p = Some(0.9);
        chat.parallel_tool_calls = Some(false);
        chat.reasoning_effort = Some("high");
        chat.user = Some("u-1".to_owned());
        // Leaked: a test-only value the request borrows for 'static.
        chat.stop = Some(Box::leak(vec!["END".to_owned()].into_boxed_slice()));
        chat
    }

    /// Patching the encoded body gives what translating again without the
    /// parameter gives, for every parameter an upstream can refuse.
    #[test]
    fn a_refused_parameter_is_left_out_of_the_encoded_body_as_in_translation() {
        let raw = include_bytes!("../../../tests/fixtures/claude-code/01-write-turn2.json");
        let req: MessagesRequest = serde_json::from_slice(raw).unwrap();
        let body = encode(&chat_request(&req), raw.len()).unwrap();
        let params = [
            OptionalParam::ReasoningEffort,
            OptionalParam::Temperature,
            OptionalParam::TopP,
            OptionalParam::StreamOptions,
            OptionalParam::ParallelToolCalls,
            OptionalParam::User,
            OptionalParam::Stop,
            OptionalParam::MaxTokens,
            OptionalParam::MaxTokensAtMost(1000),
        ];
        for p in params {
            let mut chat = chat_request(&req);
            drop_param(&mut chat, p);
            let expected: serde_json::Value =
                serde_json::from_slice(&encode(&chat, 0).unwrap()).unwrap();
            let patched = drop_param_in_body(&body, p).unwrap().expect("body changes");
            let got: serde_json::Value = serde_json::from_slice(&patched).unwrap();
            assert_eq!(got, expected, "{p:?}");
            assert_ne!(patched, body, "{p:?}");
        }
        // Nothing to change: no retry.
        let at_most_more = OptionalParam::MaxTokensAtMost(req.max_tokens + 1);
        assert!(drop_param_in_body(&body, at_most_more).unwrap().is_none());
        let without_user = drop_param_in_body(&body, OptionalParam::User)
            .unwrap()
            .unwrap();
        assert!(drop_param_in_body(&without_user, OptionalParam::User)
            .unwrap()
            .is_none());
    }

    #[test]
    fn refusals_are_remembered_per_model_and_bounded() {
        let r = Refusals::default();
        r.remember("a", OptionalParam::Temperature);
        r.remember("a", OptionalParam::Temperature);
        r.remember("b", OptionalParam::User);
        assert_eq!(r.for_model("a"), vec![OptionalParam::Temperature]);
        assert_eq!(r.for_model("b"), vec![OptionalParam::User]);
        assert!(r.for_model("c").is_empty());
        for i in 0..(MAX_REFUSALS as u64 * 2) {
            r.remember("m", OptionalParam::MaxTokensAtMost(i));
        }
        assert!(r.0.lock().unwrap().len() <= MAX_REFUSALS);
    }
}
