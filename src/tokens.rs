//! Local input-token counting for `POST /v1/messages/count_tokens` and for the
//! `input_tokens` estimate in `message_start`, used when the upstream has no
//! Anthropic-compatible counter.
//!
//! Claude's own tokenizer is not public, so this counts with OpenAI's
//! `o200k_base` BPE (close enough for context-window bookkeeping: Claude
//! Code only uses the number to decide when to compact) plus small fixed
//! overheads for the framing the text does not show (documented on each
//! constant). Images are not tokenised; they are priced with Anthropic's
//! published `width * height / 750` formula.
//!
//! Synchronous, no I/O, no clock. Counting is CPU work, so async callers
//! should run it on the blocking pool. Built once per process: the BPE tables
//! (on first use) and a bounded memo of the counts of long
//! texts, which makes Claude Code's repeated prompts and tool lists cheap.

mod image;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex};

use tiktoken_rs::CoreBPE;

use crate::protocol::anthropic::{
    Content, ContentBlock, CountTokensRequest, DocumentSource, ImageSource, Message, Tool,
};

/// Framing of one conversation turn (role marker and separators), like the
/// 3–4 tokens per message that OpenAI documents for its chat format.
pub(crate) const PER_MESSAGE_TOKENS: u64 = 4;
/// Framing of a non-empty system prompt (it is one more turn).
pub(crate) const SYSTEM_TOKENS: u64 = 4;
/// Framing of a `tool_use` or `tool_result` block: its id and delimiters.
pub(crate) const PER_TOOL_BLOCK_TOKENS: u64 = 8;
/// Framing of one tool definition (delimiters around name, description and
/// schema).
pub(crate) const PER_TOOL_TOKENS: u64 = 8;
/// The system prompt Anthropic adds when tools are present (346 tokens for
/// `tool_choice` auto/none on Claude 4 models, per Anthropic's tool-use
/// pricing table).
pub(crate) const TOOLS_PREAMBLE_TOKENS: u64 = 346;
/// An image whose size cannot be read cheaply (URL sources, unknown or
/// corrupt headers): Anthropic's ceiling for an image it has resized to
/// about 1.15 megapixels.
pub const IMAGE_FALLBACK_TOKENS: u64 = 1_600;
/// A PDF costs 1,500–3,000 tokens per page; with no page count at hand this
/// assumes one page per 50 KB of file, at least one page.
const PDF_TOKENS_PER_PAGE: u64 = 2_000;
const PDF_BYTES_PER_PAGE: u64 = 50 * 1024;

/// The BPE, built on first use. `None` only if the tables embedded in the
/// crate fail to load, in which case counting falls back to bytes / 4.
static BPE: LazyLock<Option<CoreBPE>> = LazyLock::new(|| match tiktoken_rs::o200k_base() {
    Ok(bpe) => Some(bpe),
    Err(e) => {
        tracing::error!(error = %e, "cannot build the o200k_base tokenizer; estimating tokens as bytes / 4");
        None
    }
});

/// Builds the BPE tables now (about 100–200 ms of CPU), for timing the
/// build apart from the counts. The server never does this ahead of time:
/// the tables cost ~40 MB, and a proxy nobody asks to count stays small.
#[cfg(test)]
fn warm_up() {
    LazyLock::force(&BPE);
}

/// Input tokens of a `count_tokens` request.
pub fn count_tokens(req: &CountTokensRequest) -> u64 {
    count_request_tokens(req.system.as_ref(), &req.messages, req.tools.as_deref())
}

/// Tokens of system prompt, messages and tool definitions together.
pub fn count_request_tokens(
    system: Option<&Content>,
    messages: &[Message],
    tools: Option<&[Tool]>,
) -> u64 {
    let mut counter = Counter::new();
    if let Some(system) = system.filter(|s| !s.is_empty()) {
        counter.fixed(SYSTEM_TOKENS);
        counter.content(system);
    }
    for m in messages {
        counter.fixed(PER_MESSAGE_TOKENS);
        counter.content(&m.content);
    }
    if let Some(tools) = tools.filter(|t| !t.is_empty()) {
        counter.fixed(TOOLS_PREAMBLE_TOKENS);
        for tool in tools {
            counter.tool(tool);
        }
    }
    counter.total
}

/// Texts at least this long have their counts memoised: Claude Code resends
/// the same system prompt, tool schemas (about 40 KB) and conversation
/// history on every call, and hashing is ~100 times cheaper than the BPE.
const MEMO_MIN_BYTES: usize = 512;
/// Bound on memo entries; when full it is simply cleared (the working set
/// of one client is a few hundred texts).
const MEMO_MAX_ENTRIES: usize = 16_384;

struct Memo {
    hasher: RandomState,
    counts: Mutex<HashMap<u64, u64>>,
}

static MEMO: LazyLock<Memo> = LazyLock::new(|| Memo {
    hasher: RandomState::new(),
    counts: Mutex::new(HashMap::new()),
});

/// Tokens of one string under `o200k_base`, without special tokens.
pub fn text_tokens(text: &str) -> u64 {
    if text.len() < MEMO_MIN_BYTES {
        return bpe_tokens(text);
    }
    // A 64-bit keyed hash: a collision would only misestimate one text.
    let key = MEMO.hasher.hash_one(text);
    if let Some(n) = MEMO.counts.lock().ok().and_then(|m| m.get(&key).copied()) {
        return n;
    }
    // Counted outside the lock so parallel requests do not queue on it.
    let n = bpe_tokens(text);
    if let Ok(mut m) = MEMO.counts.lock() {
        if m.len() >= MEMO_MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, n);
    }
    n
}

fn bpe_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match BPE.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => (text.len() as u64).div_ceil(4),
    }
}

struct Counter {
    total: u64,
}

impl Counter {
    fn new() -> Self {
        Counter { total: 0 }
    }

    fn fixed(&mut self, n: u64) {
        self.total += n;
    }

    fn text(&mut self, s: &str) {
        self.total += text_tokens(s);
    }

    fn content(&mut self, content: &Content) {
        match content {
            Content::Text(s) => self.text(&s.text()),
            Content::Blocks(blocks) => blocks.iter().for_each(|b| self.block(b)),
        }
    }

    fn block(&mut self, block: &ContentBlock) {
        match block {
            ContentBlock::Text { text } => self.text(&text.text()),
            ContentBlock::Image { source } => self.fixed(image_tokens(source)),
            ContentBlock::Document { source, title } => {
                if let Some(t) = title {
                    self.text(t);
                }
                self.document(source);
            }
            ContentBlock::ToolUse { name, input, .. } => {
                self.fixed(PER_TOOL_BLOCK_TOKENS);
                self.text(name);
                // The raw JSON text as the client sent it: no re-serialisation.
                self.text(input.get());
            }
            ContentBlock::ToolResult { content, .. } => {
                self.fixed(PER_TOOL_BLOCK_TOKENS);
                self.content(content);
            }
            ContentBlock::Thinking { thinking, .. } => self.text(thinking),
            // Encrypted: its size in the model's context is unknown and
            // Anthropic drops earlier turns' thinking from the context anyway.
            ContentBlock::RedactedThinking { .. } => {}
            ContentBlock::Other { text, .. } => {
                if let Some(t) = text {
                    self.text(t);
                }
            }
        }
    }

    fn document(&mut self, source: &DocumentSource) {
        match source {
            DocumentSource::Text { data, .. } => self.text(data),
            DocumentSource::Base64 { data, .. } => {
                let bytes = data.len() as u64 / 4 * 3;
                let pages = bytes.div_ceil(PDF_BYTES_PER_PAGE).max(1);
                self.fixed(pages * PDF_TOKENS_PER_PAGE);
            }
            DocumentSource::Url { .. } => self.fixed(PDF_TOKENS_PER_PAGE),
            DocumentSource::Content { content } => self.json_text(content),
        }
    }

    /// Text fields of a custom document's content blocks (`{"type":"text",
    /// "text":…}` or plain strings); anything else costs nothing.
    fn json_text(&mut self, v: &serde_json::Value) {
        match v {
            serde_json::Value::String(s) => self.text(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| self.json_text(i)),
            serde_json::Value::Object(o) => {
                if let Some(serde_json::Value::String(t)) = o.get("text") {
                    self.text(t);
                }
            }
            _ => {}
        }
    }

    fn tool(&mut self, tool: &Tool) {
        self.fixed(PER_TOOL_TOKENS);
        match tool.spec() {
            Some(spec) => {
                self.text(spec.name);
                if let Some(d) = spec.description {
                    self.text(&d.text());
                }
                if let Some(schema) = spec.schema {
                    self.text(schema.get());
                }
            }
            // A server tool (web search, …): its definition lives on
            // Anthropic's side; count what the request shows of it.
            None => {
                if let Some(kind) = &tool.kind {
                    self.text(kind);
                }
                if let Some(name) = &tool.name {
                    self.text(name);
                }
            }
        }
    }
}

/// Anthropic's image formula: `width * height / 750`, after the image is
/// scaled to fit 1568 px on its long edge, capped at
/// [`IMAGE_FALLBACK_TOKENS`]. Only the first few KB of base64 are decoded.
pub fn image_tokens(source: &ImageSource) -> u64 {
    let ImageSource::Base64 { data, .. } = source else {
        return IMAGE_FALLBACK_TOKENS;
    };
    match image::dimensions_from_base64(data) {
        Some((w, h)) => tokens_for_size(w, h),
        None => IMAGE_FALLBACK_TOKENS,
    }
}

fn tokens_for_size(width: u32, height: u32) -> u64 {
    const MAX_EDGE: f64 = 1568.0;
    let (w, h) = (f64::from(width), f64::from(height));
    let scale = (MAX_EDGE / w.max(h)).min(1.0);
    let tokens = ((w * scale) * (h * scale) / 750.0).ceil() as u64;
    tokens.clamp(1, IMAGE_FALLBACK_TOKENS)
}

#[cfg(test)]
mod tests;
