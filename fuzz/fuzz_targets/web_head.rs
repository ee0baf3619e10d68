//! The web port's plain-TCP request heads: `httparse`, then our reading of the headers
//! (which requests the path answers, which go to hyper) and the request rebuilt for the
//! handler.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::web::plain::classify;

fuzz_target!(|data: &[u8]| {
    if let Some((len, _, _)) = classify(data) {
        assert!(len <= data.len());
    }
});
