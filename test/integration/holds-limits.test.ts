/**
 * The owner's limits on holds (issue 14): a request that would hold more than requests.maxHeldShare
 * of storage.maxBytes is refused at intake, audited, holding nothing; a hold older than
 * requests.maxHoldDays is released and its request expires.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { makeRequest, newOwner, signedRequest } from '../helpers/protocol.js';
import { holdsOf, refusalsAfter, lastSeq, requestState, ringUntilTriggered } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const LAN = { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingUnknown: 20 };

describe('limits on holds', () => {
  let t: TestAgent;
  let requester: Recorder;
  const key = newOwner();

  beforeAll(async () => {
    t = await startTestAgent({
      // 3 s of hold at most; held clips may take 1 byte of a 1 GB store (so none may be held).
      storage: { maxBytes: 1e9 },
      requests: { ...LAN, maxHoldDays: 3 / 86_400, maxHeldShare: 1e-9 },
    });
    await t.control('owner-add', { name: 'Alice', publicKey: key.publicKey, sealingRecipient: key.sealingRecipient });
    requester = await Recorder.connect(t.brokerUrl, []);
    await ringUntilTriggered(t);
  }, 60_000);

  afterAll(async () => {
    await requester?.close();
    await t?.dispose();
  });

  it('refuses at intake a request whose holds would pass maxHeldShare, and holds nothing', async () => {
    const since = lastSeq(t);
    const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put' });
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    expect(await refusalsAfter(t, since, 1)).toEqual({ 'holds-full': 1 });
    const refusal = t.audit().find((e) => e.seq > since && e.type === 'refusal');
    expect(refusal).toMatchObject({ reason: 'holds-full', requestId: request.id, limitBytes: 1 });
    expect(requestState(t, String(request.id))).toBeUndefined();
    expect(holdsOf(t, String(request.id))).toEqual([]);
  });

  it('releases holds older than maxHoldDays: the pending request expires', async () => {
    await t.agent.stop();
    // Same store, room for holds now; holds still last 3 s.
    t = await startTestAgent({ storage: { maxBytes: 1e9 }, requests: { ...LAN, maxHoldDays: 3 / 86_400 } }, { dir: t.dir });
    await requester.close();
    requester = await Recorder.connect(t.brokerUrl, []);
    const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put' });
    const id = String(request.id);
    await requester.client.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await until(() => requestState(t, id) === 'pending', 15_000, 'the request pending');
    expect(holdsOf(t, id)).toHaveLength(1);
    await until(() => requestState(t, id) === 'expired', 15_000, 'the hold to be released');
    expect(holdsOf(t, id)).toEqual([]);
    const closed = t.audit().find((e) => e.type === 'expired' && e.requestId === id);
    expect(String(closed?.detail)).toContain('held longer than requests.maxHoldDays');
  });
});
