// Node.js (>= 20): the .wasm is read synchronously when this module loads.
import fs from 'node:fs';
import path from 'node:path';
import raw from './node/smoothcast.js';
import { CHUNK, makeApi, rawOptions, smoothcastError } from './lib/api.js';

/** Nothing to load: kept so code can call init() whatever the build. */
export async function init() {}

export const { Packager, packageBlob, packageStream, packageFile } = makeApi(raw, init);
export { smoothcastError };

/**
 * `smoothcast package` in Node: packages files from disk into targetFolder/groupName with
 * the same layout and bytes as the native binary. Inputs are paths, "path@bitrate" strings
 * or {path, bitrate}. Resolves to the list of written fragments (without their bytes).
 *
 * Built for speed, like the native host: synchronous positioned reads straight into wasm
 * memory (buffer/pushBuffer), and each output written synchronously straight from wasm
 * memory (drainTo), so neither the input nor a fragment is copied through a JS buffer. The
 * event loop gets a turn after every 1 MiB step.
 */
export async function packageFiles(inputs, { targetFolder, groupName, onProgress, ...options } = {}) {
  if (!targetFolder || !groupName) throw smoothcastError('options', 'targetFolder and groupName are required');
  const list = (Array.isArray(inputs) ? inputs : [inputs]).map(parseInput);
  const root = path.join(targetFolder, groupName);
  const fragments = [];
  const made = new Set();
  let seekTo = null;
  let inputDone = false;

  const write = (rel, data) => {
    const file = confined(root, rel);
    const dir = path.dirname(file);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    fs.writeFileSync(file, data);
  };
  const sink = (step) => {
    switch (step.type) {
      case 'seek': seekTo = step.offset; break;
      case 'input-done': inputDone = true; break;
      case 'fragment': {
        write(step.path, step.data);
        const { type, data, ...info } = step;
        fragments.push(info);
        break;
      }
      case 'rewrite': write(step.path, step.data); break;
      case 'manifest': write(step.path, step.xml); break;
      case 'remove': fs.rmSync(confined(root, step.path), { force: true }); break;
      default: break;
    }
  };

  // The native host names inputs by the path as given; the stream folder is its stem.
  const packager = new raw.Packager(rawOptions({
    ...options,
    seekable: true,
    inputs: list.map(({ path: name, bitrate }) => ({ name, bitrate })),
  }));
  try {
    for (let i = 0; i < list.length; i++) {
      const fd = fs.openSync(list[i].path, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        let offset = 0;
        for (inputDone = false; !inputDone;) {
          seekTo = null;
          const atEnd = offset >= size;
          if (atEnd) {
            packager.end();
          } else {
            const len = Math.min(CHUNK, size - offset);
            const n = fs.readSync(fd, packager.buffer(len), 0, len, offset);
            if (n === 0) throw smoothcastError('truncated', `${list[i].path}: the file shrank while being read`);
            packager.pushBuffer(n);
            offset += n;
          }
          packager.drainTo(sink);
          if (seekTo !== null) offset = seekTo;
          else if (atEnd && !inputDone) throw smoothcastError('usage', 'the packager neither finished the input nor asked for more');
          onProgress?.({ input: i, inputs: list.length, phase: packager.phase, offset, size });
          await new Promise(setImmediate);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
  } finally {
    packager.free();
  }
  return fragments;
}

function parseInput(input) {
  if (typeof input !== 'string') return input;
  // FILE@BITRATE, as on the command line: only an all-digit tail is a bitrate.
  const m = /^(.*)@(\d+)$/.exec(input);
  return m ? { path: m[1], bitrate: Number(m[2]) } : { path: input };
}

/** Output paths come from the core's layout rules; still, never write outside the root. */
function confined(root, rel) {
  const full = path.resolve(root, rel);
  if (!full.startsWith(path.resolve(root) + path.sep)) {
    throw smoothcastError('usage', `refusing output path ${rel}`);
  }
  return full;
}
