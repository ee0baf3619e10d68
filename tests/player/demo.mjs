// Drives the demo page (`smoothcast serve --demo`, the web port's /) in headless Chromium and
// prints one JSON line: {ok, reason, levels, before, switch, points}.
//
//   node demo.mjs --page http://127.0.0.1:PORT/ --out DIR
//
// Checks: the page lists the three quality levels; playback runs above the lowest level;
// choosing the lowest bandwidth cap makes dash.js switch down (qualityChangeRendered to a
// level under the cap); the bitrate chart has points. Screenshots go to DIR. Stops itself
// after 120 s at most.
import fs from 'node:fs';
import path from 'node:path';

const CHROMIUM = process.env.SMOOTHCAST_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--mute-audio'];
const LIMIT_MS = 120_000;

const opts = {};
for (let i = 2; i < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const result = { ok: false, reason: 'not started' };
let printed = false;
const finish = (code, patch = {}) => {
  if (!printed) { printed = true; Object.assign(result, patch); process.stdout.write(JSON.stringify(result) + '\n'); }
  process.exitCode = code;
};
let browser;
const timer = setTimeout(async () => {
  finish(3, { reason: `hard timeout after ${LIMIT_MS} ms` });
  try { if (browser) await browser.close(); } catch (e) { /* exiting anyway */ }
  process.exit(3);
}, LIMIT_MS);

try {
  for (const k of ['page', 'out']) if (!opts[k]) throw new Error(`--${k} is required`);
  fs.mkdirSync(opts.out, { recursive: true });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e.message).slice(0, 300)));
  await page.goto(opts.page);
  await page.waitForFunction(() => document.querySelectorAll('#levels li').length > 0, null, { timeout: 45_000 });
  result.levels = await page.$$eval('#levels li', (lis) => lis.map((li) => li.textContent));
  if (result.levels.length !== 3) throw new Error(`expected 3 levels, page lists ${JSON.stringify(result.levels)}`);

  // Playing, above the lowest level (loopback is fast: dash.js climbs).
  await page.waitForFunction(() => {
    const s = window.smoothcastAbr, v = document.querySelector('video');
    return s && s.current && v.currentTime > 1 && s.current.bandwidth > Math.min(...s.levels.map((l) => l.bandwidth));
  }, null, { timeout: 45_000, polling: 250 }).catch(async () => {
    throw new Error(`never above the lowest level: ${JSON.stringify(await page.evaluate(() => window.smoothcastAbr && window.smoothcastAbr.current))}`);
  });
  result.before = await page.evaluate(() => window.smoothcastAbr.current);
  await page.screenshot({ path: path.join(opts.out, 'demo-uncapped.png'), fullPage: true });

  // The lowest cap: only the lowest level fits under it.
  const cap = await page.$eval('#cap', (sel) => sel.options[sel.options.length - 1].value);
  await page.selectOption('#cap', cap);
  result.cap_kbps = Number(cap);
  const sw = await page.waitForFunction((capKbps) => {
    const s = window.smoothcastAbr;
    return s.switches.find((x) => x.cap === capKbps && x.to <= capKbps * 1000 && x.from > x.to) || null;
  }, Number(cap), { timeout: 45_000, polling: 250 }).catch(async () => {
    throw new Error(`no switch down under ${cap} kbit/s: ${JSON.stringify(await page.evaluate(() => window.smoothcastAbr.switches))}`);
  });
  result.switch = await sw.jsonValue();
  await page.waitForTimeout(1500); // a few chart points after the switch, for the screenshot
  result.points = await page.$eval('#bitrate-chart', (c) => Number(c.dataset.points || 0));
  result.dropped = await page.textContent('#dropped');
  await page.screenshot({ path: path.join(opts.out, 'demo-capped.png'), fullPage: true });
  if (result.points < 2) throw new Error(`the bitrate chart has ${result.points} points`);
  if (errors.length) result.page_errors = errors;
  finish(0, { ok: true, reason: '' });
} catch (e) {
  finish(1, { reason: String(e && e.message || e) });
} finally {
  clearTimeout(timer);
  try { if (browser) await browser.close(); } catch (e) { /* done */ }
}
