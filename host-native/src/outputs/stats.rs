//! Write delay: from the arrival of the sample that completes a fragment to the moment the
//! fragment, the rewritten look-ahead files and the manifest are all on disk.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Keeps the most recent delays (bounded) and a running count.
#[derive(Default)]
pub struct WriteStats {
    recent: Mutex<VecDeque<u32>>,
    fragments: AtomicU64,
}

const KEEP: usize = 100_000;

/// Percentiles of the recent delays, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DelaySummary {
    pub count: u64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
}

impl WriteStats {
    pub fn record(&self, delay: Duration) {
        self.fragments.fetch_add(1, Ordering::Relaxed);
        let us = delay.as_micros().min(u128::from(u32::MAX)) as u32;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(us);
    }

    pub fn summary(&self) -> DelaySummary {
        let mut v: Vec<u32> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        v.sort_unstable();
        let pick = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        DelaySummary {
            count: self.fragments.load(Ordering::Relaxed),
            p50_us: pick(0.5),
            p99_us: pick(0.99),
            max_us: v.last().copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = WriteStats::default();
        for ms in 1..=100 {
            s.record(Duration::from_millis(ms));
        }
        let sum = s.summary();
        assert_eq!(
            (
                sum.count,
                sum.p50_us / 1000,
                sum.p99_us / 1000,
                sum.max_us / 1000
            ),
            (100, 51, 99, 100)
        );
    }
}
