//! The last events, kept in memory for the operator's console (`/console`), whether or not
//! any sink is configured. Per-fragment events (`mssChunkCreated`, `mssChunkClosed`,
//! `mssPlaylistUpdated`) are left out: one every few seconds per stream would push the
//! events an operator looks for (a stream arriving, an output failing) out of a short list;
//! the console charts fragments from the metrics instead.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

use serde_json::{json, Value};

use super::EventType;

/// Events kept; the oldest goes first.
pub const CAPACITY: usize = 100;

struct Ring {
    seq: u64,
    events: VecDeque<Value>,
}

static RECENT: LazyLock<Mutex<Ring>> = LazyLock::new(|| {
    Mutex::new(Ring {
        seq: 0,
        events: VecDeque::with_capacity(CAPACITY),
    })
});

/// Remembers an event (a no-op for the per-fragment kinds).
pub fn record(kind: EventType, timestamp_ms: u64, payload: &Value) {
    if matches!(
        kind,
        EventType::MssChunkCreated | EventType::MssChunkClosed | EventType::MssPlaylistUpdated
    ) {
        return;
    }
    let mut ring = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    ring.seq += 1;
    let event =
        json!({ "seq": ring.seq, "type": kind, "timestamp": timestamp_ms, "payload": payload });
    if ring.events.len() == CAPACITY {
        ring.events.pop_front();
    }
    ring.events.push_back(event);
}

/// The kept events, oldest first.
pub fn snapshot() -> Vec<Value> {
    let ring = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    ring.events.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_events_without_fragment_ones() {
        let name = format!("recent-test-{}", std::process::id());
        record(EventType::MssChunkClosed, 1, &json!({ "stream": name }));
        for i in 0..CAPACITY + 5 {
            record(
                EventType::InStreamCreated,
                i as u64,
                &json!({ "stream": name, "i": i }),
            );
        }
        let all = snapshot();
        assert!(all.len() <= CAPACITY);
        let mine: Vec<&Value> = all
            .iter()
            .filter(|e| e["payload"]["stream"] == name)
            .collect();
        assert!(
            mine.iter().all(|e| e["type"] == "inStreamCreated"),
            "{mine:?}"
        );
        let last = mine.last().expect("kept");
        assert_eq!(last["payload"]["i"], CAPACITY + 4);
        assert!(all
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    }
}
