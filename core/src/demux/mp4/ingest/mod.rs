//! A Smooth Streaming live ingest body ([MS-SSTR] 2.2.7, the Azure fMP4 ingest spec) as it
//! arrives: `ftyp`, the `uuid` LiveServerManifestBox ([`super::lsm`]), `moov`, then
//! `moof`/`mdat` pairs whose `traf` carries a `tfxd`, and optionally an empty `mfra` that
//! ends the stream. Chunk boundaries ignore box boundaries (shared/reference
//! smooth-ingest.md §3), so this walks the top-level boxes itself, feeding every byte to the
//! [`Mp4Demuxer`] in pieces that end where boxes end: a `moof`'s fragment times are then
//! known before any of its samples.
//!
//! What it adds to the demuxer is what a receiver facing the network needs: the manifest, a
//! [`IngestEvent::Fragment`] per `traf` (the receiver keys resends and redundant copies by
//! it), the end of stream, and bounds checked on each box header before any of its body is
//! read ([`IngestLimits`]), so an absurd size is refused at once.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;

use super::boxes::{self, fourcc, FourCc};
use super::lsm::{self, LiveManifest};
use super::{FragmentTimes, Mp4Demuxer};
use crate::demux::{DemuxError, DemuxEvent, Demuxer};

/// Bounds on what one ingest body may claim. Each has a default
/// ([`IngestLimits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// The LiveServerManifestBox (ffmpeg's is 1.5 KB for two tracks).
    pub max_manifest_bytes: u64,
    /// `moov`, `moof` and any other box read whole or skipped, `mdat` excepted.
    pub max_box_bytes: u64,
    /// One `mdat` (one fragment of one track: seconds of media).
    pub max_mdat_bytes: u64,
    /// Tracks one body may declare (manifest and `moov` each).
    pub max_tracks: usize,
    /// Refuse a body without a manifest before its `moov` (as `-f ismv` without `isml`
    /// sends). Off: tracks come from the `moov` alone.
    pub require_manifest: bool,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 1 << 20,
            max_box_bytes: 4 << 20,
            max_mdat_bytes: 64 << 20,
            max_tracks: lsm::DEFAULT_MAX_TRACKS,
            require_manifest: true,
        }
    }
}

/// What an ingest body yields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestEvent {
    /// The live server manifest, once, before the `moov`'s tracks.
    Manifest(LiveManifest),
    /// A track, codec change or sample from the demuxer (never `Seek`: it is not seekable).
    Media(DemuxEvent),
    /// A fragment of `track` starts: the samples of that track that follow belong to it,
    /// up to its next `Fragment`. Times are in the track's timescale, read from `tfxd`
    /// (signed), else `tfdt`, else continuing the track's previous fragment.
    Fragment(FragmentTimes),
    /// The empty `mfra` that ends a stream: the encoder stopped on purpose.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collect {
    /// Skip or forward only.
    No,
    /// A `uuid` small enough to be the manifest: kept whole.
    Whole,
    /// A larger `uuid`: its usertype only, to refuse an oversized manifest.
    Usertype,
}

/// The box whose body is arriving.
#[derive(Debug, Clone, Copy)]
struct Current {
    typ: FourCc,
    /// Body bytes still to come.
    left: u64,
    collect: Collect,
}

/// Parses one ingest body (one POST). Feed it with [`SmoothIngest::push`], drain
/// [`SmoothIngest::poll`], and call [`SmoothIngest::finish`] when the body ends.
pub struct SmoothIngest {
    inner: Mp4Demuxer,
    limits: IngestLimits,
    head: Vec<u8>,
    current: Option<Current>,
    /// The collected `uuid` body.
    body: Vec<u8>,
    pos: u64,
    manifest_seen: bool,
    moov_seen: bool,
    ended: bool,
    tracks: usize,
    events: VecDeque<IngestEvent>,
    error: Option<DemuxError>,
}

impl SmoothIngest {
    pub fn new(limits: IngestLimits) -> Self {
        Self {
            inner: Mp4Demuxer::new(false).record_fragments(),
            limits,
            head: Vec::new(),
            current: None,
            body: Vec::new(),
            pos: 0,
            manifest_seen: false,
            moov_seen: false,
            ended: false,
            tracks: 0,
            events: VecDeque::new(),
            error: None,
        }
    }

    /// Feeds the next bytes of the body, in any chunking. An error is final: every later
    /// call returns it.
    pub fn push(&mut self, data: &[u8]) -> Result<(), DemuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = self.push_inner(data);
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    /// The body ended. Errors if it ended inside a box, or before a `moov`.
    pub fn finish(&mut self) -> Result<(), DemuxError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = if self.current.is_some() || !self.head.is_empty() {
            Err(DemuxError::truncated(format!(
                "the body ends inside a box at byte {}",
                self.pos
            )))
        } else if self.ended || self.moov_seen {
            // Samples the last moof promised but no mdat delivered are the encoder's loss,
            // not a reason to refuse what came.
            Ok(())
        } else {
            Err(DemuxError::malformed("the body ends before any moov box"))
        };
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    /// The next event, or `None` when more bytes are needed.
    pub fn poll(&mut self) -> Option<IngestEvent> {
        self.events.pop_front()
    }

    /// Whether the empty `mfra` has arrived.
    pub fn ended(&self) -> bool {
        self.ended
    }

    fn push_inner(&mut self, mut data: &[u8]) -> Result<(), DemuxError> {
        while !data.is_empty() {
            let Some(mut cur) = self.current else {
                if self.ended {
                    return Err(DemuxError::malformed(format!(
                        "{} bytes after the mfra box that ended the stream",
                        data.len()
                    )));
                }
                let n = self.read_header(data)?;
                data = &data[n..];
                continue;
            };
            let n = usize::try_from(cur.left).map_or(data.len(), |l| l.min(data.len()));
            let (part, rest) = data.split_at(n);
            match cur.collect {
                Collect::No => {}
                Collect::Whole => self.body.extend_from_slice(part),
                Collect::Usertype => {
                    let want = 16usize.saturating_sub(self.body.len()).min(part.len());
                    self.body.extend_from_slice(&part[..want]);
                    if self.body.len() == 16 && lsm::is_lsm(&self.body) {
                        return Err(DemuxError::malformed(format!(
                            "the live server manifest box is larger than {} bytes",
                            self.limits.max_manifest_bytes
                        )));
                    }
                }
            }
            self.forward(part)?;
            cur.left -= n as u64;
            self.current = Some(cur);
            if cur.left == 0 {
                self.current = None;
                self.box_done(cur.typ)?;
            }
            data = rest;
        }
        Ok(())
    }

    /// Collects a box header; once whole, checks it and starts its body. Returns the bytes
    /// of `data` used.
    fn read_header(&mut self, data: &[u8]) -> Result<usize, DemuxError> {
        let need = if self.head.len() < 8 {
            8
        } else {
            boxes::header_len_needed(&self.head)
        };
        let n = (need - self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..n]);
        if self.head.len() < 8 || self.head.len() < boxes::header_len_needed(&self.head) {
            return Ok(n);
        }
        let at = self.pos;
        let Some(h) = boxes::parse_header(&self.head, at)? else {
            return Ok(n);
        };
        if !boxes::plausible_type(&h.typ) {
            return Err(DemuxError::malformed(format!(
                "not a Smooth ingest body: invalid box header at byte {at} ({:02x?})",
                self.head
            )));
        }
        let name = fourcc(&h.typ);
        let Some(size) = h.size else {
            // Size 0 means "to the end of the file": a live body has no end to run to.
            return Err(DemuxError::malformed(format!(
                "{name} box at byte {at} has size 0 (to the end), which a live body cannot have"
            )));
        };
        let body = size - u64::from(h.header_len);
        let limit = match &h.typ {
            b"mdat" => self.limits.max_mdat_bytes,
            _ => self.limits.max_box_bytes,
        };
        if body > limit {
            return Err(DemuxError::malformed(format!(
                "{name} box at byte {at} declares {size} bytes, more than the {limit} allowed"
            )));
        }
        match &h.typ {
            b"moov" if self.limits.require_manifest && !self.manifest_seen => {
                return Err(DemuxError::malformed(
                    "no live server manifest box before the moov box (push with \
                     -movflags isml)",
                ))
            }
            b"moov" if self.moov_seen => {
                return Err(DemuxError::malformed(format!(
                    "a second moov box at byte {at}"
                )))
            }
            b"mfra" => self.ended = true,
            _ => {}
        }
        let collect = match &h.typ {
            b"uuid" if body <= self.limits.max_manifest_bytes + 16 => Collect::Whole,
            b"uuid" => Collect::Usertype,
            _ => Collect::No,
        };
        let head = core::mem::take(&mut self.head);
        self.forward(&head)?;
        self.body.clear();
        self.current = Some(Current {
            typ: h.typ,
            left: body,
            collect,
        });
        if body == 0 {
            self.current = None;
            self.box_done(h.typ)?;
        }
        Ok(n)
    }

    /// Hands bytes to the demuxer and takes what it made.
    fn forward(&mut self, part: &[u8]) -> Result<(), DemuxError> {
        if part.is_empty() {
            return Ok(());
        }
        self.pos += part.len() as u64;
        self.inner.push(part)?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), DemuxError> {
        while let Some(e) = self.inner.poll() {
            match e {
                DemuxEvent::Seek(_) => {}
                DemuxEvent::Track(_) | DemuxEvent::Ignored { .. } => {
                    self.tracks += 1;
                    if self.tracks > self.limits.max_tracks {
                        return Err(DemuxError::unsupported(format!(
                            "the moov box declares more than {} tracks",
                            self.limits.max_tracks
                        )));
                    }
                    self.events.push_back(IngestEvent::Media(e));
                }
                e => self.events.push_back(IngestEvent::Media(e)),
            }
        }
        Ok(())
    }

    /// A top-level box is complete.
    fn box_done(&mut self, typ: FourCc) -> Result<(), DemuxError> {
        match &typ {
            b"uuid" if self.body.len() >= 16 && lsm::is_lsm(&self.body) => {
                if self.manifest_seen {
                    return Err(DemuxError::malformed("a second live server manifest box"));
                }
                if self.moov_seen {
                    return Err(DemuxError::malformed(
                        "the live server manifest box comes after the moov box",
                    ));
                }
                let m = lsm::parse_box(&self.body[16..], self.limits.max_tracks)?;
                self.manifest_seen = true;
                self.events.push_back(IngestEvent::Manifest(m));
            }
            b"moov" => self.moov_seen = true,
            b"moof" => {
                for f in self.inner.take_fragments() {
                    self.events.push_back(IngestEvent::Fragment(f));
                }
            }
            b"mfra" => self.events.push_back(IngestEvent::End),
            _ => {}
        }
        self.body.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
