/**
 * The phone app as a phone on the LAN opens it, not from localhost: over HTTPS (`web.tls`, with the
 * broker's WebSocket behind TLS too, as Mosquitto's `certfile`/`keyfile` give it), and over plain
 * http, where the browser withholds WebCrypto and service workers and the app falls back to
 * @noble/ed25519 and @noble/hashes behind a warning. Chromium reaches `doorbell.lan` through a host
 * rule, so the page's origin is not loopback (which browsers would treat as secure).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebServer } from '../../agent/web/index.js';
import { PhoneApp } from './app-driver.js';
import type { DeviceHarness } from './device-harness.js';
import { PhoneFixture } from './phone-fixture.js';

const HOST = 'doorbell.lan';
const INSECURE_WARNING = 'Not served over HTTPS: someone on your network could tamper with this page. Set web.tls (see the README).';

const fixture = new PhoneFixture({ name: 'phone-lan', lan: { host: HOST } });
let device: DeviceHarness;
let httpsWeb: WebServer;
let httpWeb: WebServer;
let browser: Browser;
let plainWsUrl: string;

beforeAll(async () => {
  await fixture.start();
  ({ device, browser, web: httpsWeb } = fixture);
  ({ plainWeb: httpWeb, wsUrl: plainWsUrl } = fixture.lan);
});

afterAll(() => fixture.stop());

/** The page's own address as the phone sees it: doorbell.lan instead of 127.0.0.1. */
function onLan(url: string): string {
  return url.replace('127.0.0.1', HOST);
}

describe('a phone on the LAN', () => {
  it('over HTTPS with a wss:// broker: a secure page that pairs with a WebCrypto key, signs, and installs its service worker', async () => {
    expect(httpsWeb.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const phone = await PhoneApp.open(browser, onLan(httpsWeb.url));
    try {
      expect(await phone.page.evaluate('window.isSecureContext')).toBe(true);
      expect(await phone.page.locator('[data-insecure]').count()).toBe(0);
      const keyId = await phone.pair(device.openPairing(), 'Alice’s phone');
      expect(device.owners.list().map((o) => o.keyId)).toContain(keyId);
      expect(await phone.pairedKeyId()).toBe(keyId);
      expect(await phone.page.locator('.facts').textContent()).toContain('WebCrypto, not exportable');
      const request = await device.publishRequest({ requester: 'Springfield PD', kind: 'police', caseNumber: '24-118', reason: 'Package theft on Elm St', clipCount: 1 });
      await phone.deny(request.id);
      const { envelope, verdict } = await device.waitForDecision(request.id);
      expect(envelope.keyId).toBe(keyId);
      expect(verdict).toMatchObject({ ok: true, decision: { decision: 'deny', requestId: request.id, clips: [] } });
      expect(await phone.page.evaluate('navigator.serviceWorker.ready.then((r) => r.scope)')).toBe(`${onLan(httpsWeb.url)}/`);
      expect(phone.problems).toEqual([]);
    } finally {
      await phone.close();
    }
  });

  it('over HTTPS, names a plain ws:// broker as the problem instead of failing silently', async () => {
    const link = `${onLan(httpsWeb.url)}/#ws=${encodeURIComponent(plainWsUrl)}`;
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const page = await context.newPage();
      await page.goto(link);
      const problem = page.locator('[role="alert"]', { hasText: 'connection settings need fixing' });
      await problem.waitFor();
      expect(await problem.textContent()).toContain('browsers only allow a wss:// broker address');
    } finally {
      await context.close();
    }
  });

  it('over plain http: warns on every screen, yet pairs and signs with a software key whose decisions verify', async () => {
    const phone = await PhoneApp.open(browser, onLan(httpWeb.url));
    try {
      expect(await phone.page.evaluate('[window.isSecureContext, typeof crypto.subtle, "serviceWorker" in navigator]')).toEqual([false, 'undefined', false]);
      const banner = phone.page.locator('[data-insecure]');
      expect(await banner.textContent()).toBe(INSECURE_WARNING);
      expect(await banner.getAttribute('role')).toBe('alert');
      await phone.screenshot('insecure-pair');

      const keyId = await phone.pair(device.openPairing(), 'Bob’s phone');
      expect(device.pairingSteps.at(-1)).toMatchObject({ step: 'confirmed', keyId });
      expect(device.owners.list().map((o) => o.keyId)).toContain(keyId);
      expect(await phone.pairedKeyId()).toBe(keyId);
      expect(await phone.page.locator('.facts').textContent()).toContain('software key');

      const request = await device.publishRequest({ requester: 'Maple St watch', kind: 'neighbor', reason: 'Someone tried car doors', clipCount: 2 });
      await phone.deny(request.id);
      const { envelope, verdict } = await device.waitForDecision(request.id);
      expect(envelope.keyId).toBe(keyId);
      expect(verdict).toMatchObject({ ok: true, decision: { decision: 'deny', requestId: request.id, clips: [] } });
      await phone.waitForRequestState(request.id, 'denied');
      expect(await banner.isVisible()).toBe(true);

      // The doorbell's signed audit head, checked with the software Ed25519 verifier.
      await phone.openTab('Doorbell');
      await phone.page.locator('[data-head-verified="true"]').waitFor();
      expect(await banner.isVisible()).toBe(true);

      await phone.reload();
      expect(await phone.pairedKeyId()).toBe(keyId);
      expect(phone.problems).toEqual([]);
    } finally {
      await phone.close();
    }
  });
});
