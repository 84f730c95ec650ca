// The agency overview (SPEC §14) at #/ and the unit page's "Antrian sekarang" strip
// (SPEC §13). Rows arrive as live `overview` frames: the first holds every unit the
// token may see, the later ones only the rows that changed (each row replaced whole).
// Waits tick locally between frames: a row's longest wait grows with the clock.

import { DASH, fmtDuration, fmtElapsed, fmtIkmGrade, fmtInt, fmtPct } from './format.js';
import { t } from './i18n.js';
import { STATUS_ICON, el, setAttr, setText, show, syncList } from './render.js';

const MAX_ROWS = 2000; // a province's units; the map is bounded like every list here

/** The worst status among a row's indicators (what its colour and icon say). */
export function worstStatus(counts) {
  if (!counts) return 'none';
  for (const s of ['bad', 'warn', 'ok']) if (counts[s] > 0) return s;
  return 'none';
}

const COLUMNS = [
  { key: 'name', label: 'ov.unit', value: (r) => r.name || r.unit },
  { key: 'status', label: 'ov.status', value: (r) => ['ok', 'none', 'warn', 'bad'].indexOf(worstStatus(r.indicators)) },
  { key: 'served', label: 'ov.served', num: true, value: (r) => r.today?.services?.count ?? -1 },
  { key: 'sla', label: 'ov.sla', num: true, value: (r) => r.today?.services?.sla_pct ?? -1 },
  { key: 'wait', label: 'ov.wait', num: true, value: (r) => r.today?.services?.wait_ms?.p90 ?? -1 },
  { key: 'ikm', label: 'ov.ikm', num: true, value: (r) => r.today?.ratings?.ikm ?? -1 },
  { key: 'waiting', label: 'ov.waiting', num: true, value: (r) => r.queue?.waiting ?? 0 },
  { key: 'longest', label: 'ov.longest', num: true, value: (r) => r.queue?.longest_wait_ms ?? 0 },
  { key: 'alerts', label: 'ov.alerts', num: true, value: (r) => r.alerts_today ?? 0 },
  { key: 'coaching', label: 'ov.coaching', value: (r) => (r.needs_coaching ? 1000 : 0) + (r.bad_days || 0) },
];

export class Overview {
  constructor(root) {
    this.root = root;
    this.rows = new Map(); // unit -> { row, at }: the frame's `at` for local ticking
    this.received = false;
    this.sort = { key: 'status', desc: true };
    this.cache = new Map();
    this.headKey = '';
    this.table = root.querySelector('table');
    this.head = root.querySelector('thead tr');
    this.body = root.querySelector('tbody');
    // One delegated listener for the sort buttons (none per render).
    this.head.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-sort]');
      if (!b) return;
      const key = b.dataset.sort;
      this.sort = { key, desc: this.sort.key === key ? !this.sort.desc : key !== 'name' };
      this.headKey = '';
      this.render(Date.now());
    });
  }

  reset() {
    this.rows.clear();
    this.received = false;
  }

  /** An `overview` frame; a full one (the first after subscribing) replaces all rows. */
  apply(msg, full) {
    if (full) this.rows.clear();
    this.received = true;
    for (const r of Array.isArray(msg.units) ? msg.units : []) {
      if (!r || typeof r.unit !== 'string') continue;
      if (!this.rows.has(r.unit) && this.rows.size >= MAX_ROWS) continue;
      this.rows.set(r.unit, { row: r, at: typeof msg.at === 'number' ? msg.at : Date.now() });
    }
  }

  renderHead() {
    const key = JSON.stringify([this.sort, t('ov.unit')]);
    if (key === this.headKey) return;
    this.headKey = key;
    this.head.replaceChildren(...COLUMNS.map((c) => {
      const th = el('th');
      th.scope = 'col';
      if (c.num) th.className = 'num';
      const sorted = this.sort.key === c.key;
      setAttr(th, 'aria-sort', sorted ? (this.sort.desc ? 'descending' : 'ascending') : 'none');
      const b = th.appendChild(el('button', 'sort', t(c.label) + (sorted ? (this.sort.desc ? ' ▼' : ' ▲') : '')));
      b.type = 'button';
      b.dataset.sort = c.key;
      return th;
    }));
  }

  sorted() {
    const col = COLUMNS.find((c) => c.key === this.sort.key) || COLUMNS[0];
    const dir = this.sort.desc ? -1 : 1;
    return [...this.rows.values()].sort((a, b) => {
      const x = col.value(a.row), y = col.value(b.row);
      const c = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return c ? dir * c : (a.row.name || a.row.unit).localeCompare(b.row.name || b.row.unit);
    });
  }

  render(now) {
    this.renderHead();
    syncList(this.body, this.cache, this.sorted(), (x) => x.row.unit, () => this.createRow(), (n, x) => this.fillRow(n, x, now));
    const empty = this.root.querySelector('.ov-empty');
    if (empty) show(empty, this.received && this.rows.size === 0);
  }

  createRow() {
    const tr = el('tr', 'ov-row');
    tr._cells = {};
    for (const c of COLUMNS) tr._cells[c.key] = tr.appendChild(el('td', c.num ? 'num' : null));
    const name = tr._cells.name;
    tr._link = name.appendChild(el('a', 'ov-link'));
    const st = tr._cells.status.appendChild(el('span', 'ov-status'));
    tr._icon = st.appendChild(el('span', 'status-icon'));
    tr._icon.setAttribute('aria-hidden', 'true');
    tr._stText = st.appendChild(el('span', 'status-text'));
    tr._chips = tr._cells.status.appendChild(el('span', 'ov-chips'));
    tr._coach = tr._cells.coaching.appendChild(el('span', 'ov-coach'));
    return tr;
  }

  fillRow(tr, { row: r, at }, now) {
    const c = tr._cells;
    setAttr(tr._link, 'href', `#/unit/${encodeURIComponent(r.unit)}`);
    setText(tr._link, r.name || r.unit);
    const st = worstStatus(r.indicators);
    setAttr(tr, 'data-status', st);
    setText(tr._icon, STATUS_ICON[st]);
    setText(tr._stText, t('status.' + st));
    const i = r.indicators || {};
    setText(tr._chips, ['ok', 'warn', 'bad'].map((s) => `${STATUS_ICON[s]} ${i[s] || 0}`).join('  '));
    setAttr(tr._chips, 'aria-label', t('ov.chips', { ok: i.ok || 0, warn: i.warn || 0, bad: i.bad || 0 }));
    const s = r.today?.services;
    setText(c.served, fmtInt(s?.count));
    setText(c.sla, fmtPct(s?.sla_pct));
    setText(c.wait, fmtDuration(s?.wait_ms?.p90));
    setText(c.ikm, fmtIkmGrade(r.today?.ratings?.ikm, r.today?.ratings?.ikm_grade));
    setText(c.waiting, fmtInt(r.queue?.waiting ?? 0));
    tr._longestFrom = r.queue?.waiting ? at - (r.queue.longest_wait_ms || 0) : null;
    setText(c.longest, tr._longestFrom === null ? DASH : fmtElapsed(tr._longestFrom, now));
    setText(c.alerts, fmtInt(r.alerts_today ?? 0));
    setAttr(tr._coach, 'data-coaching', r.needs_coaching ? 'yes' : 'no');
    setText(tr._coach, r.needs_coaching ? `⚑ ${t('ov.needsCoaching', { n: r.bad_days })}` : r.bad_days ? t('ov.badDays', { n: r.bad_days }) : '');
  }

  /** Once a second: the longest waits move on with the clock. */
  tick(now) {
    for (const tr of this.cache.values()) {
      if (tr._longestFrom !== null && tr._longestFrom !== undefined) setText(tr._cells.longest, fmtElapsed(tr._longestFrom, now));
    }
  }
}

/**
 * The unit page's "Antrian sekarang": one card per service kind (and one for all when
 * there are several), with the people waiting, the longest wait ticking from the oldest
 * ticket's issue time, and the estimated wait.
 */
export class QueueStrip {
  constructor(panel) {
    this.panel = panel;
    this.list = panel.querySelector('ul');
    this.cache = new Map();
  }

  render(queue, now) {
    const kinds = Object.entries(queue?.by_service || {});
    const items = [];
    if (queue && (kinds.length !== 1)) items.push({ key: '', label: t('q.all'), q: queue });
    for (const [k, q] of kinds) items.push({ key: 'k:' + k, label: k, q });
    const any = !!queue && (queue.issued_today > 0 || queue.waiting > 0);
    show(this.panel, any);
    syncList(this.list, this.cache, any ? items : [], (x) => x.key, () => {
      const li = el('li', 'q-card');
      li._name = li.appendChild(el('div', 'q-name'));
      li._waiting = li.appendChild(el('div', 'q-waiting'));
      li._longest = li.appendChild(el('div', 'q-longest'));
      li._est = li.appendChild(el('div', 'q-est'));
      return li;
    }, (li, x) => {
      setText(li._name, x.label);
      setText(li._waiting, t('q.waiting', { n: fmtInt(x.q.waiting) }));
      li._from = x.q.waiting ? x.q.oldest_issued_ts : null;
      setText(li._est, t('q.est', { v: x.q.est_wait_ms == null ? DASH : fmtDuration(x.q.est_wait_ms) }));
      this.fill(li, now);
    });
  }

  fill(li, now) {
    setText(li._longest, t('q.longest', { v: li._from === null ? DASH : fmtElapsed(li._from, now) }));
  }

  tick(now) {
    for (const li of this.cache.values()) this.fill(li, now);
  }
}
