//! MP4 demuxer (progressive and fragmented ISO BMFF, and QuickTime `.mov`).
//!
//! The demuxer walks the top-level boxes as bytes arrive. `moov` and `moof` are collected
//! whole and parsed (they are small); `mdat` is never collected when the sample tables are
//! already known: each sample is cut out of the byte stream as it passes, so memory stays
//! bounded by the largest sample. Samples are emitted in file-offset order (see `sched`),
//! which interleaves tracks the way the muxer laid them out.
//!
//! Layout mirrors the box tree: `moov` (→ `trak` → `edts`, `stsd`, `stbl`; `mvex`) and
//! `moof` (→ `traf`), with `boxes` for headers and `sched` for the file-order merge.

mod boxes;
pub mod ingest;
pub mod lsm;
mod moof;
mod moov;
mod sched;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;

use bytes::Bytes;

use super::{DemuxError, DemuxEvent, Demuxer};
use crate::codec::h264;
use crate::media::{Sample, TrackKind};
use boxes::{fourcc, FourCc, Header};
use moof::FragTrack;
pub use moof::FragmentTimes;
use sched::{Cursor, Meta, Scheduler};

/// Box types an MP4 or QuickTime file may start with; anything else is not an MP4 file.
const FIRST_BOX_TYPES: [&FourCc; 12] = [
    b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"sidx", b"uuid",
    b"pdin", b"pnot",
];

/// The most a partially received sample reserves up front; larger samples grow as their bytes
/// arrive, so a corrupt size cannot allocate more than the input holds.
const MAX_SAMPLE_RESERVE: usize = 4 << 20;

/// The largest sample a hollow demuxer stands in for (a 4K keyframe is a few MB): its
/// stand-in is allocated, so a table claiming gigabytes must not be believed.
const MAX_HOLLOW_SAMPLE: u32 = 32 << 20;

/// Demuxes MP4/MOV, progressive (`moov` before or after `mdat`) or fragmented.
///
/// # Seeking
///
/// Created with `seekable = true`, the demuxer may queue [`DemuxEvent::Seek`]`(x)` during a
/// [`Demuxer::push`] (or, for a `moov` of size 0 at the very end, during
/// [`Demuxer::finish`]). The rest of the bytes given to that call are ignored, and **the next
/// pushed byte must be the byte at offset `x`**. It seeks forward past an `mdat` met before
/// any `moov` (to read the `moov` first), then back to the first `mdat` holding samples once
/// the `moov` is parsed. If `finish` queued the seek, push from `x` and call `finish` again.
///
/// With `seekable = false`, each `mdat` before the `moov` is buffered in memory until the
/// `moov` arrives: memory grows with the size of that `mdat` (the whole media for a
/// `moov`-at-end file). Files with the `moov` first (`-movflags +faststart`) and fragmented
/// files stream in bounded memory either way.
pub struct Mp4Demuxer {
    seekable: bool,
    /// Absolute offset of the next byte `push` will receive.
    pos: u64,
    /// An incomplete box header, or the body collected so far in `Body` and `Stash`.
    buf: Vec<u8>,
    state: State,
    events: VecDeque<DemuxEvent>,
    /// Once set, every later call returns it.
    error: Option<DemuxError>,
    boxes_seen: u64,
    movie_seen: bool,
    tracks: Vec<TrackRt>,
    frag_tracks: Vec<FragTrack>,
    sched: Scheduler,
    /// The sample whose bytes are arriving.
    pending: Option<Pending>,
    /// The buffer of the current `push_shared`: samples it holds whole are sliced, not copied.
    shared: Option<Bytes>,
    /// `mdat` bodies buffered before the `moov` (not seekable): (data offset, bytes).
    stash: Vec<(u64, Bytes)>,
    /// Every `mdat` met: (box start, data start, end), to seek back to.
    mdats: Vec<(u64, u64, Option<u64>)>,
    /// Non-`mdat` boxes starting before this offset were handled already; they are skipped
    /// when a backward seek makes us read them again.
    handled_upto: u64,
    /// A forward seek past an `mdat` (its start and end) not yet followed by any byte: if the
    /// input ends there, the `mdat` was cut short.
    seek_past: Option<(u64, u64)>,
    /// Each parsed traf's times, kept only when asked ([`Mp4Demuxer::record_fragments`]).
    fragments: Option<Vec<FragmentTimes>>,
    /// Hollow: samples are emitted from the sample tables alone, see [`Mp4Demuxer::hollow`].
    hollow: bool,
    /// Hollow: the file offsets of emitted samples, in emission order.
    hollow_offsets: VecDeque<u64>,
}

/// What the demuxer keeps about a supported track while emitting its samples.
struct TrackRt {
    id: u32,
    nal_length_size: Option<u8>,
    kind: TrackKind,
}

struct Pending {
    track: usize,
    meta: Meta,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a box header in `buf`.
    Header,
    /// Collecting a box body in `buf`.
    Body {
        typ: FourCc,
        start: u64,
        end: Option<u64>,
    },
    /// Ignoring bytes up to `end` (`None`: to the end of the input).
    Skip { end: Option<u64> },
    /// Cutting samples out of an `mdat`.
    Mdat { end: Option<u64> },
    /// Buffering an `mdat` met before the `moov` (not seekable).
    Stash { data_start: u64, end: Option<u64> },
}

/// What a state handler did with the bytes it was given.
enum Step {
    /// Consumed this many bytes (and advanced `pos`).
    Consumed(usize),
    /// Queued a `Seek` and moved `pos`; the rest of the pushed bytes are void.
    Seeked,
}

impl Mp4Demuxer {
    /// `seekable`: whether the caller honours [`DemuxEvent::Seek`] (see the type docs).
    pub fn new(seekable: bool) -> Self {
        Self {
            seekable,
            pos: 0,
            buf: Vec::new(),
            state: State::Header,
            events: VecDeque::new(),
            error: None,
            boxes_seen: 0,
            movie_seen: false,
            tracks: Vec::new(),
            frag_tracks: Vec::new(),
            sched: Scheduler::default(),
            pending: None,
            shared: None,
            stash: Vec::new(),
            mdats: Vec::new(),
            handled_upto: 0,
            seek_past: None,
            fragments: None,
            hollow: false,
            hollow_offsets: VecDeque::new(),
        }
    }

    /// Keeps each `traf`'s times for [`Mp4Demuxer::take_fragments`] (Smooth ingest keys
    /// fragments by them; nothing else needs them).
    pub fn record_fragments(mut self) -> Self {
        self.fragments = Some(Vec::new());
        self
    }

    /// The times of the `traf`s parsed since the last call. A `moof` is parsed when its last
    /// byte arrives, before any sample of it is emitted.
    pub fn take_fragments(&mut self) -> Vec<FragmentTimes> {
        self.fragments
            .as_mut()
            .map(core::mem::take)
            .unwrap_or_default()
    }

    /// A demuxer for the just-in-time index: it reads the `moov` only (seeking past an
    /// `mdat` before it) and emits every sample at once, with zeroed bytes of the sample's
    /// size in place of its data and its file offset beside it
    /// ([`Demuxer::take_hollow_offset`]), so the presentation cuts fragments as it would
    /// from the real bytes (it never looks inside a sample's data) and the host fetches each
    /// fragment's payload later. Refused for what the presentation would change: fragmented
    /// files (samples spread over `moof`s) and H.264 with NAL length fields other than 4
    /// bytes (rewritten while demuxing).
    pub fn hollow() -> Self {
        Self {
            hollow: true,
            ..Self::new(true)
        }
    }

    /// Hollow, and the moov read: no more bytes wanted.
    fn hollow_done(&self) -> bool {
        self.hollow && self.movie_seen
    }

    /// Hollow: the next sample from the tables (the moov has been parsed), one at a time so
    /// that only the stand-in the host is handling exists (the presentation holds a
    /// fragment's worth), never a whole file's.
    fn next_hollow(&mut self) -> Result<Option<DemuxEvent>, DemuxError> {
        while let Some((track, meta)) = self.sched.peek() {
            self.sched.advance()?;
            let Some(t) = self.tracks.get(track) else {
                continue;
            };
            if t.nal_length_size.is_some_and(|n| n != 4) {
                return Err(DemuxError::unsupported(format!(
                    "track {}: H.264 with {}-byte NAL lengths is not served just in time \
                     (package the file instead)",
                    t.id,
                    t.nal_length_size.unwrap_or(0)
                )));
            }
            if meta.size > MAX_HOLLOW_SAMPLE {
                return Err(DemuxError::unsupported(format!(
                    "track {}: a sample of {} bytes at byte {} (more than {MAX_HOLLOW_SAMPLE})",
                    t.id, meta.size, meta.offset
                )));
            }
            let data = match usize::try_from(meta.size) {
                Ok(0) | Err(_) => Bytes::new(),
                Ok(n) => Bytes::from(alloc::vec![0u8; n]),
            };
            self.emit(track, meta, data)?;
            self.hollow_offsets.push_back(meta.offset);
            return Ok(self.events.pop_front());
        }
        Ok(None)
    }

    fn push_inner(&mut self, mut data: &[u8]) -> Result<(), DemuxError> {
        if !data.is_empty() {
            self.seek_past = None;
        }
        // Hollow: once the moov is read, the rest is not needed (samples come from poll).
        while !data.is_empty() && !self.hollow_done() {
            let step = match self.state {
                State::Header => self.on_header_bytes(data)?,
                State::Body { typ, start, end } => self.on_body_bytes(data, typ, start, end)?,
                State::Skip { end } => {
                    let n = self.take_len(data.len(), end);
                    self.pos += n as u64;
                    if end == Some(self.pos) {
                        self.state = State::Header;
                    }
                    Step::Consumed(n)
                }
                State::Mdat { end } => self.on_mdat_bytes(data, end)?,
                State::Stash { data_start, end } => {
                    let n = self.take_len(data.len(), end);
                    self.buf.extend_from_slice(&data[..n]);
                    self.pos += n as u64;
                    if end == Some(self.pos) {
                        self.close_stash(data_start);
                    }
                    Step::Consumed(n)
                }
            };
            match step {
                Step::Consumed(n) => data = &data[n..],
                Step::Seeked => break,
            }
        }
        Ok(())
    }

    /// How many of `avail` bytes belong to a box ending at `end`.
    fn take_len(&self, avail: usize, end: Option<u64>) -> usize {
        match end {
            Some(end) => usize::try_from(end - self.pos).map_or(avail, |left| left.min(avail)),
            None => avail,
        }
    }

    fn on_header_bytes(&mut self, data: &[u8]) -> Result<Step, DemuxError> {
        let need = if self.buf.len() < 8 {
            8
        } else {
            boxes::header_len_needed(&self.buf)
        };
        let n = (need - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.pos += n as u64;
        if self.buf.len() < 8 || self.buf.len() < boxes::header_len_needed(&self.buf) {
            return Ok(Step::Consumed(n));
        }
        let start = self.pos - self.buf.len() as u64;
        let header = match boxes::parse_header(&self.buf, start) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(Step::Consumed(n)),
            Err(e) if self.boxes_seen == 0 => {
                return Err(DemuxError::malformed(format!(
                    "not an MP4 file: {}",
                    e.message
                )))
            }
            Err(e) => return Err(e),
        };
        self.buf.clear();
        let rest = data.len() - n;
        match self.on_header(header, start, rest)? {
            Step::Consumed(_) => Ok(Step::Consumed(n)),
            Step::Seeked => Ok(Step::Seeked),
        }
    }

    /// Chooses what to do with a box. `rest` is how many pushed bytes follow its header.
    fn on_header(&mut self, h: Header, start: u64, rest: usize) -> Result<Step, DemuxError> {
        if self.boxes_seen == 0 && !FIRST_BOX_TYPES.contains(&&h.typ) {
            return Err(DemuxError::malformed(format!(
                "not an MP4 file: it starts with {:02x?}",
                Self::first_bytes(h)
            )));
        }
        if !boxes::plausible_type(&h.typ) {
            return Err(DemuxError::malformed(format!(
                "invalid box header at byte {start} (type {:02x?})",
                h.typ
            )));
        }
        self.boxes_seen += 1;
        let end = match h.size {
            Some(size) => Some(start.checked_add(size).ok_or_else(|| {
                DemuxError::malformed(format!("box at byte {start} ends past 2^64"))
            })?),
            None => None,
        };
        let handled = start < self.handled_upto;
        if &h.typ != b"mdat" && !handled {
            self.handled_upto = start + 1;
        }
        let collect = match &h.typ {
            b"mdat" => return self.enter_mdat(start, end, rest),
            b"moov" => !handled && !self.movie_seen,
            b"moof" if !handled && !self.movie_seen => {
                return Err(DemuxError::malformed(format!(
                    "moof at byte {start} comes before any moov"
                )))
            }
            b"moof" => !handled,
            _ => false,
        };
        if collect && end == Some(self.pos) {
            // An empty body is complete as soon as its header is.
            return self.on_body(h.typ, start);
        }
        self.state = if collect {
            self.collect(h.typ, start, end)
        } else {
            State::Skip { end }
        };
        if self.state
            == (State::Skip {
                end: Some(self.pos),
            })
        {
            self.state = State::Header;
        }
        Ok(Step::Consumed(0))
    }

    /// The box header bytes as they were, for the "not an MP4 file" message.
    fn first_bytes(h: Header) -> [u8; 8] {
        let mut b = [0u8; 8];
        let size = h.size.map_or(0, |s| s.min(u64::from(u32::MAX)) as u32);
        b[..4].copy_from_slice(&size.to_be_bytes());
        b[4..].copy_from_slice(&h.typ);
        b
    }

    fn collect(&mut self, typ: FourCc, start: u64, end: Option<u64>) -> State {
        let body_len = end.map_or(0, |e| e - self.pos);
        let reserve =
            usize::try_from(body_len).map_or(MAX_SAMPLE_RESERVE, |l| l.min(MAX_SAMPLE_RESERVE));
        self.buf.reserve(reserve);
        State::Body { typ, start, end }
    }

    fn on_body_bytes(
        &mut self,
        data: &[u8],
        typ: FourCc,
        start: u64,
        end: Option<u64>,
    ) -> Result<Step, DemuxError> {
        let n = self.take_len(data.len(), end);
        self.buf.extend_from_slice(&data[..n]);
        self.pos += n as u64;
        if end != Some(self.pos) {
            return Ok(Step::Consumed(n));
        }
        self.state = State::Header;
        match self.on_body(typ, start)? {
            Step::Consumed(_) => Ok(Step::Consumed(n)),
            Step::Seeked => Ok(Step::Seeked),
        }
    }

    /// Parses a collected `moov` or `moof` body.
    fn on_body(&mut self, typ: FourCc, start: u64) -> Result<Step, DemuxError> {
        let body = core::mem::take(&mut self.buf);
        match &typ {
            b"moov" => self.on_moov(&body)?,
            b"moof" => self.on_moof(Bytes::from(body), start)?,
            _ => {}
        }
        self.drain_ready()
    }

    fn on_moov(&mut self, body: &[u8]) -> Result<(), DemuxError> {
        let movie = moov::parse_moov(body)?;
        self.movie_seen = true;
        if movie.tracks.is_empty() {
            return Err(DemuxError::unsupported("no H.264 or AAC track"));
        }
        if self.hollow && !movie.trex.is_empty() {
            return Err(DemuxError::unsupported(
                "a fragmented MP4 is not served just in time (package the file instead)",
            ));
        }
        for (track, reason) in movie.ignored {
            self.events.push_back(DemuxEvent::Ignored { track, reason });
        }
        self.frag_tracks = movie
            .trex
            .iter()
            .map(|&trex| FragTrack {
                id: trex.track_id,
                trex,
                next_dts: 0,
            })
            .collect();
        for track in movie.tracks {
            let index = self.tracks.len();
            let duration = i64::try_from(track.table.total_duration).unwrap_or(i64::MAX);
            if let Some(f) = self.frag_tracks.iter_mut().find(|f| f.id == track.info.id) {
                // Fragments continue after any samples the moov itself holds.
                f.next_dts = duration;
            }
            self.tracks.push(TrackRt {
                id: track.info.id,
                nal_length_size: track.nal_length_size,
                kind: track.info.kind(),
            });
            self.events.push_back(DemuxEvent::Track(track.info));
            let end = track.table.end_offset;
            self.sched
                .add(index, Cursor::Table(track.table.cursor()), end)?;
        }
        Ok(())
    }

    fn on_moof(&mut self, body: Bytes, start: u64) -> Result<(), DemuxError> {
        let mut times = Vec::new();
        let runs = moof::parse_moof(&body, start, &mut self.frag_tracks, &mut times)?;
        if let Some(kept) = &mut self.fragments {
            kept.extend(times);
        }
        for (track_id, run) in runs {
            if let Some(index) = self.tracks.iter().position(|t| t.id == track_id) {
                self.sched.add(index, Cursor::Run(run.cursor), run.end)?;
            }
        }
        Ok(())
    }

    fn enter_mdat(
        &mut self,
        start: u64,
        end: Option<u64>,
        rest: usize,
    ) -> Result<Step, DemuxError> {
        let data_start = self.pos;
        if !self.mdats.iter().any(|m| m.0 == start) {
            self.mdats.push((start, data_start, end));
        }
        if self.movie_seen {
            self.state = State::Mdat { end };
        } else if !self.seekable {
            self.buf.clear();
            self.state = State::Stash { data_start, end };
        } else {
            match end {
                // Past the pushed bytes: ask for the bytes after it, where the moov should be.
                Some(end) if end - self.pos > rest as u64 => {
                    self.events.push_back(DemuxEvent::Seek(end));
                    self.pos = end;
                    self.state = State::Header;
                    self.seek_past = Some((start, end));
                    return Ok(Step::Seeked);
                }
                end => self.state = State::Skip { end },
            }
        }
        if end == Some(self.pos) {
            // An empty mdat.
            if let State::Stash { data_start, .. } = self.state {
                self.close_stash(data_start);
            }
            self.state = State::Header;
        }
        Ok(Step::Consumed(0))
    }

    fn close_stash(&mut self, data_start: u64) {
        let data = Bytes::from(core::mem::take(&mut self.buf));
        self.stash.push((data_start, data));
        self.state = State::Header;
    }

    /// Emits what can be emitted without new bytes (empty samples, samples in buffered
    /// `mdat`s), and seeks back if the next sample's bytes were passed already.
    fn drain_ready(&mut self) -> Result<Step, DemuxError> {
        if self.hollow_done() {
            // Samples are made as they are polled.
            return Ok(Step::Consumed(0));
        }
        while let Some((track, meta)) = self.sched.peek() {
            if meta.size == 0 {
                self.sched.advance()?;
                self.emit(track, meta, Bytes::new())?;
                continue;
            }
            if let Some(data) = self.stashed(&meta) {
                self.sched.advance()?;
                self.emit(track, meta, data)?;
                continue;
            }
            if meta.offset < self.pos {
                return self.back_ref(track, meta);
            }
            break;
        }
        if !self.stash.is_empty() {
            // Samples come in file order, so nothing later will look behind the current one.
            self.stash.clear();
        }
        Ok(Step::Consumed(0))
    }

    fn stashed(&self, meta: &Meta) -> Option<Bytes> {
        self.stash.iter().find_map(|(start, data)| {
            let from = meta.offset.checked_sub(*start)?;
            let to = from.checked_add(u64::from(meta.size))?;
            if to > data.len() as u64 {
                return None;
            }
            Some(data.slice(from as usize..to as usize))
        })
    }

    /// The next sample's bytes were passed already: seek back to its `mdat`, or fail.
    fn back_ref(&mut self, track: usize, meta: Meta) -> Result<Step, DemuxError> {
        let id = self.tracks.get(track).map_or(0, |t| t.id);
        let mdat = self
            .mdats
            .iter()
            .find(|m| m.1 <= meta.offset && m.2.is_none_or(|end| meta.offset < end));
        match mdat {
            Some(&(start, ..)) if self.seekable => {
                self.events.push_back(DemuxEvent::Seek(start));
                self.pos = start;
                self.buf.clear();
                self.state = State::Header;
                Ok(Step::Seeked)
            }
            Some(_) => Err(DemuxError::malformed(format!(
                "track {id} has a sample at byte {} behind the current position {} and the \
                 input is not seekable",
                meta.offset, self.pos
            ))),
            None => Err(DemuxError::malformed(format!(
                "track {id} has a sample at byte {} outside any mdat box",
                meta.offset
            ))),
        }
    }

    fn on_mdat_bytes(&mut self, data: &[u8], end: Option<u64>) -> Result<Step, DemuxError> {
        let avail = self.take_len(data.len(), end);
        let mut chunk = &data[..avail];
        while !chunk.is_empty() {
            if let Some(p) = &mut self.pending {
                let n = (p.meta.size as usize - p.data.len()).min(chunk.len());
                p.data.extend_from_slice(&chunk[..n]);
                chunk = &chunk[n..];
                self.pos += n as u64;
                if p.data.len() == p.meta.size as usize {
                    if let Some(p) = self.pending.take() {
                        self.emit(p.track, p.meta, Bytes::from(p.data))?;
                    }
                }
                continue;
            }
            let Some((track, meta)) = self.sched.peek() else {
                // Nothing more to cut here.
                self.pos += chunk.len() as u64;
                break;
            };
            if meta.size == 0 {
                self.sched.advance()?;
                self.emit(track, meta, Bytes::new())?;
                continue;
            }
            if meta.offset < self.pos {
                return self.back_ref(track, meta);
            }
            if let Some(end) = end {
                if meta.offset >= end {
                    // In a later mdat.
                    self.pos += chunk.len() as u64;
                    break;
                }
                if meta.end() > end {
                    let id = self.tracks.get(track).map_or(0, |t| t.id);
                    return Err(DemuxError::malformed(format!(
                        "track {id} has a sample at bytes {}..{} running past the end of its \
                         mdat at byte {end}",
                        meta.offset,
                        meta.end()
                    )));
                }
            }
            if meta.offset > self.pos {
                let gap = usize::try_from(meta.offset - self.pos)
                    .map_or(chunk.len(), |g| g.min(chunk.len()));
                chunk = &chunk[gap..];
                self.pos += gap as u64;
                continue;
            }
            self.sched.advance()?;
            let size = meta.size as usize;
            if chunk.len() >= size {
                // The whole sample is here: a slice of the caller's shared buffer, or the one
                // copy out of its borrowed one.
                let data = self.share_or_copy(&chunk[..size]);
                chunk = &chunk[size..];
                self.pos += size as u64;
                self.emit(track, meta, data)?;
            } else {
                let mut buf = Vec::with_capacity(size.min(MAX_SAMPLE_RESERVE));
                buf.extend_from_slice(chunk);
                self.pos += chunk.len() as u64;
                chunk = &[];
                self.pending = Some(Pending {
                    track,
                    meta,
                    data: buf,
                });
            }
        }
        if end == Some(self.pos) {
            self.state = State::Header;
        }
        Ok(Step::Consumed(avail))
    }

    fn emit(&mut self, track: usize, meta: Meta, data: Bytes) -> Result<(), DemuxError> {
        let Some(t) = self.tracks.get(track) else {
            return Ok(());
        };
        let data = match t.nal_length_size {
            Some(n) if n != 4 => {
                let mut out = Vec::with_capacity(data.len() + data.len() / 4 + 16);
                h264::to_4_byte_lengths(&data, n, &mut out).map_err(|_| {
                    DemuxError::malformed(format!(
                        "track {}: the sample at byte {} has a NAL unit running past its end",
                        t.id, meta.offset
                    ))
                })?;
                Bytes::from(out)
            }
            _ => data,
        };
        self.events.push_back(DemuxEvent::Sample(Sample {
            track: t.id,
            dts: meta.dts,
            cts_offset: meta.cts_offset,
            duration: Some(meta.duration),
            // Every AAC frame decodes on its own, whatever the fragment flags say.
            keyframe: meta.keyframe || t.kind == TrackKind::Audio,
            data,
        }));
        Ok(())
    }

    fn finish_inner(&mut self) -> Result<(), DemuxError> {
        if self.hollow_done() {
            return Ok(());
        }
        let pos = self.pos;
        if let Some((start, end)) = self.seek_past.take() {
            return Err(DemuxError::truncated(format!(
                "file ends inside the mdat at byte {start} (box ends at {end})"
            )));
        }
        match self.state {
            State::Header if self.buf.is_empty() => {}
            State::Header if self.boxes_seen == 0 => {
                return Err(DemuxError::malformed(format!(
                    "not an MP4 file: only {} bytes",
                    self.buf.len()
                )))
            }
            State::Header => {
                return Err(DemuxError::truncated(format!(
                    "file ends inside a box header at byte {pos}"
                )))
            }
            State::Body {
                typ,
                start,
                end: None,
            } => {
                self.state = State::Header;
                if let Step::Seeked = self.on_body(typ, start)? {
                    return Ok(());
                }
            }
            State::Body {
                typ,
                end: Some(end),
                ..
            } => {
                return Err(DemuxError::truncated(format!(
                    "file ends inside {} box at byte {pos} (box ends at {end})",
                    fourcc(&typ)
                )))
            }
            State::Skip { end: Some(end) } | State::Stash { end: Some(end), .. } => {
                return Err(DemuxError::truncated(format!(
                    "file ends inside a box at byte {pos} (box ends at {end})"
                )))
            }
            State::Mdat { end: Some(end) } if !self.samples_left() => {
                return Err(DemuxError::truncated(format!(
                    "file ends inside mdat at byte {pos} (box ends at {end})"
                )))
            }
            State::Stash {
                data_start,
                end: None,
            } => self.close_stash(data_start),
            State::Skip { end: None } | State::Mdat { .. } => {}
        }
        if self.boxes_seen == 0 {
            return Err(DemuxError::malformed("not an MP4 file: the input is empty"));
        }
        if !self.movie_seen {
            return Err(DemuxError::malformed(
                "not a playable MP4 file: no moov box",
            ));
        }
        if self.samples_left() {
            let expected = self
                .sched
                .expected_end
                .max(self.pending.as_ref().map_or(0, |p| p.meta.end()));
            let place = if matches!(self.state, State::Mdat { .. }) {
                "inside mdat "
            } else {
                ""
            };
            return Err(DemuxError::truncated(format!(
                "file ends {place}at byte {pos} (sample table expects {expected})"
            )));
        }
        Ok(())
    }

    /// `part` as a slice of the shared buffer when it lies inside it, else a copy.
    fn share_or_copy(&self, part: &[u8]) -> Bytes {
        if let Some(shared) = &self.shared {
            let base = shared.as_ptr() as usize;
            let at = part.as_ptr() as usize;
            // Address arithmetic only, no unsafe: Bytes::slice_ref would panic outside it.
            if at >= base && at + part.len() <= base + shared.len() {
                return shared.slice(at - base..at - base + part.len());
            }
        }
        Bytes::copy_from_slice(part)
    }

    fn samples_left(&self) -> bool {
        self.pending.is_some() || !self.sched.is_empty()
    }
}

impl Demuxer for Mp4Demuxer {
    fn push(&mut self, data: &[u8]) -> Result<(), DemuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = self.push_inner(data);
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    fn push_shared(&mut self, data: Bytes) -> Result<(), DemuxError> {
        self.shared = Some(data.clone());
        let r = self.push(&data);
        self.shared = None;
        r
    }

    fn finish(&mut self) -> Result<(), DemuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = self.finish_inner();
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    fn poll(&mut self) -> Option<DemuxEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        if !self.hollow_done() || self.error.is_some() {
            return None;
        }
        match self.next_hollow() {
            Ok(e) => e,
            Err(e) => {
                // Reported by the next call, `finish` when the host ends the input.
                self.error = Some(e);
                None
            }
        }
    }

    fn take_hollow_offset(&mut self) -> Option<u64> {
        self.hollow_offsets.pop_front()
    }

    fn wants_more(&self) -> bool {
        !self.hollow_done()
    }
}

#[cfg(test)]
mod tests;
