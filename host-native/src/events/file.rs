//! The file sink: one JSON object per line, appended, flushed after each batch, by a thread of
//! its own so a slow disk delays nothing else.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;

use super::Outstanding;
use crate::metrics::{self, ErrorKind, EventDrop};

/// Batches waiting for the file; past this the dispatcher drops rather than waits.
const QUEUE: usize = 1024;

pub(super) struct FileSink {
    tx: SyncSender<Vec<(u64, Bytes)>>,
    outstanding: Arc<Outstanding>,
}

impl FileSink {
    /// Opens (creating it and its folder) the file for appending, so a bad path fails at
    /// start rather than at the first event.
    pub fn open(path: &Path, outstanding: Arc<Outstanding>) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = sync_channel::<Vec<(u64, Bytes)>>(QUEUE);
        let path = path.to_path_buf();
        let settled = outstanding.clone();
        std::thread::Builder::new()
            .name("events-file".into())
            .spawn(move || {
                let mut out = BufWriter::new(file);
                let mut failing = false;
                while let Ok(batch) = rx.recv() {
                    let n = batch.len();
                    match write_batch(&mut out, &batch) {
                        Ok(()) => {
                            failing = false;
                            metrics::get().events_delivered("file", n);
                        }
                        Err(e) => {
                            metrics::get().error(ErrorKind::EventSink);
                            if !failing {
                                tracing::warn!(file = %path.display(), "writing events: {e}");
                            }
                            failing = true;
                        }
                    }
                    settled.settle(n);
                }
            })?;
        Ok(Self { tx, outstanding })
    }

    pub fn write(&self, batch: Vec<(u64, Bytes)>) {
        let n = batch.len();
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(batch)
        {
            for _ in 0..n {
                metrics::get().event_dropped(EventDrop::FileQueueFull);
            }
            self.outstanding.settle(n);
        }
    }
}

fn write_batch(out: &mut BufWriter<File>, batch: &[(u64, Bytes)]) -> std::io::Result<()> {
    for (_, line) in batch {
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_line_per_event() {
        let dir = std::env::temp_dir().join(format!("smoothcast-events-{}", std::process::id()));
        let path = dir.join("sub/events.jsonl");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, "{\"earlier\":1}\n").expect("earlier line");
        let sink = FileSink::open(&path, Arc::default()).expect("open");
        sink.write(vec![(1, Bytes::from_static(b"{\"a\":1}"))]);
        sink.write(vec![
            (2, Bytes::from_static(b"{\"b\":2}")),
            (3, Bytes::from_static(b"{\"c\":3}")),
        ]);
        let want = "{\"earlier\":1}\n{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        let start = std::time::Instant::now();
        while std::fs::read_to_string(&path).unwrap_or_default() != want {
            assert!(start.elapsed().as_secs() < 5, "file never got the events");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_path_fails_at_start() {
        assert!(FileSink::open(Path::new("/dev/null/events.jsonl"), Arc::default()).is_err());
    }
}
