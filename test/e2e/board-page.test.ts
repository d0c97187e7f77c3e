/**
 * The request board's public page in Chromium, at phone (390x844) and desktop size: readable, every
 * field present, no script, no external request, no CSP violation. UPDATE_SCREENSHOTS=1 refreshes
 * docs/screenshots/board-*.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { RequestBoard } from '../../agent/board/index.js';
import { silentLogger } from '../../agent/log.js';
import { signEnvelope, vouchPayloadText, VOUCH_DOMAIN, WITHDRAWAL_DOMAIN } from '../../agent/requests/index.js';
import { makeRequest, newRequester, signedRequest } from '../helpers/protocol.js';
import { launchPhoneBrowser } from './app-driver.js';

const DOCS = new URL('../../docs/screenshots/', import.meta.url).pathname;
const HOUR = 3600_000;

describe('the board’s public page in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'board-page-'));
  let board: RequestBoard;
  let browser: Browser;
  const police = newRequester();
  const fire = newRequester();
  const city = newRequester();
  const neighbour = newRequester();

  beforeAll(async () => {
    board = new RequestBoard({ dataDir: dir, listen: '127.0.0.1:0', name: 'springfield-board', prefix: 'doorbell', log: silentLogger });
    await board.start();
    const now = Date.now();
    const post = async (body: string): Promise<void> => {
      const r = await fetch(`${board.url}/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(r.status).toBe(201);
    };
    const window = { from: iso(now - 3 * HOUR), to: iso(now - 2 * HOUR) };
    const theft = makeRequest({ by: police, window, reason: 'Package theft on Elm St, a brown box taken from a porch', area: { lat: 39.7817, lon: -89.6501, radiusM: 400 } });
    await post(signedRequest(theft, police));
    const vouch = signEnvelope(VOUCH_DOMAIN, city.privateKey, city.publicKeyRaw, vouchPayloadText(fire.key, 'Springfield Fire Department', now + 365 * 24 * HOUR));
    await post(
      signedRequest(
        makeRequest({ by: fire, window, requester: { name: 'Springfield FD', kind: 'fire', caseNumber: 'F-2231' }, reason: 'Arson investigation, 742 Evergreen Terrace', area: { lat: 39.7801, lon: -89.649, radiusM: 250 } }),
        fire,
        { vouch },
      ),
    );
    const nosy = makeRequest({ by: neighbour, window, requester: { name: 'Maple St watch', kind: 'neighbor' }, reason: 'Someone tried car doors last night', to: 'doorbell/frontdoor' });
    await post(signedRequest(nosy, neighbour));
    const withdrawal = signEnvelope(WITHDRAWAL_DOMAIN, neighbour.privateKey, neighbour.publicKeyRaw, JSON.stringify({ v: 2, id: nosy.id, at: iso(now) }));
    const w = await fetch(`${board.url}/withdrawals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ v: 2, ...withdrawal }) });
    expect(w.status).toBe(201);
    browser = await launchPhoneBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await board?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, viewport] of [
    ['phone', { width: 390, height: 844 }],
    ['desktop', { width: 1280, height: 900 }],
  ] as const) {
    it(`shows every request readably at ${name} size, with no script, no external request and no CSP violation`, async () => {
      const context = await browser.newContext({ viewport, colorScheme: 'light' });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      const foreign: string[] = [];
      page.on('request', (r) => !r.url().startsWith(board.url) && foreign.push(r.url()));
      const response = await page.goto(board.url);
      expect(response!.headers()['content-security-policy']).toContain("default-src 'none'");
      const cards = page.locator('article.request');
      await expect.poll(() => cards.count()).toBe(3);
      const text = (await page.locator('main').innerText()).replace(/\s+/g, ' ');
      for (const expected of ['Package theft on Elm St', 'case 24-118', 'Arson investigation', 'case F-2231', 'vouched for as “Springfield Fire Department”', 'within 400 m of 39.78170, -89.65010', 'one doorbell: doorbell/frontdoor', 'Withdrawn', 'Footage from', 'evidence.example']) {
        expect(text).toContain(expected);
      }
      // Nothing sticks out of the viewport: readable without sideways scrolling.
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);
      expect(await page.locator('script').count()).toBe(0);
      if (process.env.UPDATE_SCREENSHOTS === '1') {
        mkdirSync(DOCS, { recursive: true });
        await page.screenshot({ path: join(DOCS, `board-${name}.png`), fullPage: name === 'phone' });
      }
      await page.locator('a.who').first().click();
      await expect.poll(() => page.locator('.profile').innerText()).toContain('posted');
      expect(await page.locator('.counts').innerText()).toMatch(/1\s*posted/);
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
      await context.close();
    }, 60_000);
  }
});
