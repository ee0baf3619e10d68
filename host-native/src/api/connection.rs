//! What the API listeners share: their accept policy, and the line-per-command connection
//! both CLIs speak.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::reply::Reply;
use crate::server::{AppState, Shutdown};

/// Connections served at once per listener; more are closed at once. The API is for
/// scripts and operators, not crowds, and this keeps a runaway script from exhausting files.
pub const MAX_CONNECTIONS: usize = 256;

/// An API listener's accept policy: `per_address` connections from one address (0: no
/// limit); connections finish what they were doing at shutdown.
pub fn policy(what: &'static str, per_address: usize) -> crate::accept::Policy {
    crate::accept::Policy {
        what,
        max_connections: MAX_CONNECTIONS,
        per_address,
        drain: crate::accept::Drain::Wait,
        refusal_error: None,
    }
}

/// The longest command line accepted. EMS lines are short; a longer one is garbage or abuse.
pub const MAX_LINE: usize = 64 * 1024;

/// A client that must authenticate and has not within this time is closed, so strangers
/// cannot hold the connection slots (enough for a person pasting a token into telnet; the
/// unit tests use a short one to stay fast).
const AUTH_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(30)
};

/// A reply that cannot be written in this time means a peer that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// One CLI connection: a command per line (`\n` or `\r\n`), a reply per command, as many
/// commands as the peer likes. Blank lines are fine; bytes that are not a command get a FAIL
/// reply like any unknown command. An over-long line closes it, and so does silence longer
/// than `[limits] cli_idle_timeout_secs` (idle sockets would otherwise hold every slot).
///
/// A client that must present the API token (off loopback, or `require_token_on_loopback`)
/// sends `auth <token>` as its first line; any other first line, or a wrong token, gets a
/// FAIL reply and the connection closes.
pub async fn serve_lines(
    state: Arc<AppState>,
    mut stream: TcpStream,
    mut shutdown: Shutdown,
    render: fn(&Reply) -> String,
) {
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let mut authenticated = !super::auth::token_required(&state.config.security, peer.ip());
    let auth_deadline = tokio::time::Instant::now() + AUTH_TIMEOUT;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 8192];
    let idle = Duration::from_secs(state.config.limits.cli_idle_timeout_secs);
    loop {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            if pos > MAX_LINE {
                refuse(stream, render).await;
                return;
            }
            let line: Vec<u8> = buf.drain(..=pos).collect();
            match gate(&state, peer, &line, &mut authenticated) {
                Gate::Run => {}
                Gate::Reply(reply) => {
                    if !send(&mut stream, &render(&reply)).await {
                        return;
                    }
                    continue;
                }
                Gate::Close(reply) => {
                    close_with(stream, &render(&reply)).await;
                    return;
                }
            }
            if !run_line(&state, &mut stream, &line, render).await {
                return;
            }
        }
        if buf.len() > MAX_LINE {
            refuse(stream, render).await;
            return;
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep_until(auth_deadline), if !authenticated => {
                let reply = Reply::fail("Authentication timed out: send `auth <token>` first. Closing the connection");
                close_with(stream, &render(&reply)).await;
                return;
            }
            () = tokio::time::sleep(idle) => {
                tracing::debug!("CLI connection closed after {} s without a command", idle.as_secs());
                return;
            }
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => {
                    // A last command without a newline (`printf version | nc`) still runs.
                    if !buf.is_empty() {
                        match gate(&state, peer, &buf, &mut authenticated) {
                            Gate::Run => {
                                run_line(&state, &mut stream, &buf, render).await;
                            }
                            Gate::Reply(r) | Gate::Close(r) => {
                                send(&mut stream, &render(&r)).await;
                            }
                        }
                    }
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
        }
    }
}

/// What to do with one line before it may run as a command.
enum Gate {
    Run,
    /// Answer it (an `auth` line) and carry on.
    Reply(Reply),
    /// Answer and close: authentication failed or was skipped.
    Close(Reply),
}

fn gate(
    state: &AppState,
    peer: std::net::SocketAddr,
    line: &[u8],
    authenticated: &mut bool,
) -> Gate {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    let mut words = text.splitn(2, char::is_whitespace);
    let is_auth = words.next().is_some_and(|w| w.eq_ignore_ascii_case("auth"));
    if is_auth {
        let token = words.next().unwrap_or("").trim();
        let sec = &state.config.security;
        if super::auth::token_matches(sec, token) {
            *authenticated = true;
            return Gate::Reply(Reply::success("Authenticated", serde_json::Value::Null));
        }
        if *authenticated && sec.api_token.is_none() {
            return Gate::Reply(Reply::success(
                "No API token is configured; none is needed here",
                serde_json::Value::Null,
            ));
        }
        super::auth::log_refusal(peer, "CLI connection", "wrong API token");
        return Gate::Close(Reply::fail(
            "Authentication failed: wrong API token. Closing the connection",
        ));
    }
    if *authenticated || text.is_empty() {
        return Gate::Run;
    }
    super::auth::log_refusal(peer, "CLI command", "no `auth <token>` line first");
    Gate::Close(Reply::fail(
        "Authentication required: send `auth <token>` as the first line. Closing the connection",
    ))
}

/// Runs one line and writes its reply; `false` when the connection is no longer usable.
async fn run_line(
    state: &AppState,
    stream: &mut TcpStream,
    line: &[u8],
    render: fn(&Reply) -> String,
) -> bool {
    // Invalid UTF-8 becomes U+FFFD and then an unknown command or value, never a crash.
    let text = String::from_utf8_lossy(line);
    match super::execute(state, &text) {
        Some(reply) => send(stream, &render(&reply)).await,
        None => true,
    }
}

/// Replies FAIL to an over-long line and closes.
async fn refuse(stream: TcpStream, render: fn(&Reply) -> String) {
    let reply = Reply::fail(format!(
        "Command line too long: the limit is {MAX_LINE} bytes. Closing the connection"
    ));
    close_with(stream, &render(&reply)).await;
}

/// Writes a last reply and closes. Closing with unread input makes the kernel send a reset,
/// which can destroy the reply before the peer reads it; so the write side is closed first
/// and the input drained for a moment.
async fn close_with(mut stream: TcpStream, text: &str) {
    if !send(&mut stream, text).await {
        return;
    }
    let _ = stream.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 8192];
        let mut total = 0usize;
        while let Ok(n @ 1..) = stream.read(&mut sink).await {
            total += n;
            if total > 16 * MAX_LINE {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

async fn send(stream: &mut TcpStream, text: &str) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(text.as_bytes())).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;
    use anyhow::Result;
    use tokio::io::AsyncBufReadExt;
    use tokio::net::TcpListener;

    async fn start() -> (
        std::net::SocketAddr,
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let state = Arc::new(test_support::state());
        let task = tokio::spawn(crate::api::json_cli::serve(state, listener, rx));
        (addr, tx, task)
    }

    #[tokio::test]
    async fn shutdown_stops_idle_connections_and_the_listener() {
        let (addr, tx, task) = start().await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"version\n").await.expect("write");
        let mut reader = tokio::io::BufReader::new(c);
        let mut first = String::new();
        reader.read_line(&mut first).await.expect("read");
        assert!(first.contains("\"SUCCESS\""), "{first}");
        // The connection now idles; shutdown must not wait for it.
        tx.send(true).expect("send");
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("serve returns")
            .expect("join")
            .expect("ok");
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest).await;
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let state = Arc::new(test_support::state());
        let policy = crate::accept::Policy {
            max_connections: 1,
            ..policy("test", 0)
        };
        tokio::spawn(crate::accept::accept_loop(
            policy,
            listener,
            rx,
            |_| true,
            move |s, _, sd| serve_lines(state.clone(), s, sd, crate::api::json_cli::render),
        ));
        let mut first = TcpStream::connect(addr).await.expect("first");
        first.write_all(b"version\n").await.expect("write");
        let mut buf = [0u8; 1];
        first.read_exact(&mut buf).await.expect("first is served");
        let mut second = TcpStream::connect(addr).await.expect("second connects");
        let _ = second.write_all(b"version\n").await;
        let mut out = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), second.read_to_end(&mut out))
            .await
            .expect("closed promptly")
            .unwrap_or(0);
        assert_eq!(n, 0, "no reply beyond the limit");
        drop(first);
        // The slot frees once the first connection ends.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.expect("third");
        third.write_all(b"version\n").await.expect("write");
        third.read_exact(&mut buf).await.expect("third is served");
    }

    #[tokio::test]
    async fn crlf_pipelined_and_unterminated() {
        let (addr, _tx, _task) = start().await;
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"version\r\n\r\nnope\nlistConfig")
            .await
            .expect("write");
        c.shutdown().await.expect("half close");
        let mut out = String::new();
        c.read_to_string(&mut out).await.expect("read");
        let replies: Vec<&str> = out.split_terminator("\r\n\r\n").collect();
        assert_eq!(replies.len(), 3, "{out}");
        assert!(replies[0].contains("SUCCESS"));
        assert!(replies[1].contains("command nope not known"));
        assert!(replies[2].contains("Run-time configuration"));
    }
}
