//! Where source media comes from: `<media>/<group>/*.mp4` in a preopened directory, or the
//! same names under an upstream URL fetched through wasi:http (listed by
//! `<upstream>/<group>/inputs.txt`, one file name per line).
//!
//! Nothing is cached between requests: each request lists and reads what it needs, so any
//! number of instances can serve the same media.

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::PathBuf;

use wstd::http::{Body, Client, Request, StatusCode};

/// One source file, readable from any offset.
pub enum Blob {
    File(File),
    Memory(Cursor<Vec<u8>>),
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Blob::File(f) => f.read(buf),
            Blob::Memory(c) => c.read(buf),
        }
    }
}

impl Seek for Blob {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Blob::File(f) => f.seek(pos),
            Blob::Memory(c) => c.seek(pos),
        }
    }
}

pub enum Source {
    Dir(PathBuf),
    Upstream(String),
}

/// A group's input: its file name and, from a `name@BITRATE.mp4` name, its bitrate.
#[derive(Debug, Clone)]
pub struct InputName {
    pub file: String,
    pub bitrate: Option<u32>,
}

impl Source {
    /// From the environment (`wasmtime serve --env`): SMOOTHCAST_UPSTREAM wins over
    /// SMOOTHCAST_MEDIA (default `/media`, the guest path of `--dir HOST::/media`).
    pub fn from_env() -> Self {
        match std::env::var("SMOOTHCAST_UPSTREAM") {
            Ok(url) if !url.is_empty() => Source::Upstream(url.trim_end_matches('/').to_string()),
            _ => Source::Dir(PathBuf::from(
                std::env::var("SMOOTHCAST_MEDIA").unwrap_or_else(|_| "/media".into()),
            )),
        }
    }

    /// The group's inputs sorted by file name (the manifest's QualityLevel order), or
    /// `None` if there is no such group.
    pub async fn list(&self, group: &str) -> Result<Option<Vec<InputName>>, String> {
        let mut names: Vec<String> = match self {
            Source::Dir(root) => {
                let Ok(entries) = std::fs::read_dir(root.join(group)) else {
                    return Ok(None);
                };
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            }
            Source::Upstream(base) => {
                let Some(list) = fetch(&format!("{base}/{group}/inputs.txt")).await? else {
                    return Ok(None);
                };
                String::from_utf8_lossy(&list)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from)
                    .collect()
            }
        };
        names.retain(|n| {
            n.to_ascii_lowercase().ends_with(".mp4")
                && !n.starts_with('.')
                && !n.contains(['/', '\\'])
        });
        names.sort();
        if names.is_empty() {
            return Ok(None);
        }
        Ok(Some(names.into_iter().map(input_name).collect()))
    }

    pub async fn open(&self, group: &str, file: &str) -> Result<Blob, String> {
        match self {
            Source::Dir(root) => File::open(root.join(group).join(file))
                .map(Blob::File)
                .map_err(|e| format!("{group}/{file}: {e}")),
            Source::Upstream(base) => fetch(&format!("{base}/{group}/{file}"))
                .await?
                .map(|b| Blob::Memory(Cursor::new(b)))
                .ok_or_else(|| format!("{group}/{file}: not found upstream")),
        }
    }
}

fn input_name(file: String) -> InputName {
    let stem = &file[..file.len() - 4];
    let bitrate = stem
        .rsplit_once('@')
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|b| b.parse().ok())
        .filter(|b| *b > 0);
    InputName { file, bitrate }
}

/// GETs a whole body; `None` on 404.
async fn fetch(url: &str) -> Result<Option<Vec<u8>>, String> {
    let request = Request::get(url)
        .body(Body::empty())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = Client::new()
        .send(request)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Ok(None),
        other => return Err(format!("{url}: upstream answered {other}")),
    }
    let body = response
        .body_mut()
        .contents()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(Some(body.to_vec()))
}
