// The demo page in headless Chromium (playwright-core + Debian's /usr/bin/chromium):
// bad inputs give a readable message and leave the page usable; a generated clip is
// packaged in the page, its fragment table and manifest match the native packager's output
// for the same file, and it plays from memory for 10 s. Screenshot: target/artifacts/www.png.
// Needs: host-browser/build.sh, `cargo build -p smoothcast`, npm ci in www/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { startServer } from '../serve.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NATIVE = process.env.SMOOTHCAST_BIN || path.join(ROOT, 'target/debug/smoothcast');
const CHROMIUM = process.env.SMOOTHCAST_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'target/artifacts');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio',
];
const PLAY_SECONDS = 10;

/** 12 s, 640x360, moov at the end (the page must seek), flags of tests/src/media.rs. */
function generateClip(dir) {
  const file = path.join(dir, 'www-clip.mp4');
  execFileSync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=12',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=12',
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-threads', '1', '-preset', 'veryfast',
    '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0',
    '-bf', '3', '-b:v', '800k', '-maxrate', '800k', '-bufsize', '1600k', '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact', '-map_metadata', '-1',
    '-t', '12', '-f', 'mp4', file,
  ]);
  return file;
}

/** The native packager's files for `clip`: Map<relative path, Buffer>. */
function nativeOutput(clip, dir) {
  execFileSync(NATIVE, ['package', '--target-folder', dir, '--group-name', 'g', clip]);
  const root = path.join(dir, 'g');
  const files = new Map();
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else files.set(path.relative(root, p), fs.readFileSync(p));
    }
  };
  walk(root);
  return files;
}

const waitState = (page, states, timeout = 60_000) =>
  page.waitForFunction((s) => s.includes(window.smoothcastPage?.state), states, { timeout });

test('the demo page packages, lists, plays and survives bad input', { timeout: 240_000 }, async () => {
  assert.ok(fs.existsSync(NATIVE), `missing ${NATIVE}: cargo build -p smoothcast`);
  assert.ok(fs.existsSync(path.join(ROOT, 'host-browser/pkg/web.js')), 'missing host-browser/pkg: run host-browser/build.sh');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'smoothcast-www-'));
  const { server, url } = await startServer();
  const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 1000 },
  });
  try {
    const clip = generateClip(tmp);
    const native = nativeOutput(clip, tmp);
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url, { waitUntil: 'load' });
    // The service worker must control the page before anything plays from memory.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20_000 });

    // 1. A text file: a readable message, and the page stays usable.
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a video\n'.repeat(50)) });
    await waitState(page, ['error']);
    const textError = await page.textContent('#error');
    assert.match(textError, /notes\.txt: not a media file/);
    assert.match(textError, /not-media/);

    // 2. A truncated MP4.
    const full = fs.readFileSync(clip);
    await page.setInputFiles('#file', { name: 'cut.mp4', mimeType: 'video/mp4', buffer: full.subarray(0, full.length >> 1) });
    await waitState(page, ['error']);
    const cutError = await page.textContent('#error');
    assert.match(cutError, /cut\.mp4: /);
    assert.ok(await page.isVisible('#error') && await page.isEnabled('#file'), 'page still usable');

    // 3. The generated clip: same fragments and manifest as the native packager.
    await page.setInputFiles('#file', clip);
    await waitState(page, ['done']);
    assert.ok(await page.isHidden('#error'), 'old error cleared');
    const rows = await page.$$eval('#fragments tbody tr', (trs) => trs.map((tr) => ({ ...tr.dataset })));
    const nativeFragments = [...native.keys()].filter((p) => p.endsWith('.fmp4')).sort();
    assert.deepEqual(rows.map((r) => r.path).sort(), nativeFragments);
    const manifestXml = native.get('manifest.ismc').toString();
    for (const r of rows) {
      assert.equal(Number(r.size), native.get(r.path).length, `${r.path} size`);
      assert.equal(r.start, path.basename(r.path, '.fmp4'), `${r.path} start`);
      assert.ok(manifestXml.includes(`<c t="${r.start}" d="${r.duration}"/>`), `${r.path} duration ${r.duration}`);
    }
    assert.equal(await page.textContent('#manifest'), manifestXml);
    // Every file, as the player gets it through the service worker, has the native bytes.
    const hashes = await page.evaluate(async (paths) => {
      const out = {};
      for (const p of paths) {
        const res = await fetch(window.smoothcastPage.memoryBase + p);
        const digest = await crypto.subtle.digest('SHA-256', await res.arrayBuffer());
        out[p] = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
      }
      return out;
    }, [...native.keys()]);
    for (const [p, bytes] of native) {
      assert.equal(hashes[p], createHash('sha256').update(bytes).digest('hex'), `${p} bytes`);
    }

    // 4. It plays from memory: currentTime advances past 10 s, video decoded at 640x360.
    await page.waitForFunction((t) => {
      const v = document.querySelector('#video');
      return v.currentTime >= t || window.smoothcastPage.playerErrors.length > 0;
    }, PLAY_SECONDS, { timeout: 60_000 });
    const played = await page.evaluate(() => {
      const v = document.querySelector('#video');
      return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, errors: window.smoothcastPage.playerErrors };
    });
    assert.deepEqual(played.errors, []);
    assert.ok(played.t >= PLAY_SECONDS, `currentTime ${played.t}`);
    assert.deepEqual([played.w, played.h], [640, 360]);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'www.png'), fullPage: true });

    // 5. The clips the page offers (MPEG-TS: two passes in the browser; MP4: moov at the end).
    for (const src of ['clips/clip-5s.ts', 'clips/clip-5s.mp4']) {
      await page.click(`button[data-src="${src}"]`);
      // The previous file left the page 'done' too: wait for this file's result (or an error).
      const name = src.split('/').pop();
      await page.waitForFunction((n) => window.smoothcastPage.state === 'error'
        || (window.smoothcastPage.state === 'done' && document.querySelector('#result-title').textContent === n), name);
      assert.equal(await page.evaluate(() => window.smoothcastPage.state), 'done', await page.textContent('#error'));
      assert.ok((await page.$$('#fragments tbody tr')).length >= 4, src);
    }
    assert.deepEqual(pageErrors, []);
    console.log(`page ok: ${rows.length} fragments match native; played to ${played.t.toFixed(2)} s at ${played.w}x${played.h}; screenshot ${path.join(ARTIFACTS, 'www.png')}`);
  } finally {
    await context.close();
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
