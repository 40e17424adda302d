//! The outgoing body while its answer is awaited.
//!
//! Until an upstream answers 2xx, the encoded body must stay at hand: the
//! next key, or the same key without a refused parameter, sends it again.
//! A Claude Code turn encodes to ~55 KB, and an upstream may take seconds
//! to answer a stream's first byte; a gateway holding a thousand such
//! requests would hold 55 MB of bodies that are almost never sent again.
//! So a body still waiting after [`PACK_AFTER`] is packed (LZ4, a few
//! times smaller for JSON and prose) and unpacked only if it is sent
//! again. A fast answer costs nothing; a slow one costs one compression,
//! tens of microseconds next to a wait of at least [`PACK_AFTER`].
//!
//! Packing does not wait for hyper to finish writing the body: the
//! caller's copy is dropped at once and hyper's own, if it still has one,
//! goes once it is written. And the unpacked bodies waiting at once are
//! kept within [`UNPACKED_BUDGET`]: beyond it (a burst of slow streams) a
//! body is packed as soon as its wait starts. Under such a burst the timer
//! that would pack it fires late, behind every newer request the runtime is
//! busy reading, and a thousand held Claude Code requests kept 30 MB of
//! bodies unpacked at the heap's peak (heaptrack). Within the budget the
//! cost stays where it was: nothing for a fast answer (64 Claude Code
//! requests in flight hold 3.5 MB).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::error::ApiError;

/// How long a body waits for its answer before it is packed.
pub(crate) const PACK_AFTER: Duration = Duration::from_millis(50);
/// Bodies smaller than this are held as they are.
const PACK_MIN: usize = 4 * 1024;
/// Most bytes of unpacked bodies that may wait for answers at once; a body
/// that would go beyond it is packed when its wait starts instead of after
/// [`PACK_AFTER`].
pub(crate) const UNPACKED_BUDGET: usize = 8 << 20;

/// Bytes of the process's unpacked bodies waiting for an answer now.
static UNPACKED: AtomicUsize = AtomicUsize::new(0);

/// One unpacked body's bytes counted in [`UNPACKED`] while it waits so.
struct Unpacked {
    len: usize,
    /// Whether the budget held it.
    within: bool,
}

impl Unpacked {
    fn enter(len: usize) -> Unpacked {
        let before = UNPACKED.fetch_add(len, Ordering::Relaxed);
        Unpacked {
            len,
            within: before.saturating_add(len) <= UNPACKED_BUDGET,
        }
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        UNPACKED.fetch_sub(self.len, Ordering::Relaxed);
    }
}

/// The packed form of a body, if it was packed.
#[derive(Debug, Default)]
pub(crate) struct HeldBody {
    packed: Option<Box<[u8]>>,
    /// Packing did not pay (the body barely compresses): not tried again.
    incompressible: bool,
}

impl HeldBody {
    /// Awaits `fut` while `body` waits on it: once the wait passes
    /// [`PACK_AFTER`] (at once beyond [`UNPACKED_BUDGET`]), the body is
    /// packed and left empty. Call [`HeldBody::restore`] before the body is
    /// read again.
    pub(crate) async fn wait<F: Future>(&mut self, body: &mut Bytes, fut: F) -> F::Output {
        tokio::pin!(fut);
        if self.packed.is_none() && !self.incompressible && body.len() >= PACK_MIN {
            let unpacked = Unpacked::enter(body.len());
            if unpacked.within {
                tokio::select! {
                    biased;
                    out = &mut fut => return out,
                    () = tokio::time::sleep(PACK_AFTER) => {}
                }
            }
            self.pack(body);
        }
        fut.await
    }

    /// Packs `body` if packing saves at least a quarter of it. A copy hyper
    /// is still writing stays valid; it is freed once written.
    fn pack(&mut self, body: &mut Bytes) {
        let packed = lz4_flex::block::compress_prepend_size(body);
        if packed.len() > body.len() / 4 * 3 {
            self.incompressible = true;
            return;
        }
        // The compressor's buffer has room for the worst case: keep only
        // what the packed bytes need.
        self.packed = Some(packed.into_boxed_slice());
        *body = Bytes::new();
    }

    /// Puts a packed body back, whole.
    pub(crate) fn restore(&mut self, body: &mut Bytes) -> Result<(), ApiError> {
        if let Some(packed) = self.packed.take() {
            let whole = lz4_flex::block::decompress_size_prepended(&packed).map_err(|e| {
                ApiError::api(format!(
                    "internal error: a held request body is damaged: {e}"
                ))
            })?;
            *body = Bytes::from(whole);
        }
        Ok(())
    }

    /// Whether the body is packed now.
    #[cfg(test)]
    pub(crate) fn is_packed(&self) -> bool {
        self.packed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Bytes {
        Bytes::from(include_bytes!("../../tests/fixtures/claude-code/01-write-turn2.json").to_vec())
    }

    /// A body still waiting after PACK_AFTER is packed to a fraction of its
    /// size and restored byte for byte; a fast answer leaves it alone.
    #[tokio::test(start_paused = true)]
    async fn a_long_wait_packs_the_body_and_restore_gives_it_back() {
        let original = body();
        // Its own allocation, as an encoded body is.
        let mut out = Bytes::from(original.to_vec());
        let mut held = HeldBody::default();
        // Fast: answered before PACK_AFTER.
        let v = held
            .wait(&mut out, async {
                tokio::time::sleep(PACK_AFTER / 2).await;
                7
            })
            .await;
        assert_eq!(v, 7);
        assert!(!held.is_packed());
        assert_eq!(out.len(), original.len());
        // Slow, while another copy is alive (hyper still writing the
        // body): packed all the same; the other copy stays whole.
        let writer = out.clone();
        let v = held
            .wait(&mut out, async {
                tokio::time::sleep(PACK_AFTER * 3).await;
                9
            })
            .await;
        assert_eq!(v, 9);
        assert!(held.is_packed());
        assert!(out.is_empty());
        assert_eq!(writer, original);
        let packed = held.packed.as_ref().unwrap().len();
        assert!(
            packed < original.len() / 2,
            "{packed} of {}",
            original.len()
        );
        held.restore(&mut out).unwrap();
        assert!(!held.is_packed());
        assert_eq!(out, original);
    }

    /// Under a burst (unpacked bodies beyond UNPACKED_BUDGET waiting) a
    /// body is packed when its wait starts, before any time passes; when
    /// the burst is over, the delay applies again.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_waiting_bodies_packs_each_at_once() {
        let original = body();
        let burst = Unpacked::enter(UNPACKED_BUDGET);
        let mut out = Bytes::from(original.to_vec());
        let mut held = HeldBody::default();
        let start = tokio::time::Instant::now();
        held.wait(&mut out, std::future::ready(())).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(held.is_packed() && out.is_empty());
        held.restore(&mut out).unwrap();
        assert_eq!(out, original);
        drop(burst);
        let mut held = HeldBody::default();
        held.wait(&mut out, std::future::ready(())).await;
        assert!(!held.is_packed());
        assert_eq!(out, original);
    }

    /// Small bodies and bodies that barely compress are held as they are.
    #[tokio::test(start_paused = true)]
    async fn small_or_random_bodies_are_not_packed() {
        let mut held = HeldBody::default();
        let mut small = Bytes::from(vec![b'a'; PACK_MIN - 1]);
        held.wait(&mut small, tokio::time::sleep(PACK_AFTER * 3))
            .await;
        assert!(!held.is_packed());
        assert_eq!(small.len(), PACK_MIN - 1);

        // A xorshift stream: no redundancy for LZ4 to find.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut noisy = Bytes::from(noise.clone());
        held.wait(&mut noisy, tokio::time::sleep(PACK_AFTER * 3))
            .await;
        assert!(!held.is_packed());
        assert_eq!(noisy, noise);
        held.restore(&mut noisy).unwrap();
        assert_eq!(noisy, noise);
    }
}
