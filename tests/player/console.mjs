// Drives the operator's console (/console on the HTTP API port) in headless Chromium, as an
// operator would, and prints one JSON line: {ok, reason, steps: [...], ...}.
//
//   node console.mjs --api http://127.0.0.1:PORT --token TOKEN --stream NAME --out DIR
//                    [--rtmp rtmp://127.0.0.1:PORT/live/NAME  (also check the pull form)]
//
// Steps: without credentials the page and its state are refused (401); with them (the API's
// Basic challenge, token as password) the published stream NAME appears with its codec and
// resolution; the create form makes an MSS output that listConfig then lists; its embedded
// player plays; Remove takes it out of the page and of listConfig; with --rtmp, a pull made
// from the pull form is listed and removed the same way; the charts have points.
// Screenshots go to DIR. Stops itself after 150 s at most.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CHROMIUM = process.env.SMOOTHCAST_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--mute-audio'];
const LIMIT_MS = 150_000;

const opts = {};
for (let i = 2; i < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const result = { ok: false, reason: 'not started', steps: [] };
let printed = false;
const finish = (code, patch = {}) => {
  if (!printed) { printed = true; Object.assign(result, patch); process.stdout.write(JSON.stringify(result) + '\n'); }
  process.exitCode = code;
};
const step = (name, detail = {}) => { result.steps.push({ name, ...detail }); process.stderr.write(`console.mjs: ${name}\n`); };

const auth = 'Bearer ' + opts.token;
async function apiCall(command, params = '') {
  const q = params ? `?params=${Buffer.from(params).toString('base64')}` : '';
  const r = await fetch(`${opts.api}/${command}${q}`, { headers: { authorization: auth } });
  return r.json();
}

let browser, userDataDirs = [];
const cleanup = async () => {
  try { if (browser) await browser.close(); } catch (e) { /* closing anyway */ }
  for (const d of userDataDirs) fs.rmSync(d, { recursive: true, force: true });
};
const timer = setTimeout(async () => { finish(3, { reason: `hard timeout after ${LIMIT_MS} ms` }); await cleanup(); process.exit(3); }, LIMIT_MS);

try {
  for (const k of ['api', 'token', 'stream', 'out']) if (!opts[k]) throw new Error(`--${k} is required`);
  fs.mkdirSync(opts.out, { recursive: true });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });

  // 1. No token: nothing loads, nothing can be read.
  {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // The browser cannot answer the challenge, so the navigation itself fails.
    let shown = null;
    try { shown = (await page.goto(`${opts.api}/console`)).status(); } catch (e) { shown = String(e.message).split('\n')[0]; }
    const pageReq = await ctx.request.get(`${opts.api}/console`);
    const body = await pageReq.text();
    const state = await ctx.request.get(`${opts.api}/console/state`);
    step('refused without the token', { navigation: shown, page: pageReq.status(), state: state.status() });
    if (shown === 200 || pageReq.status() !== 401 || state.status() !== 401 || !/Authentication required/.test(body)) {
      throw new Error(`console without the token: navigation ${shown}, page ${pageReq.status()}, state ${state.status()}: ${body.slice(0, 200)}`);
    }
    await ctx.close();
  }

  // 2. With the token: the browser answers the Basic challenge for the page and its requests.
  const ctx = await browser.newContext({ httpCredentials: { username: 'operator', password: opts.token }, viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e.message).slice(0, 300)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text().slice(0, 300)); });
  const r = await page.goto(`${opts.api}/console`);
  if (r.status() !== 200) throw new Error(`console with the token: HTTP ${r.status()}`);
  const row = page.locator(`#streams tr[data-name="${opts.stream}"]`);
  await row.waitFor({ timeout: 30_000 });
  // Its properties arrive with the first video frames: wait for the resolution.
  await page.waitForFunction((name) => {
    const tr = document.querySelector(`#streams tr[data-name="${name}"]`);
    return tr && /\d+x\d+/.test(tr.querySelector('.resolution').textContent);
  }, opts.stream, { timeout: 30_000 });
  const streamText = (await row.innerText()).replace(/\s+/g, ' ');
  step('stream listed', { row: streamText });
  result.stream_row = streamText;
  await page.screenshot({ path: path.join(opts.out, 'console-stream.png'), fullPage: true });

  // 3. The create form makes an MSS output; listConfig lists it.
  const group = `console_${Date.now() % 100000}`;
  await page.fill('#create-mss [name=localStreamNames]', opts.stream);
  await page.fill('#create-mss [name=groupName]', group);
  await page.click('#create-mss-submit');
  await page.waitForFunction(() => /createMSSStream: SUCCESS/.test(document.querySelector('#action').textContent), null, { timeout: 10_000 })
    .catch(async () => { throw new Error(`create failed: ${await page.textContent('#action')}`); });
  const config = (await apiCall('listConfig')).data.mss.find((c) => c.groupName === group);
  if (!config) throw new Error(`listConfig has no MSS config for group ${group}`);
  step('created from the form', { configId: config.configId, group });
  result.config_id = config.configId;
  const mssRow = page.locator(`#mss tr[data-config-id="${config.configId}"]`);
  await mssRow.waitFor({ timeout: 10_000 });

  // 4. Its embedded player plays (live: the manifest appears after the first fragments).
  await mssRow.locator('button.play').click();
  await page.waitForFunction(() => {
    const v = document.querySelector('#player');
    return v && v.videoWidth > 0 && v.currentTime > 2;
  }, null, { timeout: 60_000, polling: 250 }).catch(async () => {
    throw new Error(`embedded player did not play: ${await page.textContent('#player-status')}`);
  });
  const video = await page.evaluate(() => {
    const v = document.querySelector('#player');
    return { width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime };
  });
  step('embedded player plays', video);
  result.video = video;
  await page.screenshot({ path: path.join(opts.out, 'console-playing.png'), fullPage: true });

  // 5. Remove takes it out of the page and of listConfig.
  await mssRow.locator('button.remove').click();
  await mssRow.waitFor({ state: 'detached', timeout: 10_000 });
  const after = (await apiCall('listConfig')).data.mss.find((c) => c.configId === config.configId);
  if (after) throw new Error(`config ${config.configId} still in listConfig after Remove`);
  step('removed from the console');

  // 6. The pull form: a pull of the published stream from this server's own RTMP port
  // appears with its status and as an inbound stream; Remove ends it.
  if (opts.rtmp) {
    const local = `${opts.stream}_pulled`;
    await page.fill('#pull [name=uri]', opts.rtmp);
    await page.fill('#pull [name=localStreamName]', local);
    await page.click('#pull-submit');
    await page.waitForFunction(() => /pullStream: SUCCESS/.test(document.querySelector('#action').textContent), null, { timeout: 10_000 })
      .catch(async () => { throw new Error(`pull failed: ${await page.textContent('#action')}`); });
    const pull = (await apiCall('listConfig')).data.pull.find((c) => c.localStreamName === local);
    if (!pull) throw new Error(`listConfig has no pull for ${local}`);
    const pullRow = page.locator(`#pulls tr[data-config-id="${pull.configId}"]`);
    await pullRow.waitFor({ timeout: 10_000 });
    await page.locator(`#streams tr[data-name="${local}"]`).waitFor({ timeout: 20_000 });
    const pullText = (await pullRow.innerText()).replace(/\s+/g, ' ');
    step('pull listed', { configId: pull.configId, row: pullText });
    result.pull_row = pullText;
    await pullRow.locator('button.remove').click();
    await pullRow.waitFor({ state: 'detached', timeout: 10_000 });
    if ((await apiCall('listConfig')).data.pull.some((c) => c.configId === pull.configId)) {
      throw new Error(`pull ${pull.configId} still in listConfig after Remove`);
    }
    step('pull removed');
  }

  // 7. The charts have points (one per poll after the first).
  const points = await page.evaluate(() => ['ingest', 'fragments', 'delay', 'web']
    .map((n) => Number(document.querySelector(`#c-${n}`).dataset.points || 0)));
  step('charts', { points });
  if (points.some((p) => p < 2)) throw new Error(`charts without points: ${points}`);
  // The recent events, newest first, as the page lists them (outputs made and ended above).
  await page.waitForFunction(() => /outStreamClosed/.test(document.querySelector('#events').textContent), null, { timeout: 10_000 })
    .catch(() => { /* reported through event_types below */ });
  result.event_types = await page.$$eval('#events li b', (bs) => bs.map((b) => b.textContent));
  await page.screenshot({ path: path.join(opts.out, 'console-removed.png'), fullPage: true });
  if (pageErrors.length) result.page_errors = pageErrors;
  finish(0, { ok: true, reason: '' });
} catch (e) {
  finish(1, { reason: String(e && e.message || e) });
} finally {
  clearTimeout(timer);
  await cleanup();
}
