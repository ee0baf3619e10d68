//! Text streams: a subtitle input's cues cut into one TTML document per fragment, on the
//! presentation's grid, once every media input has been read.

use alloc::vec;
use alloc::vec::Vec;

use bytes::Bytes;

use super::track::ClosedFragment;
use super::{Presentation, PresentationError};
use crate::codec::ttml;
use crate::fragment::TrunSample;
use crate::media::{Language, TrackKind};

/// A text stream's nominal `Bitrate`: players substitute it into the `Url` and dash.js needs
/// one; the documents are a few hundred bytes per fragment.
pub const TEXT_BITRATE: u32 = 1000;

/// `StreamIndex@Subtype` of text streams: subtitles (dash.js: role `alternate`).
pub const SUBTYPE: &str = "SUBT";

impl Presentation {
    /// Writes every text stream's fragments: one per video fragment (every `c` needs one,
    /// an empty document where no cue shows), cue times relative to the fragment's start.
    pub(super) fn emit_text(&mut self) -> Result<(), PresentationError> {
        let text_levels: Vec<usize> = (0..self.levels.len())
            .filter(|&i| self.levels[i].text_level)
            .collect();
        if text_levels.is_empty() {
            return Ok(());
        }
        let grid = self.text_grid();
        for i in text_levels {
            let cues = core::mem::take(&mut self.levels[i].cues);
            let language = self.levels[i]
                .stream
                .and_then(|s| self.text_streams.get(s))
                .and_then(|s| s.language);
            for &(t, d) in &grid {
                let doc = document(language, &cues, t, d);
                let samples = vec![TrunSample {
                    duration: u32::try_from(d).unwrap_or(u32::MAX),
                    size: u32::try_from(doc.len()).unwrap_or(u32::MAX),
                    flags: 0,
                    cts_offset: 0,
                }];
                if let Some(track) = self.levels[i].text.as_mut() {
                    track.chunks.push((t, d));
                }
                let closed = ClosedFragment {
                    kind: TrackKind::Text,
                    start: t,
                    duration: d,
                    samples,
                    payload: vec![Bytes::from(doc)],
                    forced: None,
                };
                self.emit_fragment(i, closed);
            }
        }
        Ok(())
    }

    /// The fragments text follows: the video's (every video level has the same on demand),
    /// else the first audio stream's, else `chunk_length` steps over the cues.
    fn text_grid(&self) -> Vec<(u64, u64)> {
        if let Some(v) = self.levels.iter().find_map(|l| l.video.as_ref()) {
            return v.chunks.clone();
        }
        if let Some(a) = self
            .levels
            .iter()
            .filter(|l| l.stream == Some(0))
            .find_map(|l| l.audio.as_ref())
        {
            return a.chunks.clone();
        }
        let end = self
            .levels
            .iter()
            .flat_map(|l| l.cues.iter())
            .map(|c| c.end.max(0) as u64)
            .max()
            .unwrap_or(0);
        let step = self.options.chunk_length.max(1);
        (0..end.div_ceil(step))
            .map(|i| (i * step, step.min(end - i * step)))
            .collect()
    }
}

/// The TTML document of the fragment `[t, t + d)`: the cues that show in it, clipped to it.
fn document(language: Option<Language>, cues: &[super::level::Cue], t: u64, d: u64) -> Vec<u8> {
    let (start, end) = (t as i64, t.saturating_add(d) as i64);
    let shown: Vec<ttml::Cue<'_>> = cues
        .iter()
        .filter(|c| c.start < end && c.end > start)
        .map(|c| ttml::Cue {
            begin: (c.start.max(start) - start) as u64,
            end: (c.end.min(end) - start) as u64,
            body: &c.body,
        })
        .collect();
    ttml::document(language.as_ref().map(Language::as_str), &shown)
}

/// The language a sidecar file's name states, as media players read it: the part before
/// the extension, `movie.fra.srt` or `movie.fr.srt`. Two-letter codes are mapped for common
/// languages; three-letter codes must be among those (a bare word such as `big` in
/// `a.big.mp4` is not taken for a language).
pub fn sidecar_language(name: &str) -> Option<Language> {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut parts = file.rsplit('.');
    let _extension = parts.next()?;
    let tag = parts.next()?;
    parts.next()?; // a stem must remain
    let tag = tag.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(two, three)| *two == tag || *three == tag)
        .and_then(|(_, three)| Language::new(three.as_bytes()))
}

/// ISO 639-1 to 639-2/T for the languages subtitles most often come in.
const LANGUAGES: &[(&str, &str)] = &[
    ("ar", "ara"),
    ("bg", "bul"),
    ("ca", "cat"),
    ("cs", "ces"),
    ("da", "dan"),
    ("de", "deu"),
    ("el", "ell"),
    ("en", "eng"),
    ("es", "spa"),
    ("et", "est"),
    ("fa", "fas"),
    ("fi", "fin"),
    ("fr", "fra"),
    ("he", "heb"),
    ("hi", "hin"),
    ("hr", "hrv"),
    ("hu", "hun"),
    ("id", "ind"),
    ("is", "isl"),
    ("it", "ita"),
    ("ja", "jpn"),
    ("ko", "kor"),
    ("lt", "lit"),
    ("lv", "lav"),
    ("ms", "msa"),
    ("nb", "nob"),
    ("nl", "nld"),
    ("no", "nor"),
    ("pl", "pol"),
    ("pt", "por"),
    ("ro", "ron"),
    ("ru", "rus"),
    ("sk", "slk"),
    ("sl", "slv"),
    ("sr", "srp"),
    ("sv", "swe"),
    ("th", "tha"),
    ("tr", "tur"),
    ("uk", "ukr"),
    ("vi", "vie"),
    ("zh", "zho"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_from_sidecar_names() {
        let lang = |n| sidecar_language(n).map(|l| alloc::string::String::from(l.as_str()));
        assert_eq!(lang("movie.fra.srt").as_deref(), Some("fra"));
        assert_eq!(lang("dir/movie.FR.vtt").as_deref(), Some("fra"));
        assert_eq!(lang("movie.en.m4a").as_deref(), Some("eng"));
        assert_eq!(lang("movie.srt"), None);
        assert_eq!(lang("a.big.mp4"), None);
        assert_eq!(lang("fra.srt"), None);
    }
}
