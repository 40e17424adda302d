//! OpenAI Chat Completions translation (filled in by the translator work).
