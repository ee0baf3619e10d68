//! H.264 elementary streams in TS: one access unit per PES, Annex B to length-prefixed.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::pes::parse_pes_header;
use super::Clock;
use crate::codec::h264::{self, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS};
use crate::demux::DemuxEvent;
use crate::media::{AvcConfig, CodecConfig, Sample};

#[derive(Debug)]
pub struct VideoTrack {
    id: u32,
    /// The latest parameter sets seen in-band, even if not (yet) usable.
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    config: Option<AvcConfig>,
    /// Until an IDR arrives, pictures cannot be decoded and are dropped.
    waiting_for_idr: bool,
    last_dts: Option<i64>,
    /// The last decode-time step, to place the rare PES that has no timestamp.
    last_step: i64,
}

impl VideoTrack {
    pub fn new(pid: u16) -> Self {
        Self {
            id: u32::from(pid),
            sps: Vec::new(),
            pps: Vec::new(),
            config: None,
            waiting_for_idr: true,
            last_dts: None,
            last_step: 0,
        }
    }

    pub fn on_pes(&mut self, pes: &[u8], clock: &mut Clock, events: &mut VecDeque<DemuxEvent>) {
        let Some(header) = parse_pes_header(pes) else {
            return;
        };
        let Some(es) = pes.get(header.payload_offset..) else {
            return;
        };
        let (dts, cts_offset) = match (header.pts, header.dts) {
            (Some(pts), dts) => {
                let prev = self.last_dts;
                let dts = clock.unwrap(&mut self.last_dts, dts.unwrap_or(pts));
                if let Some(prev) = prev {
                    self.last_step = dts - prev;
                }
                let pts = super::pes::unwrap_near(dts, pts);
                (dts, pts - dts)
            }
            (None, _) => match self.last_dts {
                Some(last) => {
                    let dts = last + self.last_step;
                    self.last_dts = Some(dts);
                    (dts, 0)
                }
                None => return,
            },
        };

        let mut data = Vec::with_capacity(es.len() + 16);
        let mut idr = false;
        let mut sps: Vec<&[u8]> = Vec::new();
        let mut pps: Vec<&[u8]> = Vec::new();
        for nal in h264::annexb_nal_units(es) {
            match h264::nal_type(nal) {
                // Access unit delimiters mean nothing once samples are framed.
                NAL_AUD => continue,
                NAL_SPS => sps.push(nal),
                NAL_PPS => pps.push(nal),
                NAL_IDR => idr = true,
                _ => {}
            }
            data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            data.extend_from_slice(nal);
        }
        self.update_parameter_sets(&sps, &pps, events);

        if self.config.is_none() || data.is_empty() || (self.waiting_for_idr && !idr) {
            return;
        }
        self.waiting_for_idr = false;
        events.push_back(DemuxEvent::Sample(Sample {
            track: self.id,
            dts,
            cts_offset,
            duration: None,
            keyframe: idr,
            data: data.into(),
        }));
    }

    fn update_parameter_sets(
        &mut self,
        sps: &[&[u8]],
        pps: &[&[u8]],
        events: &mut VecDeque<DemuxEvent>,
    ) {
        let mut changed = false;
        // Encoders repeat the same sets before every IDR; compare before copying.
        if !sps.is_empty() && !same_sets(&self.sps, sps) {
            self.sps = sps.iter().map(|s| s.to_vec()).collect();
            changed = true;
        }
        if !pps.is_empty() && !same_sets(&self.pps, pps) {
            self.pps = pps.iter().map(|s| s.to_vec()).collect();
            changed = true;
        }
        if !changed {
            return;
        }
        // Unparseable sets leave the last good configuration in force.
        let Some(config) = h264::avc_config(self.sps.clone(), self.pps.clone()) else {
            return;
        };
        if self.config.as_ref() == Some(&config) {
            return;
        }
        super::announce(
            events,
            self.id,
            CodecConfig::H264(config.clone()),
            None,
            self.config.is_none(),
        );
        self.config = Some(config);
    }
}

fn same_sets(have: &[Vec<u8>], new: &[&[u8]]) -> bool {
    have.len() == new.len() && have.iter().zip(new).all(|(a, b)| a.as_slice() == *b)
}
