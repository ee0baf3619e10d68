//! `mvex` with one `trex` per track: no defaults (every fragment's `trun` states each
//! sample's duration and size; Smooth players build their own `moov` with zero defaults).

use alloc::vec::Vec;

use super::super::IsmlTrack;
use crate::bytes_util::{put_version_flags, write_box};

pub fn encode(tracks: &[IsmlTrack], out: &mut Vec<u8>) {
    write_box(out, b"mvex", |out| {
        for t in tracks {
            encode_trex(t.track_id, out);
        }
    });
}

fn encode_trex(track_id: u32, out: &mut Vec<u8>) {
    write_box(out, b"trex", |out| {
        put_version_flags(out, 0, 0);
        out.extend_from_slice(&track_id.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes()); // default_sample_description_index
        out.extend_from_slice(&[0; 12]); // default duration, size, flags
    });
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::{aac_track, avc_track};
    use super::*;
    use crate::fragment::header::children;

    #[test]
    fn one_trex_per_track() {
        let mut out = Vec::new();
        encode(&[avc_track(1), aac_track(7)], &mut out);
        let trex: Vec<(u32, usize)> = children(&out[8..])
            .map(|c| {
                let (h, body) = c.expect("trex");
                assert_eq!(&h.typ, b"trex");
                (
                    u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    h.size,
                )
            })
            .collect();
        assert_eq!(trex, [(1, 32), (7, 32)]);
    }
}
