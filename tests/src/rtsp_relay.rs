//! A one-publisher, one-player RTSP relay for tests, so that an independent RTP packetizer
//! can feed an RTSP client: ffmpeg publishes with `-f rtsp -rtsp_transport tcp` (ANNOUNCE,
//! SETUP with `mode=record`, RECORD), the player DESCRIBEs, SETUPs and PLAYs, and the relay
//! passes the publisher's SDP and its RTP and RTCP packets through unchanged (interleaved
//! TCP on both sides).
//!
//! RECORD is answered only once the player is playing, so the publisher starts sending
//! then and the player receives the stream from its first packet. When the publisher
//! leaves, the player's connection is closed.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::rtsp_server::{read_incoming, read_request, respond, Incoming, Request, SESSION};

/// How long either side waits for the other (the publisher for a player, a DESCRIBE for
/// the publisher's SDP).
const WAIT: Duration = Duration::from_secs(10);

/// The player's connection and its interleaved channel for each stream (index in the SDP).
type Player = (Arc<Mutex<TcpStream>>, HashMap<usize, u8>);

#[derive(Default)]
struct State {
    sdp: Option<String>,
    player: Option<Player>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` holds (or WAIT passes) and returns what `ready` found.
    fn wait_for<T>(&self, ready: impl Fn(&State) -> Option<T>) -> Option<T> {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, WAIT, |s| ready(s).is_none())
            .unwrap_or_else(|e| e.into_inner());
        ready(&guard)
    }
}

/// A running relay; stops accepting when dropped.
pub struct RtspRelay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtspRelay {
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || {
                            // A peer hanging up mid-session is no error here.
                            let _ = serve(conn, &shared);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where ffmpeg publishes and the player plays.
    pub fn url(&self) -> String {
        format!("rtsp://{}/live", self.addr)
    }
}

impl Drop for RtspRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The stream index a SETUP URL names (ffmpeg's controls are `streamid=N`).
fn stream_index(req: &Request) -> usize {
    req.url
        .rsplit('=')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn serve(conn: TcpStream, shared: &Shared) -> Result<()> {
    conn.set_nodelay(true)?;
    let writer = Arc::new(Mutex::new(conn.try_clone()?));
    let mut reader = BufReader::new(conn);
    // Publisher side: its interleaved channel for each stream.
    let mut record_channels: HashMap<u8, usize> = HashMap::new();
    // Player side: the channel it asked for, per stream.
    let mut play_channels: HashMap<usize, u8> = HashMap::new();
    let session = format!("Session: {SESSION};timeout=60\r\n");
    while let Some(req) = read_request(&mut reader)? {
        match req.method.as_str() {
            "OPTIONS" => respond(
                &writer,
                &req,
                "200 OK",
                "Public: OPTIONS, ANNOUNCE, DESCRIBE, SETUP, RECORD, PLAY, TEARDOWN\r\n",
                "",
            )?,
            "ANNOUNCE" => {
                shared.lock().sdp = Some(String::from_utf8_lossy(&req.body).into_owned());
                shared.changed.notify_all();
                respond(&writer, &req, "200 OK", "", "")?;
            }
            "DESCRIBE" => match shared.wait_for(|s| s.sdp.clone()) {
                Some(sdp) => {
                    let extra = format!(
                        "Content-Base: {}/\r\nContent-Type: application/sdp\r\n",
                        req.url
                    );
                    respond(&writer, &req, "200 OK", &extra, &sdp)?;
                }
                None => respond(&writer, &req, "404 Not Found", "", "")?,
            },
            "SETUP" => match req.interleaved_channel() {
                Some(ch) => {
                    let index = stream_index(&req);
                    if req.header("Transport").contains("mode=record") {
                        record_channels.insert(ch, index);
                    } else {
                        play_channels.insert(index, ch);
                    }
                    let transport = req.header("Transport").to_string();
                    respond(
                        &writer,
                        &req,
                        "200 OK",
                        &format!("{session}Transport: {transport}\r\n"),
                        "",
                    )?;
                }
                None => respond(&writer, &req, "461 Unsupported Transport", "", "")?,
            },
            "PLAY" => {
                respond(
                    &writer,
                    &req,
                    "200 OK",
                    &format!("{session}Range: npt=0.000-\r\n"),
                    "",
                )?;
                shared.lock().player = Some((writer.clone(), std::mem::take(&mut play_channels)));
                shared.changed.notify_all();
                // Keepalives until the player leaves; the publisher side closes us.
                while let Ok(Some(r)) = read_request(&mut reader) {
                    let _ = respond(&writer, &r, "200 OK", &session, "");
                }
                return Ok(());
            }
            "RECORD" => {
                let player = shared.wait_for(|s| s.player.clone());
                respond(&writer, &req, "200 OK", &session, "")?;
                return relay(&mut reader, &writer, &record_channels, player);
            }
            "TEARDOWN" => {
                respond(&writer, &req, "200 OK", "", "")?;
                return Ok(());
            }
            _ => respond(&writer, &req, "200 OK", &session, "")?,
        }
    }
    Ok(())
}

/// Forwards the publisher's packets to the player until the publisher leaves, then closes
/// the player's connection.
fn relay(
    reader: &mut BufReader<TcpStream>,
    publisher: &Mutex<TcpStream>,
    record_channels: &HashMap<u8, usize>,
    player: Option<Player>,
) -> Result<()> {
    let (player, play_channels) = player.ok_or_else(|| anyhow!("no player came"))?;
    let mut result = Ok(());
    loop {
        match read_incoming(reader) {
            Ok(Some(Incoming::Frame { channel, data })) => {
                // RTP on the even channel, RTCP on the odd one after it.
                let Some(index) = record_channels.get(&(channel & !1)) else {
                    continue;
                };
                let Some(out) = play_channels.get(index) else {
                    continue;
                };
                let mut frame = vec![b'$', out + (channel & 1)];
                frame.extend((data.len() as u16).to_be_bytes());
                frame.extend_from_slice(&data);
                let mut w = player.lock().map_err(|_| anyhow!("player poisoned"))?;
                if std::io::Write::write_all(&mut *w, &frame).is_err() {
                    break;
                }
            }
            Ok(Some(Incoming::Request(req))) => {
                let _ = respond(publisher, &req, "200 OK", "", "");
                if req.method == "TEARDOWN" {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if let Ok(w) = player.lock() {
        let _ = w.shutdown(std::net::Shutdown::Both);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{clip, ClipSpec};
    use std::process::Command;

    /// ffmpeg publishing and ffmpeg playing through the relay: every picture arrives. The
    /// publisher's AAC packetizer keeps its last aggregated frames when it closes (140 of
    /// 142 arrive), which is ffmpeg's doing, not the relay's.
    #[test]
    fn ffmpeg_to_ffmpeg() {
        let path = clip(&ClipSpec {
            seconds: 3.0,
            width: 320,
            height: 180,
            video_bitrate_kbps: 800,
            ..ClipSpec::default()
        })
        .expect("clip");
        let relay = RtspRelay::start().expect("relay");
        let mut publisher = crate::peer::send_clip_with(
            &path,
            &["-f", "rtsp", "-rtsp_transport", "tcp"],
            &relay.url(),
        );
        let dir = crate::TempDir::new("rtsp-relay-ffmpeg");
        let out = dir.path().join("got.mkv");
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-rtsp_transport", "tcp", "-i", &relay.url(), "-c", "copy"])
            .arg(&out)
            .status()
            .expect("ffmpeg");
        let _ = publisher.wait();
        assert!(status.success());
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-show_entries"])
            .args(["stream=codec_name,nb_read_packets", "-of", "csv=p=0"])
            .arg(&out)
            .output()
            .expect("ffprobe");
        let text = String::from_utf8_lossy(&probe.stdout).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"h264,75"), "{text}");
        let aac: u32 = lines
            .get(1)
            .and_then(|l| l.strip_prefix("aac,"))
            .and_then(|n| n.trim_matches(',').parse().ok())
            .unwrap_or(0);
        assert!((140..=142).contains(&aac), "{text}");
    }
}
