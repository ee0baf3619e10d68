//! FLV, pushed in pieces sized by the input's last two bytes; then the same bytes as RTMP
//! tags in shared buffers (`push_tag_shared`, whose samples are slices of the tag).
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use smoothcast_core::demux::flv::FlvDemuxer;
use smoothcast_core::demux::{for_container, Container, Demuxer};
use smoothcast_fuzz::{run_demuxer, split_input};

fuzz_target!(|data: &[u8]| {
    let (payload, chunk) = split_input(data);
    run_demuxer(for_container(Container::Flv, false), payload, chunk, false);
    // Tags as an RTMP session hands them over: a type byte (its low bit picks audio or
    // video), a 2-byte length, the payload.
    let mut d = FlvDemuxer::tags_only();
    let mut rest = payload;
    let mut timestamp = 0u32;
    while let [kind, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let tag = Bytes::copy_from_slice(&tail[..len]);
        if d.push_tag_shared(8 + (kind & 1), timestamp, &tag).is_err() {
            break;
        }
        while d.poll().is_some() {}
        timestamp = timestamp.wrapping_add(u32::from(*kind));
        rest = &tail[len..];
    }
});
