//! The HTTP API's request: command from the path, base64 parameters from the query (or
//! after a `%3f` in the path).
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::api::http::request_line;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (path, query) = match text.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (text, None),
        };
        let _ = request_line(path, query);
    }
});
