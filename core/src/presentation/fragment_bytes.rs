//! A fragment file's bytes as an output carries them: one buffer, or a head (the `moof` and
//! the `mdat` header) followed by a payload shared with the fragment's earlier versions.
//!
//! A live fragment is written again each time its tfrf announces one more successor, and
//! only the head changes between versions. Copying the payload behind every new head was
//! the largest copy a live server made (8% of its CPU at 1,000 streams); a host that can
//! write a file in pieces ([`FragmentBytes::pieces`]) writes the last version without it.
//! A host that wants one slice gets it from `Deref` or [`FragmentBytes::to_bytes`], joined
//! once on first use: the same copy as before, and only for the version it asked.

use core::cell::OnceCell;
use core::fmt;
use core::ops::Deref;

use alloc::vec::Vec;
use bytes::Bytes;

#[derive(Clone)]
pub struct FragmentBytes {
    head: Bytes,
    /// Empty when `head` is the whole file.
    payload: Bytes,
    /// Head and payload in one buffer, made on first use.
    joined: OnceCell<Bytes>,
}

impl FragmentBytes {
    /// A file in one buffer.
    pub fn whole(bytes: Bytes) -> Self {
        Self {
            head: bytes,
            payload: Bytes::new(),
            joined: OnceCell::new(),
        }
    }

    /// A file in two pieces, in order.
    pub fn parts(head: Bytes, payload: Bytes) -> Self {
        Self {
            head,
            payload,
            joined: OnceCell::new(),
        }
    }

    /// Bytes of the file (without joining its pieces).
    pub fn len(&self) -> usize {
        self.head.len() + self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file's bytes in order, in one or two pieces: what a vectored or piecewise write
    /// takes, with no copy.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        [&self.head[..], &self.payload[..]]
            .into_iter()
            .filter(|p| !p.is_empty())
    }

    /// The file as one buffer: shared if it is one, else joined (once, then shared).
    pub fn to_bytes(&self) -> Bytes {
        if self.payload.is_empty() {
            return self.head.clone();
        }
        self.joined().clone()
    }

    fn joined(&self) -> &Bytes {
        self.joined.get_or_init(|| {
            let mut v = Vec::with_capacity(self.len());
            v.extend_from_slice(&self.head);
            v.extend_from_slice(&self.payload);
            Bytes::from(v)
        })
    }
}

impl Deref for FragmentBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        if self.payload.is_empty() {
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
        if f.payload.is_empty() {
            // Without a copy when the buffer is not shared.
            Vec::from(f.head)
        } else {
            let mut v = Vec::with_capacity(f.len());
            f.pieces().for_each(|p| v.extend_from_slice(p));
            v
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
        assert_eq!(FragmentBytes::whole(Bytes::new()).pieces().count(), 0);
    }
}
