//! AAC: the AudioSpecificConfig (ISO 14496-3 1.6.2.1) and ADTS frame headers (1.A.2.2).

use alloc::vec::Vec;

use crate::media::AacConfig;

/// Sampling rates by `sampling_frequency_index`.
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Samples per AAC frame (every profile Smoothcast packages).
pub const SAMPLES_PER_FRAME: u32 = 1024;

/// Parses an AudioSpecificConfig. HE-AAC signalled explicitly (object type 5 or 29) reports
/// that object type and the extension (output) sampling rate.
pub fn parse_asc(asc: &[u8]) -> Option<AacConfig> {
    let mut b = Bits { data: asc, bit: 0 };
    let mut object_type = read_object_type(&mut b)?;
    let mut sample_rate = read_rate(&mut b)?;
    let channel_config = b.bits(4)? as u8;
    if object_type == 5 || object_type == 29 {
        sample_rate = read_rate(&mut b)?;
        let _core = read_object_type(&mut b)?;
    } else if object_type == 2 && channel_config != 0 {
        // Backward-compatible explicit signalling (what FFmpeg writes): an LC config, then a
        // sync extension saying whether SBR (and PS) are present and the output rate.
        if let Some((he, rate)) = sync_extension(&mut b) {
            object_type = he;
            sample_rate = rate;
        }
    }
    if sample_rate == 0 {
        return None;
    }
    // Channel configuration 0 defers to a program config element; stereo is the sane default.
    let channels = match channel_config {
        0 => 2,
        7 => 8,
        c @ 1..=6 => c,
        _ => return None,
    };
    Some(AacConfig {
        asc: asc.to_vec(),
        object_type,
        sample_rate,
        channels,
    })
}

/// After an LC config with a channel configuration (so the GASpecificConfig is three
/// flags): the sync extension's (object type 5 or 29, output rate) when it says SBR is
/// present; `None` when absent or saying no.
fn sync_extension(b: &mut Bits<'_>) -> Option<(u8, u32)> {
    let frame_length_and_core = b.bits(2)?;
    if frame_length_and_core & 1 == 1 {
        b.bits(14)?; // coreCoderDelay
    }
    b.bits(1)?; // extensionFlag (0 for AAC LC)
    if b.bits(11)? != 0x2b7 || read_object_type(b)? != 5 || b.bits(1)? != 1 {
        return None;
    }
    let rate = read_rate(b)?;
    let ps = b.bits(11) == Some(0x548) && b.bits(1) == Some(1);
    Some((if ps { 29 } else { 5 }, rate))
}

fn read_object_type(b: &mut Bits<'_>) -> Option<u8> {
    let t = b.bits(5)? as u8;
    if t == 31 {
        Some(32 + b.bits(6)? as u8)
    } else {
        Some(t)
    }
}

fn read_rate(b: &mut Bits<'_>) -> Option<u32> {
    let idx = b.bits(4)? as usize;
    if idx == 15 {
        b.bits(24)
    } else {
        SAMPLE_RATES.get(idx).copied()
    }
}

/// Builds a two-byte AudioSpecificConfig.
pub fn make_asc(object_type: u8, sampling_index: u8, channel_config: u8) -> Vec<u8> {
    let v: u16 = (u16::from(object_type & 0x1f) << 11)
        | (u16::from(sampling_index & 0x0f) << 7)
        | (u16::from(channel_config & 0x0f) << 3);
    v.to_be_bytes().to_vec()
}

/// A parsed ADTS fixed + variable header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Audio object type (profile + 1).
    pub object_type: u8,
    pub sampling_index: u8,
    pub channel_config: u8,
    /// Header length: 7, or 9 with CRC.
    pub header_len: usize,
    /// Whole frame length including the header.
    pub frame_len: usize,
    /// Raw data blocks in this frame minus one (almost always 0).
    pub raw_blocks: u8,
}

impl AdtsHeader {
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATES
            .get(usize::from(self.sampling_index))
            .copied()
            .unwrap_or(0)
    }
    /// The AudioSpecificConfig equivalent to this header.
    pub fn asc(&self) -> Vec<u8> {
        make_asc(self.object_type, self.sampling_index, self.channel_config)
    }
}

/// Parses an ADTS header at the start of `data`; `None` if not a valid header (or too short).
pub fn parse_adts(data: &[u8]) -> Option<AdtsHeader> {
    if data.len() < 7 || data[0] != 0xff || data[1] & 0xf0 != 0xf0 {
        return None;
    }
    let protection_absent = data[1] & 1 == 1;
    let object_type = ((data[2] >> 6) & 0x3) + 1;
    let sampling_index = (data[2] >> 2) & 0xf;
    let channel_config = ((data[2] & 1) << 2) | (data[3] >> 6);
    let frame_len = (usize::from(data[3] & 0x3) << 11)
        | (usize::from(data[4]) << 3)
        | usize::from(data[5] >> 5);
    let raw_blocks = data[6] & 0x3;
    let header_len = if protection_absent { 7 } else { 9 };
    if usize::from(sampling_index) >= SAMPLE_RATES.len() || frame_len < header_len {
        return None;
    }
    Some(AdtsHeader {
        object_type,
        sampling_index,
        channel_config,
        header_len,
        frame_len,
        raw_blocks,
    })
}

struct Bits<'a> {
    data: &'a [u8],
    bit: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.bit / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.bit % 8)) & 1);
            self.bit += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_stereo_44100() {
        let c = parse_asc(&[0x12, 0x10]).expect("asc");
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 44100, 2));
        assert_eq!(make_asc(2, 4, 2), [0x12, 0x10]);
    }

    #[test]
    fn explicit_he_aac_reports_output_rate() {
        // HE-AAC: object type 5, core 24 kHz (6), stereo, extension 48 kHz (3), core type 2.
        let c = parse_asc(&[0x2b, 0x11, 0x88, 0x00]).expect("asc");
        assert_eq!((c.object_type, c.sample_rate, c.channels), (5, 48000, 2));
    }

    #[test]
    fn backward_compatible_sbr_signalling() {
        // LC 24 kHz stereo, then sync extension 0x2b7, object type 5, SBR present, 48 kHz.
        let he = parse_asc(&[0x13, 0x10, 0x56, 0xe5, 0x98]).expect("asc");
        assert_eq!((he.object_type, he.sample_rate), (5, 48000));
        // The same extension saying "no SBR" (FFmpeg's LC output) stays LC at 24 kHz.
        let lc = parse_asc(&[0x13, 0x10, 0x56, 0xe5, 0x00]).expect("asc");
        assert_eq!((lc.object_type, lc.sample_rate), (2, 24000));
    }

    #[test]
    fn adts_header() {
        let h = parse_adts(&[0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f, 0xfc]).expect("adts");
        assert_eq!(
            (h.object_type, h.sampling_index, h.channel_config),
            (2, 4, 2)
        );
        assert_eq!((h.header_len, h.frame_len), (7, 371));
        assert_eq!(h.asc(), [0x12, 0x10]);
        assert!(parse_adts(&[0xff, 0xf1, 0x50]).is_none());
        assert!(parse_asc(&[]).is_none());
    }
}
