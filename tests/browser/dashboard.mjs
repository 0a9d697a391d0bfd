// The dashboard in a real browser: headless Chromium (Debian's) driven by
// playwright-core. Starts `cscflow demo`, reads the page's address and the
// LAs' tokens from its output, and checks that the page
//   - refuses a wrong token (401) and another LA's token (403) with a message,
//   - signs in and shows the data set groups as tiles,
//   - updates without a reload as the demo applies events,
//   - shows the same numbers as the API: every tile, the data-quality counts, the sources
//     and the plan-duration counts, compared with an API answer for the same
//     events_applied and as_of (the demo streams live data, so the comparison
//     is retried, bounded in time, until the page and the API agree on the
//     state they show),
//   - keeps the session in the tab (a reload stays signed in) and signs out,
// and writes a screenshot to the output folder.
//
// usage: node dashboard.mjs --cscflow PATH --out DIR [--chromium PATH]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WWW = path.resolve(HERE, '../../serve/www');
const TOTAL_MS = 85_000; // ctest's timeout is 90 s
const started = Date.now();

let failed = false;
function fail(msg) {
  if (failed) // the first failure is the one to report
    return;
  failed = true;
  console.error('browser_dashboard: FAILED: ' + msg);
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
  console.error('usage: node dashboard.mjs --cscflow PATH --out DIR [--chromium PATH]');
  process.exit(2);
}

let demo = null, demoClosed = null, browser = null, demoStopped = false;
/* Closes the browser and stops the demo as Ctrl-C does; its exit status,
 * once its output is read to the end. */
async function cleanup() {
  if (browser)
    await browser.close().catch(() => {});
  browser = null;
  if (!demo)
    return null;
  if (demo.exitCode === null && demo.signalCode === null)
    demo.kill('SIGINT');
  const killer = setTimeout(() => demo.kill('SIGKILL'), 10_000);
  const status = await demoClosed;
  clearTimeout(killer);
  return status;
}

// Failed unless it reaches the end: a run that stops early never passes.
process.exitCode = 1;
const overall = setTimeout(() => fail(`not done after ${TOTAL_MS / 1000} s`), TOTAL_MS);

// ---- prerequisites: nothing is skipped -------------------------------------

function missing(msg) {
  console.error('browser_dashboard: FAILED: ' + msg);
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

// ---- the demo ---------------------------------------------------------------

/* Starts the demo and resolves with its dashboard URL and tokens once it has
 * printed them (and at least two LAs, for the other-LA check). */
function startDemo() {
  const demoLog = fs.createWriteStream(path.join(OUT, 'demo.log'));
  // Two LAs over two years (about 15,000 events) at 800 a second: the test
  // sees the page update while events flow, then compares it with the API
  // once they have stopped; it stops the demo itself, long before 80 s.
  demo = spawn(CSCFLOW, ['demo', '--duration', '80', '--las', '2', '--years', '2', '--rate', '800',
    '--state', STATE], { stdio: ['ignore', 'pipe', 'pipe'] });
  demoClosed = new Promise((r) => demo.on('close', (code, sig) => r(code ?? sig)));
  demo.stderr.pipe(demoLog);
  const seen = { url: null, tokens: new Map() };
  return new Promise((resolve, reject) => {
    let buf = '';
    demo.stdout.on('data', (chunk) => {
      demoLog.write(chunk);
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line.startsWith('demo stopped:'))
          demoStopped = true;
        let m;
        if ((m = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line)))
          seen.url = m[1];
        else if ((m = /^token ([A-Za-z0-9]+) (\S+)$/.exec(line)))
          seen.tokens.set(m[1], m[2]);
        if (seen.url && seen.tokens.size >= 2)
          resolve(seen);
      }
    });
    demo.on('exit', (code, sig) => reject(new Error(
      `cscflow demo exited (${code ?? sig}) before printing "dashboard: URL" and two "token LA TOKEN" lines; see ${OUT}/demo.log`)));
    setTimeout(() => reject(new Error(
      `cscflow demo printed no "dashboard:" and "token" lines within 30 s; see ${OUT}/demo.log`)), 30_000).unref();
  });
}

// ---- the API, from the test's side ------------------------------------------

async function apiGet(base, la, token, rest) {
  const r = await fetch(new URL(`v1/las/${la}/${rest}`, base), {
    headers: { Authorization: 'Bearer ' + token },
    signal: AbortSignal.timeout(5000),
  });
  if (r.status !== 200)
    throw new Error(`GET ${rest}: HTTP ${r.status}`);
  return r.json();
}

// ---- what the page shows ----------------------------------------------------

/* Everything the page shows that the test compares, read in one go. */
function readPage(page) {
  return page.evaluate(() => {
    const num = (e) => (e ? { raw: e.dataset.raw, scale: e.dataset.scale, text: e.textContent.trim() } : null);
    const status = document.getElementById('status');
    return {
      eventsApplied: document.body.dataset.eventsApplied,
      statusEvents: status.dataset.eventsApplied,
      asOf: status.dataset.asOf,
      statusText: document.getElementById('status-text').textContent,
      tiles: [...document.querySelectorAll('.tile')].map((t) => ({
        id: t.dataset.id, window: t.dataset.window, breakdown: t.dataset.breakdown,
        group: t.closest('.group').id.replace(/^group-/, ''),
        value: num(t.querySelector('.v')), numerator: num(t.querySelector('.num')),
        denominator: num(t.querySelector('.den')), per10k: num(t.querySelector('.per10k')),
        charted: t.querySelector('.trend canvas') !== null,
        unavailable: t.dataset.unavailable,
        trendTo: t.querySelector('.trend').dataset.to,
        trendValues: t.querySelector('.trend').dataset.values,
      })),
      quality: [...document.querySelectorAll('#quality-table tbody tr')].map((r) => ({
        rule: r.dataset.rule, count: num(r.querySelector('.n')),
      })),
      qualityTotal: num(document.getElementById('quality-total')),
      sources: [...document.querySelectorAll('#sources-table tbody tr')].map((r) => ({
        source: r.dataset.source, events: num(r.querySelector('.n')),
      })),
      alertsAsOf: document.getElementById('alerts').dataset.asOf,
      chips: [...document.querySelectorAll('#alert-summary .chip')].map((c) => ({
        state: c.dataset.state, months: c.dataset.months ? Number(c.dataset.months) : null,
        n: num(c.querySelector('.n')),
      })),
      alertRows: [...document.querySelectorAll('#alert-table tbody tr')].map((r) => r.dataset.alertId),
      alertTotal: document.getElementById('alert-count').dataset.total,
    };
  });
}

/* A shown number against the API's: the raw value the page keeps must be
 * the API's, and the text a person reads must be it (divided by the shown
 * scale) to the decimals shown. Returns a problem, or null. */
function checkNumber(what, shown, expected) {
  if (!shown)
    return `${what}: not shown`;
  const want = expected === undefined ? null : expected;
  const raw = shown.raw === 'null' ? null : Number(shown.raw);
  if (raw !== want)
    return `${what}: page has ${shown.raw}, API ${want}`;
  if (want === null)
    return shown.text === '—' ? null : `${what}: null shown as "${shown.text}"`;
  const read = Number(shown.text.replace(/,/g, ''));
  const decimals = (shown.text.split('.')[1] || '').length;
  if (!Number.isFinite(read) || Math.abs(read - want / Number(shown.scale)) > 0.5 * 10 ** -decimals + 1e-9)
    return `${what}: "${shown.text}" does not read as ${want}${shown.scale !== '1' ? ' / ' + shown.scale : ''}`;
  return null;
}

const tileKey = (t) => `${t.id}|${t.window}|${t.breakdown}`;

/* The page against one API snapshot, its alerts and each tile's series (the
 * number of days with a value); a list of problems, empty when they agree. */
function compare(view, snap, alerts, series) {
  const problems = [];
  if (view.eventsApplied !== String(snap.events_applied) || view.asOf !== snap.as_of)
    return [`page shows events_applied ${view.eventsApplied} as of ${view.asOf}, API ${snap.events_applied} as of ${snap.as_of}`];
  if (!view.statusText.includes(snap.events_applied.toLocaleString('en-GB')))
    problems.push(`status line "${view.statusText}" lacks ${snap.events_applied.toLocaleString('en-GB')}`);
  const rows = new Map(snap.indicators.map((r) => [tileKey(r), r]));
  const tiles = new Map(view.tiles.map((t) => [tileKey(t), t]));
  for (const r of snap.indicators)
    if (r.breakdown === '' && !tiles.has(tileKey(r)))
      problems.push(`no tile for ${tileKey(r)}`);
  for (const t of view.tiles) {
    const r = rows.get(tileKey(t));
    if (!r) {
      problems.push(`tile ${tileKey(t)} is not in the API's snapshot`);
      continue;
    }
    if (r.group !== undefined && r.group !== t.group)
      problems.push(`tile ${tileKey(t)} is under ${t.group}, API group ${r.group}`);
    const p = [checkNumber(`${tileKey(t)} value`, t.value, r.value)];
    if (t.unavailable !== String(r.unavailable))
      p.push(`${tileKey(t)}: unavailable ${t.unavailable} on the page, ${r.unavailable} from the API`);
    if (t.numerator || t.denominator) {
      p.push(checkNumber(`${tileKey(t)} numerator`, t.numerator, r.numerator));
      p.push(checkNumber(`${tileKey(t)} denominator`, t.denominator, r.denominator));
    } else if (r.per_10k !== null) {
      p.push(checkNumber(`${tileKey(t)} per 10,000`, t.per10k, r.per_10k));
    }
    const values = series.get(tileKey(t));
    if (t.trendTo !== snap.as_of || t.trendValues !== String(values))
      p.push(`${tileKey(t)}: the trend line ends ${t.trendTo} with ${t.trendValues} values, the API's ${snap.as_of} with ${values}`);
    else if (values > 0 && !t.charted)
      p.push(`${tileKey(t)}: the series API has values but no trend line is drawn`);
    problems.push(...p.filter(Boolean));
  }
  const quality = snap.quality || {};
  const shownRules = new Map(view.quality.map((q) => [q.rule, q.count]));
  let total = 0;
  for (const [rule, count] of Object.entries(quality)) {
    total += count;
    const p = checkNumber(`quality ${rule}`, shownRules.get(rule), count);
    if (p)
      problems.push(p);
  }
  if (shownRules.size !== Object.keys(quality).length)
    problems.push(`page shows ${shownRules.size} quality rules, API ${Object.keys(quality).length}`);
  let p = checkNumber('quality total', view.qualityTotal, total);
  if (p)
    problems.push(p);

  // Where the data came from: the page lists the snapshot's sources, with
  // the same event counts, and there is at least one (the generator's feed).
  const sources = snap.sources || [];
  if (sources.length === 0)
    problems.push('the snapshot names no source of its data');
  if (view.sources.length !== sources.length)
    problems.push(`page shows ${view.sources.length} sources, API ${sources.length}`);
  for (const [i, s] of sources.entries()) {
    const shown = view.sources[i];
    if (!shown || shown.source !== s.source)
      problems.push(`source ${i}: page ${shown && shown.source}, API ${s.source}`);
    else if ((p = checkNumber(`source ${s.source} events`, shown.events, s.events)))
      problems.push(p);
  }

  if (view.alertsAsOf !== alerts.as_of)
    problems.push(`alerts as of ${view.alertsAsOf} on the page, ${alerts.as_of} from the API`);
  for (const c of view.chips) {
    const n = alerts.alerts.filter((a) => a.state === c.state && (c.months === null || a.months === c.months)).length;
    const q = checkNumber(`alerts ${c.state}${c.months ? ' ' + c.months + 'm' : ''}`, c.n, n);
    if (q)
      problems.push(q);
  }
  if (view.chips.length !== 4)
    problems.push(`${view.chips.length} alert counts shown, 4 expected`);
  if (view.alertTotal !== String(alerts.alerts.length))
    problems.push(`alert list counts ${view.alertTotal} plans, API ${alerts.alerts.length}`);
  const ids = new Set(alerts.alerts.map((a) => a.id));
  if (view.alertRows.length !== Math.min(200, alerts.alerts.length) || !view.alertRows.every((id) => ids.has(id)))
    problems.push(`alert table has ${view.alertRows.length} rows not all in the API's ${alerts.alerts.length}`);
  return problems;
}

// ---- the run ----------------------------------------------------------------

async function signIn(page, la, token) {
  await page.fill('#la', la);
  await page.fill('#token', token);
  await page.click('#sign-in-button');
}

async function waitFor(what, ms, fn) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v)
      return v;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  // The browser first: its start is the slow part, and the demo's stream is short.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
  log(`started ${CHROMIUM} (${browser.version()})`);
  log(`starting ${CSCFLOW} demo (state ${STATE})`);
  const { url, tokens } = await startDemo();
  const [la, otherLa] = [...tokens.keys()];
  const token = tokens.get(la);
  log(`demo: dashboard ${url}, tokens for ${[...tokens.keys()].join(', ')}`);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.setDefaultTimeout(15_000);

  await page.goto(url);
  await page.waitForSelector('#sign-in-form', { state: 'visible' });
  log('checked: the page loads with its sign-in form');

  await signIn(page, la, 'not-a-token-of-anyone');
  await page.waitForFunction(() => /\b401\b/.test(document.getElementById('message').textContent));
  await signIn(page, otherLa, token);
  await page.waitForFunction(() => /\b403\b/.test(document.getElementById('message').textContent));
  if (await page.isVisible('#dashboard'))
    throw new Error('the dashboard shows after a refused token');
  log(`checked: a wrong token gets the 401 message, ${la}'s token on ${otherLa} the 403 message`);

  await signIn(page, la, token);
  await page.waitForFunction(() => document.body.dataset.eventsApplied !== undefined, null, { timeout: 30_000 });
  const stored = await page.evaluate(() => sessionStorage.getItem('cscflow.token'));
  if (stored !== token)
    throw new Error('the token is not kept in sessionStorage');
  const first = await readPage(page);
  log(`checked: signed in as ${la}: ${first.tiles.length} tiles, events_applied ${first.eventsApplied}`);
  const groups = new Set(first.tiles.map((t) => t.group));
  for (const g of ['Activity', 'Plans', 'Outcomes', 'Workforce'])
    if (!groups.has(g))
      throw new Error(`no tiles under ${g}`);

  // Live updates: the same document (no reload) shows newer states.
  await page.evaluate(() => { window.__sameDocument = true; });
  await waitFor('the page showing newer events', 30_000, async () =>
    Number((await readPage(page)).eventsApplied) > Number(first.eventsApplied));
  if (!(await page.evaluate(() => window.__sameDocument === true)))
    throw new Error('the page reloaded to update');
  const updated = await readPage(page);
  log(`checked: the page updated without a reload: events_applied ${first.eventsApplied} -> ${updated.eventsApplied}`);

  // The page against the API, for the same state; retried while the demo streams.
  let problems = [], checked = null, attempts = 0;
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    attempts++;
    const snap = await apiGet(url, la, token, 'snapshot');
    const view = await readPage(page);
    if (view.eventsApplied === String(snap.events_applied) && view.asOf === snap.as_of) {
      const alerts = await apiGet(url, la, token, 'alerts?status=open');
      const series = new Map();
      for (const t of view.tiles) {
        const q = new URLSearchParams({ indicator: t.id, window: t.window, breakdown: t.breakdown, to: snap.as_of });
        const s = await apiGet(url, la, token, 'series?' + q);
        series.set(tileKey(t), s.points.filter((pt) => pt.value !== null).length);
      }
      const again = await apiGet(url, la, token, 'snapshot');
      if (again.events_applied === snap.events_applied) { // nothing moved while reading
        const latest = await readPage(page);
        problems = compare(latest, snap, alerts, series);
        if (problems.length === 0) {
          checked = { snap, alerts, series, view: latest };
          break;
        }
      }
    } else {
      problems = [`page at events_applied ${view.eventsApplied}, API at ${snap.events_applied}`];
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!checked)
    throw new Error(`the page and the API did not agree within 45 s (${attempts} attempts); last: ` +
      problems.slice(0, 10).join('; '));
  const { snap, alerts, series, view } = checked;
  const charted = view.tiles.filter((t) => t.charted).length;
  const days = [...series.values()].reduce((a, b) => a + b, 0);
  const numbers = view.tiles.reduce((n, t) => n + 1 + (t.numerator ? 2 : t.per10k ? 1 : 0), 0);
  log(`checked: the page equals the API at events_applied ${snap.events_applied}, as of ${snap.as_of} ` +
    `(attempt ${attempts}): ${view.tiles.length} tiles (${numbers} numbers), ${charted} trend lines ` +
    `(${days} daily values to ${snap.as_of}), ` +
    `${view.quality.length} quality rules (total ${view.qualityTotal.raw}), ` +
    `${alerts.alerts.length} open alerts (${view.chips.map((c) => c.n.raw).join('/')} due soon/past 6/12/24m)`);
  if (Number(snap.events_applied) <= Number(first.eventsApplied))
    throw new Error('the compared state is not newer than the first one shown');

  const shot = path.join(OUT, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot: ${shot}`);

  await page.reload();
  await page.waitForFunction(() => document.body.dataset.eventsApplied !== undefined);
  if (!(await page.isVisible('#dashboard')))
    throw new Error('a reload lost the session');
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in-form', { state: 'visible' });
  if (await page.evaluate(() => sessionStorage.getItem('cscflow.token')) !== null)
    throw new Error('signing out kept the token');
  log('checked: a reload stays signed in; signing out forgets the token');

  if (pageErrors.length)
    throw new Error('script errors on the page: ' + pageErrors.join('; '));
}

main().then(
  async () => {
    const status = await cleanup();
    if (status !== 0 || !demoStopped) {
      fail(`cscflow demo did not stop cleanly on SIGINT (exit ${status}); see ${OUT}/demo.log`);
      return;
    }
    clearTimeout(overall);
    log('checked: the demo stopped cleanly on SIGINT');
    console.log('browser_dashboard: passed');
    process.exitCode = 0;
  },
  (e) => fail(e.message));
