//! One module per EMS command, each with `parse` (from a [`Line`] to typed arguments, with
//! EMS's syntax-error texts) and `apply` (against the handles it needs: the output or pull
//! manager, the streams view, or for serverStats the whole server), side by side.

mod create_mss_stream;
mod get_stream_info;
mod help;
mod list_config;
mod list_streams;
mod list_streams_ids;
mod pull_stream;
mod remove_config;
mod server_stats;
mod shutdown_stream;
mod version;

pub use create_mss_stream::CreateMssStream;
pub use get_stream_info::GetStreamInfo;
pub use help::Help;
pub use list_config::ListConfig;
pub use list_streams::ListStreams;
pub use list_streams_ids::ListStreamsIds;
pub use pull_stream::PullStream;
pub use remove_config::RemoveConfig;
pub use server_stats::ServerStats;
pub use shutdown_stream::ShutdownStream;
pub use version::Version;

use super::line::{Line, SyntaxError};
use super::reply::Reply;
use super::view::Streams;
use crate::server::AppState;

/// Every command with the one-line description `help` shows. The names are EMS's spelling;
/// matching is case-insensitive.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "createMSSStream",
        "Package local streams as a Microsoft Smooth Streaming presentation in targetFolder/groupName",
    ),
    ("getStreamInfo", "Details of one stream, by id or localStreamName"),
    ("help", "This list of commands"),
    ("listConfig", "The run-time configuration: every output config and its status"),
    ("listStreams", "Every active stream, inbound and outbound"),
    ("listStreamsIds", "The unique ids of every active stream"),
    ("pullStream", "Pull a stream (rtmp://, file://...) into a local stream; keepAlive reconnects"),
    ("removeConfig", "Stop and forget a config, by id or groupName; removeHlsHdsFiles=1 deletes its files"),
    ("serverStats", "Smoothcast's own: uptime, stream counts and the MSS write delay"),
    ("shutdownStream", "Stop a stream, by id or localStreamName"),
    ("version", "Server version and build details"),
];

#[derive(Debug)]
pub enum Command {
    // Boxed: its parameters dwarf every other command's.
    CreateMssStream(Box<CreateMssStream>),
    GetStreamInfo(GetStreamInfo),
    Help(Help),
    ListConfig(ListConfig),
    ListStreams(ListStreams),
    ListStreamsIds(ListStreamsIds),
    PullStream(Box<PullStream>),
    RemoveConfig(RemoveConfig),
    ServerStats(ServerStats),
    ShutdownStream(ShutdownStream),
    Version(Version),
}

impl Command {
    pub fn parse(line: &Line) -> Result<Command, Reply> {
        Ok(match line.command.to_ascii_lowercase().as_str() {
            "createmssstream" => Command::CreateMssStream(Box::new(CreateMssStream::parse(line)?)),
            "getstreaminfo" => Command::GetStreamInfo(GetStreamInfo::parse(line)?),
            "help" => Command::Help(Help::parse(line)?),
            "listconfig" => Command::ListConfig(ListConfig::parse(line)?),
            "liststreams" => Command::ListStreams(ListStreams::parse(line)?),
            "liststreamsids" => Command::ListStreamsIds(ListStreamsIds::parse(line)?),
            "pullstream" => Command::PullStream(Box::new(PullStream::parse(line)?)),
            "removeconfig" => Command::RemoveConfig(RemoveConfig::parse(line)?),
            "serverstats" => Command::ServerStats(ServerStats::parse(line)?),
            "shutdownstream" => Command::ShutdownStream(ShutdownStream::parse(line)?),
            "version" => Command::Version(Version::parse(line)?),
            _ => return Err(unknown(&line.command)),
        })
    }

    /// Runs the command, handing it only what it reads or changes.
    pub fn apply(self, state: &AppState) -> Reply {
        match self {
            Command::CreateMssStream(c) => (*c).apply(&state.outputs),
            Command::GetStreamInfo(c) => c.apply(Streams::of(state)),
            Command::Help(c) => c.apply(),
            Command::ListConfig(c) => c.apply(Streams::of(state)),
            Command::ListStreams(c) => c.apply(Streams::of(state)),
            Command::ListStreamsIds(c) => c.apply(Streams::of(state)),
            Command::PullStream(c) => (*c).apply(&state.pulls),
            Command::RemoveConfig(c) => c.apply(Streams::of(state)),
            Command::ServerStats(c) => c.apply(state),
            Command::ShutdownStream(c) => c.apply(Streams::of(state)),
            Command::Version(c) => c.apply(),
        }
    }
}

pub fn is_known(name: &str) -> bool {
    COMMANDS.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

pub fn unknown(name: &str) -> Reply {
    Reply::fail(format!(
        "command {name} not known. Type help for list of commands"
    ))
}

impl From<SyntaxError> for Reply {
    fn from(e: SyntaxError) -> Reply {
        Reply::fail(e.0)
    }
}

/// `id` or `localStreamName`, as getStreamInfo and shutdownStream take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSelector {
    Id(u64),
    Name(String),
}

impl StreamSelector {
    fn parse(line: &Line) -> Result<StreamSelector, Reply> {
        if let Some(id) = line.number("id", 0, u64::MAX)? {
            return Ok(StreamSelector::Id(id));
        }
        match line.string("localStreamName")? {
            Some(name) if !name.is_empty() => Ok(StreamSelector::Name(name)),
            Some(_) => Err(SyntaxError::invalid("localStreamName").into()),
            None => Err(Reply::fail(
                "Syntax error. Parameter id or localStreamName is required",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        for text in [
            "version",
            "VERSION",
            "Version",
            "listconfig",
            "LISTSTREAMSIDS",
        ] {
            let line = Line::parse(text).expect("line");
            assert!(Command::parse(&line).is_ok(), "{text}");
        }
    }

    #[test]
    fn unknown_command() {
        let line = Line::parse("pullStrem uri=x").expect("line");
        let r = Command::parse(&line).expect_err("unknown");
        assert_eq!(
            r.description,
            "command pullStrem not known. Type help for list of commands"
        );
    }

    #[test]
    fn every_listed_command_parses() {
        for (name, _) in COMMANDS {
            let line = Line::parse(name).expect("line");
            match Command::parse(&line) {
                Ok(_) => {}
                // Commands with required parameters say which.
                Err(r) => assert!(r.description.starts_with("Syntax error"), "{name}: {r:?}"),
            }
        }
    }

    #[test]
    fn stream_selector() {
        let p = |t: &str| StreamSelector::parse(&Line::parse(t).expect("line"));
        assert_eq!(p("x id=3"), Ok(StreamSelector::Id(3)));
        assert_eq!(
            p("x localStreamName=cam"),
            Ok(StreamSelector::Name("cam".into()))
        );
        assert!(p("x").is_err());
        assert!(p("x id=abc").is_err());
        assert!(p("x localStreamName=").is_err());
    }
}
