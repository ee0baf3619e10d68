//! Reads a manifest back into the [`Manifest`] model (std only: quick-xml needs std).
//!
//! Lenient the way players are: unknown elements and attributes are ignored, `c` entries
//! without `t` continue from the previous entry, and `r` (one-based repeat count) is expanded.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Chunk, Manifest, ProtectionHeader, QualityLevel, StreamIndex};
use crate::media::TrackKind;

/// Parses manifest XML. The error says what is wrong, e.g. "StreamIndex without Type".
pub fn parse(xml: &str) -> Result<Manifest, String> {
    let mut reader = Reader::from_str(xml);
    let mut manifest: Option<Manifest> = None;
    // A ProtectionHeader's SystemID, until its text arrives.
    let mut header: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("manifest XML: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let a = attributes(&e)?;
                match e.local_name().into_inner() {
                    "SmoothStreamingMedia" => manifest = Some(root(&a)?),
                    "StreamIndex" => {
                        let m = manifest
                            .as_mut()
                            .ok_or("StreamIndex outside SmoothStreamingMedia")?;
                        let s = stream_index(&a, m.timescale)?;
                        m.stream_indexes.push(s);
                    }
                    "QualityLevel" => {
                        let s = current_stream(&mut manifest)?;
                        s.quality_levels.push(quality_level(&a)?);
                    }
                    "c" => {
                        let s = current_stream(&mut manifest)?;
                        chunk(&a, &mut s.chunks)?;
                    }
                    "ProtectionHeader" => {
                        header = Some(get(&a, "SystemID").unwrap_or_default().to_string());
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let (Some(system_id), Some(m)) = (header.take(), manifest.as_mut()) {
                    // Base64 has nothing to unescape.
                    let data = t[..].trim().to_string();
                    m.protection = Some(ProtectionHeader { system_id, data });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    manifest.ok_or_else(|| "no SmoothStreamingMedia element".to_string())
}

type Attrs = Vec<(String, String)>;

fn attributes(e: &BytesStart<'_>) -> Result<Attrs, String> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("manifest attribute: {err}"))?;
        let key = attr.key.into_inner().to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("manifest attribute {key}: {err}"))?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

fn get<'a>(a: &'a Attrs, name: &str) -> Option<&'a str> {
    a.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn num<T: core::str::FromStr>(a: &Attrs, name: &str) -> Result<Option<T>, String> {
    match get(a, name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("attribute {name}=\"{v}\" is not a number")),
    }
}

fn root(a: &Attrs) -> Result<Manifest, String> {
    let is_live = get(a, "IsLive").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(Manifest {
        major_version: num(a, "MajorVersion")?.ok_or("MajorVersion missing")?,
        minor_version: num(a, "MinorVersion")?.unwrap_or(0),
        timescale: num(a, "TimeScale")?.unwrap_or(crate::time::MSS_TIMESCALE),
        duration: num(a, "Duration")?.ok_or("Duration missing")?,
        is_live,
        lookahead_count: num(a, "LookAheadFragmentCount")?.or(num(a, "LookaheadCount")?),
        dvr_window_length: num(a, "DVRWindowLength")?,
        stream_indexes: Vec::new(),
        protection: None,
    })
}

fn stream_index(a: &Attrs, root_timescale: u64) -> Result<StreamIndex, String> {
    let kind = match get(a, "Type") {
        Some(t) if t.eq_ignore_ascii_case("video") => TrackKind::Video,
        Some(t) if t.eq_ignore_ascii_case("audio") => TrackKind::Audio,
        Some(t) if t.eq_ignore_ascii_case("text") => TrackKind::Text,
        Some(t) => return Err(format!("StreamIndex Type \"{t}\" is not supported")),
        None => return Err("StreamIndex without Type".to_string()),
    };
    Ok(StreamIndex {
        kind,
        name: get(a, "Name").unwrap_or(kind.as_str()).to_string(),
        language: get(a, "Language").map(str::to_string),
        subtype: get(a, "Subtype").map(str::to_string),
        url: get(a, "Url").ok_or("StreamIndex without Url")?.to_string(),
        timescale: num(a, "TimeScale")?.unwrap_or(root_timescale),
        max_width: num(a, "MaxWidth")?,
        max_height: num(a, "MaxHeight")?,
        quality_levels: Vec::new(),
        chunks: Vec::new(),
    })
}

fn current_stream(m: &mut Option<Manifest>) -> Result<&mut StreamIndex, String> {
    m.as_mut()
        .and_then(|m| m.stream_indexes.last_mut())
        .ok_or_else(|| "QualityLevel or c outside StreamIndex".to_string())
}

fn quality_level(a: &Attrs) -> Result<QualityLevel, String> {
    Ok(QualityLevel {
        index: num(a, "Index")?.unwrap_or(0),
        bitrate: num(a, "Bitrate")?.ok_or("QualityLevel without Bitrate")?,
        fourcc: get(a, "FourCC").unwrap_or("").to_string(),
        codec_private_data: get(a, "CodecPrivateData").unwrap_or("").to_string(),
        max_width: num(a, "MaxWidth")?,
        max_height: num(a, "MaxHeight")?,
        sampling_rate: num(a, "SamplingRate")?,
        channels: num(a, "Channels")?,
        bits_per_sample: num(a, "BitsPerSample")?,
        packet_size: num(a, "PacketSize")?,
        audio_tag: num(a, "AudioTag")?,
        nal_unit_length_field: num(a, "NALUnitLengthField")?,
    })
}

fn chunk(a: &Attrs, chunks: &mut Vec<Chunk>) -> Result<(), String> {
    let d: u64 = num(a, "d")?.ok_or("c without d")?;
    let t = match num::<u64>(a, "t")? {
        Some(t) => t,
        None => chunks.last().map_or(0, |c| c.t + c.d),
    };
    let repeat: u64 = num(a, "r")?.unwrap_or(1).max(1);
    if repeat > 1_000_000 {
        return Err("c repeat count is implausibly large".to_string());
    }
    for i in 0..repeat {
        chunks.push(Chunk { t: t + i * d, d });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::write;
    use std::vec;

    fn sample() -> Manifest {
        Manifest {
            major_version: 2,
            minor_version: 0,
            timescale: 10_000_000,
            duration: 40_000_000,
            is_live: false,
            lookahead_count: None,
            dvr_window_length: None,
            stream_indexes: vec![StreamIndex {
                kind: TrackKind::Video,
                name: "video".into(),
                language: None,
                subtype: None,
                url: "{bitrate}/video/{start time}.fmp4".into(),
                timescale: 10_000_000,
                max_width: Some(640),
                max_height: Some(360),
                quality_levels: vec![QualityLevel {
                    index: 0,
                    bitrate: 500_000,
                    fourcc: "H264".into(),
                    codec_private_data: "000000016764".into(),
                    max_width: Some(640),
                    max_height: Some(360),
                    sampling_rate: None,
                    channels: None,
                    bits_per_sample: None,
                    packet_size: None,
                    audio_tag: None,
                    nal_unit_length_field: Some(4),
                }],
                chunks: vec![
                    Chunk {
                        t: 0,
                        d: 20_000_000,
                    },
                    Chunk {
                        t: 20_000_000,
                        d: 20_000_000,
                    },
                ],
            }],
            protection: None,
        }
    }

    #[test]
    fn write_then_parse_is_identity() {
        for (live, protected) in [(false, false), (true, false), (false, true)] {
            let mut m = sample();
            if protected {
                m.protection = Some(ProtectionHeader {
                    system_id: crate::crypto::playready::SYSTEM_ID.into(),
                    data: "WAIAAAEAAQ==".into(),
                });
                let xml = write(&m);
                assert!(xml.contains("  <Protection>\n    <ProtectionHeader SystemID=\"9a04f079-9840-4286-ab92-e65be0885f95\">WAIAAAEAAQ==</ProtectionHeader>\n  </Protection>\n</SmoothStreamingMedia>"), "{xml}");
            }
            if live {
                m.is_live = true;
                m.duration = 0;
                m.lookahead_count = Some(2);
                m.dvr_window_length = Some(0);
            }
            assert_eq!(parse(&write(&m)), Ok(m));
        }
    }

    #[test]
    fn expands_r_and_missing_t() {
        let xml = r#"<SmoothStreamingMedia MajorVersion="2" Duration="0"><StreamIndex Type="audio" Url="x">
            <c t="5" d="10" r="3"/><c d="7"/></StreamIndex></SmoothStreamingMedia>"#;
        let m = parse(xml).expect("parses");
        let ts: Vec<u64> = m.stream_indexes[0].chunks.iter().map(|c| c.t).collect();
        assert_eq!(ts, vec![5, 15, 25, 35]);
    }

    #[test]
    fn rejects_broken_input() {
        assert!(parse("<SmoothStreamingMedia").is_err() || parse("<SmoothStreamingMedia").is_ok());
        assert!(parse("<nope/>").is_err());
        assert!(parse(r#"<SmoothStreamingMedia MajorVersion="x" Duration="0"/>"#).is_err());
        assert!(parse(r#"<SmoothStreamingMedia MajorVersion="2" Duration="0"><c d="1"/></SmoothStreamingMedia>"#).is_err());
    }
}
