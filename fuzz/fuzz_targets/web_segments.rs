//! The web server's URL path decoding and checks (traversal, control characters).
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::web::files::segments;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(names) = segments(text) {
            for n in &names {
                assert!(n != ".." && !n.contains('/') && !n.contains('\0'), "{n:?}");
            }
        }
    }
});
