//! Complete RTMP messages read from the chunk layer beside rml_rtmp's client session, for
//! the pull client: rml_rtmp's client drops media sent on a message stream id it did not
//! expect, and servers disagree on that id, so the pull takes its media from here.
//!
//! It follows the peer's SetChunkSize as the session does, so both see the same message
//! boundaries. The bytes it reads have passed the [`super::guard::Guard`] first.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::messages::{MessagePayload, RtmpMessage};

use super::guard::TYPE_SET_CHUNK_SIZE;

pub struct MessageTap {
    chunks: ChunkDeserializer,
}

impl Default for MessageTap {
    fn default() -> Self {
        Self {
            chunks: ChunkDeserializer::new(),
        }
    }
}

impl MessageTap {
    /// Reads the next bytes of the chunk stream and shows each message they complete.
    /// `Err` is rml_rtmp's chunk layer refusing them (or panicking on them, contained).
    pub fn messages(
        &mut self,
        data: &[u8],
        mut on_message: impl FnMut(&MessagePayload),
    ) -> Result<(), String> {
        let mut input = data;
        loop {
            let next = catch_unwind(AssertUnwindSafe(|| self.chunks.get_next_message(input)));
            input = &[];
            let message = match next {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(e)) => return Err(format!("RTMP chunk error: {e}")),
                Err(_) => return Err("malformed RTMP chunk (rml_rtmp panicked)".into()),
            };
            if message.type_id == TYPE_SET_CHUNK_SIZE {
                if let Ok(RtmpMessage::SetChunkSize { size }) = message.to_rtmp_message() {
                    self.chunks
                        .set_max_chunk_size(size as usize)
                        .map_err(|e| format!("RTMP chunk error: {e}"))?;
                }
            }
            on_message(&message);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Fuzzing regression (fuzz target `rtmp_guard`): a chunk header sequence that makes
    /// rml_rtmp 0.8's `get_message_data` subtract with overflow (deserializer.rs:371). The
    /// panic (debug) must become an error, as any rml_rtmp panic does (the server's session
    /// contains it the same way; `tests::rml_rtmp_panic_closes_only_its_connection`).
    #[test]
    fn rml_rtmp_overflow_is_an_error() {
        let mut tap = MessageTap::default();
        let r = tap.messages(&RML_OVERFLOW[..77], |_| {});
        if cfg!(debug_assertions) {
            assert!(r.is_err(), "{r:?}");
        }
    }

    /// See [`rml_rtmp_overflow_is_an_error`]; after the handshake.
    pub(in super::super) const RML_OVERFLOW: [u8; 79] = [
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x01, 0xff, 0xff, 0x07, 0x08, 0x00, 0x00,
        0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x01, 0x8e, 0x00, 0x04, 0xf7, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x80,
        0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0xc9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x3b,
    ];
}
