//! `pullStream`: fetch a stream from elsewhere (rtmp://, file://, and the TS and RTSP
//! sources) into a local stream, reconnecting while keepAlive. Like EMS, SUCCESS means
//! enqueued: the connection is made afterwards, and listConfig's `pull` entry shows how it
//! goes.

use crate::api::line::{Line, SyntaxError};
use crate::api::reply::Reply;
use crate::api::view;
use crate::ingest::pull::PullManager;
use crate::ingest::pull::PullParams;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullStream {
    pub params: PullParams,
}

impl PullStream {
    pub fn parse(line: &Line) -> Result<PullStream, Reply> {
        let d = PullParams::default();
        let uri = match line.string("uri")? {
            Some(u) if !u.is_empty() => u,
            Some(_) => return Err(SyntaxError::invalid("uri").into()),
            None => return Err(SyntaxError::missing("uri").into()),
        };
        let string = |name: &str| -> Result<String, SyntaxError> {
            Ok(line.string(name)?.unwrap_or_default())
        };
        let signed = |name: &str, default: i64| -> Result<i64, SyntaxError> {
            match line.string(name)? {
                None => Ok(default),
                Some(s) => s.parse().map_err(|_| SyntaxError::invalid(name)),
            }
        };
        Ok(PullStream {
            params: PullParams {
                uri,
                local_stream_name: string("localStreamName")?,
                keep_alive: line.boolean("keepAlive")?.unwrap_or(d.keep_alive),
                force_tcp: line.boolean("forceTcp")?.unwrap_or(d.force_tcp),
                tc_url: string("tcUrl")?,
                page_url: string("pageUrl")?,
                swf_url: string("swfUrl")?,
                range_start: signed("rangeStart", d.range_start)?,
                range_end: signed("rangeEnd", d.range_end)?,
                looped: line.boolean("loop")?.unwrap_or(d.looped),
            },
        })
    }

    pub fn apply(self, pulls: &PullManager) -> Reply {
        let uri = self.params.uri.clone();
        match pulls.create(self.params) {
            Ok(entry) => Reply::success(
                format!("Stream {uri} enqueued for pulling"),
                view::pull_settings_json(&entry),
            ),
            Err(why) => Reply::fail(format!("Unable to pull {uri}: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;

    fn parse(text: &str) -> Result<PullStream, Reply> {
        PullStream::parse(&Line::parse(text).expect("line"))
    }

    #[test]
    fn parse_forms() {
        let p = parse("pullStream uri=rtmp://h/live/a").expect("parse");
        assert_eq!(p.params, PullParams::new("rtmp://h/live/a", ""));
        let p = parse(
            "pullStream uri=file:///a.mp4 localStreamName=x keepAlive=0 loop=1 rangeStart=-1 tcUrl=rtmp://h/app",
        )
        .expect("parse");
        assert!(!p.params.keep_alive);
        assert!(p.params.looped);
        assert_eq!(p.params.range_start, -1);
        assert_eq!(p.params.local_stream_name, "x");
        assert_eq!(p.params.tc_url, "rtmp://h/app");
        assert!(parse("pullStream").is_err());
        assert!(parse("pullStream uri=").is_err());
        assert!(parse("pullStream uri=rtmp://h/a/b keepAlive=yes").is_err());
        assert!(parse("pullStream uri=rtmp://h/a/b rangeStart=x").is_err());
    }

    #[tokio::test]
    async fn reply_and_list_config() {
        let state = test_support::state();
        let r = crate::api::execute(
            &state,
            "pullStream uri=rtmp://127.0.0.1:9/live/cam localStreamName=b",
        )
        .expect("reply");
        assert!(r.is_success(), "{r:?}");
        assert_eq!(
            r.description,
            "Stream rtmp://127.0.0.1:9/live/cam enqueued for pulling"
        );
        assert_eq!(r.data["operationType"], 1);
        assert_eq!(r.data["localStreamName"], "b");
        assert_eq!(r.data["keepAlive"], true);
        assert_eq!(r.data["uri"]["scheme"], "rtmp");
        assert_eq!(r.data["uri"]["port"], 9);
        let id = r.data["configId"].as_u64().expect("configId");

        let list = crate::api::execute(&state, "listConfig").expect("reply");
        let pull = &list.data["pull"][0];
        assert_eq!(pull["configId"], id);
        assert!(pull["status"]["current"]["code"].is_u64(), "{pull}");

        let dup =
            crate::api::execute(&state, "pullStream uri=rtmp://127.0.0.1:9/live/b").expect("reply");
        assert!(!dup.is_success(), "same derived name");
        let bad = crate::api::execute(&state, "pullStream uri=rtmps://h/live/x").expect("reply");
        assert!(
            bad.description.contains("rtmps:// is not supported"),
            "{bad:?}"
        );

        let r = crate::api::execute(&state, &format!("removeConfig id={id}")).expect("reply");
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.data["configId"], id);
        let list = crate::api::execute(&state, "listConfig").expect("reply");
        assert_eq!(list.data["pull"], serde_json::json!([]));
    }
}
