/**
 * PROTOCOL.md "held (never evicted while the request is pending or uploading)", on a store so small
 * that every new clip evicts every clip it may: what survives is exactly what a request holds, and
 * a hold ends on deny, on expiry and on upload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { keyLogin, Recorder } from '../helpers/mqtt.js';
import type { ShownNotice } from '../../agent/cli/owner-session.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, REQUESTER, signedRequest } from '../helpers/protocol.js';
import { holdsOf, ringUntilTriggered, storedClipIds } from '../helpers/requests.js';

const D = 'doorbell/testdoor';

describe('held clips (storage.maxBytes far below one clip)', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let owner: TestOwner;
  let requester: Recorder;

  beforeAll(async () => {
    t = await startTestAgent({
      storage: { maxBytes: 1000 },
      // Holds far beyond the cap, on purpose: this is about what holds keep (maxHeldShare is tested apart).
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxHeldShare: 1e6 },
    });
    owner = await TestOwner.create(t);
    receiver = await startEvidenceReceiver({ ownerPublicKey: owner.publicKey });
    // Logged in with its key: the only login that may read its receipts.
    requester = await Recorder.connect(t.brokerUrl, [`requesters/${REQUESTER.keyId}/#`], await keyLogin(REQUESTER));
  }, 60_000);

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    await receiver?.stop();
    await t?.dispose();
  });

  async function pending(overrides: Record<string, unknown> = {}): Promise<ShownNotice> {
    const request = makeRequest({ uploadUrl: receiver.url('/put/held'), ...overrides });
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    return owner.notice(String(request.id));
  }

  const reached = (shown: ShownNotice, state: string): Promise<unknown> => owner.status(shown.notice.requestId, (s) => s.state === state);

  let first: ShownNotice;
  let uploadedId = '';

  it('keeps the oldest clip while a request holds it, and evicts a newer unheld one instead', async () => {
    const a = await ringUntilTriggered(t);
    first = await pending();
    expect(first.notice.clips.map((c) => c.id)).toEqual([a.id]);
    expect(holdsOf(t, first.notice.requestId)).toEqual([a.id]);

    const b = await ringUntilTriggered(t);
    expect(storedClipIds(t).sort()).toEqual([a.id, b.id].sort());
    const c = await ringUntilTriggered(t);
    // Over the cap: b, the oldest clip not held, went; a, older still but held, stayed.
    expect(storedClipIds(t).sort()).toEqual([a.id, c.id].sort());
  });

  it('releases the holds on deny, after which the clip is evicted like any other', async () => {
    const a = first.notice.clips[0]!.id;
    await owner.decide(first, 'deny');
    await reached(first, 'denied');
    expect(holdsOf(t, first.notice.requestId)).toEqual([]);
    const d = await ringUntilTriggered(t);
    expect(storedClipIds(t)).toEqual([d.id]);
    expect(storedClipIds(t)).not.toContain(a);
  });

  it('releases the holds when the request expires undecided', async () => {
    const shown = await pending({ expiresAt: iso(Date.now() + 3000) });
    const id = shown.notice.requestId;
    expect(holdsOf(t, id)).toHaveLength(1);
    await reached(shown, 'expired');
    expect(holdsOf(t, id)).toEqual([]);
    expect(await owner.session.ask()).not.toContain(id);
    expect(t.audit().some((e) => e.type === 'expired' && e.requestId === id)).toBe(true);
  });

  it('releases the holds once the upload succeeded', async () => {
    const shown = await pending();
    const notice = shown.notice;
    expect(holdsOf(t, notice.requestId)).toHaveLength(1);
    await owner.decide(shown, 'approve');
    await reached(shown, 'uploaded');
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
