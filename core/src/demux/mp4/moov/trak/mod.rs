//! `trak`: one track's identity (`tkhd`), clock (`mdhd`), codec (`stsd`), edit (`edts`) and
//! sample tables (`stbl`).

pub(crate) mod edts;
pub(crate) mod stbl;
pub(crate) mod stsd;

use alloc::format;
use alloc::string::String;

use crate::bytes_util::Reader;
use crate::demux::mp4::boxes::{self, full_box, short};
use crate::demux::DemuxError;
use crate::media::{Language, TrackInfo};

use stbl::SampleTable;
use stsd::Codec;

/// A supported track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Track {
    pub info: TrackInfo,
    /// The avcC NAL length size for H.264 tracks.
    pub nal_length_size: Option<u8>,
    pub table: SampleTable,
}

/// A `trak` as read: a track to package, or one whose codec Smoothcast does not package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    Track(alloc::boxed::Box<Track>),
    Ignored { id: u32, reason: String },
}

/// Parses a `trak` body.
pub(crate) fn parse_trak(body: &[u8], movie_timescale: u32) -> Result<Parsed, DemuxError> {
    let tkhd = boxes::find(body, b"tkhd")?.ok_or_else(|| missing("tkhd", "trak"))?;
    let id = parse_tkhd(tkhd.body)?;
    let mdia = boxes::find(body, b"mdia")?.ok_or_else(|| missing("mdia", "trak"))?;
    let mdhd = boxes::find(mdia.body, b"mdhd")?.ok_or_else(|| missing("mdhd", "mdia"))?;
    let (timescale, language) = parse_mdhd(mdhd.body)?;
    // An `elng` (extended language tag, BCP 47) names the language when `mdhd` cannot; its
    // three-letter primary subtag is the ISO 639-2 code Smooth Streaming states.
    let language = match boxes::find(mdia.body, b"elng")? {
        Some(elng) => elng_language(elng.body).or(language),
        None => language,
    };
    let minf = boxes::find(mdia.body, b"minf")?.ok_or_else(|| missing("minf", "mdia"))?;
    let stbl = boxes::find(minf.body, b"stbl")?.ok_or_else(|| missing("stbl", "minf"))?;
    let stsd = boxes::find(stbl.body, b"stsd")?.ok_or_else(|| missing("stsd", "stbl"))?;
    // The codec decides first, so that broken tables of an unsupported track (timecode,
    // subtitles) cannot fail a file whose audio and video are fine.
    let (codec, nal_length_size) = match stsd::parse_stsd(stsd.body)? {
        Codec::Supported {
            config,
            nal_length_size,
        } => (config, nal_length_size),
        Codec::Unsupported(reason) => return Ok(Parsed::Ignored { id, reason }),
    };
    if timescale == 0 {
        return Err(DemuxError::malformed(format!(
            "track {id} has a media timescale of 0"
        )));
    }
    let table = stbl::parse_stbl(stbl.body)
        .map_err(|e| DemuxError::malformed(format!("track {id}: {}", e.message)))?;
    let edit_offset = match boxes::find(body, b"edts")? {
        Some(edts) => match boxes::find(edts.body, b"elst")? {
            Some(elst) => edts::edit_offset(elst.body, movie_timescale, timescale)?,
            None => 0,
        },
        None => 0,
    };
    let avg_bitrate = (table.total_duration > 0).then(|| {
        let bits = u128::from(table.total_bytes) * 8 * u128::from(timescale);
        u64::try_from(bits / u128::from(table.total_duration)).unwrap_or(u64::MAX)
    });
    Ok(Parsed::Track(alloc::boxed::Box::new(Track {
        info: TrackInfo {
            id,
            timescale,
            codec,
            edit_offset,
            avg_bitrate,
            language,
        },
        nal_length_size,
        table,
    })))
}

fn missing(child: &str, parent: &str) -> DemuxError {
    DemuxError::malformed(format!("{parent} box has no {child} box"))
}

/// The track_ID.
fn parse_tkhd(body: &[u8]) -> Result<u32, DemuxError> {
    let (version, _, rest) = full_box(body, "tkhd")?;
    let mut r = Reader::new(rest);
    r.skip(if version == 1 { 16 } else { 8 })
        .ok_or_else(|| short("tkhd"))?; // creation and modification times
    r.u32().ok_or_else(|| short("tkhd"))
}

/// The media timescale and language.
fn parse_mdhd(body: &[u8]) -> Result<(u32, Option<Language>), DemuxError> {
    let (version, _, rest) = full_box(body, "mdhd")?;
    let mut r = Reader::new(rest);
    r.skip(if version == 1 { 16 } else { 8 })
        .ok_or_else(|| short("mdhd"))?;
    let timescale = r.u32().ok_or_else(|| short("mdhd"))?;
    r.skip(if version == 1 { 8 } else { 4 })
        .ok_or_else(|| short("mdhd"))?; // duration
                                        // ISO 639-2/T packed as three 5-bit letters (each minus 0x60); old writers leave it 0.
    let language = r.u16().and_then(|packed| {
        let letter = |shift: u16| ((packed >> shift) & 0x1f) as u8 + 0x60;
        Language::new(&[letter(10), letter(5), letter(0)])
    });
    Ok((timescale, language))
}

/// The language of an `elng` box (a NUL-terminated BCP 47 tag) when its primary subtag is a
/// three-letter code. Two-letter tags (`fr`) would need ISO 639-1 to 639-2 tables; `mdhd`
/// still carries the three-letter code in files that have both.
fn elng_language(body: &[u8]) -> Option<Language> {
    let tag = body.get(4..)?;
    let end = tag.iter().position(|&b| b == 0).unwrap_or(tag.len());
    let primary = tag[..end].split(|&b| b == b'-').next()?;
    Language::new(primary)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demux::mp4::boxes::tests::{mk, mk_full};
    use alloc::vec::Vec;

    /// A `trak` box (whole, with header) around an stsd and stbl tables.
    pub(crate) fn trak(
        id: u32,
        timescale: u32,
        stsd: &[u8],
        tables: &[u8],
        elst: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut tkhd = [0u8; 80];
        tkhd[8..12].copy_from_slice(&id.to_be_bytes());
        let mut mdhd = [0u8; 20];
        mdhd[8..12].copy_from_slice(&timescale.to_be_bytes());
        let mut stbl = stsd.to_vec();
        stbl.extend_from_slice(tables);
        let minf = mk(b"stbl", &stbl);
        let mut mdia = mk_full(b"mdhd", 0, 0, &mdhd);
        mdia.extend(mk(b"minf", &minf));
        let mut t = mk_full(b"tkhd", 0, 3, &tkhd);
        if let Some(elst) = elst {
            t.extend(mk(b"edts", elst));
        }
        t.extend(mk(b"mdia", &mdia));
        mk(b"trak", &t)
    }

    #[test]
    fn parses_a_video_track() {
        let t = trak(
            7,
            90000,
            &stsd::tests::avc1_stsd(4),
            &stbl::tests::sample_stbl([100, 200]),
            None,
        );
        let Parsed::Track(track) = parse_trak(&t[8..], 1000).unwrap() else {
            panic!("not a track");
        };
        assert_eq!(track.info.id, 7);
        assert_eq!(track.info.timescale, 90000);
        assert_eq!(track.nal_length_size, Some(4));
        // 150 bytes over 450/90000 s.
        assert_eq!(track.info.avg_bitrate, Some(150 * 8 * 90000 / 450));
    }

    #[test]
    fn unsupported_codec_is_none_even_with_broken_tables() {
        let mut b = 1u32.to_be_bytes().to_vec();
        b.extend(mk(b"tmcd", &[0u8; 20]));
        let stsd = mk_full(b"stsd", 0, 0, &b);
        let t = trak(2, 600, &stsd, &mk_full(b"stts", 0, 0, &[0, 0, 0, 9]), None);
        assert_eq!(
            parse_trak(&t[8..], 1000).unwrap(),
            Parsed::Ignored {
                id: 2,
                reason: String::from("codec tmcd (not H.264 or AAC)")
            }
        );
    }

    #[test]
    fn language_from_mdhd_and_elng() {
        // "fra" packed: f=6, r=18, a=1.
        let packed: u16 = (6 << 10) | (18 << 5) | 1;
        let mut mdhd = [0u8; 20];
        mdhd[8..12].copy_from_slice(&48_000u32.to_be_bytes());
        mdhd[16..18].copy_from_slice(&packed.to_be_bytes());
        assert_eq!(
            parse_mdhd(&mk_full(b"mdhd", 0, 0, &mdhd)[8..]).unwrap(),
            (48_000, Language::new(b"fra"))
        );
        // `und` and the all-zero field are no language.
        let und: u16 = (21 << 10) | (14 << 5) | 4;
        mdhd[16..18].copy_from_slice(&und.to_be_bytes());
        assert_eq!(
            parse_mdhd(&mk_full(b"mdhd", 0, 0, &mdhd)[8..]).unwrap().1,
            None
        );
        mdhd[16..18].copy_from_slice(&[0, 0]);
        assert_eq!(
            parse_mdhd(&mk_full(b"mdhd", 0, 0, &mdhd)[8..]).unwrap().1,
            None
        );
        assert_eq!(elng_language(b"\0\0\0\0deu-CH\0"), Language::new(b"deu"));
        assert_eq!(elng_language(b"\0\0\0\0fr\0"), None);
        assert_eq!(elng_language(b"\0\0"), None);
    }

    #[test]
    fn zero_timescale_is_malformed() {
        let t = trak(1, 0, &stsd::tests::mp4a_stsd(0, 0x40, false), &[], None);
        assert!(parse_trak(&t[8..], 1000).is_err());
    }
}
