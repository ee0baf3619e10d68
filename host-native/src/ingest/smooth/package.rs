//! A publishing point's live presentation: one MSS group (as createMSSStream makes) over the
//! point's local streams, written to `<webroot>/<path>/<point>.isml/manifest.ismc` so the
//! web server's IIS URLs serve it at `/<path>/<point>.isml/Manifest`.
//!
//! It starts `gather_ms` after the point's first stream's header, with every stream whose
//! header came by then (one encoder opens its POSTs together). A stream that arrives later
//! restarts it with all streams: a group's streams are fixed when it starts. It is a
//! server-made group (listConfig shows it, the state file does not keep it); keepAlive, so
//! it outlives its POSTs and continues when they return.

use std::time::Duration;

use super::{lock, Context, Points};
use crate::outputs::mss::{MssParams, PlaylistType};

/// How long a restart waits for the previous presentation to finish writing.
const PREVIOUS_GRACE: Duration = Duration::from_secs(10);

/// The manifest's name in the point's folder (the IIS URL mapping looks for it first).
pub const MANIFEST: &str = "manifest.ismc";

#[derive(Default)]
pub(super) struct State {
    /// A repackage is due (waiting for the gather time).
    scheduled: bool,
    /// The local streams the running presentation packages.
    packaged: Vec<String>,
    /// Its first config id and task.
    running: Option<(u64, tokio::task::JoinHandle<()>)>,
    /// A presentation was made once: later ones keep the folder's files.
    built: bool,
}

impl State {
    /// Marks a repackage as due; `true` if the caller should run one (none was due).
    pub fn schedule(&mut self) -> bool {
        !std::mem::replace(&mut self.scheduled, true)
    }

    pub fn packaged(&self) -> &[String] {
        &self.packaged
    }
}

/// Starts or restarts the point's presentation if its streams changed.
pub(super) async fn repackage(points: &Points, ctx: &Context, key: &str) {
    let _one_at_a_time = points.inner.repackaging.lock().await;
    let (streams, old, route, first) = {
        let mut map = points.points();
        let Some(p) = map.get_mut(key) else {
            return;
        };
        p.package.scheduled = false;
        let mut streams: Vec<(String, u32)> = p
            .streams
            .values()
            .map(|s| lock(s))
            .filter(|s| s.started)
            .map(|s| (s.local.clone(), s.bitrate))
            .collect();
        // Highest bitrate first, as the manifest lists levels.
        streams.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let names: Vec<String> = streams.iter().map(|s| s.0.clone()).collect();
        if names.is_empty() || names == p.package.packaged {
            return;
        }
        p.package.packaged = names;
        let first = !p.package.built;
        p.package.built = true;
        (streams, p.package.running.take(), p.route.clone(), first)
    };
    if let Some((id, done)) = old {
        tracing::info!(
            point = key,
            "smooth ingest: a stream joined; restarting the point's presentation"
        );
        let _ = ctx.outputs.remove_config(id, false);
        let _ = tokio::time::timeout(PREVIOUS_GRACE, done).await;
    }
    let params = params(points, ctx, &route, &streams, first);
    match ctx.outputs.create(params) {
        Ok((ids, done)) => {
            tracing::info!(
                point = key,
                streams = streams.len(),
                "smooth ingest: packaging the point"
            );
            let mut map = points.points();
            if let (Some(p), Some(&id)) = (map.get_mut(key), ids.first()) {
                p.package.running = Some((id, done));
            }
        }
        Err(e) => tracing::error!(point = key, "smooth ingest: cannot package the point: {e}"),
    }
}

/// The group's parameters: the point's folder under the web root, a rolling live
/// presentation cut on IDR, one level per stream at its bitrate (distinct: the bitrate names
/// the level's folder; 0 is measured).
fn params(
    points: &Points,
    ctx: &Context,
    route: &[String],
    streams: &[(String, u32)],
    first: bool,
) -> MssParams {
    let cfg = &points.inner.cfg;
    let (group, parents) = route
        .split_last()
        .map_or(("", &[][..]), |(g, p)| (g.as_str(), p));
    let mut folder = ctx.webroot.clone();
    for p in parents {
        folder.push(p);
    }
    let mut p = MssParams::with_defaults(
        streams.iter().map(|s| s.0.clone()).collect(),
        folder.to_string_lossy().into_owned(),
        group.to_string(),
    );
    let mut taken = Vec::new();
    p.bandwidths = streams
        .iter()
        .map(|&(_, b)| {
            let mut b = b;
            while b != 0 && taken.contains(&b) {
                b += 1;
            }
            taken.push(b);
            b
        })
        .collect();
    p.playlist_type = PlaylistType::Rolling;
    p.playlist_length = cfg.playlist_length.max(1);
    p.stale_retention_count = cfg.playlist_length.max(1);
    p.chunk_length = cfg.chunk_length.max(1);
    p.chunk_on_idr = true;
    p.keep_alive = true;
    p.overwrite_destination = true;
    // A new point starts clean; a restart keeps what players are fetching.
    p.cleanup_destination = first;
    p.manifest_name = MANIFEST.to_string();
    p.is_live = true;
    p
}
