//! A small RTSP server for tests: serves a clip (or several back to back), in real time, as
//! H.264 (RFC 6184: single NAL unit packets and FU-A) and AAC (RFC 3640 AAC-hbr) over RTP
//! interleaved in the RTSP connection (RFC 2326 10.12). It answers OPTIONS, DESCRIBE,
//! SETUP, PLAY, GET_PARAMETER and TEARDOWN, and closes the connection when the clip ends.
//! RTP over UDP is refused (461) unless [`ServeOptions::udp`] asks for it.
//!
//! It can lie in its SDP ([`Lie`]), go silent ([`ServeOptions::stall_after`]) or end with
//! RTCP BYE alone, so that clients can be tested against servers that misbehave. The clip
//! is read with the core's demuxers; like most cameras the server repeats SPS and PPS
//! in-band before every IDR picture.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use smoothcast_core::codec::h264;
use smoothcast_core::demux::{self, DemuxEvent};
use smoothcast_core::media::{CodecConfig, Sample, TrackInfo};

/// How the SDP misdescribes the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// The truth.
    None,
    /// sprop-parameter-sets holds bytes that are not an SPS and PPS (the in-band ones are
    /// right).
    BadSprop,
    /// No sprop-parameter-sets, and no SPS/PPS in-band either: nothing tells the decoder
    /// how to decode the pictures.
    NoParameterSets,
    /// The video m= line's payload type (96) has no rtpmap; the rtpmap names 98.
    UnmappedPayloadType,
    /// The AAC rtpmap says 22050 Hz while its config (and the RTP clock) say 48 kHz.
    AudioClockRate,
}

/// Bytes in one RTP payload at most (FU-A splits larger NAL units).
const MAX_PAYLOAD: usize = 1400;
const VIDEO_PT: u8 = 96;
const AUDIO_PT: u8 = 97;
const VIDEO_CLOCK: u32 = 90_000;
/// The video stream's SSRC; audio's is the next.
const SSRC_BASE: u32 = 0x1234_5670;
/// Where each stream's RTP clock starts, as RTP-Info announces it.
const RTP_TIME_BASE: u32 = 0x1000_0000;

/// What the server plays: clips one after another on one timeline.
struct Clip {
    parts: Vec<Part>,
    options: ServeOptions,
}

/// How the server behaves beyond serving its clips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeOptions {
    pub lie: Lie,
    /// Stop sending after this long while keeping the connection open: a peer that hangs.
    pub stall_after: Option<Duration>,
    /// Accept RTP over UDP (`client_port=`) besides interleaved TCP; otherwise 461.
    pub udp: bool,
    /// After the clip, send RTCP BYE on every stream and keep the connection open (until the
    /// client leaves) instead of closing it.
    pub bye_and_linger: bool,
    /// Answer DESCRIBE with 401 (Basic) unless it carries this user and password, as
    /// cameras do.
    pub credentials: Option<(&'static str, &'static str)>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            lie: Lie::None,
            stall_after: None,
            udp: false,
            bye_and_linger: false,
            credentials: None,
        }
    }
}

/// Where a track's packets go, as SETUP decided.
enum Dest {
    Interleaved(u8),
    Udp {
        socket: UdpSocket,
        /// Also keeps the port from answering the client's RTCP with ICMP errors.
        rtcp: UdpSocket,
        to: SocketAddr,
    },
}

struct Part {
    video: Option<(TrackInfo, Vec<Sample>)>,
    audio: Option<(TrackInfo, Vec<Sample>)>,
    /// Seconds from PLAY at which this clip starts.
    start: f64,
}

/// A running server; stops accepting (and ends its sessions) when dropped.
pub struct RtspServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    sessions: Arc<AtomicUsize>,
    udp_sessions: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl RtspServer {
    /// Serves `clip` (MP4 or TS with H.264 and/or AAC) on 127.0.0.1 at a free port.
    pub fn start(clip: &Path, lie: Lie) -> Result<Self> {
        Self::start_sequence(&[clip], lie)
    }

    /// Serves `clips` back to back as one session, like an encoder whose settings change
    /// (new SPS/PPS in-band at the first IDR of each clip). The SDP describes the first.
    pub fn start_sequence(clips: &[&Path], lie: Lie) -> Result<Self> {
        Self::start_with(
            clips,
            ServeOptions {
                lie,
                ..ServeOptions::default()
            },
        )
    }

    /// Serves `clip` but goes silent after `after`, keeping the connection open.
    pub fn start_stalling(clip: &Path, after: Duration) -> Result<Self> {
        Self::start_with(
            &[clip],
            ServeOptions {
                stall_after: Some(after),
                ..ServeOptions::default()
            },
        )
    }

    pub fn start_with(clips: &[&Path], options: ServeOptions) -> Result<Self> {
        let mut parts = Vec::new();
        let mut start = 0.0;
        for path in clips {
            let mut part = load(path)?;
            part.start = start;
            start += part.duration();
            parts.push(part);
        }
        if parts.is_empty() {
            bail!("no clip to serve");
        }
        let clip = Arc::new(Clip { parts, options });
        let listener = TcpListener::bind("127.0.0.1:0").context("bind")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sessions = Arc::new(AtomicUsize::new(0));
        let udp_sessions = Arc::new(AtomicUsize::new(0));
        let (s, n, u) = (stop.clone(), sessions.clone(), udp_sessions.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (clip, s, n, u) = (clip.clone(), s.clone(), n.clone(), u.clone());
                        std::thread::spawn(move || {
                            // A test client hanging up mid-session is no error here.
                            let _ = serve(conn, &clip, &s, &n, &u);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            addr,
            stop,
            sessions,
            udp_sessions,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the clip.
    pub fn url(&self) -> String {
        format!("rtsp://{}/clip", self.addr)
    }

    /// How many sessions reached PLAY.
    pub fn sessions_played(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// How many of those got their RTP over UDP.
    pub fn udp_sessions_played(&self) -> usize {
        self.udp_sessions.load(Ordering::Relaxed)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The RTP times (90 kHz, from the first RTP-Info time) at which the server sends the
/// clip's pictures, in decode order: what a client should find as presentation times.
pub fn video_rtp_times(clip: &Path) -> Result<Vec<i64>> {
    let part = load(clip)?;
    let (t, samples) = part.video.ok_or_else(|| anyhow!("no video track"))?;
    Ok(samples
        .iter()
        .map(|s| i64::from(rescale(s.dts + s.cts_offset, t.timescale, VIDEO_CLOCK)))
        .collect())
}

impl Part {
    /// Seconds until the next clip may start: the end of the longer track.
    fn duration(&self) -> f64 {
        [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .filter_map(|(t, s)| {
                let last = s.last()?;
                let step = match s.len() {
                    0 | 1 => 0,
                    n => last.dts - s[n - 2].dts,
                };
                Some((last.dts + step) as f64 / f64::from(t.timescale))
            })
            .fold(0.0, f64::max)
    }
}

fn load(path: &Path) -> Result<Part> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let container =
        demux::sniff(&data).ok_or_else(|| anyhow!("{}: unknown container", path.display()))?;
    let mut d = demux::for_container(container, true);
    let mut tracks: Vec<(TrackInfo, Vec<Sample>)> = Vec::new();
    let mut offset = 0usize;
    let mut finished = false;
    loop {
        let mut seek = None;
        while let Some(e) = d.poll() {
            match e {
                DemuxEvent::Track(t) | DemuxEvent::TrackChanged(t) => {
                    if !tracks.iter().any(|(k, _)| k.id == t.id) {
                        tracks.push((t, Vec::new()));
                    }
                }
                DemuxEvent::Sample(s) => {
                    if let Some((_, v)) = tracks.iter_mut().find(|(t, _)| t.id == s.track) {
                        v.push(s);
                    }
                }
                DemuxEvent::Seek(to) => seek = Some(to),
                DemuxEvent::Ignored { .. } => {}
            }
        }
        if let Some(to) = seek {
            offset = usize::try_from(to)?.min(data.len());
        } else if finished {
            break;
        }
        if offset < data.len() {
            let end = (offset + (1 << 20)).min(data.len());
            d.push(&data[offset..end])?;
            offset = end;
        } else if !finished {
            d.finish()?;
            finished = true;
        }
    }
    let mut clip = Part {
        video: None,
        audio: None,
        start: 0.0,
    };
    for (t, s) in tracks {
        match t.codec {
            CodecConfig::H264(_) if clip.video.is_none() => clip.video = Some((t, s)),
            CodecConfig::Aac(_) if clip.audio.is_none() => clip.audio = Some((t, s)),
            _ => {}
        }
    }
    if clip.video.is_none() && clip.audio.is_none() {
        bail!("{}: no H.264 or AAC track", path.display());
    }
    Ok(clip)
}

fn sdp(clip: &Part, lie: Lie) -> String {
    let mut s = String::from(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=smoothcast test clip\r\nc=IN IP4 0.0.0.0\r\n\
         t=0 0\r\na=control:*\r\n",
    );
    if let Some((t, _)) = &clip.video {
        if let CodecConfig::H264(c) = &t.codec {
            let sps = c.sps.first().map(Vec::as_slice).unwrap_or_default();
            let pps = c.pps.first().map(Vec::as_slice).unwrap_or_default();
            let profile: String = sps
                .iter()
                .skip(1)
                .take(3)
                .map(|b| format!("{b:02X}"))
                .collect();
            let mapped = if lie == Lie::UnmappedPayloadType {
                98
            } else {
                VIDEO_PT
            };
            s += &format!(
                "m=video 0 RTP/AVP {VIDEO_PT}\r\na=rtpmap:{mapped} H264/{VIDEO_CLOCK}\r\n"
            );
            let sprop = match lie {
                Lie::NoParameterSets => String::new(),
                Lie::BadSprop => ";sprop-parameter-sets=Z2QAH6w=,aA==".into(),
                _ => format!(
                    ";sprop-parameter-sets={},{}",
                    crate::server::base64(sps),
                    crate::server::base64(pps)
                ),
            };
            s += &format!(
                "a=fmtp:{mapped} packetization-mode=1;profile-level-id={profile}{sprop}\r\n\
                 a=control:trackID=0\r\n"
            );
        }
    }
    if let Some((t, _)) = &clip.audio {
        if let CodecConfig::Aac(c) = &t.codec {
            let rate = if lie == Lie::AudioClockRate {
                22_050
            } else {
                c.sample_rate
            };
            let config: String = c.asc.iter().map(|b| format!("{b:02X}")).collect();
            s += &format!(
                "m=audio 0 RTP/AVP {AUDIO_PT}\r\na=rtpmap:{AUDIO_PT} mpeg4-generic/{rate}/{}\r\n\
                 a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;\
                 indexlength=3;indexdeltalength=3;config={config}\r\na=control:trackID=1\r\n",
                c.channels
            );
        }
    }
    s
}

pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The `interleaved=a-b` channel `a` its Transport header asks for.
    pub(crate) fn interleaved_channel(&self) -> Option<u8> {
        let transport = self.header("Transport");
        if !transport.contains("RTP/AVP/TCP") {
            return None;
        }
        transport
            .split(';')
            .find_map(|p| p.trim().strip_prefix("interleaved="))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u8>().ok())
    }
}

/// What arrives on an RTSP connection: requests and interleaved frames.
pub(crate) enum Incoming {
    Request(Request),
    Frame { channel: u8, data: Vec<u8> },
}

/// The next request or interleaved frame; `None` at EOF.
pub(crate) fn read_incoming(r: &mut impl BufRead) -> Result<Option<Incoming>> {
    let buf = r.fill_buf()?;
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'$' {
        let mut head = [0u8; 4];
        r.read_exact(&mut head)?;
        let mut data = vec![0; usize::from(u16::from_be_bytes([head[2], head[3]]))];
        r.read_exact(&mut data)?;
        return Ok(Some(Incoming::Frame {
            channel: head[1],
            data,
        }));
    }
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let url = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        url,
        headers,
        body: Vec::new(),
    };
    let len: u64 = req.header("Content-Length").parse().unwrap_or(0);
    r.take(len).read_to_end(&mut req.body)?;
    Ok(Some(Incoming::Request(req)))
}

/// The next request, skipping interleaved frames (RTCP receiver reports); `None` at EOF.
pub(crate) fn read_request(r: &mut impl BufRead) -> Result<Option<Request>> {
    loop {
        match read_incoming(r)? {
            None => return Ok(None),
            Some(Incoming::Request(req)) => return Ok(Some(req)),
            Some(Incoming::Frame { .. }) => {}
        }
    }
}

pub(crate) fn respond(
    w: &Mutex<TcpStream>,
    req: &Request,
    status: &str,
    extra: &str,
    body: &str,
) -> Result<()> {
    let mut msg = format!(
        "RTSP/1.0 {status}\r\nCSeq: {}\r\n{extra}",
        req.header("CSeq")
    );
    if !body.is_empty() {
        msg += &format!("Content-Length: {}\r\n", body.len());
    }
    msg += "\r\n";
    msg += body;
    let mut w = w.lock().map_err(|_| anyhow!("writer poisoned"))?;
    w.write_all(msg.as_bytes())?;
    Ok(())
}

pub(crate) const SESSION: &str = "5eca5c0de";

fn serve(
    conn: TcpStream,
    clip: &Clip,
    stop: &AtomicBool,
    sessions: &AtomicUsize,
    udp_sessions: &AtomicUsize,
) -> Result<()> {
    let lie = clip.options.lie;
    conn.set_nonblocking(false)?;
    conn.set_nodelay(true)?;
    let writer = Arc::new(Mutex::new(conn.try_clone()?));
    let mut reader = BufReader::new(conn.try_clone()?);
    // Where each track (0 video, 1 audio) goes, as SETUP assigns it.
    let mut dests: [Option<Dest>; 2] = [None, None];
    while let Some(req) = read_request(&mut reader)? {
        let session = format!("Session: {SESSION};timeout=60\r\n");
        match req.method.as_str() {
            "OPTIONS" => respond(
                &writer,
                &req,
                "200 OK",
                "Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN\r\n",
                "",
            )?,
            "DESCRIBE" if !authorized(&req, clip.options.credentials) => respond(
                &writer,
                &req,
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"smoothcast test\"\r\n",
                "",
            )?,
            "DESCRIBE" => {
                let base = format!(
                    "Content-Base: {}/\r\nContent-Type: application/sdp\r\n",
                    req.url
                );
                respond(&writer, &req, "200 OK", &base, &sdp(&clip.parts[0], lie))?;
            }
            "SETUP" => {
                let track = usize::from(!req.url.ends_with("trackID=0"));
                let ssrc = SSRC_BASE + track as u32;
                let transport = req.header("Transport").to_string();
                let client_port = transport
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("client_port="))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u16>().ok());
                match (req.interleaved_channel(), client_port) {
                    (None, Some(port)) if clip.options.udp && !transport.contains("/TCP") => {
                        let (socket, rtcp) = udp_pair()?;
                        let a = socket.local_addr()?.port();
                        let b = a + 1;
                        let to = SocketAddr::from(([127, 0, 0, 1], port));
                        dests[track] = Some(Dest::Udp { socket, rtcp, to });
                        respond(
                            &writer,
                            &req,
                            "200 OK",
                            &format!(
                                "{session}Transport: RTP/AVP;unicast;client_port={port}-{};\
                                 server_port={a}-{b};ssrc={ssrc:08X}\r\n",
                                port + 1
                            ),
                            "",
                        )?;
                    }
                    (Some(ch), _) => {
                        dests[track] = Some(Dest::Interleaved(ch));
                        respond(
                            &writer,
                            &req,
                            "200 OK",
                            &format!(
                                "{session}Transport: RTP/AVP/TCP;unicast;interleaved={ch}-{};\
                                 ssrc={ssrc:08X}\r\n",
                                ch + 1
                            ),
                            "",
                        )?;
                    }
                    _ => respond(&writer, &req, "461 Unsupported Transport", "", "")?,
                }
            }
            "PLAY" => {
                let base = req.url.trim_end_matches('/').to_string();
                let mut info = Vec::new();
                for (i, d) in dests.iter().enumerate() {
                    if d.is_some() {
                        info.push(format!(
                            "url={base}/trackID={i};seq=1;rtptime={RTP_TIME_BASE}"
                        ));
                    }
                }
                respond(
                    &writer,
                    &req,
                    "200 OK",
                    &format!(
                        "{session}Range: npt=0.000-\r\nRTP-Info: {}\r\n",
                        info.join(",")
                    ),
                    "",
                )?;
                sessions.fetch_add(1, Ordering::Relaxed);
                if dests
                    .iter()
                    .flatten()
                    .any(|d| matches!(d, Dest::Udp { .. }))
                {
                    udp_sessions.fetch_add(1, Ordering::Relaxed);
                }
                let done = Arc::new(AtomicBool::new(false));
                let reader_done = done.clone();
                let reader_writer = writer.clone();
                // Requests while playing (keepalives, TEARDOWN) until either side stops.
                std::thread::spawn(move || {
                    while let Ok(Some(req)) = read_request(&mut reader) {
                        let ok = respond(&reader_writer, &req, "200 OK", "", "");
                        if req.method == "TEARDOWN" || ok.is_err() {
                            break;
                        }
                    }
                    reader_done.store(true, Ordering::Relaxed);
                });
                let mut plan = plan(clip, dests.each_ref().map(Option::is_some), lie);
                if let Some(after) = clip.options.stall_after {
                    plan.retain(|t| t.at < after.as_secs_f64());
                }
                let mut result = send(&writer, plan, &dests, &done, stop);
                if clip.options.bye_and_linger && result.is_ok() {
                    result = send_bye(&writer, &dests);
                }
                if clip.options.stall_after.is_some() || clip.options.bye_and_linger {
                    // Hang: neither send nor close until the client leaves or the server stops.
                    while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                done.store(true, Ordering::Relaxed);
                if let Ok(w) = writer.lock() {
                    let _ = w.shutdown(std::net::Shutdown::Both);
                }
                return result;
            }
            "TEARDOWN" => {
                respond(&writer, &req, "200 OK", "", "")?;
                return Ok(());
            }
            "GET_PARAMETER" | "SET_PARAMETER" => respond(&writer, &req, "200 OK", &session, "")?,
            _ => respond(&writer, &req, "501 Not Implemented", "", "")?,
        }
    }
    Ok(())
}

fn authorized(req: &Request, credentials: Option<(&str, &str)>) -> bool {
    let Some((user, password)) = credentials else {
        return true;
    };
    let expected = format!(
        "Basic {}",
        crate::server::base64(format!("{user}:{password}").as_bytes())
    );
    req.header("Authorization") == expected
}

/// RTCP BYE (RFC 3550 6.6) from each stream's SSRC, on its RTCP channel or port.
fn send_bye(w: &Mutex<TcpStream>, dests: &[Option<Dest>; 2]) -> Result<()> {
    for (track, dest) in dests.iter().enumerate() {
        let ssrc = SSRC_BASE + track as u32;
        // One SSRC, length 1 (in 32-bit words, minus one).
        let mut bye = vec![0x81, 203, 0, 1];
        bye.extend(ssrc.to_be_bytes());
        match dest {
            Some(Dest::Interleaved(ch)) => {
                let mut frame = vec![b'$', ch + 1];
                frame.extend((bye.len() as u16).to_be_bytes());
                frame.extend_from_slice(&bye);
                let mut w = w.lock().map_err(|_| anyhow!("writer poisoned"))?;
                w.write_all(&frame)?;
            }
            Some(Dest::Udp { rtcp, to, .. }) => {
                rtcp.send_to(&bye, SocketAddr::new(to.ip(), to.port() + 1))?;
            }
            None => {}
        }
    }
    Ok(())
}

/// Two sockets on consecutive ports (RTP, RTCP), as clients expect `server_port=a-(a+1)`;
/// clients only accept RTP from the first.
fn udp_pair() -> Result<(UdpSocket, UdpSocket)> {
    for _ in 0..50 {
        let rtp = UdpSocket::bind("127.0.0.1:0")?;
        let port = rtp.local_addr()?.port();
        if let Some(next) = port.checked_add(1) {
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", next)) {
                return Ok((rtp, rtcp));
            }
        }
    }
    bail!("no two consecutive free UDP ports")
}

/// One RTP packet of `track` to send at `at` (seconds from PLAY).
struct Timed {
    at: f64,
    track: usize,
    packet: Vec<u8>,
}

/// Every packet of the session, in sending order.
fn plan(clip: &Clip, enabled: [bool; 2], lie: Lie) -> Vec<Timed> {
    let mut out = Vec::new();
    let mut seq = [1u16; 2];
    for part in &clip.parts {
        plan_part(part, enabled, lie, &mut seq, &mut out);
    }
    // Stable: each stream's packets keep their order.
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

fn plan_part(part: &Part, enabled: [bool; 2], lie: Lie, seq: &mut [u16; 2], out: &mut Vec<Timed>) {
    // Audio first at equal times: clients must not assume video leads.
    if let (Some((t, samples)), true) = (&part.audio, enabled[1]) {
        let seq = &mut seq[1];
        let rate = match &t.codec {
            CodecConfig::Aac(c) => c.sample_rate,
            _ => t.timescale,
        };
        let base = RTP_TIME_BASE.wrapping_add((part.start * f64::from(rate)).round() as u32);
        for s in samples {
            let at = part.start + s.dts as f64 / f64::from(t.timescale);
            let ts = base.wrapping_add(rescale(s.dts, t.timescale, rate));
            // One AU per packet: AU-headers-length 16 bits, then size (13) and index (3).
            let size = (s.data.len() as u16) << 3;
            let mut payload = vec![0, 16];
            payload.extend(size.to_be_bytes());
            payload.extend_from_slice(&s.data);
            out.push(Timed {
                at,
                track: 1,
                packet: rtp(AUDIO_PT, true, *seq, ts, SSRC_BASE + 1, &payload),
            });
            *seq = seq.wrapping_add(1);
        }
    }
    if let (Some((t, samples)), true) = (&part.video, enabled[0]) {
        let seq = &mut seq[0];
        let CodecConfig::H264(c) = &t.codec else {
            return;
        };
        let base = RTP_TIME_BASE.wrapping_add((part.start * f64::from(VIDEO_CLOCK)).round() as u32);
        for s in samples {
            let pts = s.dts + s.cts_offset;
            let at = part.start + s.dts as f64 / f64::from(t.timescale);
            let ts = base.wrapping_add(rescale(pts, t.timescale, VIDEO_CLOCK));
            let mut nals: Vec<&[u8]> = Vec::new();
            if s.keyframe && lie != Lie::NoParameterSets {
                nals.extend(c.sps.iter().map(Vec::as_slice));
                nals.extend(c.pps.iter().map(Vec::as_slice));
            }
            nals.extend(
                h264::length_prefixed_nal_units(&s.data, 4)
                    .map_while(Result::ok)
                    .filter(|n| {
                        let t = h264::nal_type(n);
                        // The clip's own parameter sets and AUDs are handled above or useless.
                        !(lie == Lie::NoParameterSets && (t == 7 || t == 8)) && t != 9
                    }),
            );
            for (i, nal) in nals.iter().enumerate() {
                let last = i + 1 == nals.len();
                for payload in fragment_nal(nal) {
                    let marker = last && payload.1;
                    out.push(Timed {
                        at,
                        track: 0,
                        packet: rtp(VIDEO_PT, marker, *seq, ts, SSRC_BASE, &payload.0),
                    });
                    *seq = seq.wrapping_add(1);
                }
            }
        }
    }
}

fn rescale(t: i64, from: u32, to: u32) -> u32 {
    (i128::from(t.max(0)) * i128::from(to) / i128::from(from.max(1))) as u32
}

/// RTP payloads for one NAL unit, each with whether it ends the NAL unit.
fn fragment_nal(nal: &[u8]) -> Vec<(Vec<u8>, bool)> {
    if nal.len() <= MAX_PAYLOAD {
        return vec![(nal.to_vec(), true)];
    }
    let (header, body) = (nal[0], &nal[1..]);
    let indicator = (header & 0xe0) | 28;
    let chunks: Vec<&[u8]> = body.chunks(MAX_PAYLOAD - 2).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let start = if i == 0 { 0x80 } else { 0 };
            let end = if i + 1 == chunks.len() { 0x40 } else { 0 };
            let mut p = vec![indicator, start | end | (header & 0x1f)];
            p.extend_from_slice(chunk);
            (p, end != 0)
        })
        .collect()
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(pt | if marker { 0x80 } else { 0 });
    p.extend(seq.to_be_bytes());
    p.extend(ts.to_be_bytes());
    p.extend(ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Sends the plan in real time; stops early when the client goes away or the server stops.
fn send(
    w: &Mutex<TcpStream>,
    plan: Vec<Timed>,
    dests: &[Option<Dest>; 2],
    done: &AtomicBool,
    stop: &AtomicBool,
) -> Result<()> {
    let start = Instant::now();
    for t in plan {
        if done.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let due = start + Duration::from_secs_f64(t.at.max(0.0));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match &dests[t.track] {
            Some(Dest::Interleaved(ch)) => {
                let len = u16::try_from(t.packet.len()).context("RTP packet too long")?;
                let mut frame = vec![b'$', *ch];
                frame.extend(len.to_be_bytes());
                frame.extend_from_slice(&t.packet);
                let mut w = w.lock().map_err(|_| anyhow!("writer poisoned"))?;
                w.write_all(&frame)?;
            }
            Some(Dest::Udp { socket, to, .. }) => {
                socket.send_to(&t.packet, to)?;
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{clip, ClipSpec};
    use std::process::Command;

    fn short_clip() -> std::path::PathBuf {
        clip(&ClipSpec {
            seconds: 3.0,
            width: 320,
            height: 180,
            video_bitrate_kbps: 800,
            ..ClipSpec::default()
        })
        .expect("clip")
    }

    /// The video packets are single NAL unit packets and FU-A fragments (RFC 6184) that
    /// reassemble into exactly the clip's NAL units, SPS and PPS before each IDR, the marker
    /// bit on the last packet of each picture.
    #[test]
    fn h264_packetization_reassembles() {
        let path = short_clip();
        let part = load(&path).expect("clip");
        let clip = Clip {
            parts: vec![part],
            options: ServeOptions::default(),
        };
        let plan = plan(&clip, [true, false], Lie::None);
        let packets: Vec<&[u8]> = plan.iter().map(|t| &t.packet[12..]).collect();
        let (mut nals, mut fu, mut markers) = (Vec::new(), None::<Vec<u8>>, 0);
        let (mut singles, mut fragments) = (0, 0);
        for (t, p) in plan.iter().zip(&packets) {
            markers += usize::from(t.packet[1] & 0x80 != 0);
            if p[0] & 0x1f == 28 {
                fragments += 1;
                let header = (p[0] & 0xe0) | (p[1] & 0x1f);
                if p[1] & 0x80 != 0 {
                    fu = Some(vec![header]);
                }
                let nal = fu.as_mut().expect("FU-A start first");
                nal.extend_from_slice(&p[2..]);
                if p[1] & 0x40 != 0 {
                    nals.extend(fu.take());
                }
            } else {
                singles += 1;
                nals.push(p.to_vec());
            }
        }
        assert!(
            singles > 0 && fragments > 0,
            "{singles} single, {fragments} FU-A"
        );
        let (t, samples) = clip.parts[0].video.as_ref().expect("video");
        let CodecConfig::H264(c) = &t.codec else {
            panic!("not H.264")
        };
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for s in samples {
            if s.keyframe {
                expected.extend(c.sps.iter().chain(&c.pps).cloned());
            }
            expected.extend(
                h264::length_prefixed_nal_units(&s.data, 4)
                    .map_while(Result::ok)
                    .filter(|n| h264::nal_type(n) != 9)
                    .map(<[u8]>::to_vec),
            );
        }
        assert_eq!(nals, expected);
        assert_eq!(markers, samples.len());
    }

    /// ffmpeg, an independent client, receives every picture and the audio.
    #[test]
    fn ffmpeg_receives_the_clip() {
        let server = RtspServer::start(&short_clip(), Lie::None).expect("server");
        let dir = crate::TempDir::new("rtsp-server-ffmpeg");
        let out = dir.path().join("got.mkv");
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args([
                "-rtsp_transport",
                "tcp",
                "-timeout",
                "5000000",
                "-i",
                &server.url(),
            ])
            .args(["-c", "copy"])
            .arg(&out)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-show_entries"])
            .args([
                "stream=codec_name,width,height,nb_read_packets",
                "-of",
                "csv=p=0",
            ])
            .arg(&out)
            .output()
            .expect("ffprobe");
        let text = String::from_utf8_lossy(&probe.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("h264,320,180,75"), "{text}");
        // 3 s of 48 kHz AAC is 141 frames of 1024 samples (ffmpeg adds priming).
        let audio: u32 = lines[1]
            .trim_start_matches("aac,")
            .trim_matches(',')
            .parse()
            .unwrap_or(0);
        assert!((139..=143).contains(&audio), "{text}");
        assert_eq!(server.sessions_played(), 1);
    }
}
