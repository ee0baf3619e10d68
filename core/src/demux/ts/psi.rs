//! Program-specific information: section reassembly across packets, CRC, PAT and PMT.

use alloc::vec::Vec;

use crate::media::Language;

use super::packet::{Continuity, ContinuityCounter, Packet};

/// The largest section a PAT or PMT may be (ISO 13818-1 limits private sections to 4096).
const MAX_SECTION: usize = 4096;

/// Reassembles the sections carried on one PID.
#[derive(Debug, Default)]
pub struct SectionAssembler {
    buf: Vec<u8>,
    /// Whether `buf` holds the start of a section (a pointer_field has been seen since the
    /// last loss).
    active: bool,
    cc: ContinuityCounter,
    /// Continuity-counter jumps seen (packets lost).
    lost: u64,
}

impl SectionAssembler {
    /// Feeds one packet of this PID; calls `out` with each complete section (CRC unchecked).
    pub fn push(&mut self, pkt: &Packet<'_>, out: &mut impl FnMut(&[u8])) {
        match self.cc.check(pkt) {
            Continuity::Duplicate => return,
            Continuity::Lost => {
                self.lost += 1;
                self.reset();
            }
            Continuity::Ok => {}
        }
        if pkt.transport_error || pkt.scrambled {
            self.reset();
            return;
        }
        if !pkt.has_payload {
            return;
        }
        if pkt.payload_unit_start {
            let Some((&pointer, rest)) = pkt.payload.split_first() else {
                return;
            };
            let pointer = usize::from(pointer);
            let Some(tail) = rest.get(..pointer) else {
                self.reset();
                return;
            };
            if self.active {
                self.append(tail, out);
            }
            self.buf.clear();
            self.active = true;
            self.append(&rest[pointer..], out);
        } else if self.active {
            self.append(pkt.payload, out);
        }
    }

    /// Continuity errors so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    fn append(&mut self, data: &[u8], out: &mut impl FnMut(&[u8])) {
        self.buf.extend_from_slice(data);
        while self.active && self.buf.len() >= 3 {
            if self.buf[0] == 0xff {
                // Stuffing: nothing more starts in this packet.
                self.reset();
                break;
            }
            let total = 3 + ((usize::from(self.buf[1] & 0x0f) << 8) | usize::from(self.buf[2]));
            if total > MAX_SECTION {
                self.reset();
                break;
            }
            if self.buf.len() < total {
                break;
            }
            out(&self.buf[..total]);
            self.buf.drain(..total);
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.active = false;
    }

    /// Forgets everything, as after a loss of sync.
    pub fn clear(&mut self) {
        self.reset();
        self.cc.reset();
    }
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut j = 0;
        while j < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            };
            j += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32/MPEG-2: over a whole section including its CRC field it is 0.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xffff_ffff, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

/// The long-form section fields shared by PAT and PMT, after checking syntax and CRC.
struct LongSection<'a> {
    table_id: u8,
    /// transport_stream_id for a PAT, program_number for a PMT.
    id: u16,
    version: u8,
    current: bool,
    /// Between the 8-byte header and the CRC.
    body: &'a [u8],
}

fn long_section(section: &[u8]) -> Option<LongSection<'_>> {
    if section.len() < 12 || section[1] & 0x80 == 0 || crc32_mpeg2(section) != 0 {
        return None;
    }
    Some(LongSection {
        table_id: section[0],
        id: u16::from_be_bytes([section[3], section[4]]),
        version: (section[5] >> 1) & 0x1f,
        current: section[5] & 1 == 1,
        body: &section[8..section.len() - 4],
    })
}

/// The programs of a PAT section as (program_number, PMT PID), network PID entries excluded.
pub fn parse_pat(section: &[u8]) -> Option<Vec<(u16, u16)>> {
    let s = long_section(section)?;
    if s.table_id != 0x00 || !s.current {
        return None;
    }
    Some(
        s.body
            .chunks_exact(4)
            .map(|e| {
                (
                    u16::from_be_bytes([e[0], e[1]]),
                    u16::from_be_bytes([e[2] & 0x1f, e[3]]),
                )
            })
            .filter(|&(program, _)| program != 0)
            .collect(),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    pub program_number: u16,
    pub version: u8,
    /// (stream_type, elementary PID) in PMT order.
    pub streams: Vec<(u8, u16)>,
    /// Elementary PIDs with an ISO 639 language descriptor, and its (first) language.
    pub languages: Vec<(u16, Language)>,
}

pub fn parse_pmt(section: &[u8]) -> Option<Pmt> {
    let s = long_section(section)?;
    if s.table_id != 0x02 || !s.current || s.body.len() < 4 {
        return None;
    }
    let program_info_len = (usize::from(s.body[2] & 0x0f) << 8) | usize::from(s.body[3]);
    let mut es = s.body.get(4 + program_info_len..)?;
    let mut streams = Vec::new();
    let mut languages = Vec::new();
    while es.len() >= 5 {
        let stream_type = es[0];
        let pid = u16::from_be_bytes([es[1] & 0x1f, es[2]]);
        let info_len = (usize::from(es[3] & 0x0f) << 8) | usize::from(es[4]);
        streams.push((stream_type, pid));
        if let Some(language) = es.get(5..5 + info_len).and_then(iso_639_language) {
            languages.push((pid, language));
        }
        es = es.get(5 + info_len..)?;
    }
    Some(Pmt {
        program_number: s.id,
        version: s.version,
        streams,
        languages,
    })
}

/// The first language of an ISO 639 language descriptor (tag 0x0a, ISO 13818-1 2.6.18)
/// among an elementary stream's descriptors.
fn iso_639_language(mut descriptors: &[u8]) -> Option<Language> {
    while let [tag, len, rest @ ..] = descriptors {
        let body = rest.get(..usize::from(*len))?;
        if *tag == 0x0a && body.len() >= 4 {
            return Language::new(&body[..3]);
        }
        descriptors = &rest[usize::from(*len)..];
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demux::ts::packet::{parse_packet, PACKET_LEN};
    use alloc::vec;

    /// A long-form section with a correct CRC.
    pub fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
        let len = 5 + body.len() + 4;
        let mut s = vec![table_id, 0xb0 | (len >> 8) as u8, len as u8];
        s.extend_from_slice(&id.to_be_bytes());
        s.extend_from_slice(&[0xc1, 0, 0]);
        s.extend_from_slice(body);
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }

    pub fn pat(pmt_pid: u16) -> Vec<u8> {
        section(0, 1, &[0, 1, 0xe0 | (pmt_pid >> 8) as u8, pmt_pid as u8])
    }

    pub fn pmt(streams: &[(u8, u16)]) -> Vec<u8> {
        let mut body = vec![0xe1, 0x00, 0xf0, 0x00];
        for &(t, pid) in streams {
            body.extend_from_slice(&[t, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0]);
        }
        section(2, 1, &body)
    }

    /// Packetizes a section (with pointer_field 0) into as many packets as needed.
    pub fn section_packets(pid: u16, section: &[u8], cc: &mut u8) -> Vec<Vec<u8>> {
        let mut data = vec![0u8];
        data.extend_from_slice(section);
        data.chunks(PACKET_LEN - 4)
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = vec![0x47, (pid >> 8) as u8, pid as u8, 0x10 | (*cc & 0xf)];
                *cc = (*cc + 1) & 0xf;
                if i == 0 {
                    p[1] |= 0x40;
                }
                p.extend_from_slice(chunk);
                p.resize(PACKET_LEN, 0xff);
                p
            })
            .collect()
    }

    #[test]
    fn iso_639_descriptor_names_the_language() {
        // A registration descriptor first, then ISO 639 "fra" with audio_type 0.
        let d = [
            0x05, 4, b'A', b'C', b'-', b'3', 0x0a, 4, b'f', b'r', b'a', 0,
        ];
        assert_eq!(iso_639_language(&d), Language::new(b"fra"));
        assert_eq!(iso_639_language(&[0x0a, 4, b'u', b'n', b'd', 0]), None);
        // Truncated descriptors are ignored, not read past.
        assert_eq!(iso_639_language(&[0x0a, 9, b'e', b'n']), None);
        assert_eq!(iso_639_language(&[0x0a]), None);
    }

    #[test]
    fn crc_known_value() {
        // CRC-32/MPEG-2 check value.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        assert_eq!(crc32_mpeg2(&pat(0x1000)), 0);
    }

    #[test]
    fn pat_and_pmt() {
        assert_eq!(parse_pat(&pat(0x1000)), Some(vec![(1, 0x1000)]));
        let pmt = parse_pmt(&pmt(&[(0x1b, 0x100), (0x0f, 0x101)])).expect("pmt");
        assert_eq!(pmt.streams, vec![(0x1b, 0x100), (0x0f, 0x101)]);
        let mut bad = pat(0x1000);
        bad[9] ^= 1;
        assert_eq!(parse_pat(&bad), None);
    }

    #[test]
    fn section_split_over_packets() {
        let many: Vec<(u8, u16)> = (0..80).map(|i| (0x06, 0x200 + i)).collect();
        let sec = pmt(&many);
        assert!(sec.len() > 2 * (PACKET_LEN - 4));
        let mut cc = 0;
        let packets = section_packets(0x1000, &sec, &mut cc);
        assert_eq!(packets.len(), 3);
        let mut asm = SectionAssembler::default();
        let mut got = Vec::new();
        for p in &packets {
            asm.push(&parse_packet(p).expect("pkt"), &mut |s| {
                got.push(s.to_vec())
            });
        }
        assert_eq!(got, vec![sec.clone()]);
        assert_eq!(parse_pmt(&got[0]).expect("pmt").streams, many);

        // A lost middle packet loses the section.
        let mut asm = SectionAssembler::default();
        let mut got = Vec::new();
        for p in [&packets[0], &packets[2]] {
            asm.push(&parse_packet(p).expect("pkt"), &mut |s| {
                got.push(s.to_vec())
            });
        }
        assert!(got.is_empty());
    }

    #[test]
    fn pointer_field_completes_previous_section() {
        let sec = pmt(&[(0x1b, 0x100)]);
        let (a, b) = sec.split_at(10);
        // Adaptation-field stuffing so that the section's first part ends the packet.
        let af_len = PACKET_LEN - 4 - 1 - 1 - a.len();
        let mut p1 = vec![0x47, 0x50, 0x00, 0x30, af_len as u8, 0];
        p1.resize(5 + af_len, 0xff);
        p1.push(0);
        p1.extend_from_slice(a);
        // Second packet: pointer to the rest of the first section, then a whole second one.
        let mut p2 = vec![0x47, 0x50, 0x00, 0x11, b.len() as u8];
        p2.extend_from_slice(b);
        p2.extend_from_slice(&sec);
        p2.resize(PACKET_LEN, 0xff);
        let mut asm = SectionAssembler::default();
        let mut got = Vec::new();
        for p in [&p1, &p2] {
            asm.push(&parse_packet(p).expect("pkt"), &mut |s| {
                got.push(s.to_vec())
            });
        }
        assert_eq!(got, vec![sec.clone(), sec]);
    }
}
