//! A look at each RTMP message before rml_rtmp's session handles it, for the two things the
//! session cannot be trusted with on hostile input:
//!
//! - **AMF nesting.** rml_amf0 decodes nested objects and arrays recursively with no depth
//!   limit, so one `connect` of ~800 KB of nested objects overflows the task's stack, and a
//!   stack overflow aborts the whole server (measured; `catch_unwind` cannot help). AMF
//!   messages nested deeper than [`MAX_AMF_DEPTH`] are refused before the session sees them.
//! - **Buffering.** The session holds a partial message without a bound (a header may
//!   announce 16 MiB, and a malformed header sequence can make it grow forever); a peer may
//!   send at most [`MAX_UNPARSED_BYTES`] without completing a message.
//!
//! It parses chunks with rml_rtmp's own [`ChunkDeserializer`] and follows the peer's
//! SetChunkSize exactly as the session does, so both see the same message boundaries.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::messages::{MessagePayload, RtmpMessage};

/// Bytes a peer may send without completing a message; far above any real video frame.
pub const MAX_UNPARSED_BYTES: u64 = 8 << 20;

/// Deepest AMF0 nesting accepted. Real commands and metadata nest two or three levels.
pub const MAX_AMF_DEPTH: usize = 32;

const TYPE_SET_CHUNK_SIZE: u8 = 1;
const TYPE_AMF3_DATA: u8 = 15;
const TYPE_AMF3_COMMAND: u8 = 17;
const TYPE_AMF0_DATA: u8 = 18;
const TYPE_AMF0_COMMAND: u8 = 20;

pub struct Guard {
    chunks: ChunkDeserializer,
    unparsed_bytes: u64,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    pub fn new() -> Self {
        Self {
            chunks: ChunkDeserializer::new(),
            unparsed_bytes: 0,
        }
    }

    /// Checks the next bytes of the peer's chunk stream (every byte, in order). `Err` says
    /// why the connection must close; the bytes must then not reach the session.
    pub fn check(&mut self, data: &[u8]) -> Result<(), String> {
        self.check_each(data, |_| {})
    }

    /// [`Guard::check`], also showing each complete message (the pull client takes its
    /// media from here: rml_rtmp's client drops media on an unexpected message stream id).
    pub fn check_each(
        &mut self,
        data: &[u8],
        mut on_message: impl FnMut(&MessagePayload),
    ) -> Result<(), String> {
        let mut input = data;
        let mut completed = false;
        loop {
            let next = catch_unwind(AssertUnwindSafe(|| self.chunks.get_next_message(input)));
            input = &[];
            let message = match next {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) => break,
                // The session would fail on the same bytes; say so here.
                Ok(Err(e)) => return Err(format!("RTMP chunk error: {e}")),
                Err(_) => return Err("malformed RTMP chunk (rml_rtmp panicked)".into()),
            };
            completed = true;
            on_message(&message);
            match message.type_id {
                TYPE_SET_CHUNK_SIZE => {
                    if let Ok(RtmpMessage::SetChunkSize { size }) = message.to_rtmp_message() {
                        self.chunks
                            .set_max_chunk_size(size as usize)
                            .map_err(|e| format!("RTMP chunk error: {e}"))?;
                    }
                }
                TYPE_AMF0_COMMAND | TYPE_AMF0_DATA | TYPE_AMF3_DATA => {
                    amf0_depth_ok(&message.data)?;
                }
                // rml_rtmp reads these as AMF0 after a leading zero byte.
                TYPE_AMF3_COMMAND => {
                    let data = match message.data.first() {
                        Some(0) => &message.data[1..],
                        _ => &message.data[..],
                    };
                    amf0_depth_ok(data)?;
                }
                _ => {}
            }
        }
        if completed {
            self.unparsed_bytes = 0;
        } else {
            self.unparsed_bytes += data.len() as u64;
            if self.unparsed_bytes > MAX_UNPARSED_BYTES {
                return Err(format!(
                    "more than {MAX_UNPARSED_BYTES} bytes without a complete RTMP message"
                ));
            }
        }
        Ok(())
    }
}

/// Walks AMF0 values the way rml_amf0 decodes them, without recursion, and fails if they
/// nest deeper than [`MAX_AMF_DEPTH`]. Where rml_amf0 would stop with an error (unknown
/// marker, truncation), this stops too: nothing past that point is ever decoded.
fn amf0_depth_ok(data: &[u8]) -> Result<(), String> {
    enum Frame {
        Object,
        Array(u32),
    }
    let mut r = Reader { data, pos: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let in_array = match stack.last_mut() {
            Some(Frame::Object) => {
                // A property: u16 name length and name, or an empty name and the end marker.
                let Some(len) = r.u16() else { return Ok(()) };
                if len == 0 {
                    if r.u8() != Some(0x09) {
                        return Ok(());
                    }
                    stack.pop();
                    continue;
                }
                if r.skip(usize::from(len)).is_none() {
                    return Ok(());
                }
                false
            }
            Some(Frame::Array(left)) => {
                if *left == 0 {
                    stack.pop();
                    continue;
                }
                *left -= 1;
                true
            }
            None => false,
        };
        let Some(marker) = r.u8() else { return Ok(()) };
        let opened = match marker {
            0x00 => r.skip(8).map(|_| None),
            0x01 => r.skip(1).map(|_| None),
            0x02 => r.u16().and_then(|n| r.skip(usize::from(n))).map(|_| None),
            0x05 | 0x06 => Some(None),
            0x03 => Some(Some(Frame::Object)),
            0x08 => r.skip(4).map(|_| Some(Frame::Object)),
            0x0a => r.u32().map(|n| Some(Frame::Array(n))),
            // The end marker ends an array early (or the top level); anywhere else, and any
            // other marker, rml_amf0 stops with an error.
            0x09 if in_array => {
                stack.pop();
                continue;
            }
            _ => None,
        };
        match opened {
            None => return Ok(()),
            Some(None) => {}
            Some(Some(frame)) => {
                stack.push(frame);
                if stack.len() > MAX_AMF_DEPTH {
                    return Err(format!(
                        "AMF data nested deeper than {MAX_AMF_DEPTH} levels"
                    ));
                }
            }
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_objects(depth: usize) -> Vec<u8> {
        let mut v = vec![0x02, 0, 7];
        v.extend_from_slice(b"connect");
        for _ in 0..depth {
            v.extend_from_slice(&[0x03, 0, 1, b'a']);
        }
        v.push(0x05);
        for _ in 0..depth {
            v.extend_from_slice(&[0, 0, 0x09]);
        }
        v
    }

    // Fuzzing regression (fuzz target `rtmp_guard`): a chunk header sequence that makes
    // rml_rtmp 0.8's `get_message_data` subtract with overflow (deserializer.rs:371). The
    // panic (debug) must become a connection error, as any rml_rtmp panic does.
    #[test]
    fn rml_rtmp_overflow_is_a_connection_error() {
        let input: [u8; 79] = [
            0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x01, 0xff, 0xff, 0x07, 0x08, 0x00,
            0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x01, 0x8e, 0x00, 0x04, 0xf7, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x05,
            0x00, 0x00, 0x80, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x3b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0xc9, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3b,
        ];
        // The fuzz input's last two bytes chose pieces of 0x3b00 + 1 bytes: one push.
        let mut guard = Guard::new();
        let r = guard.check(&input[..77]);
        if cfg!(debug_assertions) {
            assert!(r.is_err(), "{r:?}");
        }
    }

    #[test]
    fn depth_limit() {
        assert!(amf0_depth_ok(&nested_objects(3)).is_ok());
        assert!(amf0_depth_ok(&nested_objects(MAX_AMF_DEPTH)).is_ok());
        assert!(amf0_depth_ok(&nested_objects(MAX_AMF_DEPTH + 1)).is_err());
        // Strict arrays and ECMA arrays nest too.
        let mut arrays = Vec::new();
        for _ in 0..100 {
            arrays.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
        }
        assert!(amf0_depth_ok(&arrays).is_err());
        let mut ecma = Vec::new();
        for _ in 0..100 {
            ecma.extend_from_slice(&[0x08, 0, 0, 0, 1, 0, 1, b'k']);
        }
        assert!(amf0_depth_ok(&ecma).is_err());
        // Siblings are not depth.
        let mut wide = Vec::new();
        for _ in 0..1000 {
            wide.extend_from_slice(&[0x03, 0, 0, 0x09]);
        }
        assert!(amf0_depth_ok(&wide).is_ok());
        // Truncation and junk stop the walk without error (the decoder rejects them).
        assert!(amf0_depth_ok(&[0x03, 0, 5, b'a']).is_ok());
        assert!(amf0_depth_ok(&[0xff; 64]).is_ok());
        assert!(amf0_depth_ok(&[]).is_ok());
    }

    /// What the decoder makes of a real encoder's metadata must pass: the walk agrees with
    /// rml_amf0 on a round trip of typical values.
    #[test]
    fn typical_values_pass() {
        use rml_rtmp::rml_amf0::{serialize, Amf0Value};
        use std::collections::HashMap;
        let mut meta = HashMap::new();
        meta.insert("width".to_string(), Amf0Value::Number(1280.0));
        meta.insert("encoder".to_string(), Amf0Value::Utf8String("Lavf".into()));
        meta.insert("stereo".to_string(), Amf0Value::Boolean(true));
        meta.insert(
            "list".to_string(),
            Amf0Value::StrictArray(vec![Amf0Value::Null, Amf0Value::Number(1.0)]),
        );
        let values = vec![
            Amf0Value::Utf8String("@setDataFrame".into()),
            Amf0Value::Utf8String("onMetaData".into()),
            Amf0Value::Object(meta),
        ];
        let bytes = serialize(&values).expect("serialize");
        assert!(amf0_depth_ok(&bytes).is_ok());
    }
}
