//! `mvex`/`trex`: per-track defaults for fragments.

use crate::bytes_util::Reader;
use crate::demux::mp4::boxes::{full_box, short};
use crate::demux::DemuxError;

/// Track extends defaults (ISO 14496-12 8.8.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Trex {
    pub track_id: u32,
    pub default_duration: u32,
    pub default_size: u32,
    pub default_flags: u32,
}

pub(crate) fn parse_trex(body: &[u8]) -> Result<Trex, DemuxError> {
    let (_, _, rest) = full_box(body, "trex")?;
    let mut r = Reader::new(rest);
    let mut next = || r.u32().ok_or_else(|| short("trex"));
    let track_id = next()?;
    let _description_index = next()?;
    Ok(Trex {
        track_id,
        default_duration: next()?,
        default_size: next()?,
        default_flags: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demux::mp4::boxes::tests::mk_full;

    #[test]
    fn reads_defaults() {
        let mut b = alloc::vec::Vec::new();
        for v in [3u32, 1, 1024, 6, 0x0201_0000] {
            b.extend(v.to_be_bytes());
        }
        let t = mk_full(b"trex", 0, 0, &b);
        let trex = parse_trex(&t[8..]).unwrap();
        assert_eq!(
            trex,
            Trex {
                track_id: 3,
                default_duration: 1024,
                default_size: 6,
                default_flags: 0x0201_0000
            }
        );
        assert!(parse_trex(&t[8..t.len() - 1]).is_err());
    }
}
