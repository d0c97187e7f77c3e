/**
 * THREATS.md "broker reader": anyone who can read every topic learns only that traffic flows, its
 * sizes and timing. A subscriber to `#` watches a whole request go by (ring, request, notice,
 * approval, upload) and must see no JPEG byte, no requester name, reason or request id, and no clip
 * id: the broker's operator on the embedded broker (the device's own login, which reads everything)
 * and an anonymous client of a Mosquitto with no ACL at all. That is the crypto. On the embedded
 * broker an anonymous client and a key-authenticated one that is no owner read nothing at all: that
 * is the ACL. The requester's own plaintext (its request, and its receipt topic) is the requester's
 * to publish and is left out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { TestMosquitto } from '../helpers/mosquitto.js';
import { keyLogin, Recorder } from '../helpers/mqtt.js';
import { deviceLogin, TestOwner } from '../helpers/owner.js';
import { makeRequest, newRequester, signedRequest } from '../helpers/protocol.js';

const JPEG_START = Buffer.from([0xff, 0xd8, 0xff]);

async function watchOneRequest(t: TestAgent, requester: Recorder, receiver: EvidenceReceiver): Promise<{ secrets: string[] }> {
  const owner = await TestOwner.create(t);
  try {
    const clip = await t.ring();
    const request = makeRequest({
      uploadUrl: receiver.url('/put/secret-case'),
      requester: { name: 'Springfield PD Unit 7', kind: 'police', caseNumber: 'CASE-4471' },
      reason: 'Package theft on Elm St, parcel 55',
    });
    await requester.client.publishAsync('doorbell/testdoor/request', signedRequest(request), { qos: 1 });
    const shown = await owner.notice(String(request.id));
    expect(shown.notice.clips.map((c) => c.id)).toContain(clip.id);
    await owner.decide(shown, 'approve');
    expect((await owner.status(String(request.id))).state).toBe('uploaded');
    return { secrets: [String(request.id), 'Springfield PD Unit 7', 'Package theft on Elm St', 'CASE-4471', ...t.clips.map((c) => c.id)] };
  } finally {
    await owner.close();
  }
}

function expectNothingLearned(sniffer: Recorder, secrets: string[]): void {
  const seen = sniffer.messages.filter((m) => !/\/request$/.test(m.topic) && !m.topic.startsWith('requesters/'));
  // The sealed owner channel did carry the whole exchange: it was there to be read, and was not readable.
  expect(seen.some((m) => m.topic === 'doorbell/testdoor/owner/out')).toBe(true);
  expect(seen.some((m) => m.topic === 'doorbell/testdoor/owner/in')).toBe(true);
  for (const m of seen) {
    const text = `${m.topic}\n${m.payload.toString('latin1')}`;
    expect(m.payload.includes(JPEG_START), `JPEG bytes on ${m.topic}`).toBe(false);
    for (const secret of secrets) expect(text.includes(secret), `${secret} on ${m.topic}`).toBe(false);
  }
}

describe('a broker reader on the embedded broker', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  afterAll(async () => {
    await receiver?.stop();
    await t?.dispose();
  });

  it('sees traffic, not what was recorded, requested or decided, even as the broker’s operator; strangers see nothing', async () => {
    t = await startTestAgent({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true } });
    receiver = await startEvidenceReceiver();
    const operator = await Recorder.connect(t.brokerUrl, ['#'], deviceLogin(t));
    const anonymous = await Recorder.connect(t.brokerUrl, []);
    const stranger = await Recorder.connect(t.brokerUrl, [], await keyLogin(newRequester()));
    const everything = ['#', '+/#', 'doorbell/#', 'doorbell/testdoor/owner/+', 'doorbell/+/owner/out', 'requesters/#'];
    try {
      for (const reader of [anonymous, stranger]) {
        const refused = await reader.client.subscribeAsync(everything, { qos: 1 }).catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted);
        expect(refused).toEqual(everything.map(() => 128));
      }
      const { secrets } = await watchOneRequest(t, anonymous, receiver);
      expectNothingLearned(operator, secrets);
      expect(anonymous.messages).toEqual([]);
      expect(stranger.messages).toEqual([]);
    } finally {
      for (const r of [operator, anonymous, stranger]) await r.close();
    }
  }, 120_000);
});

describe('a broker reader on Mosquitto with no ACL', () => {
  const mosquitto = new TestMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'broker-reader-'));
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  afterAll(async () => {
    await receiver?.stop();
    await t?.dispose();
    await mosquitto.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees traffic, not what was recorded, requested or decided', async () => {
    await mosquitto.start();
    t = await startTestAgent({ mqtt: { url: mosquitto.url }, requests: { allowInsecureUploads: true, allowPrivateDestinations: true } }, { dir });
    receiver = await startEvidenceReceiver();
    const sniffer = await Recorder.connect(mosquitto.url, ['#']);
    try {
      const { secrets } = await watchOneRequest(t, sniffer, receiver);
      expectNothingLearned(sniffer, secrets);
    } finally {
      await sniffer.close();
    }
  }, 120_000);
});
