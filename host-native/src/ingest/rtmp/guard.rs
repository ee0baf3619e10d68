//! A look at the peer's RTMP chunk stream before rml_rtmp's session handles it, for the
//! things the session cannot be trusted with on hostile input:
//!
//! - **AMF nesting.** rml_amf0 decodes nested objects and arrays recursively with no depth
//!   limit, so one `connect` of ~800 KB of nested objects overflows the task's stack, and a
//!   stack overflow aborts the whole server (measured; `catch_unwind` cannot help). AMF
//!   messages nested deeper than [`MAX_AMF_DEPTH`] are refused before the session sees them.
//! - **Buffering.** The session holds a partial message without a bound (a header may
//!   announce 16 MiB, and a malformed header sequence can make it grow forever); a peer may
//!   send at most [`MAX_UNPARSED_BYTES`] without completing a message.
//! - **Declared sizes.** rml_rtmp reserves a message's declared length (up to 16 MiB) on its
//!   first chunk. [`ChunkScanner`] reads every chunk header first and refuses a declared
//!   length above the limit, a SetChunkSize below 128 (nginx-rtmp's floor: tiny chunks
//!   multiply the work per byte) and more chunk streams than allowed (nginx-rtmp
//!   `max_streams`), before any of those bytes reach rml_rtmp.
//!
//! The scanner follows the chunk layer exactly as rml_rtmp's `ChunkDeserializer` does
//! (message boundaries, the peer's SetChunkSize, its one payload buffer shared by all chunk
//! streams) but keeps only the payload of AMF messages, the ones whose nesting it must
//! check: media, nearly every byte of a publish, passes through uncopied. (It used to run a
//! second `ChunkDeserializer` that assembled every message; at 1,000 publishers that was a
//! tenth of the server's CPU.) Errors and panics of rml_rtmp's own chunk layer are the
//! session's to contain; the pull client, which takes media from the chunk layer, has
//! [`super::tap::MessageTap`].

use rml_rtmp::messages::MessagePayload;

/// Why the guard closes a connection; shown in the log and in the connection's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
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
    /// An AMF message whose chunks came between chunks of another kind: rml_rtmp would
    /// assemble them into one message (its payload buffer is shared), which no encoder sends
    /// and the scanner does not keep whole, so it cannot be checked.
    AmfInterleaved,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
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
            Self::AmfInterleaved => {
                f.write_str("malformed RTMP chunks (an AMF message interleaved with media)")
            }
        }
    }
}

impl std::error::Error for GuardError {}

/// Bytes a peer may send without completing a message; far above any real video frame.
pub const MAX_UNPARSED_BYTES: u64 = 8 << 20;

/// Deepest AMF0 nesting accepted. Real commands and metadata nest two or three levels.
pub const MAX_AMF_DEPTH: usize = 32;

pub(super) const TYPE_SET_CHUNK_SIZE: u8 = 1;
const TYPE_AMF3_DATA: u8 = 15;
const TYPE_AMF3_COMMAND: u8 = 17;
const TYPE_AMF0_DATA: u8 = 18;
pub(super) const TYPE_AMF0_COMMAND: u8 = 20;

/// The message types rml_rtmp decodes as AMF0 (AMF3 ones after a leading zero byte).
fn is_amf(type_id: u8) -> bool {
    matches!(
        type_id,
        TYPE_AMF0_COMMAND | TYPE_AMF0_DATA | TYPE_AMF3_DATA | TYPE_AMF3_COMMAND
    )
}

/// Largest message a peer may declare before a publish is accepted: nginx-rtmp's
/// `max_message` default for every message. Commands (`connect`, `createStream`, `publish`)
/// are a few hundred bytes and encoders wait for `NetStream.Publish.Start` before media, but
/// an early keyframe read in the same buffer as the publish still fits. Larger messages
/// need an accepted publish, so an unauthenticated connection holds at most ~2 MiB.
pub const MAX_COMMAND_MESSAGE: u32 = 1 << 20;

/// The smallest chunk size accepted in SetChunkSize (the protocol's initial size; nginx-rtmp
/// refuses smaller ones too).
pub const MIN_CHUNK_SIZE: u32 = 128;

/// An AMF message's bytes kept beyond this are let go once it is checked, so one large
/// `onMetaData` does not stay with the connection.
const AMF_KEEP_CAPACITY: usize = 64 << 10;

pub struct Guard {
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
        self.check_amf(data, |_, _| {})
    }

    /// [`Guard::check`], also showing each complete AMF message that passed (its type and
    /// payload, as rml_rtmp will decode it): the session reads `connect`'s tcUrl from it.
    pub fn check_amf(
        &mut self,
        data: &[u8],
        mut on_amf: impl FnMut(u8, &[u8]),
    ) -> Result<(), GuardError> {
        let before = self.scanner.completed;
        self.scanner.scan(data, &mut on_amf)?;
        if self.scanner.completed != before {
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

/// A complete message's payload as rml_rtmp hands it to rml_amf0: AMF3 messages are read as
/// AMF0 after a leading zero byte.
pub(super) fn amf0_body(type_id: u8, data: &[u8]) -> &[u8] {
    match (type_id, data.first()) {
        (TYPE_AMF3_COMMAND, Some(0)) => &data[1..],
        _ => data,
    }
}

/// Whether a complete message rml_rtmp assembled would pass the depth check (for tests and
/// the fuzz target, which compare the scanner with rml_rtmp).
pub fn message_depth_ok(m: &MessagePayload) -> bool {
    !is_amf(m.type_id) || amf0_depth_ok(amf0_body(m.type_id, &m.data)).is_ok()
}

/// What the scanner remembers of a chunk stream's last header (what rml_rtmp keeps).
#[derive(Clone, Copy, Default)]
struct Header {
    timestamp_field: u32,
    length: u32,
    type_id: u8,
}

/// Follows the chunk layer the way rml_rtmp's `ChunkDeserializer` does (including its one
/// payload buffer shared by all chunk streams), reading headers and counting payload bytes,
/// keeping only AMF messages'. It refuses, from the headers, what would make rml_rtmp
/// reserve or do too much, and AMF messages nested too deeply.
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
    /// The payload so far of the message being read, while all its chunks are AMF ones.
    amf: Vec<u8>,
    /// Whether every chunk of the message being read was an AMF one (`amf` is all of it).
    amf_whole: bool,
    /// Messages completed so far.
    completed: u64,
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
            amf: Vec::new(),
            amf_whole: true,
            completed: 0,
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
    /// Each complete AMF message that passes goes to `on_amf` (type and payload).
    pub fn scan(
        &mut self,
        mut data: &[u8],
        on_amf: &mut dyn FnMut(u8, &[u8]),
    ) -> Result<(), GuardError> {
        while !data.is_empty() {
            if let Some((csid, header)) = self.current {
                let n = (self.chunk_left as usize).min(data.len());
                if header.type_id == TYPE_SET_CHUNK_SIZE && self.set_chunk_size.len() < 4 {
                    let want = (4 - self.set_chunk_size.len()).min(n);
                    self.set_chunk_size.extend_from_slice(&data[..want]);
                }
                if self.amf_whole && is_amf(header.type_id) {
                    self.amf.extend_from_slice(&data[..n]);
                }
                data = &data[n..];
                // n is at most chunk_left, a u32.
                self.chunk_left -= n as u32;
                self.payload_have = self.payload_have.saturating_add(n as u32);
                if self.chunk_left == 0 {
                    self.end_chunk(csid, header, on_amf)?;
                }
                continue;
            }
            self.pending.push(data[0]);
            data = &data[1..];
            self.try_header(on_amf)?;
        }
        Ok(())
    }

    fn end_chunk(
        &mut self,
        csid: u32,
        header: Header,
        on_amf: &mut dyn FnMut(u8, &[u8]),
    ) -> Result<(), GuardError> {
        self.current = None;
        if self.payload_have == header.length {
            self.payload_have = 0;
            self.completed += 1;
            if is_amf(header.type_id) {
                self.amf_message(header.type_id, on_amf)?;
            }
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

    /// A complete AMF message: checked whole, or refused if it was not kept whole.
    fn amf_message(
        &mut self,
        type_id: u8,
        on_amf: &mut dyn FnMut(u8, &[u8]),
    ) -> Result<(), GuardError> {
        if !self.amf_whole {
            return Err(GuardError::AmfInterleaved);
        }
        amf0_depth_ok(amf0_body(type_id, &self.amf))?;
        on_amf(type_id, &self.amf);
        self.amf.clear();
        if self.amf.capacity() > AMF_KEEP_CAPACITY {
            self.amf = Vec::new();
        }
        Ok(())
    }

    /// Parses `pending` as a chunk header once it is complete.
    fn try_header(&mut self, on_amf: &mut dyn FnMut(u8, &[u8])) -> Result<(), GuardError> {
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
        // rml_rtmp's payload buffer takes every chunk's bytes until a message completes,
        // whatever its chunk stream and type: a message is all the chunks since the last.
        if self.payload_have == 0 {
            self.amf.clear();
            self.amf_whole = true;
        }
        if !is_amf(header.type_id) && self.amf_whole {
            self.amf_whole = false;
            self.amf.clear();
        }
        self.current = Some((csid, header));
        self.chunk_left = chunk;
        if chunk == 0 {
            self.end_chunk(csid, header, on_amf)?;
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
    use rml_rtmp::chunk_io::ChunkSerializer;
    use rml_rtmp::time::RtmpTimestamp;

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
    /// type-3 continuations and a type-1 header in between; the AMF messages among them are
    /// seen whole, as rml_rtmp assembles them.
    #[test]
    fn the_scanner_follows_rml_rtmp() {
        use rml_rtmp::chunk_io::ChunkDeserializer;
        let mut ser = ChunkSerializer::new();
        let mut bytes = Vec::new();
        let metadata: Vec<u8> = (0..700u32).map(|i| (i % 251) as u8).collect();
        let mut amf_sent = Vec::new();
        for (i, (type_id, data)) in [
            (9u8, vec![7u8; 300]),
            (8, vec![1; 20]),
            (TYPE_AMF0_DATA, metadata.clone()),
            (9, vec![7; 5000]),
            (TYPE_AMF3_COMMAND, vec![0, 2, 0, 1, b'x']),
            (9, vec![7; 128]),
            (9, vec![7; 129]),
            (TYPE_AMF0_COMMAND, vec![0x05]),
        ]
        .into_iter()
        .enumerate()
        {
            if is_amf(type_id) {
                amf_sent.push((type_id, data.clone()));
            }
            let payload = MessagePayload {
                timestamp: RtmpTimestamp::new(i as u32 * 40),
                message_stream_id: 1,
                type_id,
                data: data.into(),
            };
            bytes.extend(ser.serialize(&payload, false, false).expect("ser").bytes);
        }
        let mut g = Guard::new();
        let mut amf_seen = Vec::new();
        for piece in bytes.chunks(7) {
            g.check_amf(piece, |t, d| amf_seen.push((t, d.to_vec())))
                .expect("in step");
        }
        assert_eq!(g.scanner.completed, 8);
        assert_eq!(amf_seen, amf_sent);
        assert!(g.scanner.current.is_none() && g.scanner.pending.is_empty());
        // rml_rtmp sees the same messages.
        let mut rml = ChunkDeserializer::new();
        let mut input = &bytes[..];
        let mut rml_amf = Vec::new();
        while let Some(m) = rml.get_next_message(input).expect("rml") {
            input = &[];
            if is_amf(m.type_id) {
                rml_amf.push((m.type_id, m.data.to_vec()));
            }
        }
        assert_eq!(rml_amf, amf_sent);
    }

    /// Depth is checked on the whole message, however it is chunked and split by TCP.
    #[test]
    fn deep_amf_split_over_chunks_is_refused() {
        let mut ser = ChunkSerializer::new();
        let deep = MessagePayload {
            timestamp: RtmpTimestamp::new(0),
            message_stream_id: 0,
            type_id: TYPE_AMF0_COMMAND,
            data: nested_objects(MAX_AMF_DEPTH + 1).into(),
        };
        let bytes = ser.serialize(&deep, true, false).expect("ser").bytes;
        assert!(bytes.len() > 128 + 12, "more than one chunk");
        let mut g = Guard::new();
        let r = bytes.chunks(5).try_for_each(|piece| g.check(piece));
        assert_eq!(r, Err(GuardError::AmfTooDeep));
        // As deep as allowed passes.
        let mut g = Guard::new();
        let ok = MessagePayload {
            data: nested_objects(MAX_AMF_DEPTH).into(),
            ..deep
        };
        let bytes = ChunkSerializer::new()
            .serialize(&ok, true, false)
            .expect("ser")
            .bytes;
        bytes
            .chunks(5)
            .for_each(|piece| g.check(piece).expect("allowed"));
    }

    /// An AMF message whose chunks rml_rtmp would mix with a video message's (its one
    /// payload buffer) cannot be checked whole: refused.
    #[test]
    fn amf_interleaved_with_media_is_refused() {
        // A video message of 300 bytes on chunk stream 6: its first chunk (128 bytes), then
        // an AMF0 command's chunk on stream 3 that completes rml_rtmp's buffer.
        let mut bytes = vec![0x06, 0, 0, 0, 0, 0x01, 0x2c, 9, 1, 0, 0, 0];
        bytes.extend_from_slice(&[7u8; 128]);
        // fmt 0 on stream 3: 300 bytes declared, type 20; 128 bytes (rml: 128 + 128 < 300).
        bytes.extend_from_slice(&[0x03, 0, 0, 0, 0, 0x01, 0x2c, 20, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[0x05; 128]);
        // fmt 3 on stream 3: the last 44 bytes complete it as an AMF message.
        bytes.push(0xc3);
        bytes.extend_from_slice(&[0x05; 44]);
        let mut g = Guard::new();
        assert_eq!(g.check(&bytes), Err(GuardError::AmfInterleaved));
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
