//! H.264 bitstream helpers: NAL unit framing (Annex B and length-prefixed), the
//! AVCDecoderConfigurationRecord, and the few SPS fields a manifest needs (picture size).

use alloc::vec::Vec;

use crate::media::AvcConfig;

pub const NAL_SLICE: u8 = 1;
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

/// The `nal_unit_type` of a NAL unit (its first byte's low five bits).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Iterates over the NAL units of an Annex B byte stream (3- or 4-byte start codes), without
/// their start codes. Trailing zero bytes before a start code belong to the start code.
pub fn annexb_nal_units(data: &[u8]) -> AnnexBNalUnits<'_> {
    AnnexBNalUnits {
        data,
        pos: find_start_code(data, 0).map_or(data.len(), |(_, end)| end),
    }
}

pub struct AnnexBNalUnits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for AnnexBNalUnits<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        while self.pos < self.data.len() {
            let start = self.pos;
            let (end, next) = match find_start_code(self.data, start) {
                Some((sc, after)) => (sc, after),
                None => (self.data.len(), self.data.len()),
            };
            self.pos = next;
            let mut nal = &self.data[start..end];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
        None
    }
}

/// Finds the next `00 00 01` at or after `from`: returns (index of its first zero, index after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        // Skip ahead quickly: a start code's third byte is 1, and the two before it are 0.
        if data[i + 2] > 1 {
            i += 3;
            continue;
        }
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some((i, i + 3));
        }
        i += 1;
    }
    None
}

/// Appends each NAL unit of an Annex B stream to `out` with a 4-byte big-endian length.
pub fn annexb_to_length_prefixed(data: &[u8], out: &mut Vec<u8>) {
    for nal in annexb_nal_units(data) {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
}

/// A NAL unit length ran past the end of its access unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalLengthOverrun;

/// Iterates over length-prefixed NAL units (`length_size` of 1, 2 or 4 bytes). Yields `Err` once
/// if a length runs past the end, so callers can reject the sample instead of guessing.
pub fn length_prefixed_nal_units(data: &[u8], length_size: u8) -> LengthPrefixedNalUnits<'_> {
    LengthPrefixedNalUnits {
        data,
        length_size: usize::from(length_size),
        failed: false,
    }
}

pub struct LengthPrefixedNalUnits<'a> {
    data: &'a [u8],
    length_size: usize,
    failed: bool,
}

impl<'a> Iterator for LengthPrefixedNalUnits<'a> {
    type Item = Result<&'a [u8], NalLengthOverrun>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.data.is_empty() {
            return None;
        }
        let n = self.length_size;
        if !(1..=4).contains(&n) || self.data.len() < n {
            self.failed = true;
            return Some(Err(NalLengthOverrun));
        }
        let len = self.data[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let Some(nal) = self.data.get(n..n + len) else {
            self.failed = true;
            return Some(Err(NalLengthOverrun));
        };
        self.data = &self.data[n + len..];
        Some(Ok(nal))
    }
}

/// Rewrites length-prefixed NAL units to 4-byte lengths (Smooth Streaming players assume 4).
pub fn to_4_byte_lengths(
    data: &[u8],
    length_size: u8,
    out: &mut Vec<u8>,
) -> Result<(), NalLengthOverrun> {
    for nal in length_prefixed_nal_units(data, length_size) {
        let nal = nal?;
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(())
}

/// Whether any NAL unit of a 4-byte length-prefixed access unit is an IDR slice.
pub fn contains_idr(data: &[u8]) -> bool {
    length_prefixed_nal_units(data, 4).any(|n| matches!(n, Ok(nal) if nal_type(nal) == NAL_IDR))
}

/// Parses an AVCDecoderConfigurationRecord (ISO 14496-15 `avcC`, also FLV's AVC sequence
/// header). Returns the NAL length size and the configuration.
pub fn parse_avc_decoder_config(record: &[u8]) -> Option<(u8, AvcConfig)> {
    let mut r = crate::bytes_util::Reader::new(record);
    let _version = r.u8()?;
    r.skip(3)?; // profile, compatibility, level: repeated in the SPS
    let length_size = (r.u8()? & 0x03) + 1;
    let num_sps = r.u8()? & 0x1f;
    let mut sps = Vec::new();
    for _ in 0..num_sps {
        let len = usize::from(r.u16()?);
        sps.push(r.bytes(len)?.to_vec());
    }
    let num_pps = r.u8()?;
    let mut pps = Vec::new();
    for _ in 0..num_pps {
        let len = usize::from(r.u16()?);
        pps.push(r.bytes(len)?.to_vec());
    }
    let config = avc_config(sps, pps)?;
    Some((length_size, config))
}

/// Writes an AVCDecoderConfigurationRecord (`avcC`, FLV's AVC sequence header) for samples
/// with 4-byte NAL lengths, as [`Sample`](crate::media::Sample) carries them. Parameter sets
/// longer than 65535 bytes, or more than 31 SPS / 255 PPS, cannot be written and are left
/// out (no real encoder makes them).
pub fn avc_decoder_config_record(config: &AvcConfig) -> Vec<u8> {
    let sps: Vec<&Vec<u8>> = config
        .sps
        .iter()
        .filter(|s| s.len() <= usize::from(u16::MAX))
        .take(31)
        .collect();
    let pps: Vec<&Vec<u8>> = config
        .pps
        .iter()
        .filter(|p| p.len() <= usize::from(u16::MAX))
        .take(255)
        .collect();
    // Profile, compatibility flags and level are copied from the first SPS.
    let first = sps.first().map_or(&[][..], |s| s.as_slice());
    let byte = |i: usize| first.get(i).copied().unwrap_or(0);
    let mut out = alloc::vec![
        1,
        byte(1),
        byte(2),
        byte(3),
        0xfc | 3,
        0xe0 | sps.len() as u8
    ];
    for s in &sps {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    }
    out.push(pps.len() as u8);
    for p in &pps {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Builds an [`AvcConfig`] from parameter sets, reading the picture size from the first SPS.
pub fn avc_config(sps: Vec<Vec<u8>>, pps: Vec<Vec<u8>>) -> Option<AvcConfig> {
    let info = parse_sps(sps.first()?)?;
    if pps.is_empty() {
        return None;
    }
    Some(AvcConfig {
        sps,
        pps,
        width: info.width,
        height: info.height,
    })
}

/// The SPS fields Smoothcast uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub width: u32,
    pub height: u32,
    /// 2 means pictures are output in decode order (no B-frames or other reordering).
    pub pic_order_cnt_type: u32,
}

/// Largest picture width or height [`parse_sps`] accepts, in pixels. Level 6.2's maximum
/// frame size (139,264 macroblocks) allows at most 8,448 pixels on a side at 8x8 square
/// macroblock aspect; 16,384 leaves room for odd shapes while staying far from overflow.
pub const MAX_SPS_DIMENSION: u32 = 16_384;
/// Largest `pic_width_in_mbs` / `pic_height_in_map_units` accepted (16,384 / 16).
const MAX_SPS_MBS: u32 = MAX_SPS_DIMENSION / 16;

/// Parses a sequence parameter set NAL unit (header byte included) far enough to get the
/// cropped picture size. Returns `None` on anything malformed.
pub fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    if nal_type(nal) != NAL_SPS || nal.len() < 4 {
        return None;
    }
    let rbsp = unescape_rbsp(&nal[1..]);
    let mut b = BitReader::new(&rbsp);
    let profile_idc = b.bits(8)? as u8;
    let constraint_flags = b.bits(8)? as u8;
    let level_idc = b.bits(8)? as u8;
    b.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = b.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = b.bit()?;
        }
        b.ue()?; // bit_depth_luma_minus8
        b.ue()?; // bit_depth_chroma_minus8
        b.bit()?; // qpprime_y_zero_transform_bypass_flag
        if b.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.bit()? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    let pic_order_cnt_type = b.ue()?;
    match pic_order_cnt_type {
        0 => {
            b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            let n = b.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?; // max_num_ref_frames
    b.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = b.ue()?.checked_add(1)?;
    let height_map_units = b.ue()?.checked_add(1)?;
    let frame_mbs_only = b.bit()?;
    if !frame_mbs_only {
        b.bit()?; // mb_adaptive_frame_field_flag
    }
    b.bit()?; // direct_8x8_inference_flag
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0, 0, 0, 0);
    if b.bit()? {
        crop_l = b.ue()?;
        crop_r = b.ue()?;
        crop_t = b.ue()?;
        crop_b = b.ue()?;
    }
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (crop_unit_x, crop_unit_y) = if chroma_array_type == 0 {
        (1, field_factor)
    } else {
        (sub_w, sub_h * field_factor)
    };
    // The crops and sizes are Exp-Golomb values up to u32::MAX: every product is checked
    // (a crop of 2^31 once overflowed here), and a crop that eats the whole picture or a
    // size beyond any H.264 level is refused rather than packaged as a nonsense size.
    if width_mbs > MAX_SPS_MBS || height_map_units > MAX_SPS_MBS {
        return None;
    }
    let crop_w = crop_l.checked_add(crop_r)?.checked_mul(crop_unit_x)?;
    let crop_h = crop_t.checked_add(crop_b)?.checked_mul(crop_unit_y)?;
    let width = width_mbs.checked_mul(16)?.checked_sub(crop_w)?;
    let height = height_map_units
        .checked_mul(16 * field_factor)?
        .checked_sub(crop_h)?;
    if width == 0 || height == 0 || width > MAX_SPS_DIMENSION || height > MAX_SPS_DIMENSION {
        return None;
    }
    Some(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        width,
        height,
        pic_order_cnt_type,
    })
}

fn skip_scaling_list(b: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = b.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Removes emulation prevention bytes (`00 00 03` -> `00 00`).
pub fn unescape_rbsp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &byte in data {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// An MSB-first bit reader with Exp-Golomb codes; every read is bounds-checked.
struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.bit / 8)?;
        let v = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Some(v == 1)
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    // x264 High profile 1280x720 SPS (cropping 8 lines from 1280x736).
    const SPS_720P: [u8; 25] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6a, 0x02, 0x02, 0x02,
        0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07,
    ];

    #[test]
    fn sps_gives_cropped_size() {
        let info = parse_sps(&SPS_720P).expect("valid sps");
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!(info.profile_idc, 100);
    }

    // Fuzzing regressions: frame_crop_left_offset = ue(2^31) overflowed
    // `crop_unit_x * (crop_l + crop_r)` (a panic in debug, a 16x16 picture in release).
    #[test]
    fn sps_with_huge_left_crop_is_refused() {
        let sps = [
            0x67, 0x42, 0x00, 0x1e, 0xdd, 0xf0, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x3e,
        ];
        assert_eq!(parse_sps(&sps), None);
    }

    // The first libFuzzer crash: 0x67 + base64 `/////3oLAAAAAL6+vr6+vno=` overflowed the
    // vertical crop product.
    #[test]
    fn sps_with_huge_vertical_crop_is_refused() {
        let sps = [
            0x67, 0xff, 0xff, 0xff, 0xff, 0x7a, 0x0b, 0x00, 0x00, 0x00, 0x00, 0xbe, 0xbe, 0xbe,
            0xbe, 0xbe, 0xbe, 0x7a,
        ];
        assert_eq!(parse_sps(&sps), None);
    }

    #[test]
    fn sps_larger_than_any_level_is_refused() {
        // Baseline, 1023 / 1024 / 1025 macroblocks wide, 16 pixels high, no cropping.
        let info = parse_sps(&baseline_sps(1022)).expect("16,368 wide is accepted");
        assert_eq!((info.width, info.height), (16_368, 16));
        assert!(parse_sps(&baseline_sps(1023)).is_some());
        assert_eq!(parse_sps(&baseline_sps(1024)), None);
        assert_eq!(parse_sps(&baseline_sps(u32::MAX - 1)), None);
    }

    fn baseline_sps(width_mbs_minus1: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        for v in [0x42, 0x00, 0x1e] {
            w.bits(v, 8);
        }
        w.ue(0); // sps id
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(2); // pic_order_cnt_type
        w.ue(1); // max_num_ref_frames
        w.bit(false);
        w.ue(width_mbs_minus1);
        w.ue(0); // pic_height_in_map_units_minus1
        w.bit(true); // frame_mbs_only
        w.bit(true); // direct_8x8
        w.bit(false); // no cropping
        w.bit(true); // stop bit
        let mut nal = vec![0x67];
        nal.extend_from_slice(&w.finish());
        nal
    }

    #[derive(Default)]
    struct BitWriter {
        out: Vec<u8>,
        n: usize,
    }

    impl BitWriter {
        fn bit(&mut self, v: bool) {
            if self.n.is_multiple_of(8) {
                self.out.push(0);
            }
            if v {
                *self.out.last_mut().unwrap() |= 0x80 >> (self.n % 8);
            }
            self.n += 1;
        }
        fn bits(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.bit((v >> i) & 1 == 1);
            }
        }
        fn ue(&mut self, v: u32) {
            let x = u64::from(v) + 1;
            let len = 64 - x.leading_zeros();
            for _ in 1..len {
                self.bit(false);
            }
            for i in (0..len).rev() {
                self.bit((x >> i) & 1 == 1);
            }
        }
        fn finish(self) -> Vec<u8> {
            self.out
        }
    }

    #[test]
    fn truncated_sps_is_none_not_panic() {
        for n in 0..SPS_720P.len() - 2 {
            let _ = parse_sps(&SPS_720P[..n]);
        }
        assert!(parse_sps(&[0x67]).is_none());
    }

    #[test]
    fn annexb_splits_on_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 0, 1, 0x41, 0xbb,
        ];
        let nals: Vec<&[u8]> = annexb_nal_units(&data).collect();
        assert_eq!(
            nals,
            vec![&[0x09, 0xf0][..], &[0x65, 0xaa][..], &[0x41, 0xbb][..]]
        );
        let mut out = Vec::new();
        annexb_to_length_prefixed(&data, &mut out);
        assert_eq!(&out[..6], &[0, 0, 0, 2, 0x09, 0xf0]);
        assert!(contains_idr(&out));
    }

    #[test]
    fn length_prefixed_rejects_overrun() {
        let data = [0, 5, 0x65, 1];
        let r: Vec<_> = length_prefixed_nal_units(&data, 2).collect();
        assert_eq!(r, vec![Err(NalLengthOverrun)]);
        let mut out = Vec::new();
        assert!(to_4_byte_lengths(&[0, 2, 0x65, 1], 2, &mut out).is_ok());
        assert_eq!(out, vec![0, 0, 0, 2, 0x65, 1]);
    }

    #[test]
    fn avcc_round_trip() {
        let mut rec = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, SPS_720P.len() as u8];
        rec.extend_from_slice(&SPS_720P);
        rec.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        let (len, cfg) = parse_avc_decoder_config(&rec).expect("valid avcC");
        assert_eq!(len, 4);
        assert_eq!((cfg.width, cfg.height), (1280, 720));
        assert_eq!(cfg.pps, vec![vec![0x68, 0xeb, 0xe3, 0xcb]]);
        assert!(parse_avc_decoder_config(&rec[..rec.len() - 1]).is_none());
        assert_eq!(avc_decoder_config_record(&cfg), rec);
    }
}
