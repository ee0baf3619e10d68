//! The task behind one createMSSStream: waits for its local streams, feeds their media to one
//! live [`Presentation`], and applies what the presentation asks for to the group folder.

use std::path::PathBuf;
use std::time::Instant;

use smoothcast_core::layout::Layout;
use smoothcast_core::measure::{self, Held};
use smoothcast_core::presentation::{LevelId, Output, Presentation, StoredFragment};
use tokio::sync::{broadcast, watch};

use super::chunk_events::EventContext;
use super::feeds::Feeds;
use super::isml::IsmlSink;
use super::mss::{ConfigStatus, MssParams, OutputManager, StopMode};
use super::sink::Sink;
use super::writer::Writer;
use crate::events::EventType;
use crate::streams::{Delivered, StreamItem, StreamNotice, StreamRegistry};

pub(super) struct GroupContext {
    pub manager: OutputManager,
    pub streams: StreamRegistry,
    pub params: MssParams,
    pub config_ids: Vec<u64>,
    pub group_dir: PathBuf,
    pub stop: watch::Receiver<StopMode>,
    /// Restored at start: continue the presentation already in the group folder.
    pub resume: bool,
}

/// Media measured before a level with `bandwidths=0` can be named (its bitrate is in every
/// fragment path).
const MEASURE_SECONDS: f64 = 2.0;
const MEASURE_MAX_ITEMS: usize = 2_000;

/// One local stream of the group.
struct Input {
    name: String,
    config_id: u64,
    bandwidth: u32,
    level: Option<LevelId>,
    /// Media held while measuring the bitrate.
    held: Vec<StreamItem>,
    subscribed: bool,
    /// The source went away after it had started; the next item restarts the level.
    ended: bool,
    /// The local stream's unique id while subscribed (for events).
    stream_id: u64,
}

/// Items a group takes in one go when they queued up (see the loop in [`run_group`]).
const DRAIN: usize = 64;

pub(super) async fn run_group(ctx: GroupContext) {
    let mut presentation = ctx.manager.presentation_for(&ctx.params);
    let events = EventContext {
        bus: ctx.manager.events.clone(),
        manager: ctx.manager.clone(),
        group_name: ctx.params.group_name.clone(),
        config_ids: ctx.config_ids.clone(),
    };
    let mut writer = match ctx.params.pushes() {
        true => Sink::Isml(Box::new(IsmlSink::start(
            &ctx.params,
            &ctx.config_ids,
            events,
        ))),
        false => Sink::Disk(Writer::start(
            ctx.group_dir.clone(),
            ctx.manager.stats.clone(),
            events,
        )),
    };
    let mut feeds = Feeds::default();
    // Notices first, then subscribe: a stream that appears in between is not missed.
    let notices = ctx.streams.notices();
    let mut inputs: Vec<Input> = ctx
        .params
        .local_stream_names
        .iter()
        .enumerate()
        .map(|(i, name)| Input {
            name: name.clone(),
            config_id: ctx.config_ids[i],
            bandwidth: ctx.params.bandwidths.get(i).copied().unwrap_or(0),
            level: None,
            held: Vec::new(),
            subscribed: false,
            ended: false,
            stream_id: 0,
        })
        .collect();
    // Levels with a given bandwidth exist from the start, so the manifest lists quality
    // levels in localStreamNames order whichever stream connects first.
    for input in inputs.iter_mut().filter(|x| x.bandwidth != 0) {
        match presentation.add_quality_level(&input.name, input.bandwidth) {
            Ok(level) => input.level = Some(level),
            Err(e) => tracing::error!(group = %ctx.params.group_name, "{e}"),
        }
    }
    // A pushed presentation has no folder to resume from: it continues on the clock. One in
    // an object store is not resumed from it (not done yet): it starts afresh, and its node
    // takes its own lease back.
    let in_store = crate::store::is_store_location(&ctx.group_dir.to_string_lossy());
    if let (true, false, Sink::Disk(w)) = (ctx.resume, in_store, &writer) {
        resume(&ctx, &mut presentation, w).await;
    }
    for (i, input) in inputs.iter_mut().enumerate() {
        subscribe(&ctx, &writer, input, i, &mut feeds).await;
    }
    let mut last_error = String::new();
    // The first manifest of this run is worth a line at the default log level.
    let mut live_announced = false;
    // A group wakes for media tens of times a second; what else it waits for (a stop, a new
    // stream) waits in futures kept across wake-ups and polled only when no media is there.
    // Made anew per wake-up, each registered and removed a waiter, and every group's
    // notices waiter takes the one lock of the server's notice channel. So that media that
    // keeps coming cannot hold a stop back, the stop's version is also read before each turn
    // (an atomic load).
    let stopped = stop_requested(ctx.stop.clone());
    tokio::pin!(stopped);
    let mut notice = Box::pin(next_notice(notices));
    let mut stop_seen = ctx.stop.clone();
    let stop = 'group: loop {
        match stop_seen.has_changed() {
            Err(_) => break 'group StopMode::Shutdown,
            Ok(true) => match *stop_seen.borrow_and_update() {
                StopMode::Running => {}
                mode => break 'group mode,
            },
            Ok(false) => {}
        }
        let woke = tokio::select! {
            biased;
            item = feeds.recv() => Woke::Media(item),
            mode = &mut stopped => break 'group mode,
            (rx, got) = &mut notice => Woke::Notice(rx, got),
        };
        let first = match woke {
            Woke::Media(item) => item,
            Woke::Notice(rx, got) => {
                notice.set(next_notice(rx));
                match got {
                    Ok(StreamNotice::Created { name, .. }) => {
                        if let Some(i) = inputs.iter().position(|x| x.name == name && !x.subscribed)
                        {
                            subscribe(&ctx, &writer, &mut inputs[i], i, &mut feeds).await;
                        }
                    }
                    Ok(StreamNotice::Closed { .. }) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        for (i, input) in inputs.iter_mut().enumerate() {
                            if !input.subscribed {
                                subscribe(&ctx, &writer, input, i, &mut feeds).await;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break 'group StopMode::Shutdown,
                }
                continue 'group;
            }
        };
        // What queued up meanwhile is taken without going back to the loop's top (where the
        // stop's version is read); a stop waits for at most DRAIN items.
        let mut next = Some(first);
        let mut taken = 0;
        while let Some((i, delivered)) = next {
            let arrival = delivered.as_ref().map_or_else(Instant::now, |d| d.at);
            let source_ended = delivered.is_none();
            if let Some(Delivered {
                item: StreamItem::Track(info),
                ..
            }) = &delivered
            {
                writer.note_track(i, info);
            }
            if let Err(e) = handle(
                &ctx,
                &mut presentation,
                &mut inputs,
                i,
                delivered.map(|d| d.item),
            ) {
                crate::metrics::get().error(crate::metrics::ErrorKind::Packaging);
                if e != last_error {
                    tracing::error!(group = %ctx.params.group_name, "{e}");
                    last_error = e;
                }
            }
            let outputs: Vec<Output> = std::iter::from_fn(|| presentation.poll_output()).collect();
            // A pushed presentation writes no manifest (the push says where it goes).
            if !live_announced && !ctx.params.pushes() {
                if let Some(Output::WriteManifest { path, .. }) = outputs
                    .iter()
                    .find(|o| matches!(o, Output::WriteManifest { .. }))
                {
                    live_announced = true;
                    tracing::info!(target: crate::NOTICE, "presentation live: {}", ctx.group_dir.join(path).display());
                }
            }
            let levels: Vec<Option<LevelId>> = inputs.iter().map(|x| x.level).collect();
            writer.write(outputs, arrival, &levels).await;
            let closing = !ctx.params.keep_alive
                && inputs.iter().all(|x| !x.subscribed)
                && inputs.iter().any(|x| x.level.is_some());
            if closing {
                // Without keepAlive the presentation ends with its sources: closed as VOD.
                if let Err(e) = presentation.finish() {
                    tracing::warn!(group = %ctx.params.group_name, "closing: {e}");
                }
                let outputs: Vec<Output> =
                    std::iter::from_fn(|| presentation.poll_output()).collect();
                writer.write(outputs, Instant::now(), &levels).await;
            }
            if source_ended {
                // After the source's last fragments, which the writer has queued.
                writer
                    .emit_after(
                        EventType::OutStreamClosed,
                        out_stream_payload(&ctx, &inputs[i]),
                    )
                    .await;
            }
            if closing {
                break 'group StopMode::Running;
            }
            taken += 1;
            next = if taken < DRAIN {
                feeds.try_recv()
            } else {
                None
            };
        }
    };
    for input in inputs.iter().filter(|x| x.subscribed) {
        writer
            .emit_after(EventType::OutStreamClosed, out_stream_payload(&ctx, input))
            .await;
    }
    tracing::info!(?stop, "group stopped");
    // Everything decided so far reaches the disk before files are deleted or the task ends.
    // A server shutdown leaves a pushed stream open-ended, as an encoder crash would: the
    // publishing point waits for the restarted server to continue it.
    writer.close(stop != StopMode::Shutdown).await;
    if let StopMode::Remove { delete_files: true } = stop {
        let dir = ctx.params.own_folder(&ctx.group_dir);
        // Checked again now: a link put in place since the config was created must not
        // lead the deletion out of the allowed roots.
        if ctx.manager.confined(&dir).is_ok() {
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        } else {
            tracing::warn!(folder = %dir.display(), "files not removed: the folder now leads outside the allowed roots");
        }
    }
}

/// What woke a group's task: media of an input (or its end), or a notice of the streams.
enum Woke {
    Media((usize, Option<Delivered>)),
    Notice(
        broadcast::Receiver<StreamNotice>,
        Result<StreamNotice, broadcast::error::RecvError>,
    ),
}

/// Resolves once the group is asked to stop (or its config went away: the server stops).
async fn stop_requested(mut stop: watch::Receiver<StopMode>) -> StopMode {
    loop {
        if stop.changed().await.is_err() {
            return StopMode::Shutdown;
        }
        let mode = *stop.borrow_and_update();
        if mode != StopMode::Running {
            return mode;
        }
    }
}

/// The next notice, with the receiver to wait for the one after (owned, so the wait can
/// outlive one turn of the group's loop).
async fn next_notice(
    mut rx: broadcast::Receiver<StreamNotice>,
) -> (
    broadcast::Receiver<StreamNotice>,
    Result<StreamNotice, broadcast::error::RecvError>,
) {
    let got = rx.recv().await;
    (rx, got)
}

/// The newest fragments of each folder are read whole at a resume: the look-ahead among them
/// is rewritten as new fragments follow. Older ones are read only as far as their `moof`
/// (16 bytes a sample: 64 KiB holds 4,000 samples, far more than a fragment has), so a long
/// appending presentation resumes without reading its media.
const RESUME_WHOLE_FILES: usize = 8;
const RESUME_HEAD_BYTES: u64 = 64 * 1024;

/// Continues the presentation an earlier run of this config left in the group folder (it
/// may have been killed mid-write), before any new media.
async fn resume(ctx: &GroupContext, p: &mut Presentation, writer: &Writer) {
    let group = ctx.params.group_name.clone();
    let dir = ctx.group_dir.clone();
    let manifest = p.options().layout.manifest_path(&p.options().manifest_name);
    // Audio bitrates are measured from the media: the last manifest says which folders the
    // earlier run's audio went to.
    let path = dir.join(&manifest);
    let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(path)).await;
    let old = read.ok().and_then(Result::ok);
    if let Some(m) = old.and_then(|xml| smoothcast_core::manifest::parse(&xml).ok()) {
        p.adopt_audio_bitrates(&m);
    }
    let folders = p.fragment_folders();
    let started = Instant::now();
    let read = tokio::task::spawn_blocking(move || read_previous(&dir, &manifest, &folders));
    let Ok((manifest, files)) = read.await else {
        tracing::warn!(%group, "reading the previous presentation failed; starting afresh");
        return;
    };
    match p.resume(manifest, files) {
        Ok(r) => {
            for path in &r.removed {
                tracing::warn!(%group, %path, "removing a fragment cut short by the last stop");
            }
            tracing::info!(
                %group,
                fragments = r.fragments,
                ignored = r.ignored.len(),
                resume_at = ?r.resume_at,
                ms = started.elapsed().as_millis() as u64,
                "resumed the presentation"
            );
        }
        Err(e) => tracing::warn!(%group, "cannot resume: {e}"),
    }
    let outputs: Vec<Output> = std::iter::from_fn(|| p.poll_output()).collect();
    writer.write(outputs, Instant::now()).await;
}

/// The manifest the last run wrote (if it parses) and every fragment file in `folders`;
/// temporary files of writes that a kill interrupted are deleted.
fn read_previous(
    dir: &std::path::Path,
    manifest: &str,
    folders: &[String],
) -> (Option<String>, Vec<StoredFragment>) {
    let manifest_path = dir.join(manifest);
    if let Some(parent) = manifest_path.parent() {
        remove_stale_temporaries(parent);
    }
    let manifest = std::fs::read_to_string(&manifest_path).ok().filter(|xml| {
        match smoothcast_core::manifest::parse(xml) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(path = %manifest_path.display(), "previous manifest ignored: {e}");
                false
            }
        }
    });
    let mut files = Vec::new();
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_stale_temporary(&name) {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(t) = Layout::fragment_time(&name) else {
                continue;
            };
            match entry.metadata() {
                Ok(m) if m.is_file() => found.push((t, name, entry.path(), m.len())),
                _ => {}
            }
        }
        found.sort_by_key(|f| f.0);
        let n = found.len();
        for (i, (_, name, path, len)) in found.into_iter().enumerate() {
            let limit = match i + RESUME_WHOLE_FILES >= n {
                true => len,
                false => len.min(RESUME_HEAD_BYTES),
            };
            let mut data = Vec::new();
            let read = std::fs::File::open(&path).and_then(|f| {
                std::io::Read::read_to_end(&mut std::io::Read::take(f, limit), &mut data)
            });
            match read {
                Ok(_) => files.push(StoredFragment {
                    path: format!("{folder}{name}"),
                    len,
                    data,
                }),
                Err(e) => tracing::warn!(path = %path.display(), "cannot read: {e}"),
            }
        }
    }
    (manifest, files)
}

/// `disk::write_atomic`'s temporary files (`.NAME.PID.tmp`): left only by a killed run.
fn is_stale_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

fn remove_stale_temporaries(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if is_stale_temporary(&entry.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Subscribes to an input's stream if it exists: the group reads its media from now on.
async fn subscribe(
    ctx: &GroupContext,
    writer: &Sink,
    input: &mut Input,
    index: usize,
    feeds: &mut Feeds,
) {
    let Some(rx) = ctx.streams.subscribe(&input.name) else {
        return;
    };
    input.subscribed = true;
    let unique = ctx.streams.get(&input.name).map_or(0, |s| s.unique_id);
    input.stream_id = unique;
    ctx.manager
        .set_status(input.config_id, ConfigStatus::Streaming, unique);
    tracing::info!(stream = %input.name, config_id = input.config_id, "packaging stream");
    // Through the writer, so it follows an earlier outStreamClosed of the same input.
    writer
        .emit_after(EventType::OutStreamCreated, out_stream_payload(ctx, input))
        .await;
    feeds.attach(index, rx);
}

fn handle(
    ctx: &GroupContext,
    p: &mut Presentation,
    inputs: &mut [Input],
    i: usize,
    item: Option<StreamItem>,
) -> Result<(), String> {
    let Some(item) = item else {
        let input = &mut inputs[i];
        input.subscribed = false;
        ctx.manager
            .set_status(input.config_id, ConfigStatus::Disconnected, 0);
        match input.level {
            Some(level) => {
                input.ended = true;
                // Its source may come back while the presentation goes on: keepAlive, or
                // another input still live. Otherwise this is the end (closed as VOD).
                let goes_on = ctx.params.keep_alive || inputs.iter().any(|x| x.subscribed);
                match goes_on {
                    true => p.lose_level(level),
                    false => p.finish_level(level),
                }
                .map_err(|e| e.to_string())?;
            }
            // Ended while still measuring: package what there is.
            None if !input.held.is_empty() => start_level(ctx, p, inputs, i, true)?,
            None => {}
        }
        return Ok(());
    };
    let input = &mut inputs[i];
    if let (Some(level), true) = (input.level, input.ended) {
        input.ended = false;
        p.restart_level(level).map_err(|e| e.to_string())?;
    }
    match input.level {
        Some(level) => feed(p, level, item),
        None => {
            input.held.push(item);
            if input.bandwidth != 0 || measured_enough(&input.held) {
                start_level(ctx, p, inputs, i, false)?;
            }
            Ok(())
        }
    }
}

fn feed(p: &mut Presentation, level: LevelId, item: StreamItem) -> Result<(), String> {
    let r = match item {
        // New, changed or a further language: the presentation tells them apart.
        StreamItem::Track(info) => p.add_track(level, info),
        StreamItem::Sample(s) => p.push_sample(level, s),
    };
    r.map_err(|e| e.to_string())
}

/// Adds the input's quality level (measuring its bitrate from the held media if it has
/// none) and replays what was held.
fn start_level(
    ctx: &GroupContext,
    p: &mut Presentation,
    inputs: &mut [Input],
    i: usize,
    force: bool,
) -> Result<(), String> {
    let taken: Vec<u32> = inputs
        .iter()
        .filter(|x| x.level.is_some())
        .map(|x| x.bandwidth)
        .collect();
    let input = &mut inputs[i];
    if input.bandwidth == 0 {
        let mut b = measure(&input.held).unwrap_or(if force { 1_000 } else { 0 });
        if b == 0 {
            return Ok(());
        }
        while taken.contains(&b) {
            b += 1_000;
        }
        input.bandwidth = b;
        ctx.manager.set_bandwidth(input.config_id, b);
    }
    let level = p
        .add_quality_level(&input.name, input.bandwidth)
        .map_err(|e| e.to_string())?;
    input.level = Some(level);
    for item in std::mem::take(&mut input.held) {
        feed(p, level, item)?;
    }
    Ok(())
}

fn measured_enough(held: &[StreamItem]) -> bool {
    held.len() >= MEASURE_MAX_ITEMS
        || measure::window_seconds(as_held(held)).is_some_and(|s| s >= MEASURE_SECONDS)
}

/// The level's bitrate from the held items, measured by the core.
fn measure(held: &[StreamItem]) -> Option<u32> {
    measure::window_bitrate(as_held(held))
}

fn as_held(held: &[StreamItem]) -> impl Iterator<Item = Held<'_>> + Clone {
    held.iter().map(|i| match i {
        StreamItem::Track(t) => Held::Track(t),
        StreamItem::Sample(s) => Held::Sample(s),
    })
}

/// What outStreamCreated/Closed carry: the config entry and the local stream it packages.
fn out_stream_payload(ctx: &GroupContext, input: &Input) -> serde_json::Value {
    serde_json::json!({
        "name": input.name,
        "uniqueId": input.stream_id,
        "type": "OFMSS",
        "configId": input.config_id,
        "groupName": ctx.params.group_name,
        "targetFolder": ctx.group_dir.display().to_string(),
        "bandwidth": input.bandwidth,
    })
}
