//! A fragment file's bytes as an output carries them: one buffer, or a head (the `moof` and
//! the `mdat` header) followed by a payload in pieces (the samples, as they arrived), shared
//! between the fragment's versions.
//!
//! Copying the samples into one `mdat` buffer was the largest copy a live server made after
//! the socket's (3% of its CPU at 600 streams, and a large allocation per fragment), and a
//! live fragment is written again each time its tfrf announces one more successor, with
//! only the head changed: copying the payload behind every new head cost as much again. So
//! a fragment's every version is its head and the same shared pieces. A host that can
//! write a file in pieces ([`FragmentBytes::pieces`], a vectored write) or keep one
//! ([`FragmentBytes::into_pieces`]) never joins them. A host that wants one slice gets it
//! from `Deref` or [`FragmentBytes::to_bytes`], joined once on first use: the copy it made
//! before, and only for the version it asked.

use core::cell::OnceCell;
use core::fmt;
use core::ops::Deref;

use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::Bytes;

#[derive(Clone)]
pub struct FragmentBytes {
    head: Bytes,
    /// The pieces after the head, in order; none when `head` is the whole file.
    payload: Arc<[Bytes]>,
    /// Bytes in `payload`.
    payload_len: usize,
    /// Head and payload in one buffer, made on first use.
    joined: OnceCell<Bytes>,
}

impl FragmentBytes {
    /// A file in one buffer.
    pub fn whole(bytes: Bytes) -> Self {
        Self::pieces_after(bytes, Arc::from([]))
    }

    /// A file in two pieces, in order.
    pub fn parts(head: Bytes, payload: Bytes) -> Self {
        Self::pieces_after(head, Arc::from([payload]))
    }

    /// A file as its head and the pieces that follow it, in order (shared, not copied).
    pub fn pieces_after(head: Bytes, payload: Arc<[Bytes]>) -> Self {
        Self {
            payload_len: payload.iter().map(Bytes::len).sum(),
            head,
            payload,
            joined: OnceCell::new(),
        }
    }

    /// Bytes of the file (without joining its pieces).
    pub fn len(&self) -> usize {
        self.head.len() + self.payload_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file's bytes in order, in pieces: what a vectored or piecewise write takes, with
    /// no copy.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        core::iter::once(&self.head[..])
            .chain(self.payload.iter().map(|p| &p[..]))
            .filter(|p| !p.is_empty())
    }

    /// The head and the pieces after it, unjoined: for a host that keeps a version and
    /// joins it only if it is asked for.
    pub fn into_pieces(self) -> (Bytes, Arc<[Bytes]>) {
        (self.head, self.payload)
    }

    /// The file as one buffer: shared if it is one, else joined (once, then shared).
    pub fn to_bytes(&self) -> Bytes {
        if self.payload_len == 0 {
            return self.head.clone();
        }
        self.joined().clone()
    }

    fn joined(&self) -> &Bytes {
        self.joined
            .get_or_init(|| Bytes::from(join(&self.head, &self.payload)))
    }
}

/// `head` and then every piece of `payload`, in one buffer.
fn join(head: &[u8], payload: &[Bytes]) -> Vec<u8> {
    let mut v = Vec::with_capacity(head.len() + payload.iter().map(Bytes::len).sum::<usize>());
    v.extend_from_slice(head);
    payload.iter().for_each(|p| v.extend_from_slice(p));
    v
}

impl Deref for FragmentBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        if self.payload_len == 0 {
            &self.head
        } else {
            self.joined()
        }
    }
}

impl From<Bytes> for FragmentBytes {
    fn from(bytes: Bytes) -> Self {
        Self::whole(bytes)
    }
}

impl From<Vec<u8>> for FragmentBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::whole(Bytes::from(v))
    }
}

impl From<FragmentBytes> for Vec<u8> {
    fn from(f: FragmentBytes) -> Self {
        if f.payload_len == 0 {
            // Without a copy when the buffer is not shared.
            Vec::from(f.head)
        } else {
            join(&f.head, &f.payload)
        }
    }
}

impl PartialEq for FragmentBytes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.pieces().flatten().eq(other.pieces().flatten())
    }
}

impl Eq for FragmentBytes {}

impl fmt::Debug for FragmentBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FragmentBytes({} bytes in {} pieces)",
            self.len(),
            self.pieces().count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_in_order_and_compare_by_content() {
        let whole = FragmentBytes::whole(Bytes::from_static(b"moofmdat-payload"));
        let parts = FragmentBytes::parts(
            Bytes::from_static(b"moofmdat"),
            Bytes::from_static(b"-payload"),
        );
        assert_eq!(whole.len(), 16);
        assert_eq!(parts.len(), 16);
        assert_eq!(whole.pieces().count(), 1);
        assert_eq!(
            parts.pieces().collect::<Vec<_>>(),
            [&b"moofmdat"[..], b"-payload"]
        );
        assert_eq!(whole, parts);
        assert_eq!(&parts[..], b"moofmdat-payload");
        assert_eq!(parts.to_bytes(), whole.to_bytes());
        assert_ne!(
            parts,
            FragmentBytes::parts(Bytes::from_static(b"moof"), Bytes::from_static(b"mdat"))
        );
        // One buffer is shared, not copied.
        let b = Bytes::from_static(b"abc");
        assert_eq!(
            FragmentBytes::whole(b.clone()).to_bytes().as_ptr(),
            b.as_ptr()
        );
        assert!(FragmentBytes::whole(Bytes::new()).is_empty());
        let samples: Arc<[Bytes]> = Arc::from([
            Bytes::from_static(b"-pay"),
            Bytes::new(),
            Bytes::from_static(b"load"),
        ]);
        let many = FragmentBytes::pieces_after(Bytes::from_static(b"moofmdat"), samples.clone());
        assert_eq!(many.len(), 16);
        assert_eq!(many.pieces().count(), 3, "empty pieces are skipped");
        assert_eq!(many, whole);
        assert_eq!(many.to_bytes(), whole.to_bytes());
        assert_eq!(Vec::from(many.clone()), b"moofmdat-payload".to_vec());
        let (head, payload) = many.into_pieces();
        assert_eq!(&head[..], b"moofmdat");
        assert!(Arc::ptr_eq(&payload, &samples), "shared, not copied");
        assert_eq!(FragmentBytes::whole(Bytes::new()).pieces().count(), 0);
    }
}
