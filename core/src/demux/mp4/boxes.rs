//! Box headers and child iteration, shared by every box parser.

use alloc::format;
use alloc::string::String;

use crate::demux::DemuxError;

pub(crate) type FourCc = [u8; 4];

/// A box header, as the one reader of the crate reads it ([`crate::fragment::header`]).
pub(crate) use crate::fragment::RawHeader as Header;

/// Bytes needed before [`parse_header`] can decide: 8, or 16 once a `largesize` is announced.
pub(crate) fn header_len_needed(first8: &[u8]) -> usize {
    if first8.len() >= 4 && first8[..4] == [0, 0, 0, 1] {
        16
    } else {
        8
    }
}

/// Parses a box header from `data`. `Ok(None)` means more bytes are needed.
/// `at` is the header's absolute offset, for messages.
pub(crate) fn parse_header(data: &[u8], at: u64) -> Result<Option<Header>, DemuxError> {
    let Some(h) = crate::fragment::header::read(data) else {
        return Ok(None);
    };
    if let Some(size) = h.size {
        if size < u64::from(h.header_len) {
            return Err(DemuxError::malformed(format!(
                "{} box at byte {at} has invalid size {size}",
                fourcc(&h.typ)
            )));
        }
    }
    Ok(Some(h))
}

/// Whether a type looks like a box type at all (printable ASCII, or QuickTime's `©`).
pub(crate) fn plausible_type(typ: &FourCc) -> bool {
    typ.iter().all(|&c| (0x20..=0x7e).contains(&c) || c == 0xa9)
}

/// A four-character code for messages.
pub(crate) fn fourcc(typ: &FourCc) -> String {
    typ.iter()
        .map(|&c| {
            if (0x20..=0x7e).contains(&c) {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect()
}

/// One child box: its type and its body (after the header).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Child<'a> {
    pub typ: FourCc,
    pub body: &'a [u8],
}

/// Iterates over the boxes packed in `data` (a container box's body). Yields one `Err` and
/// stops if a child overruns its parent.
pub(crate) fn children(data: &[u8]) -> Children<'_> {
    Children {
        data,
        pos: 0,
        failed: false,
    }
}

pub(crate) struct Children<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Child<'a>, DemuxError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let result = match parse_header(rest, self.pos as u64) {
            Ok(Some(h)) => {
                let size = h.size.unwrap_or(rest.len() as u64);
                if size > rest.len() as u64 {
                    Err(DemuxError::malformed(format!(
                        "{} box of {size} bytes overruns its parent ({} bytes left)",
                        fourcc(&h.typ),
                        rest.len()
                    )))
                } else {
                    // size <= rest.len(), so it fits in usize.
                    let size = size as usize;
                    let hl = usize::from(h.header_len);
                    let child = Child {
                        typ: h.typ,
                        body: &rest[hl..size],
                    };
                    self.pos += size;
                    Ok(child)
                }
            }
            // A few padding bytes after the last child (seen in the wild) are not a box.
            Ok(None) if rest.iter().all(|&b| b == 0) => return None,
            Ok(None) => Err(DemuxError::malformed(format!(
                "{} stray bytes where a box header was expected",
                rest.len()
            ))),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

/// The first child of type `typ`, if any.
pub(crate) fn find<'a>(data: &'a [u8], typ: &FourCc) -> Result<Option<Child<'a>>, DemuxError> {
    for child in children(data) {
        let child = child?;
        if &child.typ == typ {
            return Ok(Some(child));
        }
    }
    Ok(None)
}

/// Splits a full box body into (version, flags, rest).
pub(crate) fn full_box<'a>(body: &'a [u8], typ: &str) -> Result<(u8, u32, &'a [u8]), DemuxError> {
    if body.len() < 4 {
        return Err(short(typ));
    }
    let flags = u32::from_be_bytes([0, body[1], body[2], body[3]]);
    Ok((body[0], flags, &body[4..]))
}

/// The error for a box too short for its fields.
pub(crate) fn short(typ: &str) -> DemuxError {
    DemuxError::malformed(format!("{typ} box is too short"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bytes_util::write_box;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Builds a box for tests.
    pub(crate) fn mk(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_box(&mut out, typ, |o| o.extend_from_slice(body));
        out
    }

    /// Builds a full box for tests.
    pub(crate) fn mk_full(typ: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        crate::bytes_util::put_version_flags(&mut b, version, flags);
        b.extend_from_slice(body);
        mk(typ, &b)
    }

    #[test]
    fn header_forms() {
        let h = parse_header(&[0, 0, 0, 16, b'f', b'r', b'e', b'e'], 0)
            .unwrap()
            .unwrap();
        assert_eq!((h.typ, h.header_len, h.size), (*b"free", 8, Some(16)));
        let h = parse_header(&[0, 0, 0, 0, b'm', b'd', b'a', b't'], 0)
            .unwrap()
            .unwrap();
        assert_eq!(h.size, None);
        let mut large = vec![0, 0, 0, 1, b'm', b'd', b'a', b't'];
        assert_eq!(header_len_needed(&large), 16);
        assert!(parse_header(&large, 0).unwrap().is_none());
        large.extend_from_slice(&(1u64 << 33).to_be_bytes());
        let h = parse_header(&large, 0).unwrap().unwrap();
        assert_eq!((h.header_len, h.size), (16, Some(1 << 33)));
        assert!(parse_header(&[0, 0, 0, 7, b'f', b'r', b'e', b'e'], 0).is_err());
        assert!(parse_header(
            &[0, 0, 0, 1, b'f', b'r', b'e', b'e', 0, 0, 0, 0, 0, 0, 0, 15],
            0
        )
        .is_err());
    }

    #[test]
    fn children_and_overrun() {
        let mut data = mk(b"abcd", &[1, 2]);
        data.extend(mk(b"efgh", &[]));
        let kids: Vec<_> = children(&data).map(|c| c.unwrap()).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].body, &[1, 2]);
        assert_eq!(kids[1].typ, *b"efgh");
        data[3] = 200;
        let r: Vec<_> = children(&data).collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
        // A size-0 child runs to its parent's end.
        let z = [0, 0, 0, 0, b'a', b'b', b'c', b'd', 9, 9];
        let k = children(&z).next().unwrap().unwrap();
        assert_eq!(k.body, &[9, 9]);
    }
}
