//! `getStreamInfo`: one stream, by `id` or `localStreamName`.

use super::StreamSelector;
use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::api::view::Streams;
use crate::api::view::{self, StreamRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetStreamInfo {
    pub stream: StreamSelector,
}

impl GetStreamInfo {
    pub fn parse(line: &Line) -> Result<GetStreamInfo, Reply> {
        Ok(GetStreamInfo {
            stream: StreamSelector::parse(line)?,
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
        match found {
            Some(s) => Reply::success("Stream information", s.to_json(state)),
            None => Reply::fail(match self.stream {
                StreamSelector::Id(id) => format!("Stream with id {id} not found"),
                StreamSelector::Name(n) => format!("Stream {n} not found"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;
    use crate::streams::StreamKind;

    fn run(state: &crate::server::AppState, text: &str) -> Reply {
        match GetStreamInfo::parse(&Line::parse(text).expect("line")) {
            Ok(c) => c.apply(Streams::of(state)),
            Err(r) => r,
        }
    }

    #[test]
    fn by_id_and_name() {
        let state = test_support::state();
        let p = state
            .streams
            .publish("cam", StreamKind::Rtmp, "x")
            .expect("publish");
        let r = run(&state, &format!("getStreamInfo id={}", p.id()));
        assert!(r.is_success());
        assert_eq!(r.data["name"], "cam");
        let r = run(&state, "getStreamInfo localStreamName=cam");
        assert_eq!(r.data["uniqueId"], p.id());
        assert!(!run(&state, "getStreamInfo localStreamName=other").is_success());
        assert!(!run(&state, "getStreamInfo id=999").is_success());
        assert!(!run(&state, "getStreamInfo").is_success());
    }
}
