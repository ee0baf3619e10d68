//! `traf`: `tfhd` defaults, `tfdt` base time and the `trun` sample runs of one track.

use alloc::format;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::bytes_util::Reader;
use crate::demux::mp4::boxes::{self, full_box, short};
use crate::demux::mp4::moov::mvex::Trex;
use crate::demux::mp4::sched::Meta;
use crate::demux::DemuxError;
use crate::fragment;
use crate::fragment::tfxd::TFXD_UUID;
// The trun flags as the box layer names them.
use crate::fragment::trun::{
    DATA_OFFSET as TRUN_DATA_OFFSET, FIRST_SAMPLE_FLAGS as TRUN_FIRST_FLAGS,
    SAMPLE_CTS as TRUN_CTS, SAMPLE_DURATION as TRUN_DURATION, SAMPLE_FLAGS as TRUN_FLAGS,
    SAMPLE_SIZE as TRUN_SIZE,
};

const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// `sample_is_non_sync_sample` in the sample flags.
const NON_SYNC: u32 = 0x01_0000;

/// What the demuxer needs of a `tfhd` (the box itself is [`fragment::Tfhd`]), with `trex`
/// defaults already applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrackDefaults {
    pub track_id: u32,
    pub base_data_offset: Option<u64>,
    pub default_base_is_moof: bool,
    pub default_duration: u32,
    pub default_size: u32,
    pub default_flags: u32,
}

/// Reads the track_ID of a `tfhd` body, to find its `trex` before [`parse_tfhd`].
pub(crate) fn tfhd_track_id(body: &[u8]) -> Result<u32, DemuxError> {
    let (_, _, rest) = full_box(body, "tfhd")?;
    Reader::new(rest).u32().ok_or_else(|| short("tfhd"))
}

/// The box as the fragment codec reads it ([`fragment::Tfhd`]), with `trex` defaults for
/// what it leaves out.
pub(crate) fn parse_tfhd(body: &[u8], trex: &Trex) -> Result<TrackDefaults, DemuxError> {
    let t = fragment::Tfhd::decode(body).map_err(|_| short("tfhd"))?;
    Ok(TrackDefaults {
        track_id: t.track_id,
        base_data_offset: t.base_data_offset,
        default_base_is_moof: t.other_flags & TFHD_DEFAULT_BASE_IS_MOOF != 0,
        default_duration: t.default_sample_duration.unwrap_or(trex.default_duration),
        default_size: t.default_sample_size.unwrap_or(trex.default_size),
        default_flags: t.default_sample_flags.unwrap_or(trex.default_flags),
    })
}

/// A `traf`'s `uuid` TfxdBox ([MS-SSTR] 2.2.4.4), if it has one: the fragment's absolute
/// time and duration as Smooth ingest and ISMV files carry them. The time is read as signed:
/// encoders write AAC priming before zero as a 64-bit two's complement (ffmpeg's first audio
/// tfxd of 2^64-213333 is -21.3 ms), which as unsigned would jump the timeline by 58,000 years.
pub(crate) fn find_tfxd(traf: &[u8]) -> Result<Option<(i64, u64)>, DemuxError> {
    for child in boxes::children(traf) {
        let child = child?;
        if &child.typ != b"uuid" || child.body.get(..16) != Some(&TFXD_UUID[..]) {
            continue;
        }
        let t = fragment::Tfxd::decode(&child.body[16..]).map_err(|_| short("tfxd"))?;
        return Ok(Some((t.time as i64, t.duration)));
    }
    Ok(None)
}

/// The `baseMediaDecodeTime`.
pub(crate) fn parse_tfdt(body: &[u8]) -> Result<i64, DemuxError> {
    let (version, _, rest) = full_box(body, "tfdt")?;
    let mut r = Reader::new(rest);
    let t = if version == 1 {
        r.u64().map(|t| i64::try_from(t).unwrap_or(i64::MAX))
    } else {
        r.u32().map(i64::from)
    };
    t.ok_or_else(|| short("tfdt"))
}

/// One `trun`, ready to walk: its sample records are read lazily from the shared bytes
/// (the fragment codec's [`fragment::Trun`] decodes them all at once, for fragments we
/// write and resume).
pub(crate) struct SampleRun {
    pub cursor: TrunCursor,
    /// Byte after the run's data.
    pub end: u64,
    /// Sum of the run's sample durations.
    pub duration: u64,
    /// The smallest composition offset of its samples (0 when none is below 0).
    pub min_cts: i64,
}

/// Parses a `trun`. `trun` is the box body as shared bytes (the per-sample records are read
/// lazily from it); `data_start` is where the run's data begins when the box gives no
/// `data_offset` (the previous run's end); `base` is what a `data_offset` is relative to.
pub(crate) fn parse_trun(
    trun: &Bytes,
    tfhd: &TrackDefaults,
    base: u64,
    data_start: u64,
    dts: i64,
) -> Result<SampleRun, DemuxError> {
    let (_, flags, rest) = full_box(trun, "trun")?;
    let mut r = Reader::new(rest);
    let s = || short("trun");
    let count = r.u32().ok_or_else(s)?;
    let offset = if flags & TRUN_DATA_OFFSET != 0 {
        let rel = i64::from(r.u32().ok_or_else(s)? as i32);
        base.checked_add_signed(rel)
            .ok_or_else(|| DemuxError::malformed("trun data_offset points before the file"))?
    } else {
        data_start
    };
    let first_flags = if flags & TRUN_FIRST_FLAGS != 0 {
        Some(r.u32().ok_or_else(s)?)
    } else {
        None
    };
    let stride = 4 * [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    let need = u64::from(count) * stride as u64;
    if need > r.remaining() as u64 {
        return Err(DemuxError::malformed(format!(
            "trun declares {count} samples but holds only {} bytes of them",
            r.remaining()
        )));
    }
    if count > 0 && flags & TRUN_SIZE == 0 && tfhd.default_size == 0 {
        // Nothing would bound how many empty samples such a run makes us emit.
        return Err(DemuxError::malformed(format!(
            "trun of track {} declares {count} samples of size 0",
            tfhd.track_id
        )));
    }
    let records = trun.slice_ref(r.bytes(need as usize).ok_or_else(s)?);
    let cursor = TrunCursor {
        records,
        flags,
        stride,
        count,
        index: 0,
        offset,
        dts,
        default_duration: tfhd.default_duration,
        default_size: tfhd.default_size,
        default_flags: tfhd.default_flags,
        first_flags,
    };
    // Totals: per-sample fields are bounded by the box; defaults multiply.
    let (mut bytes, mut duration, mut min_cts) = (0u64, 0u64, 0i64);
    if flags & (TRUN_SIZE | TRUN_DURATION | TRUN_CTS) != 0 {
        for i in 0..count {
            let rec = cursor.record(i);
            bytes += u64::from(rec.size);
            duration += u64::from(rec.duration);
            min_cts = min_cts.min(rec.cts_offset);
        }
    } else {
        bytes = u64::from(count) * u64::from(tfhd.default_size);
        duration = u64::from(count) * u64::from(tfhd.default_duration);
    }
    if flags & TRUN_SIZE == 0 && flags & TRUN_DURATION != 0 {
        bytes = u64::from(count) * u64::from(tfhd.default_size);
    }
    if flags & TRUN_DURATION == 0 && flags & TRUN_SIZE != 0 {
        duration = u64::from(count) * u64::from(tfhd.default_duration);
    }
    let end = offset
        .checked_add(bytes)
        .ok_or_else(|| DemuxError::malformed("trun data runs past 2^64"))?;
    Ok(SampleRun {
        cursor,
        end,
        duration,
        min_cts,
    })
}

struct Record {
    duration: u32,
    size: u32,
    flags: u32,
    cts_offset: i64,
}

/// Walks a `trun`'s samples.
pub(crate) struct TrunCursor {
    records: Bytes,
    flags: u32,
    stride: usize,
    count: u32,
    index: u32,
    offset: u64,
    dts: i64,
    default_duration: u32,
    default_size: u32,
    default_flags: u32,
    first_flags: Option<u32>,
}

impl TrunCursor {
    fn record(&self, i: u32) -> Record {
        // `parse_trun` checked `records` holds `count * stride` bytes.
        let at = i as usize * self.stride;
        let mut r = Reader::new(self.records.get(at..).unwrap_or(&[]));
        let mut field = |bit: u32| {
            if self.flags & bit != 0 {
                r.u32()
            } else {
                None
            }
        };
        let duration = field(TRUN_DURATION).unwrap_or(self.default_duration);
        let size = field(TRUN_SIZE).unwrap_or(self.default_size);
        let own_flags = field(TRUN_FLAGS);
        // Version 0 offsets are unsigned on paper; read both versions as signed, as players do.
        let cts_offset = field(TRUN_CTS).map_or(0, |c| i64::from(c as i32));
        let flags = match (i, self.first_flags) {
            (0, Some(f)) => f,
            _ => own_flags.unwrap_or(self.default_flags),
        };
        Record {
            duration,
            size,
            flags,
            cts_offset,
        }
    }

    pub fn next(&mut self) -> Result<Option<Meta>, DemuxError> {
        if self.index >= self.count {
            return Ok(None);
        }
        let rec = self.record(self.index);
        let meta = Meta {
            offset: self.offset,
            size: rec.size,
            dts: self.dts,
            cts_offset: rec.cts_offset,
            duration: rec.duration,
            keyframe: rec.flags & NON_SYNC == 0,
        };
        self.index += 1;
        self.offset = self.offset.saturating_add(u64::from(rec.size));
        self.dts = self.dts.saturating_add(i64::from(rec.duration));
        Ok(Some(meta))
    }
}

/// A parsed `traf`: its track, its runs, and where its data and time end.
pub(crate) struct Traf {
    pub track_id: u32,
    pub runs: Vec<SampleRun>,
    /// Byte after the last run's data (the implicit base of the next `traf`).
    pub data_end: u64,
    /// Decode time of the first sample (tfxd, else tfdt, else the track's previous end).
    pub start_dts: i64,
    /// Decode time after the last sample.
    pub end_dts: i64,
    /// The smallest composition offset of its samples (0 when none is below 0).
    pub min_cts: i64,
}

/// Parses a `traf` body. `moof` is the whole `moof` body (shared), `traf` a sub-slice of it.
/// `implicit_base` is the base offset when `tfhd` gives none and is not default-base-is-moof:
/// the moof start for the first traf, else the previous traf's data end.
pub(crate) fn parse_traf(
    moof: &Bytes,
    traf: &[u8],
    trex_of: impl Fn(u32) -> Trex,
    moof_start: u64,
    implicit_base: u64,
    next_dts_of: impl Fn(u32) -> i64,
) -> Result<Traf, DemuxError> {
    let tfhd = boxes::find(traf, b"tfhd")?
        .ok_or_else(|| DemuxError::malformed("traf box has no tfhd box"))?;
    let track_id = tfhd_track_id(tfhd.body)?;
    let tfhd = parse_tfhd(tfhd.body, &trex_of(track_id))?;
    let base = match tfhd.base_data_offset {
        Some(b) => b,
        None if tfhd.default_base_is_moof => moof_start,
        None => implicit_base,
    };
    // Smooth's tfxd first (ingest has no tfdt, ISMV files have both and they agree); without
    // either, a fragment continues where the track's previous one ended.
    let mut dts = match (find_tfxd(traf)?, boxes::find(traf, b"tfdt")?) {
        (Some((time, _)), _) => time,
        (None, Some(tfdt)) => parse_tfdt(tfdt.body)?,
        (None, None) => next_dts_of(track_id),
    };
    let start_dts = dts;
    let mut runs = Vec::new();
    let mut data_start = base;
    for child in boxes::children(traf) {
        let child = child?;
        if &child.typ != b"trun" {
            continue;
        }
        let run = parse_trun(&moof.slice_ref(child.body), &tfhd, base, data_start, dts)?;
        data_start = run.end;
        dts = dts.saturating_add(i64::try_from(run.duration).unwrap_or(i64::MAX));
        runs.push(run);
    }
    let min_cts = runs.iter().map(|r| r.min_cts).min().unwrap_or(0);
    Ok(Traf {
        track_id,
        runs,
        data_end: data_start,
        start_dts,
        end_dts: dts,
        min_cts,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demux::mp4::boxes::tests::mk_full;
    use crate::fragment::tfhd::{
        BASE_DATA_OFFSET as TFHD_BASE_DATA_OFFSET, DEFAULT_SAMPLE_DURATION as TFHD_DURATION,
        DEFAULT_SAMPLE_SIZE as TFHD_SIZE,
    };
    use alloc::vec;

    fn trex() -> Trex {
        Trex {
            track_id: 1,
            default_duration: 1000,
            default_size: 0,
            default_flags: NON_SYNC,
        }
    }

    pub(crate) fn tfhd(track: u32, flags: u32, fields: &[u32]) -> Vec<u8> {
        let mut b = track.to_be_bytes().to_vec();
        for f in fields {
            b.extend(f.to_be_bytes());
        }
        mk_full(b"tfhd", 0, flags, &b)
    }

    pub(crate) fn trun(version: u8, flags: u32, head: &[u32], records: &[&[u32]]) -> Vec<u8> {
        let mut b = (records.len() as u32).to_be_bytes().to_vec();
        for h in head {
            b.extend(h.to_be_bytes());
        }
        for r in records {
            for v in *r {
                b.extend(v.to_be_bytes());
            }
        }
        mk_full(b"trun", version, flags, &b)
    }

    #[test]
    fn tfhd_overrides_trex() {
        let t = tfhd(1, TFHD_SIZE | TFHD_DEFAULT_BASE_IS_MOOF, &[77]);
        let h = parse_tfhd(&t[8..], &trex()).unwrap();
        assert_eq!(h.default_size, 77);
        assert_eq!(h.default_duration, 1000);
        assert!(h.default_base_is_moof);
        assert_eq!(h.base_data_offset, None);
        let t = tfhd(1, TFHD_BASE_DATA_OFFSET | TFHD_DURATION, &[0, 5000, 20]);
        let h = parse_tfhd(&t[8..], &trex()).unwrap();
        assert_eq!((h.base_data_offset, h.default_duration), (Some(5000), 20));
    }

    #[test]
    fn tfdt_versions() {
        assert_eq!(
            parse_tfdt(&mk_full(b"tfdt", 0, 0, &[0, 0, 1, 0])[8..]).unwrap(),
            256
        );
        let v1 = mk_full(b"tfdt", 1, 0, &(1u64 << 40).to_be_bytes());
        assert_eq!(parse_tfdt(&v1[8..]).unwrap(), 1 << 40);
    }

    #[test]
    fn trun_samples() {
        let t = tfhd(1, TFHD_SIZE, &[10]);
        let h = parse_tfhd(&t[8..], &trex()).unwrap();
        // data_offset 100, first sample sync, per-sample size and signed cts (version 1).
        let body = trun(
            1,
            TRUN_DATA_OFFSET | TRUN_FIRST_FLAGS | TRUN_SIZE | TRUN_CTS,
            &[100, 0],
            &[&[5, 2000], &[6, (-1000i32) as u32], &[7, 0]],
        );
        let bytes = Bytes::from(body[8..].to_vec());
        let mut run = parse_trun(&bytes, &h, 1000, 0, 90000).unwrap();
        assert_eq!((run.end, run.duration, run.min_cts), (1118, 3000, -1000));
        let mut v = vec![];
        while let Some(m) = run.cursor.next().unwrap() {
            v.push(m);
        }
        assert_eq!(v.len(), 3);
        assert_eq!((v[0].offset, v[0].size, v[0].keyframe), (1100, 5, true));
        assert_eq!(
            (v[1].offset, v[1].cts_offset, v[1].keyframe),
            (1105, -1000, false)
        );
        assert_eq!((v[2].dts, v[2].duration), (92000, 1000));
    }

    /// A traf as Smooth ingest sends it (tfhd, trun, a reserved `free`, then the tfxd written
    /// by the fragment writer): the tfxd time wins over tfdt and is read as signed; without
    /// tfxd, tfdt; without either, the track's previous end.
    #[test]
    fn tfxd_time_round_trip() {
        let trun = trun(
            1,
            TRUN_SIZE | TRUN_DURATION,
            &[],
            &[&[400_000, 4], &[400_000, 4]],
        );
        let tfdt = mk_full(b"tfdt", 1, 0, &777u64.to_be_bytes());
        let mut tfxd = Vec::new();
        fragment::Tfxd {
            time: (-213_333i64) as u64,
            duration: 800_000,
        }
        .encode(&mut tfxd);
        let build = |parts: &[&[u8]]| {
            let mut b = tfhd(1, 0, &[]);
            for p in parts {
                b.extend_from_slice(p);
            }
            Bytes::from(b)
        };
        let free = crate::demux::mp4::boxes::tests::mk(b"free", &[0; 4]);
        for (parts, start) in [
            (build(&[&trun, &free, &tfxd, &tfdt]), -213_333),
            (build(&[&tfdt, &trun]), 777),
            (build(&[&trun]), 5_000),
        ] {
            let t = parse_traf(&parts, &parts, |_| trex(), 0, 0, |_| 5_000).unwrap();
            assert_eq!((t.start_dts, t.end_dts), (start, start + 800_000));
        }
        assert_eq!(find_tfxd(&trun).unwrap(), None);
        let mut cut = tfhd(1, 0, &[]);
        cut.extend(crate::demux::mp4::boxes::tests::mk(b"uuid", &TFXD_UUID));
        assert!(find_tfxd(&cut).is_err(), "a tfxd without its fields");
    }

    #[test]
    fn trun_bounds() {
        let t = tfhd(1, 0, &[]);
        let h = parse_tfhd(&t[8..], &trex()).unwrap();
        // Claims 2^32-1 sized samples but holds none.
        let mut b = u32::MAX.to_be_bytes().to_vec();
        b.extend([0u8; 8]);
        let body = mk_full(b"trun", 0, TRUN_SIZE, &b);
        assert!(parse_trun(&Bytes::from(body[8..].to_vec()), &h, 0, 0, 0).is_err());
        // Defaults of size 0 with a huge count.
        let body = mk_full(b"trun", 0, 0, &u32::MAX.to_be_bytes());
        assert!(parse_trun(&Bytes::from(body[8..].to_vec()), &h, 0, 0, 0).is_err());
    }
}
