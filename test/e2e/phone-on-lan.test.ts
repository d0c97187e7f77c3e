/**
 * The phone app as a phone on the LAN opens it, not from localhost: over HTTPS (`web.tls`, with the
 * broker's WebSocket behind TLS too, as Mosquitto's `certfile`/`keyfile` give it), and over plain
 * http, where the browser withholds WebCrypto and service workers and the app falls back to
 * @noble/ed25519 and @noble/hashes behind a warning. Chromium reaches `doorbell.lan` through a host
 * rule, so the page's origin is not loopback (which browsers would treat as secure).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { WebServer } from '../../agent/web/index.js';
import { waitForPort } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { buildPhoneApp, launchPhoneBrowser, PhoneApp } from './app-driver.js';
import { DeviceHarness, makeThumbnails } from './device-harness.js';

const DEVICE = 'frontdoor';
const PREFIX = 'doorbell';
const HOST = 'doorbell.lan';
const INSECURE_WARNING = 'Not served over HTTPS: someone on your network could tamper with this page. Set web.tls (see the README).';

let dir: string;
let mosquitto: ChildProcess;
let ports: { mqtt: number; ws: number; wss: number };
let device: DeviceHarness;
let httpsWeb: WebServer;
let httpWeb: WebServer;
let browser: Browser;

/** A self-signed ECDSA P-256 certificate for doorbell.lan, as the README tells an owner to make one. */
function makeCertificate(into: string): { cert: string; key: string } {
  const cert = join(into, 'doorbell.crt');
  const key = join(into, 'doorbell.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`, '-keyout', key, '-out', cert,
  ], { stdio: 'pipe' });
  // Mosquitto, started as root, reads them as its own user.
  chmodSync(key, 0o644);
  return { cert, key };
}

/** Mosquitto with the listeners the README describes: MQTT for the doorbell, WebSockets plain and over TLS for phones. */
async function startMosquitto(tls: { cert: string; key: string }): Promise<ChildProcess> {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [
    `listener ${ports.mqtt} 127.0.0.1`,
    'allow_anonymous true',
    `listener ${ports.ws} 127.0.0.1`,
    'protocol websockets',
    `listener ${ports.wss} 127.0.0.1`,
    'protocol websockets',
    `certfile ${tls.cert}`,
    `keyfile ${tls.key}`,
    'log_dest none',
    '',
  ].join('\n'));
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await Promise.all([waitForPort(ports.mqtt), waitForPort(ports.ws), waitForPort(ports.wss)]);
  return child;
}

function webServer(staticDir: string, brokerWsUrl: string, tls?: { cert: string; key: string }): WebServer {
  return new WebServer({
    listen: '127.0.0.1:0',
    staticDir,
    ...(tls ? { tls } : {}),
    appConfig: () => ({ deviceId: DEVICE, deviceName: 'Front door', prefix: PREFIX, brokerWsUrl }),
    // Like the agent's: the app reads its event history from the sealed media endpoints.
    media: device.media(),
    log: silentLogger,
  });
}

/** The page's own address as the phone sees it: doorbell.lan instead of 127.0.0.1. */
function onLan(url: string): string {
  return url.replace('127.0.0.1', HOST);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'phone-lan-'));
  chmodSync(dir, 0o755);
  const staticDir = buildPhoneApp(join(dir, 'web'));
  const tls = makeCertificate(dir);
  ports = { mqtt: await freePort(), ws: await freePort(), wss: await freePort() };
  mosquitto = await startMosquitto(tls);
  device = new DeviceHarness({ brokerUrl: `mqtt://127.0.0.1:${ports.mqtt}`, prefix: PREFIX, deviceId: DEVICE, thumbnails: makeThumbnails(dir) });
  await device.start();
  httpsWeb = webServer(staticDir, `wss://${HOST}:${ports.wss}`, tls);
  await httpsWeb.start();
  httpWeb = webServer(staticDir, `ws://${HOST}:${ports.ws}`);
  await httpWeb.start();
  // The certificate is self-signed: a phone trusts it once (README); this browser is told to.
  browser = await launchPhoneBrowser(['--ignore-certificate-errors', `--host-resolver-rules=MAP ${HOST} 127.0.0.1`]);
});

afterAll(async () => {
  await browser?.close();
  await httpWeb?.stop();
  await httpsWeb?.stop();
  await device?.stop();
  if (mosquitto && mosquitto.exitCode === null) {
    await new Promise<void>((resolve) => {
      mosquitto.once('exit', () => resolve());
      mosquitto.kill('SIGTERM');
    });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

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
    const link = `${onLan(httpsWeb.url)}/#ws=${encodeURIComponent(`ws://${HOST}:${ports.ws}`)}`;
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
