//! One RTMP publish: the registry's [`Publisher`] plus the FLV tag demuxer that turns RTMP
//! audio/video messages into tracks and samples.

use smoothcast_core::demux::flv::{FlvDemuxer, TAG_AUDIO, TAG_VIDEO};
use smoothcast_core::demux::{DemuxError, DemuxEvent, Demuxer};
use smoothcast_core::media::CodecConfig;

use crate::streams::{Publisher, StreamItem};

/// Longest stream name accepted; names become folder and file names in outputs.
const MAX_NAME_LEN: usize = 200;

/// Checks an RTMP stream key and turns it into a local stream name.
///
/// Names end up in paths (outputs write `<targetFolder>/<name>/...`), so anything that could
/// climb out of a folder or confuse a file system is refused rather than rewritten: the
/// operator sees the publish fail instead of a stream appearing under a different name.
/// A `?query` suffix (tokens some encoders append to the key) is not part of the name.
pub fn stream_name(stream_key: &str) -> Result<&str, &'static str> {
    let name = stream_key.split('?').next().unwrap_or_default();
    if name.is_empty() {
        return Err("the stream name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("the stream name is too long");
    }
    if name.contains(['/', '\\']) || name.contains("..") {
        return Err("the stream name contains a path separator or '..'");
    }
    if name.chars().any(char::is_control) {
        return Err("the stream name contains control characters");
    }
    Ok(name)
}

/// Which RTMP message carried a tag.
#[derive(Debug, Clone, Copy)]
pub enum TagKind {
    Audio,
    Video,
}

/// A publish in progress. Dropping it drops the [`Publisher`], which ends the local stream.
pub struct Publish {
    pub publisher: Publisher,
    demuxer: FlvDemuxer,
    /// Socket bytes read since the last item was sent; charged to the next item so the
    /// stream's bytes-in total matches what came over the wire.
    unbilled_bytes: u64,
}

impl Publish {
    pub fn new(publisher: Publisher) -> Self {
        Self {
            publisher,
            demuxer: FlvDemuxer::tags_only(),
            unbilled_bytes: 0,
        }
    }

    /// Counts bytes that arrived on the connection while this publish is active.
    pub fn add_wire_bytes(&mut self, n: u64) {
        self.unbilled_bytes += n;
    }

    /// Demuxes one audio or video message and forwards what it yields, as it arrives: no
    /// reordering or batching, so subscribers see media in the publisher's (real-time) order.
    pub fn tag(
        &mut self,
        kind: TagKind,
        timestamp_ms: u32,
        payload: &bytes::Bytes,
    ) -> Result<(), DemuxError> {
        let tag_type = match kind {
            TagKind::Audio => TAG_AUDIO,
            TagKind::Video => TAG_VIDEO,
        };
        // Samples are slices of the RTMP message, not copies.
        self.demuxer
            .push_tag_shared(tag_type, timestamp_ms, payload)?;
        while let Some(event) = self.demuxer.poll() {
            let item = match event {
                DemuxEvent::Track(info) | DemuxEvent::TrackChanged(info) => {
                    tracing::info!(
                        stream = %self.publisher.name(),
                        track = info.id,
                        "RTMP track: {}",
                        describe(&info.codec)
                    );
                    StreamItem::Track(info)
                }
                DemuxEvent::Sample(sample) => StreamItem::Sample(sample),
                // Only seekable demuxers ask to seek; a tag demuxer never does.
                DemuxEvent::Seek(_) => continue,
                DemuxEvent::Ignored { track, reason } => {
                    tracing::warn!(stream = %self.publisher.name(), track, "RTMP track not packaged: {reason}");
                    continue;
                }
            };
            let wire = std::mem::take(&mut self.unbilled_bytes);
            self.publisher.send(item, wire);
        }
        Ok(())
    }
}

/// One line for the log, without dumping parameter sets.
fn describe(codec: &CodecConfig) -> String {
    match codec {
        CodecConfig::H264(c) => format!("H.264 {}x{}", c.width, c.height),
        CodecConfig::Aac(c) => format!(
            "AAC (object type {}) {} Hz, {} ch",
            c.object_type, c.sample_rate, c.channels
        ),
        CodecConfig::Text(_) => String::from("text"),
    }
}

#[cfg(test)]
mod tests {
    use super::stream_name;

    #[test]
    fn names() {
        assert_eq!(stream_name("cam1"), Ok("cam1"));
        assert_eq!(stream_name("cam1?token=x/y"), Ok("cam1"));
        assert_eq!(stream_name("cam 1_b-c.d"), Ok("cam 1_b-c.d"));
        for bad in ["", "?x", "a/b", "a\\b", "..", "a..b", "a\nb", "a\0"] {
            assert!(stream_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(stream_name(&"x".repeat(201)).is_err());
    }
}
