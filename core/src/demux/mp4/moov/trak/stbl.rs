//! `stbl`: the progressive sample tables and a cursor that walks them in decode order.
//!
//! Tables are kept run-length (as stored) and expanded one sample at a time, so memory is
//! bounded by the `moov` size even when a table claims billions of samples; every count is
//! checked against the others before the walk starts.
//!
//! Each table's loop is its own function (`#[inline(never)]`): V8 re-optimises a wasm
//! function whose loops run long, and it is cheaper to recompile a small table parser than
//! the whole of `parse_stbl`, which runs once per track (see `moov::parse_moov`).

use alloc::format;
use alloc::vec::Vec;

use crate::bytes_util::Reader;
use crate::demux::mp4::boxes::{self, full_box, short};
use crate::demux::mp4::sched::Meta;
use crate::demux::DemuxError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sizes {
    Constant { size: u32, count: u32 },
    Table(Vec<u32>),
}

impl Sizes {
    fn count(&self) -> u32 {
        match self {
            Sizes::Constant { count, .. } => *count,
            // Built from a u32 count.
            Sizes::Table(t) => t.len() as u32,
        }
    }
    fn get(&self, i: u32) -> u32 {
        match self {
            Sizes::Constant { size, .. } => *size,
            Sizes::Table(t) => t.get(i as usize).copied().unwrap_or(0),
        }
    }
}

/// The sample tables of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SampleTable {
    sizes: Sizes,
    chunk_offsets: Vec<u64>,
    /// (first_chunk, samples_per_chunk), first_chunk 1-based and strictly increasing.
    stsc: Vec<(u32, u32)>,
    stts: Vec<(u32, u32)>,
    ctts: Vec<(u32, i64)>,
    /// 1-based sync sample numbers, ascending; `None` means every sample is sync.
    stss: Option<Vec<u32>>,
    pub sample_count: u32,
    pub total_bytes: u64,
    pub total_duration: u64,
    /// The byte after the last chunk's samples: where the table expects the data to end.
    pub end_offset: u64,
}

impl SampleTable {
    pub fn cursor(self) -> TableCursor {
        TableCursor {
            table: self,
            sample: 0,
            next_chunk: 0,
            left_in_chunk: 0,
            offset: 0,
            stsc_i: 0,
            stts: RunPos::default(),
            ctts: RunPos::default(),
            stss_i: 0,
            dts: 0,
        }
    }
}

/// Parses the tables of an `stbl` body (the `stsd` is parsed separately).
pub(crate) fn parse_stbl(stbl: &[u8]) -> Result<SampleTable, DemuxError> {
    let mut sizes = None;
    let mut chunk_offsets = None;
    let mut stsc = None;
    let mut stts = None;
    let mut ctts = Vec::new();
    let mut stss = None;
    for child in boxes::children(stbl) {
        let child = child?;
        match &child.typ {
            b"stsz" => sizes = Some(parse_stsz(child.body)?),
            b"stz2" => sizes = Some(parse_stz2(child.body)?),
            b"stco" => chunk_offsets = Some(parse_chunk_offsets(child.body, false)?),
            b"co64" => chunk_offsets = Some(parse_chunk_offsets(child.body, true)?),
            b"stsc" => stsc = Some(parse_stsc(child.body)?),
            b"stts" => stts = Some(parse_stts(child.body)?),
            b"ctts" => ctts = parse_ctts(child.body)?,
            b"stss" => stss = Some(parse_stss(child.body)?),
            _ => {}
        }
    }
    let sizes = sizes.unwrap_or(Sizes::Table(Vec::new()));
    let chunk_offsets = chunk_offsets.unwrap_or_default();
    let stsc = stsc.unwrap_or_default();
    let stts = stts.unwrap_or_default();
    build(sizes, chunk_offsets, stsc, stts, ctts, stss)
}

/// Cross-checks the tables and computes the totals.
#[inline(never)]
fn build(
    sizes: Sizes,
    chunk_offsets: Vec<u64>,
    stsc: Vec<(u32, u32)>,
    stts: Vec<(u32, u32)>,
    ctts: Vec<(u32, i64)>,
    stss: Option<Vec<u32>>,
) -> Result<SampleTable, DemuxError> {
    let count = sizes.count();
    let stts_count: u64 = stts.iter().map(|&(n, _)| u64::from(n)).sum();
    if stts_count != u64::from(count) {
        return Err(DemuxError::malformed(format!(
            "stts describes {stts_count} samples but stsz has {count}"
        )));
    }
    if !ctts.is_empty() {
        let ctts_count: u64 = ctts.iter().map(|&(n, _)| u64::from(n)).sum();
        if ctts_count < u64::from(count) {
            return Err(DemuxError::malformed(format!(
                "ctts describes {ctts_count} samples but stsz has {count}"
            )));
        }
    }
    // Samples per chunk run, and which sample opens the last chunk (for `end_offset`).
    let chunks = chunk_offsets.len() as u64;
    let mut stsc_count: u64 = 0;
    let mut last_chunk_first_sample: u64 = 0;
    let mut last_chunk_samples: u64 = 0;
    for (i, &(first, per_chunk)) in stsc.iter().enumerate() {
        let first = u64::from(first);
        if first > chunks {
            break;
        }
        let next = stsc
            .get(i + 1)
            .map_or(chunks + 1, |&(f, _)| u64::from(f).min(chunks + 1));
        let run = next - first;
        let per_chunk = u64::from(per_chunk);
        stsc_count = stsc_count.saturating_add(run.saturating_mul(per_chunk));
        if next == chunks + 1 && run > 0 {
            last_chunk_first_sample = stsc_count.saturating_sub(per_chunk);
            last_chunk_samples = per_chunk;
        }
    }
    if stsc_count < u64::from(count) {
        return Err(DemuxError::malformed(format!(
            "stsc and stco place {stsc_count} samples but stsz has {count}"
        )));
    }
    let total_bytes = match &sizes {
        Sizes::Constant { size, count } => u64::from(*size) * u64::from(*count),
        Sizes::Table(t) => t.iter().map(|&s| u64::from(s)).sum(),
    };
    let total_duration = stts
        .iter()
        .map(|&(n, d)| u64::from(n) * u64::from(d))
        .fold(0u64, u64::saturating_add);
    let end_offset = match chunk_offsets.last() {
        Some(&last) if count > 0 => {
            let first = last_chunk_first_sample.min(u64::from(count));
            let n = last_chunk_samples.min(u64::from(count) - first);
            let bytes = match &sizes {
                Sizes::Constant { size, .. } => u64::from(*size).saturating_mul(n),
                Sizes::Table(t) => t
                    .iter()
                    .skip(first as usize)
                    .take(n as usize)
                    .map(|&s| u64::from(s))
                    .sum(),
            };
            last.saturating_add(bytes)
        }
        _ => 0,
    };
    Ok(SampleTable {
        sizes,
        chunk_offsets,
        stsc,
        stts,
        ctts,
        stss,
        sample_count: count,
        total_bytes,
        total_duration,
        end_offset,
    })
}

/// Reads a full box's entry count and checks the body holds that many `entry_len` entries,
/// so allocations are bounded by the bytes actually present.
fn entries<'a>(
    body: &'a [u8],
    typ: &str,
    entry_len: usize,
) -> Result<(u32, Reader<'a>), DemuxError> {
    entries_after(body, 4, typ, entry_len)
}

#[inline(never)]
fn parse_stsz(body: &[u8]) -> Result<Sizes, DemuxError> {
    let (_, _, rest) = full_box(body, "stsz")?;
    let mut r = Reader::new(rest);
    let size = r.u32().ok_or_else(|| short("stsz"))?;
    if size != 0 {
        let count = r.u32().ok_or_else(|| short("stsz"))?;
        return Ok(Sizes::Constant { size, count });
    }
    let (count, mut r) = entries_after(body, 8, "stsz", 4)?;
    let mut t = Vec::with_capacity(count as usize);
    for _ in 0..count {
        t.push(r.u32().ok_or_else(|| short("stsz"))?);
    }
    Ok(Sizes::Table(t))
}

/// Like [`entries`], for tables whose count sits `count_at` bytes into the body.
fn entries_after<'a>(
    body: &'a [u8],
    count_at: usize,
    typ: &str,
    entry_len: usize,
) -> Result<(u32, Reader<'a>), DemuxError> {
    let mut r = Reader::new(body);
    r.skip(count_at).ok_or_else(|| short(typ))?;
    let count = r.u32().ok_or_else(|| short(typ))?;
    let need = u64::from(count) * entry_len as u64;
    if need > r.remaining() as u64 {
        return Err(DemuxError::malformed(format!(
            "{typ} declares {count} entries but holds only {} bytes",
            r.remaining()
        )));
    }
    Ok((count, r))
}

#[inline(never)]
fn parse_stz2(body: &[u8]) -> Result<Sizes, DemuxError> {
    // version/flags, 3 reserved bytes, field_size
    let field_size = *body.get(7).ok_or_else(|| short("stz2"))?;
    let bits = match field_size {
        4 | 8 | 16 => usize::from(field_size),
        n => {
            return Err(DemuxError::malformed(format!(
                "stz2 has invalid field size {n}"
            )))
        }
    };
    let mut r = Reader::new(body);
    r.skip(8).ok_or_else(|| short("stz2"))?;
    let count = r.u32().ok_or_else(|| short("stz2"))?;
    let need = (u64::from(count) * bits as u64).div_ceil(8);
    if need > r.remaining() as u64 {
        return Err(DemuxError::malformed(format!(
            "stz2 declares {count} entries but holds only {} bytes",
            r.remaining()
        )));
    }
    let data = r.rest();
    let mut t = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let v = match bits {
            4 => {
                let b = data[i / 2];
                u32::from(if i % 2 == 0 { b >> 4 } else { b & 0x0f })
            }
            8 => u32::from(data[i]),
            _ => u32::from(u16::from_be_bytes([data[2 * i], data[2 * i + 1]])),
        };
        t.push(v);
    }
    Ok(Sizes::Table(t))
}

#[inline(never)]
fn parse_chunk_offsets(body: &[u8], wide: bool) -> Result<Vec<u64>, DemuxError> {
    let typ = if wide { "co64" } else { "stco" };
    let (count, mut r) = entries(body, typ, if wide { 8 } else { 4 })?;
    let mut t = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let v = if wide {
            r.u64()
        } else {
            r.u32().map(u64::from)
        };
        t.push(v.ok_or_else(|| short(typ))?);
    }
    Ok(t)
}

#[inline(never)]
fn parse_stsc(body: &[u8]) -> Result<Vec<(u32, u32)>, DemuxError> {
    let (count, mut r) = entries(body, "stsc", 12)?;
    let mut t: Vec<(u32, u32)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let first = r.u32().ok_or_else(|| short("stsc"))?;
        let per_chunk = r.u32().ok_or_else(|| short("stsc"))?;
        r.skip(4).ok_or_else(|| short("stsc"))?; // sample_description_index
        let prev = t.last().map_or(0, |&(f, _)| f);
        if first <= prev {
            return Err(DemuxError::malformed(format!(
                "stsc first_chunk {first} does not follow {prev}"
            )));
        }
        t.push((first, per_chunk));
    }
    Ok(t)
}

#[inline(never)]
fn parse_stts(body: &[u8]) -> Result<Vec<(u32, u32)>, DemuxError> {
    let (count, mut r) = entries(body, "stts", 8)?;
    let mut t = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let n = r.u32().ok_or_else(|| short("stts"))?;
        let delta = r.u32().ok_or_else(|| short("stts"))?;
        t.push((n, delta));
    }
    Ok(t)
}

#[inline(never)]
fn parse_ctts(body: &[u8]) -> Result<Vec<(u32, i64)>, DemuxError> {
    let (count, mut r) = entries(body, "ctts", 8)?;
    let mut t = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let n = r.u32().ok_or_else(|| short("ctts"))?;
        // Version 0 is unsigned on paper, but muxers write negative offsets there too; read
        // both versions as signed, as players do.
        let off = r.u32().ok_or_else(|| short("ctts"))? as i32;
        t.push((n, i64::from(off)));
    }
    Ok(t)
}

#[inline(never)]
fn parse_stss(body: &[u8]) -> Result<Vec<u32>, DemuxError> {
    let (count, mut r) = entries(body, "stss", 4)?;
    let mut t = Vec::with_capacity(count as usize);
    for _ in 0..count {
        t.push(r.u32().ok_or_else(|| short("stss"))?);
    }
    // The walk needs ascending numbers; a few writers do not sort.
    t.sort_unstable();
    t.dedup();
    Ok(t)
}

/// Position in a run-length table: the next entry to load and how many uses are left.
#[derive(Debug, Clone, Copy, Default)]
struct RunPos {
    next: usize,
    left: u32,
    value_index: usize,
}

impl RunPos {
    fn take<T: Copy>(&mut self, runs: &[(u32, T)]) -> Option<T> {
        while self.left == 0 {
            let &(n, _) = runs.get(self.next)?;
            self.value_index = self.next;
            self.left = n;
            self.next += 1;
        }
        self.left -= 1;
        runs.get(self.value_index).map(|&(_, v)| v)
    }
}

/// Walks a [`SampleTable`] in decode order.
pub(crate) struct TableCursor {
    table: SampleTable,
    sample: u32,
    next_chunk: usize,
    left_in_chunk: u32,
    offset: u64,
    stsc_i: usize,
    stts: RunPos,
    ctts: RunPos,
    stss_i: usize,
    dts: i64,
}

impl TableCursor {
    pub fn next(&mut self) -> Result<Option<Meta>, DemuxError> {
        let t = &self.table;
        if self.sample >= t.sample_count {
            return Ok(None);
        }
        // Skips chunks of zero samples; bounded by the chunk count.
        while self.left_in_chunk == 0 {
            let chunk = self.next_chunk;
            let &offset = t
                .chunk_offsets
                .get(chunk)
                .ok_or_else(|| DemuxError::malformed("sample table runs out of chunks"))?;
            while self.stsc_i + 1 < t.stsc.len() && t.stsc[self.stsc_i + 1].0 as usize <= chunk + 1
            {
                self.stsc_i += 1;
            }
            let &(_, per_chunk) = t
                .stsc
                .get(self.stsc_i)
                .ok_or_else(|| DemuxError::malformed("sample table has no stsc"))?;
            self.offset = offset;
            self.left_in_chunk = per_chunk;
            self.next_chunk += 1;
        }
        let size = t.sizes.get(self.sample);
        let duration = self
            .stts
            .take(&t.stts)
            .ok_or_else(|| DemuxError::malformed("stts runs out"))?;
        let cts_offset = if t.ctts.is_empty() {
            0
        } else {
            self.ctts
                .take(&t.ctts)
                .ok_or_else(|| DemuxError::malformed("ctts runs out"))?
        };
        let number = self.sample + 1;
        let keyframe = match &t.stss {
            None => true,
            Some(stss) => {
                while stss.get(self.stss_i).is_some_and(|&n| n < number) {
                    self.stss_i += 1;
                }
                stss.get(self.stss_i) == Some(&number)
            }
        };
        let meta = Meta {
            offset: self.offset,
            size,
            dts: self.dts,
            cts_offset,
            duration,
            keyframe,
        };
        self.offset = self
            .offset
            .checked_add(u64::from(size))
            .ok_or_else(|| DemuxError::malformed("sample offset overflows"))?;
        self.dts = self.dts.saturating_add(i64::from(duration));
        self.left_in_chunk -= 1;
        self.sample += 1;
        Ok(Some(meta))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demux::mp4::boxes::tests::{mk, mk_full};
    use alloc::vec;

    fn table(kind: &[u8; 4], entries: &[&[u32]]) -> Vec<u8> {
        let mut b = (entries.len() as u32).to_be_bytes().to_vec();
        for e in entries {
            for v in *e {
                b.extend(v.to_be_bytes());
            }
        }
        mk_full(kind, 0, 0, &b)
    }

    /// An stbl of five samples in two chunks (3 + 2), one B-frame style ctts, sync 1 and 4.
    pub(crate) fn sample_stbl(chunk_offsets: [u32; 2]) -> Vec<u8> {
        let mut s = Vec::new();
        let mut stsz = 0u32.to_be_bytes().to_vec();
        stsz.extend(5u32.to_be_bytes());
        for size in [10u32, 20, 30, 40, 50] {
            stsz.extend(size.to_be_bytes());
        }
        s.extend(mk_full(b"stsz", 0, 0, &stsz));
        s.extend(table(b"stco", &[&[chunk_offsets[0]], &[chunk_offsets[1]]]));
        s.extend(table(b"stsc", &[&[1, 3, 1], &[2, 2, 1]]));
        s.extend(table(b"stts", &[&[4, 100], &[1, 50]]));
        s.extend(table(b"ctts", &[&[1, 200], &[1, u32::MAX - 99], &[3, 0]]));
        s.extend(table(b"stss", &[&[4], &[1]]));
        s
    }

    fn walk(t: SampleTable) -> Vec<Meta> {
        let mut c = t.cursor();
        let mut v = Vec::new();
        while let Some(m) = c.next().unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn walks_chunks_times_and_sync() {
        let t = parse_stbl(&sample_stbl([1000, 5000])).unwrap();
        assert_eq!(t.sample_count, 5);
        assert_eq!(t.total_bytes, 150);
        assert_eq!(t.total_duration, 450);
        assert_eq!(t.end_offset, 5090);
        let m = walk(t);
        let offsets: Vec<u64> = m.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, vec![1000, 1010, 1030, 5000, 5040]);
        let dts: Vec<i64> = m.iter().map(|m| m.dts).collect();
        assert_eq!(dts, vec![0, 100, 200, 300, 400]);
        let cts: Vec<i64> = m.iter().map(|m| m.cts_offset).collect();
        assert_eq!(cts, vec![200, -100, 0, 0, 0]);
        let key: Vec<bool> = m.iter().map(|m| m.keyframe).collect();
        assert_eq!(key, vec![true, false, false, true, false]);
        assert_eq!(m[4].duration, 50);
    }

    #[test]
    fn constant_size_and_co64_and_stz2() {
        let mut s = Vec::new();
        let mut stsz = 7u32.to_be_bytes().to_vec();
        stsz.extend(3u32.to_be_bytes());
        s.extend(mk_full(b"stsz", 0, 0, &stsz));
        let mut co64 = 1u32.to_be_bytes().to_vec();
        co64.extend((1u64 << 33).to_be_bytes());
        s.extend(mk_full(b"co64", 0, 0, &co64));
        s.extend(table(b"stsc", &[&[1, 3, 1]]));
        s.extend(table(b"stts", &[&[3, 1]]));
        let m = walk(parse_stbl(&s).unwrap());
        assert_eq!(m[2].offset, (1u64 << 33) + 14);

        let mut stz2 = vec![0, 0, 0, 4];
        stz2.extend(3u32.to_be_bytes());
        stz2.extend([0x12, 0x30]);
        let mut s2 = mk_full(b"stz2", 0, 0, &stz2);
        s2.extend(table(b"stco", &[&[8]]));
        s2.extend(table(b"stsc", &[&[1, 3, 1]]));
        s2.extend(table(b"stts", &[&[3, 1]]));
        let m = walk(parse_stbl(&s2).unwrap());
        let sizes: Vec<u32> = m.iter().map(|m| m.size).collect();
        assert_eq!(sizes, vec![1, 2, 3]);
    }

    #[test]
    fn inconsistent_counts_are_malformed() {
        let mut s = sample_stbl([0, 100]);
        // Make stts describe 6 samples: patch the first run from 4 to 5.
        let stts_at = s.windows(4).position(|w| w == b"stts").unwrap();
        s[stts_at + 12 + 3] = 5;
        assert!(parse_stbl(&s).is_err());

        let mut s = Vec::new();
        let mut stsz = 7u32.to_be_bytes().to_vec();
        stsz.extend(4u32.to_be_bytes());
        s.extend(mk_full(b"stsz", 0, 0, &stsz));
        s.extend(table(b"stco", &[&[8]]));
        s.extend(table(b"stsc", &[&[1, 3, 1]]));
        s.extend(table(b"stts", &[&[4, 1]]));
        let e = parse_stbl(&s).unwrap_err();
        assert!(e.message.contains("stsc"), "{}", e.message);
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // 2^32-1 samples of 1 byte, declared in a few dozen bytes: accepted lazily.
        let mut s = Vec::new();
        let mut stsz = 1u32.to_be_bytes().to_vec();
        stsz.extend(u32::MAX.to_be_bytes());
        s.extend(mk_full(b"stsz", 0, 0, &stsz));
        s.extend(table(b"stco", &[&[8]]));
        s.extend(table(b"stsc", &[&[1, u32::MAX, 1]]));
        s.extend(table(b"stts", &[&[u32::MAX, 1]]));
        let t = parse_stbl(&s).unwrap();
        assert_eq!(t.sample_count, u32::MAX);
        // A table that claims more entries than it holds is rejected before allocating.
        let mut bad = 0u32.to_be_bytes().to_vec();
        bad.extend(u32::MAX.to_be_bytes());
        let stsz = mk_full(b"stsz", 0, 0, &bad);
        assert!(parse_stbl(&stsz).is_err());
        let stco = mk_full(b"stco", 0, 0, &u32::MAX.to_be_bytes());
        assert!(parse_stbl(&stco).is_err());
    }

    #[test]
    fn empty_stbl_has_no_samples() {
        let t = parse_stbl(&mk(b"free", &[])).unwrap();
        assert_eq!(t.sample_count, 0);
        assert!(walk(t).is_empty());
    }
}
