//! A group's disk writer: applies the presentation's outputs in order on the blocking pool
//! while the group goes on packaging, and records the write delay of every batch that
//! completes a fragment (from the sample's arrival from ingest to the last file on disk).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use smoothcast_core::presentation::Output;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::stats::WriteStats;

/// Batches waiting for the disk; a group that gets this far ahead waits for it.
const QUEUE: usize = 64;

struct Batch {
    outputs: Vec<Output>,
    /// When the sample that produced a new fragment arrived, if this batch has one.
    arrival: Option<Instant>,
}

pub(super) struct Writer {
    tx: mpsc::Sender<Batch>,
    task: JoinHandle<()>,
}

impl Writer {
    pub fn start(dir: PathBuf, stats: Arc<WriteStats>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Whatever queued up meanwhile goes in the same trip to the blocking pool.
                let mut batches = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batches.push(more);
                }
                let dir = dir.clone();
                let arrivals: Vec<Instant> = batches.iter().filter_map(|b| b.arrival).collect();
                let _ = tokio::task::spawn_blocking(move || apply(&dir, batches)).await;
                for at in arrivals {
                    stats.record(at.elapsed());
                }
            }
        });
        Self { tx, task }
    }

    /// Queues outputs; waits only when the disk is `QUEUE` batches behind.
    pub async fn write(&self, outputs: Vec<Output>, arrival: Instant) {
        if outputs.is_empty() {
            return;
        }
        let fragment = outputs
            .iter()
            .any(|o| matches!(o, Output::WriteFragment { .. }));
        let batch = Batch {
            outputs,
            arrival: fragment.then_some(arrival),
        };
        let _ = self.tx.send(batch).await;
    }

    /// Writes everything queued, then stops.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

fn apply(dir: &std::path::Path, batches: Vec<Batch>) {
    let out = crate::disk::OutputDir::new(dir.to_path_buf()).with_atomic_fragments();
    for o in batches.into_iter().flat_map(|b| b.outputs) {
        if let Output::Event(e) = &o {
            tracing::debug!(?e, "mss event");
            continue;
        }
        if let Err(e) = out.apply(o) {
            tracing::warn!("mss output: {e:#}");
        }
    }
}
