//! MPEG-TS demuxer: H.264 (stream type 0x1B) and AAC in ADTS (0x0F) of the first program.
//!
//! Track ids are PIDs and times are in 90 kHz ticks, unwrapped from 33 bits to a monotonic
//! `i64`. Memory is bounded by one PES per elementary stream plus one transport packet, so
//! endless streams are fine.
//!
//! Damaged live input (lost or duplicated packets, lost sync) is repaired, never passed on:
//! a PES that lost a packet is dropped whole (the pictures after a lost one are kept, so the
//! timeline has no hole; decoders conceal until the next IDR), and [`TsDemuxer::stats`]
//! counts what was repaired so a host can report it. A stream without a
//! PMT fails after [`PMT_SEARCH_LIMIT`] bytes (or at its end) instead of producing nothing
//! forever.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{DemuxError, DemuxEvent, Demuxer};

/// Announces a track's configuration: `Track` the first time, `TrackChanged` after.
fn announce(
    events: &mut VecDeque<DemuxEvent>,
    id: u32,
    codec: crate::media::CodecConfig,
    language: Option<crate::media::Language>,
    first: bool,
) {
    let info = crate::media::TrackInfo {
        id,
        timescale: TIMESCALE,
        codec,
        edit_offset: 0,
        avg_bitrate: None,
        language,
    };
    events.push_back(if first {
        DemuxEvent::Track(info)
    } else {
        DemuxEvent::TrackChanged(info)
    });
}

pub mod adts;
pub mod h264;
pub mod packet;
pub mod pes;
pub mod psi;

#[cfg(test)]
mod tests;

use crate::media::Language;
use adts::AudioTrack;
use h264::VideoTrack;
use packet::{packet_pid, parse_packet, Splitter, Unit};
use pes::{Pending, PesAssembler, CLOCK_WRAP};
use psi::{parse_pat, parse_pmt, SectionAssembler};

/// The MPEG-TS system clock rate; every track uses it as its timescale.
pub const TIMESCALE: u32 = 90_000;

pub const STREAM_TYPE_H264: u8 = 0x1b;
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0f;

/// Input read without finding a PMT before giving up. Muxers repeat PAT and PMT at least every
/// 100 ms or so; this is seconds of even a high-bitrate stream.
pub const PMT_SEARCH_LIMIT: u64 = 4 << 20;

/// Elementary streams of the program that are demuxed, at most: the first ones of a
/// supported type the PMT lists. A 4 KiB PMT section may list ~200 PIDs, each of which would
/// otherwise get a PES assembler of up to [`pes::MAX_PES`] bytes; real programs carry a
/// video and a few audio streams.
pub const MAX_STREAMS: usize = 8;

/// PES bytes buffered over all streams of a demuxer, at most. A stream whose packet takes
/// the total past it loses the PES it is assembling (counted in [`TsStats::dropped_pes`]).
/// Far above what declared-length PES packets need; it bounds unbounded ones.
pub const MAX_BUFFERED_BYTES: usize = 64 << 20;

/// Damage the demuxer repaired so far; every count only grows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TsStats {
    /// Continuity-counter jumps (lost packets) on the PAT, the PMT and the streams in use.
    pub continuity_errors: u64,
    /// PES packets dropped because part of them was lost or damaged.
    pub dropped_pes: u64,
    /// Times the 188-byte framing was lost and searched for again.
    pub sync_losses: u64,
}

/// The elementary streams of the program in use, as its PMT lists them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProgramPids {
    /// The first H.264 stream.
    pub video: Option<u16>,
    /// The first AAC (ADTS) stream.
    pub audio: Option<u16>,
}

const PID_PAT: u16 = 0x0000;
const PID_NULL: u16 = 0x1fff;

/// Unwraps 33-bit clock values. Each track is unwrapped against its own previous value; a
/// track's first value is unwrapped against the program's latest one, so that tracks starting
/// on either side of a wrap still share one timeline.
#[derive(Debug, Default)]
pub struct Clock {
    last: Option<i64>,
}

impl Clock {
    pub fn unwrap(&mut self, track_last: &mut Option<i64>, raw: u64) -> i64 {
        let t = match track_last.or(self.last) {
            Some(reference) => pes::unwrap_near(reference, raw),
            None => (raw as i64) & (CLOCK_WRAP - 1),
        };
        *track_last = Some(t);
        self.last = Some(t);
        t
    }
}

#[derive(Debug)]
enum Codec {
    Video(VideoTrack),
    Audio(AudioTrack),
}

impl Codec {
    fn on_pes(
        &mut self,
        pes: &[u8],
        after_gap: bool,
        clock: &mut Clock,
        events: &mut VecDeque<DemuxEvent>,
    ) {
        match self {
            Codec::Video(v) => v.on_pes(pes, clock, events),
            Codec::Audio(a) => a.on_pes(pes, after_gap, clock, events),
        }
    }
}

#[derive(Debug)]
struct Stream {
    pid: u16,
    stream_type: u8,
    pes: PesAssembler,
    codec: Codec,
}

/// Everything past packet framing.
#[derive(Debug, Default)]
struct Program {
    events: VecDeque<DemuxEvent>,
    pat: SectionAssembler,
    /// (program_number, PMT PID) of the program in use.
    program: Option<(u16, u16)>,
    pmt: SectionAssembler,
    pmt_seen: bool,
    streams: Vec<Stream>,
    /// Elementary PIDs already reported as not packaged (PMTs repeat every 100 ms or so).
    ignored: Vec<u16>,
    clock: Clock,
    stats: TsStats,
}

impl Program {
    fn on_unit(&mut self, unit: Unit<'_>) -> Result<(), DemuxError> {
        let bytes = match unit {
            Unit::Packet(bytes) => bytes,
            Unit::SyncLost => {
                self.stats.sync_losses += 1;
                self.pat.clear();
                self.pmt.clear();
                for s in &mut self.streams {
                    s.pes.clear();
                }
                return Ok(());
            }
        };
        let Some(pkt) = parse_packet(bytes) else {
            // The payload's bounds are unknown: whatever this PID was assembling is broken.
            if let Some(s) = packet_pid(bytes).and_then(|pid| self.stream_mut(pid)) {
                s.pes.clear();
            }
            return Ok(());
        };
        if pkt.pid == PID_NULL {
            return Ok(());
        }
        if pkt.pid == PID_PAT {
            let mut first = None;
            let lost = self.pat.lost();
            self.pat.push(&pkt, &mut |section| {
                if let Some(programs) = parse_pat(section) {
                    first = first.or(programs.first().copied());
                }
            });
            self.stats.continuity_errors += self.pat.lost() - lost;
            if let Some(program) = first {
                if self.program != Some(program) {
                    self.program = Some(program);
                    self.pmt = SectionAssembler::default();
                }
            }
            return Ok(());
        }
        if let Some((number, pmt_pid)) = self.program {
            if pkt.pid == pmt_pid {
                let mut found = None;
                let lost = self.pmt.lost();
                self.pmt.push(&pkt, &mut |section| {
                    if let Some(pmt) = parse_pmt(section) {
                        if pmt.program_number == number {
                            found = Some(pmt);
                        }
                    }
                });
                self.stats.continuity_errors += self.pmt.lost() - lost;
                if let Some(pmt) = found {
                    self.apply_pmt(&pmt.streams, &pmt.languages)?;
                }
                return Ok(());
            }
        }
        let Program {
            streams,
            clock,
            events,
            stats,
            ..
        } = self;
        // The others' buffers, for the demuxer-wide bound.
        let others: usize = streams
            .iter()
            .filter(|s| s.pid != pkt.pid)
            .map(|s| s.pes.buffered())
            .sum();
        if let Some(s) = streams.iter_mut().find(|s| s.pid == pkt.pid) {
            let codec = &mut s.codec;
            let (lost, dropped) = s.pes.damage();
            s.pes
                .push(&pkt, &mut |pes, gap| codec.on_pes(pes, gap, clock, events));
            if others.saturating_add(s.pes.buffered()) > MAX_BUFFERED_BYTES {
                s.pes.abandon();
            }
            let (lost_now, dropped_now) = s.pes.damage();
            stats.continuity_errors += lost_now - lost;
            stats.dropped_pes += dropped_now - dropped;
        }
        Ok(())
    }

    fn stream_mut(&mut self, pid: u16) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.pid == pid)
    }

    /// Sets up the elementary streams a PMT lists, keeping those it lists again unchanged.
    fn apply_pmt(
        &mut self,
        listed: &[(u8, u16)],
        languages: &[(u16, Language)],
    ) -> Result<(), DemuxError> {
        let mut wanted: Vec<(u8, u16)> = Vec::new();
        for &(t, pid) in listed {
            let usable = matches!(t, STREAM_TYPE_H264 | STREAM_TYPE_AAC_ADTS)
                && pid != PID_PAT
                && pid != PID_NULL
                && Some(pid) != self.program.map(|p| p.1)
                && !wanted.iter().any(|&(_, p)| p == pid);
            if usable && wanted.len() < MAX_STREAMS {
                wanted.push((t, pid));
            } else if !matches!(t, STREAM_TYPE_H264 | STREAM_TYPE_AAC_ADTS)
                && !self.ignored.contains(&pid)
                && self.ignored.len() < MAX_STREAMS
            {
                // Said once per PID: AC-3, MPEG audio, private data, a second program's...
                self.ignored.push(pid);
                self.events.push_back(DemuxEvent::Ignored {
                    track: u32::from(pid),
                    reason: format!("MPEG-TS stream type {t:#04x} (not H.264 or AAC)"),
                });
            }
        }
        if wanted.is_empty() && !self.pmt_seen {
            let mut types = String::new();
            for (i, (t, _)) in listed.iter().enumerate() {
                types.push_str(if i == 0 { "" } else { ", " });
                types.push_str(&format!("{t:#04x}"));
            }
            return Err(DemuxError::unsupported(format!(
                "no H.264 (0x1b) or AAC ADTS (0x0f) stream in the MPEG-TS program \
                 (stream types: {})",
                if types.is_empty() { "none" } else { &types }
            )));
        }
        self.pmt_seen = true;
        self.streams
            .retain(|s| wanted.contains(&(s.stream_type, s.pid)));
        for &(stream_type, pid) in &wanted {
            if self.streams.iter().any(|s| s.pid == pid) {
                continue;
            }
            let codec = if stream_type == STREAM_TYPE_H264 {
                Codec::Video(VideoTrack::new(pid))
            } else {
                let language = languages.iter().find(|l| l.0 == pid).map(|l| l.1);
                Codec::Audio(AudioTrack::new(pid, language))
            };
            self.streams.push(Stream {
                pid,
                stream_type,
                pes: PesAssembler::default(),
                codec,
            });
        }
        Ok(())
    }
}

/// The MPEG-TS demuxer. See the module documentation.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    splitter: Splitter,
    program: Program,
    bytes_in: u64,
    failed: Option<DemuxError>,
    finished: bool,
}

impl TsDemuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was repaired so far (lost packets, dropped PES, lost sync).
    pub fn stats(&self) -> TsStats {
        self.program.stats
    }

    /// PES bytes held over all streams (at most [`MAX_BUFFERED_BYTES`]).
    pub fn buffered_bytes(&self) -> usize {
        self.program.streams.iter().map(|s| s.pes.buffered()).sum()
    }

    /// The program's streams once its PMT has been read; `None` before.
    pub fn program_pids(&self) -> Option<ProgramPids> {
        if !self.program.pmt_seen {
            return None;
        }
        let first = |t: u8| {
            self.program
                .streams
                .iter()
                .find(|s| s.stream_type == t)
                .map(|s| s.pid)
        };
        Some(ProgramPids {
            video: first(STREAM_TYPE_H264),
            audio: first(STREAM_TYPE_AAC_ADTS),
        })
    }

    fn fail(&mut self, e: DemuxError) -> DemuxError {
        self.failed = Some(e.clone());
        e
    }

    fn end(&mut self) -> Result<(), DemuxError> {
        let program = &mut self.program;
        let partial = self.splitter.finish(&mut |u| program.on_unit(u))?;
        if !program.pmt_seen {
            return Err(DemuxError::malformed("no PMT found"));
        }
        // A cut inside a transport packet means the PES it belongs to is cut too, even one
        // of undeclared length.
        let cut_pid = partial.as_deref().and_then(packet_pid);
        let mut error = None;
        let Program {
            streams,
            clock,
            events,
            ..
        } = program;
        for s in streams.iter_mut() {
            let pending = s.pes.pending();
            let message = match pending {
                Pending::Nothing => None,
                Pending::Unbounded(pes) if cut_pid != Some(s.pid) => {
                    s.codec.on_pes(pes, s.pes.after_gap(), clock, events);
                    None
                }
                Pending::Unbounded(pes) => Some(format!(
                    "stream ends inside a PES on PID {:#x} (after {} bytes, inside a transport \
                     packet)",
                    s.pid,
                    pes.len()
                )),
                Pending::Incomplete { have, want } => Some(format!(
                    "stream ends inside a PES on PID {:#x} ({have} of {want} bytes)",
                    s.pid
                )),
            };
            s.pes.drop_current();
            let message = message.or_else(|| match &s.codec {
                Codec::Audio(a) if a.has_partial_frame() => Some(format!(
                    "stream ends inside an ADTS frame on PID {:#x}",
                    s.pid
                )),
                _ => None,
            });
            if let (None, Some(m)) = (&error, message) {
                error = Some(DemuxError::truncated(m));
            }
        }
        error.map_or(Ok(()), Err)
    }
}

impl Demuxer for TsDemuxer {
    fn push(&mut self, data: &[u8]) -> Result<(), DemuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(());
        }
        self.bytes_in += data.len() as u64;
        let program = &mut self.program;
        let mut result = self.splitter.push(data, &mut |u| program.on_unit(u));
        if result.is_ok() && !program.pmt_seen && self.bytes_in > PMT_SEARCH_LIMIT {
            result = Err(DemuxError::malformed(
                "no PMT found in the first 4 MiB of the MPEG-TS stream",
            ));
        }
        result.map_err(|e| self.fail(e))
    }

    fn finish(&mut self) -> Result<(), DemuxError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.end().map_err(|e| self.fail(e))
    }

    fn poll(&mut self) -> Option<DemuxEvent> {
        self.program.events.pop_front()
    }
}
