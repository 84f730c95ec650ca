// Entry point: reads the URL, owns the model (the subscribed unit's latest state),
// applies live frames to it, and wires the connection, the view and the charts.
//
// URL:  #/                       the agency overview: every unit the token may see (overview.js)
//       #/unit/U                 a unit's dashboard (the back button moves between units)
//       #/unit/U/employee/E      the personal view of one employee
//       #/unit/U/rapor[/P]       the unit's rapor for period P (2026-12, 2026-Q4, 2026;
//                                without P the daemon's current one), printable
//       ?unit=U&employee=E       the same, for links that cannot carry a fragment
//       ?token=T (or #…?token=T) the access token; else the one saved in the token form
//       ?wall=1                  wallboard mode        ?lang=en   start in English
//       ?demo=1                  plays fixtures/demo-snapshot.json instead of a daemon

import { LiveClient } from './live.js';
import { View, alertKey } from './render.js';
import { DayCharts, httpSeriesFetcher } from './charts.js';
import { applyStatic, getLang, initLang, setLang, t } from './i18n.js';
import { dayBounds, setTimeZone } from './format.js';
import { Overview, QueueStrip } from './overview.js';
import { httpRaporFetcher, PersonalRapor, RaporView } from './rapor.js';

const MAX_ALERTS = 50;          // a wallboard runs for days: the list is bounded
const RENDER_EVERY_MS = 100;    // updates may come every 50 ms; people read slower
const TOKEN_KEY = 'kinerja.token';

const query = new URLSearchParams(location.search);
const demo = query.get('demo') === '1';

// ---- token ----

function tokenFromUrl() {
  if (query.get('token')) return query.get('token');
  const h = location.hash;
  const i = h.search(/[?#&]token=/);
  if (i < 0) return null;
  return new URLSearchParams(h.slice(i + 1).replace(/^[^?]*\?/, '')).get('token');
}

const store = {
  get(k) { try { return localStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { if (v === null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch { /* private mode */ } },
};

// A token typed into the form wins over one in the URL, which wins over a saved one.
// A token from the URL is not saved: a link shared with a token must not leave it on
// every machine that opened it.
let typedToken = null;
const urlToken = tokenFromUrl();
const getToken = () => typedToken || urlToken || store.get(TOKEN_KEY) || null;

// ---- model ----

const state = {
  units: null,                 // the units frame's list, once received
  route: { unit: null, employee: null, rapor: null }, // rapor: null, or a period ('' = current)
  snap: null,                  // { unit, seq, at, unit_metrics, members, counters, indicators }
  alerts: [],                  // today's, newest first, at most MAX_ALERTS
  conn: { state: 'connecting', lastDataAt: 0 },
  day: dayBounds(Date.now())[0],
};
let dir = { members: new Map(), counters: new Map() }; // names of the current unit

function parseRoute() {
  const h = location.hash.replace(/^#/, '').split('?')[0];
  const m = /^\/unit\/([^/]+)(?:\/employee\/([^/]+)|\/(rapor)(?:\/([^/]+))?)?\/?$/.exec(h);
  if (m) {
    return { unit: decodeURIComponent(m[1]), employee: m[2] ? decodeURIComponent(m[2]) : null,
      rapor: m[3] ? decodeURIComponent(m[4] || '') : null };
  }
  if (!h || h === '/') {
    if (query.get('unit')) return { unit: query.get('unit'), employee: query.get('employee') || null, rapor: null };
  }
  return { unit: null, employee: null, rapor: null };
}

function routeHash(unit, employee) {
  if (!unit) return '#/';
  return `#/unit/${encodeURIComponent(unit)}` + (employee ? `/employee/${encodeURIComponent(employee)}` : '');
}

const names = {
  member: (id) => dir.members.get(id) || state.snap?.members?.[id]?.name || id,
  counter: (id) => dir.counters.get(id) || state.snap?.counters?.[id]?.name || id,
};

function unitInfo(id) {
  return state.units?.find((u) => u.id === id) || null;
}

function rebuildDirectory() {
  const u = unitInfo(state.route.unit);
  dir = {
    members: new Map((u?.members || []).map((m) => [m.id, m.name || m.id])),
    counters: new Map((u?.counters || []).map((c) => [c.id, c.name || c.id])),
  };
}

// ---- wiring ----

initLang(query.get('lang'));
applyStatic();
document.documentElement.classList.toggle('wall', query.get('wall') === '1');

const view = new View();
const overview = new Overview(document.getElementById('overview'));
const queueStrip = new QueueStrip(document.getElementById('queue-panel'));
let source = { createSocket: undefined, fetchSeries: httpSeriesFetcher(getToken), fetchRapor: httpRaporFetcher(getToken) };
if (demo) source = (await import('./demo.js')).createDemo();
const raporView = new RaporView(source.fetchRapor);
const personalRapor = new PersonalRapor(source.fetchRapor);

const charts = new DayCharts({
  servedFig: document.getElementById('chart-served'),
  waitFig: document.getElementById('chart-wait'),
  fetchSeries: source.fetchSeries,
});

const live = new LiveClient({
  getToken,
  createSocket: source.createSocket,
  onState: (s) => {
    state.conn = s;
    view.renderConn(s, demo);
    if (s.state === 'unauthorized') showTokenForm(t('token.rejected'));
  },
  onFrame,
});

// ---- a supervisor's events (SPEC §16) ----

let actionSeq = 0;

/** POSTs one event with the page's token; resolves to null, or the reason it failed. */
async function postOne(ev) {
  const token = getToken();
  const id = `web-${Date.now().toString(36)}-${(++actionSeq).toString(36)}`;
  try {
    const r = await fetch('api/v1/events', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ id, ts: Date.now(), unit: state.route.unit, ...ev }),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) return body.error || `HTTP ${r.status}`;
    return body.rejected?.[0]?.error || null;
  } catch (e) {
    return String(e.message || e);
  }
}

view.actions = {
  ack: (a) => postOne({ type: 'ack', alert: a.id }),
  feedback: (a, kind, text) => postOne({
    type: 'feedback', employee: a.scope.slice('employee:'.length), kind, text,
    alert: a.id, indicator: a.indicator,
  }),
};

function onFrame(msg) {
  switch (msg.op) {
    case 'units':
      onUnits(msg.units);
      break;
    case 'snapshot':
      setTimeZone(msg.timezone); // the day, its hours and midnight are the daemon's
      state.snap = {
        unit: msg.unit, seq: msg.seq, at: msg.at,
        unit_metrics: msg.unit_metrics || null,
        members: msg.members || {},
        counters: msg.counters || {},
        indicators: Array.isArray(msg.indicators) ? msg.indicators : [],
      };
      // The snapshot's list is the daemon's record of today: it replaces ours.
      state.alerts = (Array.isArray(msg.alerts) ? msg.alerts : [])
        .slice().sort((a, b) => (b.at || 0) - (a.at || 0)).slice(0, MAX_ALERTS);
      hideServerError();
      maybePersonal();
      syncCharts();
      break;
    case 'update': {
      const s = state.snap;
      if (!s) break;
      // Each scope present is replaced whole (SPEC §7): never merged into.
      if ('unit_metrics' in msg) s.unit_metrics = msg.unit_metrics;
      if (Array.isArray(msg.indicators)) s.indicators = msg.indicators;
      for (const [key, into] of [['members', s.members], ['counters', s.counters]]) {
        const part = msg[key];
        if (!part || typeof part !== 'object') continue;
        for (const [id, obj] of Object.entries(part)) {
          if (obj === null || obj === undefined) delete into[id];
          else into[id] = obj;
        }
      }
      s.seq = msg.seq;
      s.at = msg.at;
      const e = state.route.employee;
      chartsLive(e ? !!msg.members?.[e] : 'unit_metrics' in msg);
      break;
    }
    case 'alert': {
      const k = alertKey(msg);
      const i = state.alerts.findIndex((a) => alertKey(a) === k);
      if (i >= 0) {
        // the same alert again: escalated (SPEC §16); it keeps its acknowledgement
        state.alerts[i] = { ...state.alerts[i], ...msg };
      } else {
        state.alerts.unshift(msg);
        if (state.alerts.length > MAX_ALERTS) state.alerts.length = MAX_ALERTS;
      }
      break;
    }
    case 'alert_ack': {
      const i = state.alerts.findIndex((a) => a.id === msg.alert);
      if (i >= 0) {
        const { acked_by, acked_at, note } = msg;
        state.alerts[i] = { ...state.alerts[i], acked_by, acked_at, note };
      }
      break;
    }
    case 'overview':
      overview.apply(msg, msg.full);
      break;
    case 'error':
      showServerError(String(msg.error ?? ''));
      if (live.authRejected) showTokenForm(t('token.rejected'));
      break;
    default:
      return;
  }
  view.renderConn(live.status(), demo);
  scheduleRender();
}

function onUnits(units) {
  if (!Array.isArray(units)) return;
  state.units = units;
  rebuildDirectory();
  if (!state.route.unit) {
    // Open the only unit, so that a one-unit wallboard needs no clicks; with more,
    // #/ is the overview of them all.
    const pick = units.length === 1 ? units[0].id : null;
    if (pick) {
      history.replaceState(null, '', routeHash(pick, null)); // keeps path and query
      applyRoute();
    }
  }
}

/**
 * A viewer token bound to one employee receives only that member and no unit numbers:
 * show it the personal view rather than an empty unit page.
 */
function maybePersonal() {
  const s = state.snap;
  if (state.route.employee || state.route.rapor !== null || !s) return;
  const ids = Object.keys(s.members);
  const noUnit = !s.unit_metrics || Object.keys(s.unit_metrics).length === 0;
  if (noUnit && ids.length === 1 && s.indicators.every((i) => i.scope !== `unit:${s.unit}`)) {
    history.replaceState(null, '', routeHash(s.unit, ids[0]));
    applyRoute();
  }
}

function chartsLive(touched) {
  if (!touched || !state.snap) return;
  const e = state.route.employee;
  const m = e ? state.snap.members[e] : state.snap.unit_metrics;
  charts.noteLive(m?.today?.services);
}

// The charts wait for the first snapshot: only then is it known whether this token sees
// the unit or (a personal token) only one member, whose series are all it may read.
function syncCharts() {
  const r = state.route;
  const charted = state.snap && r.unit && r.rapor === null; // the rapor page has no charts
  charts.setScope(charted ? (r.employee ? `employee:${r.employee}` : `unit:${r.unit}`) : null);
  chartsLive(true);
}

function applyRoute() {
  const r = parseRoute();
  const unitChanged = r.unit !== state.route.unit;
  state.route = r;
  if (unitChanged) {
    state.snap = null;
    state.alerts = [];
    view.reset();
    rebuildDirectory();
    live.subscribe(r.unit);
  }
  live.subscribeOverview(!r.unit);
  if (r.unit) overview.reset();
  // The header names the rapor's unit at once when it comes: a print right
  // after the table appears must not show the unit's id instead.
  if (r.unit && r.rapor !== null) raporView.open(r.unit, r.rapor).then(renderNow);
  else raporView.close();
  syncCharts();
  scheduleRender();
}

// ---- rendering ----

let renderTimer = 0;
let lastRender = 0;

// Rendering is throttled with a timer, not requestAnimationFrame: rAF stops in a
// background tab, and a wallboard must keep its DOM current while unfocused.
function scheduleRender() {
  if (renderTimer) return;
  const wait = Math.max(0, lastRender + RENDER_EVERY_MS - Date.now());
  renderTimer = setTimeout(renderNow, wait);
}

function renderNow() {
  clearTimeout(renderTimer);
  renderTimer = 0;
  lastRender = Date.now();
  const r = state.route;
  view.renderPicker(state.units, r.unit);
  const raporLink = document.getElementById('rapor-link');
  raporLink.hidden = !r.unit || r.rapor !== null || !!r.employee;
  if (r.unit) raporLink.href = `#/unit/${encodeURIComponent(r.unit)}/rapor`;
  if (r.unit && r.rapor !== null) {
    // The rapor page: the header names it; the live panels stay hidden.
    const { title } = raporView.title();
    document.getElementById('title').textContent = title;
    document.getElementById('subtitle').textContent = '';
    document.getElementById('back-link').hidden = false;
    document.getElementById('back-link').href = `#/unit/${encodeURIComponent(r.unit)}`;
    return;
  }
  let model;
  const showOverview = !r.unit && overview.received;
  document.getElementById('overview').hidden = !showOverview;
  if (showOverview) {
    model = { view: 'empty', emptyText: '' };
  } else if (!r.unit) {
    model = { view: 'empty', emptyText: state.units && state.units.length === 0 ? t('empty.noUnits') : t('empty.pick') };
  } else if (!state.snap) {
    model = { view: 'empty', emptyText: t('empty.waiting'), unit: { id: r.unit, name: unitInfo(r.unit)?.name || r.unit } };
  } else {
    model = {
      view: r.employee ? 'personal' : 'unit',
      unit: { id: r.unit, name: unitInfo(r.unit)?.name || r.unit },
      employee: r.employee,
      snap: state.snap,
      alerts: state.alerts,
      names,
    };
  }
  model.now = Date.now();
  view.render(model);
  if (showOverview) {
    document.getElementById('empty').hidden = true;
    view.els.title.textContent = t('ov.title');
    overview.render(model.now);
  }
  queueStrip.render(model.view === 'unit' ? state.snap?.unit_metrics?.queue : null, model.now);
  if (model.view === 'personal') personalRapor.update(r.unit, r.employee, model.now);
  else personalRapor.hide();
  if (state.snap && r.unit) {
    const scope = r.employee ? `employee:${r.employee}` : `unit:${r.unit}`;
    const ind = state.snap.indicators.find((i) => i.scope === scope && i.metric === 'services.wait_ms.p90');
    charts.setWaitTarget(ind?.target);
  }
}

// One clock for the page. Timers may be throttled in a background tab (to once a
// minute in the worst case): everything below works from the current time, not from
// counting ticks, so a late tick only catches up.
setInterval(() => {
  const now = Date.now();
  const day = dayBounds(now)[0];
  if (day !== state.day) {
    // Local midnight: yesterday's alerts are no longer today's.
    state.day = day;
    state.alerts = state.alerts.filter((a) => a.at >= day);
    scheduleRender();
  }
  view.tick(now);
  overview.tick(now);
  queueStrip.tick(now);
  charts.tick(now);
}, 1000);

// ---- controls (each listener is attached once, here) ----

const picker = document.getElementById('unit-picker');
picker.addEventListener('change', () => { location.hash = routeHash(picker.value || null, null); });
window.addEventListener('hashchange', applyRoute);

document.getElementById('lang-toggle').addEventListener('click', () => {
  setLang(getLang() === 'id' ? 'en' : 'id');
  applyStatic();
  view.renderConn(live.status(), demo);
  charts.restyle();
  raporView.render();
  personalRapor.key = null; // fetched again, in the new language
  renderNow();
});

function setWall(on) {
  document.documentElement.classList.toggle('wall', on);
  const q = new URLSearchParams(location.search);
  if (on) q.set('wall', '1'); else q.delete('wall');
  const qs = q.toString();
  history.replaceState(history.state, '', `${location.pathname}${qs ? '?' + qs : ''}${location.hash}`);
  charts.restyle();
}
document.getElementById('wall-toggle').addEventListener('click', () => setWall(true));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && document.documentElement.classList.contains('wall')) setWall(false);
});

const tokenForm = document.getElementById('token-form');
const tokenToggle = document.getElementById('token-toggle');
const tokenMsg = document.getElementById('token-msg');
const tokenInput = document.getElementById('token-input');
function showTokenForm(message) {
  if (!tokenForm.hidden && tokenMsg.textContent === message) return;
  tokenMsg.textContent = message || '';
  tokenForm.hidden = false;
  tokenToggle.setAttribute('aria-expanded', 'true');
}
tokenToggle.addEventListener('click', () => {
  if (tokenForm.hidden) {
    showTokenForm('');
    tokenInput.focus();
  } else {
    tokenForm.hidden = true;
    tokenToggle.setAttribute('aria-expanded', 'false');
  }
});
tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const v = tokenInput.value.trim();
  if (!v) return;
  typedToken = v;
  store.set(TOKEN_KEY, v);
  tokenInput.value = '';
  tokenMsg.textContent = t('token.saved');
  live.reconnectNow();
});
document.getElementById('token-clear').addEventListener('click', () => {
  typedToken = null;
  store.set(TOKEN_KEY, null);
  tokenInput.value = '';
  tokenMsg.textContent = t('token.cleared');
  live.reconnectNow();
});

const serverError = document.getElementById('server-error');
function showServerError(text) {
  document.getElementById('server-error-text').textContent = t('err.server', { msg: text });
  serverError.hidden = false;
}
function hideServerError() { serverError.hidden = true; }
document.getElementById('server-error-close').addEventListener('click', hideServerError);

// A returning tab or network should not wait out a long back-off.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') { live.nudge(); renderNow(); }
});
window.addEventListener('online', () => live.nudge());

// For the browser tests and for debugging from the console.
window.kinerja = { state, live, charts, overview, renderNow, raporView };

applyRoute();
view.renderConn(live.status(), demo);
live.start();
