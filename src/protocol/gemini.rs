//! Google Gemini `generateContent` wire types
//! (<https://ai.google.dev/api/generate-content>), JSON in lowerCamelCase.
//!
//! The request side borrows from the inbound Anthropic request wherever that
//! is free (`Cow`), so large strings such as base64 images and tool inputs are
//! not copied. The response side is lenient: every field is optional, unknown
//! fields and unknown part kinds are ignored, `null` lists read as empty.
//! No logic lives here beyond (de)serialisation.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::text::Text;

/// `POST …/models/{model}:generateContent` (and `:streamGenerateContent`) body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest<'a> {
    /// The conversation, alternating `user` and `model`.
    pub contents: Vec<Content<'a>>,
    /// System text, as parts without a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content<'a>>,
    /// Declared functions (one tool holding them all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool<'a>>,
    /// How the model may call them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig<'a>>,
    /// Limits, sampling and thinking.
    pub generation_config: GenerationConfig<'a>,
}

/// One turn. `role` is `"user"` or `"model"`; `systemInstruction` has none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content<'a> {
    /// `user` or `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
    /// The turn's content.
    #[serde(default, deserialize_with = "null_as_default")]
    pub parts: Vec<Part<'a>>,
}

/// A part carries exactly one data field on the wire; a struct of options
/// (rather than an enum) keeps parsing lenient towards part kinds the proxy
/// does not know (`executableCode`, …), which simply arrive with all of
/// these unset.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part<'a> {
    /// Text (thought text when `thought` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text<'a>>,
    /// Marks reasoning (thought summaries when `includeThoughts` is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque reasoning state that must be replayed on the same part
    /// (<https://ai.google.dev/gemini-api/docs/thought-signatures>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<Cow<'a, str>>,
    /// Media bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob<'a>>,
    /// A file uploaded to Gemini's Files API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData<'a>>,
    /// A call of a declared function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall<'a>>,
    /// The result of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse<'a>>,
}

impl<'a> Part<'a> {
    /// A text part.
    pub fn text(text: impl Into<Text<'a>>) -> Self {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }
}

/// Inline media.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob<'a> {
    /// IANA media type.
    pub mime_type: Cow<'a, str>,
    /// Base64 bytes.
    pub data: Cow<'a, str>,
}

/// A reference to an uploaded file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData<'a> {
    /// IANA media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<Cow<'a, str>>,
    /// The file's URI.
    pub file_uri: Cow<'a, str>,
}

/// A function call of the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall<'a> {
    /// Call id, when Gemini gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    /// Function name.
    pub name: Cow<'a, str>,
    /// Kept raw: on the request side it is the client's `tool_use.input`
    /// passed through untouched; on the response side it becomes the
    /// `input_json_delta` text without an intermediate tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Cow<'a, RawValue>>,
}

/// What a function call returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse<'a> {
    /// The id of the call it answers, when that call had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    /// Name of the function called.
    pub name: Cow<'a, str>,
    /// `{"output": …}` or `{"error": …}`.
    pub response: Value,
    /// Media returned by the tool (images, PDFs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<FunctionResponsePart<'a>>,
}

/// Media in a function response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponsePart<'a> {
    /// The media bytes.
    pub inline_data: Blob<'a>,
}

/// A tool: a set of function declarations.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool<'a> {
    /// The functions.
    pub function_declarations: Vec<FunctionDeclaration<'a>>,
}

/// A declared function.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration<'a> {
    /// Function name (valid for Gemini).
    pub name: Cow<'a, str>,
    /// What it does (the client's text, passed through raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a crate::protocol::anthropic::JsonText>,
    /// OpenAPI-subset schema (<https://ai.google.dev/api/caching#Schema>);
    /// absent for tools without arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The cleaned schema, shared: Claude Code sends the same tools on
    /// every turn, so cleaning is done once per distinct schema.
    pub parameters: Option<std::sync::Arc<serde_json::value::RawValue>>,
}

/// `toolConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig<'a> {
    /// Function-calling settings.
    pub function_calling_config: FunctionCallingConfig<'a>,
}

/// `functionCallingConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig<'a> {
    /// Whether and how the model may call functions.
    pub mode: FunctionCallingMode,
    /// Only meaningful with [`FunctionCallingMode::Any`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<Cow<'a, str>>>,
}

/// `functionCallingConfig.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FunctionCallingMode {
    /// The model decides.
    Auto,
    /// The model must call a function.
    Any,
    /// The model must not call functions.
    None,
    /// The model decides, and its calls are checked against the schemas.
    Validated,
}

/// `generationConfig`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig<'a> {
    /// Output limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// At most five stop strings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<&'a str>,
    /// Thinking settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

/// `thinkingBudget` (2.5 family) and `thinkingLevel` (3 family) are mutually
/// exclusive: sending both is a 400.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Send thought summaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    /// Thinking tokens (Gemini 2.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// Thinking effort (Gemini 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
}

/// `thinkingLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThinkingLevel {
    /// As little as the model allows.
    Minimal,
    /// Little.
    Low,
    /// Some.
    Medium,
    /// Much.
    High,
}

// ---------------------------------------------------------------------------
// Responses (non-streaming body, and each streamed `data:` payload)

/// An answer, or one streamed `data:` payload.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The answers (the proxy asks for one).
    #[serde(default, deserialize_with = "null_as_default")]
    pub candidates: Vec<Candidate>,
    /// Set when the prompt was blocked.
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts so far.
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(default)]
    pub model_version: Option<String>,
    /// Gemini's id for the answer.
    #[serde(default)]
    pub response_id: Option<String>,
    /// Set on an error payload sent after a 200, or instead of an answer.
    #[serde(default)]
    pub error: Option<GeminiError>,
}

/// One answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// What the model said (new parts only, in a stream).
    #[serde(default)]
    pub content: Option<Content<'static>>,
    /// Why it stopped; set on the last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Detail for some finish reasons.
    #[serde(default)]
    pub finish_message: Option<String>,
    /// Which candidate.
    #[serde(default)]
    pub index: Option<u32>,
}

/// `finishReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinishReason {
    /// Not given.
    FinishReasonUnspecified,
    /// A natural end, or a stop sequence.
    Stop,
    /// The output limit.
    MaxTokens,
    /// Safety filter.
    Safety,
    /// Too close to training data.
    Recitation,
    /// Unsupported language.
    Language,
    /// Something else.
    Other,
    /// A blocked term.
    Blocklist,
    /// Prohibited content.
    ProhibitedContent,
    /// Sensitive personal information.
    Spii,
    /// The model produced a function call that does not parse.
    MalformedFunctionCall,
    /// Image safety filter.
    ImageSafety,
    /// The model called a tool that is not available.
    UnexpectedToolCall,
    /// Too many tool calls in one turn.
    TooManyToolCalls,
    /// Prohibited image content.
    ImageProhibitedContent,
    /// No image was produced.
    NoImage,
    /// Image too close to training data.
    ImageRecitation,
    /// Image generation stopped for another reason.
    ImageOther,
    /// A value newer than this list.
    #[serde(other)]
    Unknown,
}

/// `promptFeedback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Why the prompt was blocked.
    #[serde(default)]
    pub block_reason: Option<String>,
    /// Gemini's explanation.
    #[serde(default)]
    pub block_reason_message: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Includes cached content.
    #[serde(default)]
    pub prompt_token_count: u64,
    /// Input tokens read from the cache.
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Visible output only; thoughts are counted separately.
    #[serde(default)]
    pub candidates_token_count: u64,
    /// Thinking tokens.
    #[serde(default)]
    pub thoughts_token_count: u64,
    /// Input tokens of tool-use prompts.
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    /// All of them.
    #[serde(default)]
    pub total_token_count: u64,
}

/// gRPC-style error object: `{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED"}`.
#[derive(Debug, Default, Deserialize)]
pub struct GeminiError {
    /// HTTP status.
    #[serde(default)]
    pub code: Option<i64>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
    /// gRPC status name (`RESOURCE_EXHAUSTED`, …).
    #[serde(default)]
    pub status: Option<String>,
}

/// Reads `null` as the type's default (Gemini sometimes sends `"parts": null`).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parsing_is_lenient() {
        let r: GenerateContentResponse = serde_json::from_str(
            r#"{"candidates":[{"content":{"role":"model","parts":[
                {"text":"hi","thought":true,"thoughtSignature":"c2ln"},
                {"functionCall":{"name":"Read","args":{"a":1}}},
                {"executableCode":{"code":"x"}}]},
              "finishReason":"SOMETHING_NEW","brandNew":1}],
             "usageMetadata":{"promptTokenCount":3},"extra":true}"#,
        )
        .unwrap();
        let c = &r.candidates[0];
        assert_eq!(c.finish_reason, Some(FinishReason::Unknown));
        let parts = &c.content.as_ref().unwrap().parts;
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].thought_signature.as_deref(), Some("c2ln"));
        let call = parts[1].function_call.as_ref().unwrap();
        assert_eq!(call.args.as_ref().unwrap().get(), r#"{"a":1}"#);
        assert!(parts[2].text.is_none() && parts[2].function_call.is_none());
        assert_eq!(r.usage_metadata.unwrap().prompt_token_count, 3);

        let r: GenerateContentResponse = serde_json::from_str(
            r#"{"candidates":null,"promptFeedback":{"blockReason":"SAFETY"}}"#,
        )
        .unwrap();
        assert!(r.candidates.is_empty());
        let r: GenerateContentResponse =
            serde_json::from_str(r#"{"candidates":[{"content":{"parts":null}}]}"#).unwrap();
        assert!(r.candidates[0].content.as_ref().unwrap().parts.is_empty());
    }
}
