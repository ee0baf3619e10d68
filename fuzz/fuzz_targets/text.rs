//! SRT and WebVTT subtitles (the first byte picks the format), pushed in pieces sized by the
//! input's last two bytes; every cue's text goes through the TTML body conversion.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::demux::{for_container, Container};
use smoothcast_core::TextFormat;
use smoothcast_fuzz::{run_demuxer, split_input};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let format = if pick & 1 == 0 {
        TextFormat::Srt
    } else {
        TextFormat::WebVtt
    };
    let (payload, chunk) = split_input(rest);
    run_demuxer(for_container(Container::Text(format), false), payload, chunk, false);
});
