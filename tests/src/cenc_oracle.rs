//! The ffmpeg decryption oracle for protected presentations (shared/reference/
//! protection-text-audio.md §3.9 T2): one quality level's fragments behind an init segment
//! built here (Smooth has none: players synthesize it), concatenated into a file that
//! ffmpeg decrypts with `-decryption_key`; the packets' MD5s must equal those of the clear
//! packaging of the same input. This checks the cipher, the IVs, the counter, the subsample
//! runs and saiz/saio, as an implementation that shares no code with ours reads them. (Not
//! the KID byte order: ffmpeg ignores the KID; the dash.js ClearKey test checks that.)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use smoothcast_core::crypto::KeyId;
use smoothcast_core::manifest::{Manifest, QualityLevel};
use smoothcast_core::TrackKind;

use crate::presentation::fragment_path;

fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(typ);
    out.extend_from_slice(body);
    out
}

fn full(typ: &[u8; 4], version_flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = version_flags.to_be_bytes().to_vec();
    b.extend_from_slice(body);
    bx(typ, &b)
}

const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

fn matrix() -> Vec<u8> {
    MATRIX.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn hex(text: &str) -> Result<Vec<u8>> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| anyhow!(e)))
        .collect()
}

/// `avcC` from CodecPrivateData (`00000001 SPS 00000001 PPS`), NAL lengths of 4 bytes.
fn avcc(cpd: &[u8]) -> Result<Vec<u8>> {
    let mut nals: Vec<&[u8]> = Vec::new();
    let mut rest = cpd;
    while let Some(pos) = rest.windows(4).position(|w| w == [0, 0, 0, 1]) {
        rest = &rest[pos + 4..];
        let end = rest
            .windows(4)
            .position(|w| w == [0, 0, 0, 1])
            .unwrap_or(rest.len());
        nals.push(&rest[..end]);
    }
    let sps: Vec<&[u8]> = nals.iter().copied().filter(|n| n[0] & 0x1f == 7).collect();
    let pps: Vec<&[u8]> = nals.iter().copied().filter(|n| n[0] & 0x1f == 8).collect();
    let Some(first) = sps.first().filter(|s| s.len() >= 4) else {
        bail!("no SPS in CodecPrivateData");
    };
    let mut b = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xff,
        0xe0 | sps.len() as u8,
    ];
    for s in &sps {
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s);
    }
    b.push(pps.len() as u8);
    for p in &pps {
        b.extend_from_slice(&(p.len() as u16).to_be_bytes());
        b.extend_from_slice(p);
    }
    Ok(bx(b"avcC", &b))
}

fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut d = vec![tag, body.len() as u8];
    d.extend_from_slice(body);
    d
}

fn esds(asc: &[u8]) -> Vec<u8> {
    let mut dcd = vec![0x40, 0x15, 0, 0, 0];
    dcd.extend_from_slice(&[0; 8]);
    dcd.extend(descriptor(5, asc));
    let mut es = vec![0, 2, 0];
    es.extend(descriptor(4, &dcd));
    es.extend(descriptor(6, &[2]));
    full(b"esds", 0, &descriptor(3, &es))
}

/// `sinf` for `cenc` with 8-byte IVs and the KID in `tenc`'s big-endian order.
fn sinf(original: &[u8; 4], kid: &KeyId) -> Vec<u8> {
    let mut tenc = vec![0, 0, 1, 8];
    tenc.extend_from_slice(&kid.0);
    let mut schm = b"cenc".to_vec();
    schm.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    let mut b = bx(b"frma", original);
    b.extend(full(b"schm", 0, &schm));
    b.extend(bx(b"schi", &full(b"tenc", 0, &tenc)));
    bx(b"sinf", &b)
}

fn sample_entry(kind: TrackKind, q: &QualityLevel, kid: Option<&KeyId>) -> Result<Vec<u8>> {
    let cpd = hex(&q.codec_private_data)?;
    let mut b = vec![0u8; 6];
    b.extend_from_slice(&1u16.to_be_bytes());
    let (clear, protected) = match kind {
        TrackKind::Video => {
            b.extend_from_slice(&[0; 16]);
            b.extend_from_slice(&(q.max_width.unwrap_or(0) as u16).to_be_bytes());
            b.extend_from_slice(&(q.max_height.unwrap_or(0) as u16).to_be_bytes());
            b.extend_from_slice(&0x0048_0000u32.to_be_bytes());
            b.extend_from_slice(&0x0048_0000u32.to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&1u16.to_be_bytes());
            b.extend_from_slice(&[0; 32]);
            b.extend_from_slice(&[0, 0x18, 0xff, 0xff]);
            b.extend(avcc(&cpd)?);
            (b"avc1", b"encv")
        }
        TrackKind::Audio | TrackKind::Text => {
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&(q.channels.unwrap_or(2) as u16).to_be_bytes());
            b.extend_from_slice(&16u16.to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&(q.sampling_rate.unwrap_or(48_000) << 16).to_be_bytes());
            b.extend(esds(&cpd));
            (b"mp4a", b"enca")
        }
    };
    Ok(match kid {
        Some(kid) => {
            b.extend(sinf(clear, kid));
            bx(protected, &b)
        }
        None => bx(clear, &b),
    })
}

/// An init segment (`ftyp` + `moov` with `mvex`) for one quality level of the manifest's
/// stream of `kind`, its track ID the one Smoothcast's `tfhd` uses (video 1, audio 2);
/// with `kid`, the sample entry is `encv`/`enca` with a `cenc` `sinf`.
pub fn init_segment(kind: TrackKind, q: &QualityLevel, kid: Option<&KeyId>) -> Result<Vec<u8>> {
    if kind == TrackKind::Text {
        bail!("text tracks are never encrypted: no init segment for them here");
    }
    let track_id: u32 = match kind {
        TrackKind::Video => 1,
        TrackKind::Audio | TrackKind::Text => 2,
    };
    let timescale = 10_000_000u32;
    let mut ftyp = b"iso6".to_vec();
    ftyp.extend_from_slice(&1u32.to_be_bytes());
    ftyp.extend_from_slice(b"iso6piff");
    let mut mvhd = vec![0u8; 8];
    mvhd.extend_from_slice(&timescale.to_be_bytes());
    mvhd.extend_from_slice(&[0; 4]);
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    mvhd.extend_from_slice(&[1, 0, 0, 0]);
    mvhd.extend_from_slice(&[0; 8]);
    mvhd.extend(matrix());
    mvhd.extend_from_slice(&[0; 24]);
    mvhd.extend_from_slice(&(track_id + 1).to_be_bytes());
    let mut tkhd = vec![0u8; 8];
    tkhd.extend_from_slice(&track_id.to_be_bytes());
    tkhd.extend_from_slice(&[0; 4 + 4 + 8 + 2 + 2]);
    tkhd.extend_from_slice(if kind == TrackKind::Audio {
        &[1, 0]
    } else {
        &[0, 0]
    });
    tkhd.extend_from_slice(&[0; 2]);
    tkhd.extend(matrix());
    tkhd.extend_from_slice(&(q.max_width.unwrap_or(0) << 16).to_be_bytes());
    tkhd.extend_from_slice(&(q.max_height.unwrap_or(0) << 16).to_be_bytes());
    let mut mdhd = vec![0u8; 8];
    mdhd.extend_from_slice(&timescale.to_be_bytes());
    mdhd.extend_from_slice(&[0; 4]);
    mdhd.extend_from_slice(&[0x55, 0xc4, 0, 0]);
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(match kind {
        TrackKind::Video => b"vide",
        TrackKind::Audio | TrackKind::Text => b"soun",
    });
    hdlr.extend_from_slice(&[0; 13]);
    let media_header = match kind {
        TrackKind::Video => full(b"vmhd", 1, &[0; 8]),
        TrackKind::Audio | TrackKind::Text => full(b"smhd", 0, &[0; 4]),
    };
    let dinf = bx(
        b"dinf",
        &full(
            b"dref",
            0,
            &[&1u32.to_be_bytes()[..], &full(b"url ", 1, &[])].concat(),
        ),
    );
    let stsd = full(
        b"stsd",
        0,
        &[&1u32.to_be_bytes()[..], &sample_entry(kind, q, kid)?].concat(),
    );
    let stbl = bx(
        b"stbl",
        &[
            stsd,
            full(b"stts", 0, &[0; 4]),
            full(b"stsc", 0, &[0; 4]),
            full(b"stsz", 0, &[0; 8]),
            full(b"stco", 0, &[0; 4]),
        ]
        .concat(),
    );
    let minf = bx(b"minf", &[media_header, dinf, stbl].concat());
    let mdia = bx(
        b"mdia",
        &[full(b"mdhd", 0, &mdhd), full(b"hdlr", 0, &hdlr), minf].concat(),
    );
    let trak = bx(b"trak", &[full(b"tkhd", 3, &tkhd), mdia].concat());
    let mut trex = track_id.to_be_bytes().to_vec();
    trex.extend_from_slice(&1u32.to_be_bytes());
    trex.extend_from_slice(&[0; 12]);
    let mvex = bx(b"mvex", &full(b"trex", 0, &trex));
    let moov = bx(b"moov", &[full(b"mvhd", 0, &mvhd), trak, mvex].concat());
    Ok([bx(b"ftyp", &ftyp), moov].concat())
}

/// Writes one file per fragment the manifest lists for the first quality level of the
/// stream of `kind`, in `c` order: the init segment, then the fragment. One fragment per
/// file because ffmpeg 5.1 maps the encryption info of a second fragment onto the wrong
/// samples when fragments carry no `tfdt` (Smooth's don't: players add it), and fails with
/// "leftover packet bytes after subsample processing"; alone, each fragment decrypts.
pub fn fragment_files(
    manifest_dir: &Path,
    m: &Manifest,
    kind: TrackKind,
    kid: Option<&KeyId>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>> {
    let s = m
        .stream_indexes
        .iter()
        .find(|s| s.kind == kind)
        .ok_or_else(|| anyhow!("no {} stream", kind.as_str()))?;
    let q = s
        .quality_levels
        .first()
        .ok_or_else(|| anyhow!("no quality level"))?;
    let init = init_segment(kind, q, kid)?;
    let tag = if kid.is_some() { "enc" } else { "clear" };
    let mut files = Vec::new();
    for (i, c) in s.chunks.iter().enumerate() {
        let path = fragment_path(manifest_dir, s, q, c);
        let mut data = init.clone();
        data.extend(std::fs::read(&path).with_context(|| format!("{}", path.display()))?);
        let file = out_dir.join(format!("{}-{tag}-{i}.mp4", kind.as_str()));
        std::fs::write(&file, &data)?;
        files.push(file);
    }
    Ok(files)
}

/// [`packet_md5s`] over each file in turn.
pub fn all_packet_md5s(files: &[PathBuf], key: Option<&str>) -> Result<Vec<String>> {
    let mut all = Vec::new();
    for f in files {
        all.extend(packet_md5s(f, key)?);
    }
    Ok(all)
}

/// The MD5 of every packet ffmpeg demuxes from `file` (a file, not a pipe: saio needs
/// seeking), decrypted with `key` (hex) when given.
pub fn packet_md5s(file: &Path, key: Option<&str>) -> Result<Vec<String>> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error"]);
    if let Some(key) = key {
        cmd.args(["-decryption_key", key]);
    }
    let out = cmd
        .arg("-i")
        .arg(file)
        .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .context("running ffmpeg")?;
    if !out.status.success() {
        bail!(
            "ffmpeg failed on {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(5).map(|h| h.trim().to_string()))
        .collect())
}

/// Whether ffmpeg decoding `file` (decrypted with `key`) reports errors: a wrong key turns
/// the slices into garbage the H.264 decoder complains about.
pub fn decode_errors(file: &Path, key: &str) -> Result<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-decryption_key", key, "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .context("running ffmpeg")?;
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}
