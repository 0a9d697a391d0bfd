/*
 * The dashboard: signs in with an LA code and token (kept in sessionStorage,
 * sent as "Authorization: Bearer"), polls the LA's snapshot every 2 s and
 * re-renders when its events_applied or as_of changes: tiles by group, each
 * with a 12-month trend (uPlot) from the series API; the plans past or
 * approaching 6/12/24 months; data-quality counts by rule.
 *
 * With each snapshot it reads GET /readyz?format=json (no token: the
 * writer's state is not an LA's data) and shows the live dot only while the
 * server is reachable, the writer runs and it is ready; otherwise the dot
 * gives way to a marked box saying which ("Not live: writer stopped",
 * "Not ready: <reason>", "Server unreachable since …", "Server error (HTTP
 * n)") and when the last event was applied (#live, data-state; setLive).
 *
 * Every number shown keeps the API's raw value in data-raw (and data-scale
 * when it is shown divided, e.g. FTE in hundredths), so the browser test can
 * check what a person sees against what the API said.
 */
'use strict';

(function () {
  const GROUPS = ['Activity', 'Plans', 'Outcomes', 'Workforce'];
  const POLL_MS = 2000;
  const TREND_MIN_MS = 5000; // the trends are many requests: refreshed at most this often
  const REQUEST_TIMEOUT_MS = 8000;
  const TREND_CONCURRENCY = 3;
  const ALERT_ROWS = 200; // the table shows the most urgent; the filters narrow it
  const STORE_LA = 'cscflow.la';
  const STORE_TOKEN = 'cscflow.token';

  const WINDOWS = {
    '12m': 'the 12 months to the as-of date',
    '6m': 'the 6 months to the as-of date',
    FYTD: 'the financial year to date',
    T: 'on the as-of date',
  };

  /* How each indicator reads. kind: count (value = numerator, with a rate per
   * 10,000 children), pct (100 × numerator / denominator) or mean (numerator /
   * denominator). fte: which of numerator and denominator are FTE in
   * hundredths. Indicators not listed still show, titled by their id. */
  const INDICATORS = {
    referrals: { group: 'Activity', title: 'Referrals', kind: 'count' },
    assessments: { group: 'Activity', title: 'Assessments completed', kind: 'count' },
    s47_enquiries: { group: 'Activity', title: 'Section 47 enquiries', kind: 'count' },
    icpcs: { group: 'Activity', title: 'Initial child protection conferences', kind: 'count' },
    cp_plan_starts: { group: 'Activity', title: 'Child protection plans started', kind: 'count' },
    nfa_reassessed: { group: 'Activity', title: 'Reassessed after no further action', kind: 'pct' },
    children_in_need: { group: 'Plans', title: 'Children in need', kind: 'count' },
    children_on_plan: {
      group: 'Plans', kind: 'count',
      title: (b) => ({
        CIN: 'Children on a child in need plan', CP: 'Children on a child protection plan',
        LAC: 'Children looked after', EH: 'Children on an early help plan',
      })[b] || 'Children on a ' + b + ' plan',
    },
    cp_reviews_timely: {
      group: 'Plans', title: 'Child protection reviews on time', kind: 'pct',
      parts: ['all reviews on time', 'on a plan of 3+ months'],
    },
    lac_reviews_timely: {
      group: 'Plans', title: 'Looked-after reviews on time', kind: 'pct',
      parts: ['all reviews on time', 'looked after 20+ working days'],
    },
    rereferrals: {
      group: 'Outcomes', title: 'Re-referrals within 12 months', kind: 'pct',
      parts: ['re-referrals', 'referrals'],
    },
    placements_3plus: {
      group: 'Outcomes', title: 'Looked after with 3 or more placements', kind: 'pct',
      parts: ['with 3+ placements', 'looked after'],
    },
    placement_stability_long: {
      group: 'Outcomes', title: 'Long-term placement stability', kind: 'pct',
      parts: ['in a placement of 2+ years', 'in care 2½+ years, under 16'],
    },
    placement_changes_avg: {
      group: 'Outcomes', title: 'Placement moves per child looked after', kind: 'mean', decimals: 2,
      parts: ['placement moves', 'children looked after'],
    },
    care_entries: { group: 'Outcomes', title: 'Children entering care', kind: 'count' },
    reunification_sustained: {
      group: 'Outcomes', title: 'Reunifications sustained', kind: 'pct',
      parts: ['not looked after again', 'returned home'],
    },
    early_permanence: {
      group: 'Outcomes', title: 'Early permanence', kind: 'pct',
      parts: ['early permanence', 'placed for adoption'],
    },
    missing_from_care: {
      group: 'Outcomes', kind: 'pct',
      title: (b) => ({
        missing: 'Looked-after children missing', away: 'Looked-after children away without authorisation',
      })[b] || 'Missing from care: ' + b,
      parts: ['children with an incident', 'looked after'],
    },
    care_leavers: {
      group: 'Outcomes', kind: 'pct',
      title: (b) => ({
        in_touch: 'Care leavers in touch', eet: 'Care leavers in education, employment or training',
        suitable_accommodation: 'Care leavers in suitable accommodation',
        'in_touch,NO': 'Care leavers not in touch', 'in_touch,REFU': 'Care leavers refusing contact',
        'in_touch,NREQ': 'Care leavers no longer requiring services',
        'in_touch,RHOM': 'Care leavers returned home', 'in_touch,DIED': 'Care leavers who died',
      })[b] || 'Care leavers: ' + b,
      parts: ['care leavers', 'aged 17–21 with a contact'],
    },
    court_applications: { group: 'Outcomes', title: 'Care and supervision applications', kind: 'count' },
    sw_vacancy_rate: {
      group: 'Workforce', title: 'Social worker vacancy rate', kind: 'pct',
      parts: ['FTE vacant', 'FTE of posts'], fte: [true, true],
    },
    sw_turnover_rate: {
      group: 'Workforce', title: 'Social worker turnover', kind: 'pct',
      parts: ['FTE left', 'FTE employed'], fte: [true, true],
    },
    sw_sickness: {
      group: 'Workforce', title: 'Sickness absence', kind: 'mean', unit: 'days per FTE',
      parts: ['days absent', 'FTE employed'], fte: [false, true],
    },
    sw_agency_rate: {
      group: 'Workforce', title: 'Agency social workers', kind: 'pct',
      parts: ['agency FTE', 'FTE employed'], fte: [true, true],
    },
    sw_diversity: {
      group: 'Workforce', kind: 'pct',
      title: (b) => 'Social worker FTE: ' + b.replace(/_/g, ' ').replace(',', ', '),
      parts: ['FTE in the group', 'FTE employed'], fte: [true, true],
    },
    sw_caseload: {
      group: 'Workforce', title: 'Average caseload', kind: 'mean', unit: 'children per worker',
      parts: ['children allocated', 'case-holding workers'],
    },
  };

  /* Tiles show each indicator's headline rows (breakdown ""), and these
   * breakdowns, which are the headline of an indicator that has no total. */
  const HEADLINE_BREAKDOWNS = {
    children_on_plan: ['CIN', 'CP', 'LAC', 'EH'],
    missing_from_care: ['missing', 'away'],
    care_leavers: ['in_touch', 'eet', 'suitable_accommodation', 'in_touch,NO', 'in_touch,REFU',
      'in_touch,NREQ', 'in_touch,RHOM', 'in_touch,DIED'],
    sw_diversity: ['white', 'mixed', 'asian', 'black', 'other', 'not_known'],
  };

  const QUALITY_RULES = {
    end_before_start: 'An end dated before the start of what it ends; the episode stays open (an assessment or S47 completion still counts, untimed).',
    end_without_start: 'An end, closure or change of something that never started.',
    referral_while_open: 'A referral while the child\'s CIN episode is open; not counted as a referral.',
    placement_outside_care: 'A placement with no open period of care; not counted.',
    overlapping_plan: 'A plan starting while another of the same kind is open; both kept.',
    date_before_birth: 'An event dated before the child\'s date of birth.',
    date_after_recorded: 'An event dated after the day it was recorded.',
    unknown_code: 'A code outside the DfE guides\' list for its field.',
    implausible_date: 'An event dated before 1900; not counted until its date is corrected.',
    after_death: 'An event dated after the child\'s date of death; not counted.',
    repeated_completion: 'A second completion of an assessment or S47 enquiry; only the first counts.',
    review_outside_plan: 'A review of a CP plan or period of care that was not open on the review date.',
    missing_outside_care: 'A missing or away episode that starts when the child is not in care.',
    period_start_unknown: 'A period of care that began before the first return imported, on an unknown day; not counted as an entry to care.',
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    gen: 0, // bumped on sign-in and sign-out: answers of an older session are dropped
    la: '',
    token: '',
    timer: 0,
    snap: null,
    tiles: new Map(), // key "id|window|breakdown" -> tile
    alerts: null,
    trendJob: null,
    alertJob: null,
    lastApplied: null, // unix ms of the writer's last applied event, as last read
    unreachableSince: 0, // when polls began to fail; 0 while they succeed
  };

  /* ---- formatting ---------------------------------------------------------- */

  const formats = new Map();
  function fmt(x, minDecimals, maxDecimals) {
    if (x === null || x === undefined || !Number.isFinite(x))
      return '—';
    const key = minDecimals + ':' + maxDecimals;
    let f = formats.get(key);
    if (!f) {
      f = new Intl.NumberFormat('en-GB', {
        minimumFractionDigits: minDecimals, maximumFractionDigits: maxDecimals,
      });
      formats.set(key, f);
    }
    return f.format(x);
  }

  /* Shows raw / scale in el, keeping raw for the test. */
  function setNumber(el, raw, scale, minDecimals, maxDecimals) {
    const shown = raw === null || raw === undefined ? null : raw / scale;
    el.textContent = fmt(shown, minDecimals, maxDecimals);
    el.dataset.raw = raw === null || raw === undefined ? 'null' : String(raw);
    el.dataset.scale = String(scale);
    if (shown === null)
      el.setAttribute('aria-label', 'no value');
    else
      el.removeAttribute('aria-label');
  }

  const dateFormat = new Intl.DateTimeFormat('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
  });
  function isoToUtc(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || '');
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) : NaN;
  }
  function fmtDate(iso) {
    const t = isoToUtc(iso);
    return Number.isNaN(t) ? (iso || '—') : dateFormat.format(t);
  }

  /* A time of day, with the date when it is not today. */
  function fmtTime(ms) {
    const d = new Date(ms);
    const time = d.toLocaleTimeString('en-GB');
    if (d.toDateString() === new Date().toDateString())
      return time;
    return d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' }) +
      ' ' + time;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls)
      e.className = cls;
    if (text !== undefined)
      e.textContent = text;
    return e;
  }

  /* ---- the API ------------------------------------------------------------- */

  class AuthError extends Error {
    constructor(status) {
      super('auth ' + status);
      this.status = status;
    }
  }

  /* An answer that is not what was asked for: a server error, or a proxy's. */
  class HttpError extends Error {
    constructor(status) {
      super('HTTP ' + status);
      this.status = status;
    }
  }

  /* GET /v1/las/{la}/{path}: the parsed JSON, or null on 404. Throws
   * AuthError on 401/403, HttpError on another status, and fetch's own
   * errors when there is no answer. */
  async function api(path) {
    const r = await fetch('/v1/las/' + encodeURIComponent(state.la) + '/' + path, {
      headers: { Authorization: 'Bearer ' + state.token },
      cache: 'no-store',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (r.status === 401 || r.status === 403)
      throw new AuthError(r.status);
    if (r.status === 404)
      return null;
    if (!r.ok)
      throw new HttpError(r.status);
    return r.json();
  }

  /* GET /readyz?format=json: the writer's state (serve.h, ready_json),
   * whether ready (200) or not (503). Throws when there is no such answer. */
  async function readiness() {
    const r = await fetch('/readyz?format=json', {
      cache: 'no-store',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    let doc = null;
    try {
      doc = await r.json();
    } catch (e) {
      doc = null;
    }
    if (doc === null || typeof doc !== 'object' || typeof doc.ready !== 'boolean')
      throw new HttpError(r.status);
    return doc;
  }

  /* A refresh that runs one at a time, at most every minMs: asked while
   * running, it runs once more afterwards. */
  function job(fn, minMs) {
    let running = false, again = false, last = 0, timer = 0;
    const run = async () => {
      timer = 0;
      running = true;
      again = false;
      last = Date.now();
      const gen = state.gen;
      try {
        await fn(gen);
      } catch (e) {
        if (gen === state.gen)
          handleError(e);
      }
      running = false;
      if (again && gen === state.gen)
        ask();
    };
    const ask = () => {
      if (running) {
        again = true;
        return;
      }
      if (timer)
        return;
      timer = setTimeout(run, Math.max(0, last + minMs - Date.now()));
    };
    ask.cancel = () => {
      clearTimeout(timer);
      timer = 0;
      again = false;
    };
    return ask;
  }

  /* ---- messages ------------------------------------------------------------ */

  function showMessage(text, kind) {
    const m = $('message');
    m.textContent = text;
    m.className = 'message ' + (kind || 'error');
    m.hidden = false;
  }

  function clearMessage() {
    $('message').hidden = true;
    $('message').textContent = '';
  }

  /* A failed request. Only the poll's failures change the live box: a
   * trend or alert list that failed says so in the message alone. */
  function handleError(e, fromPoll) {
    if (e instanceof AuthError) {
      authFailed(e.status);
      return;
    }
    if (fromPoll)
      showUnreachable(e);
    showMessage('Cannot reach the server (' + (e && e.message ? e.message : 'no answer') +
      '). Retrying every 2 seconds; the figures below may be out of date.', 'warning');
  }

  /* ---- live or not ---------------------------------------------------------- */

  function lastAppliedText(ms) {
    return ms ? 'last event applied ' + fmtTime(ms) : 'no event applied yet';
  }

  /* Shows the state of the figures in place of the live dot. kind: live,
   * unknown, stopped, not-responding, no-writer, not-ready, unreachable,
   * server-error.
   * headline is announced (role=status) when it changes; detail is not, as
   * it may change at every poll. */
  function setLive(kind, headline, detail, title) {
    const box = $('live');
    box.dataset.state = kind;
    box.classList.toggle('not-live', kind !== 'live' && kind !== 'unknown');
    if (state.lastApplied)
      box.dataset.lastApplied = String(state.lastApplied);
    else
      delete box.dataset.lastApplied;
    if ($('live-state').textContent !== headline)
      $('live-state').textContent = headline;
    $('live-detail').textContent = detail;
    box.title = title || '';
  }

  /* From GET /readyz?format=json: live only when ready and the writer runs. */
  function showReadiness(r) {
    state.unreachableSince = 0;
    state.lastApplied = r.last_applied_ms || null;
    const applied = lastAppliedText(state.lastApplied);
    if (r.live === true && r.ready && r.writer === 'running')
      setLive('live', 'Live', '', 'The figures follow the events as they are applied; ' + applied + '.');
    else if (r.writer === 'stopped')
      setLive('stopped', 'Not live: writer stopped',
        (r.stopped_ms ? 'at ' + fmtTime(r.stopped_ms) + ' · ' : '') + applied,
        'The process that applies events (cscflow run or replay) has stopped: these figures will not change until it runs again.');
    else if (r.writer === 'not_responding')
      setLive('not-responding', 'Not live: no word from the writer',
        (r.updated_ms ? 'since ' + fmtTime(r.updated_ms) + ' · ' : '') + applied,
        'The process that applies events has not reported for over 30 seconds: it was killed, crashed or hangs.');
    else if (r.writer === 'none')
      setLive('no-writer', 'Not live: no writer has started', applied,
        'No process has applied events to this state yet.');
    else
      setLive('not-ready', 'Not ready:', (r.reason || 'no reason given') + ' · ' + applied,
        'The figures may lag behind the events until the server is ready.');
  }

  /* The poll failed: no answer (unreachable), or not the server's (an
   * error, perhaps a proxy's with the server behind it gone). */
  function showUnreachable(e) {
    if (!state.unreachableSince)
      state.unreachableSince = Date.now();
    const answered = e instanceof HttpError;
    setLive(answered ? 'server-error' : 'unreachable',
      answered ? 'Server error (HTTP ' + e.status + ')' : 'Server unreachable',
      'since ' + fmtTime(state.unreachableSince) + ' · ' + lastAppliedText(state.lastApplied) +
      (state.lastApplied ? ' (as last seen)' : ''),
      answered ? 'The server answers with an error; the page tries again every 2 seconds.'
        : 'The page cannot reach the server; it tries again every 2 seconds.');
    $('live').dataset.since = String(state.unreachableSince);
  }

  /* ---- signing in and out -------------------------------------------------- */

  function showSignIn() {
    $('dashboard').hidden = true;
    $('session').hidden = true;
    $('sign-in').hidden = false;
    $('la').value = sessionStorage.getItem(STORE_LA) || $('la').value;
  }

  function stop() {
    state.gen++;
    clearTimeout(state.timer);
    if (state.trendJob)
      state.trendJob.cancel();
    if (state.alertJob)
      state.alertJob.cancel();
    for (const t of state.tiles.values())
      dropTile(t);
    state.snap = null;
    state.alerts = null;
    delete document.body.dataset.eventsApplied;
    delete $('status').dataset.eventsApplied;
    delete $('status').dataset.asOf;
    state.lastApplied = null;
    state.unreachableSince = 0;
    delete $('live').dataset.since;
    setLive('unknown', 'Checking…', '');
    $('dashboard').classList.add('no-data');
    $('groups').textContent = '';
    $('alert-table').tBodies[0].textContent = '';
    $('alert-summary').textContent = '';
    $('alert-count').textContent = '';
    $('quality-table').tBodies[0].textContent = '';
  }

  function authFailed(status) {
    stop();
    sessionStorage.removeItem(STORE_TOKEN);
    state.token = '';
    showSignIn();
    if (status === 403)
      showMessage('This token is for another local authority (403 Forbidden): it cannot read ' +
        state.la + '\'s figures. Check the local authority code.');
    else
      showMessage('Sign-in failed: the server did not accept this token for ' + state.la +
        ' (401 Unauthorized). Check the token and sign in again.');
    $('token').value = '';
    $('token').focus();
  }

  function start(la, token) {
    stop();
    state.la = la;
    state.token = token;
    clearMessage();
    $('sign-in').hidden = true;
    $('dashboard').hidden = false;
    $('session').hidden = false;
    $('session-la').textContent = la;
    $('dash-la').textContent = la;
    $('status-text').textContent = 'Loading…';
    $('waiting').hidden = true;
    state.trendJob = job(refreshTrends, TREND_MIN_MS);
    state.alertJob = job(refreshAlerts, POLL_MS);
    const gen = state.gen;
    poll(gen);
  }

  function onSubmit(ev) {
    ev.preventDefault();
    const la = $('la').value.trim();
    const token = $('token').value.trim();
    if (!/^[A-Za-z0-9]{1,23}$/.test(la)) {
      showMessage('The local authority code is 1 to 23 letters and digits, for example E09000001.');
      $('la').focus();
      return;
    }
    if (token === '') {
      showMessage('Enter the API token.');
      $('token').focus();
      return;
    }
    sessionStorage.setItem(STORE_LA, la);
    sessionStorage.setItem(STORE_TOKEN, token);
    $('token').value = '';
    start(la, token);
  }

  function signOut() {
    stop();
    sessionStorage.removeItem(STORE_TOKEN);
    state.token = '';
    clearMessage();
    showSignIn();
    $('la').focus();
  }

  /* ---- polling ------------------------------------------------------------- */

  /* One poll: the snapshot and the writer's state, read side by side. The
   * figures are shown whatever the writer's state; a failure of either read
   * leaves the page saying the server is unreachable. */
  async function poll(gen) {
    try {
      const [snapRead, readyRead] = await Promise.allSettled([api('snapshot'), readiness()]);
      if (gen !== state.gen)
        return;
      if (snapRead.status === 'rejected')
        throw snapRead.reason;
      const snap = snapRead.value;
      if (snap === null) {
        showWaiting();
      } else {
        $('waiting').hidden = true;
        const prev = state.snap;
        if (!prev || prev.events_applied !== snap.events_applied || prev.as_of !== snap.as_of)
          render(snap);
        showStatus(snap);
      }
      if (readyRead.status === 'rejected')
        throw readyRead.reason;
      clearMessageIfWarning();
      delete $('live').dataset.since;
      showReadiness(readyRead.value);
    } catch (e) {
      if (gen !== state.gen)
        return;
      handleError(e, true);
      if (e instanceof AuthError)
        return;
    }
    if (gen === state.gen)
      state.timer = setTimeout(() => poll(gen), POLL_MS);
  }

  function clearMessageIfWarning() {
    if ($('message').classList.contains('warning'))
      clearMessage();
  }

  function showWaiting() {
    const w = $('waiting');
    w.textContent = 'No figures for ' + state.la + ' yet: waiting for its first snapshot.';
    w.hidden = false;
    $('status-text').textContent = 'Waiting for data · checked ' +
      new Date().toLocaleTimeString('en-GB');
  }

  function showStatus(snap) {
    const s = $('status');
    s.dataset.asOf = snap.as_of;
    s.dataset.eventsApplied = String(snap.events_applied);
    $('status-text').textContent = 'As of ' + fmtDate(snap.as_of) + ' · ' +
      fmt(snap.events_applied, 0, 0) + ' events applied · checked ' +
      new Date().toLocaleTimeString('en-GB');
  }

  /* ---- rendering ----------------------------------------------------------- */

  function render(snap) {
    state.snap = snap;
    $('dashboard').classList.remove('no-data');
    renderTiles(snap);
    renderQuality(snap.quality || {});
    renderSources(snap.sources || []);
    // The page's own record of what it shows, read by the browser test.
    document.body.dataset.eventsApplied = String(snap.events_applied);
    state.trendJob();
    state.alertJob();
  }

  function tileKey(row) {
    return row.id + '|' + row.window + '|' + row.breakdown;
  }

  function isHeadline(row) {
    return row.breakdown === '' ||
      (HEADLINE_BREAKDOWNS[row.id] || []).includes(row.breakdown);
  }

  function describe(row) {
    const d = INDICATORS[row.id] || {};
    let title = typeof d.title === 'function' ? d.title(row.breakdown) : d.title;
    if (!title)
      title = row.id.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) +
        (row.breakdown ? ' (' + row.breakdown + ')' : '');
    let kind = d.kind;
    if (!kind) // not in the table: a count has no denominator; a ratio is a percentage
      kind = row.denominator === null ? 'count' : 'pct';
    return {
      group: row.group || d.group || 'Other', title, kind,
      decimals: d.decimals === undefined ? 1 : d.decimals,
      unit: d.unit || '', parts: d.parts || ['', ''], fte: d.fte || [false, false],
    };
  }

  function groupSection(name) {
    let s = $('group-' + name);
    if (s)
      return s.querySelector('.tiles');
    s = el('section', 'group');
    s.id = 'group-' + name;
    s.setAttribute('aria-labelledby', 'group-' + name + '-title');
    const h = el('h2', '', name);
    h.id = 'group-' + name + '-title';
    s.append(h, el('div', 'tiles'));
    // The four core groups in their order; any other after them.
    const order = GROUPS.indexOf(name);
    const groups = $('groups');
    let before = null;
    for (const other of groups.children) {
      const o = GROUPS.indexOf(other.id.slice('group-'.length));
      if (order !== -1 && (o === -1 || o > order)) {
        before = other;
        break;
      }
    }
    groups.insertBefore(s, before);
    return s.querySelector('.tiles');
  }

  let tileSeq = 0;
  function makeTile(row, d) {
    const id = 'tile-' + (++tileSeq);
    const a = el('article', 'tile');
    a.id = id;
    a.dataset.id = row.id;
    a.dataset.window = row.window;
    a.dataset.breakdown = row.breakdown;
    a.setAttribute('aria-labelledby', id + '-title');

    const head = el('div', 'tile-head');
    const h = el('h3', '', d.title);
    h.id = id + '-title';
    const w = el('span', 'window');
    const code = el('span', '', row.window);
    code.setAttribute('aria-hidden', 'true');
    w.title = WINDOWS[row.window] || row.window;
    w.append(code, el('span', 'visually-hidden', w.title));
    head.append(h, w);

    const value = el('p', 'value');
    const v = el('span', 'v');
    const unit = el('span', 'unit', d.kind === 'pct' ? '%' : d.unit);
    value.append(v, unit);

    const detail = el('p', 'detail');
    const prov = el('p', 'provisional', 'Provisional');
    prov.title = 'Counts only what has happened by the as-of date';
    const na = el('p', 'unavailable', 'Not supported by this authority\u2019s feeds');
    na.title = 'The feeds this authority sends carry none of some data this value needs: ' +
      'the figures count what there is';

    const trend = el('div', 'trend');
    trend.setAttribute('role', 'img');
    const chart = el('div', 'chart');
    const readout = el('p', 'readout');
    trend.append(chart);
    a.append(head, value, detail, prov, na, trend, readout);

    const t = { key: tileKey(row), row, d, el: a, v, unit, detail, prov, na, trend, chart, readout,
      plot: null, points: null, width: 0, observer: null };
    t.observer = new ResizeObserver(() => resizeTrend(t));
    t.observer.observe(trend);
    return t;
  }

  function dropTile(t) {
    t.observer.disconnect();
    if (t.plot)
      t.plot.destroy();
    t.el.remove();
    state.tiles.delete(t.key);
  }

  function updateTile(t, row) {
    const d = t.d;
    t.row = row;
    if (d.kind === 'pct')
      setNumber(t.v, row.value, 1, 1, 1);
    else if (d.kind === 'mean')
      setNumber(t.v, row.value, 1, d.decimals, d.decimals);
    else
      setNumber(t.v, row.value, 1, 0, 0);
    t.unit.hidden = row.value === null || row.value === undefined;

    t.detail.textContent = '';
    if (d.kind === 'count') {
      const r = el('span', 'per10k');
      setNumber(r, row.per_10k, 1, 1, 1);
      if (row.per_10k === null || row.per_10k === undefined)
        t.detail.append('No rate per 10,000: population not configured');
      else
        t.detail.append(r, ' per 10,000 children');
    } else {
      const num = el('span', 'num'), den = el('span', 'den');
      setNumber(num, row.numerator, d.fte[0] ? 100 : 1, 0, d.fte[0] ? 2 : 0);
      setNumber(den, row.denominator, d.fte[1] ? 100 : 1, 0, d.fte[1] ? 2 : 0);
      const numPart = el('span', 'part');
      numPart.append(num, d.parts[0] ? ' ' + d.parts[0] : '');
      const denPart = el('span', 'part');
      denPart.append(den, d.parts[1] ? ' ' + d.parts[1] : '');
      t.detail.append(numPart, el('span', 'of', ' of '), denPart);
    }
    t.prov.hidden = !row.provisional;
    t.na.hidden = !row.unavailable;
    t.el.classList.toggle('is-unavailable', !!row.unavailable);
    t.el.dataset.unavailable = row.unavailable ? 'true' : 'false';
    refreshLastPoint(t);
  }

  function renderTiles(snap) {
    const seen = new Set();
    for (const row of snap.indicators || []) {
      if (!isHeadline(row))
        continue;
      const key = tileKey(row);
      seen.add(key);
      let t = state.tiles.get(key);
      if (!t) {
        const d = describe(row);
        t = makeTile(row, d);
        state.tiles.set(key, t);
        groupSection(d.group).append(t.el);
      }
      updateTile(t, row);
    }
    for (const [key, t] of state.tiles)
      if (!seen.has(key))
        dropTile(t);
  }

  /* ---- trends -------------------------------------------------------------- */

  async function refreshTrends(gen) {
    const snap = state.snap;
    if (!snap)
      return;
    const queue = [...state.tiles.values()];
    const worker = async () => {
      for (let t = queue.shift(); t && gen === state.gen; t = queue.shift())
        await loadTrend(t, snap.as_of, gen);
    };
    const workers = [];
    for (let i = 0; i < TREND_CONCURRENCY; i++)
      workers.push(worker());
    await Promise.all(workers);
  }

  async function loadTrend(t, asOf, gen) {
    const q = new URLSearchParams({
      indicator: t.row.id, window: t.row.window, breakdown: t.row.breakdown, to: asOf,
    });
    let series;
    try {
      series = await api('series?' + q.toString());
    } catch (e) {
      if (e instanceof AuthError)
        throw e;
      series = undefined; // a transient failure: keep the line shown, if any
    }
    if (gen !== state.gen || !state.tiles.has(t.key))
      return;
    if (series === undefined)
      return;
    t.points = series === null ? null : series.points || [];
    // What the line shows, for the browser test: the day it ends and its values.
    t.trend.dataset.to = series === null ? '' : series.to || asOf;
    t.trend.dataset.values = String((t.points || []).filter((p) => p.value !== null).length);
    drawTrend(t);
  }

  /* The snapshot moves faster than the trends are refreshed: the line ends
   * at the value the tile shows when its last day is the as-of date. */
  function refreshLastPoint(t) {
    if (!t.points || !t.points.length || !state.snap)
      return;
    const last = t.points[t.points.length - 1];
    if (last.date === state.snap.as_of && last.value !== t.row.value) {
      last.value = t.row.value;
      drawTrend(t);
    }
  }

  function trendData(points) {
    return [points.map((p) => isoToUtc(p.date) / 1000), points.map((p) => p.value)];
  }

  function valueText(t, v) {
    const d = t.d;
    if (v === null || v === undefined)
      return 'no value';
    if (d.kind === 'pct')
      return fmt(v, 1, 1) + '%';
    if (d.kind === 'mean')
      return fmt(v, d.decimals, d.decimals) + (d.unit ? ' ' + d.unit : '');
    return fmt(v, 0, 0);
  }

  function describeTrend(t) {
    const pts = (t.points || []).filter((p) => p.value !== null && p.value !== undefined);
    if (!pts.length)
      return null;
    const first = pts[0];
    return 'From ' + valueText(t, first.value) + ' on ' + fmtDate(first.date);
  }

  function drawTrend(t) {
    const summary = describeTrend(t);
    t.trend.setAttribute('aria-label', summary ? 'Trend over 12 months: ' + summary +
      ' to ' + valueText(t, t.row.value) + ' now' : 'No trend available');
    t.readout.textContent = summary ? summary : 'No trend available';
    if (!summary) {
      if (t.plot) {
        t.plot.destroy();
        t.plot = null;
      }
      return;
    }
    const data = trendData(t.points);
    if (t.plot) {
      t.plot.setData(data);
      return;
    }
    const width = Math.max(120, Math.floor(t.trend.clientWidth));
    t.width = width;
    t.plot = new uPlot({
      width, height: 56,
      legend: { show: false },
      cursor: { y: false, points: { size: 6 }, drag: { x: false, y: false } },
      select: { show: false },
      // From zero (or the lowest value, when negative): a change of 122 to 123
      // should look as small as it is.
      scales: {
        x: { time: true },
        y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] },
      },
      axes: [{ show: false }, { show: false }],
      series: [{}, {
        stroke: '#1f5fa8', width: 2, fill: 'rgba(31, 95, 168, 0.10)', points: { show: false },
      }],
      hooks: {
        setCursor: [(u) => {
          const i = u.cursor.idx;
          const p = i === null || i === undefined ? null : t.points[i];
          t.readout.textContent = p ? fmtDate(p.date) + ': ' + valueText(t, p.value)
            : describeTrend(t);
        }],
      },
    }, data, t.chart);
  }

  function resizeTrend(t) {
    if (!t.plot)
      return;
    const width = Math.max(120, Math.floor(t.trend.clientWidth));
    if (width !== t.width) {
      t.width = width;
      t.plot.setSize({ width, height: 56 });
    }
  }

  /* ---- alerts -------------------------------------------------------------- */

  async function refreshAlerts(gen) {
    const a = await api('alerts?status=open');
    if (gen !== state.gen)
      return;
    state.alerts = a ? a.alerts || [] : [];
    const section = $('alerts');
    section.dataset.asOf = a ? a.as_of : '';
    renderAlerts();
  }

  function alertOrder(x, y) {
    // Due soon first, soonest first; then past, longest past first.
    if (x.state !== y.state)
      return x.state === 'due_soon' ? -1 : 1;
    if (x.state === 'due_soon' && x.days !== y.days)
      return x.days - y.days;
    return x.due < y.due ? -1 : x.due > y.due ? 1 : (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
  }

  function renderAlerts() {
    const alerts = state.alerts || [];
    const summary = $('alert-summary');
    summary.textContent = '';
    const chips = [['due_soon', null, 'due within 30 days']];
    for (const m of [6, 12, 24])
      chips.push(['past', m, 'past ' + m + ' months']);
    for (const [st, m, label] of chips) {
      const n = alerts.filter((a) => a.state === st && (m === null || a.months === m)).length;
      const c = el('div', 'chip ' + st);
      c.dataset.state = st;
      if (m !== null)
        c.dataset.months = String(m);
      const num = el('span', 'n');
      setNumber(num, n, 1, 0, 0);
      c.append(num, el('span', 'label', label));
      summary.append(c);
    }

    const st = $('alert-state').value, kind = $('alert-kind').value, months = $('alert-months').value;
    const rows = alerts.filter((a) => (!st || a.state === st) && (!kind || a.plan_kind === kind) &&
      (!months || String(a.months) === months)).sort(alertOrder);
    const body = $('alert-table').tBodies[0];
    const frag = document.createDocumentFragment();
    for (const a of rows.slice(0, ALERT_ROWS)) {
      const tr = el('tr', a.state);
      tr.dataset.alertId = a.id;
      const badge = el('span', 'badge ' + a.state,
        a.state === 'past' ? 'Past' : a.days === 0 ? 'Due today'
          : 'Due in ' + a.days + (a.days === 1 ? ' day' : ' days'));
      const stateCell = el('td');
      stateCell.append(badge);
      tr.append(stateCell, el('td', '', a.months + ' months'), el('td', '', a.plan_kind),
        el('td', 'mono', a.plan_id), el('td', 'mono', a.child_id), el('td', '', fmtDate(a.plan_start)),
        el('td', '', fmtDate(a.due)));
      frag.append(tr);
    }
    body.textContent = '';
    body.append(frag);
    const count = $('alert-count');
    count.dataset.total = String(rows.length);
    if (!alerts.length)
      count.textContent = 'No open plan is past or within 30 days of 6, 12 or 24 months.';
    else if (rows.length > ALERT_ROWS)
      count.textContent = 'Showing the ' + fmt(ALERT_ROWS, 0, 0) + ' most urgent of ' +
        fmt(rows.length, 0, 0) + ' plans; narrow the list with the filters.';
    else
      count.textContent = fmt(rows.length, 0, 0) + (rows.length === 1 ? ' plan' : ' plans') +
        (rows.length === alerts.length ? '' : ' of ' + fmt(alerts.length, 0, 0));
  }

  /* ---- quality ------------------------------------------------------------- */

  function renderQuality(quality) {
    const body = $('quality-table').tBodies[0];
    body.textContent = '';
    let total = 0;
    for (const [rule, count] of Object.entries(quality)) {
      total += count;
      const tr = el('tr', count ? '' : 'zero');
      tr.dataset.rule = rule;
      const th = el('th', 'mono', rule);
      th.scope = 'row';
      const n = el('td', 'n');
      setNumber(n, count, 1, 0, 0);
      tr.append(th, n, el('td', '', QUALITY_RULES[rule] || ''));
      body.append(tr);
    }
    setNumber($('quality-total'), total, 1, 0, 0);
  }

  /* ---- sources ------------------------------------------------------------- */

  const SOURCE_NAMES = {ssda903: 'SSDA903 return', cin_census: 'CIN census'};

  // Where the figures come from: each return imported (per collection year)
  // and each live feed, with the events admitted and the latest recording.
  function renderSources(sources) {
    const body = $('sources-table').tBodies[0];
    body.textContent = '';
    for (const s of sources) {
      const tr = el('tr');
      tr.dataset.source = s.source;
      const th = el('th', '', SOURCE_NAMES[s.source] || s.source);
      th.scope = 'row';
      const what = s.kind === 'return' ? 'year to 31 March ' + s.year : 'live feed';
      const n = el('td', 'n');
      setNumber(n, s.events, 1, 0, 0);
      const last = s.kind === 'return' ? fmtDate(s.last_recorded_at.slice(0, 10))
        : new Date(s.last_recorded_at).toLocaleString('en-GB');
      tr.append(th, el('td', '', what), n, el('td', '', last));
      body.append(tr);
    }
    $('sources').hidden = sources.length === 0;
  }

  /* ---- start --------------------------------------------------------------- */

  function init() {
    $('sign-in-form').addEventListener('submit', onSubmit);
    $('sign-out').addEventListener('click', signOut);
    for (const id of ['alert-state', 'alert-kind', 'alert-months'])
      $(id).addEventListener('change', renderAlerts);
    const la = sessionStorage.getItem(STORE_LA);
    const token = sessionStorage.getItem(STORE_TOKEN);
    if (la && token)
      start(la, token);
    else
      showSignIn();
  }

  if (typeof uPlot === 'undefined') {
    document.addEventListener('DOMContentLoaded', () =>
      showMessage('The chart library did not load; reload the page.'));
    return;
  }
  if (document.readyState === 'loading')
    document.addEventListener('DOMContentLoaded', init);
  else
    init();
})();
