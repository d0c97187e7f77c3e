/**
 * PROTOCOL.md "Decision": the five conditions, each broken on its own, against a running agent over
 * a real broker. Uploads to the receiver on 127.0.0.1 are allowed, so the refusal, not the network,
 * is what keeps it empty; the last test shows the same path delivering when the decision is valid.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import type { DecisionPayload } from '../../agent/owner/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type AuditEntry, type TestAgent } from '../helpers/agent.js';
import { Recorder, type Received } from '../helpers/mqtt.js';
import { decisionFor, makeRequest, REQUESTER, signedRequest, newOwner, type Notice } from '../helpers/protocol.js';
import { lastSeq, refusalsAfter, requestState, ringUntilTriggered, settle } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const MINUTE = 60_000;

describe('signed decisions the device must refuse (embedded broker)', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let owner: Recorder;
  const alice = newOwner();
  const bob = newOwner();
  let n = 0;

  beforeAll(async () => {
    t = await startTestAgent({
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 100, maxPending: 100, maxPendingUnknown: 100 },
    });
    receiver = await startEvidenceReceiver({ ownerPublicKey: alice.publicKey });
    await t.control('owner-add', { name: 'Alice', publicKey: alice.publicKey, sealingRecipient: alice.sealingRecipient });
    await t.control('owner-add', { name: 'Bob', publicKey: bob.publicKey, sealingRecipient: bob.sealingRecipient });
    await t.control('owner-revoke', { keyId: bob.keyId });
    owner = await Recorder.connect(t.brokerUrl, [`${D}/owner/inbox/+`, `${D}/request/+/status`]);
    await ringUntilTriggered(t);
    await ringUntilTriggered(t);
  }, 60_000);

  afterAll(async () => {
    await owner?.close();
    await receiver?.stop();
    await t?.dispose();
  });

  /** A fresh pending request matching only the second clip (the first ended before its window). */
  async function pending(): Promise<Notice> {
    const request = makeRequest({
      id: `${REQUESTER.keyId}.rfa-decision-${++n}`,
      window: { from: iso(t.clips[0]!.end + 1), to: iso(Date.now()) },
      uploadUrl: receiver.url(`/put/${n}?X-Sig=1`),
    });
    await owner.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    const m = await owner.waitFor((x) => x.topic === `${D}/owner/inbox/${String(request.id)}` && x.payload.length > 0);
    const notice = owner.json(m) as unknown as Notice;
    expect(notice.clips.map((c) => c.id)).toEqual([t.clips[1]!.id]);
    return notice;
  }

  async function send(envelope: string): Promise<void> {
    await owner.client.publishAsync(`${D}/owner/decision`, envelope, { qos: 1 });
  }

  const statusRefusal = (requestId: string, reason: string) => (m: Received): boolean =>
    m.topic === `${D}/request/${requestId}/status` && owner.json(m).detail === `decision refused: ${reason}`;

  /**
   * Sends the envelope and proves: refused for `reason` in the audit log, told to the owner on the
   * status topic when the request is known (and the signature good), request still pending, no HTTP.
   */
  async function expectRefused(
    notice: Notice,
    envelope: string,
    reason: string,
    opts: { ownerTold?: boolean; state?: string } = {},
  ): Promise<AuditEntry> {
    const since = lastSeq(t);
    await send(envelope);
    expect(await refusalsAfter(t, since, 1)).toEqual({ [reason]: 1 });
    const entry = t.audit().find((e) => e.seq > since && e.type === 'refusal')!;
    expect(entry.topic).toBe(`${D}/owner/decision`);
    if (opts.ownerTold ?? true) {
      await owner.waitFor(statusRefusal(notice.requestId, reason), 5000, `status "decision refused: ${reason}"`);
      expect(entry.requestId).toBe(notice.requestId);
    }
    await settle();
    expect(requestState(t, notice.requestId)).toBe(opts.state ?? 'pending');
    expect(receiver.requests).toHaveLength(0);
    return entry;
  }

  it('refuses a forged signature, without naming the request it claims', async () => {
    const notice = await pending();
    const envelope = JSON.parse(decisionFor(alice, 'testdoor', notice, 'approve')) as { payload: string };
    // The signed payload, edited after signing: a longer lifetime.
    envelope.payload = envelope.payload.replace(/"expiresAt":"[^"]+"/, `"expiresAt":"${iso(Date.now() + 50 * MINUTE)}"`);
    const entry = await expectRefused(notice, JSON.stringify(envelope), 'bad-signature', { ownerTold: false });
    expect(entry.requestId).toBeUndefined();
    expect(owner.messages.some(statusRefusal(notice.requestId, 'bad-signature'))).toBe(false);
  });

  it('refuses a key that was never enrolled', async () => {
    const notice = await pending();
    const mallory = newOwner();
    await expectRefused(notice, decisionFor(mallory, 'testdoor', notice, 'approve'), 'unknown-key', { ownerTold: false });
  });

  it('refuses a revoked key', async () => {
    const notice = await pending();
    const entry = await expectRefused(notice, decisionFor(bob, 'testdoor', notice, 'approve'), 'revoked-key', { ownerTold: false });
    expect(entry.keyId).toBe(bob.keyId);
  });

  it('refuses a decision for another device', async () => {
    const notice = await pending();
    await expectRefused(notice, decisionFor(alice, 'otherdoor', notice, 'approve'), 'wrong-device');
  });

  it('refuses a decision for a request the device does not have', async () => {
    const notice = await pending();
    const other = { ...notice, requestId: 'rfa-never-sent' };
    const since = lastSeq(t);
    await send(decisionFor(alice, 'testdoor', other, 'approve'));
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'unknown-request': 1 });
    await settle();
    expect(owner.messages.filter((m) => m.topic.includes('rfa-never-sent'))).toEqual([]);
    expect(requestState(t, notice.requestId)).toBe('pending');
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses a clip that is on the device but not in the request', async () => {
    const notice = await pending();
    const first = t.clips[0]!;
    const envelope = decisionFor(alice, 'testdoor', notice, 'approve', {
      edit: (p) => ({ ...p, clips: [...p.clips, { id: first.id, sha256: first.sha256 }] }),
    });
    await expectRefused(notice, envelope, 'clip-not-in-request');
  });

  it('refuses a clip with another hash than the one held', async () => {
    const notice = await pending();
    const envelope = decisionFor(alice, 'testdoor', notice, 'approve', {
      edit: (p) => ({ ...p, clips: p.clips.map((c) => ({ id: c.id, sha256: c.sha256.replace(/^./, c.sha256[0] === '0' ? '1' : '0') })) }),
    });
    await expectRefused(notice, envelope, 'clip-hash-mismatch');
  });

  it('refuses an approval for another destination (urlSha256)', async () => {
    const notice = await pending();
    const envelope = decisionFor(alice, 'testdoor', notice, 'approve', { edit: (p) => ({ ...p, urlSha256: 'ab'.repeat(32) }) });
    await expectRefused(notice, envelope, 'destination-mismatch');
  });

  const times = (issuedAt: number, expiresAt: number) => (p: DecisionPayload): DecisionPayload => ({
    ...p,
    issuedAt: iso(issuedAt),
    expiresAt: iso(expiresAt),
  });

  it('refuses an expired decision', async () => {
    const notice = await pending();
    const now = Date.now();
    await expectRefused(notice, decisionFor(alice, 'testdoor', notice, 'approve', { edit: times(now - 20 * MINUTE, now - 10 * MINUTE) }), 'expired');
  });

  it('refuses a decision issued more than 60 s in the future', async () => {
    const notice = await pending();
    const now = Date.now();
    await expectRefused(notice, decisionFor(alice, 'testdoor', notice, 'approve', { edit: times(now + 2 * MINUTE, now + 10 * MINUTE) }), 'issued-in-future');
  });

  it('refuses a decision valid for more than 1 h', async () => {
    const notice = await pending();
    const now = Date.now();
    await expectRefused(notice, decisionFor(alice, 'testdoor', notice, 'approve', { edit: times(now, now + 61 * MINUTE) }), 'lifetime-too-long');
  });

  it('refuses a deny that names clips, and an approval that names none', async () => {
    const notice = await pending();
    const clip = notice.clips[0]!;
    const denyWithClips = decisionFor(alice, 'testdoor', notice, 'deny', { edit: (p) => ({ ...p, clips: [{ id: clip.id, sha256: clip.sha256 }] }) });
    await expectRefused(notice, denyWithClips, 'deny-with-clips');
    const other = await pending();
    await expectRefused(other, decisionFor(alice, 'testdoor', other, 'approve', { clipIds: [] }), 'no-clips');
  });

  it('refuses a replayed decision: the same envelope again, and its nonce on another request', async () => {
    const a = await pending();
    const b = await pending();
    const deny = decisionFor(alice, 'testdoor', a, 'deny');
    await send(deny);
    await owner.waitFor((m) => m.topic === `${D}/request/${a.requestId}/status` && owner.json(m).state === 'denied');

    await expectRefused(a, deny, 'request-not-pending', { state: 'denied' });

    // A valid approval for b in every other respect, signed by Alice, reusing the nonce she spent on a.
    const { nonce } = JSON.parse((JSON.parse(deny) as { payload: string }).payload) as DecisionPayload;
    const reused = decisionFor(alice, 'testdoor', b, 'approve', { edit: (p) => ({ ...p, nonce }) });
    await expectRefused(b, reused, 'replayed-nonce');
  });

  it('still delivers a valid approval after all that, and refuses its replay', async () => {
    const notice = await pending();
    const approve = decisionFor(alice, 'testdoor', notice, 'approve');
    await send(approve);
    await owner.waitFor((m) => m.topic === `${D}/request/${notice.requestId}/status` && owner.json(m).state === 'uploaded', 30_000);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.path).toBe(`/put/${n}?X-Sig=1`);

    const since = lastSeq(t);
    await send(approve);
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'request-not-pending': 1 });
    await settle();
    expect(receiver.requests).toHaveLength(1);
  });
});
