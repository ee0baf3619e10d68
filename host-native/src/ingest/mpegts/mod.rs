//! MPEG-TS ingest: EMS's inboundTcpTs / inboundUdpTs acceptors (port 9999) and the
//! `mpegtstcp://` / `mpegtsudp://` pulls, where EMS "pulls" by listening for a sender. Each
//! sender becomes a local stream like an RTMP publish; the core's demuxer does the demuxing.
//!
//! - [`tcp`]: one TCP sender's bytes until it closes ([`pull_tcp`]).
//! - [`udp`]: datagrams from one sender until it goes quiet ([`pull_udp`]).
//! - [`inbound`]: the port-9999 acceptors and the names of their streams.
//!
//! Damaged input is repaired by the core (see `smoothcast_core::demux::ts`); this module
//! reports the repairs once per source, and refuses input that is not TS or has no PMT with a
//! clear error.

use smoothcast_core::demux::ts::{TsDemuxer, TsStats};
use smoothcast_core::demux::{DemuxEvent, Demuxer};

use super::feed::{Feed, SourceError};

pub mod inbound;
pub mod tcp;
#[cfg(test)]
mod tests;
pub mod udp;

#[allow(unused_imports)] // the pull manager's entry points
pub use tcp::{pull_tcp, pull_tcp_on};
#[allow(unused_imports)]
pub use udp::{pull_udp, pull_udp_on};

/// Where a TS source's demuxed events go.
pub(crate) trait Sink {
    /// Forwards one event; `demuxer` tells what the program holds (for naming).
    fn send(&mut self, demuxer: &TsDemuxer, event: DemuxEvent) -> Result<(), SourceError>;
    fn add_wire_bytes(&mut self, n: u64);
    /// Completes when shutdownStream asked the stream to end.
    async fn shutdown_requested(&self);
}

impl Sink for Feed {
    fn send(&mut self, _: &TsDemuxer, event: DemuxEvent) -> Result<(), SourceError> {
        Feed::send(self, event)
    }

    fn add_wire_bytes(&mut self, n: u64) {
        Feed::add_wire_bytes(self, n);
    }

    async fn shutdown_requested(&self) {
        Feed::shutdown_requested(self).await;
    }
}

/// One source's demuxer, with the reporting of what it repaired.
pub(crate) struct TsInput {
    demuxer: TsDemuxer,
    /// Names the source in logs (the peer, the listening address).
    label: String,
    warned: bool,
}

impl TsInput {
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            demuxer: TsDemuxer::new(),
            label: label.into(),
            warned: false,
        }
    }

    /// Demuxes the next bytes and hands every event on.
    pub fn push(&mut self, data: &[u8], sink: &mut impl Sink) -> Result<(), SourceError> {
        let pushed = self.demuxer.push(data);
        self.drain(sink)?;
        pushed.map_err(|e| self.refuse(e))?;
        self.warn_once();
        Ok(())
    }

    /// The sender is done: passes on what the demuxer still held and reports the repairs.
    pub fn finish(&mut self, sink: &mut impl Sink) -> Result<(), SourceError> {
        let finished = self.demuxer.finish();
        self.drain(sink)?;
        self.summarize();
        finished.map_err(|e| self.refuse(e))
    }

    /// Whether a PMT was read (the program's streams are known).
    pub fn has_program(&self) -> bool {
        self.demuxer.program_pids().is_some()
    }

    /// What was repaired so far.
    pub fn stats(&self) -> TsStats {
        self.demuxer.stats()
    }

    fn drain(&mut self, sink: &mut impl Sink) -> Result<(), SourceError> {
        while let Some(event) = self.demuxer.poll() {
            sink.send(&self.demuxer, event)?;
        }
        Ok(())
    }

    fn refuse(&self, e: smoothcast_core::demux::DemuxError) -> SourceError {
        SourceError::Protocol(format!("MPEG-TS from {}: {e}", self.label))
    }

    /// Damage is reported when first seen, not per packet: a bad link would flood the log.
    fn warn_once(&mut self) {
        let s = self.stats();
        if self.warned || s == TsStats::default() {
            return;
        }
        self.warned = true;
        tracing::warn!(
            source = %self.label,
            "MPEG-TS damaged ({}); the damaged PES are dropped, nothing corrupted is passed on \
             (a summary follows when the source ends)",
            describe(s)
        );
    }

    /// Logs the totals once the source ended, if anything was repaired.
    pub fn summarize(&self) {
        let s = self.stats();
        if s != TsStats::default() {
            tracing::warn!(source = %self.label, "MPEG-TS source ended; in total {}", describe(s));
        }
    }
}

fn describe(s: TsStats) -> String {
    format!(
        "{} continuity errors, {} PES dropped, {} losses of sync",
        s.continuity_errors, s.dropped_pes, s.sync_losses
    )
}
