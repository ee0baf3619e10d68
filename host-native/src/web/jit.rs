//! Just-in-time VOD: any MP4 under the web root served as Smooth Streaming, byte-identical
//! to what `smoothcast package` writes for it, without packaging it first.
//!
//! ```text
//! /<path>.mp4/Manifest                          the manifest package would write
//! /<path>.mp4/QualityLevels(B)/Fragments(video=T)  (audio, audio_<lang> too)
//! /<path>.mp4/QualityLevels(B)/FragmentInfo(video=T)   the moof only
//! /<path>.mp4/<the manifest's Url template path>   the same fragment
//! /<path>.ism/...                               several MP4s as one presentation (SMIL)
//! ```
//!
//! The media decisions are the core's ([`smoothcast_core::package::index`]): a per-file
//! index built from the `moov` alone knows every fragment's head and the byte ranges of
//! its samples. Here: reading those ranges through a [`RangeSource`] (a local file, or an
//! object's ranged GETs under a store web root: `store::RangedObject`), the index cache
//! (bounded, keyed by the files' versions) and the HTTP answers.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use smoothcast_core::package::{
    FileIndex, IndexBuilder, IndexedFragment, InputSpec, SessionOptions, Want,
};
use tokio::sync::Semaphore;

use super::body::Body;
use super::files::{Found, Resolver};
use super::headers;
use super::{cache, error, iis, not_found, respond, Content, Described};
use crate::config::JitConfig;

/// Fragments and manifests made from a file that may be replaced: cached for a while,
/// revalidated by ETag (which changes with the file), never `immutable`.
const JIT_CACHE_CONTROL: &str = "public, max-age=3600";
/// A `.ism` group file larger than this is not a list of a few files.
const MAX_GROUP_FILE: u64 = 64 * 1024;

pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send + 'a>>;

/// Random access to one source file: its length, a version that changes with its content,
/// and reads of byte ranges. Local files here; an object store (ranged GETs, the ETag as
/// version) implements the same.
pub trait RangeSource: Send + Sync {
    /// Bytes in the source.
    fn size(&self) -> u64;
    /// Changes whenever the content may have (size and modification time, an ETag).
    fn version(&self) -> String;
    /// Exactly `len` bytes from `offset` (fewer only at the end of the source).
    fn read_at(&self, offset: u64, len: usize) -> ReadFuture<'_>;
    /// Several ranges (a fragment's samples), in order. One by one unless the source can
    /// do better (one blocking task for a local file, one multi-range request for a store).
    fn read_ranges<'a>(&'a self, ranges: &'a [(u64, usize)]) -> ReadManyFuture<'a> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(ranges.len());
            for &(offset, len) in ranges {
                out.push(self.read_at(offset, len).await?);
            }
            Ok(out)
        })
    }
}

pub type ReadManyFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<Bytes>>> + Send + 'a>>;

/// `len` bytes at `offset` with positioned reads (fewer only at the end of the file).
fn pread(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(Bytes::from(buf))
}

/// A file on the local disk, read with positioned reads (no shared cursor: concurrent
/// fragment requests share one handle).
pub struct LocalFile {
    file: Arc<std::fs::File>,
    len: u64,
    modified: Option<SystemTime>,
}

impl LocalFile {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        Ok(Self {
            file: Arc::new(file),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

impl RangeSource for LocalFile {
    fn size(&self) -> u64 {
        self.len
    }

    fn version(&self) -> String {
        headers::etag(self.len, self.modified, "")
            .trim_matches('"')
            .to_string()
    }

    fn read_at(&self, offset: u64, len: usize) -> ReadFuture<'_> {
        let file = self.file.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || pread(&file, offset, len))
                .await
                .map_err(io::Error::other)?
        })
    }

    fn read_ranges<'a>(&'a self, ranges: &'a [(u64, usize)]) -> ReadManyFuture<'a> {
        let file = self.file.clone();
        let ranges = ranges.to_vec();
        // One trip to the blocking pool for the whole fragment, not one per sample run.
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                ranges
                    .iter()
                    .map(|&(offset, len)| pread(&file, offset, len))
                    .collect()
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

/// The presentation's source files, in input order, with the names `smoothcast package`
/// would be given.
struct Sources {
    names: Vec<String>,
    files: Vec<Arc<dyn RangeSource>>,
    /// The newest modification time of the files (and of the `.ism`), for Last-Modified:
    /// a group changes when any member does.
    modified: Option<SystemTime>,
}

impl Sources {
    fn key(&self) -> String {
        self.files
            .iter()
            .map(|f| f.version())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Builds the index of `sources` through the core's builder, reading only what it asks
/// (the `moov`s), at most `max_read` bytes per input.
async fn build(sources: &Sources, max_read: u64) -> Result<FileIndex, String> {
    let inputs = sources
        .names
        .iter()
        .map(|n| InputSpec {
            name: n.clone(),
            ..InputSpec::default()
        })
        .collect();
    let mut builder = IndexBuilder::package(SessionOptions {
        inputs,
        seekable: true,
        ..SessionOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let mut read = vec![0u64; sources.files.len()];
    loop {
        let (input, offset, len) = match builder.want() {
            Want::Done => return builder.finish().map_err(|e| e.to_string()),
            Want::Read { input, offset, len } => (input, offset, len),
        };
        let (Some(file), Some(total)) = (sources.files.get(input), read.get_mut(input)) else {
            return Err("the index asked for an unknown input".into());
        };
        let len = u64::try_from(len)
            .unwrap_or(u64::MAX)
            .min(file.size().saturating_sub(offset));
        *total += len;
        if *total > max_read {
            return Err(format!(
                "{}: more than {max_read} bytes read without finding the sample tables",
                sources.names[input]
            ));
        }
        let data = if len == 0 {
            Bytes::new()
        } else {
            file.read_at(offset, len as usize)
                .await
                .map_err(|e| format!("{}: {e}", sources.names[input]))?
        };
        // Parsing a moov and cutting a presentation is CPU work: off the async workers.
        let (b, r) = tokio::task::spawn_blocking(move || {
            let r = builder.push(&data);
            (builder, r)
        })
        .await
        .map_err(|e| e.to_string())?;
        builder = b;
        r.map_err(|e| e.to_string())?;
    }
}

/// Indexes by source files and their versions, least recently used dropped first.
pub struct IndexCache {
    entries: Mutex<Lru>,
    builds: Semaphore,
}

#[derive(Default)]
struct Lru {
    map: HashMap<Vec<PathBuf>, Cached>,
    bytes: usize,
    tick: u64,
}

struct Cached {
    version: String,
    index: Arc<FileIndex>,
    bytes: usize,
    used: u64,
}

impl IndexCache {
    pub fn new(cfg: &JitConfig) -> Self {
        Self {
            entries: Mutex::new(Lru::default()),
            builds: Semaphore::new(cfg.max_concurrent_builds.max(1) as usize),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lookup(&self, key: &[PathBuf], version: &str) -> Option<Arc<FileIndex>> {
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        let e = lru.map.get_mut(key)?;
        if e.version != version {
            return None;
        }
        e.used = tick;
        Some(e.index.clone())
    }

    async fn get(
        &self,
        key: Vec<PathBuf>,
        sources: &Sources,
        cfg: &JitConfig,
    ) -> Result<Arc<FileIndex>, String> {
        let version = sources.key();
        if let Some(i) = self.lookup(&key, &version) {
            return Ok(i);
        }
        let _permit = self
            .builds
            .acquire()
            .await
            .map_err(|_| "shutting down".to_string())?;
        // Built by another request while this one waited.
        if let Some(i) = self.lookup(&key, &version) {
            return Ok(i);
        }
        let index = Arc::new(build(sources, cfg.max_moov_bytes.saturating_add(1 << 20)).await?);
        let bytes = index.approx_bytes();
        let budget = usize::try_from(cfg.index_cache_bytes).unwrap_or(usize::MAX);
        if bytes <= budget {
            let mut lru = self.lock();
            lru.tick += 1;
            let used = lru.tick;
            if let Some(old) = lru.map.remove(&key) {
                lru.bytes -= old.bytes;
            }
            while lru.bytes + bytes > budget {
                let Some(oldest) = lru
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some(e) = lru.map.remove(&oldest) {
                    lru.bytes -= e.bytes;
                }
            }
            lru.bytes += bytes;
            lru.map.insert(
                key,
                Cached {
                    version,
                    index: index.clone(),
                    bytes,
                    used,
                },
            );
        }
        Ok(index)
    }

    /// Indexes held and their bytes (tests, metrics).
    pub fn usage(&self) -> (usize, usize) {
        let lru = self.lock();
        (lru.map.len(), lru.bytes)
    }
}

/// Where a just-in-time request splits: the `.mp4` or `.ism` file, and what follows it.
pub fn split(names: &[String]) -> Option<usize> {
    let last = names.len().checked_sub(1)?;
    names[..last].iter().position(|n| {
        let lower = n.to_ascii_lowercase();
        (lower.ends_with(".mp4") || lower.ends_with(".ism")) && lower.len() > 4
    })
}

/// The sources a `.mp4` or `.ism` file names, confined to the web root.
fn sources(
    paths: &Resolver,
    root: &Path,
    file: &Path,
    meta: &std::fs::Metadata,
    cfg: &JitConfig,
) -> Result<(Vec<PathBuf>, Sources), (StatusCode, String)> {
    let not_found = |m: String| (StatusCode::NOT_FOUND, m);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let open = |p: &Path, size: u64| -> Result<Arc<dyn RangeSource>, (StatusCode, String)> {
        if size > cfg.max_file_bytes {
            return Err(not_found(format!(
                "larger than the just-in-time limit ({} bytes)",
                cfg.max_file_bytes
            )));
        }
        LocalFile::open(p)
            .map(|f| Arc::new(f) as Arc<dyn RangeSource>)
            .map_err(|e| not_found(format!("{e}")))
    };
    if !name.to_ascii_lowercase().ends_with(".ism") {
        let f = open(file, meta.len())?;
        return Ok((
            vec![file.to_path_buf()],
            Sources {
                names: vec![name],
                files: vec![f],
                modified: meta.modified().ok(),
            },
        ));
    }
    if meta.len() > MAX_GROUP_FILE {
        return Err(not_found("the .ism file is too large".into()));
    }
    let text = std::fs::read_to_string(file).map_err(|e| not_found(format!("{e}")))?;
    let srcs = group_sources(&text).map_err(|e| not_found(format!("{name}: {e}")))?;
    if srcs.is_empty() || srcs.len() > cfg.max_group_files as usize {
        return Err(not_found(format!(
            "{name}: lists {} MP4 files (1 to {} allowed)",
            srcs.len(),
            cfg.max_group_files
        )));
    }
    let dir = file.parent().unwrap_or(root);
    let mut key = vec![file.to_path_buf()];
    let mut out = Sources {
        names: Vec::new(),
        files: Vec::new(),
        modified: meta.modified().ok(),
    };
    for src in srcs {
        // Each name gets the checks of a request path: relative, no `..`, inside the root.
        let segs = super::files::segments(&format!("/{src}"))
            .map_err(|_| not_found(format!("{name}: {src:?} is not a plain relative path")))?;
        let (Found::File(p), Some(m)) = paths.resolve_meta(dir, &segs) else {
            return Err(not_found(format!("{name}: {src} not found")));
        };
        if !p.starts_with(root) {
            return Err(not_found(format!("{name}: {src} not found")));
        }
        out.files.push(open(&p, m.len())?);
        out.modified = out.modified.max(m.modified().ok());
        out.names.push(src);
        key.push(p);
    }
    Ok((key, out))
}

/// The `src` of each `<video>` and `<audio>` in a SMIL server manifest (`.ism`, as IIS and
/// Unified Origin write them), in order; every other element is ignored.
pub fn group_sources(smil: &str) -> Result<Vec<String>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(smil);
    let mut out = Vec::new();
    loop {
        match reader.read_event().map_err(|e| format!("SMIL: {e}"))? {
            Event::Start(e) | Event::Empty(e) => {
                if !matches!(e.local_name().into_inner(), "video" | "audio") {
                    continue;
                }
                for a in e.attributes() {
                    let a = a.map_err(|e| format!("SMIL: {e}"))?;
                    if a.key.local_name().into_inner() == "src" {
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| format!("SMIL: {e}"))?
                            .into_owned();
                        if !out.contains(&v) {
                            out.push(v);
                        }
                    }
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// What a request after the file asks for.
enum Target<'a> {
    Manifest,
    Fragment {
        fragment: &'a IndexedFragment,
        info: bool,
        path: &'a str,
    },
}

fn target<'a>(index: &'a FileIndex, rest: &[String]) -> Result<Target<'a>, (StatusCode, String)> {
    let nf = |m: &str| (StatusCode::NOT_FOUND, m.to_string());
    if rest.len() == 1
        && (rest[0].eq_ignore_ascii_case("manifest") || rest[0] == index.manifest_path)
    {
        return Ok(Target::Manifest);
    }
    let joined = rest.join("/");
    if let Some((path, fragment)) = index.fragments.get_key_value(&joined) {
        return Ok(Target::Fragment {
            fragment,
            info: false,
            path,
        });
    }
    match iis::parse(rest) {
        Ok(Some(iis::Request::Fragment {
            dir,
            bitrate,
            stream,
            time,
            info,
        })) if dir.is_empty() => {
            let rel = iis::fragment_path(&index.manifest, &stream, bitrate, time).map_err(|e| {
                nf(match e {
                    iis::NotFound::Stream => "no such stream in the manifest",
                    iis::NotFound::Bitrate => "no such bitrate in the manifest",
                    iis::NotFound::Time => "no fragment starts at this time",
                })
            })?;
            let (path, fragment) = index
                .fragments
                .get_key_value(&rel)
                .ok_or_else(|| nf("fragment not found"))?;
            Ok(Target::Fragment {
                fragment,
                info,
                path,
            })
        }
        Ok(_) => Err(nf("not found")),
        Err(why) => Err((StatusCode::BAD_REQUEST, why.to_string())),
    }
}

/// Answers `names` (which [`split`] cut at `at`) from the index of the file there.
pub(crate) async fn serve(
    web: &super::Web,
    root: &Path,
    names: &[String],
    at: usize,
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let cfg = &web.state.config.jit;
    let (Found::File(file), Some(meta)) = web.paths.resolve_meta(root, &names[..=at]) else {
        return not_found("not found");
    };
    let (key, sources) = match sources(&web.paths, root, &file, &meta, cfg) {
        Ok(s) => s,
        Err((status, why)) => return error(status, &why),
    };
    serve_sources(
        web,
        key,
        sources,
        &file.display().to_string(),
        &names[at + 1..],
        h,
        head,
    )
    .await
}

/// As [`serve`], for a web root in an object store: the `.mp4` (or the `.ism` and the files
/// it lists) read with ranged GETs pinned to the version first seen (`store::RangedObject`).
pub(crate) async fn serve_from_store(
    web: &super::Web,
    store: &crate::store::Store,
    names: &[String],
    at: usize,
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let cfg = &web.state.config.jit;
    let rel = names[..=at].join("/");
    let (key, sources) = match store_sources(store, &rel, cfg).await {
        Ok(s) => s,
        Err((status, why)) => return error(status, &why),
    };
    serve_sources(
        web,
        key,
        sources,
        &store.url(&rel),
        &names[at + 1..],
        h,
        head,
    )
    .await
}

/// The sources a `.mp4` or `.ism` object names, below the store's prefix. The cache key is
/// the objects' URLs (as paths; never files on disk).
async fn store_sources(
    store: &crate::store::Store,
    rel: &str,
    cfg: &JitConfig,
) -> Result<(Vec<PathBuf>, Sources), (StatusCode, String)> {
    use crate::store::StoreError;
    let fail = |e: StoreError| match e {
        StoreError::NotFound => (StatusCode::NOT_FOUND, "not found".to_string()),
        e => {
            tracing::warn!("web: just in time {}: {e}", store.url(rel));
            (
                StatusCode::BAD_GATEWAY,
                "the object store failed".to_string(),
            )
        }
    };
    let open =
        |o: crate::store::RangedObject| -> Result<Arc<dyn RangeSource>, (StatusCode, String)> {
            if o.size() > cfg.max_file_bytes {
                return Err((
                    StatusCode::NOT_FOUND,
                    format!(
                        "larger than the just-in-time limit ({} bytes)",
                        cfg.max_file_bytes
                    ),
                ));
            }
            Ok(Arc::new(o))
        };
    let name = rel.rsplit('/').next().unwrap_or(rel).to_string();
    if !name.to_ascii_lowercase().ends_with(".ism") {
        let f = open(store.ranged(rel).await.map_err(fail)?)?;
        return Ok((
            vec![PathBuf::from(store.url(rel))],
            Sources {
                names: vec![name],
                files: vec![f],
                modified: None,
            },
        ));
    }
    let group = store.ranged(rel).await.map_err(fail)?;
    if group.size() > MAX_GROUP_FILE {
        return Err((StatusCode::NOT_FOUND, "the .ism file is too large".into()));
    }
    let text = group
        .read_at(0, group.size() as usize)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("{e}")))?;
    let text = String::from_utf8_lossy(&text).into_owned();
    let srcs = group_sources(&text).map_err(|e| (StatusCode::NOT_FOUND, format!("{name}: {e}")))?;
    if srcs.is_empty() || srcs.len() > cfg.max_group_files as usize {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "{name}: lists {} MP4 files (1 to {} allowed)",
                srcs.len(),
                cfg.max_group_files
            ),
        ));
    }
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let mut key = vec![PathBuf::from(store.url(rel))];
    let mut out = Sources {
        names: Vec::new(),
        files: Vec::new(),
        modified: None,
    };
    for src in srcs {
        // The checks of a request path (relative, no `..`); the store confines keys below
        // its prefix besides.
        let segs = super::files::segments(&format!("/{src}")).map_err(|_| {
            (
                StatusCode::NOT_FOUND,
                format!("{name}: {src:?} is not a plain relative path"),
            )
        })?;
        let member = if dir.is_empty() {
            segs.join("/")
        } else {
            format!("{dir}/{}", segs.join("/"))
        };
        let f = match store.ranged(&member).await {
            Ok(o) => open(o)?,
            Err(StoreError::NotFound) => {
                return Err((StatusCode::NOT_FOUND, format!("{name}: {src} not found")))
            }
            Err(e) => return Err(fail(e)),
        };
        key.push(PathBuf::from(store.url(&member)));
        out.files.push(f);
        out.names.push(src);
    }
    Ok((key, out))
}

/// Answers `rest` (what follows the file in the URL) from the index of `sources`.
async fn serve_sources(
    web: &super::Web,
    key: Vec<PathBuf>,
    sources: Sources,
    shown: &str,
    rest: &[String],
    h: &HeaderMap,
    head: bool,
) -> Response<Body> {
    let cfg = &web.state.config.jit;
    let index = match web.jit.get(key, &sources, cfg).await {
        Ok(i) => i,
        Err(why) => {
            tracing::debug!("web: just in time {shown}: {why}");
            return not_found(&format!("not served just in time: {why}"));
        }
    };
    let target = match target(&index, rest) {
        Ok(t) => t,
        Err((status, why)) => return error(status, &why),
    };
    let version = sources.key();
    let modified = sources.modified;
    let (ctype, tag, len, content) = match target {
        Target::Manifest => {
            let xml = Bytes::from(index.manifest_xml.clone());
            let tag = etag(&version, "Manifest");
            (headers::classify("Manifest").0, tag, xml.len() as u64, xml)
        }
        Target::Fragment {
            fragment,
            info: true,
            path,
        } => {
            let moof = Bytes::copy_from_slice(&fragment.head[..fragment.moof_len()]);
            let tag = etag(&version, &format!("{path}-moof"));
            ("video/mp4", tag, moof.len() as u64, moof)
        }
        Target::Fragment {
            fragment,
            info: false,
            path,
        } => {
            let tag = etag(&version, path);
            let ctype = headers::classify(path).0;
            if head {
                (ctype, tag, fragment.len(), Bytes::new())
            } else {
                match read_fragment(&sources, fragment).await {
                    Ok(b) => (ctype, tag, b.len() as u64, Bytes::from(b)),
                    Err(e) => {
                        tracing::warn!("web: just in time {shown}: {e}");
                        return error(StatusCode::INTERNAL_SERVER_ERROR, "read error");
                    }
                }
            }
        }
    };
    respond(
        h,
        head,
        Described {
            ctype,
            cache_control: JIT_CACHE_CONTROL,
            tag: cache::value(tag),
            last_modified: modified.map(|m| cache::value(headers::http_date(m))),
            len,
            gzip: false,
            vary: false,
            content: Content::Memory(content),
        },
    )
    .await
}

/// The fragment file: its head and its ranges, read from the sources.
async fn read_fragment(sources: &Sources, fragment: &IndexedFragment) -> Result<Vec<u8>, String> {
    // The ranges of each input read together, then put back in the fragment's order.
    let mut parts: Vec<Bytes> = vec![Bytes::new(); fragment.ranges.len()];
    for (input, file) in sources.files.iter().enumerate() {
        let mine: Vec<usize> = (0..fragment.ranges.len())
            .filter(|&i| fragment.ranges[i].input == input)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut ranges = Vec::with_capacity(mine.len());
        for &i in &mine {
            let r = &fragment.ranges[i];
            ranges.push((
                r.offset,
                usize::try_from(r.len).map_err(|_| "range too large")?,
            ));
        }
        let read = file.read_ranges(&ranges).await.map_err(|e| e.to_string())?;
        for (i, b) in mine.into_iter().zip(read) {
            parts[i] = b;
        }
    }
    if fragment
        .ranges
        .iter()
        .any(|r| r.input >= sources.files.len())
    {
        return Err("a range of an unknown input".into());
    }
    fragment.assemble(&parts).map_err(|e| e.to_string())
}

/// A strong validator from the sources' versions and the target: it changes when any
/// source file does.
fn etag(version: &str, target: &str) -> String {
    // FNV-1a: short, stable across runs; collisions would only cost a needless 200.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in version.bytes().chain([0]).chain(target.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"jit-{h:016x}\"")
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
    fn splits_at_the_media_file() {
        assert_eq!(split(&names("a/b.mp4/Manifest")), Some(1));
        assert_eq!(
            split(&names("b.MP4/QualityLevels(1)/Fragments(video=0)")),
            Some(0)
        );
        assert_eq!(split(&names("g.ism/Manifest")), Some(0));
        assert_eq!(split(&names("a/b.mp4")), None, "the file itself");
        assert_eq!(split(&names("a/.mp4/Manifest")), None);
    }

    #[test]
    fn reads_smil_groups() {
        let smil = r#"<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head><meta name="clientManifestRelativePath" content="x.ismc"/></head>
  <body><switch>
    <video src="hi.mp4" systemBitrate="1200000"/>
    <video src="lo.mp4"/>
    <audio src="hi.mp4"/>
    <audio src="fr&amp;en.mp4"><param name="trackID" value="2"/></audio>
  </switch></body>
</smil>"#;
        assert_eq!(
            group_sources(smil).expect("parses"),
            vec!["hi.mp4", "lo.mp4", "fr&en.mp4"]
        );
        assert!(group_sources("<smil><video src='a").is_err());
    }

    #[test]
    fn etags_follow_version_and_target() {
        assert_ne!(etag("1-2", "a"), etag("1-3", "a"));
        assert_ne!(etag("1-2", "a"), etag("1-2", "b"));
        assert_eq!(etag("1-2", "a"), etag("1-2", "a"));
    }
}
