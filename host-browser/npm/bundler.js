// Bundlers with WebAssembly ESM integration (webpack 5 asyncWebAssembly, vite-plugin-wasm):
// the bundler instantiates the .wasm before this module runs.
import * as raw from './bundler/smoothcast.js';
import { makeApi, smoothcastError } from './lib/api.js';

/** Nothing to load: kept so code can call init() whatever the build. */
export async function init() {}

export const { Packager, packageBlob, packageStream, packageFile } = makeApi(raw, init);
export { smoothcastError };
