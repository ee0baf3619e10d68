// The demo page: package a file in the browser, show what came out, play it from memory.
import { packageFile } from './smoothcast/web.js';
import { zip } from './zip.js';

const $ = (id) => document.getElementById(id);
const ui = {
  file: $('file'), drop: $('drop'), chunkLength: $('chunk-length'),
  progressBox: $('progress-box'), progress: $('progress'), progressText: $('progress-text'),
  error: $('error'), result: $('result'), title: $('result-title'), stats: $('result-stats'),
  download: $('download'), video: $('video'), levels: $('levels').tBodies[0],
  fragments: $('fragments').tBodies[0], manifest: $('manifest'), manifestPath: $('manifest-path'),
};

// What the page exposes to its test (and to the curious, from the console).
const page = { state: 'idle', error: null, playerErrors: [], fragments: [], manifest: null, memoryBase: null };
window.smoothcastPage = page;

let current = null;   // { id, name, files: Map }: the presentation the service worker serves
let serial = 0;
let player = null;

// ---------- serving the in-memory presentation to the player ----------

const swReady = (async () => {
  if (!('serviceWorker' in navigator)) throw new Error('this browser has no service workers');
  await navigator.serviceWorker.register('memory-sw.js');
  await navigator.serviceWorker.ready;
  // The first visit is not controlled until the worker claims the page.
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
})();
swReady.catch(() => {});

navigator.serviceWorker?.addEventListener('message', (event) => {
  const { type, path } = event.data || {};
  const port = event.ports[0];
  if (type !== 'smoothcast-get' || !port) return;
  const slash = path.indexOf('/');
  const id = Number(path.slice(0, slash));
  const data = current && current.id === id ? current.files.get(path.slice(slash + 1)) : undefined;
  if (!data) return port.postMessage({ status: 404 });
  const contentType = path.endsWith('.ismc') ? 'application/vnd.ms-sstr+xml' : 'video/mp4';
  port.postMessage({ status: 200, body: data, contentType });
});

// ---------- choosing a file ----------

ui.file.addEventListener('change', () => {
  const f = ui.file.files[0];
  ui.file.value = '';   // so choosing the same file again still fires 'change'
  if (f) run(f, f.name);
});
for (const type of ['dragenter', 'dragover']) {
  ui.drop.addEventListener(type, (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
}
for (const type of ['dragleave', 'drop']) {
  ui.drop.addEventListener(type, () => ui.drop.classList.remove('over'));
}
ui.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  const f = e.dataTransfer.files[0];
  if (f) run(f, f.name);
});
for (const button of document.querySelectorAll('button.clip')) {
  button.addEventListener('click', async () => {
    const src = button.dataset.src;
    try {
      const res = await fetch(src);
      if (!res.ok) throw new Error(`${src}: HTTP ${res.status}`);
      run(await res.blob(), src.split('/').pop());
    } catch (e) {
      showError(e);
    }
  });
}
ui.download.addEventListener('click', () => {
  if (!current) return;
  const folder = current.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'presentation';
  const blob = zip([...current.files].map(([p, data]) => [`${folder}/${p}`, data]));
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${folder}.zip`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

// ---------- packaging ----------

async function run(blob, name) {
  if (page.state === 'packaging') return;
  setState('packaging');
  stopPlayer();
  current = null;
  ui.error.hidden = true;
  ui.result.hidden = true;
  ui.progressBox.hidden = false;
  setProgress(0, 'Reading…');
  const started = performance.now();
  try {
    const chunkLength = Number(ui.chunkLength.value) || 2;
    const result = await packageFile({ blob, name }, {
      chunkLength,
      onProgress: ({ phase, offset, size }) => {
        const f = size ? Math.min(offset / size, 1) : 1;
        setProgress(f, `${phase === 'measure' ? 'Measuring the bitrate' : 'Packaging'}… ${Math.round(f * 100)} %`);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    current = { id: ++serial, name, files: result.files };
    setProgress(1, `Done in ${seconds.toFixed(2)} s`);
    page.memoryBase = `memory/${current.id}/`;
    render(name, blob.size, result, seconds);
    setState('done');
    play(page.memoryBase + result.manifest.path);
  } catch (e) {
    ui.progressBox.hidden = true;
    showError(e);
  }
}

function setState(state) {
  page.state = state;
  document.body.dataset.state = state;
  const busy = state === 'packaging';
  ui.file.disabled = busy;
  ui.chunkLength.disabled = busy;
  for (const b of document.querySelectorAll('button.clip')) b.disabled = busy;
}

function setProgress(value, text) {
  ui.progress.value = value;
  ui.progressText.textContent = text;
}

function showError(e) {
  const kind = e && e.kind ? ` (${e.kind})` : '';
  page.error = { kind: e?.kind ?? null, message: String(e?.message ?? e) };
  ui.error.textContent = `Could not package this file${kind}: ${page.error.message}`;
  ui.error.hidden = false;
  setState('error');
}

// ---------- showing the result ----------

const seconds = (ticks) => (ticks / 1e7).toFixed(3);
const kib = (n) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(2)} MiB`);

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function render(name, inputSize, result, took) {
  const { manifest, fragments, files } = result;
  page.fragments = fragments;
  page.manifest = manifest;
  const total = [...files.values()].reduce((n, d) => n + d.length, 0);
  const xml = new DOMParser().parseFromString(manifest.xml, 'application/xml');
  const root = xml.documentElement;
  const duration = Number(root.getAttribute('Duration')) / Number(root.getAttribute('TimeScale') || 1e7);

  ui.title.textContent = name;
  ui.stats.textContent = `${duration.toFixed(2)} s of media, ${fragments.length} fragments, `
    + `${kib(total)} from ${kib(inputSize)} in ${took.toFixed(2)} s`;

  ui.levels.replaceChildren();
  for (const index of root.getElementsByTagName('StreamIndex')) {
    for (const q of index.getElementsByTagName('QualityLevel')) {
      const row = ui.levels.insertRow();
      const a = (k) => q.getAttribute(k);
      cell(row, index.getAttribute('Type'));
      cell(row, `${(Number(a('Bitrate')) / 1000).toFixed(0)} kbit/s`, 'num');
      cell(row, a('FourCC'));
      cell(row, a('MaxWidth') ? `${a('MaxWidth')}×${a('MaxHeight')}` : `${a('SamplingRate')} Hz, ${a('Channels')} ch`);
      cell(row, index.getAttribute('Chunks'), 'num');
    }
  }

  ui.fragments.replaceChildren();
  for (const f of fragments) {
    const row = ui.fragments.insertRow();
    Object.assign(row.dataset, { path: f.path, start: f.start, duration: f.duration, size: f.size });
    cell(row, f.kind);
    cell(row, `${(f.bitrate / 1000).toFixed(0)} kbit/s`, 'num');
    cell(row, seconds(f.start), 'num');
    cell(row, seconds(f.duration), 'num');
    cell(row, kib(f.size), 'num');
    cell(row, f.path, 'path');
  }

  ui.manifestPath.textContent = manifest.path;
  ui.manifest.textContent = manifest.xml;
  ui.result.hidden = false;
}

// ---------- playing ----------

function stopPlayer() {
  if (player) {
    player.reset();
    player = null;
  }
  page.playerErrors = [];
}

async function play(url) {
  try {
    await swReady;
  } catch (e) {
    page.playerErrors.push(`no in-memory playback: ${e.message}`);
    return;
  }
  if (typeof dashjs === 'undefined' || typeof dashjs.MssHandler !== 'function') {
    page.playerErrors.push('dash.js or its MSS module did not load');
    return;
  }
  player = dashjs.MediaPlayer().create();
  player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
  player.on(dashjs.MediaPlayer.events.ERROR, (e) => {
    const err = e.error;
    page.playerErrors.push(err && typeof err === 'object' ? `${err.code}: ${err.message}` : String(err));
  });
  player.initialize(ui.video, url, true);
}
