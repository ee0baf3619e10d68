//! The EMS-compatible API end to end: the server on ephemeral ports, spoken to the way EMS
//! scripts speak to EMS (JSON CLI, ASCII CLI, HTTP with base64 params) and through the
//! `smoothcast api` client binary. The server runs in-process where only its replies matter;
//! the token and warning tests run the real binary (they read its stderr and exit codes).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use smoothcast_tests::TempDir;

/// An in-process server, with the API addresses at hand.
struct Server {
    // Declared first so the server stops before its folder is removed.
    _inner: super::in_process::Server,
    json_cli: SocketAddr,
    ascii_cli: SocketAddr,
    http_api: SocketAddr,
    dir: TempDir,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = TempDir::new(name);
        let webroot = dir.path().join("webroot");
        std::fs::create_dir_all(&webroot).expect("webroot");
        let inner = super::in_process::Server::start(&webroot, &dir.path().join("state.json"));
        Server {
            json_cli: inner.json_cli,
            ascii_cli: inner.ascii_cli,
            http_api: inner.http_api,
            _inner: inner,
            dir,
        }
    }

    fn folder(&self) -> String {
        self.dir.path().join("webroot").display().to_string()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// One JSON CLI connection: send a line, read the reply up to its `\r\n\r\n`.
struct JsonCli {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl JsonCli {
    fn new(addr: SocketAddr) -> JsonCli {
        JsonCli {
            stream: connect(addr),
            pending: Vec::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn reply(&mut self) -> Value {
        loop {
            if let Some(end) = find(&self.pending, b"\r\n\r\n") {
                let text: Vec<u8> = self.pending.drain(..end + 4).collect();
                let text = String::from_utf8(text).expect("utf8");
                return serde_json::from_str(text.trim_end()).expect("JSON reply");
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(n > 0, "connection closed before a reply");
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, line: &str) -> Value {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn assert_fail(reply: &Value, description: &str) {
    assert_eq!(reply["status"], "FAIL", "{reply}");
    assert_eq!(reply["data"], Value::Null, "{reply}");
    let got = reply["description"].as_str().unwrap_or("");
    assert!(
        got.contains(description),
        "description {got:?} lacks {description:?}"
    );
}

/// A raw HTTP/1.1 GET; returns the head and the body.
fn http_get(addr: SocketAddr, target: &str) -> (String, String) {
    let mut s = connect(addr);
    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    (head.to_string(), body.to_string())
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn api(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smoothcast"))
        .args(["api", "--port", &server.http_api.port().to_string()])
        .args(args)
        .output()
        .expect("run smoothcast api")
}

#[test]
fn json_cli() {
    let server = Server::start("api-json-cli");
    let folder = server.folder();
    let mut cli = JsonCli::new(server.json_cli);

    let v = cli.cmd("version");
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["data"]["releaseNumber"], env!("CARGO_PKG_VERSION"));

    // The user guide's example, keys in any case, with a commandId to echo.
    let r = cli.cmd(&format!(
        "createMSSStream localstreamnames=testpullstream,testpullstream bandwidths=10000000,20000000 \
         targetfolder={folder} groupname=mss playlisttype=rolling commandId=42"
    ));
    assert_eq!(r["status"], "SUCCESS", "{r}");
    assert_eq!(r["description"], "MSS stream created");
    assert_eq!(r["responseId"], 42);
    let d = &r["data"];
    assert_eq!(d["groupName"], "mss");
    assert_eq!(d["playlistType"], "rolling");
    assert_eq!(
        d["localStreamNames"],
        serde_json::json!(["testpullstream", "testpullstream"])
    );
    assert_eq!(d["bandwidths"], serde_json::json!([10000000, 20000000]));
    assert_eq!(d["chunkLength"], 10);
    assert_eq!(d["chunkOnIDR"], true);
    assert_eq!(d["playlistLength"], 10);
    assert_eq!(d["staleRetentionCount"], 10);
    assert_eq!(d["manifestName"], "manifest.ismc");
    assert_eq!(d["ismType"], "ismc");
    assert_eq!(d["targetFolder"], folder);
    let ids = d["configIds"].as_array().expect("configIds").clone();
    assert_eq!(ids.len(), 2);

    // Default group name.
    let r = cli.cmd(&format!(
        "CREATEMSSSTREAM LocalStreamNames=cam TargetFolder={folder}"
    ));
    assert_eq!(r["status"], "SUCCESS", "{r}");
    let group = r["data"]["groupName"].as_str().expect("groupName");
    assert!(
        group.starts_with("mss_group_") && group.len() == 18,
        "{group}"
    );

    // The configs wait for their streams.
    let c = cli.cmd("listConfig");
    assert_eq!(c["status"], "SUCCESS");
    let mss = c["data"]["mss"].as_array().expect("mss");
    assert_eq!(mss.len(), 3);
    for e in mss {
        assert_eq!(e["operationType"], 5);
        assert_eq!(e["status"]["current"]["code"], 2, "{e}");
        assert_eq!(e["status"]["current"]["description"], "Waiting for stream");
    }
    assert_eq!(mss[0]["configId"], ids[0]);
    // Config ids follow each other across createMSSStream calls (EMS scripts count on it).
    let numbers: Vec<u64> = mss.iter().filter_map(|e| e["configId"].as_u64()).collect();
    assert_eq!(numbers, vec![1, 2, 3], "{c}");
    assert_eq!(mss[0]["localStreamName"], "testpullstream");
    assert_eq!(mss[1]["bandwidth"], 20000000);
    for kind in [
        "dash", "hds", "hls", "process", "pull", "push", "record", "webrtc",
    ] {
        assert_eq!(c["data"][kind], serde_json::json!([]), "{kind}");
    }

    let s = cli.cmd("listStreams");
    assert_eq!(s["status"], "SUCCESS");
    assert_eq!(s["data"], serde_json::json!([]));
    assert_eq!(cli.cmd("listStreamsIds")["data"], serde_json::json!([]));
    assert_fail(
        &cli.cmd("getStreamInfo localStreamName=nothere"),
        "not found",
    );
    assert_fail(&cli.cmd("shutdownStream id=77"), "not found");
    assert!(cli.cmd("help")["data"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));

    // Bad commands fail and the connection goes on.
    assert_fail(
        &cli.cmd("fooBar a=1"),
        "command fooBar not known. Type help for list of commands",
    );
    assert_fail(
        &cli.cmd("createMSSStream localStreamNames=a"),
        "Parameter targetFolder is required",
    );
    assert_fail(
        &cli.cmd(&format!(
            "createMSSStream localStreamNames=a,b bandwidths=1 targetFolder={folder}"
        )),
        "Syntax error. Parameters bandwidths and localStreamNames have different number of elements",
    );
    assert_fail(
        &cli.cmd(&format!(
            "createMSSStream localStreamNames=a targetFolder={folder} chunkLength=0"
        )),
        "Syntax error. Parameter chunkLength is invalid. Range: 1 - 3600",
    );
    assert_fail(
        &cli.cmd(&format!(
            "createMSSStream localStreamNames=a targetFolder={folder} groupName=../x"
        )),
        "Parameter groupName is invalid",
    );
    assert_fail(
        &cli.cmd(&format!(
            "createMSSStream localStreamNames=a targetFolder={folder} ismType=isml"
        )),
        "Parameter publishingPoint is required",
    );
    let r = cli.cmd("createMSSStream nonsense commandId=9");
    assert_fail(&r, "Parameter nonsense is invalid");
    assert_eq!(r["responseId"], 9);
    cli.send_raw(b"\x00\xff\xfe garbage \x1b[A\r\n");
    assert_fail(&cli.reply(), "not known");
    // Blank lines get no reply; the next command's reply is the next one read.
    cli.send_raw(b"\r\n\n   \r\n");
    assert_eq!(cli.cmd("version")["status"], "SUCCESS");

    // removeConfig by group and by id.
    let r = cli.cmd("removeConfig groupName=mss removeHlsHdsFiles=1");
    assert_eq!(r["status"], "SUCCESS", "{r}");
    let r = cli.cmd("listConfig");
    assert_eq!(r["data"]["mss"].as_array().map(Vec::len), Some(1));
    let last = r["data"]["mss"][0]["configId"].clone();
    assert_eq!(
        cli.cmd(&format!("removeConfig id={last}"))["status"],
        "SUCCESS"
    );
    assert_fail(&cli.cmd(&format!("removeConfig id={last}")), "not found");
    assert_eq!(cli.cmd("listConfig")["data"]["mss"], serde_json::json!([]));

    // An over-long line: a FAIL, then the server closes the connection.
    let mut long = JsonCli::new(server.json_cli);
    let mut line = b"createMSSStream localStreamNames=".to_vec();
    line.resize(70 * 1024, b'a');
    // The server may close before the whole line is read; the reply is what matters.
    let _ = long.stream.write_all(&line);
    assert_fail(&long.reply(), "too long");
    let mut rest = Vec::new();
    let n = long.stream.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "closed after the reply");

    // The first connection is unaffected.
    assert_eq!(cli.cmd("version")["status"], "SUCCESS");
}

#[test]
fn ascii_cli() {
    let server = Server::start("api-ascii-cli");
    let folder = server.folder();
    let mut s = connect(server.ascii_cli);
    write!(
        s,
        "createMSSStream localstreamnames=testpullStream targetfolder={folder} groupname=mss\r\n\
         nope\r\nversion\r\n"
    )
    .expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("half close");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    assert!(
        out.starts_with("Command entered successfully!\r\nMSS stream created\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\n    groupName: mss\r\n"), "{out}");
    assert!(
        out.contains("    localStreamNames:\r\n      -- testpullStream\r\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "Command failed!\r\ncommand nope not known. Type help for list of commands\r\n"
        ),
        "{out}"
    );
    assert!(out.contains("releaseNumber: "), "{out}");
    assert!(!out.contains('{'), "no JSON on the ASCII CLI: {out}");
}

#[test]
fn http_api_and_client() {
    let server = Server::start("api-http");
    let folder = server.folder();
    let addr = server.http_api;

    let (head, body) = http_get(addr, "/version");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/plain"), "{head}");
    assert!(lower.contains("connection: close"), "{head}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "SUCCESS");

    let params = b64(&format!(
        "localStreamNames=a,b bandwidths=100,200 targetFolder={folder} groupName=g commandId=3"
    ));
    let (_, body) = http_get(addr, &format!("/createMSSStream?params={params}"));
    let r: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(r["status"], "SUCCESS", "{r}");
    assert_eq!(r["responseId"], 3);
    assert_eq!(r["data"]["configIds"].as_array().map(Vec::len), Some(2));

    // The query parameter's name does not matter.
    let (_, body) = http_get(addr, &format!("/listConfig?whatever={}", b64("a=1")));
    let r: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(r["data"]["mss"].as_array().map(Vec::len), Some(2));

    for (target, description) in [
        (
            "/createMSSStream?params=%%%".to_string(),
            "Invalid parameters",
        ),
        (
            "/createMSSStream?params=***".to_string(),
            "Invalid parameters",
        ),
        (
            "/noSuchCommand".to_string(),
            "command noSuchCommand not known",
        ),
        (
            format!("/createMSSStream?params={}", b64("localStreamNames=a")),
            "Parameter targetFolder is required",
        ),
        (
            format!(
                "/createMSSStream?params={}",
                b64(&format!(
                    "localStreamNames=a targetFolder={folder} groupName=../x"
                ))
            ),
            "Parameter groupName is invalid",
        ),
    ] {
        let (head, body) = http_get(addr, &target);
        assert!(head.starts_with("HTTP/1.1 200"), "{target}: {head}");
        let r: Value = serde_json::from_str(&body).expect("json");
        assert_fail(&r, description);
    }

    // Garbage instead of HTTP gets the connection closed, and the server keeps serving.
    let mut g = connect(addr);
    let _ = g.write_all(b"\x16\x03\x01\x00garbage\r\n\r\n");
    let mut sink = Vec::new();
    let _ = g.read_to_end(&mut sink);
    let (head, _) = http_get(addr, "/version");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // `smoothcast api`.
    let port = addr.port().to_string();
    let out = api(&server, &["version"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["status"], "SUCCESS");

    let spaced = format!("{folder}/with space");
    let out = api(
        &server,
        &[
            "createMSSStream",
            "localStreamNames=cam",
            &format!("targetFolder={spaced}"),
            "groupName=cli",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["data"]["targetFolder"], spaced);

    let out = api(&server, &["createMSSStream", "localStreamNames=cam"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_fail(&r, "targetFolder");

    let out = api(&server, &["removeConfig", "groupName=cli"]);
    assert!(out.status.success(), "{out:?}");

    // No server: an error on stderr and a distinct exit code.
    drop(server);
    let out = Command::new(env!("CARGO_BIN_EXE_smoothcast"))
        .args(["api", "--port", &port, "version"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!out.stderr.is_empty());
}

/// A server that asks loopback clients for the token too (its token read from a file):
/// `smoothcast api` sends it from `--token` or `SMOOTHCAST_API_TOKEN`, and without it gets
/// the 401 reason and exit code 2.
#[test]
fn api_token_from_the_client() {
    let dir = TempDir::new("api-token");
    let webroot = dir.path().join("webroot");
    std::fs::create_dir_all(&webroot).expect("webroot");
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, "t0ken-from-file\n").expect("token file");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600");
    }
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_smoothcast"));
    let extra = format!(
        "[security]\nrequire_token_on_loopback = true\napi_token_file = {:?}\n",
        token_file.display().to_string()
    );
    let server = smoothcast_tests::server::Server::start(exe, &webroot, &extra, &[])
        .expect("start smoothcast serve");
    let port = server.addr("http_api").port().to_string();
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = Command::new(exe);
        c.args(["api", "--port", &port]).args(args);
        c.env_remove("SMOOTHCAST_API_TOKEN");
        if let Some(t) = env {
            c.env("SMOOTHCAST_API_TOKEN", t);
        }
        c.output().expect("run smoothcast api")
    };
    let out = run(&["version"], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("Authentication required"),
        "{err}"
    );
    let out = run(&["--token", "wrong", "version"], None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(&["--token", "t0ken-from-file", "version"], None);
    assert!(out.status.success(), "{out:?}");
    let out = run(&["version"], Some("t0ken-from-file"));
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["status"], "SUCCESS");

    // The CLIs want the `auth` line first.
    let mut cli = JsonCli::new(server.addr("json_cli"));
    assert_eq!(cli.cmd("auth t0ken-from-file")["status"], "SUCCESS");
    assert_eq!(cli.cmd("version")["status"], "SUCCESS");
    let mut cli = JsonCli::new(server.addr("json_cli"));
    assert_fail(&cli.cmd("version"), "Authentication required");
}

/// The API moved off loopback without a token: the server warns at start, and a client
/// reaching it from that (non-loopback) address is refused. Needs a non-loopback address
/// on this machine; without one the test says so and stops.
#[test]
fn api_off_loopback_without_a_token_warns_and_refuses() {
    let ip = {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
        // No packet is sent: connect only picks the source address a route would use.
        match s.connect("192.0.2.77:9").and_then(|_| s.local_addr()) {
            Ok(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => a.ip(),
            _ => {
                eprintln!("no non-loopback address on this machine: not tested");
                return;
            }
        }
    };
    let dir = TempDir::new("api-exposed");
    let webroot = dir.path().join("webroot");
    std::fs::create_dir_all(&webroot).expect("webroot");
    let log = dir.path().join("stderr.log");
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_smoothcast"));
    let server = smoothcast_tests::server::Server::start_with_stderr(
        exe,
        &webroot,
        &format!("[security]\nhttp_api_bind = \"{ip}\"\n"),
        &[],
        std::fs::File::create(&log).expect("log").into(),
    )
    .expect("start smoothcast serve");
    let api = server.addr("http_api");
    assert_eq!(api.ip(), ip, "http_api_bind honoured");
    assert!(
        server.addr("json_cli").ip().is_loopback(),
        "the others stay"
    );
    let (head, body) = http_get(api, "/version");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(body.contains("Authentication required"), "{body}");
    let warned = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        warned.contains("without an API token"),
        "start-up warning: {warned}"
    );
}
