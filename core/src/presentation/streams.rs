//! Which `StreamIndex` a track belongs to, and the names streams are given.
//!
//! Video has one stream. Audio has one per language: the first is `audio` (so a presentation
//! with one audio track keeps the names every EMS-era client knows), the others are named
//! after their language (`audio_fra`), as Bento4 and IIS name them. Each subtitle input is a
//! text stream (`textstream_eng`).

use alloc::format;
use alloc::string::String;

use crate::media::{Language, TrackKind};

/// A stream of the presentation: an index into its kind's list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKey {
    Video,
    Audio(usize),
    Text(usize),
}

impl StreamKey {
    pub fn kind(self) -> TrackKind {
        match self {
            StreamKey::Video => TrackKind::Video,
            StreamKey::Audio(_) => TrackKind::Audio,
            StreamKey::Text(_) => TrackKind::Text,
        }
    }
}

/// A stream's `Name` (URL-safe: it appears in `Url` and in folder names) and `Language`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamName {
    pub name: String,
    pub language: Option<Language>,
}

/// The name of a new stream of the kind `base` (`audio`, `textstream`), unique among
/// `existing`. The first audio stream is plain `audio`; later ones and text streams carry
/// their language, or a number when it is unknown.
pub(crate) fn new_name(
    existing: &[StreamName],
    base: &str,
    language: Option<Language>,
) -> StreamName {
    let mut name = match language {
        _ if existing.is_empty() && base == "audio" => String::from(base),
        Some(l) => format!("{base}_{}", l.as_str()),
        None if existing.is_empty() => String::from(base),
        None => format!("{base}_{}", existing.len() + 1),
    };
    let mut n = 2;
    let stem = name.clone();
    while existing.iter().any(|s| s.name == name) {
        name = format!("{stem}_{n}");
        n += 1;
    }
    StreamName { name, language }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn names(base: &str, langs: &[Option<&[u8]>]) -> Vec<String> {
        let mut out: Vec<StreamName> = Vec::new();
        for l in langs {
            let s = new_name(&out, base, l.and_then(Language::new));
            out.push(s);
        }
        out.into_iter().map(|s| s.name).collect()
    }

    #[test]
    fn audio_streams_are_audio_then_by_language() {
        assert_eq!(
            names("audio", &[Some(b"eng"), Some(b"fra"), None, Some(b"fra")]),
            ["audio", "audio_fra", "audio_3", "audio_fra_2"]
        );
        assert_eq!(names("audio", &[None]), ["audio"]);
    }

    #[test]
    fn text_streams_carry_their_language() {
        assert_eq!(
            names("textstream", &[Some(b"eng"), None, Some(b"eng"), None]),
            [
                "textstream_eng",
                "textstream_2",
                "textstream_eng_2",
                "textstream_4"
            ]
        );
        assert_eq!(names("textstream", &[None]), ["textstream"]);
    }
}
