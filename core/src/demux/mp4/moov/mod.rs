//! `moov`: the movie header and its tracks.

pub(crate) mod mvex;
pub(crate) mod trak;

use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes_util::Reader;
use crate::demux::mp4::boxes::{self, full_box, short};
use crate::demux::DemuxError;

use mvex::Trex;
use trak::Track;

/// What the `moov` box says.
#[derive(Debug)]
pub(crate) struct Movie {
    /// The supported tracks, in file order.
    pub tracks: Vec<Track>,
    /// Tracks not packaged: (track_ID, why).
    pub ignored: Vec<(u32, String)>,
    /// Fragment defaults of every track (supported or not), from `mvex`.
    pub trex: Vec<Trex>,
}

// Out of line (as is `parse_moof`): inlined, this once-per-file parser made the demuxer's
// per-box handler the largest function of the wasm build (30 KB), and V8 re-optimises
// (tiers up) a wasm function whose loops run long: every Node process paid tens of ms of
// CPU to recompile it for a single call. Native code is unaffected.
#[inline(never)]
pub(crate) fn parse_moov(body: &[u8]) -> Result<Movie, DemuxError> {
    let mvhd = boxes::find(body, b"mvhd")?
        .ok_or_else(|| DemuxError::malformed("moov box has no mvhd box"))?;
    let timescale = parse_mvhd(mvhd.body)?;
    let mut tracks = Vec::new();
    let mut ignored = Vec::new();
    let mut trex = Vec::new();
    for child in boxes::children(body) {
        let child = child?;
        match &child.typ {
            b"trak" => {
                let track = match trak::parse_trak(child.body, timescale)? {
                    trak::Parsed::Track(track) => *track,
                    trak::Parsed::Ignored { id, reason } => {
                        ignored.push((id, reason));
                        continue;
                    }
                };
                if tracks.iter().any(|t: &Track| t.info.id == track.info.id) {
                    return Err(DemuxError::malformed(alloc::format!(
                        "two tracks have track_ID {}",
                        track.info.id
                    )));
                }
                tracks.push(track);
            }
            b"mvex" => {
                for c in boxes::children(child.body) {
                    let c = c?;
                    if &c.typ == b"trex" {
                        trex.push(mvex::parse_trex(c.body)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Movie {
        tracks,
        ignored,
        trex,
    })
}

/// The movie timescale (edit list durations are in it).
fn parse_mvhd(body: &[u8]) -> Result<u32, DemuxError> {
    let (version, _, rest) = full_box(body, "mvhd")?;
    let mut r = Reader::new(rest);
    r.skip(if version == 1 { 16 } else { 8 })
        .ok_or_else(|| short("mvhd"))?;
    r.u32().ok_or_else(|| short("mvhd"))
}
