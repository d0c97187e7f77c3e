/**
 * Issue 10, in the phone app (Chromium): someone who can write on the broker (the broker itself, in
 * the threat model) puts forged, moved and replayed notices where the app listens. The app never
 * shows one as a request to decide, says on the inbox and in the doorbell's events (kept across
 * reloads) which message it refused and why, and still takes the doorbell's next genuine notice,
 * whose approval reaches the doorbell and verifies.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, sealMessage, type MessageBody, type Signer } from '../../agent/envelope/index.js';
import { parseB64url } from '../../agent/owner/index.js';
import type { Recorder } from '../helpers/mqtt.js';
import type { PhoneApp } from './app-driver.js';
import type { DeviceHarness, HarnessRequest } from './device-harness.js';
import { DEVICE, PhoneFixture, PREFIX } from './phone-fixture.js';

const OUT = `${PREFIX}/${DEVICE}/owner/out`;
const SNAPSHOT = `${PREFIX}/${DEVICE}/owner/snapshot`;

const fixture = new PhoneFixture({ name: 'phone-refusals', pairAs: 'Alice’s phone' });
let device: DeviceHarness;
let phone: PhoneApp;
let writer: Recorder;
/** The owner's real sealing recipient: public, so an attacker can seal to it. */
let ownerRecipient: string;
let deviceKeyId: string;
/** The attacker's own Ed25519 key. */
let attacker: Signer & { secret: Uint8Array };
/** Waiting for a decision throughout. */
let waiting: HarnessRequest;
/** Denied by the owner before any attack: its notice, captured on the broker, is an old copy from then on. */
let decided: HarnessRequest;
let moved: HarnessRequest;

beforeAll(async () => {
  await fixture.start();
  ({ device, phone } = fixture);
  writer = await fixture.brokerWriter();
  ownerRecipient = device.owners.list()[0]!.sealingRecipient!;
  deviceKeyId = keyIdOf(parseB64url(device.devicePublicKey)!);
  const secret = ed25519.utils.randomSecretKey();
  attacker = { secret, keyId: keyIdOf(ed25519.getPublicKey(secret)), sign: (m) => ed25519.sign(m, secret) };

  waiting = await device.publishRequest({ requester: 'Springfield PD', kind: 'police', caseNumber: '24-118', reason: 'Package theft on Elm St' });
  decided = await device.publishRequest({ requester: 'Maple St watch', kind: 'neighbor', reason: 'Someone tried car doors', clipCount: 1 });
  await phone.openInbox();
  await phone.noticeCard(waiting.id).waitFor();
  await phone.deny(decided.id);
  await phone.waitForRequestState(decided.id, 'denied');
  await phone.openInbox();
  await phone.noticeCard(decided.id).waitFor({ state: 'detached' });
}, 120_000);

afterAll(() => fixture.stop());

const inboxIds = () => phone.page.locator('a.notice').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-request-id')));

/** The doorbell's genuine notice of `r`, as captured on the broker by the writer. */
function capturedNotice(r: HarnessRequest): Buffer {
  const sent = device.sent.find((m) => m.kind === 'notice' && m.requestId === r.id)!;
  expect(writer.messages.some((m) => m.topic === OUT && m.payload.equals(sent.ciphertext))).toBe(true);
  return sent.ciphertext;
}

/** A notice like `waiting`'s with `changes`, signed by `signer`, sealed to the owner: valid in every way but who signed it. */
async function forgedNotice(signer: Signer, changes: Record<string, unknown>): Promise<Buffer> {
  const genuine = JSON.parse(Buffer.from(waiting.notice!.plaintext.subarray(120)).toString('utf8')) as Record<string, unknown>;
  const body = { ...genuine, ...changes, v: 2, kind: 'notice', at: new Date().toISOString(), seq: 1_000_000_000 } as MessageBody;
  return Buffer.from((await sealMessage(signer, OUT, body, [ownerRecipient])).ciphertext);
}

/**
 * Publishes as the broker writer, then proves: the inbox shows a new warning saying `why`, the
 * inbox lists what it listed before, and `requestId` (the injected notice's) cannot be approved,
 * not even opened by its address.
 */
async function expectRefusedVisibly(why: string, requestId: string | undefined, inject: () => Promise<unknown>): Promise<void> {
  await phone.openInbox();
  const before = await inboxIds();
  const since = new Date().toISOString();
  await inject();
  const newest = phone.page.locator('section[aria-label="Requests waiting for you"] [data-refused]').first();
  const warned = async () => ((await newest.getAttribute('data-at')) ?? '') >= since && ((await newest.textContent()) ?? '').includes(why);
  // Whichever comes first: the app took the message into its inbox, or it said it refused it.
  await expect.poll(async () => (await inboxIds()).join() !== before.join() || (await warned()), { timeout: 15_000 }).toBe(true);
  expect(await inboxIds()).toEqual(before);
  expect(await warned()).toBe(true);
  expect(await newest.textContent()).toContain(`A message on the broker was refused: ${why}`);
  if (requestId) {
    await phone.page.evaluate(`location.hash = '#/request/${requestId}'`);
    await phone.page.locator(`section[data-request-id="${requestId}"]`).waitFor();
    expect(await phone.page.locator('[data-action="approve"]').count()).toBe(0);
    await phone.openInbox();
  }
}

describe('the phone app refuses what the doorbell did not send as sent', () => {
  it('starts with one request waiting and one the owner denied', async () => {
    expect(await inboxIds()).toEqual([waiting.id]);
  });

  it('a notice signed by another key: refused, said so, never a request to decide', async () => {
    await expectRefusedVisibly('not signed by your doorbell (signed by another key)', 'rfa-forged-1', async () => {
      const forged = await forgedNotice(attacker, { requestId: 'rfa-forged-1', destination: { scheme: 'https', host: 'evil.example', path: '/steal', urlSha256: 'a'.repeat(64) } });
      await writer.client.publishAsync(OUT, forged, { qos: 1 });
    });
  });

  it('a forged notice for a request that is waiting does not replace what the owner is shown', async () => {
    await expectRefusedVisibly('not signed by your doorbell (signed by another key)', undefined, async () => {
      const forged = await forgedNotice(attacker, { destination: { scheme: 'https', host: 'evil.example', path: `/put/${waiting.id}`, urlSha256: 'a'.repeat(64) } });
      await writer.client.publishAsync(OUT, forged, { qos: 1 });
    });
    await phone.openRequest(waiting.id);
    expect(await phone.page.locator('[data-destination]').textContent()).toBe(`https://evidence.example/put/${waiting.id}`);
  });

  it('a notice under the doorbell’s key id whose signature does not verify', async () => {
    const posing: Signer = { keyId: deviceKeyId, sign: attacker.sign };
    await expectRefusedVisibly('not signed by your doorbell (the signature does not match)', 'rfa-forged-2', async () => {
      await writer.client.publishAsync(OUT, await forgedNotice(posing, { requestId: 'rfa-forged-2' }), { qos: 1 });
    });
  });

  it('a genuine notice moved from owner/out to owner/snapshot; delivered on its own topic later, it is shown', async () => {
    // The broker drops the doorbell's notice on its way and keeps it.
    const dropped = await device.dropping(async () => {
      moved = await device.publishRequest({ requester: 'Acme Insurance', kind: 'insurer', caseNumber: 'CLM-7781', reason: 'Hail damage claim', clipCount: 2 });
    });
    const notice = device.sent.find((m) => m.kind === 'notice' && m.requestId === moved.id)!;
    expect(dropped.map((m) => m.payload)).toContainEqual(notice.ciphertext);
    await expectRefusedVisibly(`moved from another topic (your doorbell signed it for ${OUT})`, moved.id, async () => {
      await writer.client.publishAsync(SNAPSHOT, notice.ciphertext, { qos: 1 });
    });
    for (const m of dropped) await writer.client.publishAsync(m.topic, m.payload, { qos: 1 });
    await phone.noticeCard(moved.id).waitFor();
  });

  it('the notice of a request already denied, replayed: an old copy, not a request again', async () => {
    await expectRefusedVisibly('an old copy replayed', decided.id, async () => {
      await writer.client.publishAsync(OUT, capturedNotice(decided), { qos: 1 });
    });
  });

  it('an older answer of the doorbell replayed after a newer one', async () => {
    const older = device.sent.filter((m) => m.kind === 'pending').at(-1)!;
    await phone.reload(); // asks again: a newer answer
    await expect.poll(() => device.sent.filter((m) => m.kind === 'pending').at(-1)!.seq, { timeout: 15_000 }).toBeGreaterThan(older.seq);
    await phone.openInbox();
    await expect.poll(() => inboxIds(), { timeout: 15_000 }).toEqual(expect.arrayContaining([waiting.id, moved.id]));
    await expectRefusedVisibly('an old copy replayed', decided.id, async () => {
      await writer.client.publishAsync(OUT, older.ciphertext, { qos: 1 });
    });
  });

  it('a retained old copy, delivered again after a reload', async () => {
    await writer.client.publishAsync(OUT, capturedNotice(decided), { qos: 1, retain: true });
    try {
      await expectRefusedVisibly('an old copy replayed', decided.id, () => phone.reload());
    } finally {
      await writer.client.publishAsync(OUT, Buffer.alloc(0), { qos: 1, retain: true });
    }
  });

  it('keeps each warning in the doorbell’s events, after reloads too', async () => {
    await phone.reload();
    await phone.openTab('Doorbell');
    const refused = phone.page.locator('.events .event--refused');
    await refused.first().waitFor();
    const texts = (await refused.allTextContents()).join('\n');
    for (const why of [
      'not signed by your doorbell (signed by another key)',
      'not signed by your doorbell (the signature does not match)',
      `moved from another topic (your doorbell signed it for ${OUT})`,
      'an old copy replayed',
    ]) {
      expect(texts).toContain(`A message on the broker was refused: ${why}. It is not shown, and changes nothing.`);
    }
    await phone.screenshot('refused-messages');
  });

  it('takes the doorbell’s next genuine notice: approved, the decision reaches the doorbell and verifies', async () => {
    const next = await device.publishRequest({ requester: 'County Fire Marshal', kind: 'fire', caseNumber: 'F-2231', reason: 'Arson investigation', clipCount: 2 });
    await phone.openInbox();
    await phone.noticeCard(next.id).waitFor();
    expect(await inboxIds()).toEqual(expect.arrayContaining([waiting.id, moved.id, next.id]));
    expect(await inboxIds()).toHaveLength(3);
    await phone.approve(next.id, next.clips.map((c) => c.id));
    const { envelope, verdict } = await device.waitForDecision(next.id);
    expect(verdict).toMatchObject({ ok: true, decision: { decision: 'approve', requestId: next.id, noticeSha256: next.notice!.sha256, urlSha256: next.urlSha256 } });
    expect(envelope.keyId).toBe(await phone.pairedKeyId());
    expect(device.decisions.map((d) => d.requestId)).toEqual([decided.id, next.id]);
    expect(device.malformed).toEqual([]);
    expect(phone.problems).toEqual([]);
  });
});
