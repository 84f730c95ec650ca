// DOM rendering. The page is rendered from the model as a whole, as often as updates
// come (throttled by app.js), and must stay cheap and steady for days on a wallboard:
//   - every list (tiles, counters, members, alerts) keeps one DOM node per id and
//     reuses it; nodes of ids that left are removed and forgotten;
//   - text and attributes are written only when they differ, so an update touches the
//     few nodes whose numbers changed;
//   - no listener is added per render: clicks are delegated once in app.js.

import {
  DASH, fmtClock, fmtDate, fmtDuration, fmtElapsed, fmtIkmGrade, fmtInt, fmtMetric, fmtPct, fmtDec,
} from './format.js';
import { t } from './i18n.js';

export const STATUS_ICON = { ok: '✓', warn: '!', bad: '✕', none: '–' };
const STATUSES = ['ok', 'warn', 'bad', 'none'];

const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function setText(e, s) {
  if (e.textContent !== s) e.textContent = s;
}

export function setAttr(e, name, v) {
  if (v === null || v === undefined) {
    if (e.hasAttribute(name)) e.removeAttribute(name);
  } else if (e.getAttribute(name) !== String(v)) e.setAttribute(name, v);
}

export function show(e, visible) {
  if (e.hidden === visible) e.hidden = !visible;
}

/**
 * Brings container's children in line with items, in order, reusing the node cached
 * for each key. create(key) builds a node once; update(node, item) fills it.
 */
export function syncList(container, cache, items, keyOf, create, update) {
  const seen = new Set();
  let prev = null;
  for (const item of items) {
    const key = keyOf(item);
    if (seen.has(key)) continue;
    seen.add(key);
    let node = cache.get(key);
    if (!node) {
      node = create(key, item);
      cache.set(key, node);
    }
    update(node, item);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (node !== want) container.insertBefore(node, want);
    prev = node;
  }
  for (const [key, node] of cache) {
    if (!seen.has(key)) {
      node.remove();
      cache.delete(key);
    }
  }
}

const statusOf = (s) => (STATUSES.includes(s) ? s : 'none');
const win = (w) => (w ? t('win.' + w) : '');
const get = (o, path) => path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), o);

export class View {
  constructor() {
    this.els = {
      picker: $('unit-picker'), conn: $('conn'), connState: $('conn-state'), connTime: $('conn-time'),
      clock: $('wall-clock'), title: $('title'), subtitle: $('subtitle'), back: $('back-link'),
      empty: $('empty'), dash: $('dash'), summary: $('summary'), tiles: $('tiles'), tilesEmpty: $('tiles-empty'),
      counters: $('counters'), countersEmpty: $('counters-empty'), countersPanel: $('counters-panel'),
      members: $('members'), membersEmpty: $('members-empty'), membersPanel: $('members-panel'),
      alerts: $('alerts'), alertsEmpty: $('alerts-empty'), actionError: $('action-error'),
      feedbackPanel: $('feedback-panel'), feedback: $('feedback'), feedbackEmpty: $('feedback-empty'),
      ikmPanel: $('ikm-panel'), ikmElements: $('ikm-elements'), ikmRaters: $('ikm-raters'),
    };
    this.cache = { tiles: new Map(), counters: new Map(), members: new Map(), alerts: new Map(), stats: new Map(), feedback: new Map(), ikm: new Map() };
    // SPEC §16: set by the page; each returns a promise of an error text or null.
    this.actions = { ack: null, feedback: null };
    this.unitsKey = '';
  }

  // ---- header ----

  renderPicker(units, selected) {
    const p = this.els.picker;
    // Rebuilt only when the list itself changes (the daemon re-sends it on every probe).
    const key = JSON.stringify([units?.map((u) => [u.id, u.name]), selected, t('picker.choose')]);
    if (key === this.unitsKey) return;
    this.unitsKey = key;
    p.replaceChildren();
    const none = el('option', null, t('picker.choose'));
    none.value = '';
    p.append(none);
    for (const u of units || []) {
      const o = el('option', null, u.name || u.id);
      o.value = u.id;
      p.append(o);
    }
    if (selected && !(units || []).some((u) => u.id === selected)) {
      // Opened by URL before (or without) the unit list: keep it selectable.
      const o = el('option', null, selected);
      o.value = selected;
      p.append(o);
    }
    p.value = selected || '';
  }

  renderConn(status, demo) {
    const state = status.state;
    setAttr(this.els.conn, 'data-state', state);
    let label = t('conn.' + state);
    if (demo && state === 'live') label = `${t('conn.live')} · ${t('conn.demo')}`;
    setText(this.els.connState, label);
    let time = status.lastDataAt ? t('conn.last', { time: fmtClock(status.lastDataAt, true) }) : t('conn.never');
    if ((state === 'reconnecting' || state === 'unauthorized') && status.retryInMs) {
      time += ` · ${t('conn.retry', { s: Math.ceil(status.retryInMs / 1000) })}`;
    }
    setText(this.els.connTime, time);
  }

  // ---- page ----

  /**
   * m: { view: 'empty'|'unit'|'personal', emptyText, unit: {id, name}, employee,
   *      snap, alerts, names: {member(id), counter(id)}, now }
   */
  render(m) {
    const e = this.els;
    this.m = m;
    show(e.empty, m.view === 'empty');
    show(e.dash, m.view !== 'empty');
    setText(e.empty, m.view === 'empty' ? m.emptyText : '');
    show(e.back, m.view === 'personal');
    if (m.view === 'empty') {
      setText(e.title, m.unit?.name || 'Kinerja');
      setText(e.subtitle, '');
      return;
    }
    const date = fmtDate(m.now);
    const personal = m.view === 'personal';
    if (personal) {
      setText(e.title, m.names.member(m.employee));
      setText(e.subtitle, t('personal.sub', { unit: m.unit.name, date }));
      setAttr(e.back, 'href', `#/unit/${encodeURIComponent(m.unit.id)}`);
    } else {
      setText(e.title, m.unit.name);
      setText(e.subtitle, t('unit.sub', { date }));
    }
    document.body.classList.toggle('personal', personal);
    show(e.countersPanel, !personal);
    show(e.membersPanel, !personal);

    const snap = m.snap || {};
    const scope = personal ? `employee:${m.employee}` : `unit:${m.unit.id}`;
    const member = personal ? snap.members?.[m.employee] : null;
    const metrics = personal ? member : snap.unit_metrics;
    this.renderSummary(metrics, member, personal);
    this.renderTiles((snap.indicators || []).filter((i) => i.scope === scope));
    show(e.ikmPanel, !personal);
    if (!personal) this.renderIkm(snap.unit_metrics?.today?.ratings);
    if (!personal) {
      this.renderCounters(snap.counters || {});
      this.renderMembers(snap.members || {}, snap.indicators || []);
    }
    const alerts = personal ? m.alerts.filter((a) => a.scope === scope) : m.alerts;
    this.renderAlerts(alerts, snap.indicators || [], !personal);
    show(e.feedbackPanel, personal);
    if (personal) this.renderFeedback(member?.feedback || [], snap.indicators || []);
    this.tick(m.now);
  }

  renderSummary(metrics, member, personal) {
    const d = metrics?.today || {};
    const q = metrics?.['15m'] || {};
    const s = d.services;
    const r = d.ratings;
    const k = d.tasks;
    const stats = [];
    if (personal) {
      const p = member?.presence;
      stats.push({ id: 'presence', label: t('sum.presence'), value: p ? t('presence.' + (p.state || 'unknown')) : DASH,
        sub: p ? this.presenceDetail(p) : '', tone: p ? 'presence-' + p.state : null, since: p?.state !== 'offline' ? p?.since : null });
    }
    stats.push(
      { id: 'served', label: t('sum.served'), value: fmtInt(s?.count),
        sub: s ? `${t('sum.served.sub', { n: fmtDec(s.per_hour, 1) })} · ${fmtInt(s.no_show)} ${t('sum.noShow').toLowerCase()}` : '' },
      { id: 'sla', label: t('sum.sla'), value: fmtPct(s?.sla_pct), sub: s ? t('sum.sla.sub', { n: fmtInt(s.count) }) : '' },
      { id: 'wait', label: t('sum.wait'), value: fmtDuration(get(s, 'wait_ms.p90')),
        sub: t('sum.last15', { v: fmtDuration(get(q, 'services.wait_ms.p90')) }) },
      { id: 'service', label: t('sum.service'), value: fmtDuration(get(s, 'service_ms.p90')),
        sub: t('sum.last15', { v: fmtDuration(get(q, 'services.service_ms.p90')) }) },
      { id: 'ikm', label: t('sum.ikm'), value: fmtIkmGrade(r?.ikm, r?.ikm_grade),
        sub: r ? `${r.ikm_grade ? t('ikm.' + r.ikm_grade) + ' · ' : ''}${t('sum.ikm.sub', { n: fmtInt(r.count), avg: fmtDec(r.avg, 2) })}` : '' },
      { id: 'tasks', label: t('sum.tasks'), value: fmtInt(k?.count), sub: k ? t('sum.tasks.sub', { pct: fmtPct(k.on_time_pct) }) : '' },
    );
    syncList(this.els.summary, this.cache.stats, stats, (x) => x.id, () => {
      const n = el('div', 'stat');
      n._label = n.appendChild(el('div', 'stat-label'));
      n._value = n.appendChild(el('div', 'stat-value'));
      const sub = n.appendChild(el('div', 'stat-sub'));
      n._sub = sub.appendChild(el('span'));
      n._dur = sub.appendChild(el('span', 'stat-dur'));
      return n;
    }, (n, x) => {
      setText(n._label, x.label);
      setText(n._value, x.value);
      setText(n._sub, x.sub);
      setAttr(n, 'data-tone', x.tone);
      n._since = x.since ?? null;
      if (!n._since) setText(n._dur, '');
    });
  }

  renderTiles(indicators) {
    show(this.els.tilesEmpty, indicators.length === 0);
    syncList(this.els.tiles, this.cache.tiles, indicators, (i) => i.id + '|' + i.scope, () => {
      const n = el('article', 'tile');
      const head = n.appendChild(el('div', 'tile-head'));
      n._name = head.appendChild(el('h3', 'tile-name'));
      n._window = head.appendChild(el('p', 'tile-window'));
      n._status = n.appendChild(el('p', 'tile-status'));
      n._icon = n._status.appendChild(el('span', 'status-icon'));
      n._icon.setAttribute('aria-hidden', 'true');
      n._statusText = n._status.appendChild(el('span', 'status-text'));
      n._value = n.appendChild(el('p', 'tile-value'));
      n._median = n.appendChild(el('p', 'tile-median'));
      const meta = n.appendChild(el('dl', 'tile-meta'));
      n._targetLabel = meta.appendChild(el('dt'));
      n._target = meta.appendChild(el('dd'));
      n._achLabel = meta.appendChild(el('dt'));
      n._ach = meta.appendChild(el('dd'));
      const bar = n.appendChild(el('div', 'tile-bar'));
      bar.setAttribute('aria-hidden', 'true');
      n._bar = bar.appendChild(el('span'));
      return n;
    }, (n, i) => {
      const st = statusOf(i.status);
      setAttr(n, 'data-status', st);
      setText(n._name, i.name || i.id);
      setText(n._window, win(i.window));
      setText(n._icon, STATUS_ICON[st]);
      setText(n._statusText, t('status.' + st));
      setText(n._value, fmtMetric(i.metric, i.value));
      // SPEC §16 "Anda vs median unit": an employee's entry carries its unit's median
      show(n._median, 'unit_median' in i && document.body.classList.contains('personal'));
      setText(n._median, 'unit_median' in i ? t('ind.median', { v: fmtMetric(i.metric, i.unit_median) }) : '');
      setText(n._targetLabel, t('ind.target'));
      setText(n._target, `${i.better === 'lower' ? '≤' : '≥'} ${fmtMetric(i.metric, i.target)}`);
      setText(n._achLabel, t('ind.achievement'));
      setText(n._ach, fmtPct(i.achievement_pct));
      // The bar shows capaian up to 100 %; beyond the target it is simply full.
      const w = typeof i.achievement_pct === 'number' ? Math.max(0, Math.min(100, i.achievement_pct)) : 0;
      const style = `${w}%`;
      if (n._bar.style.width !== style) n._bar.style.width = style;
    });
  }

  renderCounters(counters) {
    const ids = Object.keys(counters).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    show(this.els.countersEmpty, ids.length === 0);
    const names = this.m.names;
    syncList(this.els.counters, this.cache.counters, ids, (id) => id, () => {
      const n = el('li', 'counter');
      const top = n.appendChild(el('div', 'counter-top'));
      n._name = top.appendChild(el('span', 'counter-name'));
      n._dur = top.appendChild(el('span', 'counter-dur'));
      n._who = n.appendChild(el('div', 'counter-who'));
      n._today = n.appendChild(el('div', 'counter-today'));
      return n;
    }, (n, id) => {
      const c = counters[id] || {};
      const serving = c.serving && c.serving.employee ? c.serving : null;
      setAttr(n, 'data-state', serving ? 'serving' : 'idle');
      setText(n._name, names.counter(id));
      setText(n._who, serving ? names.member(serving.employee) : t('counter.idle'));
      n._since = serving ? serving.since : null;
      if (!serving) setText(n._dur, '');
      const s = c.today?.services;
      setText(n._today, s ? `${fmtInt(s.count)} ${t('sum.served').toLowerCase()} · ${t('mem.wait').toLowerCase()} ${fmtDuration(get(s, 'wait_ms.p90'))}` : '');
    });
  }

  renderMembers(members, indicators) {
    const names = this.m.names;
    const ids = Object.keys(members).sort((a, b) => names.member(a).localeCompare(names.member(b)));
    show(this.els.membersEmpty, ids.length === 0);
    // Indicator statuses per employee, for the IKU column.
    const byEmp = new Map();
    for (const i of indicators) {
      if (!i.scope?.startsWith('employee:')) continue;
      const e = i.scope.slice(9);
      if (!byEmp.has(e)) byEmp.set(e, { ok: 0, warn: 0, bad: 0, none: 0 });
      byEmp.get(e)[statusOf(i.status)]++;
    }
    const unitId = this.m.unit.id;
    syncList(this.els.members, this.cache.members, ids, (id) => id, (id) => {
      const n = el('tr');
      const cell = (cls) => n.appendChild(el('td', cls));
      const nameCell = el('th');
      nameCell.scope = 'row';
      n.appendChild(nameCell);
      n._link = nameCell.appendChild(el('a', 'member-link'));
      n._link.href = `#/unit/${encodeURIComponent(unitId)}/employee/${encodeURIComponent(id)}`;
      n._presence = cell('presence');
      n._pIcon = n._presence.appendChild(el('span', 'p-icon'));
      n._pIcon.setAttribute('aria-hidden', 'true');
      n._pText = n._presence.appendChild(el('span', 'p-text'));
      n._pCounter = n._presence.appendChild(el('span', 'p-counter'));
      n._pDur = n._presence.appendChild(el('span', 'p-dur'));
      n._served = cell('num');
      n._wait = cell('num');
      n._service = cell('num');
      n._ikm = cell('num');
      n._tasks = cell('num col-tasks');
      n._onTime = cell('num col-tasks');
      n._ind = cell('ind');
      n._cells = [n._presence, n._served, n._wait, n._service, n._ikm, n._tasks, n._onTime, n._ind];
      return n;
    }, (n, id) => {
      const m = members[id] || {};
      const d = m.today || {};
      const p = m.presence || {};
      const nm = names.member(id);
      setText(n._link, nm);
      setAttr(n._link, 'aria-label', t('personal.open', { name: nm }));
      const state = p.state || 'unknown';
      setAttr(n._presence, 'data-presence', state);
      setText(n._pText, t('presence.' + state));
      // The counter is its own span: the wallboard hides it (its counters panel says it).
      setText(n._pCounter, state === 'serving' && p.counter ? ` · ${names.counter(p.counter)}` : '');
      n._since = state !== 'offline' ? p.since : null;
      if (!n._since) setText(n._pDur, state === 'offline' && p.since ? t('presence.since', { time: fmtClock(p.since) }) : '');
      setText(n._served, fmtInt(d.services?.count));
      setText(n._wait, fmtDuration(get(d, 'services.wait_ms.p90')));
      setText(n._service, fmtDuration(get(d, 'services.service_ms.p90')));
      setText(n._ikm, fmtIkmGrade(d.ratings?.ikm, d.ratings?.ikm_grade));
      setText(n._tasks, fmtInt(d.tasks?.count));
      setText(n._onTime, fmtPct(d.tasks?.on_time_pct));
      this.renderIndCounts(n._ind, byEmp.get(id));
      // On a phone the table becomes cards; each cell names its column (style.css).
      const labels = ['mem.presence', 'mem.served', 'mem.wait', 'mem.service', 'mem.ikm', 'mem.tasks', 'mem.onTime', 'mem.ind'];
      n._cells.forEach((c, i) => setAttr(c, 'data-label', t(labels[i])));
    });
  }

  renderIndCounts(cell, counts) {
    const parts = [];
    const words = [];
    for (const s of ['ok', 'warn', 'bad']) {
      if (counts?.[s]) {
        parts.push(`${s}:${counts[s]}`);
        words.push(`${counts[s]} ${t('status.' + s).toLowerCase()}`);
      }
    }
    const key = parts.join(' ') + '|' + words.join();
    if (cell._key === key) return;
    cell._key = key;
    cell.replaceChildren();
    if (!parts.length) {
      cell.textContent = DASH;
      return;
    }
    const wrap = el('span', 'chips');
    wrap.setAttribute('role', 'img');
    wrap.setAttribute('aria-label', words.join(', '));
    for (const s of ['ok', 'warn', 'bad']) {
      if (!counts[s]) continue;
      const c = wrap.appendChild(el('span', 'chip', `${STATUS_ICON[s]} ${counts[s]}`));
      c.dataset.status = s;
    }
    cell.append(wrap);
  }

  /**
   * SPEC §16: what section 4 computes, shown: IKM per element U1–U9 with their names
   * (the weakest marked), and the peer and supervisor rating averages.
   */
  renderIkm(r) {
    const vals = Array.isArray(r?.ikm_elements) ? r.ikm_elements : [];
    const known = vals.map((v, i) => [v, i]).filter(([v]) => typeof v === 'number');
    const weakest = known.length ? known.reduce((a, b) => (b[0] < a[0] ? b : a))[1] : -1;
    const rows = known.length ? vals.map((v, i) => ({ id: `U${i + 1}`, v, weakest: i === weakest })) : [];
    syncList(this.els.ikmElements, this.cache.ikm, rows, (x) => x.id, () => {
      const n = el('li', 'ikm-element');
      n._name = n.appendChild(el('span', 'ikm-name'));
      n._value = n.appendChild(el('span', 'ikm-value'));
      n._mark = n.appendChild(el('span', 'ikm-mark'));
      return n;
    }, (n, x) => {
      setAttr(n, 'data-weakest', x.weakest ? 'true' : null);
      setText(n._name, `${x.id} ${t('ikm.' + x.id)}`);
      setText(n._value, fmtDec(x.v, 2));
      setText(n._mark, x.weakest ? `▼ ${t('ikm.weakest')}` : '');
    });
    setText(this.els.ikmRaters, known.length || r?.peer_avg != null || r?.supervisor_avg != null
      ? t('ikm.raters', { peer: fmtDec(r?.peer_avg, 2), sup: fmtDec(r?.supervisor_avg, 2) })
      : t('ikm.none'));
  }

  /** The personal view's "Umpan balik dari atasan": the member's own entries only. */
  renderFeedback(entries, indicators) {
    show(this.els.feedbackEmpty, entries.length === 0);
    const names = new Map(indicators.map((i) => [i.id, i.name]));
    syncList(this.els.feedback, this.cache.feedback, entries, (f) => f.id, () => {
      const n = el('li', 'feedback-entry');
      n._head = n.appendChild(el('div', 'feedback-head'));
      n._text = n.appendChild(el('p', 'feedback-text'));
      return n;
    }, (n, f) => {
      setAttr(n, 'data-kind', f.kind);
      const about = f.indicator ? ` · ${names.get(f.indicator) || f.indicator}` : '';
      setText(n._head, `${fmtClock(f.ts)} · ${t('feedback.kind.' + f.kind)}${about}`);
      setText(n._text, f.text);
    });
  }

  /**
   * A supervisor acknowledges an alert, or answers it with feedback, in two clicks:
   * "Tandai ditangani", or "Umpan balik" then "Kirim" (the draft is filled in).
   */
  alertActions(n) {
    const box = n.appendChild(el('div', 'alert-actions'));
    n._state = box.appendChild(el('span', 'alert-state'));
    n._ack = box.appendChild(el('button', 'alert-ack', t('alerts.ack')));
    n._give = box.appendChild(el('button', 'alert-give', t('alerts.give')));
    n._form = n.appendChild(el('form', 'alert-feedback'));
    n._form.hidden = true;
    n._kind = n._form.appendChild(el('select', 'feedback-kind'));
    for (const k of ['coaching', 'praise', 'dialog']) {
      const o = n._kind.appendChild(el('option', null, t('feedback.kind.' + k)));
      o.value = k;
    }
    n._text = n._form.appendChild(el('input', 'feedback-input'));
    n._text.maxLength = 1024;
    n._send = n._form.appendChild(el('button', 'feedback-send', t('alerts.send')));
    n._ack.type = n._give.type = 'button';
    const report = (err) => {
      show(this.els.actionError, !!err);
      setText(this.els.actionError, err ? t('alerts.refused', { error: err }) : '');
      return err;
    };
    n._ack.addEventListener('click', async () => {
      n._ack.disabled = true;
      if (await this.actions.ack?.(n._alert).then(report)) n._ack.disabled = false;
    });
    n._give.addEventListener('click', () => {
      n._form.hidden = !n._form.hidden;
      if (!n._form.hidden) n._text.focus();
    });
    n._form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = await this.actions.feedback?.(n._alert, n._kind.value, n._text.value).then(report);
      if (!err) n._form.hidden = true;
    });
  }

  renderAlerts(alerts, indicators, actions) {
    show(this.els.alertsEmpty, alerts.length === 0);
    const names = this.m.names;
    const byId = new Map();
    for (const i of indicators) if (!byId.has(i.id)) byId.set(i.id, i);
    syncList(this.els.alerts, this.cache.alerts, alerts, alertKey, () => {
      const n = el('li', 'alert');
      n._time = n.appendChild(el('time', 'alert-time'));
      n._icon = n.appendChild(el('span', 'alert-icon'));
      n._icon.setAttribute('aria-hidden', 'true');
      const body = n.appendChild(el('div', 'alert-body'));
      n._title = body.appendChild(el('div', 'alert-title'));
      n._detail = body.appendChild(el('div', 'alert-detail'));
      if (actions) this.alertActions(body);
      n._body = body;
      return n;
    }, (n, a) => {
      const to = statusOf(a.to);
      const ind = byId.get(a.indicator);
      const b = n._body;
      b._alert = a;
      setAttr(n, 'data-acked', a.acked_at ? 'true' : null);
      setAttr(n, 'data-escalated', a.escalated ? 'true' : null);
      if (b._ack) {
        const by = a.acked_by ? ` · ${names.member(a.acked_by)}` : '';
        const state = [a.escalated ? t('alerts.escalated') : '', a.acked_at ? t('alerts.acked', { by }) : '']
          .filter(Boolean).join(' · ');
        setText(b._state, state);
        show(b._ack, !a.acked_at && !!a.id);
        // feedback goes to an employee: only from an alert about one
        show(b._give, !!a.id && !!a.scope?.startsWith('employee:'));
        if (b._form.hidden && !b._text.value) b._text.value = t('feedback.draft', { indicator: ind?.name || a.indicator });
      }
      setAttr(n, 'data-status', to);
      setText(n._time, fmtClock(a.at));
      setAttr(n._time, 'datetime', typeof a.at === 'number' ? new Date(a.at).toISOString() : null);
      setText(n._icon, STATUS_ICON[to]);
      const who = a.scope?.startsWith('employee:') ? names.member(a.scope.slice(9)) : t('alerts.unitScope');
      setText(n._title, `${ind?.name || a.indicator} · ${who}`);
      const metric = ind?.metric;
      setText(n._detail, `${t('status.' + statusOf(a.from))} → ${t('status.' + to)} · ${t('alerts.detail', {
        value: fmtMetric(metric, a.value), target: fmtMetric(metric, a.target),
      })}`);
    });
  }

  presenceDetail(p) {
    // Offline: since when. Otherwise the ticking duration follows this text.
    if (p.state === 'offline') return p.since ? t('presence.since', { time: fmtClock(p.since) }) : '';
    return p.state === 'serving' && p.counter ? this.m.names.counter(p.counter) : '';
  }

  /** Once a second: the ticking durations and the wallboard clock. */
  tick(now) {
    for (const n of this.cache.counters.values()) if (n._since) setText(n._dur, fmtElapsed(n._since, now));
    for (const n of this.cache.members.values()) if (n._since) setText(n._pDur, fmtElapsed(n._since, now));
    for (const n of this.cache.stats.values()) if (n._since) setText(n._dur, fmtElapsed(n._since, now));
    setText(this.els.clock, fmtClock(now));
  }

  /** Forgets every cached node (the unit changed: ids of one unit mean nothing in another). */
  reset() {
    for (const c of Object.values(this.cache)) {
      for (const n of c.values()) n.remove();
      c.clear();
    }
  }
}

export function alertKey(a) {
  // SPEC §16: an alert's id names it across its escalation and acknowledgement
  if (a.id) return a.id;
  return `${a.at}|${a.indicator}|${a.scope}|${a.to}`;
}
