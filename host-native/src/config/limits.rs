//! `[limits]`: the bounds that keep hostile or broken peers from taking the server's memory,
//! connection slots or time. Every key is optional; the defaults suit a server with a few
//! hundred publishers. Compare nginx-rtmp (`max_message` 1 MB, `max_streams` 32, chunk size
//! at least 128), SRS (`firstpkt_timeout`) and nginx (`limit_conn`).

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Limits {
    /// Largest RTMP message a publisher may declare, checked in the chunk header before
    /// anything is reserved. 8 MiB: far above a 4K keyframe at broadcast bitrates. Before
    /// a publish is accepted at most 1 MiB (nginx-rtmp's default) whatever this says.
    pub rtmp_max_message_bytes: u32,
    /// Chunk streams (csid) one RTMP connection may use. Encoders use fewer than ten.
    pub rtmp_max_chunk_streams: usize,
    /// Seconds from accept to a completed RTMP handshake (real encoders take milliseconds).
    pub rtmp_handshake_timeout_secs: u64,
    /// RTMP connections one peer address may hold at once (0: no limit); the global cap of
    /// 1024 stays.
    pub rtmp_connections_per_address: usize,
    /// Least milliseconds between two reads of a publisher's socket (0: read whatever
    /// arrives at once). What arrives meanwhile waits in the socket and is read in one go:
    /// an encoder sends each audio and video message as it comes, some 70 a second at
    /// 2 Mbit/s, and each read is a system call, a TCP acknowledgement and a wake-up of
    /// the connection and of its group. Media reaches the packager up to this much later.
    pub rtmp_publish_read_interval_ms: u64,
    /// Seconds a JSON or ASCII CLI connection may stay silent before it is closed: long
    /// enough for an operator in telnet, short enough that idle sockets free their slots.
    pub cli_idle_timeout_secs: u64,
    /// JSON/ASCII CLI connections one peer address may hold at once per port (0: no limit);
    /// each port serves 256 at most.
    pub cli_connections_per_address: usize,
    /// Seconds an MPEG-TS sender over TCP gets to send a PMT (the program's description):
    /// one that trickles bytes without one only holds a slot.
    pub mpegts_first_pmt_timeout_secs: u64,
    /// Longest a live fragment may grow, in seconds, before it is cut without waiting for a
    /// keyframe (and an `mssChunkError` says so): a source that stops sending keyframes
    /// must not hold ever more media in memory. Unset: 4x chunkLength, at least 20 s.
    pub max_fragment_seconds: Option<u64>,
    /// Largest a fragment may grow, in bytes, before it is cut (as MediaMTX's
    /// `hlsSegmentMaxSize`). 64 MiB.
    pub max_fragment_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rtmp_max_message_bytes: 8 << 20,
            rtmp_max_chunk_streams: 64,
            rtmp_handshake_timeout_secs: 5,
            rtmp_connections_per_address: 64,
            rtmp_publish_read_interval_ms: 40,
            cli_idle_timeout_secs: 300,
            cli_connections_per_address: 32,
            mpegts_first_pmt_timeout_secs: 10,
            max_fragment_seconds: None,
            max_fragment_bytes: smoothcast_core::presentation::DEFAULT_MAX_FRAGMENT_BYTES,
        }
    }
}
