//! AAC in ADTS framing in TS: each PES holds whole or partial ADTS frames; one sample per frame.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

use super::pes::parse_pes_header;
use super::{Clock, TIMESCALE};
use crate::codec::aac::{self, AdtsHeader, SAMPLES_PER_FRAME};
use crate::demux::DemuxEvent;
use crate::media::{CodecConfig, Language, Sample};

const ADTS_MIN_HEADER: usize = 7;

/// A frame's place on the timeline: the PTS it counts from and its index after that PTS.
/// Times are computed from these, never summed, so rounding does not drift.
type Slot = (i64, i64);

#[derive(Debug)]
pub struct AudioTrack {
    id: u32,
    /// From the PMT's ISO 639 descriptor.
    language: Option<Language>,
    /// (object type, sampling index, channel configuration) of the announced configuration.
    config: Option<(u8, u8, u8)>,
    /// The sampling rate frame indices count in.
    rate: u32,
    base: Option<i64>,
    index: i64,
    last_pts: Option<i64>,
    /// The start of a frame whose end is in the next PES.
    carry: Vec<u8>,
    carry_slot: Option<Slot>,
}

impl AudioTrack {
    pub fn new(pid: u16, language: Option<Language>) -> Self {
        Self {
            id: u32::from(pid),
            language,
            config: None,
            rate: 0,
            base: None,
            index: 0,
            last_pts: None,
            carry: Vec::new(),
            carry_slot: None,
        }
    }

    /// Whether the input ended inside a frame.
    pub fn has_partial_frame(&self) -> bool {
        !self.carry.is_empty()
    }

    pub fn on_pes(
        &mut self,
        pes: &[u8],
        after_gap: bool,
        clock: &mut Clock,
        events: &mut VecDeque<DemuxEvent>,
    ) {
        if after_gap {
            // Its end was in the lost data.
            self.carry.clear();
        }
        let Some(header) = parse_pes_header(pes) else {
            self.carry.clear();
            return;
        };
        let Some(mut es) = pes.get(header.payload_offset..) else {
            self.carry.clear();
            return;
        };
        if !self.carry.is_empty() {
            let used = self.continue_carry(es, events);
            es = &es[used..];
            if !self.carry.is_empty() {
                return;
            }
        }
        // The PTS belongs to the first frame that starts in this PES.
        if let Some(pts) = header.pts {
            self.base = Some(clock.unwrap(&mut self.last_pts, pts));
            self.index = 0;
        }
        let mut aligned = true;
        let mut i = 0;
        while i < es.len() {
            let rest = &es[i..];
            if let Some(h) = aac::parse_adts(rest) {
                // A sync word found by scanning may be inside frame data: trust it if the
                // frame ends where another begins or where the PES ends, or if it fits and
                // repeats the current configuration (23 fixed bits).
                let key = (h.object_type, h.sampling_index, h.channel_config);
                let same_config = self.config.map_or(aligned, |c| c == key);
                let confirmed = (same_config && (aligned || rest.len() >= h.frame_len))
                    || rest.len() == h.frame_len
                    || rest
                        .get(h.frame_len..h.frame_len + 2)
                        .is_some_and(|s| s[0] == 0xff && s[1] & 0xf0 == 0xf0);
                if confirmed {
                    let slot = self.take_slot(Some(&h));
                    if rest.len() < h.frame_len {
                        self.carry.extend_from_slice(rest);
                        self.carry_slot = slot;
                        return;
                    }
                    if let Some(slot) = slot {
                        self.emit(&rest[..h.frame_len], &h, slot, events);
                    }
                    i += h.frame_len;
                    aligned = true;
                    continue;
                }
            } else if aligned && rest.len() < ADTS_MIN_HEADER && could_start_header(rest) {
                // Even the header is split between PES packets.
                self.carry_slot = self.take_slot(None);
                self.carry.extend_from_slice(rest);
                return;
            }
            aligned = false;
            i += 1 + rest[1..]
                .iter()
                .position(|&b| b == 0xff)
                .unwrap_or(rest.len() - 1);
        }
    }

    /// Completes the carried frame from the start of `es`; returns how many bytes it took.
    fn continue_carry(&mut self, es: &[u8], events: &mut VecDeque<DemuxEvent>) -> usize {
        let mut used = 0;
        if self.carry.len() < ADTS_MIN_HEADER {
            used = (ADTS_MIN_HEADER - self.carry.len()).min(es.len());
            self.carry.extend_from_slice(&es[..used]);
            if self.carry.len() < ADTS_MIN_HEADER {
                return used;
            }
        }
        let Some(h) = aac::parse_adts(&self.carry) else {
            self.carry.clear();
            return used;
        };
        let take = h
            .frame_len
            .saturating_sub(self.carry.len())
            .min(es.len() - used);
        self.carry.extend_from_slice(&es[used..used + take]);
        used += take;
        if self.carry.len() >= h.frame_len {
            let frame = core::mem::take(&mut self.carry);
            if let Some(slot) = self.carry_slot.take() {
                self.emit(&frame[..h.frame_len], &h, slot, events);
            }
            self.carry = frame;
            self.carry.clear();
        }
        used
    }

    /// Reserves the next frame's place on the timeline; `None` before the first PTS.
    fn take_slot(&mut self, header: Option<&AdtsHeader>) -> Option<Slot> {
        let mut blocks = 1;
        if let Some(h) = header {
            let rate = h.sample_rate();
            if self.rate != 0 && rate != self.rate {
                // Count the frames after a rate change from where the old rate left off.
                if let Some(base) = self.base {
                    self.base = Some(base + frames_to_ticks(self.index, self.rate));
                    self.index = 0;
                }
            }
            self.rate = rate;
            blocks = i64::from(h.raw_blocks) + 1;
        }
        let slot = (self.base?, self.index);
        self.index = self.index.saturating_add(blocks);
        Some(slot)
    }

    fn emit(
        &mut self,
        frame: &[u8],
        h: &AdtsHeader,
        (base, index): Slot,
        events: &mut VecDeque<DemuxEvent>,
    ) {
        let key = (h.object_type, h.sampling_index, h.channel_config);
        if self.config != Some(key) {
            let Some(config) = aac::parse_asc(&h.asc()) else {
                return;
            };
            super::announce(
                events,
                self.id,
                CodecConfig::Aac(config),
                self.language,
                self.config.is_none(),
            );
            self.config = Some(key);
        }
        let Some(payload) = frame.get(h.header_len..) else {
            return;
        };
        if payload.is_empty() {
            return;
        }
        events.push_back(DemuxEvent::Sample(Sample {
            track: self.id,
            dts: base + frames_to_ticks(index, h.sample_rate()),
            cts_offset: 0,
            duration: None,
            keyframe: true,
            data: Bytes::copy_from_slice(payload),
        }));
    }
}

fn frames_to_ticks(frames: i64, rate: u32) -> i64 {
    let ticks = i128::from(frames) * i128::from(SAMPLES_PER_FRAME) * i128::from(TIMESCALE)
        / i128::from(rate.max(1));
    ticks.clamp(0, i128::from(i64::MAX)) as i64
}

fn could_start_header(b: &[u8]) -> bool {
    b.first() == Some(&0xff) && b.get(1).is_none_or(|&x| x & 0xf0 == 0xf0)
}
