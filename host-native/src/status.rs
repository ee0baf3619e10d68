//! EMS's config status codes, as listConfig shows them in `status.current.code`: shared by
//! MSS outputs (Streaming, Waiting for stream, Disconnected) and pulls (all of them); and
//! the one sequence every config id comes from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigStatus {
    Streaming = 0,
    Connecting = 1,
    WaitingForStream = 2,
    Connected = 3,
    Disconnected = 4,
    ConnectionFailed = 5,
}

impl ConfigStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn description(self) -> &'static str {
        match self {
            ConfigStatus::Streaming => "Streaming",
            ConfigStatus::Connecting => "Connecting",
            ConfigStatus::WaitingForStream => "Waiting for stream",
            ConfigStatus::Connected => "Connected",
            ConfigStatus::Disconnected => "Disconnected",
            ConfigStatus::ConnectionFailed => "Connection failed",
        }
    }
}

/// Config ids: EMS numbers every config (MSS, pull, ...) from one sequence, so removeConfig
/// `id=` names exactly one config whatever its kind. Clones share the sequence.
#[derive(Debug, Clone, Default)]
pub struct ConfigIds(Arc<AtomicU64>);

impl ConfigIds {
    /// The next id; the first is 1.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Moves the sequence past an id that came back from the state file.
    pub fn skip_past(&self, id: u64) {
        self.0.fetch_max(id, Ordering::Relaxed);
    }
}
