//! The box header: size, type and, for `uuid` boxes, the extended type.
//!
//! [`read`] is the one reader of box headers in the crate: the fragment codec below and the
//! streaming MP4 demuxer (`demux::mp4::boxes`) both start from it, each judging the sizes
//! in its own context (a whole box in memory; a stream whose end is not known yet).

use super::{err, ParseError};
use crate::bytes_util::Reader;

/// A box header's fixed part as read from the bytes, not yet checked against anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    pub typ: [u8; 4],
    /// 8, or 16 with a 64-bit `largesize`.
    pub header_len: u8,
    /// Whole box size including the header; `None` for size 0 ("to the end of the enclosing
    /// space": the file at top level, the parent box inside one).
    pub size: Option<u64>,
}

/// Reads size, type and largesize; `None` until `data` holds all of them.
pub fn read(data: &[u8]) -> Option<RawHeader> {
    let mut r = Reader::new(data);
    let size32 = r.u32()?;
    let typ = r.bytes(4)?;
    let typ = [typ[0], typ[1], typ[2], typ[3]];
    let (header_len, size) = match size32 {
        0 => (8, None),
        1 => (16, Some(r.u64()?)),
        n => (8, Some(u64::from(n))),
    };
    Some(RawHeader {
        typ,
        header_len,
        size,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// Whole box size including the header.
    pub size: usize,
    pub typ: [u8; 4],
    /// The 16-byte extended type of a `uuid` box.
    pub uuid: Option<[u8; 16]>,
    /// Bytes taken by size, type, largesize and uuid.
    pub header_len: usize,
}

impl BoxHeader {
    /// Parses the header at the start of `data`; `size` 0 means "to the end of `data`".
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        let Some(raw) = read(data) else {
            return match data.len() < 8 {
                true => err("truncated box header"),
                false => err("truncated box largesize"),
            };
        };
        let typ = raw.typ;
        let size = raw.size.unwrap_or(data.len() as u64);
        let mut r = Reader::new(data);
        // The bytes `read` has just read.
        let _ = r.skip(usize::from(raw.header_len));
        let uuid = if &typ == b"uuid" {
            match r.bytes(16) {
                Some(u) => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(u);
                    Some(a)
                }
                None => return err("truncated uuid box"),
            }
        } else {
            None
        };
        let header_len = r.pos();
        let Ok(size) = usize::try_from(size) else {
            return err("box too large");
        };
        if size < header_len {
            return err("box size smaller than its header");
        }
        Ok(Self {
            size,
            typ,
            uuid,
            header_len,
        })
    }
}

/// Walks the child boxes of a container payload, yielding (header, payload).
pub fn children(mut data: &[u8]) -> impl Iterator<Item = Result<(BoxHeader, &[u8]), ParseError>> {
    core::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let item = BoxHeader::parse(data).and_then(|h| {
            if h.size > data.len() {
                return err("child box runs past its parent");
            }
            let body = &data[h.header_len..h.size];
            data = &data[h.size..];
            Ok((h, body))
        });
        if item.is_err() {
            data = &[];
        }
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_is_there_and_waits_for_the_rest() {
        assert_eq!(read(&[0, 0, 0, 8, b'f', b'r', b'e']), None);
        let h = read(&[0, 0, 0, 0, b'm', b'd', b'a', b't']).expect("size 0");
        assert_eq!((h.typ, h.header_len, h.size), (*b"mdat", 8, None));
        let mut large = [0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 0, 0, 0, 0, 7];
        assert_eq!(read(&large[..12]), None);
        // Sizes are not judged here: each reader judges them in its own context.
        let h = read(&large).expect("large");
        assert_eq!((h.header_len, h.size), (16, Some(7)));
        large[15] = 16;
        assert!(BoxHeader::parse(&large).is_ok());
    }

    #[test]
    fn parses_plain_large_and_uuid_headers() {
        let h = BoxHeader::parse(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']).expect("plain");
        assert_eq!((h.size, &h.typ, h.header_len), (8, b"free", 8));
        let large = [0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 0, 0, 0, 0, 16];
        let h = BoxHeader::parse(&large).expect("large");
        assert_eq!((h.size, h.header_len), (16, 16));
        let mut uuid = [0u8; 24];
        uuid[3] = 24;
        uuid[4..8].copy_from_slice(b"uuid");
        uuid[8] = 0xaa;
        let h = BoxHeader::parse(&uuid).expect("uuid");
        assert_eq!(h.uuid.map(|u| u[0]), Some(0xaa));
        assert!(BoxHeader::parse(&[0, 0, 0, 4, b'b', b'a', b'd', b'!']).is_err());
        assert!(BoxHeader::parse(&[0, 0]).is_err());
    }
}
