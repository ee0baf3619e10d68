//! Which fragments of one `Streams(<id>)` are new, resends, or time going backwards.
//!
//! Keyed by (stream id, track, fragment time), as the Azure ingest spec has servers filter
//! redundant encoders and reconnects (shared/reference/smooth-ingest.md §7, §8.5-8):
//! - later than every fragment taken so far: new, taken;
//! - the start of one of the last [`RECENT`] fragments taken: a resend (a reconnecting
//!   encoder resends its last two fragments per track) or a redundant encoder's copy,
//!   dropped silently;
//! - anything else is earlier: refused (409, as Unified Origin answers an encoder that
//!   restarted its timeline at 0).

use std::collections::{HashMap, VecDeque};

/// Fragment starts remembered per track: the two an encoder resends, and one more.
pub const RECENT: usize = 3;

/// Tracks remembered per stream: a `moof` may name any track_ID, and a hostile body naming
/// a new one in each must not grow this without end. Fragments of further tracks are let
/// through unjudged (the demuxer drops samples of tracks its `moov` did not declare).
const MAX_TRACKS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    New,
    Duplicate,
    /// The time goes back past the fragments remembered: (this start, the latest start).
    Backwards(i64, i64),
}

#[derive(Debug, Default)]
pub struct Marks {
    tracks: HashMap<u32, VecDeque<i64>>,
}

impl Marks {
    /// Judges a fragment of `track` starting at `start`; a new one is remembered.
    pub fn check(&mut self, track: u32, start: i64) -> Verdict {
        if self.tracks.len() >= MAX_TRACKS && !self.tracks.contains_key(&track) {
            return Verdict::New;
        }
        let recent = self.tracks.entry(track).or_default();
        let latest = recent.back().copied();
        match latest {
            Some(latest) if start <= latest => {
                if recent.contains(&start) {
                    Verdict::Duplicate
                } else {
                    Verdict::Backwards(start, latest)
                }
            }
            _ => {
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(start);
                Verdict::New
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_resent_redundant_and_backwards() {
        let mut m = Marks::default();
        for t in [0, 10, 20, 30] {
            assert_eq!(m.check(1, t), Verdict::New);
        }
        // Another track has its own marks.
        assert_eq!(m.check(2, 0), Verdict::New);
        // A reconnect resends the last two, then continues.
        assert_eq!(m.check(1, 20), Verdict::Duplicate);
        assert_eq!(m.check(1, 30), Verdict::Duplicate);
        assert_eq!(m.check(1, 40), Verdict::New);
        // A restart from 0, or a time between remembered starts.
        assert_eq!(m.check(1, 0), Verdict::Backwards(0, 40));
        assert_eq!(m.check(1, 35), Verdict::Backwards(35, 40));
        // Refusals change nothing: the timeline goes on.
        assert_eq!(m.check(1, 50), Verdict::New);
        // Track ids past the bound are not remembered.
        for id in 100..300 {
            m.check(id, 0);
        }
        assert_eq!(m.tracks.len(), MAX_TRACKS);
        assert_eq!(
            m.check(1, 50),
            Verdict::Duplicate,
            "known tracks still judged"
        );
    }
}
