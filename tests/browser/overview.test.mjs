// The agency overview at #/ (SPEC §14) and the unit page's queue strip (SPEC §13), in
// headless chromium against the static server and the fake live feed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonBuilt, event, postEvents, removeDaemon, startDaemon, TEST_UNIT, TOKENS } from './daemon.mjs';
import { FakeLive } from './fake-live.mjs';
import { launchBrowser, loadFixture, openPage, shot, startStatic } from './harness.mjs';

const UNIT = 'kasemen-pelayanan';

let browser;
let fixture;
before(async () => {
  browser = await launchBrowser();
  fixture = await loadFixture();
});
after(async () => { await browser?.close(); });

function row(unit, name, { ok = 0, warn = 0, bad = 0, waiting = 0, longest = 0, coaching = false, badDays = 0, served = 10 } = {}) {
  return {
    unit, name,
    today: { services: { count: served, sla_pct: 90, wait_ms: { p90: 600000 } }, ratings: { ikm: 88.4, ikm_grade: 'A' }, tasks: { on_time_pct: null } },
    queue: { waiting, longest_wait_ms: longest },
    indicators: { ok, warn, bad, none: 0 },
    alerts_today: bad, unacked_bad: bad, needs_coaching: coaching, bad_days: badDays,
  };
}

const ROWS = () => [
  row(UNIT, 'Pelayanan Terpadu Kasemen', { ok: 1, bad: 2, waiting: 7, longest: 1500000, coaching: true, badDays: 4 }),
  row('perizinan', 'Perizinan', { ok: 3 }),
  row('walantaka', 'Kecamatan Walantaka', { ok: 2, warn: 1, waiting: 2, longest: 60000, badDays: 1 }),
];

function snapshotWithQueue(seq = 100) {
  const s = structuredClone(fixture.snapshot);
  s.seq = seq;
  s.at = Date.now();
  const q = (waiting, oldest, est) => ({
    waiting, oldest_issued_ts: waiting ? oldest : null, longest_wait_ms: waiting ? Date.now() - oldest : 0,
    est_wait_ms: est, issued_today: 40, called_today: 30, cancelled_today: 1, expired_today: 0, arrivals_per_hour: 12,
  });
  s.unit_metrics.queue = {
    ...q(5, Date.now() - 600000, 900000),
    by_service: { ktp: q(3, Date.now() - 600000, 540000), kk: q(2, Date.now() - 120000, 360000) },
  };
  return s;
}

describe('the overview (#/) and the queue strip', () => {
  let live;
  let srv;
  before(async () => {
    live = new FakeLive({
      units: fixture.units,
      overview: ROWS,
      snapshot: (unit) => (unit === UNIT ? snapshotWithQueue() : null),
    });
    // the unit page's charts ask for series: an empty day
    const api = (req, url, res) => {
      if (url.pathname !== '/api/v1/series') return false;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ scope: url.searchParams.get('scope'), metric: url.searchParams.get('metric'), res: 'hour', points: [] }));
      return true;
    };
    srv = await startStatic({ live, api });
  });
  after(async () => { live.dropAll(); await srv.close(); });

  test('one row per unit, worst first, with colour, icon and text; sorting; live rows; click through', async () => {
    const page = await openPage(browser);
    try {
      const asked = live.next((m) => m.op === 'subscribe' && m.overview === true);
      await page.goto(`${srv.url}#/`);
      await asked;
      const rows = page.locator('#ov-body tr');
      await rows.first().waitFor();
      assert.equal(await rows.count(), 3);
      assert.equal(await page.locator('h1').innerText(), 'Ikhtisar semua unit');
      // worst status first: bad, then warn, then ok
      assert.deepEqual(await page.locator('#ov-body .ov-link').allInnerTexts(),
        ['Pelayanan Terpadu Kasemen', 'Kecamatan Walantaka', 'Perizinan']);
      const first = rows.first();
      assert.equal(await first.getAttribute('data-status'), 'bad');
      assert.equal(await first.locator('.status-icon').innerText(), '✕');
      assert.equal(await first.locator('.status-text').innerText(), 'Tidak tercapai');
      assert.match(await first.locator('.ov-coach').innerText(), /Perlu pembinaan \(4 hari\)/);
      assert.equal(await first.locator('.ov-coach').getAttribute('data-coaching'), 'yes');
      assert.equal(await first.locator('td').nth(6).innerText(), '7');
      // the longest wait ticks locally between frames
      const longest = first.locator('td').nth(7);
      const before1 = await longest.innerText();
      assert.match(before1, /^25:0\d$/);
      await page.waitForFunction((b) => document.querySelector('#ov-body tr td:nth-child(8)').textContent !== b, before1);
      // sort by name (ascending), then again (descending)
      await page.locator('thead button[data-sort="name"]').click();
      assert.deepEqual(await page.locator('#ov-body .ov-link').allInnerTexts(),
        ['Kecamatan Walantaka', 'Pelayanan Terpadu Kasemen', 'Perizinan']);
      assert.equal(await page.locator('thead th[aria-sort="ascending"] button').getAttribute('data-sort'), 'name');
      await page.locator('thead button[data-sort="name"]').click();
      assert.deepEqual(await page.locator('#ov-body .ov-link').allInnerTexts(),
        ['Perizinan', 'Pelayanan Terpadu Kasemen', 'Kecamatan Walantaka']);
      // a changed row replaces the old one whole
      live.overviewUpdate([row('perizinan', 'Perizinan', { bad: 1, ok: 2, served: 99 })]);
      await page.locator('#ov-body tr[data-status="bad"] .ov-link', { hasText: 'Perizinan' }).waitFor();
      assert.equal(await page.locator('#ov-body tr', { hasText: 'Perizinan' }).locator('td').nth(2).innerText(), '99');
      await shot(page, 'overview');
      // click through to the unit: its page, with the queue strip per service kind
      const subscribed = live.next((m) => m.op === 'subscribe' && m.unit === UNIT);
      await page.locator('#ov-body .ov-link', { hasText: 'Pelayanan Terpadu Kasemen' }).click();
      await subscribed;
      assert.equal(await page.evaluate(() => location.hash), `#/unit/${UNIT}`);
      await page.locator('#queue-panel .q-card').first().waitFor();
      assert.equal(await page.locator('#overview').isHidden(), true);
      assert.equal(await page.locator('#h-queue').textContent(), 'Antrian sekarang');
      assert.deepEqual(await page.locator('#queue-panel .q-name').allInnerTexts(), ['Semua layanan', 'ktp', 'kk']);
      assert.equal(await page.locator('#queue-panel .q-waiting').first().innerText(), '5 menunggu');
      assert.equal(await page.locator('#queue-panel .q-est').nth(1).innerText(), 'Perkiraan tunggu 9:00');
      const l = page.locator('#queue-panel .q-longest').nth(2);
      const l0 = await l.innerText();
      assert.match(l0, /^Terlama 02:0\d$/);
      await page.waitForFunction((b) => document.querySelectorAll('#queue-panel .q-longest')[2].textContent !== b, l0);
      await shot(page, 'queue-strip');
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });

  test('wallboard form of the overview fits 1920x1080', async () => {
    const page = await openPage(browser, { width: 1920, height: 1080 });
    try {
      await page.goto(`${srv.url}?wall=1#/`);
      await page.locator('#ov-body tr').first().waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.classList.contains('wall')), true);
      assert.equal(await page.locator('.controls').isHidden(), true);
      const box = await page.locator('#ov-body tr').last().boundingBox();
      assert.ok(box.y + box.height <= 1080, `last row at ${box.y}`);
      await shot(page, 'overview-wall');
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });
});

// Against the real daemon: tickets posted to it show in the overview and the strip.
describe('overview and queue with the real daemon', { skip: !daemonBuilt() && 'kinerjad not built' }, () => {
  const U = TEST_UNIT;
  let d;
  before(async () => { d = await startDaemon(); });
  after(async () => { await removeDaemon(d); });

  test('tickets make the queue of the overview row and of the unit page, live', async () => {
    const now = Date.now();
    const ticket = (t, state, ts, more = {}) => event('ticket', { ticket: t, state, ts, ...more });
    await postEvents(d, [
      ticket('A-001', 'issued', now - 300000, { service: 'ktp-el' }),
      ticket('A-002', 'issued', now - 120000, { service: 'ktp-el' }),
      ticket('A-001', 'called', now - 60000, { counter: 'loket-1', employee: U.members[0].id }),
      // a second unit, so that #/ is the overview and not the only unit's page
      { ...event('service', { employee: 'e-2', counter: 'loket-1', wait_ms: 60000, service_ms: 60000 }), unit: 'uji-kedua' },
    ]);
    const page = await openPage(browser);
    try {
      await page.goto(`${d.url}?token=${TOKENS.viewer}#/`);
      const row = page.locator('#ov-body tr', { hasText: U.name });
      await row.waitFor();
      assert.equal(await page.locator('#ov-body tr').count(), 2);
      assert.equal(await row.locator('td').nth(6).innerText(), '1');
      assert.match(await row.locator('td').nth(7).innerText(), /^0[12]:\d\d$/);
      // a new ticket: the row changes within overview_interval_ms, no reload
      await postEvents(d, [ticket('A-003', 'issued', Date.now(), { service: 'kk' })]);
      await page.waitForFunction((name) => [...document.querySelectorAll('#ov-body tr')]
        .find((r) => r.textContent.includes(name))?.querySelectorAll('td')[6].textContent === '2', U.name);
      await row.locator('.ov-link').click();
      await page.locator('#queue-panel .q-card').first().waitFor();
      assert.deepEqual(await page.locator('#queue-panel .q-name').allInnerTexts(), ['Semua layanan', 'ktp-el', 'kk']);
      assert.equal(await page.locator('#queue-panel .q-waiting').first().innerText(), '2 menunggu');
      await postEvents(d, [ticket('A-002', 'cancelled', Date.now())]);
      await page.locator('#queue-panel .q-waiting', { hasText: '1 menunggu' }).first().waitFor();
      assert.deepEqual(page.errors, []);
    } finally { await page.closeAll(); }
  });
});
