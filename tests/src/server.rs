//! Running the real `smoothcast serve` in a test: every port on 0, the actual ports read from
//! its first line, killed when dropped. Plus a minimal HTTP/1.1 GET for talking to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// A running server; killed (SIGKILL) on drop.
pub struct Server {
    child: Child,
    config: PathBuf,
    /// Listener addresses by name: rtmp, json_cli, ascii_cli, http_api, web, mpegts_tcp,
    /// mpegts_udp, and with `[tls]` https, https_api, rtmps (each name=addr of the first
    /// line is taken, so new listeners need no change here).
    pub addrs: HashMap<String, SocketAddr>,
    pub webroot: PathBuf,
    /// The lines the server printed at start after `listening`: `webroot ...`,
    /// `state_file ...`, `config_files ...`, `restored mss=.. mss_failed=.. pull=..`.
    pub startup: Vec<String>,
}

impl Server {
    /// Starts `exe serve` with a config that binds every port to 0 on 127.0.0.1, serving
    /// `webroot`; `extra_toml` is appended to the config, `args` to the command line.
    pub fn start(exe: &Path, webroot: &Path, extra_toml: &str, args: &[&str]) -> Result<Self> {
        Self::start_with_stderr(exe, webroot, extra_toml, args, Stdio::inherit())
    }

    /// [`Server::start`] with the server's log (stderr) going to `stderr`, e.g. a file a
    /// test reads to check what the server reported.
    pub fn start_with_stderr(
        exe: &Path,
        webroot: &Path,
        extra_toml: &str,
        args: &[&str],
        stderr: Stdio,
    ) -> Result<Self> {
        Self::start_in(exe, None, webroot, extra_toml, args, stderr)
    }

    /// [`Server::start_with_stderr`] with the server's working directory set to `cwd`.
    pub fn start_in(
        exe: &Path,
        cwd: Option<&Path>,
        webroot: &Path,
        extra_toml: &str,
        args: &[&str],
        stderr: Stdio,
    ) -> Result<Self> {
        // Beside the web root (which may not exist: some tests check exactly that).
        let config = webroot.with_extension("smoothcast.toml");
        // A state file of the test's own (beside the config, in its temp folder), unless the
        // test names one: never the working directory's or the user's.
        let state_file = if extra_toml.contains("state_file") {
            String::new()
        } else {
            format!(
                "state_file = {:?}\n",
                webroot
                    .with_extension("smoothcast.state.json")
                    .display()
                    .to_string()
            )
        };
        // Every port free (0) unless the test sets it (before any section of its own), as a
        // restarted server that must come back on the same port does.
        let own = extra_toml.split("\n[").next().unwrap_or_default();
        let ports: String = [
            "rtmp_port",
            "json_cli_port",
            "ascii_cli_port",
            "http_api_port",
            "web_port",
            "mpegts_port",
        ]
        .iter()
        .filter(|k| !own.lines().any(|l| l.trim_start().starts_with(*k)))
        .map(|k| format!("{k} = 0\n"))
        .collect();
        std::fs::write(
            &config,
            format!(
                "bind = \"127.0.0.1\"\n{ports}webroot = {:?}\n{state_file}{extra_toml}\n",
                webroot.display().to_string()
            ),
        )?;
        let mut cmd = Command::new(exe);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("starting smoothcast serve")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        // The start lines after it (web root, state file, configuration files, restored
        // configs), up to the `restored` line; a server that stopped ends them early.
        let mut startup = Vec::new();
        if line.starts_with("listening ") {
            loop {
                let mut next = String::new();
                if reader.read_line(&mut next)? == 0 {
                    break;
                }
                let next = next.trim_end().to_string();
                let last = next.starts_with("restored ");
                startup.push(next);
                if last {
                    break;
                }
            }
        }
        // Keep draining what the server prints so it never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let Some(rest) = line.trim().strip_prefix("listening ") else {
            let _ = child.kill();
            bail!("unexpected first line from the server: {line:?}");
        };
        let mut addrs = HashMap::new();
        for part in rest.split_whitespace() {
            if let Some((k, v)) = part.split_once('=') {
                addrs.insert(
                    k.to_string(),
                    v.parse().with_context(|| format!("address {v}"))?,
                );
            }
        }
        Ok(Self {
            child,
            config,
            addrs,
            webroot: webroot.to_path_buf(),
            startup,
        })
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        match self.addrs.get(name) {
            Some(a) => *a,
            None => panic!("server has no {name} listener"),
        }
    }

    /// Sends one command to the HTTP API (`GET /<cmd>?params=<base64>`) and parses the reply.
    pub fn api(&self, command: &str, params: &str) -> Result<serde_json::Value> {
        let path = if params.is_empty() {
            format!("/{command}")
        } else {
            format!("/{command}?params={}", base64(params.as_bytes()))
        };
        let reply = http_get(self.addr("http_api"), &path)?;
        serde_json::from_slice(&reply.body)
            .with_context(|| format!("API reply {:?}", String::from_utf8_lossy(&reply.body)))
    }

    /// A command that must succeed: its reply, or a panic naming the command and the reply.
    pub fn api_ok(&self, command: &str, params: &str) -> serde_json::Value {
        match self.api(command, params) {
            Ok(r) if r["status"] == "SUCCESS" => r,
            Ok(r) => panic!("{command} {params}: {r}"),
            Err(e) => panic!("{command} {params}: {e:#}"),
        }
    }

    /// The listConfig entry of `config_id` in section `kind` (`mss`, `pull`...), or null.
    pub fn config_entry(&self, kind: &str, config_id: &serde_json::Value) -> serde_json::Value {
        let r = self.api_ok("listConfig", "");
        r["data"][kind]
            .as_array()
            .and_then(|a| a.iter().find(|e| &e["configId"] == config_id).cloned())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The value of the start line `key ...` (e.g. `state_file`), if printed.
    pub fn startup_value(&self, key: &str) -> Option<&str> {
        self.startup
            .iter()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the server has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// A reply from [`http_get`].
pub struct HttpReply {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// A header's value (name in any case), or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }
}

/// A GET over a fresh connection with `Connection: close`, reading to the end. The target is
/// sent exactly as given, so path tricks reach the server unnormalised.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<HttpReply> {
    http_request(addr, "GET", path, &[])
}

pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpReply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    request_over(&mut s, addr, method, path, headers)
}

/// A GET over TLS trusting only the CA certificates in `ca_pem`, for the name `localhost`
/// (test certificates also name 127.0.0.1): the reply and the certificate the server
/// presented (DER), so tests can see which one it serves.
pub fn https_get(addr: SocketAddr, ca_pem: &str, path: &str) -> Result<(HttpReply, Vec<u8>)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.context("CA PEM")?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost")?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let reply = request_over(&mut tls, addr, "GET", path, &[])?;
    let served = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    Ok((reply, served))
}

fn request_over(
    s: &mut (impl Read + Write),
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpReply> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify: the reply is checked below anyway.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no header end in reply"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad status line"))?;
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    } else if let (false, Some(len)) = (method == "HEAD", headers.get("content-length")) {
        if len.parse::<usize>().ok() != Some(body.len()) {
            bail!("{path}: Content-Length {len} but {} body bytes", body.len());
        }
    }
    Ok(HttpReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("bad chunk"))?;
        let size_str = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("short chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Standard base64 with padding (what EMS's HTTP API expects in `params`).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
