#!/usr/bin/env node
// Plays one Smooth Streaming (or DASH) presentation in headless Chromium with dash.js and
// prints ONE JSON line describing what happened. Exit 0 only if playback met the checks.
//
//   node play.mjs --root DIR --manifest REL [options]   serve DIR ourselves
//   node play.mjs --url URL [options]                    play from another server (needs CORS)
//   node play.mjs --page URL [options]                   open another player page (the
//                                                        server's own, which loads its own
//                                                        dash.js) and watch its <video>
//
// Options: --seconds N (max wall time playing, 20)  --min-time T (currentTime to reach, 10)
//          --expect-levels K  --live  --screenshot FILE  --port P (0 = random)
//          --clearkey KID:KEY (base64url; protected presentations: the page sets up
//          ClearKey and the key must become usable)
//          --audio-only (no video expected: decoded audio instead)  --text (show subtitles)
//          --switch-audio LANG (switch to that audio track after 3 s of playback)
//          --player rx (rx-player instead of dash.js; the npm package, bundled with esbuild)
//          --start-after S (launch the browser now, open the player S seconds later)
//
// Exit codes: 0 ok, 1 playback checks failed, 2 usage or harness error, 3 hard timeout.
// See README.md next to this file.

import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DASHJS_DIR = path.join(HERE, 'node_modules', 'dashjs', 'dist', 'modern', 'umd');
const CHROMIUM = process.env.SMOOTHCAST_CHROMIUM || '/usr/bin/chromium';
// Everything the harness itself serves lives under this prefix, so it cannot collide with
// a packager's output tree (which is served from "/").
const PREFIX = '/_player/';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio',
];
const POLL_MS = 250;
const SAMPLE_MS = 500;
const STARTUP_BUDGET_MS = 60_000; // browser launch + page load, on top of --seconds
const END_SLACK = 0.6;            // dash.js 5.2.1 may stall ~0.5 s before the VOD end

// ---------- result printing: exactly one JSON line, whatever happens ----------

const result = { ok: false, reason: 'not started' };
let printed = false;
function finish(code, patch = {}) {
  if (!printed) {
    printed = true;
    Object.assign(result, patch);
    process.stdout.write(JSON.stringify(result) + '\n');
  }
  process.exitCode = code;
  return code;
}

// ---------- arguments ----------

function parseArgs(argv) {
  const o = { seconds: 20, minTime: 10, port: 0, live: false, startAfter: 0 };
  const need = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  const num = (flag, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a non-negative number: ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--root': o.root = need(i); i++; break;
      case '--manifest': o.manifest = need(i); i++; break;
      case '--url': o.url = need(i); i++; break;
      case '--page': o.page = need(i); i++; break;
      case '--seconds': o.seconds = num(a, need(i)); i++; break;
      case '--min-time': o.minTime = num(a, need(i)); i++; break;
      case '--expect-levels': o.expectLevels = Math.trunc(num(a, need(i))); i++; break;
      case '--screenshot': o.screenshot = need(i); i++; break;
      case '--port': o.port = Math.trunc(num(a, need(i))); i++; break;
      case '--live': o.live = true; break;
      case '--audio-only': o.audioOnly = true; break;
      case '--text': o.text = true; break;
      case '--switch-audio': o.switchAudio = need(i); i++; break;
      case '--player': o.player = need(i); i++; break;
      case '--trust-spki': o.trustSpki = need(i); i++; break;
      case '--clearkey': o.clearkey = need(i); i++; break;
      case '--start-after': o.startAfter = num(a, need(i)); i++; break;
      default: throw new Error(`unknown argument: ${a}`);
    }
  }
  if (o.player !== undefined && o.player !== 'rx' && o.player !== 'dashjs') throw new Error(`--player: dashjs or rx, not ${o.player}`);
  if (o.page && (o.url || o.root || o.manifest)) throw new Error('--page stands alone');
  if (o.url && (o.root || o.manifest)) throw new Error('use either --url or --root/--manifest');
  if (!o.page && !o.url && !(o.root && o.manifest)) throw new Error('need --root DIR --manifest REL, --url URL or --page URL');
  if (o.root) {
    o.root = fs.realpathSync(o.root); // throws a clear error if missing
    if (!fs.statSync(o.root).isDirectory()) throw new Error(`--root is not a directory: ${o.root}`);
  }
  return o;
}

// ---------- static server ----------

function contentType(p) {
  const lower = p.toLowerCase();
  if (lower.endsWith('.ismc') || lower.endsWith('/manifest')) return 'application/vnd.ms-sstr+xml';
  // IIS-style fragment URLs have no extension: .../QualityLevels(b)/Fragments(video=t)
  if (/\/fragments\([^/]*\)$/.test(lower)) return 'video/mp4';
  const ext = path.extname(lower);
  return {
    '.fmp4': 'video/mp4', '.m4s': 'video/mp4', '.ismv': 'video/mp4', '.isma': 'video/mp4',
    '.mp4': 'video/mp4', '.m4v': 'video/mp4', '.m4a': 'audio/mp4', '.ts': 'video/mp2t',
    '.mpd': 'application/dash+xml', '.m3u8': 'application/vnd.apple.mpegurl',
    '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
    '.json': 'application/json', '.xml': 'application/xml', '.txt': 'text/plain; charset=utf-8',
  }[ext] || 'application/octet-stream';
}

// Maps a URL path to a file under `base`, or null if it could escape it. Rejecting any ".."
// segment outright (instead of normalising it away) keeps the rule obvious.
function safeJoin(base, urlPath) {
  let decoded;
  try { decoded = decodeURIComponent(urlPath); } catch { return null; }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segs = decoded.split('/').filter(s => s !== '' && s !== '.');
  if (segs.some(s => s === '..')) return null;
  const full = path.join(base, ...segs);
  if (full !== base && !full.startsWith(base + path.sep)) return null;
  // Symlinks inside the root must not lead outside it either.
  try {
    const real = fs.realpathSync(full);
    if (real !== base && !real.startsWith(base + path.sep)) return null;
  } catch { /* missing: the caller answers 404 */ }
  return full;
}

// rx-player ships ES modules whose imports name files without extensions, which browsers
// cannot load as they are: bundle them once into one script (cached beside the package).
async function rxPlayerBundle() {
  const out = path.join(HERE, 'node_modules', '.cache', 'smoothcast', 'rx-player-4.5.0.js');
  if (fs.existsSync(out)) return out;
  const esbuild = await import('esbuild');
  const tmp = `${out}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [path.join(HERE, 'node_modules', 'rx-player', 'dist', 'es2017', 'index.js')],
    bundle: true, format: 'iife', globalName: 'RxPlayerModule', minify: true,
    outfile: tmp, logLevel: 'error',
  });
  fs.renameSync(tmp, out);
  return out;
}

function startServer(opts) {
  const pageFiles = {
    'index.html': path.join(HERE, 'page', 'index.html'),
    'rx.html': path.join(HERE, 'page', 'rx.html'),
    'harness.js': path.join(HERE, 'page', 'harness.js'),
    'dash.all.min.js': path.join(DASHJS_DIR, 'dash.all.min.js'),
    'dash.mss.min.js': path.join(DASHJS_DIR, 'dash.mss.min.js'),
  };
  if (opts.rxBundle) pageFiles['rx-player.js'] = opts.rxBundle;
  const server = http.createServer((req, res) => {
    // Date on every reply: dash.js's http-head clock reads it. CORS so the same page could
    // also be pointed at this server from elsewhere. no-store: live manifests change.
    res.setHeader('Date', new Date().toUTCString());
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Date, Content-Length, Content-Range');
    res.setHeader('Cache-Control', 'no-store');
    const send = (status, body = '') => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', '*');
      return send(204);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    const urlPath = (req.url || '/').split('?')[0];

    let file;
    if (urlPath === PREFIX + 'time') return send(200, new Date().toISOString() + '\n');
    if (urlPath.startsWith(PREFIX)) {
      file = pageFiles[urlPath.slice(PREFIX.length)];
    } else if (opts.root) {
      file = safeJoin(opts.root, urlPath);
      if (file === null) return send(403, 'forbidden\n');
    }
    if (!file) return send(404, 'not found\n');
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return send(404, 'not found\n');
      serveFile(req, res, file, st.size);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve(server));
  });
}

// Serves a file, honouring a single "bytes=a-b" range (DASH SegmentBase players use them).
function serveFile(req, res, file, size) {
  const headers = { 'Content-Type': contentType(file), 'Accept-Ranges': 'bytes' };
  let start = 0, end = size - 1, status = 200;
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
  if (m && (m[1] || m[2])) {
    if (m[1]) { start = Number(m[1]); end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1; }
    else { start = Math.max(0, size - Number(m[2])); }
    if (start > end || start >= size) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` });
      return res.end();
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) return res.end();
  fs.createReadStream(file, { start, end }).on('error', () => res.destroy()).pipe(res);
}

// ---------- checks ----------

// Returns the list of failed checks (empty = ok). `s` is the last snapshot.
function evaluate(opts, s, samples) {
  const fails = [];
  if (s.errors.length) {
    fails.push('player error: ' + s.errors.map(e => `${e.source} ${e.code}: ${e.message}`).join(' | '));
  }
  if (opts.clearkey && s.keyStatus !== 'usable') fails.push(`ClearKey key status ${s.keyStatus}, not usable`);
  if (opts.audioOnly) {
    if (!(s.audioDecodedBytes > 0)) fails.push('no decoded audio');
  } else if (!(s.videoWidth > 0)) fails.push('no decoded video (videoWidth is 0)');
  if (opts.switchAudio && !s.switched) fails.push(`never switched audio to ${opts.switchAudio}`);
  if (opts.expectLevels !== undefined && s.videoLevels.length !== opts.expectLevels) {
    fails.push(`expected ${opts.expectLevels} video levels, dash.js lists ${s.videoLevels.length}`);
  }
  if (s.dynamic !== null && s.dynamic !== opts.live) {
    fails.push(opts.live ? 'expected a live presentation, dash.js sees VOD' : 'expected VOD, dash.js sees a live presentation');
  }
  if (!opts.live) {
    const nearEnd = s.duration !== null && s.currentTime >= s.duration - END_SLACK;
    if (!(s.currentTime >= opts.minTime || nearEnd)) {
      fails.push(`currentTime ${s.currentTime.toFixed(2)} < min-time ${opts.minTime}` +
        (s.duration !== null ? ` and not at the end (duration ${s.duration.toFixed(2)})` : ''));
    }
  } else {
    // Live: measure from the first 'playing' event, since live currentTime is not 0-based.
    if (!s.playing) {
      fails.push('live: never started playing');
    } else {
      const played = s.currentTime - s.playing.ct;
      const wall = s.t - s.playing.t;
      if (played < opts.minTime) fails.push(`live: played ${played.toFixed(2)} s < min-time ${opts.minTime}`);
      if (played < 0.5 * wall) fails.push(`live: played ${played.toFixed(2)} s in ${wall.toFixed(2)} s of wall time`);
      // No stall at the end: currentTime must have moved during the last 3 s of samples.
      const last = samples[samples.length - 1];
      const before = [...samples].reverse().find(([t]) => t <= last[0] - 3);
      if (before && last[1] - before[1] < 1) fails.push(`live: stalled at currentTime ${last[1]}`);
    }
  }
  return fails;
}

// ---------- another player page (--page) ----------

// Runs inside a page that is not ours: the same snapshot as page/index.html gives, read
// from the page's first <video> and its #errors text (the built-in player's error box).
function watchForeignPage() {
  const video = document.querySelector('video');
  const state = { playing: null, ended: false };
  const now = () => performance.now() / 1000;
  if (video && !video.paused && video.currentTime > 0) state.playing = { ct: video.currentTime, t: now() };
  video?.addEventListener('playing', () => { if (!state.playing) state.playing = { ct: video.currentTime, t: now() }; });
  video?.addEventListener('ended', () => { state.ended = true; });
  window.harness = {
    snapshot() {
      const q = video?.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      const text = (document.getElementById('errors')?.textContent || '').trim();
      const errors = text ? text.split('\n').map(m => ({ source: 'page', code: null, message: m })) : [];
      if (!video) errors.push({ source: 'page', code: 'NO_VIDEO', message: 'no <video> on the page' });
      return {
        t: now(),
        currentTime: video ? video.currentTime : 0,
        duration: video && Number.isFinite(video.duration) ? video.duration : null,
        paused: video ? video.paused : true,
        readyState: video ? video.readyState : 0,
        videoWidth: video ? video.videoWidth : 0,
        videoHeight: video ? video.videoHeight : 0,
        totalVideoFrames: q ? q.totalVideoFrames : null,
        droppedVideoFrames: q ? q.droppedVideoFrames : null,
        dynamic: null,
        videoLevels: [],
        audioLevels: [],
        dashjsVersion: typeof dashjs !== 'undefined' && dashjs.Version ? dashjs.Version : null,
        errors,
        ...state,
      };
    },
  };
}

// ---------- main ----------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    return finish(2, { reason: `usage: ${e.message}` });
  }
  result.mode = opts.live ? 'live' : 'vod';

  let server, context, userDataDir;
  const cleanup = async () => {
    if (context) await Promise.race([context.close().catch(() => {}), sleep(5000)]);
    context = null;
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    userDataDir = null;
    if (server) { server.closeAllConnections?.(); server.close(); }
    server = null;
  };
  // Hard bound on everything; playwright kills its browser when this process exits.
  const hard = setTimeout(async () => {
    finish(3, { ok: false, reason: 'hard timeout' });
    await Promise.race([cleanup(), sleep(5000)]);
    process.exit(3);
  }, (opts.seconds + opts.startAfter) * 1000 + STARTUP_BUDGET_MS);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, async () => { finish(2, { reason: `killed by ${sig}` }); await cleanup(); process.exit(2); });
  }

  try {
    for (const f of [path.join(DASHJS_DIR, 'dash.all.min.js'), path.join(DASHJS_DIR, 'dash.mss.min.js'), CHROMIUM]) {
      if (!fs.existsSync(f)) throw new Error(`missing ${f} (run npm ci in tests/player; install chromium)`);
    }
    const { chromium } = await import('playwright-core');

    let manifestUrl, pageUrl;
    if (opts.page) {
      manifestUrl = null;
      pageUrl = opts.page;
    } else {
      if (opts.player === 'rx') opts.rxBundle = await rxPlayerBundle();
      server = await startServer(opts);
      const origin = `http://127.0.0.1:${server.address().port}`;
      manifestUrl = opts.url || origin + '/' + opts.manifest.split('/').map(encodeURIComponent).join('/');
      const query = { manifest: manifestUrl, clock: `${origin}${PREFIX}time` };
      if (opts.clearkey) query.clearkey = opts.clearkey;
      if (opts.text) query.text = '1';
      if (opts.switchAudio) query.switchAudio = opts.switchAudio;
      const page = opts.player === 'rx' ? 'rx.html' : 'index.html';
      pageUrl = `${origin}${PREFIX}${page}?` + new URLSearchParams(query);
    }
    Object.assign(result, { manifest_url: manifestUrl, page_url: pageUrl });

    const launchedAt = Date.now();
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'smoothcast-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true,
      // Trusts exactly one server key (HTTPS tests), not every certificate.
      args: opts.trustSpki ? [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${opts.trustSpki}`] : CHROMIUM_ARGS,
      viewport: { width: 660, height: 380 },
    });
    const page = context.pages()[0] || await context.newPage();

    const consoleErrors = [];
    const httpErrors = [];
    const cap = (arr, v) => { if (arr.length < 20) arr.push(v); };
    page.on('console', m => { if (m.type() === 'error') cap(consoleErrors, m.text().slice(0, 500)); });
    page.on('pageerror', e => cap(consoleErrors, `pageerror: ${String(e.message).slice(0, 500)}`));
    page.on('response', r => { if (r.status() >= 400) cap(httpErrors, { url: r.url(), status: r.status() }); });
    page.on('requestfailed', r => cap(httpErrors, { url: r.url(), status: null, failure: r.failure()?.errorText ?? null }));
    // Media requests in order, with the page's media time when made: which stream (audio
    // language, text) was fetched before and after a switch.
    const requests = [];
    const started = Date.now();
    page.on('request', r => {
      const u = r.url();
      if (requests.length < 2000 && !u.includes(PREFIX) && !/manifest|\.ismc/i.test(u)) {
        requests.push([Date.now() - started, decodeURIComponent(new URL(u).pathname)]);
      }
    });

    // A viewer arriving while a benchmark is under way: the browser's launch (seconds of
    // both cores on a small machine) happens before the load, the playback during it.
    const startAt = launchedAt + opts.startAfter * 1000;
    if (Date.now() < startAt) await sleep(startAt - Date.now());
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 30_000 });
    if (opts.page) await page.evaluate(watchForeignPage);

    const samples = [];       // [page time since start (s), currentTime]
    let snap = await page.evaluate(() => window.harness.snapshot());
    const t0 = snap.t;
    const deadline = Date.now() + opts.seconds * 1000;
    let lastSample = -Infinity;
    for (;;) {
      snap = await page.evaluate(() => window.harness.snapshot());
      if (Date.now() - lastSample >= SAMPLE_MS) {
        lastSample = Date.now();
        samples.push([round(snap.t - t0), round(snap.currentTime)]);
      }
      if (snap.errors.length) break;
      if (!opts.live && (snap.ended || (snap.duration !== null && snap.currentTime >= snap.duration - END_SLACK))) break;
      if (Date.now() >= deadline) break;
      await sleep(POLL_MS);
    }
    if (samples.length === 0 || samples[samples.length - 1][0] !== round(snap.t - t0)) {
      samples.push([round(snap.t - t0), round(snap.currentTime)]);
    }
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot }).catch(e => cap(consoleErrors, `screenshot: ${e.message}`));
    const userAgent = await page.evaluate(() => navigator.userAgent).catch(() => null);

    const fails = evaluate(opts, snap, samples);
    Object.assign(result, {
      ok: fails.length === 0,
      reason: fails.length ? fails.join('; ') : 'ok',
      current_time: round(snap.currentTime),
      duration: snap.duration === null ? null : round(snap.duration),
      ended: snap.ended,
      dynamic: snap.dynamic,
      played_from: snap.playing ? round(snap.playing.ct) : null,
      video_width: snap.videoWidth,
      video_height: snap.videoHeight,
      total_video_frames: snap.totalVideoFrames,
      dropped_video_frames: snap.droppedVideoFrames,
      video_levels: snap.videoLevels,
      audio_levels: snap.audioLevels,
      audio_decoded_bytes: snap.audioDecodedBytes,
      audio_tracks: snap.audioTracks,
      text_tracks: snap.textTracks,
      captions: snap.captions,
      switched: snap.switched,
      requests,
      errors: snap.errors,
      key_status: snap.keyStatus ?? null,
      waiting_for_key: snap.waitingForKey ?? 0,
      console_errors: consoleErrors,
      http_errors: httpErrors,
      samples,
      elapsed_s: round(snap.t - t0),
      dashjs_version: snap.dashjsVersion,
      rx_player_version: snap.rxPlayerVersion ?? null,
      browser: userAgent,
    });
    await cleanup();
    clearTimeout(hard);
    return finish(result.ok ? 0 : 1);
  } catch (e) {
    await Promise.race([cleanup(), sleep(5000)]);
    clearTimeout(hard);
    return finish(2, { ok: false, reason: `harness error: ${e && e.message ? e.message.split('\n')[0] : e}` });
  }
}

const sleep = (ms) => new Promise(r => setTimeout(r, ms));
const round = (x) => Math.round(x * 1000) / 1000;

main();
