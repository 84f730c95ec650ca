// Shared pieces of the browser tests: paths, a small static server for web/ (until the
// daemon serves it), the browser, and page helpers.

import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB = join(REPO, 'web');
// Screenshots go to build/ at the top of the tree (make clean removes them).
export const SHOTS = join(REPO, 'build');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

/**
 * Serves web/ on 127.0.0.1 and a free port, as kinerjad will (same origin for the page,
 * the WebSocket and the HTTP API). api(req, url, res) may answer /api/ paths: return
 * true when it did. live, when given, gets the WebSocket upgrades.
 */
export async function startStatic({ api = null, live = null } = {}) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (api && url.pathname.startsWith('/api/') && await api(req, url, res)) return;
      let path = decodeURIComponent(url.pathname);
      if (path.endsWith('/')) path += 'index.html';
      const file = resolve(WEB, '.' + path);
      if (file !== WEB && !file.startsWith(WEB + sep)) { res.writeHead(403).end(); return; }
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(await readFile(file));
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  live?.attach(server);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }),
  };
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

/**
 * Opens a page that records console errors and uncaught exceptions into page.errors.
 * allow: regexps of console errors a test expects (e.g. a refused WebSocket).
 */
export async function openPage(browser, { width = 1280, height = 900, allow = [], timezoneId = 'Asia/Jakarta', locale = 'id-ID', context: ctxOpts = {} } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, timezoneId, locale, ...ctxOpts });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !allow.some((re) => re.test(m.text()))) page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.closeAll = () => context.close();
  return page;
}

export async function shot(page, name, opts = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `screenshot-${name}.png`);
  await page.screenshot({ path, ...opts });
  return path;
}

/** Widest element's right edge vs the viewport: > 0 means the page scrolls sideways. */
export function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export function loadFixture() {
  return readFile(join(WEB, 'fixtures', 'demo-snapshot.json'), 'utf8').then(JSON.parse);
}
