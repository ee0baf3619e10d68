#!/usr/bin/env node
// Benchmark (not a test): packaging speed of the wasm build in Node (the npm package's
// `packageFiles`) against the native binary, on the same ~100 MB MP4, in the same run.
// Target: wasm within 1.5x of native. Both write the presentation to disk (bench/out/).
// Rounds alternate native/wasm; medians, min and max reported.
//
// Each run is a fresh child process, so start-up (and wasm compilation) is in the
// whole-process figure; the wasm child also times packageFiles alone. Besides wall time
// each run's CPU time (user + sys, all threads) is reported: on a loaded machine wall time
// mostly measures waiting for a core, CPU time does not. Children are timed by a small
// python3 wrapper (posix_spawn + wait4: Node cannot read a child's rusage).
//
//   node bench/wasm_vs_native.mjs [--rounds 7] [--mb 100] [--pkg host-browser/pkg]
//
// --pkg runs another build of the npm package (a copy of an older pkg/, to compare).
//
// Needs ffmpeg, python3, host-browser/build.sh done, and builds `cargo build --release -p
// smoothcast` if target/release/smoothcast is missing. Input and outputs go to bench/out/.
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
  // One wasm run: node wasm_vs_native.mjs --child PKG INPUT TARGET
  const [pkg, input, target] = process.argv.slice(3);
  const { packageFiles } = await import(path.join(pkg, 'node.mjs'));
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await packageFiles([input], { targetFolder: target, groupName: 'g' });
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  process.stdout.write(`${JSON.stringify({ secs, cpu, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
  process.exit(0);
}

const rounds = Number(arg('--rounds', 7));
const mb = Number(arg('--mb', 100));
const pkg = path.resolve(arg('--pkg', path.join(ROOT, 'host-browser', 'pkg')));

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

// Runs argv[1:] and prints its wall and CPU seconds as the last stdout line.
const WRAP = `
import json, os, sys, time
t = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "status": os.waitstatus_to_exitcode(status)}))
`;

// Node's defaults for the children: NODE_EXTRA_CA_CERTS (set on some machines) makes every
// Node start parse a certificate bundle, ~40 ms of CPU that no packaging needs.
const { NODE_EXTRA_CA_CERTS: extraCerts, ...childEnv } = process.env;

function timed(cmd, args) {
  const r = spawnSync('python3', ['-c', WRAP, cmd, ...args], { encoding: 'utf8', env: childEnv });
  const lines = r.stdout.trim().split('\n');
  const t = r.status === 0 ? JSON.parse(lines.pop()) : { status: r.status };
  if (t.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { ...t, stdout: lines.join('\n') };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f3 = (x) => x.toFixed(3);
/** "median (min-max)" of a list of seconds. */
const spread = (xs) => `${f3(median(xs))} s (${f3(Math.min(...xs))}-${f3(Math.max(...xs))})`;

if (!fs.existsSync(NATIVE)) execFileSync('cargo', ['build', '--release', '-p', 'smoothcast'], { stdio: 'inherit', cwd: ROOT });
const file = input();
const size = fs.statSync(file).size / 1048576;
const runs = { native: { wall: [], cpu: [] }, wasm: { wall: [], cpu: [] }, packaging: { wall: [], cpu: [] } };
let rss = 0;
for (let i = 0; i < rounds; i++) {
  for (const which of ['native', 'wasm']) {
    const target = path.join(OUT, `run-${which}`);
    fs.rmSync(target, { recursive: true, force: true });
    const r = which === 'native'
      ? timed(NATIVE, ['package', '--target-folder', target, '--group-name', 'g', file])
      : timed(process.execPath, [fileURLToPath(import.meta.url), '--child', pkg, file, target]);
    runs[which].wall.push(r.wall);
    runs[which].cpu.push(r.cpu);
    if (which === 'wasm') {
      const child = JSON.parse(r.stdout);
      runs.packaging.wall.push(child.secs);
      runs.packaging.cpu.push(child.cpu);
      rss = Math.max(rss, child.maxRssMiB);
    }
  }
}
// Same bytes, or the comparison means nothing.
const same = spawnSync('diff', ['-r', '-q', path.join(OUT, 'run-native', 'g'), path.join(OUT, 'run-wasm', 'g')]);
const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`input ${path.basename(file)}: ${size.toFixed(1)} MiB, ${rounds} rounds, wasm from ${path.relative(ROOT, pkg) || pkg}, load average at the end ${load}`);
console.log('                      wall median (min-max)        cpu median (min-max)');
const row = (name, { wall, cpu }) => console.log(`${name.padEnd(22)}${spread(wall).padEnd(29)}${spread(cpu)}`);
row('native', runs.native);
row('wasm, whole process', runs.wasm);
row('wasm, packaging only', runs.packaging);
console.log(`wasm peak RSS ${rss.toFixed(0)} MiB; outputs ${same.status === 0 ? 'identical' : 'DIFFER'}${extraCerts ? '; NODE_EXTRA_CA_CERTS unset for the runs' : ''}`);
const ratio = (which, key) => (median(runs[which][key]) / median(runs.native[key])).toFixed(2);
console.log(`wasm/native, packaging only: ${ratio('packaging', 'wall')}x wall, ${ratio('packaging', 'cpu')}x cpu (target <= 1.5x)`);
console.log(`wasm/native, whole process:  ${ratio('wasm', 'wall')}x wall, ${ratio('wasm', 'cpu')}x cpu`);
