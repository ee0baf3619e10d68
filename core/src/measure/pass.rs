//! The announced bitrate of a whole input when the caller gives none (its video's, or
//! without video its audio's): what every host's packaging session announces.
//!
//! MP4 states per-track bitrates in its sample tables, so the answer is known at the first
//! sample. MPEG-TS and FLV state none: every sample is counted, which takes a whole pass.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::demux::DemuxEvent;

use crate::package::{Error, ErrorKind};

#[derive(Debug, Default)]
pub struct Measure {
    /// One entry per announced track (and per change), as the native host keeps them:
    /// whether it is video, and the bitrate the container states for it.
    stated: Vec<(bool, Option<u64>)>,
    /// With video, only the video counts: the level's bitrate is its video's (the audio
    /// quality level is measured apart, by the presentation).
    video: Vec<u32>,
    bytes: u64,
    /// Per track: lowest decode time, highest end time.
    spans: BTreeMap<u32, (i64, i64)>,
    timescales: BTreeMap<u32, u32>,
}

/// What one event told the measurement.
pub enum Observed {
    /// Keep going.
    More,
    /// The container states the bitrate: no need to read further.
    Stated(u32),
}

impl Measure {
    pub fn observe(&mut self, event: &DemuxEvent) -> Result<Observed, Error> {
        match event {
            DemuxEvent::Track(info) | DemuxEvent::TrackChanged(info) => {
                let video = info.kind() == crate::media::TrackKind::Video;
                if video && !self.video.contains(&info.id) {
                    self.video.push(info.id);
                }
                self.stated.push((video, info.avg_bitrate));
                self.timescales.insert(info.id, info.timescale);
            }
            DemuxEvent::Sample(s) => {
                let any_video = !self.video.is_empty();
                let counted = || self.stated.iter().filter(|(v, _)| *v || !any_video);
                if counted().next().is_some() && counted().all(|(_, b)| b.is_some()) {
                    let total: u64 = counted().filter_map(|(_, b)| *b).sum();
                    return u32::try_from(total.max(1))
                        .map(Observed::Stated)
                        .map_err(|_| Error::new(ErrorKind::Unsupported, "bitrate too large"));
                }
                if any_video && !self.video.contains(&s.track) {
                    return Ok(Observed::More);
                }
                self.bytes += s.data.len() as u64;
                let end = s.dts.saturating_add(i64::from(s.duration.unwrap_or(0)));
                let e = self.spans.entry(s.track).or_insert((s.dts, s.dts));
                e.0 = e.0.min(s.dts);
                e.1 = e.1.max(end);
            }
            DemuxEvent::Ignored { .. } | DemuxEvent::Seek(_) => {}
        }
        Ok(Observed::More)
    }

    /// The bitrate from a whole pass over the samples.
    pub fn result(&self) -> Result<u32, Error> {
        let secs = self
            .spans
            .iter()
            .map(|(id, (lo, hi))| {
                hi.saturating_sub(*lo) as f64 / f64::from(*self.timescales.get(id).unwrap_or(&1))
            })
            .fold(0.0f64, f64::max);
        if secs <= 0.0 {
            return Err(Error::new(
                ErrorKind::Empty,
                "no samples to measure the bitrate of",
            ));
        }
        // +0.5 then truncate: round half up without std's float rounding (no_std).
        Ok(((self.bytes as f64 * 8.0 / secs + 0.5) as u64).clamp(1, u64::from(u32::MAX)) as u32)
    }
}
