//! `smoothcast api COMMAND [key=value ...]`: sends one command to the HTTP API, as an EMS
//! script would, prints the JSON reply and exits non-zero unless it is SUCCESS.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;

use crate::cli::ApiArgs;

const TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: &ApiArgs) -> ExitCode {
    match request(args) {
        Ok(body) => {
            println!("{body}");
            let status = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(String::from));
            if status.as_deref() == Some("SUCCESS") {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("smoothcast: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn request(args: &ApiArgs) -> Result<String> {
    let target = request_target(&args.command, &args.params);
    let addr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", args.host))?
        .next()
        .with_context(|| format!("no address for {}", args.host))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to the HTTP API at {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // HTTP/1.0: the server closes after the reply, so the body is whatever comes before EOF.
    let host = if args.host.contains(':') {
        format!("[{}]:{}", args.host, args.port)
    } else {
        format!("{}:{}", args.host, args.port)
    };
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var(crate::config::security::TOKEN_ENV).ok())
        .filter(|t| !t.is_empty());
    let auth = match token {
        // A line break in the token would end the header and inject others.
        Some(t) if t.chars().any(char::is_control) => {
            bail!("the API token holds control characters")
        }
        Some(t) => format!("Authorization: Bearer {t}\r\n"),
        None => String::new(),
    };
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n"
    )?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .context("reading the reply")?;
    let response = String::from_utf8_lossy(&response);
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("the server's reply has no HTTP header");
    };
    let status_line = head.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("the server answered {status_line:?}: {}", body.trim());
    }
    Ok(body.trim_end().to_string())
}

/// `/<command>?params=<base64>`; each argument is escaped so the server reads back exactly
/// the text given (a space or backslash in a path is data), while commas still make lists.
fn request_target(command: &str, params: &[String]) -> String {
    let path: String = command
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if params.is_empty() {
        return format!("/{path}");
    }
    let text: Vec<String> = params.iter().map(|p| escape(p)).collect();
    // Standard base64 as EMS expects; `+`, `/` and `=` are legal in a query.
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.join(" "));
    format!("/{path}?params={encoded}")
}

fn escape(param: &str) -> String {
    let mut out = String::with_capacity(param.len());
    for c in param.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' => out.push_str("\\ "),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::line::Line;

    #[test]
    fn arguments_survive_the_round_trip() {
        let params = vec![
            "localStreamNames=a,b".to_string(),
            r"targetFolder=C:\My Web\root".to_string(),
        ];
        let target = request_target("createMSSStream", &params);
        let (path, query) = target.split_once('?').expect("query");
        assert_eq!(path, "/createMSSStream");
        let encoded = query.strip_prefix("params=").expect("params");
        let text = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        let line = Line::with_params("x", &String::from_utf8(text).expect("utf8")).expect("line");
        assert_eq!(
            line.list("localStreamNames"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            line.string("targetFolder"),
            Ok(Some(r"C:\My Web\root".into()))
        );
        assert_eq!(request_target("version", &[]), "/version");
        assert_eq!(request_target("a b", &[]), "/a%20b");
    }
}
