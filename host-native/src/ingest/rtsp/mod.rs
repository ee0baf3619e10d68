//! Pulling an RTSP source (H.264 and AAC over RTP) into a local stream.
//!
//! retina speaks RTSP and reassembles frames from RTP (RFC 6184, RFC 3640); the core's
//! [`RtpDemuxer`] turns those frames into tracks and samples, as every host would. This
//! module only connects the two and maps failures onto [`SourceError`]: anything before PLAY
//! succeeded is `ConnectFailed`, a peer that answers but describes media we cannot use is
//! `Protocol`, and a connection that breaks while playing is `Lost`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use retina::client::{
    Credentials, Described, InitialTimestampPolicy, PlayOptions, Session, SessionOptions,
    SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use smoothcast_core::demux::rtp::RtpDemuxer;
use smoothcast_core::demux::DemuxError;
use tokio::time::timeout;

use super::feed::{Feed, SourceError};
use crate::status::ConfigStatus;

#[cfg(test)]
mod tests;

/// RTCP packet type of BYE (RFC 3550 6.6).
const RTCP_BYE: u8 = 203;
/// How long media may wait for every stream to show its decoder configuration before the
/// local stream opens with the streams that did.
const START_WAIT: Duration = Duration::from_secs(1);
/// Each RTSP request (DESCRIBE, SETUP, PLAY) must be answered within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A playing session that delivers nothing for this long is considered lost (shorter in
/// tests, which wait for it).
const IDLE_TIMEOUT: Duration = Duration::from_secs(if cfg!(test) { 2 } else { 10 });

/// Plays `url` and sends what it carries to `feed` until the server ends the session.
/// `force_tcp` asks for RTP interleaved in the RTSP connection; otherwise UDP is tried first
/// and TCP used where the server refuses it.
pub async fn pull(url: &str, force_tcp: bool, feed: &mut Feed) -> Result<(), SourceError> {
    feed.set_status(ConfigStatus::Connecting);
    let (url, creds) = parse_url(url)?;
    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(concat!("smoothcast/", env!("CARGO_PKG_VERSION")).to_string());
    let mut session = timeout(REQUEST_TIMEOUT, Session::describe(url.clone(), options))
        .await
        .map_err(|_| SourceError::ConnectFailed(format!("no answer to DESCRIBE {url}")))?
        .map_err(|e| refused("DESCRIBE", &e))?;

    let chosen = usable_streams(&session)?;
    for &i in &chosen {
        setup(&mut session, i, force_tcp).await?;
    }
    feed.set_status(ConfigStatus::Connected);
    let playing = timeout(
        REQUEST_TIMEOUT,
        // RTP-Info puts every stream on one timeline; without it, each starts at its first
        // packet, which is close enough for a live source.
        session.play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive)),
    )
    .await
    .map_err(|_| SourceError::ConnectFailed("no answer to PLAY".into()))?
    .map_err(|e| refused("PLAY", &e))?;
    // Fails when the SDP of a stream we set up cannot be depacketized (its config is wrong).
    let mut demuxed = playing.demuxed().map_err(|e| {
        let line = first_line(&e);
        // "200 response to DESCRIBE CSeq=1: <what is wrong>"
        let why = line.split_once(": ").map_or(line.as_str(), |(_, w)| w);
        SourceError::Protocol(format!("the SDP describes a stream wrongly: {why}"))
    })?;

    let mut demuxer = RtpDemuxer::new();
    // Streams whose parameters the demuxer has; later changes come flagged on a frame.
    let mut configured = vec![false; demuxed.streams().len()];
    // The local stream opens once every stream is configured (or START_WAIT passed), so a
    // stream that turns out unusable fails the pull before anything is published.
    let mut first_frame: Option<Instant> = None;
    let mut open = false;
    // Streams whose sender said RTCP BYE; when all have, the session is over even if the
    // server keeps the connection.
    let mut said_bye = vec![false; configured.len()];
    let result = loop {
        let next = tokio::select! {
            next = timeout(IDLE_TIMEOUT, demuxed.next()) => next,
            () = feed.shutdown_requested() => break Ok(()),
        };
        let item = match next {
            Err(_) => {
                break Err(SourceError::Lost(format!(
                    "no media for {} s",
                    IDLE_TIMEOUT.as_secs()
                )))
            }
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(playing_error(&e)),
            Ok(Some(Ok(item))) => item,
        };
        let step = match item {
            CodecItem::VideoFrame(f) => {
                let id = f.stream_id();
                if f.has_new_parameters() || !configured.get(id).copied().unwrap_or(false) {
                    configure(&mut demuxer, &demuxed, id, &mut configured)?;
                }
                let pts = f.timestamp().elapsed();
                let keyframe = f.is_random_access_point();
                let data = f.into_data();
                feed.add_wire_bytes(data.len() as u64);
                demuxer.push_frame(stream_track(id), pts, keyframe, data.into())
            }
            CodecItem::AudioFrame(f) => {
                let id = f.stream_id();
                if !configured.get(id).copied().unwrap_or(false) {
                    configure(&mut demuxer, &demuxed, id, &mut configured)?;
                }
                feed.add_wire_bytes(f.data().len() as u64);
                demuxer.push_frame(
                    stream_track(id),
                    f.timestamp().elapsed(),
                    true,
                    bytes::Bytes::copy_from_slice(f.data()),
                )
            }
            CodecItem::Rtcp(rtcp) => {
                if rtcp.pkts().any(|p| p.payload_type() == RTCP_BYE) {
                    if let Some(b) = said_bye.get_mut(rtcp.stream_id()) {
                        *b = true;
                    }
                    if chosen
                        .iter()
                        .all(|&i| said_bye.get(i).copied().unwrap_or(false))
                    {
                        break Ok(());
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = step {
            break Err(protocol(e));
        }
        let since = *first_frame.get_or_insert_with(Instant::now);
        open = open
            || chosen
                .iter()
                .all(|&i| configured.get(i).copied().unwrap_or(false))
            || since.elapsed() >= START_WAIT;
        if open {
            forward(&mut demuxer, feed)?;
        }
    };
    // Pictures held for reordering are good media unless the peer broke the protocol.
    if !matches!(result, Err(SourceError::Protocol(_))) {
        demuxer.finish();
        forward(&mut demuxer, feed)?;
    }
    result
}

/// Splits credentials off the URL (retina sends them only when the server asks).
fn parse_url(raw: &str) -> Result<(url::Url, Option<Credentials>), SourceError> {
    let mut url = url::Url::parse(raw)
        .map_err(|e| SourceError::ConnectFailed(format!("invalid RTSP URL {raw:?}: {e}")))?;
    if url.scheme() != "rtsp" {
        return Err(SourceError::ConnectFailed(format!(
            "not an rtsp:// URL: {raw:?}"
        )));
    }
    let creds = (!url.username().is_empty()).then(|| Credentials {
        username: url.username().to_string(),
        password: url.password().unwrap_or_default().to_string(),
    });
    // Cannot fail for rtsp:// URLs, which have a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url, creds))
}

/// The streams worth playing: H.264 video and AAC audio (at most one of each; cameras
/// often offer more, plus metadata and G.711, which are ignored).
fn usable_streams(session: &Session<Described>) -> Result<Vec<usize>, SourceError> {
    let streams = session.streams();
    let pick = |media: &str, encoding: &str| {
        streams
            .iter()
            .position(|s| s.media() == media && s.encoding_name() == encoding)
    };
    let chosen: Vec<usize> = [pick("video", "h264"), pick("audio", "mpeg4-generic")]
        .into_iter()
        .flatten()
        .collect();
    // retina drops, with a log line, any m= section it cannot parse (a dynamic payload
    // type without rtpmap, say). Going on without the video or audio a server promised
    // would publish half a stream, so that is the server's error.
    let sdp = String::from_utf8_lossy(session.sdp());
    for kind in ["video", "audio"] {
        let described = sdp
            .lines()
            .filter(|l| l.starts_with(&format!("m={kind} ")))
            .count();
        let parsed = streams.iter().filter(|s| s.media() == kind).count();
        let have = chosen.iter().any(|&i| streams[i].media() == kind);
        if !have && described > parsed {
            return Err(SourceError::Protocol(format!(
                "the SDP describes {kind} that cannot be used (no rtpmap for its payload type, \
                 or a malformed m= section)"
            )));
        }
    }
    if chosen.is_empty() {
        let offered: Vec<String> = streams
            .iter()
            .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
            .collect();
        return Err(SourceError::Protocol(format!(
            "no H.264 or AAC stream in the SDP (offered: {})",
            if offered.is_empty() {
                "nothing".to_string()
            } else {
                offered.join(", ")
            }
        )));
    }
    Ok(chosen)
}

async fn setup(
    session: &mut Session<Described>,
    i: usize,
    force_tcp: bool,
) -> Result<(), SourceError> {
    let options = |transport| {
        SetupOptions::default()
            .transport(transport)
            .frame_format(FrameFormat::MP4)
    };
    if !force_tcp {
        let udp = timeout(
            REQUEST_TIMEOUT,
            session.setup(i, options(Transport::Udp(Default::default()))),
        )
        .await
        .map_err(|_| SourceError::ConnectFailed("no answer to SETUP".into()))?;
        match udp {
            Ok(()) => return Ok(()),
            // Many servers (and firewalls) only do interleaved TCP.
            Err(e) => tracing::debug!(
                "RTSP SETUP over UDP refused, trying TCP: {}",
                first_line(&e)
            ),
        }
    }
    timeout(
        REQUEST_TIMEOUT,
        session.setup(i, options(Transport::Tcp(Default::default()))),
    )
    .await
    .map_err(|_| SourceError::ConnectFailed("no answer to SETUP".into()))?
    .map_err(|e| refused("SETUP", &e))
}

/// The core track id of an RTSP stream: its position in the SDP.
fn stream_track(stream_id: usize) -> u32 {
    u32::try_from(stream_id).unwrap_or(u32::MAX)
}

/// Gives the demuxer a stream's current decoder configuration.
fn configure(
    demuxer: &mut RtpDemuxer,
    demuxed: &retina::client::Demuxed,
    id: usize,
    configured: &mut [bool],
) -> Result<(), SourceError> {
    let Some(stream) = demuxed.streams().get(id) else {
        return Err(SourceError::Protocol(format!(
            "media on unknown stream {id}"
        )));
    };
    let track = stream_track(id);
    let clock = stream.clock_rate_hz();
    match stream.parameters() {
        Some(ParametersRef::Video(p)) => demuxer.configure_h264(track, clock, p.extra_data()),
        Some(ParametersRef::Audio(p)) => demuxer.configure_aac(track, clock, p.extra_data()),
        _ => Err(DemuxError::malformed(format!(
            "{} stream {id} has no decoder configuration (no SPS/PPS in the SDP or in-band)",
            stream.media()
        ))),
    }
    .map_err(protocol)?;
    if let Some(c) = configured.get_mut(id) {
        *c = true;
    }
    Ok(())
}

fn forward(demuxer: &mut RtpDemuxer, feed: &mut Feed) -> Result<(), SourceError> {
    while let Some(event) = demuxer.poll() {
        feed.send(event)?;
    }
    Ok(())
}

fn protocol(e: DemuxError) -> SourceError {
    SourceError::Protocol(e.to_string())
}

/// retina's messages end in connection details over several lines; the first says it all.
fn first_line(e: &retina::Error) -> String {
    let s = e.to_string();
    s.split("\n\n")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A failed request before PLAY. A 200 answer that retina could not use (an SDP that
/// contradicts itself) is the server's fault, not the connection's.
fn refused(method: &str, e: &retina::Error) -> SourceError {
    let msg = format!("{method}: {}", first_line(e));
    if e.status_code() == Some(200) {
        SourceError::Protocol(msg)
    } else {
        SourceError::ConnectFailed(msg)
    }
}

/// An error while playing: I/O means the connection is gone; the rest is bad RTP.
fn playing_error(e: &retina::Error) -> SourceError {
    let msg = first_line(e);
    // retina's error kinds are private; these prefixes are its I/O variants (0.4).
    let io = [
        "Error reading",
        "Error writing",
        "Error receiving",
        "Timeout",
    ];
    if io.iter().any(|p| msg.starts_with(p)) {
        SourceError::Lost(msg)
    } else {
        SourceError::Protocol(msg)
    }
}
