//! MPEG-TS (and M2TS), pushed in pieces sized by the input's last two bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::demux::{for_container, Container};
use smoothcast_fuzz::{run_demuxer, split_input};

fuzz_target!(|data: &[u8]| {
    let (payload, chunk) = split_input(data);
    run_demuxer(
        for_container(Container::MpegTs, false),
        payload,
        chunk,
        false,
    );
});
