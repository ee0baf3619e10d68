//! A Smooth live ingest body (`SmoothIngest`: box walk, live server manifest, moov, moof with
//! tfxd, mfra) pushed in pieces sized by the input's last two bytes; the payload also goes to
//! the manifest parser alone.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::demux::mp4::ingest::{IngestLimits, SmoothIngest};
use smoothcast_core::demux::mp4::lsm;
use smoothcast_fuzz::{split_input, MAX_EVENTS};

fuzz_target!(|data: &[u8]| {
    let (payload, chunk) = split_input(data);
    let _ = lsm::parse_box(payload, lsm::DEFAULT_MAX_TRACKS);
    let mut p = SmoothIngest::new(IngestLimits::default());
    let mut events = 0;
    for piece in payload.chunks(chunk) {
        if p.push(piece).is_err() {
            return;
        }
        while p.poll().is_some() {
            events += 1;
            if events > MAX_EVENTS {
                return;
            }
        }
    }
    let _ = p.finish();
    while p.poll().is_some() {}
});
