//! Just enough FLV to replay a file's tags: the 9-byte header, then tags of
//! type/size/timestamp(+extension)/stream id/data, each followed by its PreviousTagSize.

use anyhow::{bail, Result};
use bytes::Bytes;

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;

/// One audio or video tag; `data` is the tag body, which is exactly an RTMP message payload.
#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: u8,
    /// Milliseconds, from the file.
    pub timestamp: u32,
    /// A slice of the file's buffer: sending it costs no copy here.
    pub data: Bytes,
    /// An AVC or AAC sequence header (codec configuration): sent once, not on every loop.
    pub sequence_header: bool,
}

/// The audio and video tags of an FLV file, in file order (script tags are skipped: the
/// server takes everything it needs from the codec headers). A truncated last tag is
/// dropped.
pub fn parse(file: &Bytes) -> Result<Vec<Tag>> {
    if file.len() < 9 || &file[..3] != b"FLV" {
        bail!("not an FLV file (no \"FLV\" signature)");
    }
    let data_offset = u32::from_be_bytes([file[5], file[6], file[7], file[8]]) as usize;
    if data_offset < 9 || data_offset > file.len() {
        bail!("FLV header announces a data offset of {data_offset}, outside the file");
    }
    // The first PreviousTagSize (always 0) follows the header.
    let mut pos = data_offset + 4;
    let mut tags = Vec::new();
    while pos + 11 <= file.len() {
        let h = &file[pos..pos + 11];
        let kind = h[0] & 0x1f;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body = pos + 11;
        let Some(end) = body.checked_add(size).filter(|e| *e <= file.len()) else {
            eprintln!(
                "rtmp-load: FLV tag at byte {pos} is truncated ({size} bytes announced); ignoring it and the rest"
            );
            break;
        };
        if h[0] & 0x20 != 0 {
            bail!("FLV tag at byte {pos} is encrypted (filter bit set)");
        }
        if (kind == TAG_AUDIO || kind == TAG_VIDEO) && size > 0 {
            let data = file.slice(body..end);
            let sequence_header = match kind {
                // AVC (codec id 7) packet type 0.
                TAG_VIDEO => data[0] & 0x0f == 7 && data.get(1) == Some(&0),
                // AAC (sound format 10) packet type 0.
                _ => data[0] >> 4 == 10 && data.get(1) == Some(&0),
            };
            tags.push(Tag {
                kind,
                timestamp,
                data,
                sequence_header,
            });
        }
        pos = end + 4;
    }
    if tags.is_empty() {
        bail!("the FLV file has no audio or video tags");
    }
    Ok(tags)
}

/// How long one pass over the tags lasts, in ms: the last timestamp plus one video frame
/// (or audio frame) duration, so the next loop's first frame follows the last one's end.
pub fn loop_length(tags: &[Tag]) -> u32 {
    let last = tags.iter().map(|t| t.timestamp).max().unwrap_or(0);
    let first = tags.iter().map(|t| t.timestamp).min().unwrap_or(0);
    let frame = |kind: u8| {
        let mut ts = tags
            .iter()
            .filter(|t| t.kind == kind && !t.sequence_header)
            .map(|t| t.timestamp)
            .rev();
        match (ts.next(), ts.next()) {
            (Some(a), Some(b)) if a > b => Some(a - b),
            _ => None,
        }
    };
    let step = frame(TAG_VIDEO).or_else(|| frame(TAG_AUDIO)).unwrap_or(1);
    (last - first + step).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&ts.to_be_bytes()[1..]);
        v.push((ts >> 24) as u8);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(body);
        v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        v
    }

    #[test]
    fn parses_tags_and_loop_length() {
        let mut f = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        f.extend(tag(18, 0, b"meta"));
        f.extend(tag(9, 0, &[0x17, 0, 0, 0, 0]));
        f.extend(tag(8, 0, &[0xaf, 0, 0x12, 0x10]));
        f.extend(tag(9, 0, &[0x17, 1, 0, 0, 0, 9]));
        f.extend(tag(9, 40, &[0x27, 1, 0, 0, 0, 9]));
        f.extend(tag(9, 0x0100_0000, &[0x27, 1, 0, 0, 0, 9]));
        f.extend_from_slice(&[9, 0, 0]); // truncated
        let tags = parse(&Bytes::from(f)).expect("parses");
        assert_eq!(tags.len(), 5);
        assert!(tags[0].sequence_header && tags[1].sequence_header);
        assert!(!tags[2].sequence_header);
        assert_eq!(tags[4].timestamp, 0x0100_0000);
        assert_eq!(loop_length(&tags[..4]), 80);
    }

    #[test]
    fn refuses_non_flv() {
        assert!(parse(&Bytes::from_static(b"RIFF....")).is_err());
        assert!(parse(&Bytes::from_static(
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
        ))
        .is_err());
    }
}
