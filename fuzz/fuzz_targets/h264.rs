//! H.264 parameter sets: SPS, avcC records, NAL unit framing. The first byte picks the entry.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smoothcast_core::codec::h264;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let _ = h264::parse_sps(rest);
        }
        1 => {
            if let Some((_, config)) = h264::parse_avc_decoder_config(rest) {
                // A record that parsed must encode and parse back to the same sizes.
                let again = h264::avc_decoder_config_record(&config);
                let (_, back) = h264::parse_avc_decoder_config(&again).expect("re-encoded avcC");
                assert_eq!((back.width, back.height), (config.width, config.height));
            }
        }
        2 => {
            // SPS and PPS split at the first 0xff byte, as avc_config gets them from a stream.
            let (sps, pps) = match rest.iter().position(|&b| b == 0xff) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let _ = h264::avc_config(vec![sps.to_vec()], vec![pps.to_vec()]);
        }
        3 => {
            let mut out = Vec::new();
            h264::annexb_to_length_prefixed(rest, &mut out);
            for nal in h264::annexb_nal_units(rest) {
                let _ = h264::nal_type(nal);
            }
            let _ = h264::contains_idr(&out);
            let _ = h264::unescape_rbsp(rest);
        }
        _ => {
            let Some((&size, rest)) = rest.split_first() else {
                return;
            };
            let size = size % 5;
            for _ in h264::length_prefixed_nal_units(rest, size) {}
            let mut out = Vec::new();
            let _ = h264::to_4_byte_lengths(rest, size, &mut out);
        }
    }
});
