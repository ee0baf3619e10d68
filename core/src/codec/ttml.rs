//! TTML: the documents text fragments carry, and cue text turned into TTML body content.
//!
//! One complete document per fragment, in the form nginx-vod-module and Unified Origin write
//! for Smooth Streaming: clock times with milliseconds, relative to the fragment's start (the
//! Smooth convention dash.js and ExoPlayer follow), one bottom-centred region.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// A cue as a fragment shows it: times in 10 MHz ticks from the fragment's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cue<'a> {
    pub begin: u64,
    pub end: u64,
    /// Body content from [`body`].
    pub body: &'a [u8],
}

/// A TTML document holding `cues` (an empty `div` when there are none: every fragment the
/// manifest lists must exist and parse).
pub fn document(language: Option<&str>, cues: &[Cue<'_>]) -> Vec<u8> {
    let mut out =
        String::with_capacity(512 + cues.iter().map(|c| c.body.len() + 64).sum::<usize>());
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<tt xmlns=\"http://www.w3.org/ns/ttml\" xmlns:tts=\"http://www.w3.org/ns/ttml#styling\" xml:space=\"preserve\" xml:lang=\"");
    out.push_str(language.unwrap_or("und"));
    out.push_str("\"><head><layout><region xml:id=\"bottom\" tts:origin=\"10% 80%\" tts:extent=\"80% 15%\" tts:textAlign=\"center\" tts:displayAlign=\"after\"/></layout></head><body region=\"bottom\"><div>");
    for c in cues {
        out.push_str("<p begin=\"");
        clock(c.begin, &mut out);
        out.push_str("\" end=\"");
        clock(c.end, &mut out);
        out.push_str("\">");
        // Body content is built by `body` from UTF-8 text, so it is UTF-8.
        out.push_str(core::str::from_utf8(c.body).unwrap_or(""));
        out.push_str("</p>");
    }
    out.push_str("</div></body></tt>\n");
    out.into_bytes()
}

/// `HH:MM:SS.mmm` from 10 MHz ticks (rounded to the millisecond).
fn clock(ticks: u64, out: &mut String) {
    let ms = (ticks + 5_000) / 10_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
}

/// TTML body content for a cue's text lines (SRT or WebVTT cue text): characters escaped,
/// lines joined with `<br/>`, `<b>`, `<i>` and `<u>` as styled spans; other tags (`<c.x>`,
/// `<v Name>`, `<font>`, `<ruby>`, timestamps) and SRT's `{\an8}`-style overrides are dropped
/// with their text kept. Entities (`&amp;`, `&lt;`, `&nbsp;`...) are read as characters.
pub fn body(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut open: Vec<&'static str> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            out.push_str("<br/>");
        }
        let mut rest = line;
        while let Some(ch) = rest.chars().next() {
            match ch {
                '<' => {
                    // A tag starts with a name, `/`, or is a timestamp (`<00:01.000>`); any
                    // other `<` is text ("1 < 2").
                    let end = rest.find('>').filter(|&end| {
                        let inner = &rest[1..end];
                        inner.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
                            || (inner.starts_with(|c: char| c.is_ascii_digit())
                                && inner.contains(':'))
                    });
                    let Some(end) = end else {
                        push_escaped('<', &mut out);
                        rest = &rest[1..];
                        continue;
                    };
                    tag(&rest[1..end], &mut open, &mut out);
                    rest = &rest[end + 1..];
                }
                '{' if rest.starts_with("{\\") => match rest.find('}') {
                    Some(end) => rest = &rest[end + 1..],
                    None => {
                        push_escaped('{', &mut out);
                        rest = &rest[1..];
                    }
                },
                '&' => {
                    let (c, used) = entity(rest);
                    push_escaped(c, &mut out);
                    rest = &rest[used..];
                }
                c => {
                    push_escaped(c, &mut out);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
    }
    // Spans left open by the source are closed, so the document stays well-formed.
    while open.pop().is_some() {
        out.push_str("</span>");
    }
    out
}

/// A cue tag: a styling one opens or closes a span; anything else is dropped.
fn tag(inner: &str, open: &mut Vec<&'static str>, out: &mut String) {
    let inner = inner.trim();
    let (closing, name) = match inner.strip_prefix('/') {
        Some(n) => (true, n),
        None => (false, inner),
    };
    let name = name
        .split(['.', ' ', '\t'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let style = match name.as_str() {
        "b" => "tts:fontWeight=\"bold\"",
        "i" => "tts:fontStyle=\"italic\"",
        "u" => "tts:textDecoration=\"underline\"",
        _ => return,
    };
    if closing {
        // Close the innermost span of this style and any opened inside it.
        if let Some(at) = open.iter().rposition(|s| *s == style) {
            for _ in at..open.len() {
                out.push_str("</span>");
            }
            open.truncate(at);
        }
    } else {
        out.push_str("<span ");
        out.push_str(style);
        out.push('>');
        open.push(style);
    }
}

/// The character an entity at the start of `s` stands for, and its length; a lone `&` is
/// itself.
fn entity(s: &str) -> (char, usize) {
    for (name, c) in [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&apos;", '\''),
        ("&nbsp;", '\u{a0}'),
        ("&lrm;", '\u{200e}'),
        ("&rlm;", '\u{200f}'),
    ] {
        if s.starts_with(name) {
            return (c, name.len());
        }
    }
    ('&', 1)
}

fn push_escaped(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c if c.is_control() => {}
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_escape_and_style() {
        assert_eq!(
            body("Tom & Jerry\n<i>two</i> lines"),
            "Tom &amp; Jerry<br/><span tts:fontStyle=\"italic\">two</span> lines"
        );
        assert_eq!(body("a &lt; b &amp;&amp; c"), "a &lt; b &amp;&amp; c");
        assert_eq!(body("<v Roger>Hi</v> <c.yellow>there</c>"), "Hi there");
        assert_eq!(
            body("{\\an8}<b>top"),
            "<span tts:fontWeight=\"bold\">top</span>"
        );
        assert_eq!(body("1 < 2 > 0"), "1 &lt; 2 &gt; 0");
        assert_eq!(
            body("<b><i>x</b>y"),
            "<span tts:fontWeight=\"bold\"><span tts:fontStyle=\"italic\">x</span></span>y"
        );
    }

    #[test]
    fn documents_have_relative_clock_times() {
        let b = body("Hello");
        let doc = document(
            Some("fra"),
            &[Cue {
                begin: 5_000_000,
                end: 36_123_456,
                body: b.as_bytes(),
            }],
        );
        let doc = String::from_utf8(doc).unwrap();
        assert!(doc.contains("xml:lang=\"fra\""), "{doc}");
        assert!(
            doc.contains("<p begin=\"00:00:00.500\" end=\"00:00:03.612\">Hello</p>"),
            "{doc}"
        );
        let empty = String::from_utf8(document(None, &[])).unwrap();
        assert!(empty.contains("<div></div>"), "{empty}");
    }
}
