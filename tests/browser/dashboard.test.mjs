// Dashboard tests in headless chromium (node --test).
//
// Most suites serve web/ from a small static server in this process, with a fake live
// feed speaking kinerja-live.v1 (fake-live.mjs) on the same port: they pin the page's
// side of the protocol, including failures that are hard to cause in the daemon. The
// last suite runs the real build/kinerjad (daemon.mjs) and is skipped when it is not built.
//
// Screenshots: build/screenshot-*.png at the top of the tree.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  daemonBuilt, event, postEvents, removeDaemon, restartDaemon, startDaemon, stopDaemon, TEST_UNIT, TOKENS,
} from './daemon.mjs';
import { FakeLive } from './fake-live.mjs';
import {
  horizontalOverflow, launchBrowser, loadFixture, openPage, shot, startStatic,
} from './harness.mjs';

const UNIT = 'kasemen-pelayanan';
// The demo recording was made at 10:30 WIB; screenshots use that moment and zone.
const RECORDED = new Date('2026-11-23T10:30:00+07:00');
const WS_REFUSED = /WebSocket connection to .* failed/;

let browser;
let fixture;

before(async () => {
  browser = await launchBrowser();
  fixture = await loadFixture();
});
after(async () => { await browser?.close(); });

/** The recorded snapshot with its times moved to now, as kinerjad would send it. */
function liveSnapshot(seq = 100) {
  const s = structuredClone(fixture.snapshot);
  const d = Date.now() - fixture.recorded_at;
  s.seq = seq;
  s.at = Date.now();
  for (const m of Object.values(s.members)) if (m.presence?.since) m.presence.since += d;
  for (const c of Object.values(s.counters)) if (c.serving?.since) c.serving.since += d;
  for (const a of s.alerts) a.at += d;
  return s;
}

/** A static server for web/ with a fake live feed and a fake series endpoint. */
async function startFake({ token = null } = {}) {
  const live = new FakeLive({
    units: fixture.units,
    token,
    snapshot: (unit) => (unit === UNIT ? liveSnapshot() : fixture.units.some((u) => u.id === unit)
      ? { op: 'snapshot', unit, seq: 1, at: Date.now(), unit_metrics: {}, members: {}, counters: {}, indicators: [], alerts: [] }
      : null),
  });
  const seriesRequests = [];
  const api = (req, url, res) => {
    if (url.pathname === '/api/v1/rapor') { // the personal view's "Rapor periode ini" (rapor.test.mjs tests it)
      const now = Date.now();
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ unit: url.searchParams.get('unit'), period: '2026-11', final: false, from: now, to: now,
        data_from: now, above_pct: 110, generated_at: now, rows: [] }));
      return true;
    }
    if (url.pathname !== '/api/v1/series') return false;
    seriesRequests.push({ query: Object.fromEntries(url.searchParams), authorization: req.headers.authorization || null });
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'Content-Type': 'text/plain' }).end('missing or unknown token');
      return true;
    }
    const from = Number(url.searchParams.get('from'));
    const metric = url.searchParams.get('metric');
    const values = metric === 'services.count' ? [18, 41, 46, 26] : [420000, 780000, 1080000, 1150000];
    const points = values.map((v, i) => [from + (7 + i) * 3600000, v]);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ scope: url.searchParams.get('scope'), metric, res: 'hour', points }));
    return true;
  };
  const srv = await startStatic({ live, api });
  return { live, srv, seriesRequests, close: () => { live.dropAll(); return srv.close(); } };
}

const text = (page, sel) => page.locator(sel).first().innerText();

describe('page without a unit (static files + a live feed)', () => {
  let fake;
  before(async () => { fake = await startFake(); });
  after(async () => { await fake.close(); });

  test('loads without console errors and speaks Indonesian by default', async () => {
    const page = await openPage(browser);
    try {
      await page.goto(fake.srv.url);
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.equal(await page.getAttribute('html', 'lang'), 'id');
      assert.equal(await text(page, 'label[for="unit-picker"]'), 'Unit kerja');
      assert.equal(await text(page, '#conn-state'), 'Langsung');
      assert.equal(await page.getAttribute('#conn-state', 'aria-live'), 'polite');
      // The picker lists the units of the "units" answer, after a prompt. That
      // answer comes after the feed is live: wait for it, not for the state.
      await page.locator('#unit-picker option').nth(fixture.units.length).waitFor({ state: 'attached' });
      const options = await page.locator('#unit-picker option').allInnerTexts();
      assert.deepEqual(options, ['— Pilih unit kerja —', ...fixture.units.map((u) => u.name)]);
      assert.match(await text(page, '#empty'), /Pilih unit kerja/);
      await shot(page, 'start');
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('switches to English and remembers the choice', async () => {
    const page = await openPage(browser);
    try {
      await page.goto(fake.srv.url);
      await page.locator('#conn[data-state="live"]').waitFor();
      await page.click('#lang-toggle');
      assert.equal(await page.getAttribute('html', 'lang'), 'en');
      assert.equal(await text(page, 'label[for="unit-picker"]'), 'Unit');
      assert.equal(await text(page, '#conn-state'), 'Live');
      assert.equal(await text(page, '#lang-toggle'), 'Bahasa Indonesia');
      await page.reload();
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.equal(await text(page, '#conn-state'), 'Live');
      await shot(page, 'start-en');
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('the dictionary has the same keys in both languages', async () => {
    const page = await openPage(browser);
    try {
      await page.goto(fake.srv.url);
      const missing = await page.evaluate(async () => {
        const { _dict } = await import('./i18n.js');
        const id = Object.keys(_dict.id);
        const en = Object.keys(_dict.en);
        return [...id.filter((k) => !en.includes(k)), ...en.filter((k) => !id.includes(k))];
      });
      assert.deepEqual(missing, []);
    } finally { await page.closeAll(); }
  });

  test('every window an indicator may have is named in both languages', async () => {
    const page = await openPage(browser);
    try {
      await page.goto(fake.srv.url);
      const unnamed = await page.evaluate(async () => {
        const { _dict } = await import('./i18n.js');
        const windows = ['15m', '1h', 'today', '7d', '30d', 'now']; // SPEC §4, §13
        return ['id', 'en'].flatMap((l) => windows.filter((w) => !_dict[l]['win.' + w]).map((w) => `${l}:${w}`));
      });
      assert.deepEqual(unnamed, []);
    } finally { await page.closeAll(); }
  });

  test('is usable at 375 px without horizontal scrolling', async () => {
    const page = await openPage(browser, { width: 375, height: 812 });
    try {
      await page.goto(fake.srv.url);
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.ok(await horizontalOverflow(page) <= 0, 'page scrolls sideways');
      await page.selectOption('#unit-picker', UNIT);
      await page.locator('.tile').first().waitFor();
      await page.locator('.chart-note', { hasText: 'Total' }).first().waitFor();
      assert.ok(await horizontalOverflow(page) <= 0, 'dashboard scrolls sideways');
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });
});

describe('live protocol (fake kinerja-live.v1 feed)', () => {
  let fake;
  before(async () => { fake = await startFake({ token: 'rahasia-123' }); });
  after(async () => { await fake.close(); });

  async function openUnit(opts = {}) {
    const page = await openPage(browser, { allow: [WS_REFUSED], ...opts });
    const subscribed = fake.live.next((m) => m.op === 'subscribe' && m.unit === UNIT);
    await page.goto(`${fake.srv.url}?token=rahasia-123#/unit/${UNIT}`);
    await subscribed;
    await page.locator('.tile').first().waitFor();
    return page;
  }

  test('authenticates first, asks for units, subscribes, renders the snapshot', async () => {
    fake.live.received.length = 0;
    const page = await openUnit();
    try {
      const ops = fake.live.received.map((m) => m.op);
      assert.deepEqual(ops.slice(0, 3), ['auth', 'units', 'subscribe']);
      assert.equal(fake.live.received[0].token, 'rahasia-123');
      assert.equal(await text(page, 'h1'), 'Pelayanan Terpadu Kasemen');
      const unitTiles = fixture.snapshot.indicators.filter((i) => i.scope === `unit:${UNIT}`);
      assert.equal(await page.locator('.tile').count(), unitTiles.length);
      // Status by colour and by text and icon.
      const bad = page.locator('.tile[data-status="bad"]').first();
      assert.equal(await bad.locator('.status-icon').innerText(), '✕');
      assert.equal(await bad.locator('.status-text').innerText(), 'Tidak tercapai');
      assert.equal(await bad.locator('.tile-value').innerText(), '17:00');
      assert.equal(await page.locator('#counters li').count(), Object.keys(fixture.snapshot.counters).length);
      assert.equal(await page.locator('#members tr').count(), Object.keys(fixture.snapshot.members).length);
      assert.equal(await page.locator('#alerts li').count(), fixture.snapshot.alerts.length);
      // The day's charts come from /api/v1/series with the token as a Bearer header.
      await page.locator('#chart-served .chart-note', { hasText: 'Total 131' }).waitFor();
      const req = fake.seriesRequests.find((r) => r.query.metric === 'services.count');
      assert.equal(req.authorization, 'Bearer rahasia-123');
      assert.equal(req.query.scope, `unit:${UNIT}`);
      assert.equal(req.query.res, 'hour');
      assert.ok(fake.seriesRequests.some((r) => r.query.metric === 'services.wait_ms.p90'));
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('updates replace scopes whole; counters tick; a seq gap resubscribes', async () => {
    const page = await openUnit();
    try {
      const s = liveSnapshot();
      const um = s.unit_metrics;
      um.today.services.count = 977;
      const eid = '198808192012121005'; // Agus Setiawan, offline in the recording
      const since = Date.now() - 65000;
      fake.live.update(UNIT, {
        unit_metrics: um,
        members: { [eid]: { today: { services: { count: 3 } }, presence: { state: 'serving', since, counter: 'loket-4' } } },
        counters: { 'loket-4': { serving: { employee: eid, since } } },
      });
      await page.locator('#summary .stat-value', { hasText: '977' }).waitFor();
      const row = page.locator('#members tr', { hasText: 'Agus Setiawan' });
      await row.locator('.presence', { hasText: 'Melayani · Loket 4' }).waitFor();
      // Replaced, not merged: the member's other numbers are gone.
      assert.equal(await row.locator('td').nth(2).innerText(), '–');
      const counter = page.locator('#counters li', { hasText: 'Loket 4' });
      assert.match(await counter.locator('.counter-who').innerText(), /Agus Setiawan/);
      const d1 = await counter.locator('.counter-dur').innerText();
      assert.match(d1, /^01:0\d$/);
      // Ticks once a second (timers of an unfocused page may be aligned, so allow 3 s).
      await page.waitForFunction((prev) => {
        const li = [...document.querySelectorAll('#counters li')].find((n) => n.textContent.includes('Loket 4'));
        return li.querySelector('.counter-dur').textContent !== prev;
      }, d1, { timeout: 3000 });

      // seq jumps: the page must unsubscribe and subscribe again for a fresh snapshot.
      const resub = fake.live.next((m) => m.op === 'subscribe' && m.unit === UNIT);
      const seq = (await page.evaluate(() => window.kinerja.live.seq));
      fake.live.update(UNIT, { unit_metrics: um }, { seq: seq + 5 });
      await resub;
      await page.locator('#summary .stat-value', { hasText: '131' }).first().waitFor();
      assert.equal(await page.evaluate(() => window.kinerja.live.stats.resyncs), 1);
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('alerts arrive newest first and the list stays bounded', async () => {
    const page = await openUnit();
    try {
      fake.live.alert(UNIT, { indicator: 'sla-wait', scope: `unit:${UNIT}`, from: 'warn', to: 'bad', value: 80.9, target: 90 });
      const first = page.locator('#alerts li').first();
      await first.locator('.alert-title', { hasText: 'Kepatuhan SLA tunggu' }).waitFor();
      assert.equal(await first.getAttribute('data-status'), 'bad');
      assert.match(await first.innerText(), /80,9%/);
      for (let i = 0; i < 70; i++) {
        fake.live.alert(UNIT, { at: Date.now() + i, indicator: 'wait-p90', scope: `unit:${UNIT}`, from: i % 2 ? 'bad' : 'warn', to: i % 2 ? 'warn' : 'bad', value: 900000 + i, target: 900000 });
      }
      await page.waitForFunction(() => window.kinerja.state.alerts.length === 50);
      await page.waitForTimeout(300);
      assert.equal(await page.locator('#alerts li').count(), 50);
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('many updates reuse the DOM (no growth)', async () => {
    const page = await openUnit();
    try {
      const count = () => page.evaluate(() => document.getElementsByTagName('*').length);
      const s = liveSnapshot();
      const member = Object.keys(s.members)[0];
      let seq = await page.evaluate(() => window.kinerja.live.seq);
      const tick = async (n) => {
        for (let i = 0; i < n; i++) {
          s.unit_metrics.today.services.count++;
          s.members[member].today.services.count++;
          fake.live.update(UNIT, { unit_metrics: s.unit_metrics, members: { [member]: s.members[member] }, indicators: s.indicators }, { seq: ++seq });
          await new Promise((r) => setTimeout(r, 5));
        }
        await page.waitForFunction((c) => document.querySelector('#summary .stat-value').textContent === String(c), s.unit_metrics.today.services.count);
      };
      await tick(20);
      const before = await count();
      await tick(200);
      assert.equal(await count(), before);
      assert.equal(await page.evaluate(() => window.kinerja.live.stats.resyncs), 0);
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('reconnects by itself and resubscribes when the feed goes away', async () => {
    const page = await openUnit();
    try {
      fake.live.refusing = true;
      fake.live.dropAll();
      await page.locator('#conn[data-state="reconnecting"]').waitFor();
      assert.equal(await text(page, '#conn-state'), 'Menyambung ulang…');
      await shot(page, 'reconnecting');
      await page.waitForTimeout(1200); // a refused attempt or two, with back-off
      const resub = fake.live.next((m) => m.op === 'subscribe' && m.unit === UNIT, 20000);
      fake.live.refusing = false;
      await resub;
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.ok(await page.evaluate(() => window.kinerja.live.stats.connects) >= 2);
      assert.deepEqual(page.errors, []);
    } finally {
      fake.live.refusing = false;
      await page.closeAll();
    }
  });

  test('shows "stale" when connected but nothing arrives for 30 s', async () => {
    const page = await openPage(browser);
    try {
      await page.clock.install();
      await page.goto(`${fake.srv.url}?token=rahasia-123#/unit/${UNIT}`);
      await page.locator('#conn[data-state="live"]').waitFor();
      fake.live.silent = true;
      await page.clock.runFor(31000);
      await page.locator('#conn[data-state="stale"]').waitFor();
      assert.equal(await text(page, '#conn-state'), 'Tertunda');
      // The page probes a quiet feed ({"op":"units"}); an answer makes it live again.
      fake.live.silent = false;
      await page.clock.runFor(16000);
      await page.locator('#conn[data-state="live"]').waitFor();
      assert.deepEqual(page.errors, []);
    } finally {
      fake.live.silent = false;
      await page.closeAll();
    }
  });

  test('a refused token shows the token form; a typed token is used and kept', async () => {
    const page = await openPage(browser, { allow: [WS_REFUSED] });
    try {
      await page.goto(`${fake.srv.url}#/unit/${UNIT}`);
      await page.locator('#conn[data-state="unauthorized"]').waitFor();
      assert.equal(await page.isVisible('#token-form'), true);
      await shot(page, 'token');
      const subscribed = fake.live.next((m) => m.op === 'subscribe');
      await page.fill('#token-input', 'rahasia-123');
      await page.click('#token-form button[type="submit"]');
      await subscribed;
      await page.locator('.tile').first().waitFor();
      assert.equal(await page.evaluate(() => localStorage.getItem('kinerja.token')), 'rahasia-123');
    } finally { await page.closeAll(); }
  });

  test('the personal view shows one employee and their indicators only', async () => {
    const eid = '198706152010011002';
    const page = await openPage(browser);
    try {
      await page.goto(`${fake.srv.url}?token=rahasia-123#/unit/${UNIT}/employee/${eid}`);
      await page.locator('.tile').first().waitFor();
      assert.equal(await text(page, 'h1'), 'Siti Rahmawati');
      const own = fixture.snapshot.indicators.filter((i) => i.scope === `employee:${eid}`);
      assert.equal(await page.locator('.tile').count(), own.length);
      assert.equal(await page.isVisible('#members-panel'), false);
      await page.locator('#chart-served .chart-note', { hasText: 'Total' }).waitFor();
      assert.ok(fake.seriesRequests.some((r) => r.query.scope === `employee:${eid}`));
      // Back to the unit with the browser's back button.
      await page.goto(`${fake.srv.url}?token=rahasia-123#/unit/${UNIT}`);
      await page.locator('#members tr').first().waitFor();
      await page.goBack();
      await page.locator('h1', { hasText: 'Siti Rahmawati' }).waitFor();
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });
});

describe('screenshots (demo mode: the recorded snapshot through the same code path)', () => {
  let srv;
  before(async () => { srv = await startStatic(); });
  after(async () => { await srv.close(); });

  async function demoPage(query, opts) {
    const page = await openPage(browser, opts);
    await page.clock.install({ time: RECORDED });
    await page.goto(`${srv.url}?demo=1${query}`);
    await page.locator('.tile').first().waitFor();
    await page.locator('.chart-note', { hasText: /Total/ }).first().waitFor();
    return page;
  }

  test('desktop', async () => {
    const page = await demoPage(`#/unit/${UNIT}`, { width: 1440, height: 900 });
    try {
      await shot(page, 'desktop', { fullPage: true });
      await page.click('#lang-toggle');
      await page.locator('.chart-note', { hasText: /Total/ }).first().waitFor();
      assert.equal(await page.textContent('#h-ind'), 'Key performance indicators (IKU)');
      await shot(page, 'desktop-en', { fullPage: true });
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('wallboard fits 1920×1080 with no controls', async () => {
    const page = await demoPage(`&wall=1#/unit/${UNIT}`, { width: 1920, height: 1080 });
    try {
      assert.equal(await page.isVisible('#unit-picker'), false);
      assert.equal(await page.isVisible('#lang-toggle'), false);
      const overflow = await page.evaluate(() => {
        const out = [];
        for (const p of document.querySelectorAll('.panel, .stat, .tile')) {
          const r = p.getBoundingClientRect();
          if (r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5) out.push(p.className);
        }
        const t = document.querySelector('table.members');
        if (t.scrollWidth > t.parentElement.clientWidth) out.push('members table too wide');
        return out;
      });
      assert.deepEqual(overflow, []);
      await shot(page, 'wall');
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('wallboard button and Esc', async () => {
    const page = await demoPage(`#/unit/${UNIT}`, { width: 1920, height: 1080 });
    try {
      await page.click('#wall-toggle');
      assert.equal(await page.evaluate(() => document.documentElement.classList.contains('wall')), true);
      assert.match(page.url(), /wall=1/);
      await page.keyboard.press('Escape');
      assert.equal(await page.evaluate(() => document.documentElement.classList.contains('wall')), false);
    } finally { await page.closeAll(); }
  });

  test('phone (375 px)', async () => {
    const page = await demoPage(`#/unit/${UNIT}`, { width: 375, height: 812 });
    try {
      assert.ok(await horizontalOverflow(page) <= 0, 'page scrolls sideways');
      await shot(page, 'phone');
      await shot(page, 'phone-full', { fullPage: true });
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('personal view', async () => {
    const page = await demoPage(`#/unit/${UNIT}/employee/198706152010011002`, { width: 1440, height: 900 });
    try {
      await shot(page, 'personal', { fullPage: true });
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });
});

// Against the real daemon (build/kinerjad, or $KJ_BUILD/kinerjad): skipped when it has
// not been built. One daemon for the suite; the tests build on each other's events.
describe('real daemon', { skip: !daemonBuilt() && 'kinerjad not built' }, () => {
  const U = TEST_UNIT;
  const [siti, ahmad] = U.members;
  let d;
  let page;
  before(async () => {
    d = await startDaemon();
    page = await openPage(browser, { allow: [WS_REFUSED] });
  });
  after(async () => {
    await page?.closeAll();
    await removeDaemon(d);
  });

  const served = () => page.locator('#summary .stat').first().locator('.stat-value');

  test('serves web/ and the page goes live with its units', async () => {
    const types = {};
    page.on('response', (r) => { types[new URL(r.url()).pathname] = r.headers()['content-type']; });
    await page.goto(`${d.url}?token=${TOKENS.viewer}#/unit/${U.id}`);
    await page.locator('#conn[data-state="live"]').waitFor();
    await page.locator('h1', { hasText: U.name }).waitFor();
    await page.locator('#members tr').first().waitFor({ state: 'attached' }).catch(() => {});
    assert.match(types['/live.js'] || '', /javascript/);
    assert.match(types['/node_modules/@msgpack/msgpack/dist.esm/index.mjs'] || '', /javascript/);
    assert.deepEqual(page.errors, []);
  });

  test('posted events change the numbers, counters, members and charts', async () => {
    const now = Date.now();
    await postEvents(d, [
      event('presence', { ts: now - 6000, employee: siti.id, state: 'serving', counter: 'loket-1' }),
      event('presence', { ts: now - 6000, employee: ahmad.id, state: 'break' }),
      event('service', { ts: now - 5000, employee: siti.id, counter: 'loket-1', wait_ms: 240000, service_ms: 300000 }),
      event('service', { ts: now - 4000, employee: siti.id, counter: 'loket-1', wait_ms: 300000, service_ms: 360000 }),
      event('service', { ts: now - 3000, employee: ahmad.id, counter: 'loket-2', wait_ms: 180000, service_ms: 420000 }),
      event('rating', { ts: now - 2000, employee: siti.id, score: 4 }),
    ]);
    await page.waitForFunction(() => document.querySelector('#summary .stat-value')?.textContent === '3');
    const row = page.locator('#members tr', { hasText: siti.name });
    await row.locator('.presence', { hasText: 'Melayani · Loket 1' }).waitFor();
    assert.equal(await row.locator('td').nth(1).innerText(), '2');
    await page.locator('#members tr', { hasText: ahmad.name }).locator('.presence', { hasText: 'Istirahat' }).waitFor();
    const tile = page.locator('.tile', { hasText: 'Waktu tunggu p90' });
    await tile.locator('.tile-value', { hasText: '5:00' }).waitFor();
    assert.equal(await tile.getAttribute('data-status'), 'ok');
    // The live estimate moves the running hour's bar without waiting for a refetch.
    await page.locator('#chart-served .chart-note', { hasText: 'Total 3' }).waitFor();
    assert.equal(await served().innerText(), '3');
    assert.deepEqual(page.errors, []);
  });

  test('an indicator crossing its target raises an alert at the top of the list', async () => {
    const now = Date.now();
    await postEvents(d, Array.from({ length: 6 }, (_, i) => event('service', {
      ts: now - 1000 + i, employee: ahmad.id, counter: 'loket-2', wait_ms: 1800000, service_ms: 300000,
    })));
    // The unit's wait-p90 went none → ok with the first events; now it turns bad.
    await page.locator('#alerts li[data-status="bad"]', { hasText: 'Waktu tunggu p90 · unit' }).waitFor();
    const first = page.locator('#alerts li').first();
    assert.equal(await first.getAttribute('data-status'), 'bad');
    await page.locator('.tile[data-status="bad"]', { hasText: 'Waktu tunggu p90' }).waitFor();
    await shot(page, 'daemon', { fullPage: true });
  });

  test('the page reconnects by itself when the daemon restarts, with its state', async () => {
    // 3 + 6 services posted by the tests above; wait until the page shows them all.
    const before = '9';
    await page.waitForFunction((v) => document.querySelector('#summary .stat-value')?.textContent === v, before);
    await stopDaemon(d);
    await page.locator('#conn[data-state="reconnecting"]').waitFor();
    await restartDaemon(d, { pauseMs: 1500 });
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 20000 });
    await page.waitForFunction((v) => document.querySelector('#summary .stat-value')?.textContent === v, before, { timeout: 10000 }).catch(async (e) => {
      throw new Error(`${e.message}: before ${before}, now ${await served().innerText()} ${await page.evaluate(() => JSON.stringify([window.kinerja.live.state, window.kinerja.state.snap?.unit_metrics?.today?.services]))}\n${d.log()}`);
    });
    assert.ok(await page.evaluate(() => window.kinerja.live.stats.connects) >= 2);
    assert.deepEqual(page.errors, []);
  });

  test('a viewer token with `employee` gets the personal view of that member only', async () => {
    const own = await openPage(browser);
    try {
      await own.goto(`${d.url}?token=${TOKENS.personal}`);
      await own.locator('h1', { hasText: siti.name }).waitFor();
      assert.match(own.url(), new RegExp(`#/unit/${U.id}/employee/${siti.id}$`));
      assert.equal(await own.isVisible('#members-panel'), false);
      const scopes = await own.evaluate(() => window.kinerja.state.snap.indicators.map((i) => i.scope));
      assert.ok(scopes.every((sc) => sc === `employee:${siti.id}`), scopes.join());
      assert.deepEqual(await own.evaluate(() => Object.keys(window.kinerja.state.snap.members)), [siti.id]);
      await own.locator('#chart-served .chart-note', { hasText: 'Total 2' }).waitFor();
      assert.deepEqual(own.errors, []);
    } finally { await own.closeAll(); }
  });

  test('a supervisor acknowledges an alert and gives feedback from it in two clicks', async () => {
    const boss = await openPage(browser);
    const own = await openPage(browser);
    try {
      await boss.goto(`${d.url}?token=${TOKENS.supervisor}#/unit/${U.id}`);
      await boss.locator('#conn[data-state="live"]').waitFor();
      const now = Date.now();
      await postEvents(d, Array.from({ length: 3 }, (_, i) => event('service', {
        ts: now - 500 + i, employee: siti.id, counter: 'loket-1', wait_ms: 2400000, service_ms: 300000,
      })));
      const item = boss.locator('#alerts li[data-status="bad"]', { hasText: `Waktu tunggu p90 · ${siti.name}` }).first();
      await item.waitFor();
      // click 1: acknowledged, for every viewer (alert_ack)
      await item.locator('button.alert-ack').click();
      await item.locator('.alert-state', { hasText: 'Ditangani' }).waitFor();
      assert.equal(await item.getAttribute('data-acked'), 'true');
      assert.equal(await item.locator('button.alert-ack').isVisible(), false);
      // clicks 1 and 2: feedback with the drafted text
      await item.locator('button.alert-give').click();
      await item.locator('button.feedback-send').click();
      await item.locator('form.alert-feedback').waitFor({ state: 'hidden' });
      // feedback for another member must never reach Siti's personal view
      await postEvents(d, [event('feedback', {
        employee: ahmad.id, kind: 'coaching', text: 'Catatan untuk Ahmad saja',
      })], TOKENS.supervisor);
      await own.goto(`${d.url}?token=${TOKENS.personal}`);
      await own.locator('h1', { hasText: siti.name }).waitFor();
      const entry = own.locator('#feedback .feedback-entry').first();
      await entry.locator('.feedback-text', { hasText: 'Mari kita bahas Waktu tunggu p90 hari ini.' }).waitFor();
      await own.locator('#feedback-panel h2', { hasText: 'Umpan balik dari atasan' }).waitFor();
      assert.match(await entry.locator('.feedback-head').innerText(), /Pembinaan · Waktu tunggu p90/);
      assert.equal(await own.locator('body', { hasText: 'Catatan untuk Ahmad saja' }).count(), 0);
      assert.equal(JSON.stringify(await own.evaluate(() => window.kinerja.state.snap)).includes('Ahmad saja'), false);
      assert.equal(await own.locator('button.alert-ack').count(), 0); // no actions in a personal view
      assert.deepEqual(boss.errors, []);
      assert.deepEqual(own.errors, []);
    } finally {
      await boss.closeAll();
      await own.closeAll();
    }
  });

  test('the unit page shows IKM by element (weakest marked) and rater averages; the personal view the unit median', async () => {
    const now = Date.now();
    await postEvents(d, [
      event('rating', { ts: now - 300, score: 3, elements: [4, 4, 2, 4, 3, 4, 4, 3, 4] }),
      event('rating', { ts: now - 200, score: 3, elements: [3, 4, 2, 4, 3, 4, 4, 3, 4] }),
      event('rating', { ts: now - 100, score: 3, employee: siti.id, source: 'peer' }),
      event('rating', { ts: now - 50, score: 4, employee: siti.id, source: 'supervisor' }),
    ]);
    const weakest = page.locator('#ikm-elements li[data-weakest="true"]');
    await weakest.locator('.ikm-name', { hasText: 'U3 Waktu penyelesaian' }).waitFor();
    assert.equal(await page.locator('#ikm-elements li').count(), 9);
    assert.match(await weakest.innerText(), /50,00|50\.00/);
    assert.match(await page.locator('#ikm-elements li').nth(7).innerText(), /U8 Penanganan pengaduan, saran dan masukan/);
    await page.locator('#ikm-raters', { hasText: 'rekan kerja 3' }).waitFor();
    assert.match(await page.locator('#ikm-raters').innerText(), /atasan 4/);
    const own = await openPage(browser);
    try {
      await own.goto(`${d.url}?token=${TOKENS.personal}`);
      const tile = own.locator('.tile', { hasText: 'Waktu tunggu p90' });
      await tile.locator('.tile-median', { hasText: 'Anda vs median unit' }).waitFor();
      assert.equal(await own.isVisible('#ikm-panel'), false);
      assert.deepEqual(own.errors, []);
    } finally { await own.closeAll(); }
    assert.deepEqual(page.errors, []);
  });
});
