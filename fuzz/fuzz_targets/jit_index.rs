//! The just-in-time index (a hollow packaging session: the MP4 demuxer reads the moov only
//! and stands in for every sample) over one input, served its reads from the bytes; every
//! fragment the index lists is then assembled from the ranges it names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::package::index::index_in_memory;
use smoothcast_core::package::{IndexBuilder, InputSpec, SessionOptions};

fuzz_target!(|data: &[u8]| {
    let options = SessionOptions {
        inputs: vec![InputSpec {
            name: "in.mp4".into(),
            ..InputSpec::default()
        }],
        seekable: true,
        ..SessionOptions::default()
    };
    let Ok(builder) = IndexBuilder::package(options) else {
        return;
    };
    let Ok(index) = index_in_memory(builder, &[data]) else {
        return;
    };
    for f in index.fragments.values() {
        let parts: Vec<&[u8]> = f
            .ranges
            .iter()
            .filter_map(|r| {
                let from = usize::try_from(r.offset).ok()?;
                data.get(from..from.checked_add(usize::try_from(r.len).ok()?)?)
            })
            .collect();
        let _ = f.assemble(&parts);
        assert!(f.moof_len() <= f.head.len());
    }
});
