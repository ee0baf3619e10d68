// Node.js (>= 20): the .wasm is read synchronously when this module loads.
import fs from 'node:fs';
import path from 'node:path';
import raw from './node/smoothcast.js';
import { makeApi, smoothcastError } from './lib/api.js';

/** Nothing to load: kept so code can call init() whatever the build. */
export async function init() {}

export const { Packager, packageBlob, packageStream, packageFile } = makeApi(raw, init);
export { smoothcastError };

/**
 * `smoothcast package` in Node: packages files from disk into targetFolder/groupName with
 * the same layout and bytes as the native binary. Inputs are paths, "path@bitrate" strings
 * or {path, bitrate}. Resolves to the list of written fragments.
 */
export async function packageFiles(inputs, { targetFolder, groupName, onProgress, ...options } = {}) {
  if (!targetFolder || !groupName) throw smoothcastError('options', 'targetFolder and groupName are required');
  const list = await Promise.all((Array.isArray(inputs) ? inputs : [inputs]).map(async (input) => {
    const { path: file, bitrate } = parseInput(input);
    // The native host names inputs by the path as given; the stream folder is its stem.
    return { blob: await fs.openAsBlob(file), name: file, bitrate };
  }));
  const root = path.join(targetFolder, groupName);
  const fragments = [];
  for await (const out of packageBlob(list, { ...options, onProgress })) {
    if (out.type === 'fragment' || out.type === 'rewrite' || out.type === 'manifest') {
      const file = confined(root, out.path);
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(file, out.type === 'manifest' ? out.xml : out.data);
      if (out.type === 'fragment') {
        const { data, type, ...info } = out;
        fragments.push(info);
      }
    } else if (out.type === 'remove') {
      await fs.promises.rm(confined(root, out.path), { force: true });
    }
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
