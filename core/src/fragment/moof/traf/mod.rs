//! `traf`: one track's part of a fragment, in the child order FFmpeg's ISM mode and
//! nginx-vod write: tfhd, trun, tfxd, then tfrf when live.

use alloc::vec::Vec;

pub mod tfhd;
pub mod tfrf;
pub mod tfxd;
pub mod trun;

use crate::bytes_util::write_box;
use crate::fragment::header::children;
use crate::fragment::{err, ParseError, Tfhd, Tfrf, Tfxd, Trun};
use tfrf::TFRF_UUID;
use tfxd::TFXD_UUID;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traf {
    pub tfhd: Tfhd,
    pub trun: Trun,
    pub tfxd: Tfxd,
    pub tfrf: Option<Tfrf>,
}

impl Traf {
    pub fn encoded_len(&self) -> usize {
        8 + self.tfhd.encoded_len()
            + self.trun.encoded_len()
            + Tfxd::ENCODED_LEN
            + self.tfrf.as_ref().map_or(0, Tfrf::encoded_len)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        write_box(out, b"traf", |out| {
            self.tfhd.encode(out);
            self.trun.encode(out);
            self.tfxd.encode(out);
            if let Some(tfrf) = &self.tfrf {
                tfrf.encode(out);
            }
        });
    }

    pub fn decode(body: &[u8]) -> Result<Self, ParseError> {
        let (mut tfhd, mut trun, mut tfxd, mut tfrf) = (None, None, None, None);
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
                _ => {}
            }
        }
        match (tfhd, trun, tfxd) {
            (Some(tfhd), Some(trun), Some(tfxd)) => Ok(Self {
                tfhd,
                trun,
                tfxd,
                tfrf,
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
            }),
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
