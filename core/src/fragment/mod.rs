//! Smooth Streaming fragments: `moof` + `mdat`, one track per fragment.
//!
//! The folder tree mirrors the box tree, one box per file (as kixelated/mp4-atom does):
//!
//! ```text
//! (any box's header)  header.rs
//! moof                moof/mod.rs
//!   mfhd              moof/mfhd.rs
//!   traf              moof/traf/mod.rs
//!     tfhd            moof/traf/tfhd.rs
//!     trun            moof/traf/trun.rs
//!     uuid tfxd       moof/traf/tfxd.rs
//!     uuid tfrf       moof/traf/tfrf.rs   (live only)
//!     uuid PIFF senc  moof/traf/senc.rs   (protected only, see crypto/)
//!     saiz            moof/traf/saiz.rs   (protected only)
//!     saio            moof/traf/saio.rs   (protected only)
//! mdat                mdat.rs
//! ```
//!
//! Every box has `encode` (append to a `Vec<u8>`) and `decode` (from its payload, after the
//! box header), and a round-trip test beside it. [`Fragment`] ties them together. The MP4
//! demuxer reads box headers and `tfhd` with the same code (`demux::mp4::boxes`,
//! `demux::mp4::moof::traf`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub mod header;
pub mod mdat;
pub mod moof;

// The boxes by name, wherever they sit in the tree.
pub use moof::traf::{saio, saiz, senc, tfhd, tfrf, tfxd, trun};
pub use moof::{mfhd, traf};

pub use header::{BoxHeader, RawHeader};
pub use mfhd::Mfhd;
pub use moof::Moof;
pub use saio::Saio;
pub use saiz::Saiz;
pub use senc::{Senc, SencSample, Subsample};
pub use tfhd::Tfhd;
pub use tfrf::{Tfrf, TfrfEntry};
pub use tfxd::Tfxd;
pub use traf::Traf;
pub use trun::{Trun, TrunSample};

/// Why a box could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseError {}

pub(crate) fn err<T>(msg: &str) -> Result<T, ParseError> {
    Err(ParseError(String::from(msg)))
}

/// A parsed or to-be-written fragment: the `moof` and the `mdat` payload it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub moof: Moof,
    /// The `mdat` payload: the samples back to back, in `trun` order.
    pub mdat: Vec<u8>,
}

impl Fragment {
    /// Encodes `moof` + `mdat`, setting `trun.data_offset` to point at the first sample.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.moof.encoded_len() + 8 + self.mdat.len());
        self.encode_head(self.mdat.len(), &mut out);
        out.extend_from_slice(&self.mdat);
        out
    }

    /// Encodes the `moof` and the `mdat` header for a payload of `mdat_len` bytes, so that a
    /// host can write the payload from where it already is (scatter writes, no copy).
    pub fn encode_head(&self, mdat_len: usize, out: &mut Vec<u8>) {
        let mut moof = self.moof.clone();
        // data_offset counts from the start of moof (PIFF: no base_data_offset, no
        // default-base-is-moof): the moof itself plus the 8-byte mdat header.
        moof.traf.trun.data_offset = Some((moof.encoded_len() + 8) as i32);
        // saio counts from the moof too, to the first IV: it moves whenever the tfrf in front
        // of it grows (live rewrites), so it is set here, at every encode.
        let first_iv = (8 + Mfhd::ENCODED_LEN + moof.traf.first_iv_offset()) as u64;
        if let Some(saio) = moof.traf.saio.as_mut() {
            saio.offset = first_iv;
        }
        moof.encode(out);
        mdat::encode_header(mdat_len, out);
    }

    /// Parses a fragment file: `moof` then `mdat` (other top-level boxes are skipped).
    pub fn decode(data: &[u8]) -> Result<Self, ParseError> {
        let mut moof = None;
        let mut mdat = None;
        let mut pos = 0;
        while pos < data.len() {
            let h = BoxHeader::parse(&data[pos..])?;
            let end = pos.checked_add(h.size).filter(|e| *e <= data.len());
            let Some(end) = end else {
                return err("box runs past the end of the fragment");
            };
            let body = &data[pos + h.header_len..end];
            match &h.typ {
                b"moof" => moof = Some(Moof::decode(body)?),
                b"mdat" => mdat = Some(body.to_vec()),
                _ => {}
            }
            pos = end;
        }
        match (moof, mdat) {
            (Some(moof), Some(mdat)) => Ok(Self { moof, mdat }),
            (None, _) => err("fragment has no moof"),
            (_, None) => err("fragment has no mdat"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    pub(crate) fn sample_fragment(live: bool) -> Fragment {
        Fragment {
            moof: Moof {
                mfhd: Mfhd { sequence_number: 3 },
                traf: Traf {
                    tfhd: Tfhd::video(1),
                    trun: Trun::video(vec![
                        TrunSample {
                            duration: 400_000,
                            size: 5,
                            flags: trun::SYNC_SAMPLE_FLAGS,
                            cts_offset: 800_000,
                        },
                        TrunSample {
                            duration: 400_000,
                            size: 3,
                            flags: trun::NON_SYNC_SAMPLE_FLAGS,
                            cts_offset: 0,
                        },
                    ]),
                    tfxd: Tfxd {
                        time: 20_000_000,
                        duration: 800_000,
                    },
                    tfrf: live.then(|| Tfrf {
                        entries: vec![TfrfEntry {
                            time: 20_800_000,
                            duration: 800_000,
                        }],
                        room: 0,
                    }),
                    senc: None,
                    saiz: None,
                    saio: None,
                },
            },
            mdat: vec![1, 2, 3, 4, 5, 6, 7, 8],
        }
    }

    #[test]
    fn round_trip_with_data_offset() {
        for live in [false, true] {
            let f = sample_fragment(live);
            let bytes = f.encode();
            let back = Fragment::decode(&bytes).expect("decodes");
            let offset = back.moof.traf.trun.data_offset.expect("data offset") as usize;
            assert_eq!(&bytes[offset..], &f.mdat[..]);
            assert_eq!(offset, f.moof.encoded_len() + 8);
            assert_eq!(back.moof.traf.tfxd, f.moof.traf.tfxd);
            assert_eq!(back.moof.traf.tfrf, f.moof.traf.tfrf);
            assert_eq!(back.mdat, f.mdat);
        }
    }

    #[test]
    fn truncated_fragment_is_an_error() {
        let bytes = sample_fragment(true).encode();
        for n in 0..bytes.len() - 1 {
            assert!(Fragment::decode(&bytes[..n]).is_err(), "cut at {n}");
        }
    }
}
