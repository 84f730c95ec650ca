// The day's two charts: services served per hour (bars) and wait p90 per hour (line),
// loaded from GET /api/v1/series and kept current while live updates arrive.
//
// Keeping them current: the served count of the running hour is exact enough from the
// live feed alone (today's count minus the closed hours already charted), so bars move
// with every update at no cost. A p90 cannot be derived that way, and late events may
// land in earlier hours, so the series are also re-fetched — at most once a minute while
// updates arrive, and at each new hour and day. Each chart is one uPlot instance for the
// life of the page, fed with setData: nothing is rebuilt per update.

import uPlot from './node_modules/uplot/dist/uPlot.esm.js';
import { dayBounds, fmtClock, fmtDuration, fmtInt, HOUR } from './format.js';
import { t } from './i18n.js';

const REFETCH_MIN_MS = 60000;
// Opening hours of most service units; the axis widens when data lies outside.
const DAY_FIRST_HOUR = 7;
const DAY_LAST_HOUR = 17;

const METRIC_SERVED = 'services.count';
const METRIC_WAIT = 'services.wait_ms.p90';

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

class Chart {
  constructor(figure, kind) {
    this.kind = kind;
    this.plotEl = figure.querySelector('.plot');
    this.noteEl = figure.querySelector('.chart-note');
    this.plot = null;
    this.target = null;
    this.data = [[], []];
    // Layout changes (phone rotation, wallboard toggle, window size) resize the
    // canvas; the observer lives as long as the page, like the chart.
    this.observer = new ResizeObserver(() => this.fit());
    this.observer.observe(this.plotEl);
  }

  build() {
    this.plot?.destroy();
    const axis = cssVar('--chart-axis') || '#444';
    const grid = cssVar('--chart-grid') || '#ddd';
    const color = cssVar(this.kind === 'served' ? '--chart-bar' : '--chart-line') || '#1f5fbf';
    const fontPx = parseFloat(cssVar('--chart-font')) || 12;
    const font = `${fontPx}px system-ui, sans-serif`;
    const served = this.kind === 'served';
    const opts = {
      width: Math.max(100, this.plotEl.clientWidth),
      height: Math.max(80, this.plotEl.clientHeight),
      ms: 1,
      legend: { show: false },
      cursor: { show: false },
      select: { show: false },
      scales: {
        x: { time: true, range: () => [this.range[0], this.range[1]] },
        y: {
          range: (u, min, max) => [0, served
            ? Math.max(5, Math.ceil((max || 0) * 1.15))
            : Math.max(300000, Math.max(max || 0, this.target || 0) * 1.15)],
        },
      },
      axes: [
        {
          stroke: axis, font, ticks: { show: false }, grid: { show: false },
          incrs: [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR],
          values: (u, splits) => splits.map((v) => fmtClock(v).slice(0, 2)),
        },
        {
          stroke: axis, font, ticks: { show: false }, grid: { stroke: grid, width: 1 },
          size: fontPx * (served ? 3 : 4),
          incrs: served ? [1, 2, 5, 10, 20, 25, 50, 100, 200, 500] : [60000, 120000, 300000, 600000, 900000, 1800000, 3600000],
          // Whole minutes: "15:00" on an axis beside an hour axis reads as a clock time.
          values: (u, splits) => splits.map((v) => (served ? fmtInt(v) : `${fmtInt(v / 60000)} ${t('unit.min')}`)),
        },
      ],
      hooks: served ? {} : { draw: [(u) => this.drawTarget(u, axis, fontPx)] },
      series: [
        {},
        served
          ? { stroke: color, fill: color, width: 0, paths: uPlot.paths.bars({ size: [0.7, 64] }), points: { show: false } }
          : { stroke: color, width: Math.max(2, fontPx / 5), points: { show: true, size: fontPx / 2 + 3, fill: color }, spanGaps: false },
      ],
    };
    this.plot = new uPlot(opts, this.data, this.plotEl);
  }

  // The indicator's target as a dashed line, so the line chart says good or bad.
  drawTarget(u, color, fontPx) {
    if (!this.target) return;
    const y = Math.round(u.valToPos(this.target, 'y', true));
    const { left, width } = u.bbox;
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = dpr;
    ctx.setLineDash([6 * dpr, 4 * dpr]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.font = `${Math.round(fontPx * 0.9 * dpr)}px system-ui, sans-serif`;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'bottom';
    ctx.fillText(`${t('ind.target')} ${fmtDuration(this.target)}`, left + width - 4 * dpr, y - 3 * dpr);
    ctx.restore();
  }

  fit() {
    if (!this.plot) return;
    const w = this.plotEl.clientWidth;
    const h = this.plotEl.clientHeight;
    if (w > 0 && h > 0 && (w !== this.plot.width || h !== this.plot.height)) this.plot.setSize({ width: w, height: h });
  }

  set(range, xs, ys) {
    this.range = range;
    this.data = [xs, ys];
    if (!this.plot) this.build();
    else this.plot.setData(this.data);
  }

  note(text) {
    if (this.noteEl.textContent !== text) this.noteEl.textContent = text;
  }
}

export class DayCharts {
  /**
   * servedFig, waitFig: <figure> elements each holding a .plot and a .chart-note.
   * fetchSeries({scope, metric, res, from, to}) → {points: [[t, v], …]}.
   */
  constructor({ servedFig, waitFig, fetchSeries }) {
    this.served = new Chart(servedFig, 'served');
    this.wait = new Chart(waitFig, 'wait');
    this.fetchSeries = fetchSeries;
    this.scope = null;
    this.gen = 0;            // discards answers for a scope or day no longer shown
    this.lastFetch = 0;
    this.failed = false;
    this.loaded = false;
    this.timer = 0;
    this.day = null;         // [from, to) of the charted day
    this.hour = -1;
    this.points = { served: new Map(), wait: new Map() }; // hour start → value
    this.todayCount = null;
  }

  /** Shows the charts of a scope ("unit:U", "employee:E"); null clears them. */
  setScope(scope) {
    if (scope === this.scope) return;
    this.scope = scope;
    this.todayCount = null;
    this.points.served.clear();
    this.points.wait.clear();
    this.loaded = false;
    if (scope) this.refresh();
    this.draw();
  }

  /** A snapshot or update changed the charted scope; `services` is its today.services. */
  noteLive(services) {
    if (!this.scope) return;
    this.todayCount = typeof services?.count === 'number' ? services.count : null;
    this.draw();
    const now = Date.now();
    if (now - this.lastFetch >= REFETCH_MIN_MS) this.refresh();
    else if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = 0; this.refresh(); }, this.lastFetch + REFETCH_MIN_MS - now);
    }
  }

  /** Called every second or so: a new hour or day re-fetches; a failure retries. */
  tick(now) {
    if (!this.scope) return;
    const [from] = dayBounds(now);
    const hour = Math.floor((now - from) / HOUR);
    if (this.day && (from !== this.day[0] || hour !== this.hour)) {
      if (from !== this.day[0]) { this.points.served.clear(); this.points.wait.clear(); this.todayCount = null; }
      this.refresh();
    } else if (this.failed && now - this.lastFetch >= REFETCH_MIN_MS) {
      this.refresh();
    }
  }

  /** The wait-p90 indicator's target for the charted scope (null: none). */
  setWaitTarget(ms) {
    const v = typeof ms === 'number' && ms > 0 ? ms : null;
    if (v === this.wait.target) return;
    this.wait.target = v;
    this.wait.plot?.setData(this.wait.data); // re-ranges y to include the target
  }

  /** Language or theme changed: labels and colours are baked into the plots. */
  restyle() {
    this.served.plot && this.served.build();
    this.wait.plot && this.wait.build();
    this.draw();
  }

  async refresh() {
    clearTimeout(this.timer);
    this.timer = 0;
    const scope = this.scope;
    if (!scope) return;
    const now = Date.now();
    const [from, to] = dayBounds(now);
    this.day = [from, to];
    this.hour = Math.floor((now - from) / HOUR);
    this.lastFetch = now;
    const gen = ++this.gen;
    const ask = (metric) => this.fetchSeries({ scope, metric, res: 'hour', from, to });
    try {
      const [s, w] = await Promise.all([ask(METRIC_SERVED), ask(METRIC_WAIT)]);
      if (gen !== this.gen) return;
      this.fill(this.points.served, s.points);
      this.fill(this.points.wait, w.points);
      this.failed = false;
      this.loaded = true;
    } catch (e) {
      if (gen !== this.gen) return;
      this.failed = true;
      console.info('series:', e.message);
    }
    this.draw();
  }

  fill(map, points) {
    map.clear();
    if (!Array.isArray(points)) return;
    for (const p of points) {
      if (Array.isArray(p) && typeof p[0] === 'number') map.set(p[0] - (p[0] - this.day[0]) % HOUR, typeof p[1] === 'number' ? p[1] : null);
    }
  }

  draw() {
    if (!this.scope || !this.day) {
      this.served.note(this.scope ? t('chart.loading') : '');
      this.wait.note(this.scope ? t('chart.loading') : '');
      return;
    }
    const [from] = this.day;
    const now = Date.now();
    const curHour = Math.min(23, Math.floor((now - from) / HOUR));
    const curStart = from + curHour * HOUR;

    // The running hour's served count from the live feed (see the file comment).
    // A negative estimate means the daemon's day is not ours (another time zone): skip.
    if (this.loaded && typeof this.todayCount === 'number' && now < this.day[1]) {
      let others = 0;
      for (const [h, v] of this.points.served) if (h !== curStart && v) others += v;
      const est = this.todayCount - others;
      if (est >= 0) this.points.served.set(curStart, est);
    }

    // Axis from the opening hour (or the first data) to the closing hour (or now).
    let first = DAY_FIRST_HOUR;
    let last = Math.max(DAY_LAST_HOUR, curHour + 1);
    for (const m of [this.points.served, this.points.wait]) {
      for (const [h, v] of m) {
        if (v === null || v === 0) continue;
        const i = Math.round((h - from) / HOUR);
        first = Math.min(first, i);
        last = Math.max(last, i + 1);
      }
    }
    last = Math.min(24, last);
    const range = [from + first * HOUR, from + last * HOUR];
    const xs = [];
    const sv = [];
    const wv = [];
    let total = 0; let maxS = -1; let maxSh = 0; let maxW = -1; let maxWh = 0;
    for (let i = first; i < last; i++) {
      const h = from + i * HOUR;
      xs.push(h + HOUR / 2); // bars and points sit in the middle of their hour
      const s = this.points.served.has(h) ? this.points.served.get(h) : (i <= curHour && this.loaded ? 0 : null);
      const w = this.points.wait.get(h) ?? null;
      sv.push(s);
      wv.push(w);
      if (s) { total += s; if (s > maxS) { maxS = s; maxSh = h; } }
      if (w !== null && w > maxW) { maxW = w; maxWh = h; }
    }
    this.served.set(range, xs, sv);
    this.wait.set(range, xs, wv);

    if (this.failed && !this.loaded) {
      this.served.note(t('chart.unavailable'));
      this.wait.note(t('chart.unavailable'));
      return;
    }
    if (!this.loaded) {
      this.served.note(t('chart.loading'));
      this.wait.note(t('chart.loading'));
      return;
    }
    // The same facts in words: for screen readers, and for people who do not read charts.
    this.served.note(maxS > 0
      ? t('chart.served.sum', { total: fmtInt(total), max: fmtInt(maxS), hour: fmtClock(maxSh) })
      : t('chart.empty'));
    this.wait.note(maxW >= 0
      ? t('chart.wait.sum', { max: fmtDuration(maxW), hour: fmtClock(maxWh) })
      : t('chart.empty'));
  }
}

/** The HTTP series reader (SPEC §7), with the token as a Bearer header when known. */
export function httpSeriesFetcher(getToken) {
  return async ({ scope, metric, res, from, to }) => {
    const q = new URLSearchParams({ scope, metric, res, from: String(from), to: String(to) });
    const headers = { Accept: 'application/json' };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`/api/v1/series?${q}`, { headers, cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status} for ${metric}`);
    return r.json();
  };
}
