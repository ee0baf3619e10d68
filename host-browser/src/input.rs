//! Input buffers JavaScript fills in place: Node reads a file straight into wasm memory, the
//! session gets those bytes as shared [`Bytes`] without a copy, and each buffer goes back to
//! a small pool once the last sample cut from it is dropped.
//!
//! Copying every chunk from a JavaScript buffer into wasm memory, and allocating and freeing
//! a 1 MiB block per chunk, cost about a fifth of the packaging time (measured with
//! `bench/wasm_vs_native.mjs`).

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Buffers kept for reuse. Samples of the open fragments hold a few chunks at a time; any
/// buffer beyond this is freed when released, so memory stays bounded.
const KEEP: usize = 16;

type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

#[derive(Default)]
pub struct InputBuffers {
    free: Pool,
    /// The buffer handed out by [`InputBuffers::lend`], until [`InputBuffers::take`].
    lent: Option<Vec<u8>>,
}

impl InputBuffers {
    /// At least `len` bytes for the caller to overwrite (initialised: a fresh buffer is
    /// zeroed, a recycled one holds old input). A buffer lent before and not taken is
    /// recycled.
    pub fn lend(&mut self, len: usize) -> &mut [u8] {
        if let Some(old) = self.lent.take() {
            release(&self.free, old);
        }
        let recycled = lock(&self.free).pop();
        let buf = match recycled {
            Some(buf) if buf.len() >= len => buf,
            // A smaller one (the short last chunk of an input) is replaced.
            _ => vec![0; len],
        };
        &mut self.lent.insert(buf)[..len]
    }

    /// The first `len` bytes of the lent buffer, as bytes that samples may slice. `None`
    /// when nothing was lent or `len` is more than was lent.
    pub fn take(&mut self, len: usize) -> Option<Bytes> {
        if self.lent.as_ref()?.len() < len {
            return None;
        }
        let buf = self.lent.take()?;
        Some(Bytes::from_owner(Recycled {
            buf,
            len,
            pool: Arc::clone(&self.free),
        }))
    }
}

/// A filled buffer shared by the samples cut from it; back to the pool when they are gone.
struct Recycled {
    buf: Vec<u8>,
    len: usize,
    pool: Pool,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        release(&self.pool, std::mem::take(&mut self.buf));
    }
}

fn release(pool: &Pool, buf: Vec<u8>) {
    let mut free = lock(pool);
    if free.len() < KEEP {
        free.push(buf);
    }
}

/// Single-threaded in practice; a poisoned pool holds plain buffers, still fine to use.
fn lock(pool: &Pool) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_bytes_are_shared_then_recycled() {
        let mut input = InputBuffers::default();
        let first = {
            let buf = input.lend(8);
            buf[..3].copy_from_slice(b"abc");
            buf.as_ptr()
        };
        let bytes = input.take(3).expect("lent");
        assert_eq!(&bytes[..], b"abc");
        assert_eq!(bytes.as_ptr(), first, "shared, not copied");
        let sample = bytes.slice(1..2);
        drop(bytes);
        input.lend(8);
        let second = input.take(8).expect("lent");
        assert_ne!(second.as_ptr(), first, "still held by the sample");
        drop(sample);
        assert_eq!(
            input.lend(8).as_ptr(),
            first,
            "recycled once the last sample is gone"
        );
    }

    #[test]
    fn take_refuses_more_than_lent() {
        let mut input = InputBuffers::default();
        assert!(input.take(0).is_none(), "nothing lent");
        input.lend(4);
        assert!(input.take(5).is_none());
        assert_eq!(input.take(4).map(|b| b.len()), Some(4));
    }

    #[test]
    fn pool_is_bounded() {
        let mut input = InputBuffers::default();
        let held: Vec<Bytes> = (0..KEEP + 4)
            .map(|_| {
                input.lend(16);
                input.take(16).expect("lent")
            })
            .collect();
        drop(held);
        assert_eq!(lock(&input.free).len(), KEEP);
    }
}
