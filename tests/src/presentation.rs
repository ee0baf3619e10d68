//! Reading back what a host wrote: the manifest, and the fragments it lists, checked box by
//! box with the core's parsers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};
use smoothcast_core::fragment::Fragment;
use smoothcast_core::manifest::{self, Chunk, Manifest, QualityLevel, StreamIndex};
use smoothcast_core::TrackKind;

/// Parses the manifest at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let xml =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    manifest::parse(&xml).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Where the fragment of `c` for quality level `q` is, by the stream's Url template.
pub fn fragment_path(manifest_dir: &Path, s: &StreamIndex, q: &QualityLevel, c: &Chunk) -> PathBuf {
    manifest_dir.join(
        s.url
            .replace("{bitrate}", &q.bitrate.to_string())
            .replace("{start time}", &c.t.to_string()),
    )
}

/// Every `c` of every quality level resolves to a fragment whose tfxd is `(c@t, c@d)`, whose
/// trun durations add up to `c@d` and sizes to the mdat, whose first video sample is tiled
/// by 4-byte NAL lengths, and which (live) announces the next fragment in its tfrf.
pub fn check_listed_fragments(manifest_dir: &Path, m: &Manifest) {
    for s in &m.stream_indexes {
        for q in &s.quality_levels {
            for c in &s.chunks {
                let path = fragment_path(manifest_dir, s, q, c);
                let rel = path.display();
                let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
                let f = Fragment::decode(&data).unwrap_or_else(|e| panic!("{rel}: {e}"));
                let traf = &f.moof.traf;
                assert_eq!(
                    (traf.tfxd.time, traf.tfxd.duration),
                    (c.t, c.d),
                    "{rel}: tfxd is c@t, c@d"
                );
                let duration: u64 = traf
                    .trun
                    .samples
                    .iter()
                    .map(|s| u64::from(s.duration))
                    .sum();
                assert_eq!(duration, c.d, "{rel}: trun durations add up to c@d");
                let size: u64 = traf.trun.samples.iter().map(|s| u64::from(s.size)).sum();
                assert_eq!(
                    size,
                    f.mdat.len() as u64,
                    "{rel}: trun sizes add up to the mdat"
                );
                if s.kind == TrackKind::Video {
                    let first = traf.trun.samples.first().map_or(0, |s| s.size as usize);
                    let mut pos = 0;
                    while pos + 4 <= first {
                        let n = u32::from_be_bytes([
                            f.mdat[pos],
                            f.mdat[pos + 1],
                            f.mdat[pos + 2],
                            f.mdat[pos + 3],
                        ]);
                        pos += 4 + n as usize;
                    }
                    assert_eq!(
                        pos, first,
                        "{rel}: 4-byte NAL lengths tile the first sample"
                    );
                }
                if m.is_live {
                    let tfrf = traf
                        .tfrf
                        .as_ref()
                        .unwrap_or_else(|| panic!("{rel}: live fragment without tfrf"));
                    assert!(
                        !tfrf.entries.is_empty(),
                        "{rel}: a listed live fragment announces the next"
                    );
                }
            }
        }
    }
}

/// Runs `exe package --target-folder target --group-name group inputs...`.
pub fn package(exe: &Path, target: &Path, group: &str, inputs: &[String]) -> Output {
    match Command::new(exe)
        .arg("package")
        .arg("--target-folder")
        .arg(target)
        .args(["--group-name", group])
        .args(inputs)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("running {}: {e}", exe.display()),
    }
}
