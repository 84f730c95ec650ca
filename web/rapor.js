// The rapor of SPEC §15: #/unit/U/rapor/P, a page a unit prints and hands in (one
// table of its employees with their indicators over the period, hasil kerja, perilaku
// and predikat, the distribution, the unit's IKM), and the "Rapor periode ini" block of
// the personal view. Both read GET /api/v1/rapor once (the period's values change
// slowly; a button reloads), never the live feed.

import { t } from './i18n.js';
import { DASH, fmtDate, fmtDec, fmtIkm, fmtInt, fmtMetric } from './format.js';

const PERSONAL_REFRESH_MS = 10 * 60 * 1000; // the period moves slowly; the page runs for days

// ---- periods: "2026-12", "2026-Q4", "2026" ----

export function parsePeriod(s) {
  const m = /^(\d{4})(?:-(?:Q([1-4])|(0[1-9]|1[0-2])))?$/.exec(String(s || ''));
  if (!m) return null;
  const year = Number(m[1]);
  if (m[2]) return { kind: 'quarter', year, index: Number(m[2]) };
  if (m[3]) return { kind: 'month', year, index: Number(m[3]) };
  return { kind: 'year', year, index: 0 };
}

export function formatPeriod(p) {
  if (p.kind === 'quarter') return `${p.year}-Q${p.index}`;
  if (p.kind === 'month') return `${p.year}-${String(p.index).padStart(2, '0')}`;
  return String(p.year);
}

/** The period n steps before (n < 0) or after p, of the same kind. */
export function shiftPeriod(p, n) {
  const per = p.kind === 'month' ? 12 : p.kind === 'quarter' ? 4 : 1;
  if (per === 1) return { ...p, year: p.year + n };
  const i = p.year * per + (p.index - 1) + n;
  return { kind: p.kind, year: Math.floor(i / per), index: (i % per) + 1 };
}

/** The period of another kind holding p's first month. */
export function periodOfKind(p, kind) {
  const month = p.kind === 'month' ? p.index : p.kind === 'quarter' ? 3 * p.index - 2 : 1;
  if (kind === 'month') return { kind, year: p.year, index: month };
  if (kind === 'quarter') return { kind, year: p.year, index: Math.floor((month - 1) / 3) + 1 };
  return { kind: 'year', year: p.year, index: 0 };
}

/** "Desember 2026", "Triwulan IV 2026", "Tahun 2026" in the page's language. */
export function periodLabel(p) {
  if (!p) return '';
  if (p.kind === 'month') return t('rapor.month', { m: t(`month.${p.index}`), y: p.year });
  if (p.kind === 'quarter') return t('rapor.quarter', { q: ['I', 'II', 'III', 'IV'][p.index - 1], y: p.year });
  return t('rapor.year', { y: p.year });
}

// ---- the API ----

/** fetchRapor(unit, period) over HTTP with the page's token; period '' = the current one. */
export function httpRaporFetcher(getToken) {
  return (unit, period) => fetchRapor(unit, period, getToken);
}

export async function fetchRapor(unit, period, getToken) {
  const q = new URLSearchParams({ unit });
  if (period) q.set('period', period);
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`/api/v1/rapor?${q}`, { headers, cache: 'no-store' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// ---- small DOM helpers (this page is rebuilt whole: it is not live) ----

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

const levelText = (l) => (l ? t(`level.${l}`) : DASH);

/** A level as a word with a mark, never colour alone. */
function levelBadge(l) {
  const b = el('span', `level level-${l || 'none'}`);
  b.append(el('span', 'level-icon', l === 'above' ? '▲' : l === 'below' ? '▼' : l ? '●' : '○'));
  b.append(el('span', null, levelText(l)));
  return b;
}

function predikatText(row) {
  return row.predikat ? t(`predikat.${row.predikat}`) : DASH;
}

/** The weakest indicator: the lowest capaian among those with a value. */
export function weakestIndicator(row) {
  let worst = null;
  for (const i of row?.indicators || []) {
    if (typeof i.achievement_pct !== 'number') continue;
    if (!worst || i.achievement_pct < worst.achievement_pct) worst = i;
  }
  return worst;
}

function indicatorCell(i) {
  const td = el('td', 'rapor-ind');
  td.append(el('span', 'rapor-ind-value', fmtMetric(i.metric, i.value)));
  td.append(el('span', 'rapor-ind-ach', typeof i.achievement_pct === 'number' ? `${fmtDec(i.achievement_pct, 1)} %` : DASH));
  td.append(levelBadge(i.level));
  return td;
}

// ---- the rapor page ----

export class RaporView {
  constructor(fetchRapor) {
    this.fetchRapor = fetchRapor;
    this.root = document.getElementById('rapor');
    this.els = {
      period: document.getElementById('rapor-period'),
      kind: document.getElementById('rapor-kind'),
      prev: document.getElementById('rapor-prev'),
      next: document.getElementById('rapor-next'),
      print: document.getElementById('rapor-print'),
      status: document.getElementById('rapor-status'),
      body: document.getElementById('rapor-body'),
    };
    this.want = null; // { unit, period } asked for
    this.data = null;
    this.els.prev.addEventListener('click', () => this.step(-1));
    this.els.next.addEventListener('click', () => this.step(1));
    this.els.kind.addEventListener('change', () => {
      const p = parsePeriod(this.data?.period);
      if (p) this.go(formatPeriod(periodOfKind(p, this.els.kind.value)));
    });
    this.els.print.addEventListener('click', () => window.print());
  }

  go(period) {
    location.hash = `#/unit/${encodeURIComponent(this.want.unit)}/rapor/${period}`;
  }

  step(n) {
    const p = parsePeriod(this.data?.period);
    if (p) this.go(formatPeriod(shiftPeriod(p, n)));
  }

  /** Shows the page for unit and period ('' = the daemon's current one). */
  async open(unit, period) {
    this.root.hidden = false;
    document.body.classList.add('rapor-page');
    if (this.want && this.want.unit === unit && this.want.period === period && this.data) return;
    this.want = { unit, period };
    this.data = null;
    this.els.status.textContent = t('rapor.loading');
    this.els.body.replaceChildren();
    try {
      const r = await this.fetchRapor(unit, period);
      if (this.want.unit !== unit || this.want.period !== period) return; // moved on
      this.data = r;
      this.render();
    } catch (e) {
      if (this.want.unit !== unit || this.want.period !== period) return;
      this.els.status.textContent = t('rapor.error', { msg: e.message });
    }
  }

  close() {
    this.root.hidden = true;
    document.body.classList.remove('rapor-page');
  }

  /** Titles of the page (the app's header) while the rapor is shown. */
  title() {
    const r = this.data;
    const p = parsePeriod(r?.period || this.want?.period);
    return { title: t('rapor.title', { unit: r?.name || this.want?.unit || '' }), sub: periodLabel(p) };
  }

  render() {
    const r = this.data;
    if (!r) return;
    const p = parsePeriod(r.period);
    this.els.period.textContent = periodLabel(p);
    this.els.kind.value = p.kind;
    const span = `${fmtDate(r.from)} – ${fmtDate(r.to - 1)}`;
    let status = r.final ? t('rapor.final', { span }) : t('rapor.provisional', { span });
    if (r.data_from > r.from) status += ' ' + t('rapor.partial', { date: fmtDate(r.data_from) });
    this.els.status.textContent = status;
    const parts = [this.table(r)];
    if (r.distribution) parts.push(this.distribution(r.distribution));
    if (r.ikm) parts.push(this.ikm(r.ikm));
    parts.push(el('p', 'rapor-note', t('rapor.note', { pct: fmtDec(r.above_pct, 0) })));
    parts.push(el('p', 'rapor-generated', t('rapor.generated', { date: fmtDate(r.generated_at) })));
    this.els.body.replaceChildren(...parts);
  }

  table(r) {
    const inds = r.rows[0]?.indicators || [];
    const table = el('table', 'rapor-table');
    table.append(el('caption', null, t('rapor.caption')));
    const head = el('tr');
    for (const h of [t('rapor.no'), t('rapor.employee')]) head.append(Object.assign(el('th', null, h), { scope: 'col' }));
    for (const i of inds) {
      const th = Object.assign(el('th', 'rapor-ind-h', i.name), { scope: 'col' });
      th.append(el('small', null, t('rapor.target', { v: fmtMetric(i.metric, i.target) })));
      head.append(th);
    }
    for (const h of [t('rapor.hasil'), t('rapor.perilaku'), t('rapor.predikat')]) head.append(Object.assign(el('th', null, h), { scope: 'col' }));
    const thead = el('thead');
    thead.append(head);
    table.append(thead);
    const body = el('tbody');
    r.rows.forEach((row, n) => {
      const tr = el('tr');
      tr.dataset.employee = row.employee;
      tr.append(el('td', 'num', n + 1));
      const who = el('th', 'rapor-who');
      who.scope = 'row';
      who.append(el('span', 'rapor-name', row.name), el('span', 'rapor-nip', row.employee));
      tr.append(who);
      for (const i of row.indicators) tr.append(indicatorCell(i));
      const hasil = el('td');
      hasil.append(levelBadge(row.hasil_kerja));
      const peri = el('td');
      peri.append(levelBadge(row.perilaku));
      tr.append(hasil, peri, el('td', `rapor-predikat predikat-${row.predikat || 'none'}`, predikatText(row)));
      body.append(tr);
    });
    table.append(body);
    if (!r.rows.length) {
      const wrap = el('div');
      wrap.append(table, el('p', 'muted', t('rapor.noRows')));
      return wrap;
    }
    return table;
  }

  distribution(d) {
    const sec = el('section', 'rapor-dist');
    sec.append(el('h2', null, t('rapor.distribution')));
    const dl = el('dl');
    for (const k of ['sangat_baik', 'baik', 'butuh_perbaikan', 'kurang', 'sangat_kurang', 'none']) {
      const div = el('div');
      div.append(el('dt', null, k === 'none' ? t('rapor.noPredikat') : t(`predikat.${k}`)), el('dd', null, fmtInt(d[k] ?? 0)));
      dl.append(div);
    }
    sec.append(dl);
    return sec;
  }

  ikm(k) {
    const sec = el('section', 'rapor-ikm');
    sec.append(el('h2', null, t('rapor.ikm')));
    const head = el('p', 'rapor-ikm-head');
    if (typeof k.ikm === 'number') {
      head.textContent = t('rapor.ikmValue', { ikm: fmtIkm(k.ikm), grade: k.ikm_grade, label: k.label, n: fmtInt(k.responses) });
    } else {
      head.textContent = t('rapor.ikmNone');
    }
    sec.append(head);
    const vals = (k.elements || []).filter((v) => typeof v === 'number');
    const weakest = vals.length ? Math.min(...vals) : null;
    const table = el('table', 'rapor-ikm-table');
    const tr0 = el('tr');
    for (const h of [t('rapor.element'), t('rapor.nrr25')]) tr0.append(Object.assign(el('th', null, h), { scope: 'col' }));
    const thead = el('thead');
    thead.append(tr0);
    table.append(thead);
    const body = el('tbody');
    (k.element_names || []).forEach((name, i) => {
      const v = k.elements?.[i];
      const tr = el('tr', v === weakest && weakest !== null ? 'weakest' : null);
      tr.append(el('th', null, `U${i + 1} ${name}`), el('td', 'num', fmtIkm(v)));
      if (v === weakest && weakest !== null) tr.lastChild.append(el('span', 'weakest-mark', ` ▼ ${t('rapor.weakest')}`));
      body.append(tr);
    });
    table.append(body);
    sec.append(table);
    return sec;
  }
}

// ---- "Rapor periode ini" in the personal view ----

export class PersonalRapor {
  constructor(fetchRapor) {
    this.fetchRapor = fetchRapor;
    this.panel = document.getElementById('personal-rapor');
    this.body = document.getElementById('personal-rapor-body');
    this.key = null;
    this.at = 0;
  }

  hide() { this.panel.hidden = true; }

  /** Shows employee's row of the current period; fetched again after a while. */
  async update(unit, employee, now) {
    this.panel.hidden = false;
    const key = `${unit}/${employee}`;
    if (key === this.key && now - this.at < PERSONAL_REFRESH_MS) return;
    this.key = key;
    this.at = now;
    try {
      const r = await this.fetchRapor(unit, '');
      if (this.key !== key) return;
      this.render(r, r.rows.find((x) => x.employee === employee), unit);
    } catch (e) {
      if (this.key === key) this.body.replaceChildren(el('p', 'muted', t('rapor.error', { msg: e.message })));
    }
  }

  render(r, row, unit) {
    const parts = [el('p', 'personal-rapor-period', `${periodLabel(parsePeriod(r.period))}${r.final ? '' : ' · ' + t('rapor.provisionalShort')}`)];
    if (!row) {
      parts.push(el('p', 'muted', t('rapor.noRow')));
    } else {
      const dl = el('dl', 'personal-rapor-ratings');
      for (const [label, node] of [[t('rapor.hasil'), levelBadge(row.hasil_kerja)], [t('rapor.perilaku'), levelBadge(row.perilaku)],
        [t('rapor.predikat'), el('span', `rapor-predikat predikat-${row.predikat || 'none'}`, predikatText(row))]]) {
        const div = el('div');
        const dd = el('dd');
        dd.append(node);
        div.append(el('dt', null, label), dd);
        dl.append(div);
      }
      parts.push(dl);
      const w = weakestIndicator(row);
      parts.push(el('p', 'personal-rapor-weakest', w
        ? t('rapor.weakestInd', { name: w.name, ach: fmtDec(w.achievement_pct, 1), value: fmtMetric(w.metric, w.value), target: fmtMetric(w.metric, w.target) })
        : t('rapor.noWeakest')));
    }
    const a = el('a', 'personal-rapor-link', t('rapor.open'));
    a.href = `#/unit/${encodeURIComponent(unit)}/rapor/${r.period}`;
    parts.push(a);
    this.body.replaceChildren(...parts);
  }
}
