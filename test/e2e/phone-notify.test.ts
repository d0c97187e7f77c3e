/**
 * What the phone app tells its owner, in Chromium: an inbox card whose pictures add up to its clip
 * count, and the service worker showing a doorbell push (delivered through the DevTools protocol's
 * `ServiceWorker.deliverPushMessage`) with the right title and the view a tap opens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { EmbeddedBroker } from '../../agent/mqtt/index.js';
import { pushPayload } from '../../agent/push/index.js';
import { WebServer } from '../../agent/web/index.js';
import { freePort } from '../helpers/ports.js';
import { buildPhoneApp, launchPhoneBrowser, PhoneApp } from './app-driver.js';
import { DeviceHarness, makeThumbnails } from './device-harness.js';

const DEVICE = 'frontdoor';
const PREFIX = 'doorbell';

let dir: string;
let broker: EmbeddedBroker;
let device: DeviceHarness;
let web: WebServer;
let browser: Browser;
let phone: PhoneApp;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'phone-notify-'));
  const staticDir = buildPhoneApp(join(dir, 'web'));
  broker = new EmbeddedBroker({ options: { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() }, log: silentLogger });
  await broker.start();
  device = new DeviceHarness({ brokerUrl: broker.url, prefix: PREFIX, deviceId: DEVICE, thumbnails: makeThumbnails(dir) });
  await device.start();
  web = new WebServer({
    media: device.media(),
    listen: '127.0.0.1:0',
    staticDir,
    appConfig: () => ({ deviceId: DEVICE, deviceName: 'Front door', prefix: PREFIX, brokerWsUrl: broker.wsUrl }),
    log: silentLogger,
  });
  await web.start();
  browser = await launchPhoneBrowser();
  phone = await PhoneApp.open(browser, web.url);
  await phone.pair(device.openPairing(), 'Alice’s phone');
}, 90_000);

afterAll(async () => {
  await phone?.close();
  await browser?.close();
  await web?.stop();
  await device?.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the phone app tells its owner', () => {
  it('a card for 4 clips shows pictures that add up to 4, not "4 clips" over 3 thumbnails', async () => {
    const request = await device.publishRequest({ requester: 'Springfield PD', kind: 'police', reason: 'Package theft on Elm St', clipCount: 4 });
    await phone.openInbox();
    const card = phone.noticeCard(request.id);
    await card.waitFor();
    expect(await card.textContent()).toContain('4 clips');
    const pictures = await card.locator('.thumbs img').count();
    const more = Number((await card.locator('.thumbs [data-more]').getAttribute('data-more', { timeout: 2_000 }).catch(() => '0')) ?? 0);
    expect(pictures + more).toBe(4);
    expect(await card.locator('.thumbs').textContent()).toBe(`+${more}`);
  });

  it('shows a push from the doorbell as a notification with its title, text and the view a tap opens', async () => {
    const origin = new URL(web.url).origin;
    await phone.context.grantPermissions(['notifications'], { origin });
    await phone.page.evaluate('navigator.serviceWorker.ready.then(() => undefined)');
    const cdp = await phone.context.newCDPSession(phone.page);
    const registrations = new Promise<string>((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: list }) => {
        const mine = list.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted);
        if (mine) resolve(mine.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    const registrationId = await registrations;

    // Exactly what the agent encrypts for a request (its body without details), as the browser hands it over decrypted.
    const payload = pushPayload(
      { kind: 'request', at: new Date().toISOString(), requestId: 'rfa-2026-0042', requester: { name: 'Springfield PD', kind: 'police' }, reason: 'Package theft' },
      'Front door',
      false,
    );
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify(payload) });
    // A push that is not the doorbell's JSON, and one pointing off the app, still land on the app.
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin,
      registrationId,
      data: JSON.stringify({ v: 2, kind: 'ring', title: 'Someone is at the door', url: 'https://evil.example/', tag: 'ring' }),
    });

    const shown = async (): Promise<{ title: string; body: string; tag: string; data: { url: string; kind: string } }[]> =>
      phone.page.evaluate(`navigator.serviceWorker.ready
        .then((r) => r.getNotifications())
        .then((list) => list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))`);
    await expect.poll(async () => (await shown()).length, { timeout: 15_000 }).toBe(2);
    const notes = await shown();
    const request = notes.find((n) => n.tag === 'request-rfa-2026-0042')!;
    expect(request).toMatchObject({ title: 'Footage requested', body: 'A request is waiting for your decision', data: { url: '/#/request/rfa-2026-0042', kind: 'request' } });
    const ring = notes.find((n) => n.tag === 'ring')!;
    expect(ring).toMatchObject({ title: 'Someone is at the door', data: { url: '/#/inbox', kind: 'ring' } });
    await cdp.detach();
  });
});
