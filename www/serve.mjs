#!/usr/bin/env node
// Static server for the demo page: www/ at "/", the built npm package (host-browser/pkg)
// at "/smoothcast/", dash.js from www/node_modules at "/vendor/". Binds 127.0.0.1.
//   node www/serve.mjs [--port 8080]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MOUNTS = [
  ['/smoothcast/', path.join(HERE, '..', 'host-browser', 'pkg')],
  ['/vendor/', path.join(HERE, 'node_modules', 'dashjs', 'dist', 'modern', 'umd')],
  ['/', HERE],
];
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.mp4': 'video/mp4',
  '.ts': 'video/mp2t', '.map': 'application/json', '.png': 'image/png',
};
// Never serve the server's own tooling or dependencies from the www root.
const HIDDEN = /^\/(node_modules|test|package(-lock)?\.json)(\/|$)/;

function resolve(urlPath) {
  let decoded;
  try { decoded = decodeURIComponent(urlPath); } catch { return null; }
  if (decoded.includes('\0') || decoded.split('/').includes('..')) return null;
  for (const [prefix, dir] of MOUNTS) {
    if (!decoded.startsWith(prefix)) continue;
    if (prefix === '/' && HIDDEN.test(decoded)) return null;
    const rel = decoded.slice(prefix.length) || 'index.html';
    return path.join(dir, rel);
  }
  return null;
}

export function startServer({ port = 0, host = '127.0.0.1' } = {}) {
  const server = http.createServer((req, res) => {
    const file = resolve((req.url || '/').split('?')[0]);
    const fail = (status) => { res.writeHead(status, { 'Content-Type': 'text/plain' }); res.end(`${status}\n`); };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405);
    if (!file) return fail(404);
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return fail(404);
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
        'Content-Length': st.size,
        'Cache-Control': 'no-cache',
      });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
    });
  });
  return new Promise((ok, ko) => {
    server.once('error', ko);
    server.listen(port, host, () => ok({ server, url: `http://${host}:${server.address().port}/` }));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080;
  const { url } = await startServer({ port });
  console.log(`Smoothcast demo at ${url} (build host-browser first: host-browser/build.sh)`);
}
