//! One quality level (one input stream): its tracks, its timeline origin, and the rule that
//! audio fragments end where video fragments end.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::track::{Accepted, ClosedFragment, ForcedCut, Limits, TimedSample, TrackFragmenter};
use crate::media::{Sample, TrackInfo, TrackKind};
use crate::time::to_mss;

/// Cut tolerance: a fragment may close this much short of `chunk_length`, so 29.97 fps
/// content with 2 s GOPs does not miss every other boundary to rounding.
const CUT_TOLERANCE: i64 = 10_000;

/// Samples held before the origin is known, at most: enough for any sane interleave.
const ORIGIN_GATE_SAMPLES: usize = 2_000;
/// Time span held before the origin is fixed without a silent track.
const ORIGIN_GATE_SPAN: i64 = 50_000_000;
/// How far audio may run ahead of video before it is fragmented on its own grid.
const AUDIO_AHEAD_LIMIT: i64 = 200_000_000;

#[derive(Debug)]
pub(crate) struct Track {
    pub info: TrackInfo,
    pub fragmenter: TrackFragmenter,
    /// Every fragment this track produced: (start, duration). The manifest's timeline.
    pub chunks: Vec<(u64, u64)>,
    pub seen_sample: bool,
}

#[derive(Debug)]
pub(crate) struct Level {
    pub bitrate: u32,
    /// The audio track's own bitrate: measured from its first fragment (or set by the host,
    /// e.g. from an earlier run's manifest); until then the audio has no folder or URL.
    pub audio_bitrate: Option<u32>,
    pub video: Option<Track>,
    pub audio: Option<Track>,
    /// A subtitle input's track; its cues wait in `cues` until the presentation ends and its
    /// fragments follow the presentation's grid.
    pub text: Option<Track>,
    pub cues: Vec<Cue>,
    /// This level carries a further audio track of another level's input (a second language):
    /// it takes that level's timeline origin and cuts its audio where that level's video cuts.
    pub follows: Option<usize>,
    /// The stream (`StreamIndex`, among those of its kind) of this level's audio, chosen
    /// with its bitrate at its first fragment; or of its text, chosen when it is added.
    pub stream: Option<usize>,
    /// A subtitle input's level, which carries text only.
    pub text_level: bool,
    /// 10 MHz time subtracted from every sample so the level's earliest sample is at 0.
    origin: Option<i64>,
    gate: Vec<(TrackKind, Sample)>,
    /// Audio waiting until video has shown where the fragment boundaries fall.
    audio_pending: VecDeque<TimedSample>,
    /// Video fragment boundaries not yet applied to audio.
    boundaries: VecDeque<i64>,
    /// The newest video fragment boundary (this level's own or, following, its parent's):
    /// where the video ends once the source is lost.
    video_end: Option<i64>,
    /// Decode time of the newest video sample: every boundary at or before it is known.
    video_watermark: Option<i64>,
    /// After a restart, where the returning source's first sample lands on the timeline.
    resume_at: Option<i64>,
    /// Where the timeline ended when the source was last lost.
    lost_at: Option<i64>,
    /// The level came back with the whole presentation (a host restart), not alone: it may
    /// adopt the origin of a level that resumed before it.
    resume_shared: bool,
    /// Fragments found on disk at a resume, by kind, waiting for their track to be announced.
    resumed: [Vec<(u64, u64)>; 3],
    pub finished: bool,
}

/// A subtitle cue on the input's timeline (10 MHz, from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cue {
    pub start: i64,
    pub end: i64,
    /// TTML body content (see [`Sample::data`]).
    pub body: bytes::Bytes,
}

/// Warnings the level reports upward (the presentation turns them into events).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LevelNote {
    Dropped(TrackKind, Accepted),
    /// A fragment was cut by a limit, not by the cut rule.
    Cut(TrackKind, ForcedCut),
}

pub(crate) struct CutRule {
    pub chunk_length: i64,
    pub chunk_on_idr: bool,
    pub limits: Limits,
}

impl Level {
    pub fn new(bitrate: u32) -> Self {
        Self {
            bitrate,
            audio_bitrate: None,
            video: None,
            audio: None,
            text: None,
            cues: Vec::new(),
            follows: None,
            stream: None,
            text_level: false,
            origin: None,
            gate: Vec::new(),
            audio_pending: VecDeque::new(),
            boundaries: VecDeque::new(),
            video_end: None,
            video_watermark: None,
            resume_at: None,
            lost_at: None,
            resume_shared: false,
            resumed: [Vec::new(), Vec::new(), Vec::new()],
            finished: false,
        }
    }

    pub fn origin(&self) -> Option<i64> {
        self.origin
    }

    /// Whether this level waits to map a returning source onto its old timeline.
    pub fn resuming(&self) -> bool {
        self.resume_at.is_some() && !self.resume_shared
    }

    /// A host restart: `chunks` (by kind) are this level's fragments already on disk, and its
    /// first new sample lands at `resume_at`, the end of the whole presentation.
    pub fn resume(&mut self, video: Vec<(u64, u64)>, audio: Vec<(u64, u64)>, resume_at: i64) {
        self.resumed = [video, audio, Vec::new()];
        self.resume_at = Some(resume_at);
        self.resume_shared = true;
    }

    /// Uses another level's origin, so inputs from one encoder share one timeline even when
    /// they connect at different moments.
    pub fn adopt_origin(
        &mut self,
        origin: i64,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
    ) {
        if self.origin.is_some() {
            return;
        }
        self.origin = Some(origin);
        self.resume_at = None;
        self.resume_shared = false;
        for (kind, sample) in core::mem::take(&mut self.gate) {
            self.route(kind, sample, rule, out, notes);
        }
    }

    /// Where a returning source of this presentation should resume, as this level sees it:
    /// where it ended when its own source was lost, or where it is now if it never was.
    pub fn resume_point(&self) -> Option<i64> {
        self.lost_at.or_else(|| self.end())
    }

    /// Where this level's timeline ends (the end of its last fragment).
    pub fn end(&self) -> Option<i64> {
        [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .map(|t| &t.chunks)
            .chain(&self.resumed)
            .filter_map(|c| {
                c.last()
                    .map(|(s, d)| s.saturating_add(*d).min(i64::MAX as u64) as i64)
            })
            .max()
    }

    /// Prepares for a source that comes back after [`Level::finish`]; its first sample will
    /// land at `resume_at` (the presentation's end).
    pub fn restart(&mut self, resume_at: Option<i64>) {
        let end = resume_at.or(self.end());
        for t in [&mut self.video, &mut self.audio].into_iter().flatten() {
            let default = t.fragmenter.default_duration();
            t.fragmenter = TrackFragmenter::new(t.info.kind(), default);
            t.seen_sample = false;
        }
        self.origin = None;
        self.gate.clear();
        self.audio_pending.clear();
        self.boundaries.clear();
        self.video_end = None;
        self.video_watermark = None;
        self.resume_at = end;
        self.resume_shared = false;
        self.finished = false;
    }

    /// The bitrate a track of this level is announced and stored under: video carries the
    /// level's, audio its own (the level's until measured, for paths known before media).
    pub fn bitrate_of(&self, kind: TrackKind) -> u32 {
        match kind {
            TrackKind::Video | TrackKind::Text => self.bitrate,
            TrackKind::Audio => self.audio_bitrate.unwrap_or(self.bitrate),
        }
    }

    pub fn track_mut(&mut self, kind: TrackKind) -> &mut Option<Track> {
        match kind {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
            TrackKind::Text => &mut self.text,
        }
    }

    pub fn track(&self, kind: TrackKind) -> Option<&Track> {
        match kind {
            TrackKind::Video => self.video.as_ref(),
            TrackKind::Audio => self.audio.as_ref(),
            TrackKind::Text => self.text.as_ref(),
        }
    }

    pub fn kind_of(&self, track_id: u32) -> Option<TrackKind> {
        [&self.video, &self.audio, &self.text]
            .into_iter()
            .flatten()
            .find(|t| t.info.id == track_id)
            .map(|t| t.info.kind())
    }

    pub fn add_track(&mut self, info: TrackInfo) {
        let kind = info.kind();
        let default_duration = match &info.codec {
            // HE-AAC's 2048 output samples a frame are 1024 at the core rate, half the output.
            crate::CodecConfig::Aac(a) if matches!(a.object_type, 5 | 29) => {
                to_mss(2048, a.sample_rate)
            }
            crate::CodecConfig::Aac(a) => to_mss(1024, a.sample_rate),
            crate::CodecConfig::H264(_) => 400_000,
            crate::CodecConfig::Text(_) => 0,
        };
        let chunks = core::mem::take(&mut self.resumed[kind_index(kind)]);
        *self.track_mut(kind) = Some(Track {
            info,
            fragmenter: TrackFragmenter::new(kind, default_duration),
            chunks,
            seen_sample: false,
        });
    }

    /// Accepts a sample; returns fragments that closed and notes.
    pub fn push(
        &mut self,
        kind: TrackKind,
        sample: Sample,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
    ) {
        if let Some(t) = self.track_mut(kind).as_mut() {
            t.seen_sample = true;
        }
        if kind == TrackKind::Text {
            self.push_cue(sample);
            return;
        }
        if self.origin.is_none() {
            self.gate.push((kind, sample));
            if self.gate_is_open() {
                self.open_gate(rule, out, notes);
            }
            return;
        }
        self.route(kind, sample, rule, out, notes);
    }

    /// A subtitle cue: its times are already on the presentation's timeline (a sidecar file
    /// counts from the media's start).
    fn push_cue(&mut self, s: Sample) {
        let Some(t) = self.text.as_ref() else {
            return;
        };
        let ts = t.info.timescale;
        let start = to_mss(s.dts, ts).max(0);
        let end = to_mss(s.dts.saturating_add(i64::from(s.duration.unwrap_or(0))), ts);
        if end > start {
            self.cues.push(Cue {
                start,
                end,
                body: s.data,
            });
        }
    }

    /// The origin is the earliest sample over all tracks, which needs a sample from each
    /// track, or enough held that a silent track must not stall the others. A level that
    /// follows another waits for that level's origin (the presentation hands it over).
    fn gate_is_open(&self) -> bool {
        if self.follows.is_some() {
            return self.gate.len() >= ORIGIN_GATE_SAMPLES;
        }
        let all_seen = [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .all(|t| t.seen_sample);
        let span = {
            let ts = self
                .gate
                .iter()
                .filter_map(|(k, s)| self.timeline_time(*k, s));
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            for t in ts {
                lo = lo.min(t);
                hi = hi.max(t);
            }
            hi.saturating_sub(lo)
        };
        all_seen || self.gate.len() >= ORIGIN_GATE_SAMPLES || span >= ORIGIN_GATE_SPAN
    }

    fn open_gate(
        &mut self,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
    ) {
        let earliest = self
            .gate
            .iter()
            .filter_map(|(k, s)| self.timeline_time(*k, s))
            .min()
            .unwrap_or(0);
        self.origin = Some(earliest.saturating_sub(self.resume_at.take().unwrap_or(0)));
        self.resume_shared = false;
        for (kind, sample) in core::mem::take(&mut self.gate) {
            self.route(kind, sample, rule, out, notes);
        }
    }

    /// Presentation-aligned decode time before the origin shift (10 MHz).
    fn timeline_time(&self, kind: TrackKind, s: &Sample) -> Option<i64> {
        let t = self.track(kind)?;
        Some(to_mss(
            s.dts.saturating_sub(t.info.edit_offset),
            t.info.timescale,
        ))
    }

    fn route(
        &mut self,
        kind: TrackKind,
        s: Sample,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
    ) {
        let Some(track) = self.track(kind) else {
            return;
        };
        let (ts, edit) = (track.info.timescale, track.info.edit_offset);
        let origin = self.origin.unwrap_or(0);
        let dts = s.dts.saturating_sub(edit);
        // Saturating: decode times and offsets come from the input (and from files read
        // back at a resume), so any of them may sit near the ends of i64.
        let t = to_mss(dts, ts).saturating_sub(origin);
        if t < 0 {
            // Earlier than the presentation's start (a late input of a shared timeline, or
            // a track that starts before the others after a restart): nothing can show it.
            notes.push(LevelNote::Dropped(kind, Accepted::BeforeStart));
            return;
        }
        let timed = TimedSample {
            t,
            cts_offset: to_mss(dts.saturating_add(s.cts_offset), ts)
                .saturating_sub(origin)
                .saturating_sub(t),
            duration_hint: s.duration.map(|d| {
                to_mss(dts.saturating_add(i64::from(d)), ts)
                    .saturating_sub(origin)
                    .saturating_sub(t)
            }),
            keyframe: s.keyframe,
            data: s.data,
        };
        match kind {
            TrackKind::Video => self.push_video(timed, rule, out, notes),
            TrackKind::Audio => {
                self.audio_pending.push_back(timed);
                self.drain_audio(rule, out, notes, false);
            }
            TrackKind::Text => {}
        }
    }

    fn push_video(
        &mut self,
        s: TimedSample,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
    ) {
        let Some(video) = self.video.as_mut() else {
            return;
        };
        let t = s.t;
        let chunk_length = rule.chunk_length;
        let on_idr = rule.chunk_on_idr;
        let (accepted, closed) = video.fragmenter.push(s, on_idr, rule.limits, |start, s| {
            s.t.saturating_sub(start) >= chunk_length - CUT_TOLERANCE && (!on_idr || s.keyframe)
        });
        if accepted != Accepted::Yes {
            notes.push(LevelNote::Dropped(TrackKind::Video, accepted));
            return;
        }
        self.video_watermark = Some(t);
        if let Some(c) = closed {
            if let Some(why) = c.forced {
                notes.push(LevelNote::Cut(TrackKind::Video, why));
            }
            video.chunks.push((c.start, c.duration));
            self.boundaries.push_back(t);
            self.video_end = Some(t);
            out.push(c);
        }
        self.drain_audio(rule, out, notes, false);
    }

    /// Moves audio into fragments as far as video boundaries are known (all of it at the end).
    fn drain_audio(
        &mut self,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
        all: bool,
    ) {
        let has_video = self.video.is_some() || self.follows.is_some();
        while let Some(front) = self.audio_pending.front() {
            let ahead = self
                .video_watermark
                .map_or(front.t, |w| front.t.saturating_sub(w));
            let known = !has_video
                || all
                || self.video_watermark.is_some_and(|w| front.t <= w)
                || ahead > AUDIO_AHEAD_LIMIT;
            if !known {
                break;
            }
            let Some(s) = self.audio_pending.pop_front() else {
                break;
            };
            let Some(audio) = self.audio.as_mut() else {
                return;
            };
            let boundaries = &mut self.boundaries;
            let chunk_length = rule.chunk_length;
            let audio_only = !has_video;
            let (accepted, closed) = audio.fragmenter.push(s, false, rule.limits, |start, s| {
                if audio_only {
                    return s.t.saturating_sub(start) >= chunk_length - CUT_TOLERANCE;
                }
                let mut cut = false;
                // Boundaries at or before this fragment's start belong to fragments that
                // had no audio; only one inside the fragment ends it.
                while let Some(b) = boundaries.front().copied().filter(|b| s.t >= *b) {
                    boundaries.pop_front();
                    cut |= b > start;
                }
                cut
            });
            if accepted != Accepted::Yes {
                notes.push(LevelNote::Dropped(TrackKind::Audio, accepted));
            }
            if let Some(c) = closed {
                if let Some(why) = c.forced {
                    notes.push(LevelNote::Cut(TrackKind::Audio, why));
                }
                audio.chunks.push((c.start, c.duration));
                out.push(c);
            }
        }
    }

    /// A following level learns where its parent's video stands: the decode time of the
    /// newest video sample and the fragment boundaries closed since the last call.
    pub fn follow_video(
        &mut self,
        watermark: Option<i64>,
        boundaries: &[i64],
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
    ) {
        self.boundaries.extend(boundaries.iter().copied());
        if let Some(&end) = boundaries.last() {
            self.video_end = self.video_end.max(Some(end));
        }
        if watermark > self.video_watermark {
            self.video_watermark = watermark;
        }
        self.drain_audio(rule, out, notes, false);
    }

    /// Where this level's video stands, for the levels that follow it.
    pub fn video_watermark(&self) -> Option<i64> {
        self.video_watermark
    }

    /// Flushes everything: the input ended. With `lost` (a live source went away and may
    /// come back), the video ends on a whole fragment and audio past it is dropped:
    /// - a video fragment cut short by the loss is dropped: quality levels of one encoder
    ///   lose their sources a few frames apart, and a short fragment in one level and not
    ///   in another would misalign them, where whole fragments end at the same boundary;
    /// - the source resumes at the end of the longer track, so audio past the video's end
    ///   would leave a hole in the video timeline, which players stall at, where dropping
    ///   it leaves one at most an audio frame long (closed when the source returns).
    pub fn finish(
        &mut self,
        rule: &CutRule,
        out: &mut Vec<ClosedFragment>,
        notes: &mut Vec<LevelNote>,
        lost: bool,
    ) {
        if self.origin.is_none() && !self.gate.is_empty() {
            self.open_gate(rule, out, notes);
        }
        if let Some(video) = self.video.as_mut() {
            let short = |c: &ClosedFragment| {
                (c.duration as i64) < rule.chunk_length.saturating_sub(CUT_TOLERANCE)
            };
            if let Some(c) = video.fragmenter.finish().filter(|c| !lost || !short(c)) {
                video.chunks.push((c.start, c.duration));
                let end = c.start.saturating_add(c.duration).min(i64::MAX as u64) as i64;
                self.boundaries.push_back(end);
                self.video_end = Some(end);
                out.push(c);
            }
        }
        if let (true, Some(end)) = (lost, self.video_end) {
            self.audio_pending.retain(|s| s.t < end);
        }
        self.drain_audio(rule, out, notes, true);
        // Audio already in a fragment that opened at or after the video's end goes too.
        let cut = self.video_end.filter(|_| lost);
        if let Some(audio) = self.audio.as_mut() {
            let past_video = |c: &ClosedFragment| cut.is_some_and(|end| c.start as i64 >= end);
            if let Some(c) = audio.fragmenter.finish().filter(|c| !past_video(c)) {
                audio.chunks.push((c.start, c.duration));
                out.push(c);
            }
        }
        self.lost_at = self.end();
        self.finished = true;
    }
}

/// The index of a kind in per-kind arrays: video, audio, text.
pub(crate) fn kind_index(kind: TrackKind) -> usize {
    match kind {
        TrackKind::Video => 0,
        TrackKind::Audio => 1,
        TrackKind::Text => 2,
    }
}
