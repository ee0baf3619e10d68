//! `serverStats` (Smoothcast's own, not EMS's): uptime, stream and output counts, and the
//! MSS write delay the benchmarks read.

use serde_json::json;

use crate::api::line::Line;
use crate::api::reply::Reply;
use crate::server::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStats;

impl ServerStats {
    pub fn parse(_line: &Line) -> Result<ServerStats, Reply> {
        Ok(ServerStats)
    }

    pub fn apply(self, state: &AppState) -> Reply {
        let delay = state.outputs.write_stats().summary();
        Reply::success(
            "Server statistics",
            json!({
                "uptimeSeconds": state.started.elapsed().as_secs(),
                "inboundStreams": state.streams.list().len(),
                "mssConfigs": state.outputs.list_mss().len(),
                "fragmentsWritten": delay.count,
                "writeDelayP50Us": delay.p50_us,
                "writeDelayP99Us": delay.p99_us,
                "writeDelayMaxUs": delay.max_us,
                "eventSinks": state.events.enabled(),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;

    #[test]
    fn reports_counts() {
        let r = ServerStats.apply(&test_support::state());
        assert!(r.is_success());
        assert_eq!(r.data["fragmentsWritten"], 0);
        assert_eq!(r.data["inboundStreams"], 0);
    }
}
