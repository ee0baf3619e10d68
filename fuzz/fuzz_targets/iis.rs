//! IIS-style Smooth Streaming URLs (`.../QualityLevels(b)/Fragments(video=t)`), after the
//! web server's path decoding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::web::{files::segments, iis};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let names = match segments(text) {
            Ok(names) => names,
            Err(_) => text.split('/').map(String::from).collect(),
        };
        let _ = iis::parse(&names);
    }
});
