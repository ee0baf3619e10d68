//! Transport packets: 188-byte framing with sync recovery, packet headers, adaptation fields
//! and continuity counters.
//!
//! Besides plain 188-byte packets the splitter takes the framings EMS's TS acceptor takes:
//! 192 bytes (M2TS / Blu-ray: a 4-byte timecode before each packet) and 204 or 208 bytes (16
//! or 20 bytes of Reed-Solomon parity after each packet, as DVB and ATSC links carry them).
//! The framing is detected at each sync; the extra bytes are skipped.

use alloc::vec::Vec;

use crate::demux::DemuxError;

pub const PACKET_LEN: usize = 188;
pub const SYNC_BYTE: u8 = 0x47;

/// Distances between sync bytes the splitter accepts, most common first.
pub const STRIDES: [usize; 4] = [PACKET_LEN, 192, 204, 208];
const MAX_STRIDE: usize = 208;

/// Garbage tolerated before the first sync: enough for a stray header or a few broken packets,
/// small enough that a wrong file is rejected at once.
const MAX_GARBAGE_BEFORE_SYNC: u64 = 8 * 1024;

/// While hunting for sync, input is moved into the hunt buffer in pieces of this size so that
/// a large chunk of garbage never needs a large buffer.
const HUNT_PIECE: usize = 4096;

/// A transport packet header with its payload.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub pid: u16,
    pub payload_unit_start: bool,
    pub transport_error: bool,
    pub scrambled: bool,
    pub has_payload: bool,
    /// The adaptation field's discontinuity_indicator: the continuity counter may jump.
    pub discontinuity: bool,
    pub cc: u8,
    pub payload: &'a [u8],
}

/// Parses one 188-byte packet; `None` if its adaptation field overruns the packet, which
/// leaves the payload boundaries unknown.
pub fn parse_packet(p: &[u8]) -> Option<Packet<'_>> {
    if p.len() < 4 || p[0] != SYNC_BYTE {
        return None;
    }
    let (b1, b2, b3) = (p[1], p[2], p[3]);
    let afc = (b3 >> 4) & 0x3;
    let mut pos = 4;
    let mut discontinuity = false;
    if afc & 0x2 != 0 {
        let len = usize::from(*p.get(4)?);
        if len > 0 {
            discontinuity = p.get(5)? & 0x80 != 0;
        }
        pos = 5 + len;
    }
    // afc 0 is reserved and carries no payload.
    let has_payload = afc & 0x1 != 0;
    let payload = if has_payload { p.get(pos..)? } else { &[] };
    if pos > p.len() {
        return None;
    }
    Some(Packet {
        pid: (u16::from(b1 & 0x1f) << 8) | u16::from(b2),
        payload_unit_start: b1 & 0x40 != 0,
        transport_error: b1 & 0x80 != 0,
        scrambled: b3 >> 6 != 0,
        has_payload,
        discontinuity,
        cc: b3 & 0x0f,
        payload,
    })
}

/// The PID of a (possibly partial) packet, if its header is there.
pub fn packet_pid(p: &[u8]) -> Option<u16> {
    if p.len() < 3 || p[0] != SYNC_BYTE {
        return None;
    }
    Some((u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    Ok,
    /// The same packet again (allowed once by H.222.0): skip it.
    Duplicate,
    /// Packets were lost: whatever was being reassembled on this PID is broken.
    Lost,
}

/// Tracks one PID's continuity_counter.
#[derive(Debug, Default, Clone)]
pub struct ContinuityCounter {
    last: Option<u8>,
}

impl ContinuityCounter {
    pub fn check(&mut self, pkt: &Packet<'_>) -> Continuity {
        // The counter only advances on packets with payload.
        if !pkt.has_payload {
            return Continuity::Ok;
        }
        let result = match self.last {
            None => Continuity::Ok,
            Some(_) if pkt.discontinuity => Continuity::Ok,
            Some(last) if pkt.cc == last => Continuity::Duplicate,
            Some(last) if pkt.cc == (last + 1) & 0x0f => Continuity::Ok,
            Some(_) => Continuity::Lost,
        };
        self.last = Some(pkt.cc);
        result
    }

    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// What the splitter hands on.
pub enum Unit<'a> {
    Packet(&'a [u8]),
    /// Sync was lost mid-stream: everything being reassembled is suspect.
    SyncLost,
}

/// Cuts a byte stream in any chunking into 188-byte packets. It copies only a packet that
/// straddles two pushes (or bytes while hunting for sync); whole packets are passed as slices
/// of the caller's buffer.
#[derive(Debug, Default)]
pub struct Splitter {
    /// A partial packet (starting with the sync byte) while synced; the hunt window otherwise.
    buf: Vec<u8>,
    synced: bool,
    /// Sync byte to sync byte, one of [`STRIDES`]; set whenever sync is found.
    stride: usize,
    ever_synced: bool,
    skipped_before_sync: u64,
}

impl Splitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(
        &mut self,
        mut input: &[u8],
        f: &mut impl FnMut(Unit<'_>) -> Result<(), DemuxError>,
    ) -> Result<(), DemuxError> {
        loop {
            if self.synced {
                let stride = self.stride;
                if !self.buf.is_empty() {
                    let take = (stride - self.buf.len()).min(input.len());
                    self.buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.buf.len() < stride {
                        return Ok(());
                    }
                    // Only partial packets starting with the sync byte are kept.
                    f(Unit::Packet(&self.buf[..PACKET_LEN]))?;
                    self.buf.clear();
                }
                while input.len() >= stride && input[0] == SYNC_BYTE {
                    f(Unit::Packet(&input[..PACKET_LEN]))?;
                    input = &input[stride..];
                }
                if input.is_empty() {
                    return Ok(());
                }
                if input[0] == SYNC_BYTE && input.len() < stride {
                    self.buf.extend_from_slice(input);
                    return Ok(());
                }
                self.synced = false;
                f(Unit::SyncLost)?;
            }
            if input.is_empty() {
                return Ok(());
            }
            let take = input.len().min(HUNT_PIECE);
            self.buf.extend_from_slice(&input[..take]);
            input = &input[take..];
            self.hunt(false, f)?;
        }
    }

    /// Looks for sync in the hunt window; on success passes on the whole packets in it and
    /// keeps a trailing partial packet.
    fn hunt(
        &mut self,
        at_end: bool,
        f: &mut impl FnMut(Unit<'_>) -> Result<(), DemuxError>,
    ) -> Result<(), DemuxError> {
        while !self.synced && !self.buf.is_empty() {
            let Some((start, stride)) = find_sync(&self.buf, at_end) else {
                // Positions in the last two strides cannot be confirmed yet.
                let keep = if at_end {
                    0
                } else {
                    (2 * MAX_STRIDE).min(self.buf.len())
                };
                let drop = self.buf.len() - keep;
                self.buf.drain(..drop);
                return self.note_skipped(drop);
            };
            self.note_skipped(start)?;
            self.synced = true;
            self.ever_synced = true;
            self.stride = stride;
            let mut pos = start;
            while self.buf.len() - pos >= stride && self.buf[pos] == SYNC_BYTE {
                f(Unit::Packet(&self.buf[pos..pos + PACKET_LEN]))?;
                pos += stride;
            }
            self.buf.drain(..pos);
            if !self.buf.is_empty() && (self.buf[0] != SYNC_BYTE || self.buf.len() >= stride) {
                self.synced = false;
                f(Unit::SyncLost)?;
            }
        }
        Ok(())
    }

    fn note_skipped(&mut self, n: usize) -> Result<(), DemuxError> {
        if !self.ever_synced {
            self.skipped_before_sync += n as u64;
            if self.skipped_before_sync > MAX_GARBAGE_BEFORE_SYNC {
                return Err(not_ts());
            }
        }
        Ok(())
    }

    /// Ends the input: syncs on what is left if it must, and returns a trailing partial
    /// packet (the input was cut inside it).
    pub fn finish(
        &mut self,
        f: &mut impl FnMut(Unit<'_>) -> Result<(), DemuxError>,
    ) -> Result<Option<Vec<u8>>, DemuxError> {
        if !self.synced {
            self.hunt(true, f)?;
        }
        if !self.ever_synced {
            return Err(not_ts());
        }
        if self.synced && self.buf.len() >= PACKET_LEN {
            // The last packet of a wider framing: whole, only what follows it is missing
            // (in M2TS, that is the next packet's timecode, which never comes).
            f(Unit::Packet(&self.buf[..PACKET_LEN]))?;
            self.buf.clear();
        }
        if self.synced && !self.buf.is_empty() {
            return Ok(Some(core::mem::take(&mut self.buf)));
        }
        self.buf.clear();
        Ok(None)
    }
}

fn not_ts() -> DemuxError {
    DemuxError::malformed("not an MPEG-TS stream")
}

/// The first offset with a sync byte confirmed by the next two packets' sync bytes at one of
/// the [`STRIDES`], and that stride. At the end of input, fewer confirmations do, but a whole
/// packet is required.
fn find_sync(buf: &[u8], at_end: bool) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(off) = buf[from..].iter().position(|&b| b == SYNC_BYTE) {
        let p = from + off;
        for stride in STRIDES {
            if !at_end && p + 2 * stride >= buf.len() {
                // Not decidable yet: a narrower stride failed, this one needs more input.
                return None;
            }
            let confirmed = (1..=2).all(|k| match buf.get(p + k * stride) {
                Some(&b) => b == SYNC_BYTE,
                None => at_end,
            });
            if confirmed && p + PACKET_LEN <= buf.len() {
                return Some((p, stride));
            }
        }
        from = p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn packet(pid: u16, cc: u8, fill: u8) -> Vec<u8> {
        let mut p = vec![fill; PACKET_LEN];
        p[0] = SYNC_BYTE;
        p[1] = (pid >> 8) as u8;
        p[2] = pid as u8;
        p[3] = 0x10 | cc;
        p
    }

    /// Packets, sync losses, and the trailing partial packet.
    type Split = (Vec<Vec<u8>>, usize, Option<Vec<u8>>);

    fn split_all(chunks: &[&[u8]]) -> Result<Split, DemuxError> {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        let mut lost = 0;
        let mut f = |u: Unit<'_>| {
            match u {
                Unit::Packet(p) => out.push(p.to_vec()),
                Unit::SyncLost => lost += 1,
            }
            Ok(())
        };
        for c in chunks {
            s.push(c, &mut f)?;
        }
        let rest = s.finish(&mut f)?;
        Ok((out, lost, rest))
    }

    #[test]
    fn adaptation_field_and_stuffing() {
        let mut p = packet(0x100, 3, 0xaa);
        p[1] |= 0x40;
        p[3] = 0x30 | 3; // adaptation field + payload
        p[4] = 100;
        p[5] = 0x80; // discontinuity
        let pkt = parse_packet(&p).expect("valid");
        assert_eq!(pkt.pid, 0x100);
        assert!(pkt.payload_unit_start && pkt.discontinuity && pkt.has_payload);
        assert_eq!(pkt.payload.len(), PACKET_LEN - 5 - 100);
        p[4] = 183;
        assert_eq!(parse_packet(&p).expect("valid").payload.len(), 0);
        p[4] = 184;
        assert!(parse_packet(&p).is_none());
        p[3] = 0x20; // adaptation only
        p[4] = 183;
        assert!(!parse_packet(&p).expect("valid").has_payload);
    }

    #[test]
    fn continuity() {
        let mut c = ContinuityCounter::default();
        let p = |cc| packet(0x100, cc, 0);
        let check = |c: &mut ContinuityCounter, cc| c.check(&parse_packet(&p(cc)).expect("ok"));
        assert_eq!(check(&mut c, 15), Continuity::Ok);
        assert_eq!(check(&mut c, 0), Continuity::Ok);
        assert_eq!(check(&mut c, 0), Continuity::Duplicate);
        assert_eq!(check(&mut c, 2), Continuity::Lost);
        assert_eq!(check(&mut c, 3), Continuity::Ok);
    }

    #[test]
    fn splits_at_any_chunking_and_resyncs() {
        let mut stream = Vec::new();
        for i in 0..4 {
            stream.extend(packet(0x100, i, i));
        }
        stream.extend_from_slice(&[1, 2, 3, 0x47, 5]); // garbage with a false sync byte
        for i in 4..8 {
            stream.extend(packet(0x100, i, i));
        }
        let whole = split_all(&[&stream]).expect("ok");
        assert_eq!(whole.0.len(), 8);
        assert_eq!(whole.1, 1);
        assert!(whole.2.is_none());
        for size in [1, 7, 187, 188, 189, 1000] {
            let chunks: Vec<&[u8]> = stream.chunks(size).collect();
            let r = split_all(&chunks).expect("ok");
            assert_eq!(r.0, whole.0, "chunk size {size}");
        }
    }

    #[test]
    fn garbage_is_not_ts() {
        let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let err = split_all(&[&garbage]).expect_err("garbage");
        assert_eq!(err.message, "not an MPEG-TS stream");
        let err = split_all(&[b"hello"]).expect_err("short garbage");
        assert_eq!(err.message, "not an MPEG-TS stream");
    }

    #[test]
    fn short_stream_and_cut_packet() {
        let mut stream = packet(0x100, 0, 0);
        stream.extend_from_slice(&packet(0x101, 0, 0)[..50]);
        let (pkts, _, rest) = split_all(&[&stream]).expect("ok");
        assert_eq!(pkts.len(), 1);
        assert_eq!(rest.map(|r| r.len()), Some(50));
    }
}
