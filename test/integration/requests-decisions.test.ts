/**
 * protocol.md "Decision": every condition, each broken on its own, against a running agent over a
 * real broker. Forged, moved and unsealed decisions are put on the broker with the device's own
 * broker login, so only the device's checks (never the ACL) can keep the receiver empty; the last
 * test shows the same path delivering when the decision is valid.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import type { ShownNotice } from '../../agent/cli/owner-session.js';
import { b64url, makeDecision, ownerTopics, sealMessage, type DecisionBody } from '../../agent/envelope/index.js';
import { readDevicePublicKeys, type OwnerKeyFile } from '../../agent/owner/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type AuditEntry, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { deviceLogin, newOwnerKeyFile, TestOwner } from '../helpers/owner.js';
import { makeRequest, REQUESTER, signedRequest } from '../helpers/protocol.js';
import { lastSeq, refusalsAfter, requestState, ringUntilTriggered, settle } from '../helpers/requests.js';
import { databasePath } from '../../agent/main.js';
import { openDatabase } from '../../agent/store/database.js';

const D = 'doorbell/testdoor';
const IN = `${D}/owner/in`;
const MINUTE = 60_000;

describe('decisions the device must refuse (embedded broker)', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let alice: TestOwner;
  let bob: OwnerKeyFile;
  let mallory: OwnerKeyFile;
  let writer: Recorder;
  let n = 0;

  beforeAll(async () => {
    t = await startTestAgent({
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 100, maxPending: 100, maxPendingUnknown: 100 },
    });
    alice = await TestOwner.create(t, { name: 'Alice' });
    bob = await newOwnerKeyFile();
    await t.control('owner-add', { name: 'Bob', publicKey: bob.signingKey, sealingRecipient: bob.sealingRecipient });
    await t.control('owner-revoke', { keyId: bob.keyId });
    mallory = await newOwnerKeyFile();
    receiver = await startEvidenceReceiver({ ownerPublicKey: alice.publicKey });
    writer = await Recorder.connect(t.brokerUrl, ['requesters/none'], deviceLogin(t));
    await ringUntilTriggered(t);
    await ringUntilTriggered(t);
  }, 60_000);

  afterAll(async () => {
    for (const c of [alice, writer]) await c?.close();
    await receiver?.stop();
    await t?.dispose();
  });

  /** A fresh pending request matching only the second clip (the first ended before its window). */
  async function pending(): Promise<ShownNotice> {
    const request = makeRequest({
      id: `${REQUESTER.keyId}.rfa-decision-${++n}`,
      window: { from: iso(t.clips[0]!.end + 1), to: iso(Date.now()) },
      uploadUrl: receiver.url(`/put/${n}?X-Sig=1`),
    });
    await writer.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    const shown = await alice.notice(String(request.id));
    expect(shown.notice.clips.map((c) => c.id)).toEqual([t.clips[1]!.id]);
    return shown;
  }

  /** An owner decision body for `shown`, as Alice's app would make it, before any tampering. */
  const decision = async (shown: ShownNotice, kind: 'approve' | 'deny' = 'approve'): Promise<DecisionBody> =>
    makeDecision({ device: 'testdoor', notice: shown.notice, noticeSha256: shown.sha256, decision: kind, now: Date.now(), nonce: b64url(randomBytes(16)) });

  /**
   * Sends, and proves: refused for `reason` in the audit log, told to the owners (sealed) when the
   * request is known and the sender an enrolled owner, request still pending, no HTTP at all.
   */
  async function expectRefused(shown: ShownNotice, send: () => Promise<unknown>, reason: string, opts: { ownerTold?: boolean; state?: string } = {}): Promise<AuditEntry> {
    const since = lastSeq(t);
    await send();
    expect(await refusalsAfter(t, since, 1)).toMatchObject({ [reason]: 1 });
    const entry = t.audit().find((e) => e.seq > since && e.type === 'refusal' && e.reason === reason)!;
    expect(entry.topic).toBe(IN);
    const id = shown.notice.requestId;
    if (opts.ownerTold ?? true) {
      await alice.status(id, (s) => s.detail === `decision refused: ${reason}`, 5000);
      expect(entry.requestId).toBe(id);
    }
    await settle();
    expect(requestState(t, id)).toBe(opts.state ?? 'pending');
    expect(receiver.requests).toHaveLength(0);
    return entry;
  }

  const edited = (shown: ShownNotice, edit: (d: DecisionBody) => DecisionBody, kind: 'approve' | 'deny' = 'approve') => () =>
    alice.decide(shown, kind, { edit });

  /** An approval of `shown` signed by `key`, sealed to the device; the broker's ACL would refuse the key itself on P/D/owner/in. */
  const approvedBy = (key: OwnerKeyFile, shown: ShownNotice) => async () => {
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const sealed = await sealMessage(key.signer, IN, await decision(shown), [device.sealingRecipient]);
    await writer.client.publishAsync(IN, Buffer.from(sealed.ciphertext), { qos: 1 });
  };

  it('refuses a decision signed by a key that was never enrolled, and one claiming Alice’s key id', async () => {
    const shown = await pending();
    await expectRefused(shown, approvedBy(mallory, shown), 'unknown-signer', { ownerTold: false });
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const body = await decision(shown);
    const claimed = { keyId: alice.keyId, sign: mallory.signer.sign };
    const forged = await sealMessage(claimed, IN, body, [device.sealingRecipient]);
    const entry = await expectRefused(shown, () => writer.client.publishAsync(IN, Buffer.from(forged.ciphertext), { qos: 1 }), 'bad-signature', { ownerTold: false });
    // A forgery names no request: it cannot make the device post on one.
    expect(entry.requestId).toBeUndefined();
  });

  it('refuses a revoked key', async () => {
    const shown = await pending();
    const entry = await expectRefused(shown, approvedBy(bob, shown), 'revoked-key', { ownerTold: false });
    expect(entry.keyId).toBe(bob.keyId);
  });

  it('refuses Alice’s valid decision moved from another device’s topic, and one not sealed to the device', async () => {
    const shown = await pending();
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const body = await decision(shown);
    const elsewhere = await sealMessage(alice.key.signer, ownerTopics('doorbell', 'otherdoor').in, body, [device.sealingRecipient]);
    await expectRefused(shown, () => writer.client.publishAsync(IN, Buffer.from(elsewhere.ciphertext), { qos: 1 }), 'bad-signature', { ownerTold: false });
    const toHerself = await sealMessage(alice.key.signer, IN, body, [alice.key.sealingRecipient]);
    await expectRefused(shown, () => writer.client.publishAsync(IN, Buffer.from(toHerself.ciphertext), { qos: 1 }), 'not-sealed-to-us', { ownerTold: false });
    await expectRefused(shown, () => writer.client.publishAsync(IN, JSON.stringify(body), { qos: 1 }), 'not-sealed-to-us', { ownerTold: false });
  });

  it('refuses a decision for another device, and for a request the device does not have', async () => {
    const shown = await pending();
    await expectRefused(shown, edited(shown, (d) => ({ ...d, device: 'otherdoor' })), 'wrong-device');
    const since = lastSeq(t);
    await alice.decide(shown, 'approve', { edit: (d) => ({ ...d, requestId: 'rfa-never-sent' }) });
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'unknown-request': 1 });
  });

  it('refuses clips that are not the request’s, or not as held', async () => {
    const shown = await pending();
    const first = t.clips[0]!;
    await expectRefused(shown, edited(shown, (d) => ({ ...d, clips: [...d.clips, { id: first.id, sha256: first.sha256 }] })), 'clip-not-in-request');
    await settle(1100);
    const flip = (h: string): string => h.replace(/^./, h[0] === '0' ? '1' : '0');
    await expectRefused(shown, edited(shown, (d) => ({ ...d, clips: d.clips.map((c) => ({ id: c.id, sha256: flip(c.sha256) })) })), 'clip-hash-mismatch');
  });

  it('refuses an approval for another destination, or of a notice the device never sent', async () => {
    const shown = await pending();
    await expectRefused(shown, edited(shown, (d) => ({ ...d, urlSha256: 'ab'.repeat(32) })), 'destination-mismatch');
    await settle(1100);
    await expectRefused(shown, edited(shown, (d) => ({ ...d, noticeSha256: 'cd'.repeat(32) })), 'notice-mismatch');
  });

  it('refuses decisions outside their time', async () => {
    const shown = await pending();
    const now = Date.now();
    const times = (at: number, expiresAt: number) => (d: DecisionBody): DecisionBody => ({ ...d, at: iso(at), expiresAt: iso(expiresAt) });
    await expectRefused(shown, edited(shown, times(now - 20 * MINUTE, now - 10 * MINUTE)), 'expired');
    await settle(1100);
    await expectRefused(shown, edited(shown, times(now + 2 * MINUTE, now + 10 * MINUTE)), 'issued-in-future');
    await settle(1100);
    await expectRefused(shown, edited(shown, times(now, now + 61 * MINUTE)), 'lifetime-too-long');
  });

  it('refuses a deny that names clips, and an approval that names none', async () => {
    const shown = await pending();
    const clip = shown.notice.clips[0]!;
    await expectRefused(shown, edited(shown, (d) => ({ ...d, clips: [{ id: clip.id, sha256: clip.sha256 }] }), 'deny'), 'deny-with-clips');
    await settle(1100);
    await expectRefused(shown, edited(shown, (d) => ({ ...d, clips: [] })), 'no-clips');
  });

  it('refuses a replayed decision: the same sealed message again, and its nonce on another request', async () => {
    const a = await pending();
    const b = await pending();
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const deny = await decision(a, 'deny');
    const sealed = Buffer.from((await sealMessage(alice.key.signer, IN, deny, [device.sealingRecipient])).ciphertext);
    await writer.client.publishAsync(IN, sealed, { qos: 1 });
    await alice.status(a.notice.requestId, (s) => s.state === 'denied');
    await expectRefused(a, () => writer.client.publishAsync(IN, sealed, { qos: 1 }), 'replayed-nonce', { state: 'denied' });
    await expectRefused(b, edited(b, (d) => ({ ...d, nonce: deny.nonce })), 'replayed-nonce');
  });

  it('still delivers a valid approval after all that, and refuses its replay', async () => {
    const shown = await pending();
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const approve = Buffer.from((await sealMessage(alice.key.signer, IN, await decision(shown), [device.sealingRecipient])).ciphertext);
    await writer.client.publishAsync(IN, approve, { qos: 1 });
    await alice.status(shown.notice.requestId, (s) => s.state === 'uploaded');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.path).toBe(`/put/${n}?X-Sig=1`);

    const since = lastSeq(t);
    await writer.client.publishAsync(IN, approve, { qos: 1 });
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'replayed-nonce': 1 });
    await settle();
    expect(receiver.requests).toHaveLength(1);
  });

  it('counts the owner’s resend of an approval it could not record: a failed write keeps no nonce', async () => {
    const shown = await pending();
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const approve = Buffer.from((await sealMessage(alice.key.signer, IN, await decision(shown), [device.sealingRecipient])).ciphertext);
    // The write that records the approval fails, as a failing disk would make it.
    const db = openDatabase(databasePath(t.config));
    try {
      db.exec(`CREATE TRIGGER fail_approval BEFORE UPDATE OF state ON requests WHEN NEW.state = 'approved'
               BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
      await writer.client.publishAsync(IN, approve, { qos: 1 });
      await settle(1000);
      expect(requestState(t, shown.notice.requestId)).toBe('pending');
      db.exec('DROP TRIGGER fail_approval');
    } finally {
      db.close();
    }
    const since = lastSeq(t);
    await writer.client.publishAsync(IN, approve, { qos: 1 }); // the phone sends it again, unanswered
    await alice.status(shown.notice.requestId, (s) => s.state === 'uploaded', 10_000);
    expect(t.audit().filter((e) => e.seq > since && e.type === 'refusal')).toEqual([]);
    expect(receiver.requests).toHaveLength(2);
  });
});
