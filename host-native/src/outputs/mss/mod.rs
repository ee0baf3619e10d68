//! createMSSStream configs and the live MSS outputs they run.
//!
//! One createMSSStream call is one group: one [`Presentation`] with a quality level per local
//! stream, driven by one task that waits for its streams, feeds their media to the core and
//! applies the outputs to disk. The task owns the presentation; the manager only keeps the
//! configs (for listConfig) and a stop switch per group.
//!
//! - [`params`]: createMSSStream's parameters and defaults.
//! - [`records`]: the config entries and group handles the manager keeps.
//! - [`manager`]: the [`OutputManager`], its settings and queries.
//! - [`start`]: checking a config and starting its group.
//! - [`remove`]: removeConfig and shutdown.
//! - [`confine`]: keeping target folders inside the allowed roots.
//! - [`error`]: why a request is refused, in the words of the EMS replies.

mod confine;
mod error;
mod manager;
mod params;
mod records;
mod remove;
mod start;

pub use error::{CreateError, RemoveError, TargetError};
pub use manager::OutputManager;
pub use params::{MssParams, PlaylistType};
pub(super) use records::Origin;
pub use records::{MssConfigEntry, StatusRecord, StopMode};

pub use crate::status::ConfigStatus;
// Path helpers long reached through this module (the web server and config use them).
pub use crate::paths::{normalize, real_path, resolve_links};

#[cfg(test)]
fn test_manager(root: &std::path::Path) -> OutputManager {
    OutputManager::new(crate::streams::StreamRegistry::new())
        .with_allowed_roots(vec![root.to_path_buf()])
}
