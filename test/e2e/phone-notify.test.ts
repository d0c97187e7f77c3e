/**
 * What the phone app tells its owner, in Chromium: an inbox card whose pictures add up to its clip
 * count, and the service worker showing a doorbell push (delivered through the DevTools protocol's
 * `ServiceWorker.deliverPushMessage`) with the right title and the view a tap opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushPayload } from '../../agent/push/index.js';
import type { WebServer } from '../../agent/web/index.js';
import type { PhoneApp } from './app-driver.js';
import type { DeviceHarness } from './device-harness.js';
import { PhoneFixture } from './phone-fixture.js';

const fixture = new PhoneFixture({ name: 'phone-notify', pairAs: 'Alice’s phone' });
let device: DeviceHarness;
let phone: PhoneApp;
let web: WebServer;

beforeAll(async () => {
  await fixture.start();
  ({ device, phone, web } = fixture);
}, 90_000);

afterAll(() => fixture.stop());

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
    const shown = async (): Promise<{ title: string; body: string; tag: string; data: { url: string; kind: string } }[]> =>
      phone.page.evaluate(`navigator.serviceWorker.ready
        .then((r) => r.getNotifications())
        .then((list) => list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))`);
    // One push at a time, each shown before the next is delivered.
    const deliver = async (data: unknown, tag: string): Promise<void> => {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify(data) });
      await expect.poll(async () => (await shown()).map((n) => n.tag), { timeout: 15_000 }).toContain(tag);
    };
    await deliver(payload, 'request-rfa-2026-0042');
    // A push that is not the doorbell's JSON, and one pointing off the app, still land on the app.
    await deliver({ v: 2, kind: 'ring', title: 'Someone is at the door', url: 'https://evil.example/', tag: 'ring' }, 'ring');
    const notes = await shown();
    expect(notes).toHaveLength(2);
    const request = notes.find((n) => n.tag === 'request-rfa-2026-0042')!;
    expect(request).toMatchObject({ title: 'Footage requested', body: 'A request is waiting for your decision', data: { url: '/#/request/rfa-2026-0042', kind: 'request' } });
    const ring = notes.find((n) => n.tag === 'ring')!;
    expect(ring).toMatchObject({ title: 'Someone is at the door', data: { url: '/#/inbox', kind: 'ring' } });
    await cdp.detach();
  });
});
