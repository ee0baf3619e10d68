//! WebVTT: a `WEBVTT` header, then blocks separated by blank lines: cues (an optional
//! identifier, a timing line with optional settings, the payload), `NOTE`, `STYLE` and
//! `REGION` blocks (skipped).

use alloc::string::String;
use alloc::vec::Vec;

use super::{no_cues, timing, RawCue};
use crate::demux::DemuxError;

pub(crate) fn parse(text: &str) -> Result<Vec<RawCue>, DemuxError> {
    let mut blocks = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    let header = blocks.next().unwrap_or_default();
    if !header.starts_with("WEBVTT") {
        return Err(DemuxError::malformed("a WebVTT file starts with WEBVTT"));
    }
    // The header block (its other lines, e.g. X-TIMESTAMP-MAP, are not needed on demand).
    while blocks.next_if(|l| !l.is_empty()).is_some() {}
    let mut cues = Vec::new();
    let mut any_block = false;
    loop {
        while blocks.next_if(|l| l.is_empty()).is_some() {}
        let Some(first) = blocks.next() else { break };
        any_block = true;
        let block_kind = first.split_whitespace().next().unwrap_or("");
        if matches!(block_kind, "NOTE" | "STYLE" | "REGION") {
            while blocks.next_if(|l| !l.is_empty()).is_some() {}
            continue;
        }
        let timing_line = if first.contains("-->") {
            Some(first)
        } else {
            blocks.next_if(|l| l.contains("-->"))
        };
        let times = timing_line.and_then(timing);
        let mut body = String::new();
        while let Some(l) = blocks.next_if(|l| !l.is_empty()) {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(l);
        }
        if let Some((start, end)) = times {
            cues.push(RawCue {
                start,
                end,
                text: body,
            });
        }
    }
    if cues.is_empty() && any_block {
        return Err(no_cues("WebVTT"));
    }
    Ok(cues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cues_and_skips_notes_and_styles() {
        let vtt = "WEBVTT - demo\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:0\n\nNOTE a comment\nstill the note\n\nSTYLE\n::cue { color: red }\n\nintro\n00:01.000 --> 00:02.500 align:start\n<v Bob>Hello</v>\n\n00:00:03.000 --> 00:00:04.000\nWorld\n";
        let cues = parse(vtt).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start, cues[0].end), (1000, 2500));
        assert_eq!(cues[0].text, "<v Bob>Hello</v>");
        assert_eq!(cues[1].text, "World");
    }

    #[test]
    fn an_empty_file_has_no_cues() {
        assert_eq!(parse("WEBVTT\n").unwrap(), Vec::new());
        assert!(parse("hello").is_err());
    }
}
