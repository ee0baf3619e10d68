// Smoothcast console: polls /console/state, draws the tables and charts, and acts through the
// API's own commands (GET /<command>?params=<base64 of key=value ...>) on this same origin,
// so the browser sends the credentials it already gave for this page (the API's Basic
// challenge: any user name, the token as password). Nothing here stores the token.
'use strict';
(() => {
  const $ = (sel) => document.querySelector(sel);
  const POLL_MS = 1000;
  const HISTORY = 120; // points per chart (two minutes at one poll a second)

  // ---- the API ----
  const b64 = (text) => {
    let bin = '';
    for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
    return btoa(bin);
  };
  async function api(command, params) {
    const text = Object.entries(params)
      .filter(([, v]) => v !== '' && v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${v}`).join(' ');
    const r = await fetch(`/${command}?params=${encodeURIComponent(b64(text))}`, { cache: 'no-store' });
    let reply;
    try { reply = await r.json(); } catch (e) { reply = { status: 'FAIL', description: `HTTP ${r.status}` }; }
    return reply;
  }
  const action = (msg, ok) => {
    const el = $('#action');
    el.textContent = msg;
    el.className = ok ? 'good' : 'bad';
  };

  // ---- formatting ----
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const bits = (bps) => bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
  const bytes = (n) => n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
  const duration = (ms) => {
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
  };

  // ---- charts: a polyline per canvas, scaled to the largest point shown ----
  const charts = {
    ingest: { canvas: $('#c-ingest'), label: $('#v-ingest'), fmt: bits, points: [] },
    fragments: { canvas: $('#c-fragments'), label: $('#v-fragments'), fmt: (v) => `${v.toFixed(2)} /s`, points: [] },
    delay: { canvas: $('#c-delay'), label: $('#v-delay'), fmt: (v) => `${v.toFixed(1)} ms`, points: [] },
    web: { canvas: $('#c-web'), label: $('#v-web'), fmt: bits, points: [] },
  };
  function plot(chart, value) {
    chart.points.push(value);
    if (chart.points.length > HISTORY) chart.points.shift();
    chart.label.textContent = chart.fmt(value);
    const c = chart.canvas, g = c.getContext('2d');
    const max = Math.max(...chart.points, 1e-9);
    g.clearRect(0, 0, c.width, c.height);
    g.fillStyle = '#8a8f98';
    g.font = '10px system-ui';
    g.fillText(chart.fmt(max), 4, 10);
    g.strokeStyle = '#2a2d33';
    g.beginPath(); g.moveTo(0, c.height - 0.5); g.lineTo(c.width, c.height - 0.5); g.stroke();
    g.strokeStyle = '#6cf';
    g.lineWidth = 1.5;
    g.beginPath();
    chart.points.forEach((v, i) => {
      const x = (i / (HISTORY - 1)) * c.width;
      const y = c.height - 2 - (v / max) * (c.height - 16);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    c.dataset.points = String(chart.points.length);
  }
  // Rates over the last few polls: fragments come every couple of seconds, so a one-poll
  // window would draw a comb of zeros and peaks.
  const WINDOW = 5;
  const recent = [];
  function chartMetrics(m, at) {
    recent.push({ m, at });
    if (recent.length > WINDOW + 1) recent.shift();
    if (recent.length > 1) {
      const previous = recent[0];
      const dt = Math.max((at - previous.at) / 1000, 0.001);
      const p = previous.m;
      plot(charts.ingest, ((m.bytesIn - p.bytesIn) * 8) / dt);
      plot(charts.fragments, (m.fragmentsWritten - p.fragmentsWritten) / dt);
      const n = m.writeDelayCount - p.writeDelayCount;
      plot(charts.delay, n > 0 ? ((m.writeDelaySumSeconds - p.writeDelaySumSeconds) / n) * 1000 : 0);
      plot(charts.web, ((m.webBytes - p.webBytes) * 8) / dt);
    }
  }

  // ---- tables: rebuilt only when their content changed, so a click is never lost ----
  const shown = {};
  function fill(table, rows) {
    const html = rows.join('');
    if (shown[table] === html) return;
    shown[table] = html;
    $(`#${table} tbody`).innerHTML = html || '<tr><td colspan="11" class="muted">none</td></tr>';
  }
  const statusOf = (c) => (c.status && c.status.current ? c.status.current.description : '');

  let state = null;
  let webOrigin = '';
  function render(s) {
    state = s;
    webOrigin = location.protocol === 'https:' && s.webTlsPort
      ? `https://${location.hostname}:${s.webTlsPort}`
      : `http://${location.hostname}:${s.webPort}`;
    $('#server').textContent = `v${s.version} · up ${duration(s.uptimeSeconds * 1000)} · web ${webOrigin}`;
    const folder = $('#create-mss [name=targetFolder]');
    if (!folder.value && !folder.dataset.touched) folder.value = s.webroot;
    fill('streams', s.streams.map((st) => {
      const v = st.video || {}, a = st.audio;
      return `<tr data-name="${esc(st.name)}"><td>${esc(st.name)}</td><td>${esc(st.type)}</td>` +
        `<td>${esc(st.source)}</td><td>${esc(v.codec ? `${v.codec} ${v.profile || ''}` : '—')}</td>` +
        `<td class="resolution">${v.width ? `${v.width}x${v.height}` : '—'}</td>` +
        `<td class="num">${v.frameRate ? v.frameRate.toFixed(2) : '—'}</td>` +
        `<td>${a ? esc(`${a.codec} ${a.sampleRate / 1000} kHz ${a.channels} ch`) : '—'}</td>` +
        `<td class="num bitrate">${bits(st.bandwidth || 0)}</td><td class="num">${duration(st.upTime || 0)}</td>` +
        `<td class="num">${bytes(st.bytesIn || 0)}</td>` +
        `<td><button class="package" data-name="${esc(st.name)}">Package…</button></td></tr>`;
    }));
    fill('mss', s.mss.map((c) => {
      const link = c.manifestPath ? `${webOrigin}${c.manifestPath}` : '';
      return `<tr data-config-id="${c.configId}" data-group="${esc(c.groupName)}"><td>${c.configId}</td>` +
        `<td>${esc(c.groupName)}</td><td>${esc((c.localStreamNames || []).join(', '))}</td>` +
        `<td>${c.isLive ? esc(c.playlistType) : 'on demand'}</td><td class="status">${esc(statusOf(c))}</td>` +
        `<td class="bad">${esc(c.lastError || '')}</td>` +
        `<td>${link ? `<a href="${esc(link)}" target="_blank" rel="noopener">${esc(c.manifestPath)}</a>` : '<span class="muted">outside the web root</span>'}</td>` +
        `<td>${link ? `<button class="play" data-url="${esc(link)}">Play</button> ` : ''}` +
        `<button class="remove" data-id="${c.configId}">Remove</button></td></tr>`;
    }));
    fill('pulls', (s.pulls || []).map((p) => `<tr data-config-id="${p.configId}"><td>${p.configId}</td>` +
      `<td>${esc(typeof p.uri === 'object' ? p.uri.fullUri || JSON.stringify(p.uri) : p.uri)}</td>` +
      `<td>${esc(p.localStreamName)}</td><td class="status">${esc(statusOf(p))}</td>` +
      `<td class="bad">${esc(p.lastError || '')}</td>` +
      `<td><button class="remove" data-id="${p.configId}">Remove</button></td></tr>`));
    const events = $('#events');
    const last = s.events.length ? s.events[s.events.length - 1].seq : 0;
    if (events.dataset.last !== String(last)) {
      events.dataset.last = String(last);
      events.innerHTML = s.events.slice().reverse().map((e) =>
        `<li><span class="muted">${new Date(e.timestamp).toLocaleTimeString()}</span> <b>${esc(e.type)}</b> ` +
        `${esc(JSON.stringify(e.payload))}</li>`).join('');
    }
  }

  async function poll() {
    try {
      const r = await fetch('/console/state', { cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const s = await r.json();
      render(s);
      chartMetrics(s.metrics, performance.now());
      $('#poll').textContent = `updated ${new Date().toLocaleTimeString()}`;
      $('#poll').className = 'muted';
    } catch (e) {
      $('#poll').textContent = `cannot reach the server: ${e.message}`;
      $('#poll').className = 'bad';
    }
    setTimeout(poll, POLL_MS);
  }

  // ---- actions ----
  const form = (id) => Object.fromEntries(new FormData($(id)).entries());
  $('#create-mss [name=targetFolder]').addEventListener('input', (e) => { e.target.dataset.touched = '1'; });
  $('#create-mss').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form('#create-mss');
    const reply = await api('createMSSStream', {
      localStreamNames: f.localStreamNames, targetFolder: f.targetFolder, groupName: f.groupName,
      playlistType: f.playlistType, chunkLength: f.chunkLength, keepAlive: f.keepAlive ? 1 : 0,
    });
    action(`createMSSStream: ${reply.status} ${reply.description}`, reply.status === 'SUCCESS');
  });
  $('#pull').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form('#pull');
    const reply = await api('pullStream', { uri: f.uri, localStreamName: f.localStreamName, keepAlive: f.keepAlive ? 1 : 0 });
    action(`pullStream: ${reply.status} ${reply.description}`, reply.status === 'SUCCESS');
  });
  document.addEventListener('click', async (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    if (b.classList.contains('remove')) {
      const reply = await api('removeConfig', { id: b.dataset.id });
      action(`removeConfig ${b.dataset.id}: ${reply.status} ${reply.description}`, reply.status === 'SUCCESS');
      // Its presentation is gone: stop playing it.
      const row = b.closest('tr');
      const playing = row && row.querySelector('.play');
      if (playing && playing.dataset.url === $('#player-url').textContent) closePlayer();
    } else if (b.classList.contains('play')) {
      play(b.dataset.url);
    } else if (b.classList.contains('package')) {
      $('#create-mss [name=localStreamNames]').value = b.dataset.name;
      $('#create-mss [name=groupName]').value = b.dataset.name;
      $('#create-mss [name=groupName]').focus();
    } else if (b.id === 'player-close') {
      closePlayer();
    }
  });

  // ---- the embedded player (dash.js with its MSS bundle, served by this port) ----
  let player = null;
  function closePlayer() {
    if (player) { player.destroy(); player = null; }
    $('#player-section').hidden = true;
    $('#player-url').textContent = '';
  }
  async function play(url) {
    closePlayer();
    $('#player-section').hidden = false;
    $('#player-url').textContent = url;
    const status = $('#player-status');
    if (typeof dashjs === 'undefined' || typeof dashjs.MssHandler !== 'function') {
      status.textContent = 'dash.js did not load';
      return;
    }
    // A live manifest appears once enough fragments exist to start on: wait for it.
    for (let i = 0; i < 60; i++) {
      let ok = false;
      try { ok = (await fetch(url, { method: 'HEAD', cache: 'no-store' })).ok; } catch (e) { ok = false; }
      if (ok) break;
      status.textContent = `waiting for the manifest${'.'.repeat(i % 4)}`;
      await new Promise((r) => setTimeout(r, 1000));
      if ($('#player-url').textContent !== url) return;
    }
    player = dashjs.MediaPlayer().create();
    player.updateSettings({
      streaming: {
        utcSynchronization: { defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-head:2014', value: `${webOrigin}/` } },
      },
    });
    const ev = dashjs.MediaPlayer.events;
    player.on(ev.ERROR, (e) => { status.textContent = `dash.js error: ${(e.error && e.error.message) || e.error}`; });
    player.on(ev.STREAM_INITIALIZED, () => {
      const levels = player.getRepresentationsByType('video') || [];
      status.textContent = `${player.isDynamic() ? 'live' : 'on demand'}; ${levels.length} video level(s): ` +
        levels.map((r) => `${r.width}x${r.height} ${Math.round(r.bandwidth / 1000)} kb/s`).join(', ');
    });
    player.initialize($('#player'), url, true);
  }

  poll();
})();
