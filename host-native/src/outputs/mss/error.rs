//! Why the output manager refuses a request. The `Display` texts are the EMS replies'
//! descriptions (scripts and tests match them), so they are kept word for word.

use std::fmt;
use std::path::PathBuf;

/// Why a config could not be created (createMSSStream, autoMSS, the demo, a restored
/// config): shown as `Unable to create MSS stream: <why>`.
#[derive(Debug)]
pub enum CreateError {
    NoStreams,
    BandwidthCount,
    /// A groupName, manifestName or localStreamName that is not one path component (the
    /// core's message).
    BadName(String),
    SameBandwidth,
    Target(TargetError),
    /// The group folder, or the stream's folder in it, is a link leading out of the roots.
    LinkOut {
        target_folder: String,
        group_name: String,
    },
    NoRuntime,
    StreamTaken {
        group: String,
        stream: String,
    },
    GroupInUse {
        group: String,
    },
    TooMany {
        held: usize,
        limit: usize,
    },
    SavedIdsRepeat,
    IdInUse(u64),
    Cleanup {
        dir: PathBuf,
        error: std::io::Error,
    },
    /// The manifest exists and overwriteDestination is 0.
    ManifestExists(PathBuf),
    /// An `s3:` targetFolder that is not a usable store location.
    Store(String),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unable to create MSS stream: ")?;
        match self {
            Self::NoStreams => f.write_str("localStreamNames is empty"),
            Self::BandwidthCount => {
                f.write_str("bandwidths and localStreamNames have different number of elements")
            }
            Self::BadName(why) => f.write_str(why),
            Self::SameBandwidth => f.write_str(
                "two streams have the same bandwidth; quality levels need distinct bitrates",
            ),
            Self::Target(e) => write!(f, "{e}"),
            Self::LinkOut {
                target_folder,
                group_name,
            } => write!(
                f,
                "targetFolder {target_folder} with groupName {group_name} leads outside the folders this server writes to (a symbolic link)"
            ),
            Self::NoRuntime => f.write_str("no runtime to run the output on"),
            Self::StreamTaken { group, stream } => {
                write!(f, "group {group} already packages stream {stream}")
            }
            Self::GroupInUse { group } => write!(f, "group {group} is already in use"),
            Self::TooMany { held, limit } => write!(
                f,
                "the server holds {held} MSS configs; the limit is {limit} ([security] max_mss_configs)"
            ),
            Self::SavedIdsRepeat => f.write_str("its saved ids repeat"),
            Self::IdInUse(id) => write!(f, "id {id} is already in use"),
            Self::Cleanup { dir, error } => write!(f, "cleaning {}: {error}", dir.display()),
            Self::ManifestExists(path) => {
                write!(f, "{} exists and overwriteDestination is 0", path.display())
            }
            Self::Store(why) => write!(f, "targetFolder: {why}"),
        }
    }
}

impl std::error::Error for CreateError {}

impl From<TargetError> for CreateError {
    fn from(e: TargetError) -> Self {
        Self::Target(e)
    }
}

/// Why a targetFolder is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Empty, or holding a NUL.
    Invalid,
    /// Resolved (links followed) outside every allowed root.
    Outside {
        target: String,
        resolved: PathBuf,
        roots: Vec<PathBuf>,
    },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid => f.write_str("targetFolder is empty or invalid"),
            Self::Outside {
                target,
                resolved,
                roots,
            } => write!(
                f,
                "targetFolder {target} resolves to {}, outside the folders this server writes to ({})",
                resolved.display(),
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl std::error::Error for TargetError {}

/// Why removeConfig found nothing to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveError {
    ConfigNotFound(u64),
    GroupNotFound(String),
}

impl fmt::Display for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConfigNotFound(id) => write!(f, "Config {id} not found"),
            Self::GroupNotFound(group) => write!(f, "No config for group {group}"),
        }
    }
}

impl std::error::Error for RemoveError {}
