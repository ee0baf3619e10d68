//! The box header: size, type and, for `uuid` boxes, the extended type.

use super::{err, ParseError};
use crate::bytes_util::Reader;

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
        let mut r = Reader::new(data);
        let (Some(size32), Some(typ)) = (r.u32(), r.bytes(4)) else {
            return err("truncated box header");
        };
        let typ = [typ[0], typ[1], typ[2], typ[3]];
        let size = match size32 {
            0 => data.len() as u64,
            1 => match r.u64() {
                Some(s) => s,
                None => return err("truncated box largesize"),
            },
            s => u64::from(s),
        };
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
