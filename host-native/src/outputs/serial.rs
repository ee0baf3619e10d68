//! A group's line to the disk: items applied in order, on the blocking pool, by one thread at
//! a time. The thread that takes the line applies everything queued, then whatever was queued
//! meanwhile, until the line is empty; nothing returns to the async workers in between.
//!
//! Why not an async task that awaits `spawn_blocking` for each trip to the disk: the end of
//! a blocking task wakes its awaiting task from outside the runtime, through tokio's shared
//! injection queue, which the workers serve between their own tasks. With 800 live streams
//! (two tokio workers, 800 RTMP connections always ready), the writer tasks came back from a
//! finished write up to 270 ms later, and that return leg was most of the write delay's p99
//! (measured with timestamps at each hop; `bench/live_bench.py --viewer`). Here the thread
//! that wrote goes on with the next item.
//!
//! The line holds at most `capacity` items, counting those being applied: a producer beyond
//! that waits for room, which is how packaging learns that the disk is behind.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Clones are handles on the same line.
pub struct Serial<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Serial<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

type Apply<T> = Box<dyn Fn(Vec<T>) + Send + Sync>;

struct Inner<T> {
    line: Mutex<Line<T>>,
    /// One permit per item that may wait; an item gives its permit back once applied.
    room: Arc<Semaphore>,
    capacity: u32,
    apply: Apply<T>,
    /// The span of whoever made the line (a group's), for what `apply` logs.
    span: tracing::Span,
}

struct Line<T> {
    items: Vec<(T, OwnedSemaphorePermit)>,
    /// A blocking-pool thread is applying the line: a new item needs no new thread.
    running: bool,
}

impl<T: Send + 'static> Serial<T> {
    /// A line of at most `capacity` waiting items; `apply` gets them in order, several at a
    /// time when they queued up, on a blocking-pool thread.
    pub fn new(capacity: usize, apply: impl Fn(Vec<T>) + Send + Sync + 'static) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS) as u32;
        Self {
            inner: Arc::new(Inner {
                line: Mutex::new(Line {
                    items: Vec::new(),
                    running: false,
                }),
                room: Arc::new(Semaphore::new(capacity as usize)),
                capacity,
                apply: Box::new(apply),
                span: tracing::Span::current(),
            }),
        }
    }

    /// Queues `item`, waiting while the line is full. True if it had to wait.
    pub async fn push(&self, item: T) -> bool {
        let room = &self.inner.room;
        let (permit, waited) = match room.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match room.clone().acquire_owned().await {
                Ok(p) => (p, true),
                // The semaphore is never closed.
                Err(_) => return true,
            },
        };
        let start = {
            let mut line = self.inner.lock();
            line.items.push((item, permit));
            !std::mem::replace(&mut line.running, true)
        };
        if start {
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || inner.drain());
        }
        waited
    }

    /// Waits until every item queued so far is applied.
    pub async fn flush(&self) {
        // Every permit is back only once every item holding one has been applied.
        if let Ok(all) = self.inner.room.acquire_many(self.inner.capacity).await {
            drop(all);
        }
    }
}

impl<T> Inner<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Line<T>> {
        // The line is consistent between statements; a panic elsewhere cannot break it.
        self.line.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn drain(&self) {
        let _in = self.span.enter();
        loop {
            let taken = {
                let mut line = self.lock();
                if line.items.is_empty() {
                    line.running = false;
                    return;
                }
                std::mem::take(&mut line.items)
            };
            let (items, permits): (Vec<T>, Vec<OwnedSemaphorePermit>) = taken.into_iter().unzip();
            // A bug in one trip must not stop the line for good (its items are lost, said).
            if catch_unwind(AssertUnwindSafe(|| (self.apply)(items))).is_err() {
                tracing::error!("mss output: writing to the disk panicked; those files are lost");
            }
            drop(permits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_are_applied_in_order_and_a_full_line_makes_the_producer_wait() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(AtomicBool::new(false));
        let line = {
            let (seen, gate) = (seen.clone(), gate.clone());
            Serial::new(3, move |items: Vec<u32>| {
                // Held closed: the disk is slow until the test opens it.
                while !gate.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if items.contains(&4) {
                    panic!("a bug in one trip");
                }
                seen.lock().unwrap().extend(items);
            })
        };
        // An item holds its place until it is applied: three fit, the fourth waits.
        for i in 0..3 {
            assert!(!line.push(i).await, "item {i} waited");
        }
        let waiting = tokio::time::timeout(Duration::from_millis(200), line.push(3)).await;
        assert!(waiting.is_err(), "a full line let a fourth item in");
        gate.store(true, Ordering::Release);
        line.push(3).await;
        line.flush().await;
        line.push(4).await;
        line.flush().await;
        line.push(5).await;
        line.flush().await;
        // The trip with item 4 panicked: its items are lost, the line goes on.
        let seen = seen.lock().unwrap().clone();
        assert_eq!(&seen[..4], &[0, 1, 2, 3], "{seen:?}");
        assert_eq!(seen.last(), Some(&5), "{seen:?}");
        assert!(!seen.contains(&4));
    }
}
