//! The Smooth Streaming client manifest parser (what resume and the origin read back).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = smoothcast_core::manifest::parse(text);
    }
});
