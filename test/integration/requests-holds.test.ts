/**
 * PROTOCOL.md "held (never evicted while the request is pending or uploading)", on a store so small
 * that every new clip evicts every clip it may: what survives is exactly what a request holds, and
 * a hold ends on deny, on expiry and on upload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { decisionFor, makeRequest, signedRequest, newOwner, type Notice } from '../helpers/protocol.js';
import { holdsOf, ringUntilTriggered, storedClipIds } from '../helpers/requests.js';

const D = 'doorbell/testdoor';

describe('held clips (storage.maxBytes far below one clip)', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let owner: Recorder;
  let requester: Recorder;
  const key = newOwner();

  beforeAll(async () => {
    t = await startTestAgent({
      storage: { maxBytes: 1000 },
      // Holds far beyond the cap, on purpose: this is about what holds keep (maxHeldShare is tested apart).
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxHeldShare: 1e6 },
    });
    receiver = await startEvidenceReceiver({ ownerPublicKey: key.publicKey });
    await t.control('owner-add', { name: 'Alice', publicKey: key.publicKey, sealingRecipient: key.sealingRecipient });
    owner = await Recorder.connect(t.brokerUrl, [`${D}/owner/inbox/+`, `${D}/request/+/status`]);
    requester = await Recorder.connect(t.brokerUrl, ['requesters/#']);
  }, 60_000);

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    await receiver?.stop();
    await t?.dispose();
  });

  async function pending(overrides: Record<string, unknown> = {}): Promise<Notice> {
    const request = makeRequest({ uploadUrl: receiver.url('/put/held'), ...overrides });
    await owner.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    const m = await owner.waitFor((x) => x.topic === `${D}/owner/inbox/${String(request.id)}` && x.payload.length > 0);
    return owner.json(m) as unknown as Notice;
  }

  const reached = (notice: Notice, state: string): Promise<unknown> =>
    owner.waitFor((m) => m.topic === `${D}/request/${notice.requestId}/status` && owner.json(m).state === state, 30_000, `state ${state}`);

  let first: Notice;
  let uploadedId = '';

  it('keeps the oldest clip while a request holds it, and evicts a newer unheld one instead', async () => {
    const a = await ringUntilTriggered(t);
    first = await pending();
    expect(first.clips.map((c) => c.id)).toEqual([a.id]);
    expect(holdsOf(t, first.requestId)).toEqual([a.id]);

    const b = await ringUntilTriggered(t);
    expect(storedClipIds(t).sort()).toEqual([a.id, b.id].sort());
    const c = await ringUntilTriggered(t);
    // Over the cap: b, the oldest clip not held, went; a, older still but held, stayed.
    expect(storedClipIds(t).sort()).toEqual([a.id, c.id].sort());
  });

  it('releases the holds on deny, after which the clip is evicted like any other', async () => {
    const a = first.clips[0]!.id;
    await owner.client.publishAsync(`${D}/owner/decision`, decisionFor(key, 'testdoor', first, 'deny'), { qos: 1 });
    await reached(first, 'denied');
    expect(holdsOf(t, first.requestId)).toEqual([]);
    const d = await ringUntilTriggered(t);
    expect(storedClipIds(t)).toEqual([d.id]);
    expect(storedClipIds(t)).not.toContain(a);
  });

  it('releases the holds when the request expires undecided', async () => {
    const notice = await pending({ expiresAt: iso(Date.now() + 3000) });
    expect(holdsOf(t, notice.requestId)).toHaveLength(1);
    await reached(notice, 'expired');
    expect(holdsOf(t, notice.requestId)).toEqual([]);
    await owner.waitFor((m) => m.topic === `${D}/owner/inbox/${notice.requestId}` && m.payload.length === 0);
    expect(t.audit().some((e) => e.type === 'expired' && e.requestId === notice.requestId)).toBe(true);
  });

  it('releases the holds once the upload succeeded', async () => {
    const notice = await pending();
    expect(holdsOf(t, notice.requestId)).toHaveLength(1);
    await owner.client.publishAsync(`${D}/owner/decision`, decisionFor(key, 'testdoor', notice, 'approve'), { qos: 1 });
    await reached(notice, 'uploaded');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.status).toBe(200);
    expect(holdsOf(t, notice.requestId)).toEqual([]);
    uploadedId = notice.requestId;
  });

  it('told the requester nothing about the denied and the expired request', async () => {
    // Only the receipt of the uploaded request, published right after its final status.
    await requester.waitFor(() => true);
    expect(requester.messages.map((m) => JSON.parse((requester.json(m) as { payload: string }).payload).requestId)).toEqual([uploadedId]);
  });
});
