//! RTP depacketized frames (what the RTSP client hands over): configurations from avcC and
//! AudioSpecificConfig bytes, then frames with any timestamps, in any order.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smoothcast_core::demux::rtp::RtpDemuxer;
use smoothcast_fuzz::media::{Num, SPS_720P};

#[derive(Debug, Arbitrary)]
enum Op {
    H264 {
        track: u8,
        clock: u32,
        avcc: Avcc,
    },
    Aac {
        track: u8,
        clock: u32,
        asc: Vec<u8>,
    },
    Frame {
        track: u8,
        pts: Num,
        keyframe: bool,
        data: Vec<u8>,
    },
    Finish,
}

#[derive(Debug, Arbitrary)]
enum Avcc {
    /// A valid record with 4-byte lengths (so frames get through), maybe cut.
    Valid {
        cut: u8,
    },
    Raw(Vec<u8>),
}

fn avcc(a: Avcc) -> Vec<u8> {
    match a {
        Avcc::Valid { cut } => {
            let mut rec = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, SPS_720P.len() as u8];
            rec.extend_from_slice(&SPS_720P);
            rec.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
            let keep = rec.len().saturating_sub(usize::from(cut % 4));
            rec.truncate(keep);
            rec
        }
        Avcc::Raw(v) => v,
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut d = RtpDemuxer::new();
    let mut events = 0usize;
    for op in ops.into_iter().take(1_000) {
        let r = match op {
            Op::H264 {
                track,
                clock,
                avcc: a,
            } => d.configure_h264(u32::from(track % 4), clock, &avcc(a)),
            Op::Aac { track, clock, asc } => d.configure_aac(u32::from(track % 4), clock, &asc),
            Op::Frame {
                track,
                pts,
                keyframe,
                data,
            } => d.push_frame(u32::from(track % 4), pts.get(), keyframe, data.into()),
            Op::Finish => {
                d.finish();
                Ok(())
            }
        };
        let _ = r;
        while d.poll().is_some() {
            events += 1;
        }
    }
    d.finish();
    while d.poll().is_some() {
        events += 1;
    }
    let _ = events;
});
