//! Freeing files off the write path: fragments that left a rolling window, and the old
//! version a manifest (or a fragment's next look-ahead version) replaced.
//!
//! Freeing a file's blocks can block for a long time: ext4 without a journal and mounted
//! with `discard` (common on cloud VMs) discards them synchronously in whichever thread
//! drops the file's last link or handle, and a network filesystem waits for its server.
//! With 800 live 2 Mbit/s presentations, writer threads were blocked in `submit_bio_wait`
//! under `blkdev_issue_discard` in many samples (the rest in a replacing rename's
//! writeback, which [`crate::disk::replace_atomic`] avoids), and the fragments queued
//! behind were late. So a group's writer hands removals, and the old
//! versions its replacements leave under a temporary name
//! ([`crate::disk::replace_atomic`]), to one process-wide thread and goes on writing. A
//! removal is only ever later, which no reader notices (the manifest stopped listing the
//! fragment before).
//!
//! The queue is bounded ([`QUEUE`]): past that the writer removes the file itself, as
//! before. A queued removal names the file's inode, so a file written
//! later under the same name (a group removed and created again) is never the one removed.
//! [`drain`] empties the queue at shutdown, so a restart finds no fragment the window had
//! dropped.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};

/// Removals waiting for the thread.
const QUEUE: usize = 16_384;

enum Job {
    /// A file and the inode it was when queued.
    Remove(PathBuf, u64),
    /// Answered once every removal queued before it is done.
    Drain(SyncSender<()>),
}

fn queue() -> Option<&'static SyncSender<Job>> {
    static TX: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || run(rx))
            .map_err(|e| tracing::warn!("no removal thread ({e}): files are removed inline"))
            .ok()
            .map(|_| tx)
    })
    .as_ref()
}

fn run(rx: Receiver<Job>) {
    // One warning per outage, as the writer does for writes.
    let mut failing = false;
    for job in rx {
        match job {
            Job::Remove(path, ino) => match remove_if_same(&path, ino) {
                Ok(()) => failing = false,
                Err(e) => {
                    crate::metrics::get().error(crate::metrics::ErrorKind::DiskWrite);
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!("mss output: {e:#} (further failures are logged at debug until a removal succeeds)");
                    } else {
                        tracing::debug!("mss output: {e:#}");
                    }
                }
            },
            Job::Drain(done) => {
                let _ = done.send(());
            }
        }
    }
}

fn remove_if_same(path: &std::path::Path, ino: u64) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.ino() == ino => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Removes `path` soon, on the removal thread; now if the queue is full. A file that is
/// already gone is not an error.
pub fn remove(path: PathBuf) -> Result<()> {
    let ino = match std::fs::symlink_metadata(&path) {
        Ok(m) => m.ino(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    };
    let Some(tx) = queue() else {
        return remove_if_same(&path, ino);
    };
    match tx.try_send(Job::Remove(path, ino)) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(Job::Remove(path, ino)))
        | Err(TrySendError::Disconnected(Job::Remove(path, ino))) => remove_if_same(&path, ino),
        Err(_) => Ok(()),
    }
}

/// [`remove`] for the old version of a file that [`crate::disk::replace_atomic`] replaced,
/// under its temporary name: a failure is only logged (the file is not one readers see).
pub fn retire(path: PathBuf) {
    if let Err(e) = remove(path) {
        tracing::debug!("mss output: {e:#}");
    }
}

/// Waits (at most `limit`) until every removal queued so far is done.
pub fn drain(limit: Duration) -> bool {
    // Serialised so two callers do not each wait out the other's answer.
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock();
    let Some(tx) = queue() else { return true };
    let (done_tx, done_rx) = sync_channel(1);
    if tx.send(Job::Drain(done_tx)).is_err() {
        return true;
    }
    done_rx.recv_timeout(limit).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_removals_are_done_by_drain_and_spare_a_newer_file() {
        let dir = std::env::temp_dir().join(format!("smoothcast-reaper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let old: Vec<PathBuf> = (0..100).map(|i| dir.join(format!("{i}"))).collect();
        for p in &old {
            std::fs::write(p, b"x").expect("write");
        }
        for p in &old {
            remove(p.clone()).expect("queued");
        }
        // What the thread does when a queued name was taken by a new file before it got
        // there: the check it runs on every removal, called directly since the thread's
        // timing cannot be held. (The old file stays open so that its inode cannot be the
        // new file's.)
        let reused = dir.join("reused");
        std::fs::write(&reused, b"old").expect("write");
        let _open = std::fs::File::open(&reused).expect("open");
        let ino = std::fs::metadata(&reused).expect("meta").ino();
        std::fs::remove_file(&reused).expect("rm");
        std::fs::write(dir.join("keep"), b"x").expect("write");
        std::fs::rename(dir.join("keep"), &reused).expect("rename");
        assert_ne!(std::fs::metadata(&reused).expect("meta").ino(), ino);
        remove_if_same(&reused, ino).expect("checked");
        assert!(drain(Duration::from_secs(10)));
        assert!(old.iter().all(|p| !p.exists()));
        assert_eq!(std::fs::read(&reused).expect("kept"), b"x");
        // Gone already: not an error.
        remove(dir.join("never")).expect("missing is fine");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
