//! `edts`/`elst`: where a track's presentation starts.
//!
//! Only the leading edits matter for packaging: an initial empty edit delays the track, and
//! the first real edit's `media_time` says which media time is presented first (B-frame
//! reordering delay, AAC priming). Later edits (cuts, dwell) are not honoured.

use crate::bytes_util::Reader;
use crate::demux::mp4::boxes::{full_box, short};
use crate::demux::DemuxError;

/// The [`crate::TrackInfo::edit_offset`] an `elst` body implies, in the media timescale.
/// The empty-edit delay is in the movie timescale and is converted (rounded to nearest).
pub(crate) fn edit_offset(
    elst: &[u8],
    movie_timescale: u32,
    media_timescale: u32,
) -> Result<i64, DemuxError> {
    let (version, _, rest) = full_box(elst, "elst")?;
    let mut r = Reader::new(rest);
    let count = r.u32().ok_or_else(|| short("elst"))?;
    let mut delay: u64 = 0;
    let mut media_time: i64 = 0;
    for _ in 0..count {
        let (duration, time) = if version == 1 {
            let d = r.u64().ok_or_else(|| short("elst"))?;
            let t = r.u64().ok_or_else(|| short("elst"))? as i64;
            (d, t)
        } else {
            let d = u64::from(r.u32().ok_or_else(|| short("elst"))?);
            let t = i64::from(r.u32().ok_or_else(|| short("elst"))? as i32);
            (d, t)
        };
        r.skip(4).ok_or_else(|| short("elst"))?; // media_rate
        if time == -1 {
            delay = delay.saturating_add(duration);
            continue;
        }
        media_time = time;
        break;
    }
    let delay = rescale(delay, movie_timescale, media_timescale);
    Ok(media_time.saturating_sub(delay))
}

fn rescale(t: u64, from: u32, to: u32) -> i64 {
    let from = u128::from(from.max(1));
    let v = (u128::from(t) * u128::from(to) + from / 2) / from;
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demux::mp4::boxes::tests::mk_full;
    use alloc::vec::Vec;

    fn elst(version: u8, entries: &[(u64, i64)]) -> Vec<u8> {
        let mut b = (entries.len() as u32).to_be_bytes().to_vec();
        for &(d, t) in entries {
            if version == 1 {
                b.extend(d.to_be_bytes());
                b.extend(t.to_be_bytes());
            } else {
                b.extend((d as u32).to_be_bytes());
                b.extend((t as i32).to_be_bytes());
            }
            b.extend(0x0001_0000u32.to_be_bytes());
        }
        mk_full(b"elst", version, 0, &b)
    }

    #[test]
    fn first_real_edit_media_time() {
        let e = elst(0, &[(4000, 1024)]);
        assert_eq!(edit_offset(&e[8..], 1000, 44100).unwrap(), 1024);
        let e = elst(1, &[(4000, 2002), (10, 5)]);
        assert_eq!(edit_offset(&e[8..], 1000, 30000).unwrap(), 2002);
    }

    #[test]
    fn leading_empty_edit_is_a_negative_offset() {
        // 0.5 s of delay in a 1000 Hz movie, media at 90 kHz starting at 0.
        let e = elst(0, &[(500, -1), (4000, 0)]);
        assert_eq!(edit_offset(&e[8..], 1000, 90000).unwrap(), -45000);
        let e = elst(1, &[(500, -1), (4000, 3000)]);
        assert_eq!(edit_offset(&e[8..], 1000, 90000).unwrap(), 3000 - 45000);
    }

    #[test]
    fn short_elst_is_an_error() {
        let e = elst(0, &[(500, -1), (4000, 0)]);
        assert!(edit_offset(&e[8..e.len() - 1], 1000, 90000).is_err());
        assert!(edit_offset(&[], 1000, 90000).is_err());
    }
}
