#!/usr/bin/env node
// Benchmark (not a test): packaging speed of the wasm build in Node (the npm package's
// `packageFiles`) against the native binary, on the same ~100 MB MP4, in the same run.
// Target: wasm within 1.5x of native. Rounds alternate native/wasm; medians reported.
// Each run is a fresh child process, so start-up (and wasm compilation) is counted.
//
//   node bench/wasm_vs_native.mjs [--rounds 5] [--mb 100]
//
// Needs ffmpeg, host-browser/build.sh done, and builds `cargo build --release -p smoothcast`
// if target/release/smoothcast is missing. Input and outputs go to bench/out/ (ignored).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out');
const NATIVE = path.join(ROOT, 'target', 'release', 'smoothcast');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};

if (process.argv[2] === '--child') {
  // One wasm run: node wasm_vs_native.mjs --child INPUT TARGET
  const { packageFiles } = await import(path.join(ROOT, 'host-browser', 'pkg', 'node.mjs'));
  const [input, target] = process.argv.slice(3);
  const t0 = performance.now();
  await packageFiles([input], { targetFolder: target, groupName: 'g' });
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ secs, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const rounds = Number(arg('--rounds', 5));
const mb = Number(arg('--mb', 100));

function input() {
  // 720p, x264 ultrafast: quick to make, ~mb MiB, with realistic sample sizes.
  // x264 ultrafast averages ~15.7 Mbit/s of this source under a 20M cap (measured).
  const secs = Math.round((mb * 1.048576 * 8) / 15.7);
  const file = path.join(OUT, `bench-${secs}s-20mbps.mp4`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(OUT, { recursive: true });
  console.error(`encoding ${file} (${secs} s)...`);
  execFileSync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=25:duration=${secs}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${secs}`,
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50',
    '-keyint_min', '50', '-sc_threshold', '0', '-b:v', '20M', '-maxrate', '20M', '-bufsize', '40M',
    '-c:a', 'aac', '-b:a', '128k', '-t', String(secs), `${file}.tmp.mp4`,
  ]);
  fs.renameSync(`${file}.tmp.mp4`, file);
  return file;
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { secs, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (!fs.existsSync(NATIVE)) execFileSync('cargo', ['build', '--release', '-p', 'smoothcast'], { stdio: 'inherit', cwd: ROOT });
const file = input();
const size = fs.statSync(file).size / 1048576;
const native = [];
const wasm = [];
const inner = [];   // wasm packaging alone, without Node's start-up and module loading
let rss = 0;
for (let i = 0; i < rounds; i++) {
  for (const which of ['native', 'wasm']) {
    const target = path.join(OUT, `run-${which}`);
    fs.rmSync(target, { recursive: true, force: true });
    if (which === 'native') {
      native.push(timed(NATIVE, ['package', '--target-folder', target, '--group-name', 'g', file]).secs);
    } else {
      const r = timed(process.execPath, [fileURLToPath(import.meta.url), '--child', file, target]);
      const child = JSON.parse(r.stdout);
      wasm.push(r.secs);
      inner.push(child.secs);
      rss = Math.max(rss, child.maxRssMiB);
    }
  }
}
// Same bytes, or the comparison means nothing.
const same = spawnSync('diff', ['-r', '-q', path.join(OUT, 'run-native', 'g'), path.join(OUT, 'run-wasm', 'g')]);
const n = median(native);
const w = median(wasm);
console.log(`input ${path.basename(file)}: ${size.toFixed(1)} MiB, ${rounds} rounds`);
console.log(`native  median ${n.toFixed(3)} s  (${(size / n).toFixed(0)} MiB/s)  all: ${native.map((x) => x.toFixed(3)).join(' ')}`);
console.log(`wasm    median ${w.toFixed(3)} s  (${(size / w).toFixed(0)} MiB/s)  all: ${wasm.map((x) => x.toFixed(3)).join(' ')}  peak RSS ${rss.toFixed(0)} MiB`);
const w2 = median(inner);
console.log(`  of which packaging (no Node start-up) median ${w2.toFixed(3)} s (${(size / w2).toFixed(0)} MiB/s)  all: ${inner.map((x) => x.toFixed(3)).join(' ')}`);
console.log(`wasm/native ${(w / n).toFixed(2)}x whole process, ${(w2 / n).toFixed(2)}x packaging only (target <= 1.5x); outputs ${same.status === 0 ? 'identical' : 'DIFFER'}`);
