//! `s3://bucket/prefix`: target folders and web roots in an S3-compatible object store.
//!
//! One narrow handle, [`Store`], over the `object_store` crate: keys are confined below the
//! prefix (plain relative names only, like [`crate::disk::OutputDir::resolve`]), every object
//! is written with its Content-Type and Cache-Control (the store serves what was stored, and
//! a CDN in front caches by it), and failures come back as [`StoreError`]s that say whether
//! the key was absent, a condition failed, or the store itself failed (which an origin
//! answers with 404, 412 handling, and 502/503).
//!
//! Configuration: the standard `AWS_*` environment variables, then `[object_store]`
//! (config/object_store.rs) over them. Each request has a timeout and few, short retries:
//! callers (the live writer) have their own hold-and-retry, and must never hang on a
//! stalled store.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, ClientConfigKey, GetOptions, GetRange, ObjectStore, ObjectStoreExt,
    PutMode, PutOptions, PutPayload, UpdateVersion,
};

use crate::config::object_store::{ObjectStoreConfig, DEFAULT_TIMEOUT_SECS};

/// The URL scheme of store locations.
pub const SCHEME: &str = "s3://";

/// Whether a target folder or web root names a store location rather than a folder.
/// Anything starting `s3:` counts, so a mistyped URL is refused instead of becoming a local
/// folder named `s3:`.
pub fn is_store_location(s: &str) -> bool {
    s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("s3:"))
}

/// A parsed `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl Location {
    pub fn parse(s: &str) -> Result<Self> {
        let rest = s
            .get(..SCHEME.len())
            .filter(|p| p.eq_ignore_ascii_case(SCHEME))
            .map(|_| &s[SCHEME.len()..])
            .ok_or_else(|| anyhow!("{s:?}: a store location is s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3 bucket names: 3-63 of lower-case letters, digits, '.', '-'.
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            bail!("{s:?}: {bucket:?} is not a bucket name (3-63 of a-z, 0-9, '.', '-')");
        }
        let prefix = prefix.trim_matches('/');
        plain_names(prefix).map_err(|why| anyhow!("{s:?}: {why}"))?;
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "{SCHEME}{}", self.bucket)
        } else {
            write!(f, "{SCHEME}{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Each `/`-separated name must be plain: no empty, `.`, `..`, control characters or
/// backslashes, so a key never means something else to the store or to a path-based reader.
fn plain_names(rel: &str) -> std::result::Result<(), &'static str> {
    if rel.is_empty() {
        return Ok(());
    }
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err("empty, `.` or `..` names are not allowed");
        }
        if seg.chars().any(|c| c.is_control() || c == '\\') {
            return Err("control characters and backslashes are not allowed");
        }
    }
    Ok(())
}

/// What went wrong, as far as a caller acts on it.
#[derive(Debug)]
pub enum StoreError {
    /// No such key: an origin answers 404.
    NotFound,
    /// A conditional write found the key already there (`If-None-Match: *`).
    AlreadyExists,
    /// A conditional write found another version (`If-Match`): someone else wrote it.
    Precondition,
    /// The store failed, timed out or refused us: an origin answers 502/503; a writer holds
    /// the object and tries again.
    Failed(anyhow::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such object"),
            Self::AlreadyExists => f.write_str("the object exists already"),
            Self::Precondition => f.write_str("the object was changed by another writer"),
            Self::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            object_store::Error::AlreadyExists { .. } => Self::AlreadyExists,
            object_store::Error::Precondition { .. } => Self::Precondition,
            e => Self::Failed(anyhow::Error::new(e)),
        }
    }
}

/// How an object is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Replace whatever is there.
    Overwrite,
    /// Only if the key is absent (`If-None-Match: *`).
    Create,
    /// Only if the key holds this version (`If-Match: <etag>`).
    Update(String),
}

/// An object as read: its bytes and validators.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub etag: Option<String>,
    pub last_modified: std::time::SystemTime,
    /// The headers it was stored with.
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
}

/// A store location's handle; clones share the client and its connections.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    location: Location,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.location)
    }
}

impl Store {
    /// A client for `location`, configured from `AWS_*` and then `config`.
    pub fn connect(location: &Location, config: &ObjectStoreConfig) -> Result<Self> {
        // reqwest is built without a crypto provider of its own (no aws-lc-rs); it uses the
        // process default, ring, as our TLS listeners do. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = match config.timeout_secs {
            0 => DEFAULT_TIMEOUT_SECS,
            n => n,
        };
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            // Few, quick retries: a writer has its own hold-and-retry, an origin its client.
            .with_retry(object_store::RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(timeout),
            })
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                format!("{timeout}s"),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                format!("{}s", timeout.min(5)),
            );
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if let Some(k) = &config.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &config.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        if let Some(h) = config.allow_http {
            b = b.with_allow_http(h);
        }
        let s3 = b
            .build()
            .map_err(|e| anyhow!("object store {location}: {e}"))?;
        Ok(Self {
            inner: Arc::new(s3),
            location: location.clone(),
        })
    }

    /// An in-memory store (unit tests).
    pub fn in_memory(prefix: &str) -> Self {
        Self {
            inner: Arc::new(object_store::memory::InMemory::new()),
            location: Location {
                bucket: "memory".into(),
                prefix: prefix.into(),
            },
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// This handle below `sub` (a group folder below the target folder).
    pub fn child(&self, sub: &str) -> Result<Self> {
        plain_names(sub).map_err(|why| anyhow!("{sub:?}: {why}"))?;
        let mut s = self.clone();
        if !sub.is_empty() {
            s.location.prefix = self.join(sub);
        }
        Ok(s)
    }

    fn join(&self, rel: &str) -> String {
        if self.location.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.location.prefix)
        }
    }

    /// The key of a relative name below the prefix; names that could leave it are refused.
    pub fn key(&self, rel: &str) -> Result<Key> {
        if rel.is_empty() {
            bail!("refusing an empty object name");
        }
        plain_names(rel).map_err(|why| anyhow!("refusing object name {rel:?}: {why}"))?;
        Key::parse(self.join(rel)).map_err(|e| anyhow!("refusing object name {rel:?}: {e}"))
    }

    /// The full URL of a relative name, for logs and events.
    pub fn url(&self, rel: &str) -> String {
        format!("{SCHEME}{}/{}", self.location.bucket, self.join(rel))
    }

    /// Writes an object with its headers. `Create` on an existing key gives
    /// [`StoreError::AlreadyExists`]. Returns the new version's ETag.
    pub async fn put(
        &self,
        rel: &str,
        data: Bytes,
        content_type: &'static str,
        cache_control: &'static str,
        mode: Mode,
    ) -> std::result::Result<Option<String>, StoreError> {
        let key = self.key(rel).map_err(StoreError::Failed)?;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::CacheControl, cache_control.into());
        let opts = PutOptions {
            mode: match mode {
                Mode::Overwrite => PutMode::Overwrite,
                Mode::Create => PutMode::Create,
                Mode::Update(e_tag) => PutMode::Update(UpdateVersion {
                    e_tag: Some(e_tag),
                    version: None,
                }),
            },
            attributes,
            ..Default::default()
        };
        let r = self
            .inner
            .put_opts(&key, PutPayload::from_bytes(data), opts)
            .await?;
        Ok(r.e_tag)
    }

    /// Reads a whole object; with `if_none_match` an unchanged object is `Ok(None)`.
    pub async fn get(
        &self,
        rel: &str,
        if_none_match: Option<&str>,
    ) -> std::result::Result<Option<Object>, StoreError> {
        let key = self.key(rel).map_err(StoreError::Failed)?;
        let opts = GetOptions {
            if_none_match: if_none_match.map(str::to_string),
            ..Default::default()
        };
        let r = match self.inner.get_opts(&key, opts).await {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let etag = r.meta.e_tag.clone();
        let last_modified = std::time::SystemTime::from(r.meta.last_modified);
        let attr = |a: &Attribute| r.attributes.get(a).map(|v| v.to_string());
        let (content_type, cache_control) = (
            attr(&Attribute::ContentType),
            attr(&Attribute::CacheControl),
        );
        let bytes = r.bytes().await?;
        Ok(Some(Object {
            bytes,
            etag,
            last_modified,
            content_type,
            cache_control,
        }))
    }

    /// Bytes `range` of an object (a ranged GET): what a random-access reader of a large
    /// file in the store needs.
    pub async fn get_range(
        &self,
        rel: &str,
        range: Range<u64>,
    ) -> std::result::Result<Bytes, StoreError> {
        let key = self.key(rel).map_err(StoreError::Failed)?;
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        Ok(self.inner.get_opts(&key, opts).await?.bytes().await?)
    }

    /// An object's length in bytes (a HEAD).
    pub async fn len(&self, rel: &str) -> std::result::Result<u64, StoreError> {
        let key = self.key(rel).map_err(StoreError::Failed)?;
        Ok(self.inner.head(&key).await?.size)
    }

    /// One object as a random-access source (the just-in-time packager's
    /// [`crate::web::jit::RangeSource`]): its length and version from one HEAD now, then
    /// ranged GETs, each checked against that version (`If-Match`), so a file replaced
    /// meanwhile fails the read instead of splicing two versions.
    pub async fn ranged(&self, rel: &str) -> std::result::Result<RangedObject, StoreError> {
        let key = self.key(rel).map_err(StoreError::Failed)?;
        let meta = self.inner.head(&key).await?;
        let version = meta
            .e_tag
            .clone()
            .unwrap_or_else(|| format!("{}-{}", meta.size, meta.last_modified.timestamp_millis()));
        Ok(RangedObject {
            inner: self.inner.clone(),
            key,
            size: meta.size,
            e_tag: meta.e_tag,
            version: version.trim_matches('"').to_string(),
        })
    }

    /// Deletes an object; an absent one is not an error.
    pub async fn delete(&self, rel: &str) -> std::result::Result<(), StoreError> {
        let key = self.key(rel).map_err(StoreError::Failed)?;
        match self.inner.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// See [`Store::ranged`].
pub struct RangedObject {
    inner: Arc<dyn ObjectStore>,
    key: Key,
    size: u64,
    e_tag: Option<String>,
    version: String,
}

impl RangedObject {
    fn options(&self, range: Range<u64>) -> GetOptions {
        GetOptions {
            if_match: self.e_tag.clone(),
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        }
    }

    /// The bytes `offset..offset + len`, clipped at the end of the object.
    async fn read(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        let end = offset.saturating_add(len as u64).min(self.size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let r = self
            .inner
            .get_opts(&self.key, self.options(offset..end))
            .await
            .map_err(std::io::Error::other)?;
        r.bytes().await.map_err(std::io::Error::other)
    }
}

impl crate::web::jit::RangeSource for RangedObject {
    fn size(&self) -> u64 {
        self.size
    }

    fn version(&self) -> String {
        self.version.clone()
    }

    fn read_at(&self, offset: u64, len: usize) -> crate::web::jit::ReadFuture<'_> {
        Box::pin(self.read(offset, len))
    }

    fn read_ranges<'a>(
        &'a self,
        ranges: &'a [(u64, usize)],
    ) -> crate::web::jit::ReadManyFuture<'a> {
        // Concurrent ranged GETs, one per range (a fragment's few sample runs), in order.
        let reads: Vec<_> = ranges
            .iter()
            .map(|&(offset, len)| self.read(offset, len))
            .collect();
        Box::pin(futures_util::future::try_join_all(reads))
    }
}

/// Uploads at most this many objects at a time (`upload_folder`).
const UPLOADS_AT_ONCE: usize = 8;

/// Uploads every file below `dir` (an on-demand presentation packaged locally) to `store`:
/// fragments first, several at a time, and the manifests last, so a reader never finds a
/// manifest listing a fragment that is not there yet. Returns the number of objects.
pub async fn upload_folder(store: &Store, dir: &std::path::Path) -> Result<usize> {
    use futures_util::{stream, StreamExt, TryStreamExt};
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                todo.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel = rel
                    .to_str()
                    .ok_or_else(|| anyhow!("{}: not UTF-8", path.display()))?
                    .replace(std::path::MAIN_SEPARATOR, "/");
                files.push((rel, path));
            }
        }
    }
    let is_manifest = |rel: &str| {
        crate::web::headers::classify(rel.rsplit('/').next().unwrap_or(rel)).1
            == crate::web::headers::Kind::Manifest
    };
    let (manifests, fragments): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|(rel, _)| is_manifest(rel));
    let count = manifests.len() + fragments.len();
    for batch in [fragments, manifests] {
        stream::iter(batch)
            .map(|(rel, path)| async move {
                let data = tokio::fs::read(&path).await?;
                let (ctype, cache) = object_headers(&rel, false);
                store
                    .put(&rel, Bytes::from(data), ctype, cache, Mode::Overwrite)
                    .await
                    .map_err(|e| anyhow!("uploading {}: {e}", store.url(&rel)))?;
                anyhow::Ok(())
            })
            .buffer_unordered(UPLOADS_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
    }
    Ok(count)
}

/// The Content-Type and Cache-Control an object of this name is stored with: fragments
/// immutable for a year, a live manifest for one second (a CDN then asks again at most once
/// a second), an on-demand manifest for a minute.
pub fn object_headers(rel: &str, live: bool) -> (&'static str, &'static str) {
    use crate::web::headers::{classify, Kind};
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let (ctype, kind) = classify(name);
    let cache = match kind {
        Kind::Fragment => "public, max-age=31536000, immutable",
        Kind::Manifest if live => "public, max-age=1",
        Kind::Manifest => "public, max-age=60",
        Kind::Other => "public, max-age=60",
    };
    (ctype, cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = Location::parse("s3://media/vod/a").expect("ok");
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("media", "vod/a"));
        assert_eq!(l.to_string(), "s3://media/vod/a");
        assert_eq!(Location::parse("S3://media").expect("ok").prefix, "");
        assert_eq!(Location::parse("s3://media/x/").expect("ok").prefix, "x");
        for bad in [
            "s3:/media",
            "s3:media",
            "s3://",
            "s3://Media/x",
            "s3://m/x",
            "s3://media/../x",
            "s3://media/a//b",
            "/tmp/x",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        assert!(is_store_location("s3:foo") && is_store_location("S3://a"));
        assert!(!is_store_location("/s3:") && !is_store_location("www"));
    }

    #[tokio::test]
    async fn keys_stay_below_the_prefix_and_conditions_hold() {
        let s = Store::in_memory("live").child("g").expect("child");
        assert_eq!(s.key("a/b.fmp4").expect("key").as_ref(), "live/g/a/b.fmp4");
        for bad in ["", "../x", "a/../../b", "/etc", "a//b", "a\\b"] {
            assert!(s.key(bad).is_err(), "{bad}");
        }
        let (ct, cc) = object_headers("v/1.fmp4", true);
        let e1 = s
            .put("m.ismc", Bytes::from_static(b"1"), ct, cc, Mode::Create)
            .await
            .expect("create");
        assert!(matches!(
            s.put("m.ismc", Bytes::from_static(b"2"), ct, cc, Mode::Create)
                .await,
            Err(StoreError::AlreadyExists)
        ));
        let e1 = e1.expect("etag");
        let e2 = s
            .put(
                "m.ismc",
                Bytes::from_static(b"2"),
                ct,
                cc,
                Mode::Update(e1.clone()),
            )
            .await
            .expect("update");
        assert!(matches!(
            s.put("m.ismc", Bytes::from_static(b"3"), ct, cc, Mode::Update(e1))
                .await,
            Err(StoreError::Precondition)
        ));
        let got = s.get("m.ismc", None).await.expect("get").expect("some");
        assert_eq!(&got.bytes[..], b"2");
        assert!(s.get("m.ismc", e2.as_deref()).await.expect("get").is_none());
        assert!(matches!(
            s.get("nope", None).await,
            Err(StoreError::NotFound)
        ));
        s.put(
            "big",
            Bytes::from_static(b"0123456789"),
            ct,
            cc,
            Mode::Overwrite,
        )
        .await
        .expect("put");
        assert_eq!(&s.get_range("big", 2..5).await.expect("range")[..], b"234");
        assert_eq!(s.len("big").await.expect("len"), 10);
        {
            use crate::web::jit::RangeSource;
            let r = s.ranged("big").await.expect("ranged");
            assert_eq!(r.size(), 10);
            assert!(!r.version().is_empty());
            assert_eq!(&r.read_at(8, 5).await.expect("tail")[..], b"89", "clipped");
            let parts = r.read_ranges(&[(0, 2), (5, 3)]).await.expect("ranges");
            assert_eq!((&parts[0][..], &parts[1][..]), (&b"01"[..], &b"567"[..]));
            // Replaced meanwhile: reads fail instead of mixing two versions.
            s.put(
                "big",
                Bytes::from_static(b"abcdefghij"),
                ct,
                cc,
                Mode::Overwrite,
            )
            .await
            .expect("put");
            assert!(r.read_at(0, 2).await.is_err());
        }
        s.delete("big").await.expect("delete");
        s.delete("big").await.expect("delete again");
    }
}
