/**
 * The owner's phone app in a real browser (Debian's Chromium) against a real broker and a stand-in
 * doorbell built from the agent's own owner modules: pairing, the inbox, signed approve and deny
 * decisions, reload, the doorbell's state and audit head, and the software-key fallback.
 * The steps run in order, like one owner's session.
 */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { connectAsync } from 'mqtt';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, parseB64url } from '../../agent/owner/index.js';
import { answerHello, pairingReplyTopic, parseMessage } from '../../agent/pairing/index.js';
import type { WebServer } from '../../agent/web/index.js';
import { PhoneApp } from './app-driver.js';
import type { DeviceHarness, HarnessRequest } from './device-harness.js';
import { DEVICE, PhoneFixture, PREFIX } from './phone-fixture.js';

/** Makes the browser's WebCrypto lack Ed25519, as in Chromium before 137 or older Safari. */
const NO_WEBCRYPTO_ED25519 = `
  (() => {
    const subtle = crypto.subtle;
    const isEd25519 = (alg) => String(typeof alg === 'string' ? alg : alg && alg.name).toLowerCase() === 'ed25519';
    for (const [method, algArg] of [['generateKey', 0], ['importKey', 2], ['sign', 0], ['verify', 0]]) {
      const original = subtle[method].bind(subtle);
      subtle[method] = (...args) =>
        isEd25519(args[algArg]) ? Promise.reject(new DOMException('Ed25519 is not supported', 'NotSupportedError')) : original(...args);
    }
  })();
`;

const fixture = new PhoneFixture({ name: 'phone-app', openPhone: true });
let device: DeviceHarness;
let web: WebServer;
let browser: Browser;
let phone: PhoneApp;
let brokerUrl: string;
let brokerWsUrl: string;
let keyId: string;
let police: HarnessRequest;
let neighbour: HarnessRequest;
let insurer: HarnessRequest;

beforeAll(async () => {
  await fixture.start();
  ({ device, web, browser, phone, brokerUrl, brokerWsUrl } = fixture);
});

afterAll(() => fixture.stop());

describe('the phone app', () => {
  it('never shows the pairing code, and refuses a wrong code clearly as soon as the doorbell answers', async () => {
    const code = device.openPairing();
    expect(await phone.page.content()).not.toContain(code);
    const wrong = `${code.slice(0, 9)}${(Number(code[9]) + 1) % 10}`;
    await phone.pairExpectingRefusal(wrong);
    expect(await phone.page.locator('[data-pairing="refused"]').textContent()).toContain('The doorbell did not accept this code');
    await phone.screenshot('pairing-refused');
    expect(device.pairingSteps).toEqual([expect.objectContaining({ step: 'answered' })]);
    expect(device.owners.list()).toEqual([]);
  });

  it('detects a broker in the middle that answers with its own keys: nothing is paired or trusted', async () => {
    // No window is open, so only the attacker answers: with its own device keys and a guessed code.
    // A broker in the middle is the broker: it reads and writes what it likes (here with the device's login).
    const mitm = await connectAsync(brokerUrl, { clientId: 'mitm', ...fixture.brokerLogin });
    const attackerKeys = { deviceId: DEVICE, signingKey: ed25519.getPublicKey(ed25519.utils.randomSecretKey()), sealingRecipient: await identityToRecipient(await generateX25519Identity()) };
    let answered = 0;
    mitm.on('message', (_topic, payload) => {
      const hello = parseMessage(payload);
      if (hello.type !== 'hello') return;
      const { answer } = answerHello(hello, '1234567890', attackerKeys, (n) => new Uint8Array(randomBytes(n)));
      answered++;
      void mitm.publishAsync(pairingReplyTopic(PREFIX, DEVICE, keyIdOf(parseB64url(hello.signingKey)!), 'answer'), JSON.stringify(answer), { qos: 1 });
    });
    await mitm.subscribeAsync(`${PREFIX}/${DEVICE}/pair`, { qos: 1 });
    try {
      await phone.pairExpectingRefusal('5555566666');
      expect(answered).toBeGreaterThan(0);
      expect(device.owners.list()).toEqual([]);
      expect(await phone.pairedKeyId()).toBeUndefined();
      await phone.openTab('Pair');
    } finally {
      await mitm.endAsync(true);
    }
  });

  it('pairs with the right code: the doorbell enrolls the key and the app shows its fingerprint', async () => {
    const code = device.openPairing();
    keyId = await phone.pair(code, 'Alice’s phone');
    const [owner] = device.owners.list();
    expect(owner).toMatchObject({ keyId, name: 'Alice’s phone', via: 'pairing', revokedAt: null });
    expect(keyIdOf(parseB64url(owner!.publicKey)!)).toBe(keyId);
    const shown = await phone.page.locator('.fingerprint[data-key-id]').textContent();
    expect(shown?.replace(/\s/g, '')).toBe(keyId);
    expect(await phone.deviceFingerprint()).toBe(keyIdOf(parseB64url(device.devicePublicKey)!));
    // Both private keys are WebCrypto keys the page itself cannot export; the doorbell enrolled their public halves.
    const kept = (await phone.page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open('doorbell-owner');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction('kv').objectStore('kv').get('owner:${PREFIX}/${DEVICE}');
        get.onsuccess = () => {
          const k = get.result.keys;
          resolve({ signing: [k.signing.kind, k.signing.privateKey.algorithm.name, k.signing.privateKey.extractable],
            sealing: [k.sealing.kind, k.sealing.privateKey.algorithm.name, k.sealing.privateKey.extractable], recipient: k.sealingRecipient });
        };
      };
    })`)) as { signing: unknown[]; sealing: unknown[]; recipient: string };
    expect(kept.signing).toEqual(['webcrypto', 'Ed25519', false]);
    expect(kept.sealing).toEqual(['webcrypto', 'X25519', false]);
    expect(owner!.sealingRecipient).toBe(kept.recipient);
    expect(await phone.page.locator('[data-paired]').textContent()).toContain('Paired with Front door');
    await phone.screenshot('paired');
  });

  it('shows each pending request with requester, case, reason, destination and real thumbnails', async () => {
    neighbour = await device.publishRequest({ requester: 'Maple St neighbourhood watch', kind: 'neighbor', reason: 'Someone tried car doors last night' });
    police = await device.publishRequest({ requester: 'Springfield PD', kind: 'police', caseNumber: '24-118', reason: 'Package theft on Elm St' });
    await phone.page.getByRole('link', { name: 'Open the inbox' }).click();
    const card = phone.noticeCard(police.id);
    await card.waitFor();
    const text = await card.textContent();
    for (const expected of ['Police', 'Springfield PD', 'Case 24-118', 'Package theft on Elm St', '3 clips', 'evidence.example']) {
      expect(text).toContain(expected);
    }
    expect(text).toMatch(/expires in [23] d/);
    await expect.poll(() => card.locator('img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth))).toEqual([320, 320, 320]);
    await expect.poll(() => phone.page.locator('a.notice').count()).toBe(2);
    expect(await phone.page.locator('nav.tabs .badge').textContent()).toBe('2');
    await phone.screenshot('inbox');
    await phone.page.emulateMedia({ colorScheme: 'dark' });
    await phone.screenshot('inbox-dark');
    await phone.page.emulateMedia({ colorScheme: 'light' });
  });

  it('approves two of three clips: the signed decision verifies on the device and names exactly those two', async () => {
    const [first, second, third] = police.clips;
    await phone.openRequest(police.id);
    const screen = phone.page.locator(`section[data-request-id="${police.id}"]`);
    expect(await screen.locator('[data-destination]').textContent()).toBe(`https://evidence.example/put/${police.id}`);
    await expect.poll(() => screen.locator('img.clip__thumb').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth))).toEqual([320, 320, 320]);
    expect(await phone.page.locator('[data-action="approve"]').textContent()).toBe('Approve 3 clips');
    await phone.selectClips(police.id, [first!.id, third!.id]);
    expect(await phone.page.locator('[data-action="approve"]').textContent()).toBe('Approve 2 clips');
    await phone.page.evaluate('window.scrollTo(0, 0)');
    await phone.screenshot('approve');

    await phone.page.locator('[data-action="approve"]').click();
    await phone.page.locator('[data-sent="approve"]').waitFor();
    const { envelope, verdict } = await device.waitForDecision(police.id);
    expect(verdict).toMatchObject({ ok: true });
    if (!verdict.ok) return;
    expect(envelope.keyId).toBe(keyId);
    expect(verdict.decision).toMatchObject({ v: 2, device: DEVICE, requestId: police.id, decision: 'approve', urlSha256: police.urlSha256, noticeSha256: police.notice!.sha256 });
    expect(verdict.decision.clips).toEqual([first, third].map((c) => ({ id: c!.id, sha256: c!.sha256 })));
    expect(verdict.decision.clips.map((c) => c.id)).not.toContain(second!.id);
    expect(Date.parse(verdict.decision.expiresAt) - Date.parse(verdict.decision.at)).toBe(10 * 60_000);
    expect(parseB64url(verdict.decision.nonce)!.length).toBeGreaterThanOrEqual(16);

    await phone.waitForRequestState(police.id, 'uploading');
    const progress = screen.locator('progress');
    expect(Number(await progress.getAttribute('value')) / Number(await progress.getAttribute('max'))).toBeCloseTo(0.4, 2);
    await phone.screenshot('uploading');
    await device.finishUpload(police.id);
    await phone.waitForRequestState(police.id, 'uploaded');
    await phone.openInbox();
    await expect.poll(() => phone.noticeCard(police.id).count()).toBe(0);
  });

  it('denies another request with a valid signed deny that carries no clips', async () => {
    await phone.deny(neighbour.id);
    const { verdict } = await device.waitForDecision(neighbour.id);
    expect(verdict).toMatchObject({ ok: true, decision: { decision: 'deny', requestId: neighbour.id, clips: [] } });
    await phone.waitForRequestState(neighbour.id, 'denied');
    expect(device.malformed).toEqual([]);
  });

  it('shows a refused decision as an error and lets the owner decide again', async () => {
    const fire = await device.publishRequest({ requester: 'County Fire Marshal', kind: 'fire', caseNumber: 'F-2231', reason: 'Arson investigation', clipCount: 1 });
    // The device expires the request just as the owner taps Approve: it refuses the decision.
    device.requests.get(fire.id)!.state = 'expired';
    await phone.openRequest(fire.id);
    await phone.page.locator('[data-action="approve"]').click();
    const error = phone.page.locator('[data-decision-error]');
    await error.waitFor();
    expect(await error.textContent()).toContain('The doorbell refused this decision (request-not-pending)');
    expect(await phone.page.locator('[data-action="approve"]').isEnabled()).toBe(true);
    expect((await device.waitForDecision(fire.id)).verdict).toEqual({ ok: false, reason: 'request-not-pending', requestId: fire.id });
    await device.expire(fire.id);
    await phone.waitForRequestState(fire.id, 'expired');
    expect(await phone.page.locator('[data-action="approve"]').count()).toBe(0);
  });

  it('after a reload is still paired with the same key, with the inbox rebuilt from retained notices', async () => {
    insurer = await device.publishRequest({ requester: 'Acme Insurance', kind: 'insurer', caseNumber: 'CLM-7781', reason: 'Hail damage claim', clipCount: 2 });
    await phone.reload();
    expect(await phone.pairedKeyId()).toBe(keyId);
    // Installable: the service worker that keeps the shell controls the app's whole origin.
    expect(await phone.page.evaluate('navigator.serviceWorker.ready.then((r) => r.scope)')).toBe(`${web.url}/`);
    await phone.openInbox();
    await phone.noticeCard(insurer.id).waitFor();
    expect(await phone.page.locator('a.notice').count()).toBe(1);
    await phone.openTab('History');
    const history = phone.page.locator('a.history-item');
    await expect.poll(() => history.count()).toBe(4);
    expect(await phone.page.locator(`a.history-item[data-request-id="${police.id}"] [data-state]`).getAttribute('data-state')).toBe('uploaded');
    expect(await phone.page.locator(`a.history-item[data-request-id="${neighbour.id}"] [data-state]`).getAttribute('data-state')).toBe('denied');
    expect(await phone.page.locator(`a.history-item[data-request-id="${police.id}"]`).textContent()).toContain('You approved 2 clips');
    await phone.screenshot('history');
  });

  it('shows the doorbell online, its last ring with the snapshot, and an audit head that verifies with the paired device key', async () => {
    await device.ring();
    await phone.openTab('Doorbell');
    await phone.page.locator('[data-online="true"]').waitFor();
    await expect.poll(() => phone.page.locator('img.snapshot').evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth)).toBe(320);
    expect(await phone.page.locator('.events').textContent()).toContain('Ring');
    await phone.page.locator('[data-head-verified="true"]').waitFor();
    await phone.screenshot('doorbell');
    expect(phone.problems).toEqual([]);
  });

  it('opens from a pairing link and, without WebCrypto Ed25519, signs with @noble/ed25519 decisions that verify', async () => {
    // Opened through a pairing link (as from a QR code) that also names the doorbell.
    const link = `${web.url}/#ws=${encodeURIComponent(brokerWsUrl)}&device=${DEVICE}&prefix=${PREFIX}&name=Porch`;
    const second = await PhoneApp.open(browser, link, { initScript: NO_WEBCRYPTO_ED25519 });
    try {
      expect(await second.page.locator('#pair-heading').textContent()).toBe('Pair this phone with Porch');
      expect(await second.page.evaluate('location.hash')).toBe('#/pair');
      const secondKeyId = await second.pair(device.openPairing(), 'Bob’s old phone');
      expect(secondKeyId).not.toBe(keyId);
      expect(await second.pairedKeyId()).toBe(secondKeyId);
      expect(await second.page.locator('.facts').textContent()).toContain('software key');
      await second.screenshot('settings');
      await second.deny(insurer.id);
      const { envelope, verdict } = await device.waitForDecision(insurer.id);
      expect(envelope.keyId).toBe(secondKeyId);
      expect(verdict).toMatchObject({ ok: true, decision: { decision: 'deny', clips: [] } });
      expect(second.problems).toEqual([]);
    } finally {
      await second.close();
    }
  });
});
