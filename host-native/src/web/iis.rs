//! IIS-style Smooth Streaming URLs over our file layout:
//! `<dir>/Manifest`, `<dir>/QualityLevels(B)/Fragments(NAME=T)` and
//! `<dir>/QualityLevels(B)/FragmentInfo(NAME=T)`, where `<dir>` holds a manifest whose
//! StreamIndex `Url` templates say where the fragment files are.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use smoothcast_core::fragment::BoxHeader;
use smoothcast_core::manifest::{self, Manifest};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// An IIS-style request, with the folder that should hold the manifest.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Manifest {
        dir: Vec<String>,
    },
    Fragment {
        dir: Vec<String>,
        bitrate: u32,
        stream: String,
        time: u64,
        /// FragmentInfo: the fragment's `moof` only.
        info: bool,
    },
}

/// Recognises IIS-style paths. `Ok(None)` means "not IIS-style" (so a plain 404);
/// `Err` means it is meant as one but is malformed (400).
pub fn parse(names: &[String]) -> Result<Option<Request>, &'static str> {
    let Some((last, rest)) = names.split_last() else {
        return Ok(None);
    };
    if last.eq_ignore_ascii_case("manifest") {
        return Ok(Some(Request::Manifest { dir: rest.to_vec() }));
    }
    let (inner, info) = if let Some(i) = strip_call(last, "Fragments") {
        (i, false)
    } else if let Some(i) = strip_call(last, "FragmentInfo") {
        (i, true)
    } else {
        return Ok(None);
    };
    let Some((ql, dir)) = rest.split_last() else {
        return Err("Fragments(...) must follow QualityLevels(...)");
    };
    let bitrate =
        strip_call(ql, "QualityLevels").ok_or("Fragments(...) must follow QualityLevels(...)")?;
    // IIS also allows `QualityLevels(B,key=value)` for custom attributes; we never write
    // those, so only a plain number is accepted.
    let bitrate: u32 = digits(bitrate).ok_or("QualityLevels(...) needs a bitrate")?;
    let (stream, time) = inner
        .split_once('=')
        .ok_or("Fragments(...) needs NAME=TIME")?;
    if stream.is_empty() {
        return Err("Fragments(...) needs a stream name");
    }
    let time: u64 = digits(time).ok_or("Fragments(...) needs a numeric time")?;
    Ok(Some(Request::Fragment {
        dir: dir.to_vec(),
        bitrate,
        stream: stream.to_string(),
        time,
        info,
    }))
}

/// The index of a path segment before the last that names a manifest file (`*.ismc`):
/// players that derive a base URL by cutting `/Manifest` (GStreamer's mssdemux) keep a
/// manifest file's name and request `<dir>/<name>.ismc/<Url template>`; IIS serves
/// `<name>.ism/...` the same way.
pub fn manifest_file_segment(names: &[String]) -> Option<usize> {
    let last = names.len().checked_sub(1)?;
    names[..last].iter().rposition(|n| {
        n.rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && ext.eq_ignore_ascii_case("ismc"))
    })
}

/// `Name(inner)` -> `inner`, the name matched without regard to case as IIS does.
fn strip_call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let head = s.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    s[name.len()..].strip_prefix('(')?.strip_suffix(')')
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The manifest a folder serves as `Manifest`: `manifest.ismc` (EMS's default name), or
/// the folder's only `.ismc` (autoMSS's `<stream>.ismc`, custom manifestName). Several
/// candidates and no `manifest.ismc` is ambiguous, so none.
/// Blocking (a stat; a folder listing only without `manifest.ismc`), as `files::resolve_meta`.
pub fn find_manifest(dir: &Path) -> Option<PathBuf> {
    let default = dir.join("manifest.ismc");
    if std::fs::metadata(&default).is_ok_and(|m| m.is_file()) {
        return Some(default);
    }
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found = None;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_ismc = name
            .rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && ext.eq_ignore_ascii_case("ismc"));
        if is_ismc && !name.starts_with('.') {
            if found.is_some() {
                return None;
            }
            found = Some(e.path());
        }
    }
    found
}

/// Parsed manifests by path, reused while the file's modification time and size stay the
/// same, so fragment requests do not re-parse a manifest each time.
#[derive(Default)]
pub struct ManifestCache {
    entries: Mutex<HashMap<PathBuf, Entry>>,
}

struct Entry {
    modified: Option<SystemTime>,
    len: u64,
    manifest: Arc<Manifest>,
}

/// Keeps the cache bounded however many presentations are requested.
const CACHE_ENTRIES: usize = 256;
/// A manifest larger than this is not something we wrote; refuse to parse it.
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

impl ManifestCache {
    /// `meta`: the stat the manifest's path was resolved with.
    pub async fn get(
        &self,
        path: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<Arc<Manifest>, String> {
        let (modified, len) = (meta.modified().ok(), meta.len());
        if let Some(e) = self.lock().get(path) {
            if e.modified == modified && e.len == len && modified.is_some() {
                return Ok(e.manifest.clone());
            }
        }
        if len > MAX_MANIFEST {
            return Err("manifest too large".into());
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("manifest: {e}"))?;
        let parsed = tokio::task::spawn_blocking(move || {
            let text = String::from_utf8(bytes).map_err(|_| "manifest is not UTF-8".to_string())?;
            manifest::parse(&text)
        })
        .await
        .map_err(|e| format!("manifest parser: {e}"))??;
        let manifest = Arc::new(parsed);
        let mut map = self.lock();
        if map.len() >= CACHE_ENTRIES {
            map.clear();
        }
        map.insert(
            path.to_path_buf(),
            Entry {
                modified,
                len,
                manifest: manifest.clone(),
            },
        );
        Ok(manifest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Entry>> {
        // A panic elsewhere while holding the lock leaves a map that is still valid.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a fragment request names nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum NotFound {
    Stream,
    Bitrate,
    Time,
}

/// The fragment's path relative to the manifest's folder, from the stream's `Url`.
///
/// VOD: the time must be a `c@t` of the manifest. Live: the manifest lags the files by the
/// look-ahead chunks and dash.js never reloads it, following each fragment's tfrf to times
/// not yet listed; so any time is allowed and the file's existence decides.
pub fn fragment_path(
    m: &Manifest,
    stream: &str,
    bitrate: u32,
    time: u64,
) -> Result<String, NotFound> {
    let s = m
        .stream_indexes
        .iter()
        .find(|s| s.name == stream)
        .or_else(|| {
            m.stream_indexes
                .iter()
                .find(|s| s.kind.as_str().eq_ignore_ascii_case(stream))
        })
        .ok_or(NotFound::Stream)?;
    if !s.quality_levels.iter().any(|q| q.bitrate == bitrate) {
        return Err(NotFound::Bitrate);
    }
    if !m.is_live && !s.chunks.iter().any(|c| c.t == time) {
        return Err(NotFound::Time);
    }
    let t = time.to_string();
    Ok(s.url
        .replace("{bitrate}", &bitrate.to_string())
        .replace("{Bitrate}", &bitrate.to_string())
        .replace("{start time}", &t)
        .replace("{start_time}", &t))
}

/// As [`find_moof`], over a file already in memory.
pub fn find_moof_in(data: &[u8]) -> Option<(usize, usize)> {
    let mut offset = 0usize;
    for _ in 0..8 {
        let rest = data.get(offset..).filter(|r| !r.is_empty())?;
        let head = &rest[..rest.len().min(32)];
        let h = BoxHeader::parse(head).ok()?;
        let size = if head.get(..4) == Some(&[0, 0, 0, 0]) {
            rest.len()
        } else {
            h.size
        };
        if size == 0 || size > rest.len() {
            return None;
        }
        if &h.typ == b"moof" {
            return Some((offset, size));
        }
        offset += size;
    }
    None
}

/// Where the top-level `moof` box of a fragment file is: (offset, length). `None` if the
/// file has no complete moof among its first boxes.
pub async fn find_moof(
    file: &mut tokio::fs::File,
    file_len: u64,
) -> std::io::Result<Option<(u64, u64)>> {
    let mut offset = 0u64;
    // Fragments start with moof; allow a few leading boxes (styp, sidx, uuid) first.
    for _ in 0..8 {
        if offset >= file_len {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(offset)).await?;
        let mut head = [0u8; 32];
        let avail = usize::try_from((file_len - offset).min(32)).unwrap_or(32);
        file.read_exact(&mut head[..avail]).await?;
        let Ok(h) = BoxHeader::parse(&head[..avail]) else {
            return Ok(None);
        };
        // Size 0 means "to the end of the file", which the header parser can only see as
        // "to the end of what it was given".
        let size = if head[..4] == [0, 0, 0, 0] {
            file_len - offset
        } else {
            h.size as u64
        };
        if offset + size > file_len {
            return Ok(None);
        }
        if &h.typ == b"moof" {
            return Ok(Some((offset, size)));
        }
        offset += size;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn parses_iis_urls() {
        assert_eq!(
            parse(&names("vod/Manifest")),
            Ok(Some(Request::Manifest {
                dir: vec!["vod".into()]
            }))
        );
        assert_eq!(
            parse(&names(
                "a/b/qualitylevels(300000)/FragmentInfo(audio_1=123)"
            )),
            Ok(Some(Request::Fragment {
                dir: vec!["a".into(), "b".into()],
                bitrate: 300000,
                stream: "audio_1".into(),
                time: 123,
                info: true,
            }))
        );
        assert_eq!(parse(&names("vod/manifest.ismc")), Ok(None));
        assert_eq!(parse(&names("vod/x.fmp4")), Ok(None));
        for bad in [
            "vod/QualityLevels(x)/Fragments(video=0)",
            "vod/QualityLevels()/Fragments(video=0)",
            "vod/QualityLevels(1)/Fragments(video=-1)",
            "vod/QualityLevels(1)/Fragments(video=)",
            "vod/QualityLevels(1)/Fragments(=5)",
            "vod/QualityLevels(1)/Fragments(video)",
            "vod/QualityLevels(99999999999)/Fragments(video=0)",
            "vod/Other(1)/Fragments(video=0)",
            "Fragments(video=0)",
        ] {
            assert!(parse(&names(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_manifest_files_used_as_base_urls() {
        assert_eq!(
            manifest_file_segment(&names("autoMSS/cam/cam.ismc/video/1/0.fmp4")),
            Some(2)
        );
        assert_eq!(manifest_file_segment(&names("g/manifest.ismc")), None);
        assert_eq!(manifest_file_segment(&names("g/.ismc/x")), None);
        assert_eq!(manifest_file_segment(&names("g/x.ism/Manifest")), None);
    }

    #[test]
    fn fills_url_templates() {
        let xml = r#"<SmoothStreamingMedia MajorVersion="2" MinorVersion="0" TimeScale="10000000" Duration="40000000">
<StreamIndex Type="video" Name="video" Chunks="2" QualityLevels="1" Url="s/video/{bitrate}/{start time}.fmp4" MaxWidth="64" MaxHeight="64">
<QualityLevel Index="0" Bitrate="1000" FourCC="H264" MaxWidth="64" MaxHeight="64" CodecPrivateData="00"/>
<c t="0" d="20000000"/><c d="20000000"/>
</StreamIndex></SmoothStreamingMedia>"#;
        let m = manifest::parse(xml).expect("parses");
        assert_eq!(
            fragment_path(&m, "video", 1000, 20000000),
            Ok("s/video/1000/20000000.fmp4".into())
        );
        assert_eq!(fragment_path(&m, "audio", 1000, 0), Err(NotFound::Stream));
        assert_eq!(fragment_path(&m, "video", 999, 0), Err(NotFound::Bitrate));
        assert_eq!(fragment_path(&m, "video", 1000, 1), Err(NotFound::Time));
        // Live: times past the manifest's window are allowed (the file decides).
        let live = manifest::parse(
            &xml.replace("Duration=\"40000000\"", "Duration=\"0\" IsLive=\"TRUE\""),
        )
        .expect("parses");
        assert!(live.is_live);
        assert_eq!(
            fragment_path(&live, "video", 1000, 60000000),
            Ok("s/video/1000/60000000.fmp4".into())
        );
    }
}
