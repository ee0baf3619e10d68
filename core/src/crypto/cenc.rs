//! `cenc` sample encryption (ISO/IEC 23001-7 AES-128-CTR, PIFF 1.1 compatible), as Smooth
//! players decrypt it.
//!
//! **Which bytes.** Audio: the whole sample. H.264 video (4-byte NAL lengths, as
//! [`crate::Sample`] carries them): one subsample run per slice NAL (types 1-5), whose 4-byte
//! length, 1-byte header and the bytes short of a 16-byte multiple stay clear and the rest
//! (a whole number of AES blocks) is encrypted; every other NAL (SPS, PPS, SEI, AUD...) and
//! any slice too short for one block stays clear, folded into the clear count of the next
//! run. That is nginx-vod's and Bento4's layout (non-VCL clear, slice headers clear,
//! block-aligned protected ranges), which software decoders (ffmpeg, Chrome) and hardware
//! decoders accept. Text is never encrypted.
//!
//! **The counter.** Counter block = IV (8 bytes) ‖ 64-bit block counter from 0, per sample,
//! running on across a sample's protected ranges (clear bytes do not advance it).
//!
//! **IVs** (8 bytes, unique per sample under the presentation's one key; every track and
//! quality level shares the key): `IV = tag (1 byte) ‖ counter (7 bytes)`, with
//!
//! - `tag = 2 × quality level index + (0 video | 1 audio)`: distinct for every track of a
//!   presentation (at most 128 quality levels may be protected, see [`iv_tag`]);
//! - `counter = (iv_salt + fragment start + sample index) mod 2⁵⁶`, the fragment start in 10
//!   MHz ticks on the presentation's timeline.
//!
//! Why it never repeats: within one track, fragments cover disjoint time ranges
//! `[start, start + duration)` and a fragment holds fewer samples than it lasts ticks (every
//! sample lasts at least one tick), so `start + i` never reaches the next fragment's start.
//! Tracks differ in the tag. A live rewrite (tfrf growing) re-emits the kept fragment's
//! bytes, IVs included, unchanged: nothing is encrypted twice. A live run that resumes a
//! folder continues its timeline after everything on disk and keeps the old fragments'
//! bytes; a run that starts its timeline over gets, from the host, `iv_salt` = the wall
//! clock at its start in 10 MHz ticks, past every counter of an earlier run (whose counters
//! stay below its own start plus its media time, which a live source produces no faster
//! than real time). 2⁵⁶ ticks of wall clock last until the year 2198. Deterministic IVs make
//! a re-requested or re-packaged fragment byte-identical (cacheable; identical across hosts);
//! the same key for two different contents is the one thing that can repeat an IV with other
//! plaintext, which is why a key belongs to one presentation.

use alloc::vec::Vec;

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use aes::Aes128;

use super::Protection;
use crate::fragment::{Saio, Saiz, Senc, SencSample, Subsample};
use crate::media::TrackKind;

type Ctr = ctr::Ctr64BE<Aes128>;

/// The 7-byte counter part of an IV.
const COUNTER_MASK: u64 = (1 << 56) - 1;

/// Quality levels whose tracks get distinct IV tags.
pub const MAX_PROTECTED_LEVELS: usize = 128;

/// The IV tag of a track: `None` for text (never encrypted) and past
/// [`MAX_PROTECTED_LEVELS`].
pub fn iv_tag(level: usize, kind: TrackKind) -> Option<u8> {
    let k = match kind {
        TrackKind::Video => 0,
        TrackKind::Audio => 1,
        // Text is never encrypted (ExoPlayer applies DRM to audio and video only; dash.js
        // and Shaka parse text outside MSE).
        TrackKind::Text => return None,
    };
    (level < MAX_PROTECTED_LEVELS).then(|| (level * 2 + k) as u8)
}

/// The IV of sample `index` of a fragment starting at `start`.
pub fn iv(tag: u8, salt: u64, start: u64, index: usize) -> [u8; 8] {
    let counter = salt.wrapping_add(start).wrapping_add(index as u64) & COUNTER_MASK;
    (u64::from(tag) << 56 | counter).to_be_bytes()
}

/// Smallest slice NAL (length field included) with something to encrypt: 4 + 1 + one block.
const MIN_PROTECTED_NAL: usize = 4 + 1 + 16;

fn push_run(runs: &mut Vec<Subsample>, mut clear: usize, protected: u32) {
    // A clear count is 16 bits: longer clear stretches become runs of 65535 clear bytes.
    while clear > usize::from(u16::MAX) {
        runs.push(Subsample {
            clear: u16::MAX,
            protected: 0,
        });
        clear -= usize::from(u16::MAX);
    }
    runs.push(Subsample {
        clear: clear as u16,
        protected,
    });
}

/// The subsample runs of an H.264 access unit with 4-byte NAL lengths; their sizes add up to
/// the sample's. Bytes that do not parse as NAL units stay clear.
pub fn video_subsamples(sample: &[u8]) -> Vec<Subsample> {
    let mut runs = Vec::new();
    let mut clear = 0usize;
    let mut pos = 0usize;
    while pos < sample.len() {
        let nal_len = sample
            .get(pos..pos + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let total = match nal_len.and_then(|n| n.checked_add(4)) {
            Some(t) if t <= sample.len() - pos && t > 4 => t,
            // A length past the end (or a stray tail): the rest stays clear.
            _ => {
                clear += sample.len() - pos;
                break;
            }
        };
        let nal_type = sample[pos + 4] & 0x1f;
        if (1..=5).contains(&nal_type) && total >= MIN_PROTECTED_NAL {
            let protected = (total - 5) / 16 * 16;
            push_run(&mut runs, clear + total - protected, protected as u32);
            clear = 0;
        } else {
            clear += total;
        }
        pos += total;
    }
    if clear > 0 {
        push_run(&mut runs, clear, 0);
    }
    runs
}

/// Encrypts one sample in place as its entry describes.
fn encrypt_sample(cipher: &Aes128, entry: &SencSample, data: &mut [u8]) {
    let mut block = [0u8; 16];
    block[..8].copy_from_slice(&entry.iv);
    let mut ctr = Ctr::from_core(ctr::CtrCore::inner_iv_init(cipher.clone(), &block.into()));
    if entry.subsamples.is_empty() {
        ctr.apply_keystream(data);
        return;
    }
    let mut pos = 0usize;
    for run in &entry.subsamples {
        pos += usize::from(run.clear);
        let end = (pos + run.protected as usize).min(data.len());
        if let Some(range) = data.get_mut(pos.min(end)..end) {
            ctr.apply_keystream(range);
        }
        pos = end;
    }
}

/// The encryption boxes of one fragment and its encrypted payload.
pub struct ProtectedFragment {
    pub senc: Senc,
    pub saiz: Saiz,
    /// Its offset is set when the fragment is encoded.
    pub saio: Saio,
}

/// Plans a fragment's encryption: one IV (and for video the subsample runs) per sample.
/// `samples` are the plaintext samples in order.
pub fn plan<'a>(
    kind: TrackKind,
    tag: u8,
    salt: u64,
    start: u64,
    samples: impl Iterator<Item = &'a [u8]>,
) -> ProtectedFragment {
    let video = kind == TrackKind::Video;
    let entries: Vec<SencSample> = samples
        .enumerate()
        .map(|(i, s)| SencSample {
            iv: iv(tag, salt, start, i),
            subsamples: if video {
                video_subsamples(s)
            } else {
                Vec::new()
            },
        })
        .collect();
    let count = entries.len() as u32;
    let saiz = if video {
        Saiz {
            default_size: 0,
            sample_count: count,
            // 8 + 2 + 6n: a sample would need 41 runs to pass 255; clamp rather than wrap.
            sizes: entries
                .iter()
                .map(|e| e.info_size(true).min(255) as u8)
                .collect(),
        }
    } else {
        Saiz {
            default_size: 8,
            sample_count: count,
            sizes: Vec::new(),
        }
    };
    ProtectedFragment {
        senc: Senc {
            flags: if video {
                crate::fragment::senc::USE_SUBSAMPLES
            } else {
                0
            },
            samples: entries,
        },
        saiz,
        saio: Saio::default(),
    }
}

/// Encrypts a fragment's payload (samples back to back, of `sizes`) in place, per `senc`.
pub fn encrypt(
    p: &Protection,
    senc: &Senc,
    sizes: impl Iterator<Item = usize>,
    payload: &mut [u8],
) {
    let cipher = Aes128::new(&p.key.into());
    let mut pos = 0usize;
    for (entry, size) in senc.samples.iter().zip(sizes) {
        let end = (pos + size).min(payload.len());
        encrypt_sample(&cipher, entry, &mut payload[pos..end]);
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::KeyIvInit;
    use alloc::vec;

    fn nal(header: u8, len: usize) -> Vec<u8> {
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(header);
        v.extend((1..len).map(|i| i as u8));
        v
    }

    #[test]
    fn video_runs_keep_headers_and_parameter_sets_clear() {
        // SEI (30 bytes) + IDR slice (100 bytes) + short slice (10 bytes).
        let mut s = nal(0x06, 30);
        s.extend(nal(0x65, 100));
        s.extend(nal(0x41, 10));
        let runs = video_subsamples(&s);
        // 104 bytes with the length: 5 + 3 clear (to a block multiple), 96 protected.
        assert_eq!(
            runs,
            vec![
                Subsample {
                    clear: 34 + 8,
                    protected: 96
                },
                Subsample {
                    clear: 14,
                    protected: 0
                },
            ]
        );
        let total: usize = runs
            .iter()
            .map(|r| usize::from(r.clear) + r.protected as usize)
            .sum();
        assert_eq!(total, s.len());
        // A broken length leaves the rest clear; long clear runs are split.
        let mut broken = nal(0x65, 40);
        broken.extend_from_slice(&[0, 0, 1, 0, 0x65]);
        let runs = video_subsamples(&broken);
        assert_eq!(runs.last().map(|r| (r.clear, r.protected)), Some((5, 0)));
        let runs = video_subsamples(&nal(0x06, 70_000));
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].clear, u16::MAX);
    }

    #[test]
    fn ivs_are_distinct_per_track_and_sample() {
        let v = iv_tag(0, TrackKind::Video).expect("tag");
        let a = iv_tag(0, TrackKind::Audio).expect("tag");
        let v1 = iv_tag(1, TrackKind::Video).expect("tag");
        assert_eq!((v, a, v1), (0, 1, 2));
        assert_eq!(iv_tag(MAX_PROTECTED_LEVELS, TrackKind::Video), None);
        assert_ne!(iv(v, 0, 0, 1), iv(a, 0, 0, 1));
        assert_ne!(iv(v, 0, 0, 1), iv(v, 0, 0, 2));
        assert_eq!(iv(3, 0, 0x0102, 1), [3, 0, 0, 0, 0, 0, 1, 3]);
    }

    #[test]
    fn whole_sample_and_subsample_encryption_match_plain_ctr() {
        let p = Protection::new(super::super::KeyId([7; 16]), [9; 16], "http://x".into());
        let audio = vec![0x55u8; 50];
        let f = plan(TrackKind::Audio, 1, 0, 0, [&audio[..]].into_iter());
        let mut enc = audio.clone();
        encrypt(&p, &f.senc, [audio.len()].into_iter(), &mut enc);
        // One continuous keystream over the whole sample.
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&f.senc.samples[0].iv);
        let mut reference = audio.clone();
        Ctr::new(&p.key.into(), &block.into()).apply_keystream(&mut reference);
        assert_eq!(enc, reference);
        assert_eq!(f.saiz.default_size, 8);

        // Video: the keystream runs on across protected ranges, clear bytes untouched.
        let mut s = nal(0x65, 40);
        s.extend(nal(0x41, 40));
        let f = plan(TrackKind::Video, 0, 0, 0, [&s[..]].into_iter());
        let mut enc = s.clone();
        encrypt(&p, &f.senc, [s.len()].into_iter(), &mut enc);
        let runs = &f.senc.samples[0].subsamples;
        assert_eq!(runs.len(), 2);
        let mut protected = Vec::new();
        let mut pos = 0;
        for r in runs {
            assert_eq!(enc[pos..pos + 5], s[pos..pos + 5]);
            pos += usize::from(r.clear);
            protected.extend_from_slice(&s[pos..pos + r.protected as usize]);
            pos += r.protected as usize;
        }
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&f.senc.samples[0].iv);
        Ctr::new(&p.key.into(), &block.into()).apply_keystream(&mut protected);
        let c0 = usize::from(runs[0].clear);
        let p0 = runs[0].protected as usize;
        assert_eq!(&enc[c0..c0 + p0], &protected[..p0]);
        assert_eq!(f.saiz.sizes, vec![8 + 2 + 12]);
    }
}
