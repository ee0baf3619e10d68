//! AAC AudioSpecificConfig and ADTS headers. The first byte picks the parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::codec::aac;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        if let Some(config) = aac::parse_asc(rest) {
            let _ = config.sample_rate;
        }
    } else if let Some(h) = aac::parse_adts(rest) {
        let _ = h.sample_rate();
        let _ = h.asc();
    }
});
