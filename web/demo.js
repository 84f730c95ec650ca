// Dev-only demo mode (?demo=1): plays a recorded snapshot (fixtures/demo-snapshot.json)
// through a stand-in for WebSocket that speaks kinerja-live.v1 in msgpack, so the page
// runs exactly the code it runs against kinerjad (decode, seq checks, rendering), and
// answers series requests from the same file. Used for screenshots and design work.

import { decode, encode } from './node_modules/@msgpack/msgpack/dist.esm/index.mjs';
import { SUBPROTOCOL } from './live.js';

const HOUR = 3600000;
const UPDATE_EVERY_MS = 5000;

let fixturePromise = null;
function loadFixture(url) {
  fixturePromise ??= fetch(url).then((r) => {
    if (!r.ok) throw new Error(`demo fixture: HTTP ${r.status}`);
    return r.json();
  });
  return fixturePromise;
}

// Moves the recorded moments to "now", so that ticking durations and alert times look
// as they did when recorded.
function shiftedSnapshot(fx) {
  const snap = structuredClone(fx.snapshot);
  const d = Date.now() - fx.recorded_at;
  snap.at += d;
  for (const m of Object.values(snap.members || {})) if (m.presence?.since) m.presence.since += d;
  for (const c of Object.values(snap.counters || {})) if (c.serving?.since) c.serving.since += d;
  for (const a of snap.alerts || []) a.at += d;
  return snap;
}

function frame(msg) {
  // A fresh ArrayBuffer, as a real socket delivers with binaryType "arraybuffer".
  return { data: encode(msg).slice().buffer };
}

class DemoSocket {
  constructor(url, protocol, fixtureUrl) {
    this.url = url;
    this.protocol = '';
    this.readyState = 0;
    this.binaryType = 'blob';
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.timer = 0;
    this.snap = null;
    this.tick = 0;
    loadFixture(fixtureUrl).then((fx) => {
      if (this.readyState !== 0) return;
      this.fx = fx;
      this.readyState = 1;
      this.protocol = protocol === SUBPROTOCOL ? SUBPROTOCOL : '';
      this.onopen?.({});
    }, (e) => {
      console.warn(e.message);
      this.readyState = 3;
      this.onclose?.({ code: 1006, reason: 'demo fixture missing' });
    });
  }

  send(bytes) {
    if (this.readyState !== 1) return;
    const msg = decode(bytes);
    // Replies are asynchronous, as over a network.
    setTimeout(() => this.reply(msg), 30);
  }

  close() {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    clearInterval(this.timer);
    setTimeout(() => this.onclose?.({ code: 1000, reason: '' }), 0);
  }

  emit(msg) {
    if (this.readyState === 1) this.onmessage?.(frame(msg));
  }

  reply(msg) {
    if (this.readyState !== 1) return;
    const fx = this.fx;
    switch (msg.op) {
      case 'auth':
        break;
      case 'units':
        this.emit({ op: 'units', units: fx.units });
        break;
      case 'subscribe': {
        clearInterval(this.timer);
        if (msg.unit === fx.snapshot.unit) {
          this.snap = shiftedSnapshot(fx);
          this.emit(this.snap);
          this.timer = setInterval(() => this.step(), UPDATE_EVERY_MS);
        } else if (fx.units.some((u) => u.id === msg.unit)) {
          // Other units of the recording: a unit with no data yet today.
          this.snap = null;
          this.emit({ op: 'snapshot', unit: msg.unit, seq: 1, at: Date.now(), unit_metrics: {}, members: {}, counters: {}, indicators: [], alerts: [] });
        } else {
          this.emit({ op: 'error', error: `unknown unit: ${msg.unit}` });
        }
        break;
      }
      case 'unsubscribe':
        clearInterval(this.timer);
        break;
      default:
        this.emit({ op: 'error', error: `unknown op: ${msg.op}` });
    }
  }

  // One simulated service completion per step, and now and then a staffing change or
  // an alert, to show live changes. Only the changed scopes are sent, each whole.
  step() {
    const s = this.snap;
    if (!s) return;
    const now = Date.now();
    this.tick++;
    const busy = Object.entries(s.counters).filter(([, c]) => c.serving);
    const [cid, counter] = busy[this.tick % busy.length];
    const eid = counter.serving.employee;
    const member = s.members[eid];
    const bump = (m) => {
      for (const w of ['15m', '1h', 'today']) if (m?.[w]?.services) m[w].services.count++;
    };
    bump(s.unit_metrics); bump(member); bump(counter);
    counter.serving = { employee: eid, since: now };
    member.presence = { state: 'serving', since: now, counter: cid };
    const update = {
      op: 'update', unit: s.unit, seq: ++s.seq, at: now,
      unit_metrics: s.unit_metrics,
      members: { [eid]: member },
      counters: { [cid]: counter },
    };
    if (this.tick % 4 === 0) {
      // Someone opens or closes the idle counter.
      const idle = Object.entries(s.counters).find(([, c]) => !c.serving);
      const avail = Object.entries(s.members).find(([, m]) => m.presence?.state === 'available');
      if (idle && avail) {
        idle[1].serving = { employee: avail[0], since: now };
        avail[1].presence = { state: 'serving', since: now, counter: idle[0] };
        update.counters[idle[0]] = idle[1];
        update.members[avail[0]] = avail[1];
      }
    }
    this.emit(update);
    if (this.tick === 3) {
      const ind = s.indicators.find((i) => i.id === 'sla-wait' && i.scope.startsWith('unit:'));
      if (ind) {
        ind.status = 'bad';
        ind.value = 80.9;
        ind.achievement_pct = 89.9;
        this.emit({ op: 'update', unit: s.unit, seq: ++s.seq, at: now, indicators: s.indicators });
        this.emit({ op: 'alert', unit: s.unit, at: now, indicator: ind.id, scope: ind.scope, from: 'warn', to: 'bad', value: 80.9, target: ind.target });
      }
    }
  }
}

/**
 * Returns { createSocket, fetchSeries } for the demo. fetchSeries answers like
 * GET /api/v1/series: the recorded unit's hours are laid onto the asked day, and an
 * employee's series is the unit's scaled by that employee's share.
 */
// A stand-in rapor (SPEC §15) made from the recorded snapshot: each member's indicators
// as they stood that day, judged by the rules of §15 (above at 110 %), every perilaku
// "meets" (the recording has no assessments). For the demo's personal view and rapor page.
const PREDIKAT = {
  above: { below: 'kurang', meets: 'baik', above: 'sangat_baik' },
  meets: { below: 'kurang', meets: 'baik', above: 'baik' },
  below: { below: 'sangat_kurang', meets: 'butuh_perbaikan', above: 'butuh_perbaikan' },
};

function demoLevel(i) {
  if (i.status === 'none' || i.status == null) return null;
  if (typeof i.achievement_pct === 'number' && i.achievement_pct >= 110) return 'above';
  return i.status === 'bad' ? 'below' : 'meets';
}

function demoHasil(levels) {
  const c = levels.filter(Boolean);
  if (!c.length) return null;
  const a = c.filter((l) => l === 'above').length;
  const b = c.filter((l) => l === 'below').length;
  if (a > c.length / 2 && b === 0) return 'above';
  return b >= c.length / 2 ? 'below' : 'meets';
}

function demoRapor(snap, period, names) {
  const now = Date.now();
  const ym = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Jakarta', year: 'numeric', month: '2-digit' }).format(now);
  const dist = { sangat_baik: 0, baik: 0, butuh_perbaikan: 0, kurang: 0, sangat_kurang: 0, none: 0 };
  const rows = Object.keys(snap.members).map((id) => {
    const indicators = snap.indicators.filter((i) => i.scope === `employee:${id}`)
      .map((i) => ({ ...i, level: demoLevel(i) }));
    const hasil = demoHasil(indicators.map((i) => i.level));
    const predikat = hasil ? PREDIKAT[hasil].meets : null;
    dist[predikat || 'none']++;
    return { employee: id, name: names.get(id) || id, indicators, hasil_kerja: hasil, perilaku: 'meets',
      predikat, evidence: { services: snap.members[id].today?.services?.count || 0, tasks: 0, ratings: 0 }, feedback: 0 };
  });
  const r = snap.unit_metrics['30d'].ratings;
  const labels = { A: 'Sangat Baik', B: 'Baik', C: 'Kurang Baik', D: 'Tidak Baik' };
  return {
    unit: snap.unit, name: snap.unit, period: period || ym.slice(0, 7), kind: 'month',
    from: now - 3 * 86400000, to: now + 27 * 86400000, data_from: now - 3 * 86400000, final: false,
    above_pct: 110, generated_at: now, rows, distribution: dist,
    unit_indicators: snap.indicators.filter((i) => i.scope === `unit:${snap.unit}`),
    ikm: { ikm: r.ikm, ikm_grade: r.ikm_grade, label: labels[r.ikm_grade], responses: r.count, elements: r.ikm_elements,
      element_names: ['Persyaratan', 'Sistem, mekanisme, dan prosedur', 'Waktu penyelesaian', 'Biaya/tarif',
        'Produk spesifikasi jenis pelayanan', 'Kompetensi pelaksana', 'Perilaku pelaksana',
        'Penanganan pengaduan, saran dan masukan', 'Sarana dan prasarana'] },
  };
}

export function createDemo(fixtureUrl = './fixtures/demo-snapshot.json') {
  return {
    async fetchRapor(unit, period) {
      const fx = await loadFixture(fixtureUrl);
      const names = new Map((fx.units?.[0]?.members || []).map((m) => [m.id, m.name]));
      return demoRapor(fx.snapshot, period, names);
    },
    createSocket: (url, protocol) => new DemoSocket(url, protocol, fixtureUrl),
    async fetchSeries({ scope, metric, res, from, to }) {
      const fx = await loadFixture(fixtureUrl);
      const unitScope = 'unit:' + fx.snapshot.unit;
      const rec = fx.series[unitScope]?.[metric] || [];
      let scale = 1;
      if (scope.startsWith('employee:')) {
        const e = fx.snapshot.members[scope.slice(9)]?.today?.services;
        const u = fx.snapshot.unit_metrics.today.services;
        scale = !e ? 0 : metric === 'services.count' ? e.count / u.count : e.wait_ms.p90 / u.wait_ms.p90;
      } else if (scope !== unitScope) {
        scale = 0;
      }
      const t0 = rec.length ? rec[0][0] : 0;
      const points = [];
      for (const [t, v] of rec) {
        const at = from + Math.round((t - t0) / HOUR) * HOUR;
        if (at >= to) break;
        const val = v === null || scale === 0 ? null : metric === 'services.count' ? Math.round(v * scale) : Math.round(v * scale);
        points.push([at, val]);
      }
      return { scope, metric, res, points };
    },
  };
}
