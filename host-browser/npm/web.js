// Browsers without a bundler: the .wasm is fetched next to this file on init().
import initWasm, * as raw from './web/smoothcast.js';
import { makeApi, smoothcastError } from './lib/api.js';

let ready;
/**
 * Loads the .wasm (once). The async helpers call it themselves; call it before
 * `new Packager()`. `wasm` optionally overrides where the .wasm comes from.
 */
export function init(wasm) {
  ready ??= initWasm(wasm === undefined ? undefined : { module_or_path: wasm });
  return ready.then(() => undefined);
}

export const { Packager, packageBlob, packageStream, packageFile } = makeApi(raw, init);
export { smoothcastError };
