//! `listStreamsIds`: the unique id of every active stream.

use serde_json::Value;

use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::api::view::Streams;
use crate::api::view::{self, StreamRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStreamsIds;

impl ListStreamsIds {
    pub fn parse(_line: &Line) -> Result<ListStreamsIds, Reply> {
        Ok(ListStreamsIds)
    }

    pub fn apply(self, state: Streams<'_>) -> Reply {
        let ids: Vec<Value> = view::all_streams(state)
            .iter()
            .map(|s| match s {
                StreamRef::Inbound(i) => Value::from(i.unique_id),
                StreamRef::Outbound(c) => Value::from(view::outbound_id(c)),
            })
            .collect();
        Reply::success("Available stream IDs", Value::Array(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;
    use crate::streams::StreamKind;

    #[test]
    fn ids() {
        let state = test_support::state();
        let p = state
            .streams
            .publish("a", StreamKind::Rtmp, "x")
            .expect("publish");
        let r = ListStreamsIds::parse(&Line::parse("listStreamsIds").expect("line"))
            .expect("parse")
            .apply(Streams::of(&state));
        assert_eq!(r.data, serde_json::json!([p.id()]));
    }
}
