// The Node build against the native binary: the same clip packaged by both must give the
// same files, byte for byte. Run: node --test host-browser/test/ (after host-browser/build.sh
// and `cargo build -p smoothcast`). SMOOTHCAST_BIN overrides the native binary's path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { packageFiles, packageStream, Packager } from '../pkg/node.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NATIVE = process.env.SMOOTHCAST_BIN || path.join(ROOT, 'target/debug/smoothcast');
const MEDIA = path.join(ROOT, 'target/test-media/node');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'smoothcast-node-'));
process.on('exit', () => fs.rmSync(TMP, { recursive: true, force: true }));

/** A synthetic clip (ffmpeg lavfi, the flags of tests/src/media.rs), cached by name. */
function clip(name, { seconds = 6, size = '320x180', kbps = 400, format = 'mp4', faststart = false, bframes = false } = {}) {
  const file = path.join(MEDIA, name);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(MEDIA, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  execFileSync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-threads', '1', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-bf', bframes ? '3' : '0',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${2 * kbps}k`,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact', '-map_metadata', '-1',
    '-t', String(seconds), ...(faststart ? ['-movflags', '+faststart'] : []),
    '-f', format === 'ts' ? 'mpegts' : 'mp4', tmp,
  ]);
  fs.renameSync(tmp, file);
  return file;
}

/** ffmpeg's output for `args` (lavfi sources), cached by name. */
function made(name, args) {
  const file = path.join(MEDIA, name);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(MEDIA, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  execFileSync('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args, tmp]);
  fs.renameSync(tmp, file);
  return file;
}

/** Video with two audio languages (eng, fra). */
const twoLanguages = () => made('languages.mp4', [
  '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=6',
  '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6',
  '-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=48000:duration=6',
  '-map', '0:v', '-map', '1:a', '-map', '2:a',
  '-c:v', 'libx264', '-threads', '1', '-preset', 'veryfast', '-g', '50', '-bf', '0',
  '-c:a', 'aac', '-b:a', '96k', '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fra',
  '-fflags', '+bitexact', '-t', '6', '-f', 'mp4',
]);

/** An audio-only MP4 (its language comes from the name it is given). */
const tone = (name) => made(name, [
  '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000:duration=6',
  '-c:a', 'aac', '-b:a', '64k', '-fflags', '+bitexact', '-f', 'mp4',
]);

/** A subtitle file, SRT or WebVTT by its extension. */
function subtitles(name) {
  const file = path.join(MEDIA, name);
  const vtt = name.endsWith('.vtt');
  fs.mkdirSync(MEDIA, { recursive: true });
  fs.writeFileSync(file, vtt
    ? 'WEBVTT\n\n00:01.000 --> 00:02.500\n<b>Hello</b> & welcome\n\n00:04.000 --> 00:05.000\nBye\n'
    : '1\n00:00:01,000 --> 00:00:02,500\nHello & <i>welcome</i>\n\n2\n00:00:04,000 --> 00:00:05,000\nBye\n');
  return file;
}

/** Every file under dir, by relative path. */
function tree(dir) {
  const files = new Map();
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else files.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return files;
}

function assertSameTree(got, want) {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [p, bytes] of want) assert.ok(bytes.equals(got.get(p)), `${p} differs`);
}

function native(inputs, options = []) {
  const target = fs.mkdtempSync(path.join(TMP, 'native-'));
  execFileSync(NATIVE, ['package', '--target-folder', target, '--group-name', 'g', ...options, ...inputs]);
  return tree(path.join(target, 'g'));
}

async function wasm(inputs, options = {}) {
  const target = fs.mkdtempSync(path.join(TMP, 'wasm-'));
  await packageFiles(inputs, { targetFolder: target, groupName: 'g', ...options });
  return tree(path.join(target, 'g'));
}

test('native binary is built', () => {
  assert.ok(fs.existsSync(NATIVE), `missing ${NATIVE}: cargo build -p smoothcast`);
});

const cases = [
  ['moov at the end (seeks)', () => [clip('plain.mp4')]],
  ['faststart, B-frames', () => [clip('faststart-bf.mp4', { faststart: true, bframes: true })]],
  ['MPEG-TS (two passes to measure the bitrate)', () => [clip('clip.ts', { format: 'ts' })]],
  ['two inputs, given bitrates', () => [`${clip('hi.mp4', { size: '640x360', kbps: 900 })}@900000`, `${clip('lo.mp4', { kbps: 300 })}@300000`]],
  ['audio languages and subtitles', () => [twoLanguages(), tone('languages.deu.m4a'), subtitles('languages.fra.srt'), subtitles('languages.eng.vtt')]],
  ['audio only', () => [tone('radio.m4a')]],
  // Several 1 MiB reads into recycled wasm buffers, with samples across read boundaries.
  ['a file of several reads', () => [clip('reads.mp4', { size: '1280x720', kbps: 8000 })]],
];
for (const [name, inputs] of cases) {
  test(`same bytes as the native binary: ${name}`, async () => {
    const list = inputs();
    assertSameTree(await wasm(list), native(list));
  });
}

test('chunk length and manifest name options match the native flags', async () => {
  const list = [clip('plain.mp4')];
  assertSameTree(
    await wasm(list, { chunkLength: 4, manifestName: 'movie.ismc' }),
    native(list, ['--chunk-length', '4', '--manifest-name', 'movie.ismc']),
  );
});

test('PlayReady protection (drm) matches smoothcast package --key / --key-seed', async () => {
  const list = [clip('faststart-bf.mp4', { faststart: true, bframes: true })];
  const kid = '01020304-0506-0708-090a-0b0c0d0e0f10';
  const laUrl = 'http://127.0.0.1:8090/pr';
  const got = await wasm(list, { drm: { keyId: kid, key: '00112233445566778899aabbccddeeff', laUrl } });
  assertSameTree(got, native(list, ['--key', `${kid}:00112233445566778899aabbccddeeff`, '--playready-la-url', laUrl]));
  const manifest = [...got.entries()].find(([p]) => p.endsWith('.ismc'))[1].toString();
  assert.match(manifest, /<ProtectionHeader SystemID="9a04f079-9840-4286-ab92-e65be0885f95">/);
  const seed = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd';
  assertSameTree(
    await wasm(list, { drm: { keyId: kid, keySeed: seed, laUrl } }),
    native(list, ['--key', kid, '--key-seed', seed, '--playready-la-url', laUrl]),
  );
  await assert.rejects(wasm(list, { drm: { keyId: kid, key: 'zz', laUrl } }),
    (e) => e.kind === 'options' && !e.message.includes('zz'));
});

test('a one-way stream of a moov-at-end MP4 is buffered and gives the same bytes', async () => {
  const file = clip('plain.mp4');
  const want = native([file]);
  const got = new Map();
  for await (const out of packageStream(fs.createReadStream(file, { highWaterMark: 100_000 }), { name: file })) {
    if (out.type === 'fragment') got.set(out.path, Buffer.from(out.data));
    if (out.type === 'manifest') got.set(out.path, Buffer.from(out.xml));
  }
  assertSameTree(got, want);
});

test('pushBuffer takes only bytes of a buffer() it was lent', () => {
  const raw = createRequire(import.meta.url)('../pkg/node/smoothcast.js');
  const p = new raw.Packager({ inputs: [{ name: 'a.mp4' }] });
  try {
    assert.throws(() => p.pushBuffer(1), (e) => e.kind === 'usage');
    p.buffer(4).set([0, 0, 0, 8]);
    assert.throws(() => p.pushBuffer(5), (e) => e.kind === 'usage');
    p.buffer(4).set([0, 0, 0, 8]);
    p.pushBuffer(4);
    assert.throws(() => p.pushBuffer(4), (e) => e.kind === 'usage', 'a buffer is pushed once');
  } finally {
    p.free();
  }
});

test('errors are Error objects with a kind', async () => {
  const text = path.join(TMP, 'notes.txt');
  fs.writeFileSync(text, 'not a video\n'.repeat(100));
  await assert.rejects(wasm([text]), (e) => e instanceof Error && e.kind === 'not-media' && /notes\.txt/.test(e.message));

  const full = fs.readFileSync(clip('faststart-bf.mp4', { faststart: true, bframes: true }));
  const cut = path.join(TMP, 'cut.mp4');
  fs.writeFileSync(cut, full.subarray(0, full.length >> 1));
  await assert.rejects(wasm([cut]), (e) => e.kind === 'truncated');

  const ts = fs.createReadStream(clip('clip.ts', { format: 'ts' }));
  await assert.rejects(async () => { for await (const _ of packageStream(ts, { name: 'x.ts' })) { /* drain */ } },
    (e) => e.kind === 'bitrate-unknown');

  assert.throws(() => new Packager({ chunkLength: 0, name: 'a.mp4' }), (e) => e.kind === 'options');
});
