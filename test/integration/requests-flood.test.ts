/**
 * PROTOCOL.md "A burst is summarised … so a flood cannot fill the disk": 10 000 malformed or
 * oversized messages over every inbound topic of a running agent. It keeps answering, its memory
 * stays bounded, every refusal is counted in audit rows that grow with the flood's duration, not its
 * number of messages, and the owner can still approve.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connectAsync, type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { sha256Hex } from '../../agent/owner/index.js';
import { encodeGeohash, geohashNeighbours } from '../../agent/requests/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { b64url, sealMessage } from '../../agent/envelope/index.js';
import { readDevicePublicKeys } from '../../agent/owner/index.js';
import { deviceLogin, newOwnerKeyFile, TestOwner } from '../helpers/owner.js';
import { makeRequest, signedRequest } from '../helpers/protocol.js';
import { lastSeq, refusalsAfter, ringUntilTriggered, settle } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const HOME = { lat: 39.7817, lon: -89.6501 };
const MESSAGES = 10_000;
const IN_FLIGHT = 20;
const MB = 1024 * 1024;
/**
 * rss is this whole test process: the agent, the in-process broker, the flooding client and vitest.
 * The flood carries about 70 MB of oversized payloads through all three, and the allocator keeps
 * freed pages rather than give them back, so rss grows with what was in transit at once (measured:
 * 40-90 MB); its bound is generous, and only catches runaway growth. What stays referenced is
 * measured after full garbage collections (measured: about 3 MB): an agent keeping even a quarter of
 * what it refused (payloads, per-message records, an unbounded queue) would exceed its bound.
 */
const RSS_GROWTH_BOUND = 150 * MB;
const RETAINED_GROWTH_BOUND = 16 * MB;

/** A full garbage collection, so what is measured afterwards is what stays referenced. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const retained = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external;

/** A small deterministic generator, so a failing flood can be replayed exactly. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('a flood of bad messages on every inbound topic (embedded broker)', () => {
  let t: TestAgent;
  let receiver: EvidenceReceiver;
  let owner: TestOwner;
  let flooder: MqttClient;
  /** Sealed owner messages the device must refuse: forged, from a stranger, for a request it never had. */
  let sealedBad: Buffer[] = [];
  const received = mkdtempSync(join(tmpdir(), 'received-'));
  const cell = encodeGeohash(HOME.lat, HOME.lon, 5);
  const topics = [`${D}/request`, ...[cell, ...geohashNeighbours(cell)].map((h) => `doorbell/area/${h}/request`), `${D}/owner/in`, `${D}/pair`];

  beforeAll(async () => {
    t = await startTestAgent({
      device: { location: HOME },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
    });
    owner = await TestOwner.create(t);
    receiver = await startEvidenceReceiver({ dir: received, ownerPublicKey: owner.publicKey });
    // The device's own broker login: only the device's checks, not the ACL, stand in the way.
    flooder = await connectAsync(t.brokerUrl, deviceLogin(t));
    const stranger = await newOwnerKeyFile();
    const device = readDevicePublicKeys(t.config.storage.dir)!;
    const now = Date.now();
    const decision = {
      v: 2 as const,
      kind: 'decision',
      at: iso(now),
      device: 'testdoor',
      requestId: 'flood-never',
      decision: 'deny',
      clips: [],
      urlSha256: sha256Hex('x'),
      noticeSha256: sha256Hex('y'),
      expiresAt: iso(now + 3600_000),
      nonce: b64url(randomBytes(16)),
    };
    const IN = `${D}/owner/in`;
    const forged = { keyId: owner.keyId, sign: stranger.signer.sign };
    sealedBad = await Promise.all(
      [forged, stranger.signer, owner.key.signer].map(async (signer) =>
        Buffer.from((await sealMessage(signer, IN, decision, [device.sealingRecipient])).ciphertext),
      ),
    );
    await ringUntilTriggered(t);
  }, 60_000);

  afterAll(async () => {
    await flooder?.endAsync(true);
    await owner?.close();
    await receiver?.stop();
    await t?.dispose();
    rmSync(received, { recursive: true, force: true });
  });

  /** Message number i: garbage, broken JSON, wrong types, oversized, or a valid message mutated. */
  function badMessage(i: number, random: () => number): Buffer {
    const valid = makeRequest({ id: `flood-${i}`, uploadUrl: receiver.url('/put/flood') });
    switch (i % 10) {
      case 0: {
        const bytes = Buffer.alloc(1 + Math.floor(random() * 512));
        for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(random() * 256);
        bytes[0] = 0xff; // never valid UTF-8, so never accidentally valid JSON
        return bytes;
      }
      case 1:
        return Buffer.from(JSON.stringify(valid).slice(0, 1 + Math.floor(random() * 200)));
      case 2:
        return Buffer.from(JSON.stringify({ v: '1', id: i, requester: [], window: 'yesterday', keyId: 7, payload: {}, sig: null }));
      case 3: {
        // Just over the 64 KiB limit for requests and decisions alike.
        const size = 64 * 1024 + 1 + Math.floor(random() * 4096);
        return Buffer.from(JSON.stringify({ ...valid, reason: 'x'.repeat(size) }));
      }
      case 4:
        return Buffer.from(JSON.stringify({ ...valid, window: { from: iso(Date.now() + 3600_000), to: iso(Date.now() + 7200_000) } }));
      case 5:
        return Buffer.from(JSON.stringify({ ...valid, requester: { name: 'Flood', kind: 'alien' } }));
      case 6:
        return Buffer.from(JSON.stringify({ ...valid, expiresAt: iso(Date.now() - 1000) }));
      case 7:
        // Sealed to the device, claiming the enrolled owner's key id, signed by someone else.
        return sealedBad[0]!;
      case 8:
        return sealedBad[1]!;
      default:
        // Validly signed by the enrolled owner, for a request this device never had.
        return sealedBad[2]!;
    }
  }

  it('keeps running, stays bounded, and counts every refusal in rows bounded by time, not by messages', async () => {
    const random = prng(42);
    const sentPerTopic = new Map<string, number>();
    const since = lastSeq(t);
    collectGarbage();
    const before = process.memoryUsage();
    const started = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < MESSAGES; i = next++) {
        const topic = topics[Math.floor(random() * topics.length)]!;
        sentPerTopic.set(topic, (sentPerTopic.get(topic) ?? 0) + 1);
        await flooder.publishAsync(topic, badMessage(i, random), { qos: 1 });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    expect([...sentPerTopic.keys()].sort()).toEqual([...topics].sort());

    const tally = await refusalsAfter(t, since, MESSAGES, 60_000);
    // Every refusal is in the log now (the last summaries included): the flood's whole span.
    const floodSeconds = Math.ceil((Date.now() - started) / 1000);
    // ArrayBuffer memory is given back by a background sweeper after a collection: let it run.
    for (let i = 0; i < 2; i++) {
      collectGarbage();
      await settle(200);
    }
    collectGarbage();
    const after = process.memoryUsage();
    expect(Object.values(tally).reduce((a, b) => a + b, 0)).toBe(MESSAGES);
    expect(await t.control('status')).toMatchObject({ pendingRequests: [] });
    expect(after.rss - before.rss).toBeLessThan(RSS_GROWTH_BOUND);
    expect(retained(after) - retained(before)).toBeLessThan(RETAINED_GROWTH_BOUND);

    const rows = t.audit().filter((e) => e.seq > since);
    expect(rows.every((e) => e.type === 'refusal')).toBe(true);
    // Per topic: every message counted, in rows that grow with time, not with messages. The first
    // refusal of a second is written at once and the rest of that second folded into one summary row
    // written when it ends, so a topic gets at most two rows in any second (a summary of the one
    // before and a first refusal) and at most two per second of the flood, plus the seconds it
    // started and ended in.
    for (const topic of topics) {
      const mine = rows.filter((e) => e.topic === topic);
      expect(mine.reduce((sum, e) => sum + Number(e.count), 0)).toBe(sentPerTopic.get(topic));
      expect(mine.length).toBeLessThanOrEqual(2 * (floodSeconds + 2));
      const perSecond = new Map<string, number>();
      for (const e of mine) {
        const second = String(e.at).slice(0, 19);
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      }
      expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(2);
    }
    expect(receiver.requests).toHaveLength(0);
  }, 120_000);

  it('still delivers an owner approval afterwards', async () => {
    const request = makeRequest({ uploadUrl: receiver.url('/put/after-flood') });
    await flooder.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    const shown = await owner.notice(String(request.id));
    const notice = shown.notice;
    await owner.decide(shown, 'approve');
    await owner.status(notice.requestId, (st) => st.state === 'uploaded');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.verification).toMatchObject({ ok: true, problems: [] });
    expect(receiver.requests[0]!.verification!.manifest!.requestId).toBe(notice.requestId);
  });
});
