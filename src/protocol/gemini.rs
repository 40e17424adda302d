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

/// `POST …/models/{model}:generateContent` (and `:streamGenerateContent`) body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest<'a> {
    pub contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig<'a>>,
    pub generation_config: GenerationConfig<'a>,
}

/// One turn. `role` is `"user"` or `"model"`; `systemInstruction` has none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    /// Marks reasoning (thought summaries when `includeThoughts` is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque reasoning state that must be replayed on the same part
    /// (<https://ai.google.dev/gemini-api/docs/thought-signatures>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse<'a>>,
}

impl<'a> Part<'a> {
    pub fn text(text: impl Into<Cow<'a, str>>) -> Self {
        Part {
            text: Some(text.into()),
            ..Part::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob<'a> {
    pub mime_type: Cow<'a, str>,
    /// Base64 bytes.
    pub data: Cow<'a, str>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<Cow<'a, str>>,
    pub file_uri: Cow<'a, str>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    /// Kept raw: on the request side it is the client's `tool_use.input`
    /// passed through untouched; on the response side it becomes the
    /// `input_json_delta` text without an intermediate tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Cow<'a, RawValue>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    /// `{"output": …}` or `{"error": …}`.
    pub response: Value,
    /// Media returned by the tool (images, PDFs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<FunctionResponsePart<'a>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponsePart<'a> {
    pub inline_data: Blob<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool<'a> {
    pub function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration<'a> {
    pub name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a crate::protocol::anthropic::JsonText>,
    /// OpenAPI-subset schema (<https://ai.google.dev/api/caching#Schema>);
    /// absent for tools without arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The cleaned schema, shared: Claude Code sends the same tools on
    /// every turn, so cleaning is done once per distinct schema.
    pub parameters: Option<std::sync::Arc<serde_json::value::RawValue>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig<'a> {
    pub function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig<'a> {
    pub mode: FunctionCallingMode,
    /// Only meaningful with [`FunctionCallingMode::Any`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<Cow<'a, str>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FunctionCallingMode {
    Auto,
    Any,
    None,
    Validated,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

/// `thinkingBudget` (2.5 family) and `thinkingLevel` (3 family) are mutually
/// exclusive: sending both is a 400.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<ThinkingLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThinkingLevel {
    Minimal,
    Low,
    Medium,
    High,
}

// ---------------------------------------------------------------------------
// Responses (non-streaming body, and each streamed `data:` payload)

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default, deserialize_with = "null_as_default")]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    /// Set on an error payload sent after a 200, or instead of an answer.
    #[serde(default)]
    pub error: Option<GeminiError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Option<Content<'static>>,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    #[serde(default)]
    pub finish_message: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinishReason {
    FinishReasonUnspecified,
    Stop,
    MaxTokens,
    Safety,
    Recitation,
    Language,
    Other,
    Blocklist,
    ProhibitedContent,
    Spii,
    MalformedFunctionCall,
    ImageSafety,
    UnexpectedToolCall,
    TooManyToolCalls,
    ImageProhibitedContent,
    NoImage,
    ImageRecitation,
    ImageOther,
    /// A value newer than this list.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
    #[serde(default)]
    pub block_reason_message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Includes cached content.
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Visible output only; thoughts are counted separately.
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    #[serde(default)]
    pub total_token_count: u64,
}

/// gRPC-style error object: `{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED"}`.
#[derive(Debug, Default, Deserialize)]
pub struct GeminiError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
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
