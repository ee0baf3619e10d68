//! SRT (SubRip): numbered blocks of a timing line (`00:00:01,000 --> 00:00:02,500`) and text
//! lines, separated by blank lines.

use alloc::string::String;
use alloc::vec::Vec;

use super::{no_cues, timing, RawCue};
use crate::demux::DemuxError;

pub(crate) fn parse(text: &str) -> Result<Vec<RawCue>, DemuxError> {
    let mut cues = Vec::new();
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).peekable();
    let mut any_content = false;
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        any_content = true;
        // The cue number is optional in practice; the timing line is what counts.
        let timing_line = if line.contains("-->") {
            line
        } else {
            match lines.peek() {
                Some(next) if next.contains("-->") => lines.next().unwrap_or_default(),
                _ => continue,
            }
        };
        let Some((start, end)) = timing(timing_line) else {
            skip_block(&mut lines);
            continue;
        };
        let mut body = String::new();
        while let Some(l) = lines.peek() {
            if l.trim().is_empty() {
                break;
            }
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(l);
            lines.next();
        }
        cues.push(RawCue {
            start,
            end,
            text: body,
        });
    }
    if cues.is_empty() && any_content {
        return Err(no_cues("SRT"));
    }
    Ok(cues)
}

fn skip_block<'a>(lines: &mut core::iter::Peekable<impl Iterator<Item = &'a str>>) {
    while lines.next_if(|l| !l.trim().is_empty()).is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_with_crlf_and_missing_numbers() {
        let cues = parse("1\r\n00:00:01,000 --> 00:00:02,000\r\nOne\r\nTwo\r\n\r\n00:00:03,000 --> 00:00:04,000\r\nThree\r\n").unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "One\nTwo");
        assert_eq!((cues[1].start, cues[1].end), (3000, 4000));
    }

    #[test]
    fn a_bad_block_is_skipped() {
        let cues = parse("1\n00:00:01,000 --> garbage\nX\n\n2\n00:00:05,000 --> 00:00:06,000\nY\n")
            .unwrap();
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].text, "Y");
    }
}
