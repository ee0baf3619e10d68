//! `traf`: one track's part of a fragment, in the child order FFmpeg's ISM mode and
//! nginx-vod write: tfhd, trun, tfxd, then tfrf when live, then (protected) the PIFF sample
//! encryption box, saiz and saio, in nginx-vod's order.

use alloc::vec::Vec;

pub mod saio;
pub mod saiz;
pub mod senc;
pub mod tfhd;
pub mod tfrf;
pub mod tfxd;
pub mod trun;

use crate::bytes_util::write_box;
use crate::fragment::header::children;
use crate::fragment::{err, ParseError, Tfhd, Tfrf, Tfxd, Trun};
use saio::Saio;
use saiz::Saiz;
use senc::{Senc, SENC_UUID};
use tfrf::TFRF_UUID;
use tfxd::TFXD_UUID;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traf {
    pub tfhd: Tfhd,
    pub trun: Trun,
    pub tfxd: Tfxd,
    pub tfrf: Option<Tfrf>,
    /// Protected fragments: the PIFF sample encryption box and its saiz/saio twins.
    pub senc: Option<Senc>,
    pub saiz: Option<Saiz>,
    pub saio: Option<Saio>,
}

impl Traf {
    pub fn encoded_len(&self) -> usize {
        8 + self.tfhd.encoded_len()
            + self.trun.encoded_len()
            + Tfxd::ENCODED_LEN
            + self.tfrf.as_ref().map_or(0, Tfrf::encoded_len)
            + self.senc.as_ref().map_or(0, Senc::encoded_len)
            + self.saiz.as_ref().map_or(0, Saiz::encoded_len)
            + self.saio.map_or(0, |_| Saio::ENCODED_LEN)
    }

    /// Bytes from the start of this traf to the first IV in its PIFF sample encryption box
    /// (what saio points at, from the moof's start once the moof's own bytes are added).
    pub fn first_iv_offset(&self) -> usize {
        8 + self.tfhd.encoded_len()
            + self.trun.encoded_len()
            + Tfxd::ENCODED_LEN
            + self.tfrf.as_ref().map_or(0, Tfrf::encoded_len)
            + senc::FIRST_IV_OFFSET
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"traf", |out| {
            self.tfhd.encode(out);
            self.trun.encode(out);
            self.tfxd.encode(out);
            if let Some(tfrf) = &self.tfrf {
                tfrf.encode(out);
            }
            if let Some(senc) = &self.senc {
                senc.encode(out);
            }
            if let Some(saiz) = &self.saiz {
                saiz.encode(out);
            }
            if let Some(saio) = &self.saio {
                saio.encode(out);
            }
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let (mut tfhd, mut trun, mut tfxd, mut tfrf) = (None, None, None, None);
        let (mut senc, mut saiz, mut saio) = (None, None, None);
        for child in children(body) {
            let (h, payload) = child?;
            match (&h.typ, h.uuid) {
                (b"tfhd", _) => tfhd = Some(Tfhd::decode(payload)?),
                (b"trun", _) => {
                    if trun.is_some() {
                        return err("traf has more than one trun");
                    }
                    trun = Some(Trun::decode(payload)?);
                }
                (b"uuid", Some(u)) if u == TFXD_UUID => tfxd = Some(Tfxd::decode(payload)?),
                (b"uuid", Some(u)) if u == TFRF_UUID => tfrf = Some(Tfrf::decode(payload)?),
                (b"uuid", Some(u)) if u == SENC_UUID => senc = Some(Senc::decode(payload)?),
                (b"saiz", _) => saiz = Some(Saiz::decode(payload)?),
                (b"saio", _) => saio = Some(Saio::decode(payload)?),
                _ => {}
            }
        }
        match (tfhd, trun, tfxd) {
            (Some(tfhd), Some(trun), Some(tfxd)) => Ok(Self {
                tfhd,
                trun,
                tfxd,
                tfrf,
                senc,
                saiz,
                saio,
            }),
            (None, _, _) => err("traf has no tfhd"),
            (_, None, _) => err("traf has no trun"),
            (_, _, None) => err("traf has no tfxd"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::{TfrfEntry, TrunSample};
    use alloc::vec;

    #[test]
    fn round_trip_keeps_child_order() {
        let t = Traf {
            tfhd: Tfhd::audio(2),
            trun: Trun::audio(vec![TrunSample {
                duration: 213_333,
                size: 300,
                ..Default::default()
            }]),
            tfxd: Tfxd {
                time: 0,
                duration: 213_333,
            },
            tfrf: Some(Tfrf {
                entries: vec![TfrfEntry {
                    time: 213_333,
                    duration: 213_334,
                }],
                room: 0,
            }),
            senc: None,
            saiz: None,
            saio: None,
        };
        let mut out = Vec::new();
        t.encode(&mut out);
        assert_eq!(out.len(), t.encoded_len());
        assert_eq!(Traf::decode(&out[8..]).as_ref(), Ok(&t));
        let order: Vec<[u8; 4]> = children(&out[8..])
            .map(|c| c.map(|(h, _)| h.typ))
            .collect::<Result<_, _>>()
            .expect("children");
        assert_eq!(order, vec![*b"tfhd", *b"trun", *b"uuid", *b"uuid"]);
        assert!(Traf::decode(&out[8..60]).is_err());
    }
}
