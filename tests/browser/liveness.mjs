// The dashboard never looks live when it is not: headless Chromium
// (Debian's) driven by playwright-core, on a page served by `cscflow serve`,
// a process of its own reading the state that `cscflow demo` writes (the
// demo's own server would go with it). Checks that the page
//   - shows the live dot while the writer runs and is ready,
//   - shows "Not ready: <reason>", or "Not live: no word from the writer",
//     with the last-applied time and no dot, when /readyz?format=json says
//     so (answered by the test through Playwright's routing: a lagging
//     consumer or a hung writer cannot be had on demand), "Server error
//     (HTTP 502)" for a proxy's error page in its place, and the dot again
//     once the real answer is back,
//   - shows "Server unreachable since …" when `cscflow serve` is stopped,
//     and the dot again once it is started again on the same port,
//   - shows "Not live: writer stopped" with the time of the last event
//     applied, equal to the server's, once the demo (the writer) has stopped,
// and writes a screenshot of the not-live page to the output folder.
// Loopback only; bounded in time (80 s in all, each wait less).
//
// usage: node liveness.mjs --cscflow PATH --out DIR [--chromium PATH]
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WWW = path.resolve(HERE, '../../serve/www');
const TOTAL_MS = 80_000; // ctest's timeout is 90 s
const started = Date.now();
const NAME = 'browser_liveness';

let failed = false;
function fail(msg) {
  if (failed) // the first failure is the one to report
    return;
  failed = true;
  console.error(`${NAME}: FAILED: ${msg}`);
  cleanup().finally(() => process.exit(1));
}

function log(msg) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
}

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const CSCFLOW = arg('cscflow');
const OUT = arg('out');
const CHROMIUM = arg('chromium', '/usr/bin/chromium');
if (!CSCFLOW || !OUT) {
  console.error('usage: node liveness.mjs --cscflow PATH --out DIR [--chromium PATH]');
  process.exit(2);
}

/* Child processes: the demo (the writer) and `cscflow serve`. */
const children = new Set();
let browser = null;

function spawnLogged(args, logName) {
  const child = spawn(CSCFLOW, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = fs.createWriteStream(path.join(OUT, logName), { flags: 'a' });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  child.closed = new Promise((r) => child.on('close', (code, sig) => r(code ?? sig)));
  children.add(child);
  child.closed.then(() => children.delete(child));
  return child;
}

/* Stops a child with sig, SIGKILL after 10 s; its exit status. */
async function stopChild(child, sig) {
  if (child.exitCode === null && child.signalCode === null)
    child.kill(sig);
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const status = await child.closed;
  clearTimeout(killer);
  return status;
}

async function cleanup() {
  if (browser)
    await browser.close().catch(() => {});
  browser = null;
  await Promise.all([...children].map((c) => stopChild(c, 'SIGINT')));
}

// Failed unless it reaches the end: a run that stops early never passes.
process.exitCode = 1;
const overall = setTimeout(() => fail(`not done after ${TOTAL_MS / 1000} s`), TOTAL_MS);

// ---- prerequisites: nothing is skipped -------------------------------------

function missing(msg) {
  console.error(`${NAME}: FAILED: ${msg}`);
  process.exit(1);
}
try {
  fs.accessSync(CHROMIUM, fs.constants.X_OK);
} catch {
  missing(`no Chromium at ${CHROMIUM}: install Debian's chromium (bash deploy/install-deps.sh)`);
}
let chromium;
try {
  ({ chromium } = createRequire(path.join(WWW, 'package.json'))('playwright-core'));
} catch (e) {
  missing(`playwright-core is not installed in ${WWW}/node_modules (bash deploy/install-deps.sh): ${e.message}`);
}

fs.mkdirSync(OUT, { recursive: true });
const STATE = path.join(OUT, 'state');
fs.rmSync(STATE, { recursive: true, force: true });
for (const f of ['demo.log', 'serve.log'])
  fs.rmSync(path.join(OUT, f), { force: true });

// ---- the processes ------------------------------------------------------------

/* Reads child's output line by line until match(line) gives a value;
 * rejects when the child exits first or after ms. */
function awaitLine(child, what, ms, match) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const v = match(line);
        if (v !== undefined) {
          done();
          resolve(v);
          return;
        }
      }
    };
    const onExit = (code, sig) => {
      done();
      reject(new Error(`${what}: the process exited (${code ?? sig}) first`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: not within ${ms / 1000} s`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', onExit);
  });
}

/* The demo writes STATE: one LA over one year, streamed over about 20 s,
 * then idle (it keeps its status record fresh) until the test stops it. */
async function startDemo() {
  const demo = spawnLogged(['demo', '--duration', '75', '--las', '1', '--years', '1', '--rate', '300',
    '--state', STATE], 'demo.log');
  const seen = { url: null, la: null, token: null };
  await awaitLine(demo, 'cscflow demo printing "dashboard: URL" and "token LA TOKEN"', 30_000, (line) => {
    let m;
    if ((m = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line)))
      seen.url = m[1];
    else if ((m = /^token ([A-Za-z0-9]+) (\S+)$/.exec(line)) && !seen.la)
      [seen.la, seen.token] = [m[1], m[2]];
    return seen.url && seen.la ? seen : undefined;
  });
  return { demo, ...seen };
}

/* `cscflow serve` on STATE, read-only, with the LA's token (its SHA-256 in
 * the config); port 0: a free one. Resolves with the process and its port. */
async function startServe(config, port) {
  const serve = spawnLogged(['serve', '--state', STATE, '--config', config, '--port', String(port)],
    'serve.log');
  const bound = await awaitLine(serve, 'cscflow serve logging "serving"', 15_000, (line) => {
    const m = /"event":"serving","port":(\d+)/.exec(line);
    return m ? Number(m[1]) : undefined;
  });
  return { serve, port: bound };
}

async function readiness(base) {
  const r = await fetch(new URL('readyz?format=json', base), { signal: AbortSignal.timeout(5000) });
  const doc = await r.json();
  if (r.status !== (doc.ready ? 200 : 503))
    throw new Error(`/readyz?format=json: HTTP ${r.status} with ready ${doc.ready}`);
  return doc;
}

// ---- what the page shows ----------------------------------------------------

function readLive(page) {
  return page.evaluate(() => {
    // A page without the live box (the dot alone) reads as state "none".
    const box = document.getElementById('live') || document.getElementById('status');
    const visible = (e) => e !== null && e.getClientRects().length > 0 &&
      getComputedStyle(e).display !== 'none' && getComputedStyle(e).visibility !== 'hidden';
    const ms = box.dataset.lastApplied ? Number(box.dataset.lastApplied) : null;
    return {
      state: box.dataset.state || 'none',
      headline: document.getElementById('live-state')?.textContent ?? '',
      role: document.getElementById('live-state')?.getAttribute('role') ?? null,
      detail: document.getElementById('live-detail')?.textContent ?? '',
      text: box.innerText.replace(/\s+/g, ' ').trim(),
      dot: visible(box.querySelector('.live-dot')),
      mark: visible(box.querySelector('.live-mark')),
      border: getComputedStyle(box).borderTopStyle,
      lastApplied: ms,
      // How the page writes that time (its locale and zone), for the check.
      lastAppliedShown: ms === null ? null : new Date(ms).toLocaleTimeString('en-GB'),
    };
  });
}

async function waitFor(what, ms, fn) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last && last.ok)
      return last;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms / 1000} s; last seen: ${JSON.stringify(last && last.seen)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function waitLive(page, what, ms) {
  return waitFor(what, ms, async () => {
    const v = await readLive(page);
    return { ok: v.state === 'live', seen: v, v };
  });
}

/* The live dot, and nothing of the not-live box. */
function checkLive(v, when) {
  if (!v.dot || v.mark || v.headline !== 'Live' || v.border === 'solid')
    throw new Error(`${when}: the page does not look live: ${JSON.stringify(v)}`);
}

/* No dot; the marked box with its headline, the time of the last event
 * applied (or that none was), in text as well as colour. */
function checkNotLive(v, when, headline) {
  const problems = [];
  if (v.dot)
    problems.push('the live dot shows');
  if (!v.mark || v.border !== 'solid')
    problems.push('no marked box');
  if (!v.headline.startsWith(headline))
    problems.push(`headline "${v.headline}", not "${headline}…"`);
  if (v.role !== 'status')
    problems.push('the headline is not announced (role=status)');
  if (v.lastApplied === null || !v.detail.includes('last event applied ' + v.lastAppliedShown))
    problems.push(`"${v.detail}" does not say the last event was applied at ${v.lastAppliedShown}`);
  if (problems.length)
    throw new Error(`${when}: ${problems.join('; ')}: ${JSON.stringify(v)}`);
}

// ---- the run ----------------------------------------------------------------

async function main() {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
  log(`started ${CHROMIUM} (${browser.version()})`);
  const { demo, la, token } = await startDemo();
  log(`demo writing ${STATE}; LA ${la}`);

  const config = path.join(OUT, 'serve.conf');
  const hash = crypto.createHash('sha256').update(token).digest('hex');
  fs.writeFileSync(config, `cscflow.api.token.${la} = ${hash}\n`);
  let { serve, port } = await startServe(config, 0);
  const base = `http://127.0.0.1:${port}/`;
  log(`cscflow serve on ${base}`);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.setDefaultTimeout(15_000);
  await page.goto(base);
  await page.fill('#la', la);
  await page.fill('#token', token);
  await page.click('#sign-in-button');

  // 1. Live while the demo writes: the dot, and "Live" in words.
  let v = (await waitLive(page, 'the page showing live while the writer runs', 25_000)).v;
  checkLive(v, 'writer running');
  await page.waitForFunction(() => document.body.dataset.eventsApplied !== undefined, null, { timeout: 20_000 });
  log(`checked: live while the writer runs ("${v.text}")`);

  // 2. Answers the test makes up (a lagging consumer, a hung writer cannot
  //    be had on demand): not ready, a writer not responding for 40 s.
  const now = Date.now();
  const answers = [
    { kind: 'not-ready', headline: 'Not ready:', says: 'consumer lag 5000 over 1000',
      doc: { ready: false, reason: 'consumer lag 5000 over 1000', live: false, writer: 'running', mode: 'run',
        now_ms: now, updated_ms: now, last_applied_ms: now - 1000, last_snapshot_ms: now - 1000, stopped_ms: null } },
    { kind: 'not-responding', headline: 'Not live: no word from the writer', says: 'since',
      doc: { ready: false, reason: 'status 40 s old: the writer is not running', live: false,
        writer: 'not_responding', mode: 'run', now_ms: now, updated_ms: now - 40_000,
        last_applied_ms: now - 45_000, last_snapshot_ms: now - 45_000, stopped_ms: null } },
  ];
  for (const a of answers) {
    const handler = (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify(a.doc) });
    await page.route('**/readyz?format=json', handler);
    v = (await waitFor(`the page showing ${a.kind}`, 10_000, async () => {
      const r = await readLive(page);
      return { ok: r.state === a.kind, seen: r, v: r };
    })).v;
    checkNotLive(v, a.kind, a.headline);
    if (!v.detail.includes(a.says) || v.lastApplied !== a.doc.last_applied_ms)
      throw new Error(`${a.kind}: "${v.text}" lacks "${a.says}" or the last-applied time ${a.doc.last_applied_ms}`);
    log(`checked: ${a.kind}: "${v.text}"`);
    await page.unroute('**/readyz?format=json', handler);
  }
  // A proxy's error page in place of the answer: not live either.
  const proxy = (route) => route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>Bad Gateway</h1>' });
  await page.route('**/readyz?format=json', proxy);
  v = (await waitFor('the page showing a server error', 10_000, async () => {
    const r = await readLive(page);
    return { ok: r.state === 'server-error', seen: r, v: r };
  })).v;
  checkNotLive(v, 'a proxy\'s 502', 'Server error (HTTP 502)');
  log(`checked: a proxy's 502: "${v.text}"`);
  await page.unroute('**/readyz?format=json', proxy);
  checkLive((await waitLive(page, 'the dot back once ready', 10_000)).v, 'ready again');
  log('checked: the dot is back once ready');

  // 3. The server gone, then back on the same port.
  await stopChild(serve, 'SIGTERM');
  v = (await waitFor('the page showing the server unreachable', 15_000, async () => {
    const r = await readLive(page);
    return { ok: r.state === 'unreachable', seen: r, v: r };
  })).v;
  checkNotLive(v, 'server stopped', 'Server unreachable');
  const since = await page.evaluate(() => Number(document.getElementById('live').dataset.since));
  if (!v.detail.includes('since ' + await page.evaluate((t) => new Date(t).toLocaleTimeString('en-GB'), since)))
    throw new Error(`server stopped: "${v.text}" does not say since when`);
  log(`checked: server stopped: "${v.text}"`);
  ({ serve } = await startServe(config, port));
  checkLive((await waitLive(page, 'the dot back once the server is back', 15_000)).v, 'server back');
  log('checked: the dot is back once the server is back');

  // 4. The writer stopped: the server stays, and says so at once.
  const applied = (await readiness(base)).last_applied_ms;
  const demoStatus = await stopChild(demo, 'SIGINT');
  if (demoStatus !== 0)
    throw new Error(`cscflow demo did not stop cleanly on SIGINT (exit ${demoStatus}); see ${OUT}/demo.log`);
  const after = await readiness(base);
  if (after.writer !== 'stopped' || after.live !== false || !after.last_applied_ms || after.last_applied_ms < applied)
    throw new Error(`after the writer stopped, /readyz?format=json says ${JSON.stringify(after)}`);
  v = (await waitFor('the page showing the writer stopped', 10_000, async () => {
    const r = await readLive(page);
    return { ok: r.state === 'stopped', seen: r, v: r };
  })).v;
  checkNotLive(v, 'writer stopped', 'Not live: writer stopped');
  if (v.lastApplied !== after.last_applied_ms)
    throw new Error(`writer stopped: the page says the last event was applied at ${v.lastApplied}, the server ${after.last_applied_ms}`);
  log(`checked: writer stopped: "${v.text}" (last_applied_ms ${after.last_applied_ms})`);
  // It stays so: a few polls later, still not live.
  await new Promise((r) => setTimeout(r, 4500));
  checkNotLive(await readLive(page), 'writer stopped, 4.5 s later', 'Not live: writer stopped');

  const shot = path.join(OUT, 'not-live.png');
  await page.screenshot({ path: shot });
  log(`screenshot: ${shot}`);
  const serveStatus = await stopChild(serve, 'SIGTERM');
  if (serveStatus !== 0)
    throw new Error(`cscflow serve did not stop cleanly on SIGTERM (exit ${serveStatus}); see ${OUT}/serve.log`);
  if (pageErrors.length)
    throw new Error('script errors on the page: ' + pageErrors.join('; '));
}

main().then(
  async () => {
    await cleanup();
    clearTimeout(overall);
    console.log(`${NAME}: passed`);
    process.exitCode = 0;
  },
  (e) => fail(e.message));
