//! Subtitle files (SRT and WebVTT): read whole, then announced as one text track whose
//! samples are its cues (start, duration, and the cue text as TTML body content).

mod srt;
mod webvtt;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use super::{DemuxError, DemuxEvent, Demuxer};
use crate::codec::ttml;
use crate::media::{CodecConfig, Sample, TextFormat, TrackInfo};

/// The largest subtitle file read: a feature film's subtitles are ~100 KB.
pub const MAX_TEXT_BYTES: usize = 16 << 20;

/// Cue times are in milliseconds, the precision both formats write.
const TIMESCALE: u32 = 1000;

/// A cue as parsed: milliseconds and the cue text (lines joined with `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawCue {
    pub start: u64,
    pub end: u64,
    pub text: String,
}

/// Whether the first bytes look like a subtitle file, and which.
pub fn sniff(head: &[u8]) -> Option<TextFormat> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if head.starts_with(b"WEBVTT") {
        return Some(TextFormat::WebVtt);
    }
    // SRT: a cue number line, then a timing line.
    let text = core::str::from_utf8(head).ok().or_else(|| {
        // The head may end inside a multi-byte character.
        core::str::from_utf8(&head[..head.len().saturating_sub(3)]).ok()
    })?;
    let mut lines = text.trim_start().lines();
    let number = lines.next()?.trim();
    let timing = lines.next()?;
    (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) && timing.contains("-->"))
        .then_some(TextFormat::Srt)
}

pub struct TextDemuxer {
    format: TextFormat,
    buf: Vec<u8>,
    events: VecDeque<DemuxEvent>,
    finished: bool,
}

impl TextDemuxer {
    pub fn new(format: TextFormat) -> Self {
        Self {
            format,
            buf: Vec::new(),
            events: VecDeque::new(),
            finished: false,
        }
    }
}

impl Demuxer for TextDemuxer {
    fn push(&mut self, data: &[u8]) -> Result<(), DemuxError> {
        if self.buf.len() + data.len() > MAX_TEXT_BYTES {
            return Err(DemuxError::unsupported(format!(
                "subtitle file larger than {} MiB",
                MAX_TEXT_BYTES >> 20
            )));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DemuxError> {
        if core::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        let text = core::str::from_utf8(&self.buf)
            .map_err(|e| DemuxError::malformed(format!("subtitles are not UTF-8 ({e})")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut cues = match self.format {
            TextFormat::Srt => srt::parse(text)?,
            TextFormat::WebVtt => webvtt::parse(text)?,
        };
        cues.sort_by_key(|c| c.start);
        self.events.push_back(DemuxEvent::Track(TrackInfo {
            id: 1,
            timescale: TIMESCALE,
            codec: CodecConfig::Text(self.format),
            edit_offset: 0,
            avg_bitrate: None,
            language: None,
        }));
        for c in cues {
            let duration = u32::try_from(c.end - c.start).unwrap_or(u32::MAX);
            self.events.push_back(DemuxEvent::Sample(Sample {
                track: 1,
                dts: i64::try_from(c.start).unwrap_or(i64::MAX),
                cts_offset: 0,
                duration: Some(duration),
                keyframe: true,
                data: Bytes::from(ttml::body(&c.text).into_bytes()),
            }));
        }
        self.buf = Vec::new();
        Ok(())
    }

    fn poll(&mut self) -> Option<DemuxEvent> {
        self.events.pop_front()
    }
}

/// A cue timing line's two times, `start --> end` (anything after `end` is cue settings).
/// `comma` accepts SRT's `,` before the milliseconds.
pub(crate) fn timing(line: &str) -> Option<(u64, u64)> {
    let (a, b) = line.split_once("-->")?;
    let end = b.split_whitespace().next()?;
    let (start, end) = (time(a.trim())?, time(end)?);
    (end > start).then_some((start, end))
}

/// `[HH:]MM:SS[.,]mmm` in milliseconds.
fn time(s: &str) -> Option<u64> {
    let (clock, ms) = s.rsplit_once(['.', ','])?;
    if ms.len() != 3 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut secs = 0u64;
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    for p in parts {
        if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        secs = secs * 60 + p.parse::<u64>().ok()?;
    }
    Some(secs * 1000 + ms.parse::<u64>().ok()?)
}

/// The error for a file with content but no cue that could be read.
fn no_cues(what: &str) -> DemuxError {
    DemuxError::malformed(format!("no {what} cue could be read"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_timings() {
        assert_eq!(time("01:02:03,004"), Some(3_723_004));
        assert_eq!(time("02:03.004"), Some(123_004));
        assert_eq!(time("2:03.4"), None);
        assert_eq!(
            timing("00:00:01.000 --> 00:00:02.500 line:0 align:start"),
            Some((1000, 2500))
        );
        assert_eq!(timing("00:00:02.000 --> 00:00:01.000"), None);
    }

    #[test]
    fn sniffs_both_formats() {
        assert_eq!(sniff(b"\xef\xbb\xbfWEBVTT\n\n"), Some(TextFormat::WebVtt));
        assert_eq!(
            sniff(b"1\r\n00:00:01,000 --> 00:00:02,000\r\nHi"),
            Some(TextFormat::Srt)
        );
        assert_eq!(sniff(b"\x00\x00\x00\x18ftypmp42"), None);
        assert_eq!(sniff(b"12 apples\nno timing"), None);
    }

    #[test]
    fn demuxes_cues_in_time_order() {
        let mut d = TextDemuxer::new(TextFormat::Srt);
        d.push(b"2\n00:00:03,000 --> 00:00:04,000\nB & C\n\n1\n00:00:01,000 --> 00:00:02,000\n<i>A</i>\n")
            .unwrap();
        d.finish().unwrap();
        let events: Vec<DemuxEvent> = core::iter::from_fn(|| d.poll()).collect();
        assert!(
            matches!(&events[0], DemuxEvent::Track(t) if t.codec == CodecConfig::Text(TextFormat::Srt))
        );
        let samples: Vec<(i64, Option<u32>, &[u8])> = events[1..]
            .iter()
            .filter_map(|e| match e {
                DemuxEvent::Sample(s) => Some((s.dts, s.duration, &s.data[..])),
                _ => None,
            })
            .collect();
        assert_eq!(
            samples,
            [
                (
                    1000,
                    Some(1000),
                    &b"<span tts:fontStyle=\"italic\">A</span>"[..]
                ),
                (3000, Some(1000), &b"B &amp; C"[..])
            ]
        );
    }

    #[test]
    fn rejects_what_is_not_subtitles() {
        let mut d = TextDemuxer::new(TextFormat::Srt);
        d.push(b"1\nnot a timing\nhello\n").unwrap();
        assert!(d.finish().is_err());
        let mut d = TextDemuxer::new(TextFormat::WebVtt);
        d.push(&[b'W', b'E', 0xff, 0xfe]).unwrap();
        assert!(d.finish().is_err());
    }
}
