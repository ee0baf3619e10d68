//! MP4 through the seekable path (the demuxer asks to seek past mdat; seeks are honoured), pushed in pieces sized by the input's last two bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::demux::{for_container, Container};
use smoothcast_fuzz::{run_demuxer, split_input};

fuzz_target!(|data: &[u8]| {
    let (payload, chunk) = split_input(data);
    run_demuxer(for_container(Container::Mp4, true), payload, chunk, false);
});
