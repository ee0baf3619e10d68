//! PES packets: reassembly from transport packets, header parsing and 33-bit clock unwrapping.

use alloc::vec::Vec;

use super::packet::{Continuity, ContinuityCounter, Packet};

/// An unbounded (PES_packet_length 0) PES larger than this is dropped: far beyond any real
/// access unit, and it keeps a stream that never starts a new PES from growing memory forever.
pub const MAX_PES: usize = 32 << 20;

/// What is left in the assembler when the input ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Pending<'a> {
    Nothing,
    /// A PES of undeclared length: complete as far as anyone can tell.
    Unbounded(&'a [u8]),
    /// A PES that declared more bytes than arrived.
    Incomplete {
        have: usize,
        want: usize,
    },
}

/// Reassembles the PES packets of one PID.
#[derive(Debug, Default)]
pub struct PesAssembler {
    buf: Vec<u8>,
    collecting: bool,
    /// Total PES bytes (header included) once known; `None` while unknown or unbounded.
    declared: Option<usize>,
    header_checked: bool,
    /// Data was lost since the last PES handed on, so a consumer must not join the next PES
    /// to state carried over from the previous one.
    gap: bool,
    cc: ContinuityCounter,
    /// Continuity-counter jumps seen (packets lost).
    lost: u64,
    /// PES packets abandoned because part of them was lost or damaged.
    dropped: u64,
}

impl PesAssembler {
    /// Feeds one packet of this PID; calls `out` with each complete PES packet and whether
    /// data was lost before it.
    pub fn push(&mut self, pkt: &Packet<'_>, out: &mut impl FnMut(&[u8], bool)) {
        match self.cc.check(pkt) {
            Continuity::Duplicate => return,
            Continuity::Lost => {
                self.lost += 1;
                self.abandon();
            }
            Continuity::Ok => {}
        }
        if pkt.transport_error || pkt.scrambled {
            self.abandon();
            return;
        }
        if !pkt.has_payload {
            return;
        }
        if pkt.payload_unit_start {
            if self.collecting && self.declared.is_none() && self.header_checked {
                out(&self.buf, self.gap);
                self.gap = false;
            } else if self.collecting {
                // A declared-length PES still short here lost bytes without a counter jump.
                self.abandon();
            }
            self.buf.clear();
            self.collecting = true;
            self.declared = None;
            self.header_checked = false;
        } else if !self.collecting {
            // The rest of a PES whose start was lost.
            self.gap = true;
            return;
        }
        self.buf.extend_from_slice(pkt.payload);
        if !self.header_checked && self.buf.len() >= 6 {
            if self.buf[..3] != [0, 0, 1] {
                self.abandon();
                return;
            }
            let len = usize::from(u16::from_be_bytes([self.buf[4], self.buf[5]]));
            self.declared = (len != 0).then_some(6 + len);
            self.header_checked = true;
        }
        if let Some(total) = self.declared {
            if self.buf.len() >= total {
                // Anything past the declared length is not part of this PES.
                self.buf.truncate(total);
                out(&self.buf, self.gap);
                self.gap = false;
                self.drop_current();
            }
        } else if self.buf.len() > MAX_PES {
            self.abandon();
        }
    }

    /// Bytes held for the PES being assembled.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drops a PES known to be damaged (or over a buffering limit), so that no sample is
    /// made from it.
    pub fn abandon(&mut self) {
        if self.collecting {
            self.dropped += 1;
        }
        self.drop_current();
        self.gap = true;
    }

    /// (continuity errors, PES packets dropped) so far.
    pub fn damage(&self) -> (u64, u64) {
        (self.lost, self.dropped)
    }

    /// Abandons the PES being reassembled (a continuity error, a loss of sync).
    pub fn drop_current(&mut self) {
        self.buf.clear();
        self.collecting = false;
        self.declared = None;
        self.header_checked = false;
    }

    /// Forgets everything including the continuity counter, as after a loss of sync.
    pub fn clear(&mut self) {
        self.drop_current();
        self.gap = true;
        self.cc.reset();
    }

    /// Whether data was lost before the pending PES.
    pub fn after_gap(&self) -> bool {
        self.gap
    }

    pub fn pending(&self) -> Pending<'_> {
        if !self.collecting || self.buf.is_empty() {
            return Pending::Nothing;
        }
        match self.declared {
            None if self.header_checked => Pending::Unbounded(&self.buf),
            // Fewer than six bytes: the length field itself is missing.
            None => Pending::Incomplete {
                have: self.buf.len(),
                want: 6,
            },
            Some(want) => Pending::Incomplete {
                have: self.buf.len(),
                want,
            },
        }
    }
}

/// The parts of a PES header a demuxer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    /// 33-bit raw clock values.
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Offset of the elementary stream data in the PES packet.
    pub payload_offset: usize,
}

/// Parses a PES header; `None` if malformed.
pub fn parse_pes_header(pes: &[u8]) -> Option<PesHeader> {
    if pes.len() < 6 || pes[..3] != [0, 0, 1] {
        return None;
    }
    let stream_id = pes[3];
    // These stream ids carry no optional header (ISO 13818-1 table 2-21).
    if matches!(
        stream_id,
        0xbc | 0xbe | 0xbf | 0xf0 | 0xf1 | 0xf2 | 0xf8 | 0xff
    ) {
        return Some(PesHeader {
            stream_id,
            pts: None,
            dts: None,
            payload_offset: 6,
        });
    }
    if pes.len() < 9 || pes[6] & 0xc0 != 0x80 {
        return None;
    }
    let flags = pes[7] >> 6;
    let header_len = usize::from(pes[8]);
    let payload_offset = 9 + header_len;
    let opt = pes.get(9..payload_offset)?;
    let (mut pts, mut dts) = (None, None);
    if flags & 0x2 != 0 {
        pts = Some(read_timestamp(opt.get(0..5)?)?);
    }
    if flags == 0x3 {
        dts = Some(read_timestamp(opt.get(5..10)?)?);
    }
    Some(PesHeader {
        stream_id,
        pts,
        dts,
        payload_offset,
    })
}

/// A 33-bit timestamp in its 5-byte marker-bit layout.
fn read_timestamp(b: &[u8]) -> Option<u64> {
    if b.len() < 5 {
        return None;
    }
    Some(
        (u64::from(b[0] >> 1 & 0x07) << 30)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] >> 1) << 15)
            | (u64::from(b[3]) << 7)
            | u64::from(b[4] >> 1),
    )
}

pub const CLOCK_WRAP: i64 = 1 << 33;

/// The value congruent to `raw` modulo 2^33 that is nearest to `reference`.
pub fn unwrap_near(reference: i64, raw: u64) -> i64 {
    let raw = (raw as i64) & (CLOCK_WRAP - 1);
    let mut v = reference - reference.rem_euclid(CLOCK_WRAP) + raw;
    if v - reference > CLOCK_WRAP / 2 {
        v -= CLOCK_WRAP;
    } else if reference - v > CLOCK_WRAP / 2 {
        v += CLOCK_WRAP;
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demux::ts::packet::{parse_packet, PACKET_LEN};
    use alloc::vec;

    pub fn write_timestamp(prefix: u8, t: u64) -> [u8; 5] {
        [
            (prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1,
            (t >> 22) as u8,
            (((t >> 15) as u8) << 1) | 1,
            (t >> 7) as u8,
            ((t as u8) << 1) | 1,
        ]
    }

    /// A PES packet; `bounded` writes PES_packet_length, otherwise 0.
    pub fn pes(stream_id: u8, pts: u64, dts: Option<u64>, data: &[u8], bounded: bool) -> Vec<u8> {
        let mut opt = Vec::new();
        let flags = if let Some(dts) = dts {
            opt.extend_from_slice(&write_timestamp(3, pts));
            opt.extend_from_slice(&write_timestamp(1, dts));
            0xc0
        } else {
            opt.extend_from_slice(&write_timestamp(2, pts));
            0x80
        };
        let len = 3 + opt.len() + data.len();
        let len = if bounded { len as u16 } else { 0 };
        let mut p = vec![0, 0, 1, stream_id];
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[0x80, flags, opt.len() as u8]);
        p.extend_from_slice(&opt);
        p.extend_from_slice(data);
        p
    }

    /// Packetizes a PES, filling the last packet with adaptation-field stuffing as muxers do.
    pub fn pes_packets(pid: u16, pes: &[u8], cc: &mut u8) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = pes;
        let mut first = true;
        while !rest.is_empty() {
            let mut p = vec![0x47, (pid >> 8) as u8, pid as u8, 0x10 | (*cc & 0xf)];
            *cc = (*cc + 1) & 0xf;
            if first {
                p[1] |= 0x40;
                first = false;
            }
            let n = rest.len().min(PACKET_LEN - 4);
            if n < PACKET_LEN - 4 {
                p[3] |= 0x20;
                let af_len = PACKET_LEN - 4 - n - 1;
                p.push(af_len as u8);
                if af_len > 0 {
                    p.push(0);
                    p.resize(5 + af_len, 0xff);
                }
            }
            p.extend_from_slice(&rest[..n]);
            assert_eq!(p.len(), PACKET_LEN);
            rest = &rest[n..];
            out.push(p);
        }
        out
    }

    fn assemble(packets: &[Vec<u8>]) -> (Vec<Vec<u8>>, PesAssembler) {
        let mut asm = PesAssembler::default();
        let mut got = Vec::new();
        for p in packets {
            asm.push(&parse_packet(p).expect("pkt"), &mut |pes, _| {
                got.push(pes.to_vec())
            });
        }
        (got, asm)
    }

    #[test]
    fn timestamps() {
        let p = pes(0xe0, 0x1_2345_6789, Some(0x1_2345_0000), b"x", true);
        let h = parse_pes_header(&p).expect("hdr");
        assert_eq!(h.pts, Some(0x1_2345_6789));
        assert_eq!(h.dts, Some(0x1_2345_0000));
        assert_eq!(&p[h.payload_offset..], b"x");
        assert!(parse_pes_header(&p[..12]).is_none());
    }

    #[test]
    fn unwrap_33_bits() {
        let max = (CLOCK_WRAP - 1) as u64;
        assert_eq!(unwrap_near(0, 100), 100);
        assert_eq!(unwrap_near(max as i64 - 10, 5), CLOCK_WRAP + 5);
        assert_eq!(unwrap_near(CLOCK_WRAP + 5, max - 3), CLOCK_WRAP - 4);
        assert_eq!(unwrap_near(10, max), -1);
        assert_eq!(unwrap_near(3 * CLOCK_WRAP + 7, 9), 3 * CLOCK_WRAP + 9);
    }

    #[test]
    fn pes_split_over_many_packets() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        for bounded in [true, false] {
            let p1 = pes(0xe0, 1000, None, &data, bounded);
            let p2 = pes(0xe0, 4000, None, &data[..10], bounded);
            let mut cc = 0;
            let mut packets = pes_packets(0x100, &p1, &mut cc);
            assert!(packets.len() > 25);
            packets.extend(pes_packets(0x100, &p2, &mut cc));
            let (got, asm) = assemble(&packets);
            if bounded {
                assert_eq!(got, vec![p1.clone(), p2.clone()]);
                assert_eq!(asm.pending(), Pending::Nothing);
            } else {
                assert_eq!(got, vec![p1.clone()]);
                assert_eq!(asm.pending(), Pending::Unbounded(&p2));
            }
        }
    }

    #[test]
    fn continuity_error_drops_pes() {
        let data = [7u8; 1000];
        let mut cc = 0;
        let mut packets = pes_packets(0x100, &pes(0xc0, 0, None, &data, true), &mut cc);
        packets.remove(2);
        let good = pes(0xc0, 9000, None, &data, true);
        packets.extend(pes_packets(0x100, &good, &mut cc));
        let (got, _) = assemble(&packets);
        assert_eq!(got, vec![good]);
    }

    #[test]
    fn incomplete_declared_pes_is_pending() {
        let mut cc = 0;
        let packets = pes_packets(0x101, &pes(0xc0, 0, None, &[1; 1000], true), &mut cc);
        let (got, asm) = assemble(&packets[..3]);
        assert!(got.is_empty());
        assert_eq!(
            asm.pending(),
            Pending::Incomplete {
                have: 3 * 184,
                want: 1014
            }
        );
    }
}
