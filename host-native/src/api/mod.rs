//! The EMS-compatible API: the JSON CLI, the ASCII CLI and the HTTP API share one command
//! parser and one set of commands (`cmd/`).
//!
//! A request goes text -> [`line::Line`] (EMS key=value grammar) -> [`cmd::Command`] (typed,
//! validated arguments) -> `apply` against the shared state -> [`reply::Reply`], which each
//! transport renders its own way.

pub mod ascii_cli;
pub mod auth;
#[cfg(test)]
mod auth_e2e;
pub mod client;
pub mod cmd;
mod connection;
pub mod console;
pub mod http;
pub mod json_cli;
pub mod line;
pub mod reply;
mod view;

use crate::server::AppState;
use line::{Line, LineError};
use reply::Reply;

/// Runs one command line. Blank lines get no reply (telnet users press Enter freely).
pub fn execute(state: &AppState, text: &str) -> Option<Reply> {
    if text.trim().is_empty() {
        return None;
    }
    Some(execute_line(state, Line::parse(text)))
}

/// Runs an already split line; every outcome, including a syntax error, is a reply.
pub fn execute_line(state: &AppState, line: Result<Line, LineError>) -> Reply {
    match line {
        Err(e) => {
            let reply = if cmd::is_known(&e.command) {
                Reply::fail(e.error.0)
            } else {
                cmd::unknown(&e.command)
            };
            reply.with_response_id(e.response_id.as_deref())
        }
        Ok(line) => {
            let reply = match cmd::Command::parse(&line) {
                Ok(command) => command.apply(state),
                Err(reply) => reply,
            };
            tracing::debug!(
                command = %line.command,
                success = reply.is_success(),
                "{}",
                reply.description
            );
            reply.with_response_id(line.response_id.as_deref())
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Instant;

    use crate::config::ServerConfig;
    use crate::outputs::OutputManager;
    use crate::server::AppState;
    use crate::streams::StreamRegistry;

    pub fn state() -> AppState {
        state_with(ServerConfig::default())
    }

    pub fn state_with(config: ServerConfig) -> AppState {
        let streams = StreamRegistry::new();
        AppState {
            outputs: OutputManager::new(streams.clone()),
            pulls: crate::ingest::pull::PullManager::new(streams.clone(), Default::default()),
            streams,
            config,
            started: Instant::now(),
            events: crate::events::EventBus::disabled(),
            smooth_ingest: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_have_no_reply() {
        let s = test_support::state();
        assert!(execute(&s, "").is_none());
        assert!(execute(&s, " \r\n").is_none());
    }

    #[test]
    fn errors_echo_the_command_id() {
        let s = test_support::state();
        let r = execute(&s, "nope commandId=5").expect("reply");
        assert_eq!(
            r.to_json(),
            r#"{"data":null,"description":"command nope not known. Type help for list of commands","responseId":5,"status":"FAIL"}"#
        );
        let r = execute(&s, "nope stray commandId=8").expect("reply");
        assert!(r.description.starts_with("command nope not known"), "{r:?}");
        let r = execute(&s, "version stray commandId=6").expect("reply");
        assert!(!r.is_success());
        assert_eq!(r.response_id, Some(serde_json::json!(6)));
        let r = execute(&s, "VERSION commandId=7").expect("reply");
        assert!(r.is_success());
        assert_eq!(r.response_id, Some(serde_json::json!(7)));
    }
}
