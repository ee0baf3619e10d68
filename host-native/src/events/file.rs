//! The file sink: one JSON object per line, appended, flushed after each batch, by a thread of
//! its own so a slow disk delays nothing else.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use anyhow::Result;
use bytes::Bytes;

use crate::metrics::{self, ErrorKind, EventDrop};

/// Batches waiting for the file; past this the dispatcher drops rather than waits.
const QUEUE: usize = 1024;

pub(super) struct FileSink {
    tx: SyncSender<Vec<(u64, Bytes)>>,
}

impl FileSink {
    /// Opens (creating it and its folder) the file for appending, so a bad path fails at
    /// start rather than at the first event.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = sync_channel::<Vec<(u64, Bytes)>>(QUEUE);
        let path = path.to_path_buf();
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
                }
            })?;
        Ok(Self { tx })
    }

    pub fn write(&self, batch: Vec<(u64, Bytes)>) {
        let n = batch.len();
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(batch)
        {
            for _ in 0..n {
                metrics::get().event_dropped(EventDrop::FileQueueFull);
            }
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
