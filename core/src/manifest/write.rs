//! Renders a [`Manifest`] as XML with `core::fmt`, attribute order fixed so that output is
//! byte-identical on every host.

use alloc::string::String;
use core::fmt::Write;

use super::{Manifest, QualityLevel, StreamIndex};

/// The manifest as an XML document (UTF-8, CRLF-free, one element per line).
pub fn write(m: &Manifest) -> String {
    let mut out = String::with_capacity(
        512 + m
            .stream_indexes
            .iter()
            .map(|s| s.chunks.len() * 48)
            .sum::<usize>(),
    );
    // Writing into a String cannot fail; the Result is only fmt's signature.
    let _ = write_into(m, &mut out);
    out
}

fn write_into(m: &Manifest, out: &mut String) -> core::fmt::Result {
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    write!(
        out,
        "<SmoothStreamingMedia MajorVersion=\"{}\" MinorVersion=\"{}\" TimeScale=\"{}\" Duration=\"{}\"",
        m.major_version, m.minor_version, m.timescale, m.duration
    )?;
    if m.is_live {
        out.push_str(" IsLive=\"TRUE\"");
    }
    if let Some(n) = m.lookahead_count {
        write!(out, " LookAheadFragmentCount=\"{n}\"")?;
    }
    if let Some(w) = m.dvr_window_length {
        write!(out, " DVRWindowLength=\"{w}\"")?;
    }
    if !m.is_live {
        out.push_str(" CanSeek=\"TRUE\" CanPause=\"TRUE\"");
    }
    out.push_str(">\n");
    for s in &m.stream_indexes {
        write_stream_index(s, out)?;
    }
    // After the StreamIndex elements, as nginx-vod and Bento4 write it; exactly one header
    // (dash.js takes the first ProtectionHeader as PlayReady's whatever its SystemID).
    if let Some(p) = &m.protection {
        out.push_str("  <Protection>\n    <ProtectionHeader SystemID=\"");
        escape(&p.system_id, out);
        out.push_str("\">");
        escape(&p.data, out);
        out.push_str("</ProtectionHeader>\n  </Protection>\n");
    }
    out.push_str("</SmoothStreamingMedia>\n");
    Ok(())
}

fn write_stream_index(s: &StreamIndex, out: &mut String) -> core::fmt::Result {
    write!(out, "  <StreamIndex Type=\"{}\" Name=\"", s.kind.as_str())?;
    escape(&s.name, out);
    out.push('"');
    if let Some(language) = &s.language {
        out.push_str(" Language=\"");
        escape(language, out);
        out.push('"');
    }
    if let Some(subtype) = &s.subtype {
        out.push_str(" Subtype=\"");
        escape(subtype, out);
        out.push('"');
    }
    write!(
        out,
        " Chunks=\"{}\" QualityLevels=\"{}\" Url=\"",
        s.chunks.len(),
        s.quality_levels.len()
    )?;
    escape(&s.url, out);
    write!(out, "\" TimeScale=\"{}\"", s.timescale)?;
    if let (Some(w), Some(h)) = (s.max_width, s.max_height) {
        write!(
            out,
            " MaxWidth=\"{w}\" MaxHeight=\"{h}\" DisplayWidth=\"{w}\" DisplayHeight=\"{h}\""
        )?;
    }
    out.push_str(">\n");
    for q in &s.quality_levels {
        write_quality_level(q, out)?;
    }
    for c in &s.chunks {
        writeln!(out, "    <c t=\"{}\" d=\"{}\"/>", c.t, c.d)?;
    }
    out.push_str("  </StreamIndex>\n");
    Ok(())
}

fn write_quality_level(q: &QualityLevel, out: &mut String) -> core::fmt::Result {
    write!(
        out,
        "    <QualityLevel Index=\"{}\" Bitrate=\"{}\" FourCC=\"",
        q.index, q.bitrate
    )?;
    escape(&q.fourcc, out);
    out.push('"');
    let attrs = [
        ("MaxWidth", q.max_width),
        ("MaxHeight", q.max_height),
        ("SamplingRate", q.sampling_rate),
        ("Channels", q.channels),
        ("BitsPerSample", q.bits_per_sample),
        ("PacketSize", q.packet_size),
        ("AudioTag", q.audio_tag),
    ];
    for (name, value) in attrs {
        if let Some(v) = value {
            write!(out, " {name}=\"{v}\"")?;
        }
    }
    out.push_str(" CodecPrivateData=\"");
    escape(&q.codec_private_data, out);
    out.push('"');
    if let Some(n) = q.nal_unit_length_field {
        write!(out, " NALUnitLengthField=\"{n}\"")?;
    }
    out.push_str("/>\n");
    Ok(())
}

/// XML attribute and text escaping (also the live server manifest's, `isml::lsm`).
pub(crate) fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
