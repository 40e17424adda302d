//! `STORE_BODIES=true`: the first 4 KB of each request body and response
//! body are stored with the request, truncated like the body logs
//! (src/server/body_log.rs) and redacted: every configured secret — the
//! access and admin keys, every upstream key — is replaced by its masked
//! form. Headers are not stored.
//!
//! Capturing wraps the bodies as they stream (nothing is buffered beyond
//! the head that is kept); the bodies go to the writer when the response
//! body is done — for a stream, when it ends or the client leaves — and are
//! kept only if the request's row was stored.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use futures_util::StreamExt;

use super::{Store, StoredBodies};
use crate::config::mask_secret;
use crate::util::{truncated, BODY_LIMIT as LIMIT};

/// What capturing a request's bodies needs from the server: the store they
/// go to, and the secrets to mask in them. The server implements it (the
/// store depends on no server type).
pub(crate) trait CaptureSource {
    /// The request store.
    fn store(&self) -> &Store;
    /// The secrets of the configuration in force when the capture starts.
    fn secrets(&self) -> Box<dyn Secrets>;
}

impl<T: CaptureSource + ?Sized> CaptureSource for std::sync::Arc<T> {
    fn store(&self) -> &Store {
        (**self).store()
    }

    fn secrets(&self) -> Box<dyn Secrets> {
        (**self).secrets()
    }
}

/// Every secret a stored body must not show: the access and admin keys and
/// every upstream key.
pub(crate) trait Secrets: Send + Sync {
    /// Calls `f` with each secret.
    fn each(&self, f: &mut dyn FnMut(&[u8]));
}

/// Bytes kept of each body: more than is stored, so that a key cut by the
/// limit is still recognised, and masked whole, before the cut.
const KEEP: usize = LIMIT + 512;

/// Secrets shorter than this are not searched for: masking every `"ab"`
/// would garble bodies and protect nothing.
const MIN_SECRET: usize = 8;

#[derive(Default)]
struct Head {
    bytes: Vec<u8>,
    total: usize,
}

impl Head {
    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len();
        let room = KEEP.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}

/// A request whose bodies are being captured.
pub(crate) struct BodyCapture {
    store: Store,
    id: String,
    time_ms: i64,
    request: Arc<Mutex<Head>>,
    /// Where the secrets to redact come from, read when the bodies are
    /// stored.
    secrets: Box<dyn Secrets>,
}

impl BodyCapture {
    /// Starts capturing `req`'s body when `STORE_BODIES` is on (POST only:
    /// the other routes store no row).
    pub(crate) fn start(
        state: &impl CaptureSource,
        id: &str,
        req: &mut Request,
    ) -> Option<BodyCapture> {
        if !state.store().bodies_enabled() || req.method() != Method::POST {
            return None;
        }
        let request = Arc::new(Mutex::new(Head::default()));
        let head = request.clone();
        let body = std::mem::take(req.body_mut()).into_data_stream();
        *req.body_mut() = Body::from_stream(body.map(move |chunk| {
            if let Ok(bytes) = &chunk {
                head.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(bytes);
            }
            chunk
        }));
        Some(BodyCapture {
            store: state.store().clone(),
            id: id.to_owned(),
            time_ms: super::time::now_ms(),
            request,
            secrets: state.secrets(),
        })
    }

    /// Wraps the response body; the bodies are handed to the store when it
    /// is dropped.
    pub(crate) fn finish(self, resp: Response) -> Response {
        let (parts, body) = resp.into_parts();
        let mut tail = Tail {
            capture: Some(self),
            head: Head::default(),
        };
        let body = body.into_data_stream().map(move |chunk| {
            if let Ok(bytes) = &chunk {
                tail.head.push(bytes);
            }
            chunk
        });
        Response::from_parts(parts, Body::from_stream(body))
    }

    /// The secrets long enough to mask.
    fn secrets(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.secrets.each(&mut |s| {
            if s.len() >= MIN_SECRET {
                out.push(s.to_vec());
            }
        });
        out
    }
}

/// The response side; its drop stores both bodies.
struct Tail {
    capture: Option<BodyCapture>,
    head: Head,
}

impl Drop for Tail {
    fn drop(&mut self) {
        let Some(c) = self.capture.take() else {
            return;
        };
        let owned = c.secrets();
        let secrets: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let request = {
            let head = c.request.lock().unwrap_or_else(PoisonError::into_inner);
            redacted(&head, &secrets)
        };
        let response = redacted(&self.head, &secrets);
        c.store.record_bodies(StoredBodies {
            id: c.id,
            time_ms: c.time_ms,
            request,
            response,
        });
    }
}

/// The head as text, every secret masked, then cut to [`LIMIT`].
fn redacted(head: &Head, secrets: &[&[u8]]) -> String {
    let mut text = String::from_utf8_lossy(&head.bytes).into_owned();
    for secret in secrets {
        if let Ok(s) = std::str::from_utf8(secret) {
            if text.contains(s) {
                text = text.replace(s, &mask_secret(s));
            }
        }
    }
    // The note on a cut body gives the size the client sent or received.
    let cut = text.len() > LIMIT || head.total > head.bytes.len();
    truncated(text.as_bytes(), if cut { head.total } else { text.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_even_across_the_cut() {
        let key = "sk-secret-0123456789abcdef";
        let mut head = Head::default();
        let mut body = vec![b'a'; LIMIT - 5];
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(b" and more");
        head.push(&body[..100]);
        head.push(&body[100..]);
        let text = redacted(&head, &[key.as_bytes()]);
        assert!(!text.contains("0123456789"), "{text}");
        assert!(text.contains("bytes in all]"), "{text}");
        let mut short = Head::default();
        short.push(format!("{{\"k\":\"{key}\"}}").as_bytes());
        let text = redacted(&short, &[key.as_bytes()]);
        assert_eq!(text, format!("{{\"k\":\"{}\"}}", mask_secret(key)));
    }
}
