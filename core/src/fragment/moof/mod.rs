//! `moof`: the movie fragment box, one `traf` (Smooth fragments carry a single track).

use alloc::vec::Vec;

pub mod mfhd;
pub mod traf;

use crate::bytes_util::write_box;
use crate::fragment::header::children;
use crate::fragment::{err, Mfhd, ParseError, Traf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moof {
    pub mfhd: Mfhd,
    pub traf: Traf,
}

impl Moof {
    pub fn encoded_len(&self) -> usize {
        8 + Mfhd::ENCODED_LEN + self.traf.encoded_len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"moof", |out| {
            self.mfhd.encode(out);
            self.traf.encode(out);
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let (mut mfhd, mut traf) = (None, None);
        for child in children(body) {
            let (h, payload) = child?;
            match &h.typ {
                b"mfhd" => mfhd = Some(Mfhd::decode(payload)?),
                b"traf" if traf.is_none() => traf = Some(Traf::decode(payload)?),
                b"traf" => return err("moof has more than one traf"),
                _ => {}
            }
        }
        match (mfhd, traf) {
            (Some(mfhd), Some(traf)) => Ok(Self { mfhd, traf }),
            (None, _) => err("moof has no mfhd"),
            (_, None) => err("moof has no traf"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = crate::fragment::tests::sample_fragment(true).moof;
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out.len(), m.encoded_len());
        assert_eq!(Moof::decode(&out[8..]).as_ref(), Ok(&m));
    }
}
