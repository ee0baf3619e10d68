//! HTTP `Range` headers against a body length from the input's first eight bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::web::headers::{parse_range, ByteRange};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let len = u64::from_le_bytes(data[..8].try_into().unwrap_or_default());
    if let Ok(text) = std::str::from_utf8(&data[8..]) {
        if let ByteRange::Part { start, len: n } = parse_range(Some(text), len) {
            assert!(n > 0 && start.checked_add(n).is_some_and(|end| end <= len));
        }
    }
});
