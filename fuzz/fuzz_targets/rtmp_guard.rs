//! The guard in front of rml_rtmp: an RTMP chunk stream (after the handshake), pushed in
//! pieces sized by the input's last two bytes, as a peer's TCP segments. What the guard
//! passes goes on to rml_rtmp's chunk layer, as in the server: no AMF message rml_rtmp
//! completes may be nested deeper than the guard allows (the guard keeps only AMF payloads,
//! so this checks that it follows rml_rtmp's message boundaries).
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast::ingest::rtmp::guard::{message_depth_ok, Guard};
use smoothcast::ingest::rtmp::tap::MessageTap;
use smoothcast_fuzz::split_input;

fuzz_target!(|data: &[u8]| {
    // Contained on purpose (caught and turned into an error): see the crate's regression test.
    smoothcast_fuzz::allow_caught_panics_in(&["rml_rtmp-"]);
    let (payload, chunk) = split_input(data);
    let mut guard = Guard::new();
    let mut tap = MessageTap::default();
    for piece in payload.chunks(chunk) {
        if guard.check(piece).is_err() {
            return;
        }
        let mut too_deep = false;
        if tap
            .messages(piece, |m| too_deep |= !message_depth_ok(m))
            .is_err()
        {
            return;
        }
        assert!(
            !too_deep,
            "the guard passed an AMF message nested too deeply"
        );
    }
});
