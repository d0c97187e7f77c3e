/**
 * PROTOCOL.md "A request is invalid when", rule by rule, against running agents over a real broker.
 * Each agent is configured so that the rule under test is the only thing between the bad request
 * and a real receiver on 127.0.0.1; every test proves the receiver saw no HTTP request at all, the
 * owner was not disturbed, and the audit log holds the reason.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { sha256Hex } from '../../agent/owner/index.js';
import { encodeGeohash, geohashNeighbours } from '../../agent/requests/index.js';
import { startEvidenceReceiver, type EvidenceReceiver } from '../../scripts/evidence-receiver.js';
import { startTestAgent, type AuditEntry, type TestAgent } from '../helpers/agent.js';
import { Recorder } from '../helpers/mqtt.js';
import { b64url } from '../../agent/envelope/index.js';
import { deviceLogin, TestOwner } from '../helpers/owner.js';
import { makeRequest, newRequester, REQUESTER, signedRequest, type TestRequester } from '../helpers/protocol.js';
import { lastSeq, refusalsAfter, requestState, ringUntilTriggered, settle, tableLookup } from '../helpers/requests.js';

const D = 'doorbell/testdoor';
const HOME = { lat: 39.7817, lon: -89.6501 };
const HOME_CELL = encodeGeohash(HOME.lat, HOME.lon, 5);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

type Payload = Record<string, unknown> | string | Buffer;

/** One running agent with a receiver, an enrolled owner listening, and a requester listening. */
class Rig {
  t!: TestAgent;
  receiver!: EvidenceReceiver;
  owner!: TestOwner;
  requester!: Recorder;

  async start(overrides: Parameters<typeof startTestAgent>[0], opts: Parameters<typeof startTestAgent>[1] = {}): Promise<void> {
    this.receiver = await startEvidenceReceiver();
    this.t = await startTestAgent(overrides, opts);
    this.owner = await TestOwner.create(this.t);
    // Reads every requester's topics, as the broker's operator could: nothing may reach any of them.
    this.requester = await Recorder.connect(this.t.brokerUrl, ['requesters/#'], deviceLogin(this.t));
  }

  async stop(): Promise<void> {
    await this.owner?.close();
    await this.requester?.close();
    await this.receiver?.stop();
    await this.t?.dispose();
  }

  async send(payload: Payload, topic = `${D}/request`): Promise<void> {
    // Objects are request payloads, signed as a requester would; strings and buffers go out as they are.
    const body = Buffer.isBuffer(payload) ? payload : typeof payload === 'string' ? payload : signedRequest(payload);
    await this.requester.client.publishAsync(topic, body, { qos: 1 });
  }

  /** Sends every payload, then proves each was refused for the expected reasons and left no trace. */
  async expectRefused(payloads: Payload[], expected: Record<string, number>, topic?: string): Promise<AuditEntry[]> {
    const since = lastSeq(this.t);
    for (const p of payloads) await this.send(p, topic);
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    expect(await refusalsAfter(this.t, since, total)).toEqual(expected);
    await settle();
    this.expectUntouched(payloads);
    return this.t.audit().filter((e) => e.seq > since && e.type === 'refusal');
  }

  /** No HTTP request, no accepted request, nothing for the owner or the requester about these ids. */
  expectUntouched(payloads: Payload[]): void {
    expect(this.receiver.requests).toHaveLength(0);
    for (const p of payloads) {
      const id = typeof p === 'object' && !Buffer.isBuffer(p) && typeof p.id === 'string' ? p.id : undefined;
      if (!id) continue;
      expect(requestState(this.t, id)).toBeUndefined();
      expect(this.owner.messages.filter((m) => m.body.requestId === id)).toEqual([]);
    }
    expect(this.requester.messages).toEqual([]);
  }

  /** A request the receiver would get if it were approved: only the rule under test stands in the way. */
  request(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return makeRequest({ uploadUrl: this.receiver.url('/put/evidence?X-Sig=1'), ...overrides });
  }

  async pending(overrides: Record<string, unknown> = {}, by?: TestRequester): Promise<Record<string, unknown>> {
    const request = this.request(overrides);
    await this.send(by ? signedRequest(request, by) : request);
    await this.owner.notice(String(request.id));
    return request;
  }
}

function ago(ms: number): string {
  return iso(Date.now() - ms);
}

function ahead(ms: number): string {
  return iso(Date.now() + ms);
}

describe('invalid requests (switches on: only the rule under test stands between a request and the receiver)', () => {
  const rig = new Rig();

  beforeAll(async () => {
    await rig.start({
      device: { location: HOME },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true, maxPendingPerRequester: 2, maxPending: 4 },
      policy: { deny: { kinds: ['neighbor'], withoutCaseNumber: true }, requirePublicRequests: false },
    });
    await ringUntilTriggered(rig.t);
  }, 60_000);

  afterAll(() => rig.stop());

  it('refuses schema violations', async () => {
    const valid = rig.request();
    const entries = await rig.expectRefused(
      [
        { ...rig.request(), requester: undefined },
        rig.request({ requester: { name: 'Springfield PD', kind: 'journalist', caseNumber: '1' } }),
        rig.request({ id: '../etc/passwd' }),
        rig.request({ window: { from: '2026-11-22T14:00:00Z', to: ago(0) } }),
        rig.request({ upload: { url: 42, expiresAt: ahead(HOUR) } }),
        { ...rig.request(), reason: undefined },
        { ...valid, window: { from: (valid.window as { from: string }).from } },
      ],
      { schema: 7 },
    );
    expect(entries.every((e) => e.topic === `${D}/request`)).toBe(true);
  });

  it('refuses payloads that are no request at all: not JSON, not an object, not UTF-8, another version, over 64 KiB', async () => {
    await rig.expectRefused(
      [
        '{"v":1,"id":',
        '[1,2,3]',
        Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
        rig.request({ v: 1 }),
        rig.request({ reason: 'x'.repeat(64 * 1024) }),
        // Protocol v1: the bare request, signed by nobody.
        JSON.stringify(rig.request({ v: 1 })),
        // A valid signature, but over another payload.
        JSON.stringify({ ...JSON.parse(signedRequest(rig.request())), sig: JSON.parse(signedRequest(rig.request())).sig }),
      ],
      { 'not-json': 1, 'not-object': 1, 'not-utf8': 1, 'bad-version': 1, 'too-large': 1, unsigned: 1, 'bad-signature': 1 },
    );
  });

  it('refuses window.to <= window.from', async () => {
    const at = ago(5 * MINUTE);
    const [entry] = await rig.expectRefused(
      [rig.request({ window: { from: at, to: at } }), rig.request({ window: { from: ago(MINUTE), to: ago(5 * MINUTE) } })],
      { 'window-order': 2 },
    );
    expect(entry!.reason).toBe('window-order');
  });

  it('refuses a window longer than requests.maxWindowHours', async () => {
    const request = rig.request({ window: { from: ago(25 * HOUR), to: ago(0) } });
    const [entry] = await rig.expectRefused([request], { 'window-too-long': 1 });
    expect(entry).toMatchObject({ requestId: request.id, requester: 'Springfield PD' });
  });

  it('refuses a window starting in the future', async () => {
    await rig.expectRefused([rig.request({ window: { from: ahead(MINUTE), to: ahead(2 * MINUTE) } })], { 'window-future': 1 });
  });

  it('refuses expiresAt in the past or more than 30 days ahead', async () => {
    await rig.expectRefused(
      [rig.request({ expiresAt: ago(1000) }), rig.request({ expiresAt: ahead(31 * 24 * HOUR) })],
      { expired: 1, 'expires-too-late': 1 },
    );
  });

  it('refuses upload.expiresAt in the past', async () => {
    await rig.expectRefused([rig.request({ upload: { url: rig.receiver.url('/put/x'), expiresAt: ago(1000) } })], { 'upload-expired': 1 });
  });

  it('refuses an upload URL carrying user-info', async () => {
    const url = rig.receiver.url('/put/x').replace('http://', 'http://records:secret@');
    await rig.expectRefused([rig.request({ uploadUrl: url })], { 'user-info': 1 });
  });

  it('refuses an area request when the device lies outside the area', async () => {
    // About 1.1 km north of the device, 400 m across: the device is not in it.
    const area = { lat: HOME.lat + 0.01, lon: HOME.lon, radiusM: 400 };
    await rig.expectRefused([rig.request({ area })], { 'outside-area': 1 }, `doorbell/area/${HOME_CELL}/request`);
  });

  it('refuses an area over 2000 m in radius, even one that contains the device', async () => {
    await rig.expectRefused([rig.request({ area: { ...HOME, radiusM: 2001 } })], { 'area-too-large': 1 }, `doorbell/area/${HOME_CELL}/request`);
  });

  it('refuses a request on an area topic without an area', async () => {
    await rig.expectRefused([rig.request()], { 'area-missing': 1 }, `doorbell/area/${HOME_CELL}/request`);
  });

  it('hears area requests on its own geohash cell and its 8 neighbours', async () => {
    const cells = [HOME_CELL, ...geohashNeighbours(HOME_CELL)];
    expect(new Set(cells).size).toBe(9);
    // A window before any clip: accepted, yet nothing to hold, so no pending slot is used.
    const window = { from: ago(3 * HOUR), to: ago(2 * HOUR) };
    const sent = cells.map((cell) => ({ cell, request: rig.request({ window, area: { ...HOME, radiusM: 300 } }) }));
    for (const { cell, request } of sent) await rig.send(request, `doorbell/area/${cell}/request`);
    for (const { request } of sent) {
      expect(await rig.owner.status(String(request.id), () => true)).toMatchObject({ state: 'no-footage' });
    }
    expect(rig.receiver.requests).toHaveLength(0);
  });

  it('refuses by owner policy: a denied requester kind', async () => {
    const [entry] = await rig.expectRefused(
      [rig.request({ requester: { name: 'Nosy Neighbour', kind: 'neighbor', caseNumber: '7' } })],
      { policy: 1 },
    );
    expect(entry!.detail).toMatch(/neighbor/);
  });

  it('refuses by owner policy: no case number', async () => {
    const [entry] = await rig.expectRefused([rig.request({ requester: { name: 'Springfield PD', kind: 'police' } })], { policy: 1 });
    expect(entry!.detail).toMatch(/case number/);
  });

  it('refuses every replyTo outside requesters/{keyId}: the doorbell’s own topics, other systems’, hostile names', async () => {
    const mine = `requesters/${REQUESTER.keyId}`;
    await rig.expectRefused(
      [
        rig.request({ replyTo: `${D}/owner/in` }),
        rig.request({ replyTo: 'doorbell/otherdoor/request' }),
        rig.request({ replyTo: 'zigbee2mqtt/bridge/request/permit_join' }),
        rig.request({ replyTo: 'homeassistant/lock/front/config' }),
        rig.request({ replyTo: '$SYS/broker/log' }),
        rig.request({ replyTo: `${mine}/${Array.from({ length: 101 }, (_, i) => `l${i}`).join('/')}` }),
        rig.request({ replyTo: `${mine}/re\u0007ceipts` }),
      ],
      { 'bad-reply-to': 7 },
    );
  });

  it('ignores a repeated id from the same key; another key cannot squat an id (protocol v1 answered id-in-use)', async () => {
    const police = newRequester();
    const squatter = newRequester();
    const id = `${police.keyId}.case-9`;
    const since = lastSeq(rig.t);
    // The squatter signs first, with the police key's id: refused, so the id stays free.
    await rig.send(signedRequest(makeRequest({ by: squatter, id, uploadUrl: rig.receiver.url('/put/evidence?X-Sig=1') }), squatter));
    expect(await refusalsAfter(rig.t, since, 1)).toEqual({ 'id-not-in-namespace': 1 });
    const request = rig.request({ by: police, id, requester: { name: 'Repeat PD', kind: 'police', caseNumber: '9' } });
    await rig.send(signedRequest(request, police));
    await rig.owner.notice(id);
    const again = lastSeq(rig.t);
    await rig.send(signedRequest(request, police));
    expect(await refusalsAfter(rig.t, again, 1)).toEqual({ duplicate: 1 });
    await settle();
    const notices = rig.owner.messages.filter((m) => m.kind === 'notice' && m.body.requestId === request.id);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.body).toMatchObject({ requester: { name: 'Repeat PD', keyId: police.keyId, fingerprint: expect.stringMatching(/^[0-9a-f]{4}( [0-9a-f]{4}){3}$/) } });
    expect(requestState(rig.t, String(request.id))).toBe('pending');
    expect(rig.receiver.requests).toHaveLength(0);
  });

  it('counts requests.maxPendingPerRequester per key, whatever names it claims, then the device over requests.maxPending', async () => {
    const busy = newRequester();
    const first = await rig.pending({ by: busy, requester: { name: 'Busy PD', kind: 'police', caseNumber: '1' } }, busy);
    const second = await rig.pending({ by: busy, requester: { name: 'Another name', kind: 'police', caseNumber: '2' } }, busy);
    let [entry] = await rig.expectRefused([signedRequest(rig.request({ by: busy, requester: { name: 'A third name', kind: 'police', caseNumber: '3' } }), busy)], { 'rate-limited': 1 });
    expect(entry!.detail).toMatch(/requester already has 2 pending/);

    const { pendingRequests } = (await rig.t.control('status')) as { pendingRequests: string[] };
    expect(pendingRequests).toEqual(expect.arrayContaining([first.id, second.id]));
    for (let n = pendingRequests.length; n < 4; n++) {
      const filler = newRequester();
      await rig.pending({ by: filler, requester: { name: `Fill ${n}`, kind: 'insurer', caseNumber: String(n) } }, filler);
    }
    const fresh = newRequester();
    [entry] = await rig.expectRefused([signedRequest(rig.request({ by: fresh, requester: { name: 'Fresh PD', kind: 'police', caseNumber: '4' } }), fresh)], { 'rate-limited': 1 });
    expect(entry!.detail).toMatch(/device already has 4 pending/);
  });

  it('never told the requester anything', () => {
    expect(rig.requester.messages).toEqual([]);
  });
});

describe('destinations inside the owner’s network (http allowed, private destinations not)', () => {
  const rig = new Rig();
  const dns: Record<string, string[]> = {
    'evidence.test': ['93.184.216.34'],
    'loopback.test': ['127.0.0.1'],
    'private.test': ['10.20.30.40'],
    'link-local.test': ['169.254.169.254'],
    'loopback6.test': ['::1'],
    'mapped.test': ['::ffff:127.0.0.1'],
    'mixed.test': ['93.184.216.34', '127.0.0.1'],
    'unspecified.test': ['0.0.0.0'],
  };

  beforeAll(async () => {
    await rig.start({ requests: { allowInsecureUploads: true, allowPrivateDestinations: false } }, { lookup: tableLookup(dns) });
    await ringUntilTriggered(rig.t);
  }, 60_000);

  afterAll(() => rig.stop());

  const port = (): string => new URL(rig.receiver.url()).port;

  it('refuses a host resolving to 127.0.0.1, 10.x, 169.254.x, 0.0.0.0, ::1 or ::ffff:127.0.0.1, and no approval can revive it', async () => {
    const hosts = ['loopback.test', 'private.test', 'link-local.test', 'loopback6.test', 'mapped.test', 'mixed.test', 'unspecified.test'];
    const requests = hosts.map((host) => rig.request({ uploadUrl: `http://${host}:${port()}/put/evidence` }));
    const entries = await rig.expectRefused(requests, { 'private-address': hosts.length });
    expect(entries[0]!.detail).toMatch(/loopback/);

    // The owner cannot approve what was refused: the request does not exist for the device.
    const clip = rig.t.clips[0]!;
    const since = lastSeq(rig.t);
    for (const r of requests) {
      const now = Date.now();
      await rig.owner.session.send({
        v: 2,
        kind: 'decision',
        at: iso(now),
        device: 'testdoor',
        requestId: String(r.id),
        decision: 'approve',
        clips: [{ id: clip.id, sha256: clip.sha256 }],
        urlSha256: sha256Hex((r.upload as { url: string }).url),
        noticeSha256: sha256Hex('no notice was ever sent'),
        expiresAt: iso(now + 600_000),
        nonce: b64url(randomBytes(16)),
      });
    }
    expect(await refusalsAfter(rig.t, since, requests.length)).toEqual({ 'unknown-request': requests.length });
    await settle();
    rig.expectUntouched(requests);
  });

  it('refuses the same addresses written as IP literals, in any spelling', async () => {
    const p = port();
    const urls = [
      `http://127.0.0.1:${p}/put`,
      `http://10.0.0.1:${p}/put`,
      `http://169.254.169.254/latest/meta-data`,
      `http://[::1]:${p}/put`,
      `http://[::ffff:127.0.0.1]:${p}/put`,
      `http://0x7f.1:${p}/put`,
      `http://2130706433:${p}/put`,
      `http://0.0.0.0:${p}/put`,
      `http://[::]:${p}/put`,
      `http://100.64.0.1/put`,
      `http://224.0.0.1/put`,
      `http://[::ffff:7f00:1]:${p}/put`,
      `http://[64:ff9b::7f00:1]/put`,
      `http://[2002:7f00:1::1]/put`,
      `http://[fe80::1]/put`,
      `http://[fd00::1]/put`,
    ];
    await rig.expectRefused(urls.map((uploadUrl) => rig.request({ uploadUrl })), { 'private-address': urls.length });
  });

  it('checks the destination again when uploading: a name that turned private after intake gets nothing', async () => {
    dns['rebind.test'] = ['93.184.216.34'];
    const request = await rig.pending({ uploadUrl: `http://rebind.test:${port()}/put/evidence` });
    const shown = await rig.owner.notice(String(request.id));
    dns['rebind.test'] = ['127.0.0.1'];
    await rig.owner.decide(shown, 'approve');
    const failed = await rig.owner.status(String(request.id), (st) => st.state === 'failed');
    expect(failed.detail).toMatch(/destination refused: .*127\.0\.0\.1/);
    expect(rig.t.audit().some((e) => e.type === 'decision' && e.requestId === request.id)).toBe(true);
    await settle();
    expect(rig.receiver.requests).toHaveLength(0);
  });
});

describe('plain http without requests.allowInsecureUploads (private destinations allowed)', () => {
  const rig = new Rig();
  beforeAll(() => rig.start({ requests: { allowInsecureUploads: false, allowPrivateDestinations: true } }), 60_000);
  afterAll(() => rig.stop());

  it('refuses an http: upload URL', async () => {
    const [entry] = await rig.expectRefused([rig.request()], { 'not-https': 1 });
    expect(entry!.detail).toMatch(/http:/);
  });
});

describe('owner policy denying everything', () => {
  const rig = new Rig();
  beforeAll(
    () => rig.start({ requests: { allowInsecureUploads: true, allowPrivateDestinations: true }, policy: { deny: { all: true } } }),
    60_000,
  );
  afterAll(() => rig.stop());

  it('refuses every request, even a perfect one (policy can only deny)', async () => {
    const [entry] = await rig.expectRefused([rig.request()], { policy: 1 });
    expect(entry!.detail).toMatch(/declines all requests/);
  });
});
