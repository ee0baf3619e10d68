//! A manifest asked for while its presentation is starting. A live manifest is first
//! written once every stream lists a few fragments (10-12 s after a publish with 2 s
//! fragments), and players treat a missing manifest as fatal: GStreamer's souphttpsrc gives
//! up at the first 404 or 503 (no retry, Retry-After ignored), dash.js 5 after 3 tries 0.5 s
//! apart whatever the status. What they all wait for is a slow answer: souphttpsrc allows
//! 15 s, dash.js 10 s per manifest request and then tries again. So a request for the
//! manifest of a configured presentation that is not written yet is held until the
//! manifest appears, up to [`HOLD`]; after that it gets 503 with Retry-After.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::outputs::mss::normalize;
use crate::outputs::OutputManager;

/// Longest a manifest request is held: under souphttpsrc's 15 s timeout (dash.js gives up
/// on a request after 10 s and asks again, up to 3 more times).
pub const HOLD: Duration = Duration::from_secs(14);
const POLL: Duration = Duration::from_millis(200);
/// What a 503 suggests to wait before asking again (seconds).
pub const RETRY_AFTER: u64 = 2;

/// The manifest a request names, if it is one a config will write: `file` is the file the
/// request resolves to (`<dir>/<name>.ismc`); `iis_dir` the folder of an IIS `Manifest`.
pub fn starting_manifest(
    outputs: &OutputManager,
    file: Option<&Path>,
    iis_dir: Option<&Path>,
) -> Option<PathBuf> {
    let file = file.map(normalize);
    let dir = iis_dir.map(normalize);
    outputs.manifest_paths().into_iter().find(|m| {
        file.as_deref() == Some(m.as_path()) || (dir.is_some() && m.parent() == dir.as_deref())
    })
}

/// Waits (bounded by `hold`) for `manifest` to exist; true once it does.
pub async fn wait_for(manifest: &Path, hold: Duration) -> bool {
    let started = Instant::now();
    loop {
        if tokio::fs::metadata(manifest)
            .await
            .is_ok_and(|m| m.is_file())
        {
            return true;
        }
        if started.elapsed() >= hold {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::MssParams;
    use crate::streams::StreamRegistry;

    #[tokio::test]
    async fn configured_manifests_are_known_before_they_exist() {
        let root = std::env::temp_dir().join(format!("smoothcast-starting-{}", std::process::id()));
        let m = OutputManager::new(StreamRegistry::new());
        let target = root.display().to_string();
        m.create_mss(MssParams::with_defaults(
            vec!["cam".into()],
            target.clone(),
            "g".into(),
        ))
        .expect("created");
        let mut auto = MssParams::with_defaults(vec!["s".into()], target, "autoMSS".into());
        auto.auto_mss = true;
        m.create_mss(auto).expect("created");
        let manifest = root.join("g/manifest.ismc");
        let found = |file: Option<&Path>, dir: Option<&Path>| starting_manifest(&m, file, dir);
        assert_eq!(found(Some(&manifest), None), Some(normalize(&manifest)));
        assert_eq!(
            found(None, Some(&root.join("g"))),
            Some(normalize(&manifest))
        );
        assert_eq!(
            found(None, Some(&root.join("autoMSS/s"))),
            Some(normalize(&root.join("autoMSS/s/s.ismc")))
        );
        assert_eq!(found(Some(&root.join("other/manifest.ismc")), None), None);
        assert_eq!(found(None, Some(&root)), None);
        // Not written: the wait gives up at its bound; written meanwhile: it sees it.
        assert!(!wait_for(&manifest, Duration::from_millis(300)).await);
        std::fs::create_dir_all(root.join("g")).expect("dir");
        let writer = {
            let manifest = manifest.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                std::fs::write(&manifest, "x").expect("write");
            })
        };
        assert!(wait_for(&manifest, Duration::from_secs(5)).await);
        let _ = writer.await;
        m.shutdown_all();
        let _ = std::fs::remove_dir_all(&root);
    }
}
