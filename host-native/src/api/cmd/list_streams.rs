//! `listStreams`: every active stream, inbound ones and running MSS outputs (`OFMSS`).

use serde_json::Value;

use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::api::view;
use crate::api::view::Streams;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStreams {
    /// Accepted for EMS scripts; there are no internal streams to hide.
    pub disable_internal_streams: bool,
}

impl ListStreams {
    pub fn parse(line: &Line) -> Result<ListStreams, Reply> {
        Ok(ListStreams {
            disable_internal_streams: line.boolean("disableInternalStreams")?.unwrap_or(false),
        })
    }

    pub fn apply(self, state: Streams<'_>) -> Reply {
        let streams: Vec<Value> = view::all_streams(state)
            .iter()
            .map(|s| s.to_json(state))
            .collect();
        Reply::success("Available streams", Value::Array(streams))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;
    use crate::streams::StreamKind;

    #[test]
    fn parse() {
        let p = |t| ListStreams::parse(&Line::parse(t).expect("line"));
        assert_eq!(
            p("listStreams"),
            Ok(ListStreams {
                disable_internal_streams: false
            })
        );
        assert_eq!(
            p("listStreams disableInternalStreams=1"),
            Ok(ListStreams {
                disable_internal_streams: true
            })
        );
        assert!(p("listStreams disableInternalStreams=maybe").is_err());
    }

    #[test]
    fn lists_inbound_streams() {
        let state = test_support::state();
        let r = ListStreams {
            disable_internal_streams: false,
        }
        .apply(Streams::of(&state));
        assert_eq!(r.data, serde_json::json!([]));
        let _p = state
            .streams
            .publish("cam1", StreamKind::Rtmp, "127.0.0.1:5000")
            .expect("publish");
        let r = ListStreams {
            disable_internal_streams: false,
        }
        .apply(Streams::of(&state));
        assert!(r.is_success());
        assert_eq!(r.data[0]["name"], "cam1");
        assert_eq!(r.data[0]["type"], "INR");
    }
}
