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
//! - **Declared sizes.** rml_rtmp reserves a message's declared length (up to 16 MiB) on its
//!   first chunk, in each of the connection's two deserializers. [`ChunkScanner`] reads every
//!   chunk header first, without buffering payload, and refuses a declared length above the
//!   limit, a SetChunkSize below 128 (nginx-rtmp's floor: tiny chunks multiply the work per
//!   byte) and more chunk streams than allowed (nginx-rtmp `max_streams`), before any of
//!   those bytes reach rml_rtmp.
//!
//! It parses chunks with rml_rtmp's own [`ChunkDeserializer`] and follows the peer's
//! SetChunkSize exactly as the session does, so both see the same message boundaries.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::messages::{MessagePayload, RtmpMessage};

/// Why the guard closes a connection; shown in the log and in the connection's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// rml_rtmp's chunk layer refused the bytes (its message).
    Chunk(String),
    /// rml_rtmp's chunk layer panicked on them (contained).
    ChunkPanicked,
    Unparsed,
    MalformedSetChunkSize,
    ChunkSizeRefused(u32),
    NoPreviousChunk(u32),
    TooLarge {
        declared: u32,
        limit: u32,
        before_publish: bool,
    },
    TooManyChunkStreams(usize),
    ChunkLongerThanMessage,
    AmfTooDeep,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Chunk(e) => write!(f, "RTMP chunk error: {e}"),
            Self::ChunkPanicked => f.write_str("malformed RTMP chunk (rml_rtmp panicked)"),
            Self::Unparsed => write!(
                f,
                "more than {MAX_UNPARSED_BYTES} bytes without a complete RTMP message"
            ),
            Self::MalformedSetChunkSize => f.write_str("malformed RTMP SetChunkSize"),
            Self::ChunkSizeRefused(size) => write!(
                f,
                "RTMP chunk size {size} refused (at least {MIN_CHUNK_SIZE})"
            ),
            Self::NoPreviousChunk(csid) => {
                write!(f, "RTMP chunk error: no previous chunk on stream {csid}")
            }
            Self::TooLarge {
                declared,
                limit,
                before_publish,
            } => write!(
                f,
                "RTMP message of {declared} bytes declared; the limit is {limit}{}",
                if *before_publish {
                    " before a publish"
                } else {
                    ""
                }
            ),
            Self::TooManyChunkStreams(max) => {
                write!(f, "more than {max} RTMP chunk streams on one connection")
            }
            Self::ChunkLongerThanMessage => {
                f.write_str("malformed RTMP chunk (longer than its message)")
            }
            Self::AmfTooDeep => write!(f, "AMF data nested deeper than {MAX_AMF_DEPTH} levels"),
        }
    }
}

impl std::error::Error for GuardError {}

/// Bytes a peer may send without completing a message; far above any real video frame.
pub const MAX_UNPARSED_BYTES: u64 = 8 << 20;

/// Deepest AMF0 nesting accepted. Real commands and metadata nest two or three levels.
pub const MAX_AMF_DEPTH: usize = 32;

const TYPE_SET_CHUNK_SIZE: u8 = 1;
const TYPE_AMF3_DATA: u8 = 15;
const TYPE_AMF3_COMMAND: u8 = 17;
const TYPE_AMF0_DATA: u8 = 18;
pub(super) const TYPE_AMF0_COMMAND: u8 = 20;

/// Largest message a peer may declare before a publish is accepted: nginx-rtmp's
/// `max_message` default for every message. Commands (`connect`, `createStream`, `publish`)
/// are a few hundred bytes and encoders wait for `NetStream.Publish.Start` before media, but
/// an early keyframe read in the same buffer as the publish still fits. Larger messages
/// need an accepted publish, so an unauthenticated connection holds at most ~2 MiB.
pub const MAX_COMMAND_MESSAGE: u32 = 1 << 20;

/// The smallest chunk size accepted in SetChunkSize (the protocol's initial size; nginx-rtmp
/// refuses smaller ones too).
pub const MIN_CHUNK_SIZE: u32 = 128;

pub struct Guard {
    chunks: ChunkDeserializer,
    unparsed_bytes: u64,
    scanner: ChunkScanner,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    /// A guard with the default limits, media messages allowed (the pull client's).
    pub fn new() -> Self {
        Self::with_limits(
            crate::config::Limits::default().rtmp_max_message_bytes,
            crate::config::Limits::default().rtmp_max_chunk_streams,
        )
    }

    /// A guard allowing messages up to `max_message` bytes (once [`Guard::allow_media`] is
    /// called; [`MAX_COMMAND_MESSAGE`] before) on at most `max_chunk_streams` chunk streams.
    pub fn with_limits(max_message: u32, max_chunk_streams: usize) -> Self {
        Self {
            chunks: ChunkDeserializer::new(),
            unparsed_bytes: 0,
            scanner: ChunkScanner::new(max_message, max_chunk_streams),
        }
    }

    /// Until this is called, only command-sized messages are accepted.
    pub fn commands_only(mut self) -> Self {
        self.scanner.media_allowed = false;
        self
    }

    /// A publish was accepted: media messages up to the configured size may follow.
    pub fn allow_media(&mut self) {
        self.scanner.media_allowed = true;
    }

    /// Checks the next bytes of the peer's chunk stream (every byte, in order). `Err` says
    /// why the connection must close; the bytes must then not reach the session.
    pub fn check(&mut self, data: &[u8]) -> Result<(), GuardError> {
        self.check_each(data, |_| {})
    }

    /// [`Guard::check`], also showing each complete message (the pull client takes its
    /// media from here: rml_rtmp's client drops media on an unexpected message stream id).
    pub fn check_each(
        &mut self,
        data: &[u8],
        mut on_message: impl FnMut(&MessagePayload),
    ) -> Result<(), GuardError> {
        // Headers first: nothing the scanner refuses reaches rml_rtmp's buffers.
        self.scanner.scan(data)?;
        let mut input = data;
        let mut completed = false;
        loop {
            let next = catch_unwind(AssertUnwindSafe(|| self.chunks.get_next_message(input)));
            input = &[];
            let message = match next {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) => break,
                // The session would fail on the same bytes; say so here.
                Ok(Err(e)) => return Err(GuardError::Chunk(e.to_string())),
                Err(_) => return Err(GuardError::ChunkPanicked),
            };
            completed = true;
            on_message(&message);
            match message.type_id {
                TYPE_SET_CHUNK_SIZE => {
                    if let Ok(RtmpMessage::SetChunkSize { size }) = message.to_rtmp_message() {
                        self.chunks
                            .set_max_chunk_size(size as usize)
                            .map_err(|e| GuardError::Chunk(e.to_string()))?;
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
                return Err(GuardError::Unparsed);
            }
        }
        Ok(())
    }
}

/// What the scanner remembers of a chunk stream's last header (what rml_rtmp keeps).
#[derive(Clone, Copy, Default)]
struct Header {
    timestamp_field: u32,
    length: u32,
    type_id: u8,
}

/// Follows the chunk layer the way rml_rtmp's `ChunkDeserializer` does (including its one
/// payload buffer shared by all chunk streams), reading headers and counting payload bytes
/// without keeping them. Its only job is to refuse, from the headers, what would make
/// rml_rtmp reserve or do too much.
pub struct ChunkScanner {
    max_message: u32,
    max_chunk_streams: usize,
    media_allowed: bool,
    chunk_size: u32,
    headers: std::collections::HashMap<u32, Header>,
    /// The chunk whose payload is being read: its stream id and header.
    current: Option<(u32, Header)>,
    /// Payload bytes of the current message so far (rml_rtmp's `current_payload_data`).
    payload_have: u32,
    /// Payload bytes left in the current chunk.
    chunk_left: u32,
    /// A partial chunk header (at most 18 bytes).
    pending: Vec<u8>,
    /// The first bytes of a SetChunkSize message.
    set_chunk_size: Vec<u8>,
}

/// Longest chunk header: 3 bytes of basic header, 11 of message header, 4 of extended time.
const MAX_HEADER: usize = 18;
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

impl ChunkScanner {
    pub fn new(max_message: u32, max_chunk_streams: usize) -> Self {
        Self {
            max_message,
            max_chunk_streams,
            media_allowed: true,
            chunk_size: MIN_CHUNK_SIZE,
            headers: std::collections::HashMap::new(),
            current: None,
            payload_have: 0,
            chunk_left: 0,
            pending: Vec::with_capacity(MAX_HEADER),
            set_chunk_size: Vec::new(),
        }
    }

    fn max_message(&self) -> u32 {
        if self.media_allowed {
            self.max_message
        } else {
            self.max_message.min(MAX_COMMAND_MESSAGE)
        }
    }

    /// Scans the next bytes of the chunk stream; `Err` says which limit the peer broke.
    pub fn scan(&mut self, mut data: &[u8]) -> Result<(), GuardError> {
        while !data.is_empty() {
            if let Some((csid, header)) = self.current {
                let n = (self.chunk_left as usize).min(data.len());
                if header.type_id == TYPE_SET_CHUNK_SIZE && self.set_chunk_size.len() < 4 {
                    let want = (4 - self.set_chunk_size.len()).min(n);
                    self.set_chunk_size.extend_from_slice(&data[..want]);
                }
                data = &data[n..];
                // n is at most chunk_left, a u32.
                self.chunk_left -= n as u32;
                self.payload_have = self.payload_have.saturating_add(n as u32);
                if self.chunk_left == 0 {
                    self.end_chunk(csid, header)?;
                }
                continue;
            }
            self.pending.push(data[0]);
            data = &data[1..];
            self.try_header()?;
        }
        Ok(())
    }

    fn end_chunk(&mut self, csid: u32, header: Header) -> Result<(), GuardError> {
        self.current = None;
        if self.payload_have == header.length {
            self.payload_have = 0;
            if header.type_id == TYPE_SET_CHUNK_SIZE {
                let bytes = std::mem::take(&mut self.set_chunk_size);
                let Ok(b) = <[u8; 4]>::try_from(bytes.get(..4).unwrap_or_default()) else {
                    return Err(GuardError::MalformedSetChunkSize);
                };
                let size = u32::from_be_bytes(b);
                if !(MIN_CHUNK_SIZE..=0x7FFF_FFFF).contains(&size) {
                    return Err(GuardError::ChunkSizeRefused(size));
                }
                self.chunk_size = size;
            }
        }
        self.headers.insert(csid, header);
        Ok(())
    }

    /// Parses `pending` as a chunk header once it is complete.
    fn try_header(&mut self) -> Result<(), GuardError> {
        let p = &self.pending;
        let fmt = p[0] >> 6;
        let (csid, mut at) = match p[0] & 0x3f {
            0 => match p.get(1) {
                Some(b) => (u32::from(*b) + 64, 2),
                None => return Ok(()),
            },
            1 => match (p.get(1), p.get(2)) {
                (Some(lo), Some(hi)) => (u32::from(*hi) * 256 + u32::from(*lo) + 64, 3),
                _ => return Ok(()),
            },
            x => (u32::from(x), 1),
        };
        let mut header = if fmt == 0 {
            Header::default()
        } else {
            match self.headers.get(&csid) {
                Some(h) => *h,
                None => return Err(GuardError::NoPreviousChunk(csid)),
            }
        };
        let fields = match fmt {
            0 => 11,
            1 => 7,
            2 => 3,
            _ => 0,
        };
        let Some(f) = p.get(at..at + fields) else {
            return Ok(());
        };
        let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
        if fields >= 3 {
            header.timestamp_field = u24(&f[0..3]);
        }
        if fields >= 7 {
            header.length = u24(&f[3..6]);
            header.type_id = f[6];
        }
        at += fields;
        if header.timestamp_field >= EXTENDED_TIMESTAMP {
            if p.len() < at + 4 {
                return Ok(());
            }
            at += 4;
        }
        debug_assert_eq!(at, p.len());
        self.pending.clear();

        if header.length > self.max_message() {
            return Err(GuardError::TooLarge {
                declared: header.length,
                limit: self.max_message(),
                before_publish: !self.media_allowed,
            });
        }
        if !self.headers.contains_key(&csid) && self.headers.len() >= self.max_chunk_streams {
            return Err(GuardError::TooManyChunkStreams(self.max_chunk_streams));
        }
        // As rml_rtmp sizes a chunk: the whole message when it fits one chunk, else the
        // rest of it up to the chunk size.
        let Some(remaining) = header.length.checked_sub(self.payload_have) else {
            return Err(GuardError::ChunkLongerThanMessage);
        };
        let chunk = if header.length > self.chunk_size {
            remaining.min(self.chunk_size)
        } else {
            header.length
        };
        if header.type_id != TYPE_SET_CHUNK_SIZE || self.payload_have == 0 {
            self.set_chunk_size.clear();
        }
        self.current = Some((csid, header));
        self.chunk_left = chunk;
        if chunk == 0 {
            self.end_chunk(csid, header)?;
        }
        Ok(())
    }
}

/// Walks AMF0 values the way rml_amf0 decodes them, without recursion, and fails if they
/// nest deeper than [`MAX_AMF_DEPTH`]. Where rml_amf0 would stop with an error (unknown
/// marker, truncation), this stops too: nothing past that point is ever decoded.
fn amf0_depth_ok(data: &[u8]) -> Result<(), GuardError> {
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
                    return Err(GuardError::AmfTooDeep);
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

    /// A type-0 chunk header on `csid` declaring `len` bytes of `type_id`.
    fn header(csid: u8, len: u32, type_id: u8) -> Vec<u8> {
        let l = len.to_be_bytes();
        vec![csid, 0, 0, 0, l[1], l[2], l[3], type_id, 1, 0, 0, 0]
    }

    #[test]
    fn declared_sizes_are_refused_from_the_header() {
        // 16 MiB (the 24-bit most) declared: refused on the 12 header bytes, before any payload.
        let mut g = Guard::with_limits(8 << 20, 64).commands_only();
        let e = g
            .check(&header(4, (16 << 20) - 1, 9))
            .expect_err("too big")
            .to_string();
        assert!(e.contains("declared"), "{e}");
        // Before a publish, 1 MiB at most; after it, the configured size.
        let mut g = Guard::with_limits(8 << 20, 64).commands_only();
        assert!(g.check(&header(4, 2 << 20, 9)).is_err());
        let mut g = Guard::with_limits(8 << 20, 64).commands_only();
        g.allow_media();
        assert!(g.check(&header(4, 2 << 20, 9)).is_ok());
        g.check(&[0u8; 128]).expect("payload of the first chunk");
        let mut g = Guard::with_limits(8 << 20, 64);
        assert!(g.check(&header(4, (8 << 20) + 1, 9)).is_err());
    }

    #[test]
    fn tiny_chunk_sizes_and_chunk_stream_floods_are_refused() {
        for size in [0u32, 1, 127] {
            let mut g = Guard::new();
            let mut msg = header(2, 4, TYPE_SET_CHUNK_SIZE);
            msg.extend_from_slice(&size.to_be_bytes());
            let e = g.check(&msg).expect_err("tiny chunk size").to_string();
            assert!(e.contains("chunk size"), "{size}: {e}");
        }
        let mut g = Guard::new();
        let mut msg = header(2, 4, TYPE_SET_CHUNK_SIZE);
        msg.extend_from_slice(&4096u32.to_be_bytes());
        // A 1000-byte message now fits one chunk.
        msg.extend_from_slice(&header(4, 1000, 9));
        msg.extend_from_slice(&[0u8; 1000]);
        g.check(&msg).expect("chunk size 4096");
        assert_eq!(g.scanner.chunk_size, 4096);

        // Three-byte basic headers name chunk streams up to 65,599: 8 are fine, 100 not.
        let mut g = Guard::with_limits(8 << 20, 8);
        let csid_header = |id: u16| {
            let id = id - 64;
            let mut h = vec![1, (id & 0xff) as u8, (id >> 8) as u8];
            h.extend_from_slice(&header(0, 0, 9)[1..]);
            h
        };
        for id in 0..7 {
            g.check(&csid_header(64 + id)).expect("a few chunk streams");
        }
        let e = (7..100)
            .find_map(|id| g.check(&csid_header(64 + id)).err())
            .expect("refused");
        assert!(e.to_string().contains("chunk streams"), "{e}");
    }

    /// The scanner and rml_rtmp agree on message boundaries, chunked at 128 bytes with
    /// type-3 continuations and a type-1 header in between.
    #[test]
    fn the_scanner_follows_rml_rtmp() {
        use rml_rtmp::chunk_io::ChunkSerializer;
        use rml_rtmp::time::RtmpTimestamp;
        let mut ser = ChunkSerializer::new();
        let mut bytes = Vec::new();
        for (i, len) in [300usize, 20, 5000, 128, 129].into_iter().enumerate() {
            let payload = MessagePayload {
                timestamp: RtmpTimestamp::new(i as u32 * 40),
                message_stream_id: 1,
                type_id: 9,
                data: vec![7u8; len].into(),
            };
            bytes.extend(ser.serialize(&payload, false, false).expect("ser").bytes);
        }
        let mut g = Guard::new();
        let mut seen = 0;
        for piece in bytes.chunks(7) {
            g.check_each(piece, |_| seen += 1).expect("in step");
        }
        assert_eq!(seen, 5);
        assert!(g.scanner.current.is_none() && g.scanner.pending.is_empty());
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
