//! EMS's `config.lua`, mapped onto our [`ServerConfig`]: the `autoMSS` block and the acceptors
//! that have a Smoothcast listener. Everything else an EMS file holds (log appenders, media
//! storage, the other auto blocks, event sinks...) is reported as ignored, so an operator can
//! bring their file unchanged and see what it does here.
//!
//! An `inboundRtmp` acceptor with `sslCert` and `sslKey` (EMS's RTMPS, 8081) becomes
//! `[tls]` with that `rtmps_port`.
//!
//! The shape: `configuration = { ..., applications = { rootDirectory = "...", { name =
//! "evostreamms", acceptors = { {protocol=..., port=...}, ... }, autoMSS = { ... } } } }`.

use super::auto_mss::{self, AutoMss};
use super::lua::{Globals, LuaError, Pos, Spanned, Table, Value};
use super::ServerConfig;

/// Applies an evaluated config.lua to `config`. Returns warnings for what it ignores.
pub fn apply(globals: &Globals, config: &mut ServerConfig) -> Result<Vec<String>, LuaError> {
    let mut warnings = Vec::new();
    let Some(configuration) = globals.get("configuration") else {
        return Err(LuaError::new(
            Pos { line: 1, column: 1 },
            "no `configuration = { ... }` table: not an EMS config.lua",
        ));
    };
    let configuration = table(configuration, "configuration")?;
    let mut ignored = Vec::new();
    for (key, value) in configuration.named() {
        if key == "applications" {
            applications(table(value, "applications")?, config, &mut warnings)?;
        } else {
            ignored.push(key.to_string());
        }
    }
    if !ignored.is_empty() {
        warnings.push(format!(
            "ignored: configuration.{}",
            ignored.join(", configuration.")
        ));
    }
    Ok(warnings)
}

fn table<'a>(v: &'a Spanned, key: &str) -> Result<&'a Table, LuaError> {
    match &v.value {
        Value::Table(t) => Ok(t),
        other => Err(wrong_type(v, key, "a table", other)),
    }
}

fn wrong_type(v: &Spanned, key: &str, wanted: &str, found: &Value) -> LuaError {
    LuaError::new(
        v.pos,
        format!("{key} must be {wanted}, not a {}", found.type_name()),
    )
}

fn string<'a>(v: &'a Spanned, key: &str) -> Result<&'a str, LuaError> {
    match &v.value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(v, key, "a string", other)),
    }
}

fn number(v: &Spanned, key: &str) -> Result<f64, LuaError> {
    match &v.value {
        Value::Number(n) => Ok(*n),
        other => Err(wrong_type(v, key, "a number", other)),
    }
}

fn boolean(v: &Spanned, key: &str) -> Result<bool, LuaError> {
    match &v.value {
        Value::Bool(b) => Ok(*b),
        other => Err(wrong_type(v, key, "true or false", other)),
    }
}

fn ranged(v: &Spanned, key: &str, range: (u32, u32)) -> Result<u32, LuaError> {
    auto_mss::check_range(key, number(v, key)?, range).map_err(|m| LuaError::new(v.pos, m))
}

fn applications(
    apps: &Table,
    config: &mut ServerConfig,
    warnings: &mut Vec<String>,
) -> Result<(), LuaError> {
    let mut auto_from: Option<Pos> = None;
    let mut acceptors = Acceptors::default();
    for app in apps.array() {
        let app = table(app, "an application")?;
        let name = match app.get("name") {
            Some(v) => string(v, "name")?.to_string(),
            None => String::from("(unnamed)"),
        };
        let mut ignored = Vec::new();
        for (key, value) in app.named() {
            match key {
                "autoMSS" => {
                    if let Some(first) = auto_from {
                        warnings.push(format!(
                            "autoMSS of application {name} at {} ignored: the one at {first} applies",
                            value.pos
                        ));
                        continue;
                    }
                    config.auto_mss = Some(auto_mss_block(value, warnings)?);
                    auto_from = Some(value.pos);
                }
                "acceptors" => {
                    for acceptor in table(value, "acceptors")?.array() {
                        acceptors.add(acceptor, config)?;
                    }
                }
                "autoHLS" | "autoHDS" | "autoDASH" => warnings.push(format!(
                    "{key} at {} ignored: Smoothcast makes Smooth Streaming only",
                    value.pos
                )),
                "name" => {}
                other => ignored.push(other.to_string()),
            }
        }
        if !ignored.is_empty() {
            warnings.push(format!(
                "ignored in application {name}: {}",
                ignored.join(", ")
            ));
        }
    }
    if !acceptors.ignored.is_empty() {
        warnings.push(format!(
            "acceptors without a Smoothcast listener ignored: {}",
            acceptors.ignored.join(", ")
        ));
    }
    Ok(())
}

/// The acceptors that map onto our listeners; the first of each protocol wins (EMS lists a
/// second, clustering-only inboundRtmp on 1936).
#[derive(Default)]
struct Acceptors {
    seen: Vec<&'static str>,
    ignored: Vec<String>,
}

impl Acceptors {
    fn add(&mut self, acceptor: &Spanned, config: &mut ServerConfig) -> Result<(), LuaError> {
        let a = table(acceptor, "an acceptor")?;
        let protocol = match a.get("protocol") {
            Some(v) => string(v, "protocol")?,
            None => return Err(LuaError::new(acceptor.pos, "acceptor without a protocol")),
        };
        let port = match a.get("port") {
            Some(v) => Some((ranged(v, "port", (0, u32::from(u16::MAX)))? as u16, v.pos)),
            None => None,
        };
        let clustering = match a.get("clustering") {
            Some(v) => boolean(v, "clustering")?,
            None => false,
        };
        // EMS's RTMPS acceptor (port 8081) is an inboundRtmp with sslCert and sslKey.
        if protocol == "inboundRtmp" && !clustering && a.get("sslKey").is_some() {
            return self.rtmps(acceptor, a, port, config);
        }
        let slot = match protocol {
            "inboundRtmp" if !clustering && a.get("sslKey").is_none() => {
                Some(("inboundRtmp", &mut config.rtmp_port))
            }
            "inboundJsonCli" => Some(("inboundJsonCli", &mut config.json_cli_port)),
            "inboundAsciiCli" => Some(("inboundAsciiCli", &mut config.ascii_cli_port)),
            "inboundHttpJsonCli" => Some(("inboundHttpJsonCli", &mut config.http_api_port)),
            // One port serves TS over TCP and UDP here: the first of EMS's two acceptors sets it.
            "inboundTcpTs" | "inboundUdpTs" => Some(("inboundTs", &mut config.mpegts_port)),
            _ => None,
        };
        let label = match port {
            Some((p, _)) => format!("{protocol}:{p}"),
            None => protocol.to_string(),
        };
        let Some((name, field)) = slot.filter(|(n, _)| !self.seen.contains(n)) else {
            self.ignored.push(label);
            return Ok(());
        };
        let Some((port, _)) = port else {
            return Err(LuaError::new(
                acceptor.pos,
                format!("{protocol} acceptor without a port"),
            ));
        };
        self.seen.push(name);
        *field = port;
        if let Some(ip_value) = a.get("ip") {
            let ip = string(ip_value, "ip")?;
            let ip: std::net::IpAddr = ip.parse().map_err(|_| {
                LuaError::new(
                    ip_value.pos,
                    format!("{protocol} ip {ip:?} is not an IP address"),
                )
            })?;
            // EMS binds each acceptor to its own `ip`; so does Smoothcast.
            let sec = &mut config.security;
            let slot = match name {
                "inboundRtmp" => &mut sec.rtmp_bind,
                "inboundJsonCli" => &mut sec.json_cli_bind,
                "inboundAsciiCli" => &mut sec.ascii_cli_bind,
                "inboundHttpJsonCli" => &mut sec.http_api_bind,
                _ => &mut sec.mpegts_bind,
            };
            *slot = Some(ip);
        }
        Ok(())
    }
}

impl Acceptors {
    /// The first RTMPS acceptor becomes `[tls]`: its files, and its port as `rtmps_port`
    /// (HTTPS keeps what the TOML file said, or its default).
    fn rtmps(
        &mut self,
        acceptor: &Spanned,
        a: &Table,
        port: Option<(u16, Pos)>,
        config: &mut ServerConfig,
    ) -> Result<(), LuaError> {
        if self.seen.contains(&"inboundRtmps") {
            let p = port.map(|(p, _)| format!(":{p}")).unwrap_or_default();
            self.ignored.push(format!("inboundRtmp (sslKey){p}"));
            return Ok(());
        }
        let file = |key: &str| -> Result<std::path::PathBuf, LuaError> {
            let Some(v) = a.get(key) else {
                return Err(LuaError::new(
                    acceptor.pos,
                    format!("an inboundRtmp acceptor with sslKey needs {key} too"),
                ));
            };
            let path = ems_path(string(v, key)?);
            if path.is_empty() {
                return Err(LuaError::new(v.pos, format!("{key} is empty")));
            }
            Ok(path.into())
        };
        let (cert, key) = (file("sslCert")?, file("sslKey")?);
        let Some((port, _)) = port else {
            return Err(LuaError::new(
                acceptor.pos,
                "inboundRtmp (sslKey) acceptor without a port",
            ));
        };
        self.seen.push("inboundRtmps");
        let mut tls = config
            .tls
            .take()
            .unwrap_or_else(|| super::tls::TlsConfig::new(cert.clone(), key.clone()));
        let mut ports = tls.ports();
        ports.rtmps = Some(port);
        tls.set_ports(ports);
        tls.cert = cert;
        tls.key = key;
        config.tls = Some(tls);
        Ok(())
    }
}

fn auto_mss_block(v: &Spanned, warnings: &mut Vec<String>) -> Result<AutoMss, LuaError> {
    let block = table(v, "autoMSS")?;
    let Some(target) = block.get("targetFolder") else {
        return Err(LuaError::new(
            v.pos,
            "autoMSS needs targetFolder (the folder its presentations are written to)",
        ));
    };
    let mut auto = AutoMss::new(ems_path(string(target, "targetFolder")?));
    auto.origin = Some(target.pos.to_string());
    if auto.target_folder.is_empty() {
        return Err(LuaError::new(target.pos, "autoMSS targetFolder is empty"));
    }
    let mut stale = None;
    for (key, value) in block.named() {
        match key {
            "targetFolder" => {}
            "chunkOnIDR" => auto.chunk_on_idr = boolean(value, key)?,
            "chunkLength" => auto.chunk_length = ranged(value, key, auto_mss::CHUNK_LENGTH)?,
            "playlistLength" => {
                auto.playlist_length = ranged(value, key, auto_mss::PLAYLIST_LENGTH)?
            }
            "staleRetentionCount" => {
                stale = Some(ranged(value, key, auto_mss::STALE_RETENTION_COUNT)?)
            }
            "groupName" => {
                let name = string(value, key)?;
                auto_mss::check_group_name(key, name).map_err(|m| LuaError::new(value.pos, m))?;
                auto.group_name = name.to_string();
            }
            // PlayReady protection, createMSSStream's names (issue 16).
            "drmKeyId" => auto.drm.drm_key_id = Some(string(value, key)?.to_string()),
            "drmKey" => auto.drm.drm_key = Some(string(value, key)?.to_string()),
            "drmKeySeed" => auto.drm.drm_key_seed = Some(string(value, key)?.to_string()),
            "playreadyLaUrl" => auto.drm.playready_la_url = Some(string(value, key)?.to_string()),
            "playreadyLuiUrl" => auto.drm.playready_lui_url = Some(string(value, key)?.to_string()),
            other => warnings.push(format!(
                "autoMSS.{other} at {} ignored: not an autoMSS setting",
                value.pos
            )),
        }
    }
    auto.stale_retention_count = stale;
    auto.drm
        .protection()
        .map_err(|m| LuaError::new(v.pos, format!("autoMSS: {m}")))?;
    Ok(auto)
}

/// EMS ships Windows spellings (`..\\evo-webroot`); on other systems a backslash is a
/// separator there too, since no sane folder name holds one.
fn ems_path(path: &str) -> String {
    if cfg!(windows) {
        path.to_string()
    } else {
        path.replace('\\', "/")
    }
}

#[cfg(test)]
mod tests {
    use super::super::lua::evaluate;
    use super::*;

    fn load(src: &str) -> Result<(ServerConfig, Vec<String>), LuaError> {
        let mut c = ServerConfig::default();
        let w = apply(&evaluate(src)?, &mut c)?;
        Ok((c, w))
    }

    const EMS: &str = r#"
configuration=
{
	daemon=false,
	logAppenders={ { name="console appender", type="coloredConsole", level=6 } },
	applications=
	{
		rootDirectory="applications",
		{
			name="evostreamms",
			maxRtmpOutBuffer=512*1024,
			acceptors=
			{
				{ ip="127.0.0.1", port=1113, protocol="inboundJsonCli" },
				{ ip="0.0.0.0", port=1936, protocol="inboundRtmp" },
				{ ip="127.0.0.1", port=1937, protocol="inboundRtmp", clustering=true },
				{ ip="0.0.0.0", port=5544, protocol="inboundRtsp" },
				{ ip="127.0.0.1", port=9998, protocol="inboundTcpTs" },
				{ ip="127.0.0.1", port=9997, protocol="inboundUdpTs" },
			},
			autoMSS=
			{
				targetFolder= "..\\evo-webroot",
				chunkLength=2,
				playlistLength=6,
				drmType="none",
			},
		},
	}
}
"#;

    #[test]
    fn auto_mss_takes_playready_settings() {
        let (c, _) = load(
            "configuration = { applications = { { autoMSS = { targetFolder = '/w', drmKeyId = '01020304-0506-0708-090a-0b0c0d0e0f10', drmKey = '00112233445566778899aabbccddeeff', playreadyLaUrl = 'http://x/pr' } } } }",
        )
        .expect("loads");
        let a = c.auto_mss.expect("autoMSS on");
        assert!(a.drm.protection().expect("valid").is_some());
        let e = load(
            "configuration = { applications = { { autoMSS = { targetFolder = '/w', drmKey = '00112233445566778899aabbccddeeff' } } } }",
        )
        .expect_err("a key without a key ID");
        assert!(!e.to_string().contains("0011223344"), "{e}");
    }

    #[test]
    fn maps_auto_mss_and_acceptors() {
        let (c, warnings) = load(EMS).expect("loads");
        let a = c.auto_mss.expect("autoMSS on");
        assert_eq!(a.target_folder, "../evo-webroot");
        assert_eq!(a.chunk_length, 2);
        assert_eq!(a.playlist_length, 6);
        assert_eq!(a.stale_retention_count(), 6);
        assert!(!a.chunk_on_idr);
        assert_eq!(a.group_name, "autoMSS");
        assert_eq!(c.json_cli_port, 1113);
        assert_eq!(c.rtmp_port, 1936, "the first non-clustering inboundRtmp");
        assert_eq!(c.ascii_cli_port, 1222, "untouched");
        assert_eq!(c.mpegts_port, 9998, "the first TS acceptor");
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().expect("ip"));
        assert_eq!(c.security.rtmp_bind, ip("0.0.0.0"), "acceptor ip honoured");
        assert_eq!(c.security.json_cli_bind, ip("127.0.0.1"));
        assert_eq!(c.security.mpegts_bind, ip("127.0.0.1"));
        assert_eq!(
            c.security.http_api_bind, None,
            "no acceptor: loopback default"
        );
        let all = warnings.join("\n");
        for expected in [
            "autoMSS.drmType",
            "inboundRtsp:5544",
            "inboundRtmp:1937",
            "inboundUdpTs:9997",
            "configuration.daemon",
            "maxRtmpOutBuffer",
        ] {
            assert!(all.contains(expected), "{expected} not in {all}");
        }
    }

    #[test]
    fn an_rtmp_acceptor_with_ssl_files_is_rtmps() {
        let src = "configuration = { applications = { { acceptors = {\n\
            { ip = '0.0.0.0', port = 8081, protocol = 'inboundRtmp', sslKey = 'k.pem', sslCert = 'c.pem' },\n\
            { port = 8082, protocol = 'inboundRtmp', sslKey = 'k2.pem', sslCert = 'c2.pem' },\n\
            { port = 1936, protocol = 'inboundRtmp' } } } } }";
        let (c, warnings) = load(src).expect("loads");
        let tls = c.tls.expect("[tls] from the acceptor");
        assert_eq!(
            (tls.cert.to_str(), tls.key.to_str()),
            (Some("c.pem"), Some("k.pem"))
        );
        let ports = tls.ports();
        assert_eq!((ports.rtmps, ports.https), (Some(8081), Some(8443)));
        assert_eq!(c.rtmp_port, 1936, "the plain acceptor stays RTMP");
        assert!(
            warnings.join("\n").contains("inboundRtmp (sslKey):8082"),
            "{warnings:?}"
        );

        let e = load("configuration = { applications = { { acceptors = {\n { port = 8081, protocol = 'inboundRtmp', sslKey = 'k.pem' } } } } }")
            .expect_err("no sslCert");
        assert!(e.message.contains("sslCert"), "{e}");
    }

    #[test]
    fn auto_mss_is_off_without_the_block() {
        let (c, _) =
            load("configuration = { applications = { { name = 'evostreamms' } } }").expect("loads");
        assert!(c.auto_mss.is_none());
    }

    #[test]
    fn refuses_bad_values_with_the_line() {
        for (src, line, words) in [
            (
                "configuration = { applications = { {\n autoMSS = { chunkLength = 2 } } } }",
                2,
                "targetFolder",
            ),
            (
                "configuration = { applications = { { autoMSS = {\n targetFolder = '/w',\n chunkLength = 0 } } } }",
                3,
                "chunkLength must be a whole number from 1 to 3600",
            ),
            (
                "configuration = { applications = { { autoMSS = {\n targetFolder = '/w',\n playlistLength = 1000000 } } } }",
                3,
                "playlistLength",
            ),
            (
                "configuration = { applications = { { autoMSS = {\n targetFolder = 5 } } } }",
                2,
                "targetFolder must be a string, not a number",
            ),
            (
                "configuration = { applications = { { autoMSS = { targetFolder = '/w',\n chunkOnIDR = 'yes' } } } }",
                2,
                "chunkOnIDR must be true or false",
            ),
            (
                "configuration = { applications = { { acceptors = {\n { protocol = 'inboundRtmp', port = 70000 } } } } }",
                2,
                "port",
            ),
            ("settings = {}", 1, "configuration"),
        ] {
            let e = load(src).expect_err(src);
            assert_eq!(e.pos.line, line, "{src}: {e}");
            assert!(e.message.contains(words), "{src}: {e}");
        }
    }
}
