//! `moof`: a movie fragment's track runs, as sample sources.

pub(crate) mod traf;

use alloc::vec::Vec;

use bytes::Bytes;

use crate::demux::mp4::boxes;
use crate::demux::mp4::moov::mvex::Trex;
use crate::demux::DemuxError;

use traf::SampleRun;

/// Per-track state that fragments carry over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragTrack {
    pub id: u32,
    pub trex: Trex,
    /// Where the next fragment starts without a `tfdt`.
    pub next_dts: i64,
}

/// Tracks whose fragment state is kept: those the moov declares, and unknown ones up to this.
const MAX_FRAG_TRACKS: usize = 256;

/// One `traf`'s place on its track's timeline: what Smooth ingest keys fragments by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentTimes {
    pub track: u32,
    /// Decode time of the first sample (the tfxd time, else tfdt, else the previous end).
    pub start: i64,
    /// Decode time after the last sample.
    pub end: i64,
    /// The smallest composition offset of its samples, 0 when none is negative (a version 1
    /// `trun`, as ffmpeg's ismv writes with B-frames, has them below 0).
    pub min_cts: i64,
}

/// Parses a `moof` body starting at absolute offset `moof_start`; returns each run with its
/// track_ID, and advances each track's `next_dts`. Each traf's times go to `times`.
// Out of line: see `moov::parse_moov`.
#[inline(never)]
pub(crate) fn parse_moof(
    moof: &Bytes,
    moof_start: u64,
    tracks: &mut Vec<FragTrack>,
    times: &mut Vec<FragmentTimes>,
) -> Result<Vec<(u32, SampleRun)>, DemuxError> {
    let mut runs = Vec::new();
    let mut implicit_base = moof_start;
    for child in boxes::children(moof) {
        let child = child?;
        if &child.typ != b"traf" {
            continue;
        }
        let traf = traf::parse_traf(
            moof,
            child.body,
            |id| {
                tracks
                    .iter()
                    .find(|t| t.id == id)
                    .map_or(Trex::default(), |t| t.trex)
            },
            moof_start,
            implicit_base,
            |id| tracks.iter().find(|t| t.id == id).map_or(0, |t| t.next_dts),
        )?;
        implicit_base = traf.data_end;
        times.push(FragmentTimes {
            track: traf.track_id,
            start: traf.start_dts,
            end: traf.end_dts,
            min_cts: traf.min_cts,
        });
        let known = tracks.len();
        match tracks.iter_mut().find(|t| t.id == traf.track_id) {
            Some(t) => t.next_dts = traf.end_dts,
            // A live input (Smooth ingest) never ends: a track_ID the moov did not declare in
            // every moof must not grow this list (and its search) without end.
            None if known >= MAX_FRAG_TRACKS => {}
            None => tracks.push(FragTrack {
                id: traf.track_id,
                trex: Trex::default(),
                next_dts: traf.end_dts,
            }),
        }
        runs.extend(traf.runs.into_iter().map(|r| (traf.track_id, r)));
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::traf::tests::{tfhd, trun};
    use super::*;
    use crate::demux::mp4::boxes::tests::{mk, mk_full};

    #[test]
    fn implicit_bases_and_missing_tfdt() {
        let mut tracks = alloc::vec![FragTrack {
            id: 1,
            trex: Trex {
                track_id: 1,
                default_duration: 10,
                default_size: 4,
                default_flags: 0
            },
            next_dts: 500,
        }];
        // traf 1: no tfdt, 2 samples of 4 bytes at moof start + 0; traf 2 (track 2) follows
        // traf 1's data; both without data offsets or default-base-is-moof.
        let mut t1 = tfhd(1, 0, &[]);
        t1.extend(trun(0, 0, &[], &[&[], &[]]));
        let mut t2 = tfhd(2, 0x10 | 0x08, &[3, 7]);
        t2.extend(mk_full(b"tfdt", 0, 0, &[0, 0, 0, 9]));
        t2.extend(trun(0, 0, &[], &[&[]]));
        let mut body = mk(b"traf", &t1);
        body.extend(mk(b"traf", &t2));
        let moof = Bytes::from(body);
        let mut times = Vec::new();
        let runs = parse_moof(&moof, 1000, &mut tracks, &mut times).unwrap();
        assert_eq!(
            times,
            [
                FragmentTimes {
                    track: 1,
                    start: 500,
                    end: 520,
                    min_cts: 0
                },
                FragmentTimes {
                    track: 2,
                    start: 9,
                    end: 12,
                    min_cts: 0
                }
            ]
        );
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].1.end, 1008);
        let mut c = runs.into_iter().nth(1).unwrap().1.cursor;
        let m = c.next().unwrap().unwrap();
        assert_eq!((m.offset, m.size, m.dts), (1008, 7, 9));
        assert_eq!(tracks[0].next_dts, 520);
        assert_eq!(tracks[1].next_dts, 12);
    }

    /// A live input naming a new track_ID in every moof keeps a bounded list.
    #[test]
    fn unknown_tracks_are_bounded() {
        let mut tracks = alloc::vec::Vec::new();
        let mut times = Vec::new();
        for id in 0..(MAX_FRAG_TRACKS as u32 + 50) {
            let mut t = tfhd(id, 0x08 | 0x10, &[1, 1]);
            t.extend(trun(0, 0, &[], &[&[]]));
            let moof = Bytes::from(mk(b"traf", &t));
            parse_moof(&moof, 0, &mut tracks, &mut times).unwrap();
        }
        assert_eq!(tracks.len(), MAX_FRAG_TRACKS);
        assert_eq!(
            times.len(),
            MAX_FRAG_TRACKS + 50,
            "times are still reported"
        );
    }
}
