// The rapor page (SPEC §15) against the real kinerjad: #/unit/U/rapor/P printed to PDF
// by headless chromium on A4 and read back with pdftotext (poppler-utils), and the
// personal view's "Rapor periode ini" with the weakest indicator named.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { daemonBuilt, event, postEvents, removeDaemon, startDaemon, TEST_UNIT, TOKENS } from './daemon.mjs';
import { horizontalOverflow, launchBrowser, openPage, SHOTS } from './harness.mjs';

const WS_REFUSED = /WebSocket connection to .* failed/;
const MONTHS = ['Januari', 'Februari', 'Maret', 'April', 'Mei', 'Juni', 'Juli', 'Agustus',
  'September', 'Oktober', 'November', 'Desember'];

/** The current month in Asia/Jakarta as "YYYY-MM" and its Indonesian label. */
function thisMonth() {
  const [y, m] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Jakarta', year: 'numeric', month: '2-digit' })
    .format(new Date()).split('-');
  return { name: `${y}-${m}`, label: `${MONTHS[Number(m) - 1]} ${y}` };
}

describe('rapor (real daemon)', { skip: !daemonBuilt() && 'kinerjad not built' }, () => {
  const U = TEST_UNIT;
  const [siti, ahmad] = U.members;
  const month = thisMonth();
  let browser;
  let d;

  before(async () => {
    browser = await launchBrowser();
    d = await startDaemon();
    const now = Date.now();
    const evs = [];
    // Siti: quick waits (above expectation on both indicators); Ahmad: slow ones (below).
    for (let i = 0; i < 6; i++) {
      evs.push(event('service', { ts: now - 60000 * (i + 1), employee: siti.id, counter: 'loket-1', wait_ms: 120000, service_ms: 300000 }));
      evs.push(event('service', { ts: now - 60000 * (i + 1), employee: ahmad.id, counter: 'loket-2', wait_ms: 1500000, service_ms: 300000 }));
    }
    evs.push(event('rating', { ts: now - 5000, score: 4, elements: [4, 4, 3, 4, 4, 4, 4, 2, 4] }));
    evs.push(event('rating', { ts: now - 4000, score: 3, elements: [3, 4, 3, 4, 3, 4, 4, 2, 3] }));
    // an ingest token may not post assessments (SPEC §16): the supervisor's go apart
    const assessments = [];
    assessments.push(event('assessment', {
      ts: now - 3000, employee: siti.id, period: month.name,
      behaviour: ['above', 'above', 'above', 'above', 'meets', 'meets', 'meets'], note: 'Teladan',
    }));
    assessments.push(event('assessment', {
      ts: now - 3000, employee: ahmad.id, period: month.name,
      behaviour: ['meets', 'meets', 'meets', 'meets', 'below', 'below', 'meets'],
    }));
    await postEvents(d, evs);
    await postEvents(d, assessments, TOKENS.supervisor);
  });
  after(async () => {
    await browser?.close();
    await removeDaemon(d);
  });

  test('the rapor prints on A4 with every part, and the PDF holds its text', async () => {
    const page = await openPage(browser, { allow: [WS_REFUSED] });
    try {
      await page.goto(`${d.url}?token=${TOKENS.viewer}#/unit/${U.id}/rapor/${month.name}`);
      await page.locator('.rapor-table tbody tr').nth(1).waitFor();
      // the header names the unit as soon as the table is there (a print may follow at once)
      assert.equal(await page.locator('#title').textContent(), `Rapor kinerja · ${U.name}`);
      assert.equal(await page.locator('#rapor-period').textContent(), month.label);
      assert.equal(await page.locator('.dash').isVisible(), false);
      const row = page.locator(`.rapor-table tr[data-employee="${siti.id}"]`);
      assert.match(await row.textContent(), /Sangat Baik/);
      assert.match(await page.locator(`.rapor-table tr[data-employee="${ahmad.id}"]`).textContent(), /Butuh Perbaikan/);
      const pdf = await page.pdf({ format: 'A4', printBackground: true, preferCSSPageSize: true });
      const file = join(SHOTS, 'rapor.pdf');
      await writeFile(file, pdf);
      // reading order, whitespace folded: a cell's words may wrap onto two lines
      const text = execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
      for (const want of [`Rapor kinerja · ${U.name}`, month.label, siti.name, ahmad.name, siti.id,
        'Sangat Baik', 'Butuh Perbaikan', 'Sebaran predikat', 'Indeks Kepuasan Masyarakat',
        'Persyaratan', 'Penanganan pengaduan, saran dan masukan', 'terendah', 'Waktu tunggu p90',
        'Di atas ekspektasi', 'Di bawah ekspektasi', 'PermenPAN-RB 6/2022']) {
        assert.ok(text.includes(want), `the PDF lacks ${JSON.stringify(want)}:\n${text}`);
      }
      for (const absent of ['Layar dinding', 'Cetak', 'Sebelumnya']) { // the screen's controls
        assert.ok(!text.includes(absent), `the PDF shows ${absent}`);
      }
      const pages = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
      assert.match(pages, /Page size:\s+59[45](\.\d+)? x 84[12](\.\d+)? pts \(A4\)/);
      // the period picker moves to the previous month and back
      await page.locator('#rapor-prev').click();
      await page.waitForFunction((l) => document.querySelector('#rapor-period').textContent !== l, month.label);
      assert.ok(/\/rapor\/\d{4}-\d{2}$/.test(new URL(page.url()).hash));
      await page.locator('#rapor-kind').selectOption('year');
      await page.waitForFunction(() => /^#\/unit\/[^/]+\/rapor\/\d{4}$/.test(location.hash));
      assert.deepEqual(page.errors, []);
    } finally {
      await page.closeAll();
    }
  });

  test('on a 375 px phone the table scrolls, not the page', async () => {
    const page = await openPage(browser, { width: 375, height: 800, allow: [WS_REFUSED] });
    try {
      await page.goto(`${d.url}?token=${TOKENS.viewer}#/unit/${U.id}/rapor/${month.name}`);
      await page.locator('.rapor-table tbody tr').nth(1).waitFor();
      assert.equal(await horizontalOverflow(page), 0);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.closeAll();
    }
  });

  test('the personal view shows "Rapor periode ini" with the weakest indicator', async () => {
    const page = await openPage(browser, { allow: [WS_REFUSED] });
    try {
      await page.goto(`${d.url}?token=${TOKENS.personal}#/unit/${U.id}`);
      const panel = page.locator('#personal-rapor');
      await panel.locator('.personal-rapor-weakest').waitFor();
      const text = await panel.textContent();
      assert.match(text, /Rapor periode ini/);
      assert.match(text, new RegExp(month.label));
      assert.match(text, /Sangat Baik/);
      // both of Siti's indicators are above 100 %: the weakest is the lower capaian
      assert.match(text, /Indikator terlemah: (Waktu tunggu p90|Dilayani dalam batas waktu tunggu) — capaian/);
      const link = panel.locator('a.personal-rapor-link');
      assert.equal(await link.getAttribute('href'), `#/unit/${U.id}/rapor/${month.name}`);
      await link.click();
      await page.locator('.rapor-table tbody tr').first().waitFor();
      assert.equal(await page.locator('.rapor-table tbody tr').count(), 1); // its own row only
      assert.equal(await page.locator('.rapor-dist').count(), 0);
      assert.deepEqual(page.errors, []);
    } finally {
      await page.closeAll();
    }
  });
});
