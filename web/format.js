// Number, duration and time formatting. Pure functions of their arguments and the
// current language; no DOM. Missing values (nil on the wire) show as an en dash.

import { locale, t } from './i18n.js';

export const DASH = '–';
const HOUR = 3600000;

// Intl formatters are costly to create; a wallboard formats thousands of values a
// minute, so keep one of each per locale (two locales: bounded).
const cache = new Map();

// The daemon's time zone (its "today" starts at midnight there), from the
// snapshot. Until it is known, the browser's own.
let zone;
export function setTimeZone(tz) {
  if (!tz || tz === zone) return;
  try { new Intl.DateTimeFormat('en', { timeZone: tz }); } catch { return; } // unknown here
  zone = tz;
}

function fmt(kind, make) {
  const key = kind + '|' + locale() + '|' + (zone || '');
  let f = cache.get(key);
  if (!f) { f = make(locale()); cache.set(key, f); }
  return f;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

export function fmtInt(v) {
  if (!isNum(v)) return DASH;
  return fmt('int', (l) => new Intl.NumberFormat(l, { maximumFractionDigits: 0 })).format(v);
}

/** One decimal always, so that a column of percentages lines up: "92,5 %" / "92.5%". */
export function fmtPct(v) {
  if (!isNum(v)) return DASH;
  return fmt('pct', (l) => new Intl.NumberFormat(l, {
    style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1,
  })).format(v / 100);
}

export function fmtDec(v, digits = 1) {
  if (!isNum(v)) return DASH;
  return fmt('dec' + digits, (l) => new Intl.NumberFormat(l, {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  })).format(v);
}

/** IKM: two decimals (25.00–100.00) as PermenPAN-RB 14/2017 reports it. */
export function fmtIkm(v) { return fmtDec(v, 2); }

/** "84,12 B" — the grade letter is part of the value people quote. */
export function fmtIkmGrade(v, grade) {
  if (!isNum(v)) return DASH;
  return grade ? `${fmtIkm(v)} ${grade}` : fmtIkm(v);
}

const pad2 = (n) => (n < 10 ? '0' : '') + n;

/**
 * A duration of the metrics: m:ss below an hour ("12:05"), h:mm with the hour unit
 * above ("1:20 j"), so that the two forms cannot be confused.
 */
export function fmtDuration(ms) {
  if (!isNum(ms)) return DASH;
  const s = Math.round(Math.max(0, ms) / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}:${pad2(s % 60)}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}:${pad2(m % 60)} ${t('dur.hours')}`;
}

/** A live, ticking elapsed time: mm:ss, then h:mm:ss past an hour. */
export function fmtElapsed(since, now) {
  if (!isNum(since)) return DASH;
  const s = Math.floor(Math.max(0, now - since) / 1000);
  const mmss = `${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}`;
  return s < 3600 ? mmss : `${Math.floor(s / 3600)}:${mmss}`;
}

/** Wall-clock time of a timestamp, HH:MM (or HH:MM:SS), in the daemon's time zone. */
export function fmtClock(ts, seconds = false) {
  if (!isNum(ts)) return DASH;
  return fmt(seconds ? 'clock-s' : 'clock', (l) => new Intl.DateTimeFormat(l, {
    hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined, hour12: false,
    timeZone: zone,
  })).format(ts);
}

export function fmtDate(ts) {
  return fmt('date', (l) => new Intl.DateTimeFormat(l, {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: zone,
  })).format(ts);
}

/**
 * Formats a value of the metric at `path` (e.g. "services.wait_ms.p90"), as the
 * indicator tiles and alerts need: durations, percentages, IKM, counts, averages.
 */
export function fmtMetric(path, v) {
  if (!isNum(v)) return DASH;
  const p = String(path || '');
  if (/_ms(\.|$)/.test(p)) return fmtDuration(v);
  if (/_pct$/.test(p)) return fmtPct(v);
  if (/(^|\.)ikm$/.test(p)) return fmtIkm(v);
  if (/(^|\.)ikm_elements/.test(p)) return fmtIkm(v);
  if (/\.(count|no_show)$/.test(p)) return fmtInt(v);
  if (/per_hour$/.test(p)) return fmtDec(v, 1);
  if (/(_avg|\.avg)$/.test(p)) return fmtDec(v, 2);
  return Number.isInteger(v) ? fmtInt(v) : fmtDec(v, 2);
}

// The zone's wall-clock fields of ts, read through Intl (no time-zone library).
function wall(ts) {
  const parts = fmt('wall', () => new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: 'numeric', minute: 'numeric', second: 'numeric',
  })).formatToParts(ts);
  const f = Object.fromEntries(parts.map((p) => [p.type, Number(p.value)]));
  return f;
}

// UTC ms of the zone's midnight starting the day y-m-d: guess with the offset
// at the guess, then correct once more for a DST change in between.
function zoneMidnight(y, m, d) {
  let t = Date.UTC(y, m - 1, d);
  for (let i = 0; i < 2; i++) {
    const w = wall(t);
    const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    t -= asUtc - Date.UTC(y, m - 1, d);
  }
  return t;
}

/** Start of the day (in the daemon's time zone) containing ts, and of the next one. */
export function dayBounds(ts) {
  const w = wall(ts);
  const next = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
  return [zoneMidnight(w.year, w.month, w.day),
    zoneMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate())];
}

export { HOUR };
