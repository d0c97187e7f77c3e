import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { keyLogin, Recorder } from '../helpers/mqtt.js';
import { DEVICE_KEY_FILE, readKeyFile } from '../../agent/owner/index.js';
import { RECEIPT_DOMAIN, verifyEnvelope } from '../../agent/requests/requester-key.js';
import { TestOwner } from '../helpers/owner.js';
import { makeRequest, REQUESTER, signedRequest } from '../helpers/protocol.js';

describe('a request approved by the owner (embedded broker)', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let owner: TestOwner;
  let requester: Recorder;
  const received = mkdtempSync(join(tmpdir(), 'received-'));

  beforeAll(async () => {
    t = await startTestAgent({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true } });
    owner = await TestOwner.create(t);
    receiver = await startEvidenceReceiver({ dir: received, ownerPublicKey: owner.publicKey });
    requester = await Recorder.connect(t.brokerUrl, [`requesters/${REQUESTER.keyId}/receipts`], await keyLogin(REQUESTER));
    for (let i = 0; i < 3; i++) await t.ring();
  }, 120_000);

  afterAll(async () => {
    await owner?.close();
    await requester?.close();
    await receiver?.stop();
    await t?.dispose();
    rmSync(received, { recursive: true, force: true });
  });

  it('uploads exactly the approved clips in a bundle whose signatures verify', async () => {
    expect(new Set(t.clips.map((c) => c.id)).size).toBe(3);
    const request = makeRequest({ uploadUrl: receiver.url('/put/case-1?X-Sig=secret') });
    await requester.client.publishAsync('doorbell/testdoor/request', signedRequest(request), { qos: 1 });

    const shown = await owner.notice(String(request.id));
    const { notice } = shown;
    // The full destination, never the presigned query string, and where the receipt goes.
    expect(notice.destination).toMatchObject({ scheme: 'http', path: '/put/case-1' });
    expect(JSON.stringify(notice)).not.toContain('X-Sig');
    expect(notice.receiptTo).toBe(`requesters/${REQUESTER.keyId}/receipts`);
    expect(notice.clips.map((c) => c.id).sort()).toEqual(t.clips.map((c) => c.id).sort());
    expect(notice.clips[0]!.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
    expect(receiver.requests).toHaveLength(0);

    const chosen = [notice.clips[0]!.id, notice.clips[2]!.id];
    await owner.decide(shown, 'approve', { clipIds: chosen });

    expect((await owner.status(String(request.id))).state).toBe('uploaded');
    expect(receiver.requests).toHaveLength(1);
    const got = receiver.requests[0]!;
    expect(got.method).toBe('PUT');
    expect(got.headers['content-type']).toBe('application/x-tar');
    expect(Number(got.headers['content-length'])).toBe(got.bytes);
    expect(got.verification?.problems).toEqual([]);
    expect(got.verification?.ok).toBe(true);
    const manifest = got.verification!.manifest!;
    expect(manifest.clips.map((c) => c.id).sort()).toEqual([...chosen].sort());
    for (const c of manifest.clips) expect(c.sha256).toBe(t.clips.find((x) => x.id === c.id)!.sha256);

    // The request is no longer pending, the owners get their receipt, and the requester its own.
    expect(await owner.session.ask()).not.toContain(request.id);
    const ownerReceipt = await owner.message((m) => m.kind === 'receipt' && m.body.requestId === request.id, 'the owner receipt');
    expect(ownerReceipt.body).toMatchObject({ manifestSha256: got.verification!.manifestSha256, receiptTo: `requesters/${REQUESTER.keyId}/receipts` });
    const receipt = await requester.waitFor(() => true);
    // Signed by the device key, over the receipt domain and the payload's exact bytes.
    const envelope = requester.json(receipt) as { v: number; key: string; payload: string; sig: string };
    expect(envelope.v).toBe(2);
    expect(verifyEnvelope(RECEIPT_DOMAIN, envelope)).toBe(readKeyFile(join(t.config.storage.dir, DEVICE_KEY_FILE)).keyId);
    expect(JSON.parse(envelope.payload)).toMatchObject({ v: 2, requestId: request.id, device: 'testdoor', manifestSha256: got.verification!.manifestSha256 });
    const types = t.audit().map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['request', 'notice', 'decision', 'upload-attempt', 'upload-result']));
  });

  it('sends nothing when the owner denies, and tells the requester nothing', async () => {
    const before = receiver.requests.length;
    const request = makeRequest({ uploadUrl: receiver.url('/put/case-2') });
    await requester.client.publishAsync('doorbell/testdoor/request', signedRequest(request), { qos: 1 });
    await owner.decide(await owner.notice(String(request.id)), 'deny');
    expect((await owner.status(String(request.id))).state).toBe('denied');
    await until(() => t.audit().some((e) => e.type === 'decision' && e.requestId === request.id));
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.requests.length).toBe(before);
    expect(requester.messages.filter((m) => m.payload.toString().includes(String(request.id)))).toHaveLength(0);
  });
});
