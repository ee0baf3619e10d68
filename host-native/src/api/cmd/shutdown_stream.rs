//! `shutdownStream`: stop a stream, by `id` or `localStreamName`.

use serde_json::Value;

use super::StreamSelector;
use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::api::view::Streams;
use crate::api::view::{self, StreamRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownStream {
    pub stream: StreamSelector,
    /// EMS: also drop the config that would bring the stream back.
    pub permanently: bool,
}

impl ShutdownStream {
    pub fn parse(line: &Line) -> Result<ShutdownStream, Reply> {
        Ok(ShutdownStream {
            stream: StreamSelector::parse(line)?,
            permanently: line.boolean("permanently")?.unwrap_or(true),
        })
    }

    pub fn apply(self, state: Streams<'_>) -> Reply {
        let found = match &self.stream {
            StreamSelector::Id(id) => view::find_by_id(state, *id),
            StreamSelector::Name(name) => state
                .streams
                .get(name)
                .map(|i| StreamRef::Inbound(Box::new(i))),
        };
        let Some(stream) = found else {
            return Reply::fail(match self.stream {
                StreamSelector::Id(id) => format!("Stream with id {id} not found"),
                StreamSelector::Name(n) => format!("Stream {n} not found"),
            });
        };
        let data = stream.to_json(state);
        match stream {
            StreamRef::Inbound(info) => {
                // A pulled stream: permanently removes its config; otherwise the pull
                // reconnects if keepAlive (EMS: "the stream will be reconnected").
                if let Some(pull) = view::pulled_by(state, &info) {
                    if self.permanently {
                        state.pulls.remove(pull.config_id);
                    } else {
                        state.pulls.reconnect(pull.config_id);
                    }
                    return Reply::success(
                        "Stream closed",
                        with_permanently(data, self.permanently),
                    );
                }
                // Ingest ends the stream when it sees the request.
                if !state.streams.request_shutdown(&info.name) {
                    return Reply::fail(format!("Stream {} not found", info.name));
                }
            }
            StreamRef::Outbound(entry) => {
                // An MSS output is its config: stopping it for good is removing the config,
                // and there is no way to stop it only until keepAlive restarts it.
                if !self.permanently {
                    return Reply::fail(
                        "MSS outputs can only be shut down permanently (permanently=1), or with removeConfig",
                    );
                }
                if let Err(e) = state.outputs.remove_config(entry.config_id, false) {
                    return Reply::fail(e.to_string());
                }
            }
        }
        Reply::success("Stream closed", with_permanently(data, self.permanently))
    }
}

fn with_permanently(mut data: Value, permanently: bool) -> Value {
    if let Value::Object(map) = &mut data {
        map.insert("permanently".into(), Value::from(permanently));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;
    use crate::streams::StreamKind;

    fn parse(text: &str) -> Result<ShutdownStream, Reply> {
        ShutdownStream::parse(&Line::parse(text).expect("line"))
    }

    #[test]
    fn parse_forms() {
        assert_eq!(
            parse("shutdownStream id=4"),
            Ok(ShutdownStream {
                stream: StreamSelector::Id(4),
                permanently: true
            })
        );
        assert_eq!(
            parse("shutdownStream localStreamName=cam permanently=0"),
            Ok(ShutdownStream {
                stream: StreamSelector::Name("cam".into()),
                permanently: false
            })
        );
        assert!(parse("shutdownStream").is_err());
        assert!(parse("shutdownStream id=1 permanently=perhaps").is_err());
    }

    #[tokio::test]
    async fn asks_ingest_to_stop() {
        let state = test_support::state();
        let p = state
            .streams
            .publish("cam", StreamKind::Rtmp, "x")
            .expect("publish");
        let r = parse("shutdownStream localStreamName=cam")
            .expect("parse")
            .apply(Streams::of(&state));
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.data["name"], "cam");
        // The notification is stored for the ingest task.
        tokio::time::timeout(std::time::Duration::from_secs(1), p.shutdown_requested())
            .await
            .expect("shutdown requested");
        let r = parse("shutdownStream id=12345")
            .expect("parse")
            .apply(Streams::of(&state));
        assert!(!r.is_success());
    }
}
