//! `uuid` LiveServerManifestBox ([MS-SSTR] 2.2.7.3): the SMIL document a Smooth ingest
//! encoder sends after `ftyp`, naming each track's bitrate, `trackName` and codec data.
//!
//! Read the way receivers must read what encoders really send (shared/reference
//! smooth-ingest.md §4): any namespace prefix, UTF-8 with or without a BOM or UTF-16 with
//! one, attribute names in any case (ffmpeg writes `valuetype`, RMS and USP `valueType`; the
//! attribute itself is ignored), `src` optional. Only what a publishing point uses is kept.
//! The scanner is a small tag reader, not a full XML parser: SMIL has no text content we
//! need, and the core stays `no_std` (quick-xml needs std).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::demux::DemuxError;

/// The box's `usertype`.
pub const LSM_UUID: [u8; 16] = [
    0xa5, 0xd4, 0x0b, 0x30, 0xe8, 0x14, 0x11, 0xdd, 0xba, 0x2f, 0x08, 0x00, 0x20, 0x0c, 0x9a, 0x66,
];

/// Tracks one manifest may declare unless the caller says otherwise.
pub const DEFAULT_MAX_TRACKS: usize = 16;

/// `param`s kept per track (the rest are ignored): ffmpeg writes 11.
const MAX_PARAMS: usize = 64;

/// What kind of element declared a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsmKind {
    Video,
    Audio,
    Text,
}

/// One `video`, `audio` or `textstream` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsmTrack {
    pub kind: LsmKind,
    /// `systemBitrate` (the attribute, else the param); 0 when the encoder had no target.
    pub system_bitrate: u32,
    /// `trackID`: the track_ID of tkhd and tfhd.
    pub track_id: u32,
    /// `trackName`: the client's `StreamIndex` name.
    pub track_name: Option<String>,
    /// `timescale` (default 10 MHz when absent; the track's `mdhd` decides).
    pub timescale: Option<u64>,
    /// `systemLanguage` (attribute or param).
    pub language: Option<String>,
    pub fourcc: Option<String>,
    /// Hex, as the client manifest's `CodecPrivateData`.
    pub codec_private_data: Option<String>,
    /// Every `param` (name, value) in order, at most [`MAX_PARAMS`].
    pub params: Vec<(String, String)>,
}

impl LsmTrack {
    /// The value of a `param` by name, in any case.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The manifest: the encoder's `meta name="creator"`, and its tracks in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveManifest {
    pub creator: Option<String>,
    pub tracks: Vec<LsmTrack>,
}

impl LiveManifest {
    /// The sum of the tracks' `systemBitrate`s: the quality level's bitrate when one POST
    /// carries one video and its audio (0 when none is given).
    pub fn total_bitrate(&self) -> u64 {
        self.tracks
            .iter()
            .map(|t| u64::from(t.system_bitrate))
            .sum()
    }

    pub fn track(&self, id: u32) -> Option<&LsmTrack> {
        self.tracks.iter().find(|t| t.track_id == id)
    }
}

/// Whether a `uuid` box body (after its 8-byte header) is a LiveServerManifestBox.
pub fn is_lsm(uuid_body: &[u8]) -> bool {
    uuid_body.get(..16) == Some(&LSM_UUID[..])
}

/// Parses a LiveServerManifestBox body after its usertype: version, flags, then the XML to
/// the end of the box.
pub fn parse_box(body: &[u8], max_tracks: usize) -> Result<LiveManifest, DemuxError> {
    let xml = body
        .get(4..)
        .ok_or_else(|| DemuxError::malformed("live server manifest box is too short"))?;
    if body[0] != 0 {
        return Err(DemuxError::unsupported(format!(
            "live server manifest box version {}",
            body[0]
        )));
    }
    let text = decode_text(xml)?;
    parse_smil(&text, max_tracks)
}

/// The document as text: UTF-16 (with its BOM) or UTF-8 (BOM optional); a NUL terminator,
/// which some writers add, ends it.
fn decode_text(xml: &[u8]) -> Result<String, DemuxError> {
    let bad = || DemuxError::malformed("live server manifest is not valid UTF-8 or UTF-16");
    let utf16 = |be: bool| {
        let units = xml[2..].chunks_exact(2).map(|c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .take_while(|c| !matches!(c, Ok('\0')))
            .collect::<Result<String, _>>()
            .map_err(|_| bad())
    };
    match xml {
        [0xff, 0xfe, ..] => utf16(false),
        [0xfe, 0xff, ..] => utf16(true),
        _ => {
            let xml = xml.strip_prefix(&[0xef, 0xbb, 0xbf][..]).unwrap_or(xml);
            let end = xml.iter().position(|&b| b == 0).unwrap_or(xml.len());
            core::str::from_utf8(&xml[..end])
                .map(ToString::to_string)
                .map_err(|_| bad())
        }
    }
}

/// Parses the SMIL text.
pub fn parse_smil(xml: &str, max_tracks: usize) -> Result<LiveManifest, DemuxError> {
    let mut m = LiveManifest::default();
    let mut saw_smil = false;
    // The track element being read (its params follow until its end tag).
    let mut open: Option<(LsmTrackBuilder, String)> = None;
    let mut tags = Tags { rest: xml };
    while let Some(tag) = tags.next_tag()? {
        let name = local(tag.name);
        if tag.end {
            let closes = open
                .as_ref()
                .is_some_and(|(_, element)| element.eq_ignore_ascii_case(name));
            if let Some((b, _)) = open.take_if(|_| closes) {
                push_track(&mut m, b.build()?, max_tracks)?;
            }
            continue;
        }
        let kind = match name.to_ascii_lowercase().as_str() {
            "smil" => {
                saw_smil = true;
                continue;
            }
            "meta" => {
                if tag
                    .attr("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("creator"))
                {
                    m.creator = tag.attr("content").map(ToString::to_string);
                }
                continue;
            }
            "param" => {
                if let (Some((b, _)), Some(n)) = (open.as_mut(), tag.attr("name")) {
                    if b.params.len() < MAX_PARAMS {
                        let v = tag.attr("value").unwrap_or_default();
                        b.params.push((n.to_string(), v.to_string()));
                    }
                }
                continue;
            }
            "video" => LsmKind::Video,
            "audio" => LsmKind::Audio,
            "textstream" => LsmKind::Text,
            _ => continue,
        };
        if let Some((b, _)) = open.take() {
            // A track element left open: it ends where the next begins.
            push_track(&mut m, b.build()?, max_tracks)?;
        }
        let b = LsmTrackBuilder {
            kind,
            bitrate: tag.attr("systemBitrate").map(ToString::to_string),
            language: tag.attr("systemLanguage").map(ToString::to_string),
            params: Vec::new(),
        };
        if tag.empty {
            push_track(&mut m, b.build()?, max_tracks)?;
        } else {
            open = Some((b, name.to_string()));
        }
    }
    if let Some((b, _)) = open.take() {
        push_track(&mut m, b.build()?, max_tracks)?;
    }
    if !saw_smil {
        return Err(DemuxError::malformed(
            "live server manifest has no smil element",
        ));
    }
    if m.tracks.is_empty() {
        return Err(DemuxError::malformed(
            "live server manifest declares no video, audio or textstream",
        ));
    }
    Ok(m)
}

fn push_track(m: &mut LiveManifest, t: LsmTrack, max_tracks: usize) -> Result<(), DemuxError> {
    if m.tracks.len() >= max_tracks {
        return Err(DemuxError::unsupported(format!(
            "live server manifest declares more than {max_tracks} tracks"
        )));
    }
    if m.tracks.iter().any(|x| x.track_id == t.track_id) {
        return Err(DemuxError::malformed(format!(
            "live server manifest declares trackID {} twice",
            t.track_id
        )));
    }
    m.tracks.push(t);
    Ok(())
}

struct LsmTrackBuilder {
    kind: LsmKind,
    bitrate: Option<String>,
    language: Option<String>,
    params: Vec<(String, String)>,
}

impl LsmTrackBuilder {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn build(self) -> Result<LsmTrack, DemuxError> {
        let number = |what: &str, v: &str| {
            v.trim().parse::<u64>().map_err(|_| {
                DemuxError::malformed(format!(
                    "live server manifest: {what}=\"{v}\" is not a number"
                ))
            })
        };
        let track_id = match self.param("trackID") {
            Some(v) => u32::try_from(number("trackID", v)?)
                .map_err(|_| DemuxError::malformed("live server manifest: trackID too large"))?,
            None => {
                return Err(DemuxError::malformed(
                    "live server manifest: a track has no trackID",
                ))
            }
        };
        let bitrate = match self.bitrate.as_deref().or(self.param("systemBitrate")) {
            Some(v) => u32::try_from(number("systemBitrate", v)?).unwrap_or(u32::MAX),
            None => 0,
        };
        let timescale = match self.param("timescale") {
            Some(v) => Some(number("timescale", v)?).filter(|&t| t > 0),
            None => None,
        };
        let owned = |name: &str| self.param(name).map(ToString::to_string);
        Ok(LsmTrack {
            kind: self.kind,
            system_bitrate: bitrate,
            track_id,
            track_name: owned("trackName").filter(|n| !n.is_empty()),
            timescale,
            language: owned("systemLanguage").or(self.language.clone()),
            fourcc: owned("FourCC"),
            codec_private_data: owned("CodecPrivateData"),
            params: self.params,
        })
    }
}

/// The name without its namespace prefix (`smil:video` -> `video`).
fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// One start, end or empty-element tag.
struct Tag<'a> {
    name: &'a str,
    end: bool,
    empty: bool,
    attrs: Vec<(&'a str, String)>,
}

impl Tag<'_> {
    /// An attribute by local name, in any case.
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| local(k).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Tags<'a> {
    rest: &'a str,
}

impl<'a> Tags<'a> {
    /// The next tag, skipping text, comments, processing instructions, declarations and
    /// CDATA. `Ok(None)` at the end of the document.
    fn next_tag(&mut self) -> Result<Option<Tag<'a>>, DemuxError> {
        loop {
            let Some(lt) = self.rest.find('<') else {
                return Ok(None);
            };
            let s = &self.rest[lt..];
            let mut skipped = false;
            for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")] {
                if let Some(after) = s.strip_prefix(open) {
                    let end = after.find(close).ok_or_else(unterminated)?;
                    self.rest = &after[end + close.len()..];
                    skipped = true;
                    break;
                }
            }
            if skipped {
                continue;
            }
            if s.starts_with("<!") {
                let end = s.find('>').ok_or_else(unterminated)?;
                self.rest = &s[end + 1..];
                continue;
            }
            return self.tag(s).map(Some);
        }
    }

    fn tag(&mut self, s: &'a str) -> Result<Tag<'a>, DemuxError> {
        let mut body = &s[1..];
        let end = body.starts_with('/');
        if end {
            body = &body[1..];
        }
        let name_len = body
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or_else(unterminated)?;
        let name = &body[..name_len];
        if name.is_empty() {
            return Err(DemuxError::malformed(
                "live server manifest: a tag without a name",
            ));
        }
        let mut p = &body[name_len..];
        let mut attrs = Vec::new();
        loop {
            p = p.trim_start();
            if let Some(after) = p.strip_prefix("/>") {
                self.rest = after;
                return Ok(Tag {
                    name,
                    end,
                    empty: true,
                    attrs,
                });
            }
            if let Some(after) = p.strip_prefix('>') {
                self.rest = after;
                return Ok(Tag {
                    name,
                    end,
                    empty: false,
                    attrs,
                });
            }
            let eq = p.find('=').ok_or_else(unterminated)?;
            let key = p[..eq].trim();
            let v = p[eq + 1..].trim_start();
            let quote = v.chars().next().filter(|&c| c == '"' || c == '\'');
            let Some(quote) = quote else {
                return Err(DemuxError::malformed(format!(
                    "live server manifest: attribute {key} is not quoted"
                )));
            };
            let close = v[1..].find(quote).ok_or_else(unterminated)?;
            attrs.push((key, unescape(&v[1..1 + close])));
            p = &v[close + 2..];
        }
    }
}

fn unterminated() -> DemuxError {
    DemuxError::malformed("live server manifest: unterminated markup")
}

/// Replaces the five named entities and numeric character references; anything else is
/// kept as written.
fn unescape(v: &str) -> String {
    if !v.contains('&') {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';').filter(|&i| i <= 12) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// ffmpeg 5.1's manifest for one H.264 and one AAC track (observed, shortened CPD).
    pub(crate) const FFMPEG_SMIL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
<head>
<meta name="creator" content="Lavf59.27.100" />
</head>
<body>
<switch>
<video systemBitrate="100000">
<param name="systemBitrate" value="100000" valuetype="data"/>
<param name="trackID" value="1" valuetype="data"/>
<param name="systemLanguage" value="und" valuetype="data"/>
<param name="trackName" value="video" valuetype="data"/>
<param name="CodecPrivateData" value="0000000167F4000B" valuetype="data"/>
<param name="FourCC" value="H264" valuetype="data"/>
<param name="MaxWidth" value="160" valuetype="data"/>
</video>
<audio systemBitrate="32000">
<param name="systemBitrate" value="32000" valuetype="data"/>
<param name="trackID" value="2" valuetype="data"/>
<param name="trackName" value="audio" valuetype="data"/>
<param name="FourCC" value="AACL" valuetype="data"/>
<param name="CodecPrivateData" value="118856E500" valuetype="data"/>
</audio>
</switch>
</body>
</smil>
"#;

    #[test]
    fn ffmpeg_manifest() {
        let m = parse_smil(FFMPEG_SMIL, DEFAULT_MAX_TRACKS).unwrap();
        assert_eq!(m.creator.as_deref(), Some("Lavf59.27.100"));
        assert_eq!(m.tracks.len(), 2);
        let v = &m.tracks[0];
        assert_eq!(
            (v.kind, v.system_bitrate, v.track_id),
            (LsmKind::Video, 100_000, 1)
        );
        assert_eq!(v.track_name.as_deref(), Some("video"));
        assert_eq!(v.language.as_deref(), Some("und"));
        assert_eq!(v.fourcc.as_deref(), Some("H264"));
        assert_eq!(v.param("maxwidth"), Some("160"));
        assert_eq!(v.timescale, None);
        let a = &m.tracks[1];
        assert_eq!(
            (a.kind, a.system_bitrate, a.track_id),
            (LsmKind::Audio, 32_000, 2)
        );
        assert_eq!(a.codec_private_data.as_deref(), Some("118856E500"));
        assert_eq!(m.total_bitrate(), 132_000);
    }

    /// RMS/USP spelling (`valueType`), a namespace prefix, a timescale, an entity, `src`,
    /// single quotes, comments; UTF-16 with a BOM and UTF-8 with one.
    #[test]
    fn tolerant_forms() {
        let xml = "<?xml version='1.0'?><!-- x --><s:smil xmlns:s='http://www.w3.org/2001/SMIL20/Language'>\
            <s:body><s:switch><s:video src='Stream' systemBitrate='500000' systemLanguage='eng'>\
            <s:param name='trackID' value='7' valueType='data'/>\
            <s:param NAME='timescale' VALUE='90000'/>\
            <s:param name='trackName' value='v&amp;1'/></s:video>\
            <s:textstream systemBitrate='1000'><s:param name='trackID' value='9'/></s:textstream>\
            </s:switch></s:body></s:smil>";
        let m = parse_smil(xml, 4).unwrap();
        assert_eq!(m.tracks.len(), 2);
        assert_eq!(m.tracks[0].track_id, 7);
        assert_eq!(m.tracks[0].timescale, Some(90_000));
        assert_eq!(m.tracks[0].track_name.as_deref(), Some("v&1"));
        assert_eq!(m.tracks[0].language.as_deref(), Some("eng"));
        assert_eq!(m.tracks[1].kind, LsmKind::Text);

        let mut body = vec![0u8, 0, 0, 0, 0xff, 0xfe];
        for u in FFMPEG_SMIL.encode_utf16() {
            body.extend(u.to_le_bytes());
        }
        assert_eq!(parse_box(&body, 16).unwrap().tracks.len(), 2);
        let mut body = vec![0u8, 0, 0, 0, 0xef, 0xbb, 0xbf];
        body.extend(FFMPEG_SMIL.as_bytes());
        body.push(0);
        assert_eq!(parse_box(&body, 16).unwrap().tracks.len(), 2);
    }

    #[test]
    fn refusals() {
        // No trackID, no tracks, no smil, too many tracks, a duplicate id, bad number,
        // unterminated markup, not text.
        for (xml, max) in [
            ("<smil><body><video systemBitrate='1'/></body></smil>", 4),
            ("<smil><body></body></smil>", 4),
            ("<video><param name='trackID' value='1'/></video>", 4),
            (
                "<smil><video><param name='trackID' value='1'/></video>\
                 <audio><param name='trackID' value='2'/></audio></smil>",
                1,
            ),
            (
                "<smil><video><param name='trackID' value='1'/></video>\
                 <audio><param name='trackID' value='1'/></audio></smil>",
                4,
            ),
            (
                "<smil><video><param name='trackID' value='x'/></video></smil>",
                4,
            ),
            ("<smil><video><param name='trackID' value='1", 4),
            (
                "<smil><video><param name=trackID value='1'/></video></smil>",
                4,
            ),
        ] {
            assert!(parse_smil(xml, max).is_err(), "{xml}");
        }
        assert!(parse_box(&[0, 0, 0, 0, 0xc3, 0x28], 4).is_err());
        assert!(parse_box(&[1, 0, 0, 0], 4).is_err());
        assert!(parse_box(&[0, 0], 4).is_err());
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape("a&lt;b&#65;&#x42;&bogus;&"), "a<bAB&bogus;&");
    }
}
