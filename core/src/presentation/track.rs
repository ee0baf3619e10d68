//! One track's fragmenter: turns timed samples into closed fragments.
//!
//! A sample's duration is only known when the next sample arrives (TS and FLV state none), so
//! the newest sample is held back; fragments close on the sample that starts the next one.

use alloc::vec::Vec;

use bytes::Bytes;

use crate::fragment::trun::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};
use crate::fragment::TrunSample;
use crate::media::TrackKind;

/// A sample on the presentation timeline (10 MHz ticks, origin applied).
#[derive(Debug, Clone)]
pub(crate) struct TimedSample {
    /// Decode time.
    pub t: i64,
    /// Composition offset in 10 MHz ticks (converted from the source's absolute PTS).
    pub cts_offset: i64,
    /// The duration the container stated, already converted, if any.
    pub duration_hint: Option<i64>,
    pub keyframe: bool,
    pub data: Bytes,
}

/// A fragment whose samples and end time are final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClosedFragment {
    pub kind: TrackKind,
    pub start: u64,
    pub duration: u64,
    pub samples: Vec<TrunSample>,
    /// The sample payloads in order: copied once, when the fragment is encoded.
    pub payload: Vec<Bytes>,
    /// Cut by a limit rather than by the cut rule (the next fragment may not start on a
    /// sync sample).
    pub forced: Option<ForcedCut>,
}

/// Why a fragment was cut where the cut rule would not have cut it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForcedCut {
    /// It reached the maximum fragment duration (no keyframe came, or none was wanted).
    Duration,
    /// Its samples reached the maximum fragment size.
    Size,
}

/// How far an open fragment may grow whatever the cut rule says: without them a source that
/// never sends another keyframe (with chunkOnIDR), or whose timestamps barely advance, would
/// make one fragment hold everything it ever sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// 10 MHz ticks from the fragment's start to the sample that would extend it.
    pub duration: i64,
    /// Sample bytes, the sample that would extend it included.
    pub bytes: u64,
}

#[derive(Debug)]
pub(crate) struct TrackFragmenter {
    pub kind: TrackKind,
    held: Option<TimedSample>,
    start: Option<i64>,
    samples: Vec<TrunSample>,
    payload: Vec<Bytes>,
    /// Bytes of `payload`.
    bytes: u64,
    /// The last known sample duration, used for the final sample when nothing states it.
    last_duration: i64,
    /// Decode time of the newest accepted sample, for rejecting time going backwards.
    pub newest_t: Option<i64>,
}

/// What happened to a pushed sample.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    Yes,
    /// Dropped: its decode time does not advance past the previous sample's.
    NotMonotonic,
    /// Dropped: a fragment must start on a sync sample and this is not one.
    WaitingForKeyframe,
    /// Dropped: its time falls before the presentation's start.
    BeforeStart,
}

impl TrackFragmenter {
    pub fn new(kind: TrackKind, default_duration: i64) -> Self {
        Self {
            kind,
            held: None,
            start: None,
            samples: Vec::new(),
            payload: Vec::new(),
            bytes: 0,
            last_duration: default_duration.max(1),
            newest_t: None,
        }
    }

    pub fn default_duration(&self) -> i64 {
        self.last_duration
    }

    /// Adds a sample. `cut_before` decides, given the fragment start, whether this sample
    /// opens a new fragment; so do `limits`, whatever it says. If a fragment ends, it is
    /// returned.
    pub fn push(
        &mut self,
        s: TimedSample,
        require_keyframe_start: bool,
        limits: Limits,
        cut_before: impl FnOnce(i64, &TimedSample) -> bool,
    ) -> (Accepted, Option<ClosedFragment>) {
        if self.newest_t.is_some_and(|n| s.t <= n) {
            return (Accepted::NotMonotonic, None);
        }
        let Some(held) = self.held.take() else {
            if require_keyframe_start && !s.keyframe {
                return (Accepted::WaitingForKeyframe, None);
            }
            self.newest_t = Some(s.t);
            self.start = Some(s.t);
            self.held = Some(s);
            return (Accepted::Yes, None);
        };
        self.newest_t = Some(s.t);
        let duration = s.t.saturating_sub(held.t);
        self.last_duration = duration;
        self.append(held, duration);
        let mut closed = None;
        if let Some(start) = self.start {
            // Always asked: audio's rule consumes video boundaries as it goes.
            let by_rule = cut_before(start, &s);
            let forced = if by_rule {
                None
            } else if s.t.saturating_sub(start) >= limits.duration {
                Some(ForcedCut::Duration)
            } else if self.bytes.saturating_add(s.data.len() as u64) > limits.bytes {
                Some(ForcedCut::Size)
            } else {
                None
            };
            if by_rule || forced.is_some() {
                closed = self.close(s.t);
                if let Some(c) = closed.as_mut() {
                    c.forced = forced;
                }
                self.start = Some(s.t);
            }
        }
        self.held = Some(s);
        (Accepted::Yes, closed)
    }

    /// Ends the track: the held sample gets its stated or last known duration.
    pub fn finish(&mut self) -> Option<ClosedFragment> {
        let held = self.held.take()?;
        let duration = held
            .duration_hint
            .filter(|d| *d > 0)
            .unwrap_or(self.last_duration);
        let end = held.t.saturating_add(duration);
        self.append(held, duration);
        let closed = self.close(end);
        self.start = None;
        closed
    }

    fn append(&mut self, s: TimedSample, duration: i64) {
        let flags = match (self.kind, s.keyframe) {
            (TrackKind::Audio | TrackKind::Text, _) => 0,
            (TrackKind::Video, true) => SYNC_SAMPLE_FLAGS,
            (TrackKind::Video, false) => NON_SYNC_SAMPLE_FLAGS,
        };
        self.samples.push(TrunSample {
            duration: duration.clamp(0, i64::from(u32::MAX)) as u32,
            size: s.data.len() as u32,
            flags,
            cts_offset: s.cts_offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        });
        self.bytes = self.bytes.saturating_add(s.data.len() as u64);
        self.payload.push(s.data);
    }

    fn close(&mut self, end: i64) -> Option<ClosedFragment> {
        let start = self.start?;
        if self.samples.is_empty() {
            return None;
        }
        self.bytes = 0;
        Some(ClosedFragment {
            kind: self.kind,
            start: start.max(0) as u64,
            duration: end.saturating_sub(start).max(0) as u64,
            samples: core::mem::take(&mut self.samples),
            payload: core::mem::take(&mut self.payload),
            forced: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, key: bool) -> TimedSample {
        TimedSample {
            t,
            cts_offset: 0,
            duration_hint: None,
            keyframe: key,
            data: Bytes::from_static(&[1, 2]),
        }
    }

    const NO_LIMITS: Limits = Limits {
        duration: i64::MAX,
        bytes: u64::MAX,
    };

    #[test]
    fn cuts_on_the_sample_that_starts_the_next_fragment() {
        let mut f = TrackFragmenter::new(TrackKind::Video, 10);
        let cut = |start: i64, s: &TimedSample| s.keyframe && s.t - start >= 30;
        assert_eq!(
            f.push(s(0, false), true, NO_LIMITS, cut).0,
            Accepted::WaitingForKeyframe
        );
        assert_eq!(
            f.push(s(0, true), true, NO_LIMITS, cut),
            (Accepted::Yes, None)
        );
        assert_eq!(
            f.push(s(10, false), true, NO_LIMITS, cut),
            (Accepted::Yes, None)
        );
        assert_eq!(
            f.push(s(10, false), true, NO_LIMITS, cut).0,
            Accepted::NotMonotonic
        );
        assert_eq!(
            f.push(s(20, false), true, NO_LIMITS, cut),
            (Accepted::Yes, None)
        );
        let (_, closed) = f.push(s(30, true), true, NO_LIMITS, cut);
        let closed = closed.expect("closed at 30");
        assert_eq!(
            (closed.start, closed.duration, closed.samples.len()),
            (0, 30, 3)
        );
        assert_eq!(closed.samples[0].flags, SYNC_SAMPLE_FLAGS);
        let last = f.finish().expect("final fragment");
        assert_eq!((last.start, last.duration), (30, 10));
    }

    #[test]
    fn limits_cut_without_a_keyframe() {
        let mut f = TrackFragmenter::new(TrackKind::Video, 10);
        let limits = Limits {
            duration: 25,
            bytes: 5,
        };
        let never = |_: i64, _: &TimedSample| false;
        assert_eq!(f.push(s(0, true), true, limits, never).1, None);
        assert_eq!(f.push(s(10, false), true, limits, never).1, None);
        // 2 + 2 bytes held; a third sample would make 6 > 5.
        let (_, closed) = f.push(s(20, false), true, limits, never);
        let c = closed.expect("cut by size");
        assert_eq!(
            (c.start, c.duration, c.forced),
            (0, 20, Some(ForcedCut::Size))
        );
        let big = Limits {
            duration: 25,
            bytes: u64::MAX,
        };
        assert_eq!(f.push(s(30, false), true, big, never).1, None);
        let (_, closed) = f.push(s(45, false), true, big, never);
        let c = closed.expect("cut by duration");
        assert_eq!(
            (c.start, c.duration, c.forced),
            (20, 25, Some(ForcedCut::Duration))
        );
    }
}
