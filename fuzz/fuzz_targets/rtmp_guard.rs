//! The guard in front of rml_rtmp: an RTMP chunk stream (after the handshake), pushed in
//! pieces sized by the input's last two bytes, as a peer's TCP segments.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::ingest::rtmp::guard::Guard;
use smoothcast_fuzz::split_input;

fuzz_target!(|data: &[u8]| {
    // Contained on purpose (caught and turned into an error): see the crate's regression test.
    smoothcast_fuzz::allow_caught_panics_in(&["rml_rtmp-"]);
    let (payload, chunk) = split_input(data);
    let mut guard = Guard::new();
    for piece in payload.chunks(chunk) {
        if guard.check(piece).is_err() {
            return;
        }
    }
});
