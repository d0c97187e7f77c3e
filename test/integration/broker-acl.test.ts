/**
 * protocol.md "Broker access" on the embedded broker, tried as an attacker would with real MQTT
 * clients against a real agent: each role's logins, publishes, subscriptions (wildcards too) and
 * deliveries, the Will, client id takeover, a revoked owner key, and WebSocket upgrades from pages
 * of other origins.
 */
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateOwnerKey } from '../../agent/owner/index.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { startEmbeddedBroker, type TestBroker } from '../helpers/broker.js';
import { keyLogin, Recorder, type Received } from '../helpers/mqtt.js';
import { deviceLogin, TestOwner } from '../helpers/owner.js';
import { freePort } from '../helpers/ports.js';
import { makeRequest, newRequester, signedRequest } from '../helpers/protocol.js';
import { settle } from '../helpers/requests.js';

const D = 'doorbell/testdoor';

/** A client that records what it receives; connect errors (CONNACK refusals) reject. */
async function client(url: string, opts: IClientOptions = {}): Promise<MqttClient & { received: Received[] }> {
  const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  const received: Received[] = [];
  c.on('message', (topic, payload, packet) => received.push({ topic, payload, retain: packet.retain }));
  return Object.assign(c, { received });
}

/** The granted QoS of each filter: 128 where the SUBACK refused it. */
async function granted(c: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => (c.disconnected || !c.connected ? resolve() : c.once('close', () => resolve())));
}

async function refusedCode(url: string, opts: IClientOptions): Promise<unknown> {
  const err = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts }).then(
    async (c) => {
      await c.endAsync(true);
      return undefined;
    },
    (e: Error & { code?: unknown }) => e,
  );
  expect(err, 'the broker refused the login').toBeInstanceOf(Error);
  return (err as { code?: unknown }).code;
}

describe('the embedded broker enforces the roles of protocol.md "Broker access"', () => {
  let t: TestAgent;
  let webPort = 0;
  let device: Recorder;
  const clients: MqttClient[] = [];
  const track = <C extends MqttClient>(c: C): C => (clients.push(c), c);

  beforeAll(async () => {
    webPort = await freePort();
    t = await startTestAgent({
      web: { enabled: true, listen: `127.0.0.1:${webPort}` },
      requests: { allowInsecureUploads: true, allowPrivateDestinations: true },
    });
    device = await Recorder.connect(t.brokerUrl, ['#'], { ...deviceLogin(t), clientId: 'operator' });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await device?.close();
    await t?.dispose();
  });

  it('keeps the device’s password in storage.dir/broker-secret (0600); the device reads and writes everything', async () => {
    const file = join(t.config.storage.dir, 'broker-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(deviceLogin(t).username).toBe('device');
    // The agent's own link logged in with it: its retained state is there.
    await device.waitFor((m) => m.topic === `${D}/state`, 10_000, 'the retained state');
    const sys = track(await client(t.brokerUrl, deviceLogin(t)));
    expect(await granted(sys, ['$SYS/#'])).toEqual([1]);
  });

  it('refuses every subscription of an anonymous client (SUBACK 0x80), wildcards included, so a ring shows it nothing', async () => {
    const anon = track(await client(t.brokerUrl));
    const filters = ['#', '+/+/pair/#', `${D}/#`, 'doorbell/+/owner/out', `${D}/owner/out`, `${D}/state`, `${D}/event`, `${D}/pair/+/answer`, 'requesters/#', '$SYS/#'];
    expect(await granted(anon, filters)).toEqual(filters.map(() => 128));
    await t.ring();
    await device.waitFor((m) => m.topic === `${D}/event`, 10_000, 'the ring at the operator');
    await settle(300);
    expect(anon.received).toEqual([]);
    expect(anon.connected).toBe(true);
  }, 60_000);

  it('takes in a request an anonymous client publishes', async () => {
    const anon = track(await client(t.brokerUrl));
    const request = makeRequest({ uploadUrl: 'http://127.0.0.1:9/put/x' });
    await anon.publishAsync(`${D}/request`, signedRequest(request), { qos: 1 });
    await until(() => t.audit().some((e) => e.type === 'request' && e.requestId === request.id), 15_000, 'the request in the audit log');
  });

  it('closes an anonymous client that publishes outside the pairing and request topics, and drops what it sent', async () => {
    const anon = track(await client(t.brokerUrl));
    const gone = closed(anon);
    anon.publish(`${D}/owner/in`, 'forged', { qos: 1 });
    await gone;
    await settle(300);
    expect(device.messages.some((m) => m.topic === `${D}/owner/in`)).toBe(false);
  });

  it('publishes an anonymous client’s Will only where it may publish', async () => {
    const forged = '{"v":2,"online":false,"forged":true}';
    const bad = track(await client(t.brokerUrl, { will: { topic: `${D}/state`, payload: Buffer.from(forged), qos: 1, retain: true } }));
    const good = track(await client(t.brokerUrl, { will: { topic: `${D}/pair`, payload: Buffer.from('will-on-pair'), qos: 1, retain: false } }));
    bad.stream.destroy();
    good.stream.destroy();
    await device.waitFor((m) => m.topic === `${D}/pair` && m.payload.toString() === 'will-on-pair', 10_000, 'the allowed Will');
    await settle(300);
    expect(device.messages.some((m) => m.payload.toString() === forged)).toBe(false);
    const late = track(await client(t.brokerUrl, deviceLogin(t)));
    await late.subscribeAsync(`${D}/state`, { qos: 1 });
    await settle(300);
    expect(late.received.map((m) => m.payload.toString())).not.toContain(forged);
  });

  it('lets a key-authenticated client read its own pairing replies and receipts, and no other key’s', async () => {
    const mine = newRequester();
    const other = newRequester();
    const c = track(await client(t.brokerUrl, await keyLogin(mine)));
    expect(await granted(c, [`${D}/pair/${mine.keyId}/#`, `requesters/${mine.keyId}/#`])).toEqual([1, 1]);
    const refused = [`${D}/pair/${other.keyId}/#`, `${D}/pair/+/answer`, `${D}/pair/#`, 'requesters/#', 'requesters/+/receipts', `${D}/owner/out`, `${D}/state`, '#', `+/+/pair/${mine.keyId}/#`];
    expect(await granted(c, refused)).toEqual(refused.map(() => 128));
    for (const topic of [`${D}/pair/${other.keyId}/answer`, `requesters/${other.keyId}/receipts`, `${D}/pair/${mine.keyId}/answer`, `requesters/${mine.keyId}/receipts`]) {
      await device.client.publishAsync(topic, 'x', { qos: 1 });
    }
    await until(() => c.received.length >= 2, 10_000, 'its own two messages');
    await settle(300);
    expect(c.received.map((m) => m.topic).sort()).toEqual([`${D}/pair/${mine.keyId}/answer`, `requesters/${mine.keyId}/receipts`]);
    // It may offer a pairing and ask for footage, like anyone.
    await c.publishAsync(`${D}/pair`, '{}', { qos: 1 });
    await c.publishAsync('doorbell/area/dp3wj/request', '{}', { qos: 1 });
    expect(c.connected).toBe(true);
  });

  it('refuses a stale or forged key login and a wrong password (CONNACK 4, bad user name or password)', async () => {
    const key = newRequester();
    const other = newRequester();
    expect(await refusedCode(t.brokerUrl, await keyLogin(key, { at: Date.now() - 301_000 }))).toBe(4);
    expect(await refusedCode(t.brokerUrl, await keyLogin(key, { at: Date.now() + 301_000 }))).toBe(4);
    const forged = await keyLogin(other);
    expect(await refusedCode(t.brokerUrl, { ...forged, username: (await keyLogin(key)).username })).toBe(4);
    // Signed for another client id: a captured password is no good under another id.
    const captured = await keyLogin(key);
    expect(await refusedCode(t.brokerUrl, { ...captured, clientId: 'someone-else' })).toBe(4);
    expect(await refusedCode(t.brokerUrl, { username: 'device', password: 'guess' })).toBe(4);
    expect(await refusedCode(t.brokerUrl, { username: 'homeassistant', password: 'guess' })).toBe(4);
    expect(await refusedCode(t.brokerUrl, { username: 'admin', password: 'admin' })).toBe(4);
    // Still fresh at 299 s.
    track(await client(t.brokerUrl, await keyLogin(key, { at: Date.now() - 299_000 })));
  });

  it('gives an enrolled owner the sealed owner topics, and takes them away when the key is revoked', async () => {
    const owner = await TestOwner.create(t, { name: 'Revoked later' });
    try {
      // Its session subscribed to the sealed topics and the device answered its ask there.
      expect(owner.session.synced).toBe(true);
      const raw = track(await client(t.brokerUrl, await keyLogin(owner.key)));
      expect(await granted(raw, [`${D}/state`, `${D}/owner/out`, `${D}/owner/snapshot`, `${D}/transparency`, `${D}/owner/audit/proof`])).toEqual([1, 1, 1, 1, 1]);
      await raw.publishAsync(`${D}/owner/audit/ask`, JSON.stringify({ v: 2, oldSize: 1, newSize: 1 }), { qos: 1 });
      await until(() => raw.received.some((m) => m.topic === `${D}/owner/audit/proof`), 10_000, 'the proof answer');
      expect(await granted(raw, [`${D}/event`, `${D}/owner/#`, `${D}/owner/+`])).toEqual([128, 128, 128]);

      const gone = closed(raw);
      await t.control('owner-revoke', { keyId: owner.keyId });
      await gone;
      const again = track(await client(t.brokerUrl, await keyLogin(owner.key)));
      expect(await granted(again, [`${D}/owner/out`, `${D}/owner/snapshot`, `${D}/state`])).toEqual([128, 128, 128]);
      const closing = closed(again);
      again.publish(`${D}/owner/in`, 'a sealed ask', { qos: 1 });
      await closing;
      await settle(300);
      expect(device.messages.some((m) => m.topic === `${D}/owner/in` && m.payload.toString() === 'a sealed ask')).toBe(false);
    } finally {
      await owner.close();
    }
  }, 60_000);

  it('never lets another login take a connected client’s id: not the device’s, not another key’s', async () => {
    expect(await refusedCode(t.brokerUrl, { clientId: 'doorbell-testdoor' })).toBe(2);
    const a = newRequester();
    const b = newRequester();
    const first = track(await client(t.brokerUrl, await keyLogin(a, { clientId: 'phone-a' })));
    expect(await refusedCode(t.brokerUrl, await keyLogin(b, { clientId: 'phone-a' }))).toBe(2);
    expect(await refusedCode(t.brokerUrl, { clientId: 'phone-a' })).toBe(2);
    // The same key may: a phone whose old connection has not timed out yet.
    const gone = closed(first);
    track(await client(t.brokerUrl, await keyLogin(a, { clientId: 'phone-a' })));
    await gone;
    // The device's link stayed up: a ring still reaches the broker.
    const before = device.messages.length;
    await t.ring();
    await device.waitFor((m) => device.messages.indexOf(m) >= before && m.topic === `${D}/event`, 10_000, 'the next ring');
  }, 60_000);

  it('lets Home Assistant log in with its own password and read the plaintext topics and discovery only', async () => {
    const password = readFileSync(join(t.config.storage.dir, 'broker-secret-homeassistant'), 'utf8').trim();
    expect(statSync(join(t.config.storage.dir, 'broker-secret-homeassistant')).mode & 0o777).toBe(0o600);
    const ha = track(await client(t.brokerUrl, { username: 'homeassistant', password }));
    expect(await granted(ha, [`${D}/event`, `${D}/state`, `${D}/snapshot`, 'homeassistant/#'])).toEqual([1, 1, 1, 1]);
    expect(await granted(ha, [`${D}/owner/out`, '#', `${D}/#`, 'requesters/#'])).toEqual([128, 128, 128, 128]);
    await until(() => ha.received.some((m) => m.topic.startsWith('homeassistant/') && m.topic.endsWith('/config')), 10_000, 'discovery');
    await ha.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await t.ring();
    await until(() => ha.received.some((m) => m.topic === `${D}/event`), 10_000, 'the plaintext ring');
  }, 60_000);

  describe('WebSocket upgrades', () => {
    const wsUrl = (): string => `ws://127.0.0.1:${t.config.mqtt.embedded.wsPort}`;

    const upgradeStatus = (origin: string | undefined): Promise<number> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl(), 'mqtt', origin === undefined ? {} : { origin });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.terminate();
        });
        ws.on('error', (err) => reject(err));
      });

    it('refuses a page from another origin with 403, before any MQTT', async () => {
      for (const origin of ['http://evil.example', `http://127.0.0.1:${webPort + 1}`, `https://127.0.0.1:${webPort}`, 'null', 'file://']) {
        expect(await upgradeStatus(origin), origin).toBe(403);
      }
    });

    it('lets the phone app’s own origin and non-browser clients (no Origin) through to MQTT', async () => {
      for (const origin of [`http://127.0.0.1:${webPort}`, `http://localhost:${webPort}`, undefined]) {
        expect(await upgradeStatus(origin), String(origin)).toBe(101);
        const c = track(await client(wsUrl(), origin ? { wsOptions: { origin } } : {}));
        await c.publishAsync(`${D}/pair`, '{}', { qos: 1 });
        expect(await granted(c, ['#'])).toEqual([128]);
      }
    });
  });
});

describe('an owner key revoked while connected loses its owner topics at once (EmbeddedBroker alone)', () => {
  const owner = generateOwnerKey();
  const owners = new Set([owner.keyId]);
  let broker: TestBroker;
  let device: MqttClient;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ prefix: 'p', deviceId: 'd', isOwner: (k) => owners.has(k) });
    device = await connectAsync(broker.url, { ...broker.device, reconnectPeriod: 0 });
  });

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await device?.endAsync(true);
    await broker?.stop();
  });

  it('gets nothing more on a subscription made while enrolled, nor from a session it resumes', async () => {
    const live = await client(broker.url, await keyLogin(owner));
    clients.push(live);
    const stored = await client(broker.url, { ...(await keyLogin(owner, { clientId: 'owner-phone' })), clean: false });
    expect(await granted(live, ['p/d/owner/out'])).toEqual([1]);
    expect(await granted(stored, ['p/d/owner/out'])).toEqual([1]);
    await stored.endAsync();
    await device.publishAsync('p/d/owner/out', 'before', { qos: 1 });
    await until(() => live.received.length === 1, 10_000, 'the message before revocation');

    owners.delete(owner.keyId);
    await device.publishAsync('p/d/owner/out', 'after', { qos: 1 });
    await device.publishAsync('p/d/owner/snapshot', 'retained after', { qos: 1, retain: true });
    await settle(300);
    expect(live.received.map((m) => m.payload.toString())).toEqual(['before']);
    expect(await granted(live, ['p/d/owner/snapshot'])).toEqual([128]);

    // Its stored session holds a subscription and a queued message from while it was an owner.
    const resumed = await client(broker.url, { ...(await keyLogin(owner, { clientId: 'owner-phone' })), clean: false });
    clients.push(resumed);
    await settle(500);
    expect(resumed.received.map((m) => m.payload.toString())).toEqual([]);

    const gone = closed(live);
    live.publish('p/d/owner/in', 'decision', { qos: 1 });
    await gone;
  });
});
