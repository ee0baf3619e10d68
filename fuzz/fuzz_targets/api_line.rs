//! The EMS command line (`createMSSStream localStreamNames=a,b ...`), as the ASCII and
//! JSON CLIs and the HTTP API give it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::api::line::Line;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Line::parse(text);
        if let Some((command, params)) = text.split_once(' ') {
            let _ = Line::with_params(command, params);
        }
    }
});
