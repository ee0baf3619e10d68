//! `createMSSStream`: package one or more local streams as a Smooth Streaming presentation.
//! Parameters, defaults and ranges are EMS 1.7's (shared/reference/ems-api.md section 1).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::api::line::{Line, SyntaxError};
use crate::api::reply::Reply;
use crate::outputs::OutputManager;
use crate::outputs::{MssParams, PlaylistType};

const DEFAULT_PLAYLIST_LENGTH: u64 = 10;
const DEFAULT_CHUNK_LENGTH: u64 = 10;
const DEFAULT_MANIFEST_NAME: &str = "manifest.ismc";

#[derive(Debug, Clone, PartialEq)]
pub struct CreateMssStream {
    pub params: MssParams,
}

impl CreateMssStream {
    pub fn parse(line: &Line) -> Result<CreateMssStream, Reply> {
        let local_stream_names = line
            .list("localStreamNames")
            .ok_or_else(|| SyntaxError::missing("localStreamNames"))?;
        if local_stream_names.iter().any(|n| n.is_empty()) {
            return Err(SyntaxError::invalid("localStreamNames").into());
        }
        let target_folder = line
            .string("targetFolder")?
            .ok_or_else(|| SyntaxError::missing("targetFolder"))?;
        if target_folder.is_empty() {
            return Err(SyntaxError::invalid("targetFolder").into());
        }

        let bandwidths = match line.numbers("bandwidths", 0, u64::from(u32::MAX))? {
            Some(b) if b.len() != local_stream_names.len() => {
                return Err(Reply::fail(
                    "Syntax error. Parameters bandwidths and localStreamNames have different number of elements",
                ))
            }
            Some(b) => b.into_iter().map(to_u32).collect(),
            None => vec![0; local_stream_names.len()],
        };

        let group_name = match line.string("groupName")? {
            Some(g) => g,
            None => format!("mss_group_{}", random_suffix()),
        };
        // Both become path components under targetFolder; anything else could escape it.
        check_component("groupName", &group_name)?;
        let manifest_name = line
            .string("manifestName")?
            .unwrap_or_else(|| DEFAULT_MANIFEST_NAME.to_string());
        check_component("manifestName", &manifest_name)?;

        let playlist_type = match line.string("playlistType")?.map(|s| s.to_ascii_lowercase()) {
            None => PlaylistType::Appending,
            Some(s) if s == "appending" => PlaylistType::Appending,
            Some(s) if s == "rolling" => PlaylistType::Rolling,
            Some(_) => return Err(SyntaxError::invalid("playlistType").into()),
        };
        let playlist_length = line
            .number("playlistLength", 5, 4000)?
            .unwrap_or(DEFAULT_PLAYLIST_LENGTH);
        let chunk_length = line
            .number("chunkLength", 1, 3600)?
            .unwrap_or(DEFAULT_CHUNK_LENGTH);
        let stale_retention_count = line
            .number("staleRetentionCount", 0, 999_999)?
            .unwrap_or(playlist_length);

        let ism_type = match line.string("ismType")?.map(|s| s.to_ascii_lowercase()) {
            None => String::from("ismc"),
            Some(s) if s == "ismc" || s == "isml" => s,
            Some(_) => return Err(SyntaxError::invalid("ismType").into()),
        };
        let publishing_point = line.string("publishingPoint")?;
        let ingest_mode = match line.string("ingestMode")?.map(|s| s.to_ascii_lowercase()) {
            None => None,
            Some(s) if s == "single" || s == "loop" => Some(s),
            Some(_) => return Err(SyntaxError::invalid("ingestMode").into()),
        };
        let audio_bitrates = line
            .numbers("audioBitrates", 0, u64::from(u32::MAX))?
            .unwrap_or_default();
        let video_bitrates = line
            .numbers("videoBitrates", 0, u64::from(u32::MAX))?
            .unwrap_or_default();

        let params = MssParams {
            local_stream_names,
            target_folder,
            bandwidths,
            group_name,
            playlist_type,
            playlist_length: to_u32(playlist_length),
            manifest_name,
            chunk_length: to_u32(chunk_length),
            chunk_on_idr: line.boolean("chunkOnIDR")?.unwrap_or(true),
            keep_alive: line.boolean("keepAlive")?.unwrap_or(true),
            overwrite_destination: line.boolean("overwriteDestination")?.unwrap_or(true),
            stale_retention_count: to_u32(stale_retention_count),
            cleanup_destination: line.boolean("cleanupDestination")?.unwrap_or(false),
            ism_type,
            is_live: line.boolean("isLive")?.unwrap_or(true),
            publishing_point,
            ingest_mode,
            audio_bitrates: audio_bitrates.into_iter().map(to_u32).collect(),
            video_bitrates: video_bitrates.into_iter().map(to_u32).collect(),
            auto_mss: false,
            drm: crate::config::drm::DrmParams {
                drm_key_id: line.string("drmKeyId")?,
                drm_key: line.string("drmKey")?,
                drm_key_seed: line.string("drmKeySeed")?,
                playready_la_url: line.string("playreadyLaUrl")?,
                playready_lui_url: line.string("playreadyLuiUrl")?,
                playready_custom_attributes: line
                    .list("playreadyCustomAttributes")
                    .unwrap_or_default(),
            },
        };
        if let Err(e) = params.drm.protection() {
            return Err(Reply::fail(format!("Syntax error. {e}")));
        }
        // Checked after the syntax so a malformed isml line still gets its syntax error.
        let mut params = params;
        if params.pushes() {
            check_push(&mut params)?;
        }
        Ok(CreateMssStream { params })
    }

    pub fn apply(self, outputs: &OutputManager) -> Reply {
        let mut data = match serde_json::to_value(self.params.redacted()) {
            Ok(v) => v,
            Err(e) => return Reply::fail(format!("Unable to create MSS stream: {e}")),
        };
        match outputs.create_saved_mss(self.params) {
            Ok(ids) => {
                if let Value::Object(map) = &mut data {
                    map.insert("configIds".into(), Value::from(ids));
                }
                Reply::success("MSS stream created", data)
            }
            Err(e) => Reply::fail(e.to_string()),
        }
    }
}

/// `ismType=isml`: a publishing point is required (RMS: "the REST URI where the mss contents
/// will be ingested") and must be an http:// or https:// URL; the reply states the ingest
/// mode.
fn check_push(params: &mut MssParams) -> Result<(), Reply> {
    let Some(point) = params.publishing_point.as_deref() else {
        return Err(SyntaxError::missing("publishingPoint").into());
    };
    crate::outputs::isml::target::PublishingPoint::parse(point)
        .map_err(|e| Reply::fail(format!("Syntax error. {e}")))?;
    if params.drm.protection().ok().flatten().is_some() {
        return Err(Reply::fail(
            "Syntax error. ismType isml does not encrypt (the publishing point does): drop the drm parameters",
        ));
    }
    for (name, list) in [
        ("audioBitrates", &params.audio_bitrates),
        ("videoBitrates", &params.video_bitrates),
    ] {
        if !list.is_empty() && list.len() != params.local_stream_names.len() {
            return Err(Reply::fail(format!(
                "Syntax error. Parameters {name} and localStreamNames have different number of elements"
            )));
        }
    }
    params
        .ingest_mode
        .get_or_insert_with(|| String::from("single"));
    Ok(())
}

/// Values were range-checked against u32 bounds already.
fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn check_component(name: &str, value: &str) -> Result<(), Reply> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value.contains(['/', '\\', '\0'])
        // A drive prefix (`C:x`) is a path on Windows.
        || value.contains(':');
    if bad {
        return Err(Reply::fail(format!(
            "Syntax error. Parameter {name} is invalid. It must be a single folder or file name, without /, \\ or .."
        )));
    }
    Ok(())
}

/// EMS's default group name suffix: 8 random lowercase letters and digits. Unpredictable
/// enough to keep concurrent defaults apart without a random-number crate.
fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut hasher = std::hash::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut n = hasher.finish();
    (0..8)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize];
            n /= 36;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support;

    fn parse(text: &str) -> Result<MssParams, String> {
        let line = Line::parse(text).map_err(|e| e.error.0)?;
        CreateMssStream::parse(&line)
            .map(|c| c.params)
            .map_err(|r| r.description)
    }

    const BASE: &str = "createMSSStream localStreamNames=cam targetFolder=/var/www";

    #[test]
    fn defaults() {
        let p = parse(BASE).expect("ok");
        assert_eq!(p.local_stream_names, vec!["cam"]);
        assert_eq!(p.target_folder, "/var/www");
        assert_eq!(p.bandwidths, vec![0]);
        assert_eq!(p.playlist_type, PlaylistType::Appending);
        assert_eq!(p.playlist_length, 10);
        assert_eq!(p.manifest_name, "manifest.ismc");
        assert_eq!(p.chunk_length, 10);
        assert!(p.chunk_on_idr);
        assert!(p.keep_alive);
        assert!(p.overwrite_destination);
        assert_eq!(p.stale_retention_count, 10);
        assert!(!p.cleanup_destination);
        assert_eq!(p.ism_type, "ismc");
        assert!(p.is_live);
        assert_eq!(p.publishing_point, None);
        assert_eq!(p.ingest_mode, None);
        assert!(p.audio_bitrates.is_empty() && p.video_bitrates.is_empty());
        let suffix = p.group_name.strip_prefix("mss_group_").expect("prefix");
        assert_eq!(suffix.len(), 8);
        assert!(suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(parse(BASE).expect("ok").group_name, p.group_name);
    }

    #[test]
    fn every_parameter() {
        let p = parse(
            "createmssstream LOCALSTREAMNAMES=a,b targetfolder=../evo-webroot bandwidths=100,200 \
             groupname=g playlisttype=ROLLING playlistlength=20 manifestname=m.ismc chunklength=2 \
             chunkonidr=0 keepalive=0 overwritedestination=0 staleretentioncount=0 \
             cleanupdestination=1 ismtype=ismc publishingpoint=http://x/y ingestmode=loop \
             audiobitrates=1,2 videobitrates=3 islive=0",
        )
        .expect("ok");
        assert_eq!(p.local_stream_names, vec!["a", "b"]);
        assert_eq!(p.target_folder, "../evo-webroot");
        assert_eq!(p.bandwidths, vec![100, 200]);
        assert_eq!(p.group_name, "g");
        assert_eq!(p.playlist_type, PlaylistType::Rolling);
        assert_eq!(p.playlist_length, 20);
        assert_eq!(p.manifest_name, "m.ismc");
        assert_eq!(p.chunk_length, 2);
        assert!(!p.chunk_on_idr && !p.keep_alive && !p.overwrite_destination && !p.is_live);
        assert_eq!(p.stale_retention_count, 0);
        assert!(p.cleanup_destination);
        assert_eq!(p.publishing_point.as_deref(), Some("http://x/y"));
        assert_eq!(p.ingest_mode.as_deref(), Some("loop"));
        assert_eq!(p.audio_bitrates, vec![1, 2]);
        assert_eq!(p.video_bitrates, vec![3]);
    }

    #[test]
    fn stale_retention_defaults_to_playlist_length() {
        let p = parse(&format!("{BASE} playlistLength=40")).expect("ok");
        assert_eq!(p.stale_retention_count, 40);
    }

    #[test]
    fn windows_target_folder() {
        let p = parse(
            r"createMSSStream localstreamnames=myStream targetfolder=C:\EvoStream\evo-webroot",
        )
        .expect("ok");
        assert_eq!(p.target_folder, r"C:\EvoStream\evo-webroot");
    }

    #[test]
    fn required_parameters() {
        assert_eq!(
            parse("createMSSStream targetFolder=/x"),
            Err("Syntax error. Parameter localStreamNames is required".into())
        );
        assert_eq!(
            parse("createMSSStream localStreamNames=a"),
            Err("Syntax error. Parameter targetFolder is required".into())
        );
        assert!(parse("createMSSStream localStreamNames=a, targetFolder=/x").is_err());
        assert!(parse("createMSSStream localStreamNames=a targetFolder=").is_err());
        assert!(parse("createMSSStream localStreamNames=a targetFolder=/x,/y").is_err());
    }

    #[test]
    fn bandwidth_count_must_match() {
        assert_eq!(
            parse(&format!("{BASE} bandwidths=1,2")),
            Err("Syntax error. Parameters bandwidths and localStreamNames have different number of elements".into())
        );
        assert!(parse(&format!("{BASE} bandwidths=abc")).is_err());
        assert!(parse(&format!("{BASE} bandwidths=4294967296")).is_err());
    }

    #[test]
    fn ranges() {
        for (p, range) in [
            ("chunkLength=0", "chunkLength is invalid. Range: 1 - 3600"),
            (
                "chunkLength=3601",
                "chunkLength is invalid. Range: 1 - 3600",
            ),
            (
                "playlistLength=4",
                "playlistLength is invalid. Range: 5 - 4000",
            ),
            (
                "playlistLength=4001",
                "playlistLength is invalid. Range: 5 - 4000",
            ),
            (
                "staleRetentionCount=1000000",
                "staleRetentionCount is invalid. Range: 0 - 999999",
            ),
            ("chunkLength=ten", "chunkLength is invalid. Range: 1 - 3600"),
        ] {
            assert_eq!(
                parse(&format!("{BASE} {p}")),
                Err(format!("Syntax error. Parameter {range}")),
                "{p}"
            );
        }
        assert!(parse(&format!("{BASE} chunkLength=1 playlistLength=5")).is_ok());
        assert!(parse(&format!("{BASE} chunkLength=3600 playlistLength=4000")).is_ok());
    }

    #[test]
    fn enums_and_booleans() {
        for bad in [
            "playlistType=circular",
            "ismType=mp4",
            "ingestMode=twice",
            "keepAlive=2",
            "isLive=yes",
            "chunkOnIDR=",
        ] {
            let e = parse(&format!("{BASE} {bad}")).expect_err(bad);
            assert!(e.ends_with("is invalid"), "{bad}: {e}");
        }
    }

    #[test]
    fn isml_needs_an_http_publishing_point() {
        let p = parse(&format!(
            "{BASE} ismType=ISML publishingPoint=http://u:p@127.0.0.1:9/pp.isml"
        ))
        .expect("isml");
        assert_eq!(p.ism_type, "isml");
        assert_eq!(
            p.ingest_mode.as_deref(),
            Some("single"),
            "stated in the reply"
        );
        let shown = serde_json::to_value(p.redacted()).expect("json");
        assert_eq!(shown["publishingPoint"], "http://127.0.0.1:9/pp.isml");
        assert_eq!(shown["ingestMode"], "single");
        let looped = parse(&format!(
            "{BASE} ismType=isml publishingPoint=http://h/pp.isml ingestMode=loop"
        ))
        .expect("loop");
        assert_eq!(looped.ingest_mode.as_deref(), Some("loop"));
        for (bad, says) in [
            ("ismType=isml", "Parameter publishingPoint is required"),
            ("ismType=isml publishingPoint=pp.isml", "not a URL"),
            ("ismType=isml publishingPoint=rtmp://h/pp.isml", "https://"),
            (
                "ismType=isml publishingPoint=http://h/p videoBitrates=1,2",
                "videoBitrates",
            ),
        ] {
            let e = parse(&format!("{BASE} {bad}")).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
        // Files, as before: no ingest mode unless given.
        assert_eq!(parse(BASE).expect("ismc").ingest_mode, None);
    }

    #[test]
    fn group_and_manifest_are_single_components() {
        for bad in [
            "groupName=../x",
            "groupName=..",
            "groupName=.",
            "groupName=a/b",
            r"groupName=a\b",
            "groupName=",
            "groupName=C:x",
            "manifestName=../m.ismc",
            "manifestName=/etc/passwd",
            "manifestName=",
        ] {
            let e = parse(&format!("{BASE} {bad}")).expect_err(bad);
            assert!(e.starts_with("Syntax error. Parameter"), "{bad}: {e}");
        }
        assert!(parse(&format!("{BASE} groupName=my.group manifestName=live.ismc")).is_ok());
    }

    #[tokio::test]
    async fn apply_replies_with_params_and_config_ids() {
        let state = test_support::state();
        let line = Line::parse(
            "createMSSStream localStreamNames=a,b targetFolder=/w groupName=g bandwidths=1,2",
        )
        .expect("line");
        let reply = CreateMssStream::parse(&line)
            .expect("parse")
            .apply(&state.outputs);
        assert!(reply.is_success(), "{reply:?}");
        assert_eq!(reply.description, "MSS stream created");
        assert_eq!(reply.data["configIds"].as_array().map(Vec::len), Some(2));
        assert_eq!(reply.data["groupName"], "g");
        assert_eq!(reply.data["chunkOnIDR"], true);
        assert_eq!(reply.data["bandwidths"], serde_json::json!([1, 2]));
        assert_eq!(state.outputs.list_mss().len(), 2);
        // Keys in EMS's (alphabetical) order.
        let json = reply.to_json();
        let b = json.find("\"bandwidths\"").expect("bandwidths");
        let c = json.find("\"configIds\"").expect("configIds");
        let t = json.find("\"targetFolder\"").expect("targetFolder");
        assert!(b < c && c < t, "{json}");
    }
}
