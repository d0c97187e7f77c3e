/**
 * Web Push from a real agent to a loopback push service (HTTPS, as push services are), read back with
 * an independent RFC 8291 decryptor and RFC 8292 VAPID check written on plain node:crypto.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent as HttpsAgent, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iso } from '../../agent/clock.js';
import { ownerTopics, sealMessage, type Signer } from '../../agent/envelope/index.js';
import { b64urlEncode, generateOwnerKey } from '../../agent/owner/index.js';
import { VAPID_KEY_FILE } from '../../agent/push/index.js';
import { startTestAgent, until, type TestAgent } from '../helpers/agent.js';
import { keyLogin, Recorder } from '../helpers/mqtt.js';
import { homeAssistantLogin } from '../helpers/owner.js';
import { makeRequest, newAgeIdentity, signedRequest } from '../helpers/protocol.js';
import { tableLookup } from '../helpers/requests.js';
import { decryptPush, newSubscriber, verifyVapid, type Subscriber } from '../helpers/webpush-receiver.js';

interface Pushed {
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

/** A push service on 127.0.0.1: /ok/* answers 201, /gone/* 410, /hang/* never answers. */
class LoopbackPushService {
  readonly pushes: Pushed[] = [];
  readonly hanging: ServerResponse[] = [];
  server!: Server;
  agent!: HttpsAgent;
  origin = '';

  async start(dir: string): Promise<void> {
    const cert = join(dir, 'push.crt');
    const key = join(dir, 'push.key');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'pipe' });
    this.server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.pushes.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
        if (req.url?.startsWith('/hang/')) this.hanging.push(res);
        else res.writeHead(req.url?.startsWith('/gone/') ? 410 : 201).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as { port: number }).port;
    this.origin = `https://127.0.0.1:${port}`;
    this.agent = new HttpsAgent({ ca: readFileSync(cert) });
  }

  to(prefix: string): Pushed[] {
    return this.pushes.filter((p) => p.path.startsWith(prefix));
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }
}

/** An enrolled owner with a phone that subscribed to pushes, logged in to the broker with its key. */
interface Phone {
  signer: Signer;
  subscriber: Subscriber;
  endpoint: string;
  broker: Recorder;
}

const service = new LoopbackPushService();
let dir: string;
let t: TestAgent;
let events: Recorder;
let requester: Recorder;
let phones: Record<'ok' | 'gone' | 'hang', Phone>;

async function enrollPhone(name: string, endpointPath: string): Promise<Phone> {
  const key = generateOwnerKey();
  const { recipient } = newAgeIdentity();
  await t.control('owner-add', { name, publicKey: b64urlEncode(key.publicKeyRaw), sealingRecipient: recipient });
  return {
    signer: { keyId: key.keyId, sign: (m) => sign(null, m, key.privateKey) },
    subscriber: newSubscriber(randomBytes(16)),
    endpoint: `${service.origin}${endpointPath}`,
    broker: await Recorder.connect(t.brokerUrl, [], await keyLogin(key)),
  };
}

/** Signs a push-subscription as the phone's owner key and seals it to the device (protocol.md "Push subscription"). */
async function subscribe(phone: Phone, kinds: string[], opts: { at?: number; details?: boolean } = {}): Promise<Buffer> {
  const topic = ownerTopics(t.config.mqtt.prefix, t.config.device.id).in;
  const device = JSON.parse(readFileSync(join(t.config.storage.dir, 'device-public.json'), 'utf8')) as { sealingRecipient: string };
  const body = {
    v: 2 as const,
    kind: 'push-subscription',
    at: iso(opts.at ?? Date.now()),
    device: t.config.device.id,
    subscription: { endpoint: phone.endpoint, p256dh: phone.subscriber.publicKey.toString('base64url'), auth: phone.subscriber.auth.toString('base64url') },
    kinds,
    details: opts.details ?? false,
  };
  const sealed = await sealMessage(phone.signer, topic, body, [device.sealingRecipient]);
  const payload = Buffer.from(sealed.ciphertext);
  await phone.broker.client.publishAsync(topic, payload, { qos: 1 });
  return payload;
}

const auditOfType = (type: string) => t.audit().filter((e) => e.type === type);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'push-'));
  await service.start(dir);
  t = await startTestAgent(
    {
      push: { timeoutSeconds: 120, requesterDetails: true },
      requests: { allowInsecureUploads: false },
    },
    { pushAgent: service.agent, lookup: tableLookup({ 'evidence.example': ['93.184.216.34'] }) },
  );
  events = await Recorder.connect(t.brokerUrl, [`doorbell/${t.config.device.id}/event`], homeAssistantLogin(t));
  requester = await Recorder.connect(t.brokerUrl, []);
  phones = {
    ok: await enrollPhone('Alice phone', '/ok/alice'),
    gone: await enrollPhone('Old phone', '/gone/old'),
    hang: await enrollPhone('Phone behind a dead push service', '/hang/bob'),
  };
  await subscribe(phones.ok, ['ring', 'request', 'upload']);
  await subscribe(phones.gone, ['ring']);
  await subscribe(phones.hang, ['ring', 'request']);
  await until(() => auditOfType('push-subscription').length === 3, 15_000, 'three stored subscriptions');
}, 60_000);

afterAll(async () => {
  for (const phone of Object.values(phones ?? {})) await phone.broker.close();
  await requester?.close();
  await events?.close();
  await t?.dispose();
  await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Web Push', () => {
  it('the independent decryptor opens the RFC 8291 Appendix A message', () => {
    const b = (s: string): Buffer => Buffer.from(s, 'base64url');
    const ua = newSubscriber(b('BTBZMqHH6r4Tts7J_aSIgg'), b('q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94'));
    expect(ua.publicKey.toString('base64url')).toBe('BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4');
    const message = b(
      'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_' +
        'yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
    );
    expect(decryptPush(message, ua).toString()).toBe('When I grow up, I want to be a watermelon');
    message[message.length - 1]! ^= 1;
    expect(() => decryptPush(message, ua)).toThrow();
  });

  it('keeps one VAPID key, readable by the agent alone', () => {
    const file = join(t.config.storage.dir, VAPID_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { publicKey: string }).publicKey).toMatch(/^B[A-Za-z0-9_-]{86}$/);
  });

  it('a ring reaches the phone encrypted to it, with a valid VAPID token; 410 removes a subscription; a hanging service delays nothing', async () => {
    const vapidKey = (JSON.parse(readFileSync(join(t.config.storage.dir, VAPID_KEY_FILE), 'utf8')) as { publicKey: string }).publicKey;
    const rings = 3;
    for (let i = 1; i <= rings; i++) {
      await t.control('sim', { what: 'ring' });
      // Each ring's MQTT event and the healthy phone's push arrive while the dead service still holds its first push.
      await events.waitFor(() => events.messages.length >= i, 20_000, `ring ${i} on MQTT`);
      await until(() => service.to('/ok/').length >= i, 20_000, `push ${i} to the healthy phone`);
      await until(() => service.to('/hang/').length === 1 && service.hanging.length === 1, 20_000, 'the first push held by the hanging service');
      await new Promise((r) => setTimeout(r, 400)); // the button's press must end before the next one
    }
    expect(service.hanging.every((res) => !res.writableEnded)).toBe(true);

    const push = service.to('/ok/')[0]!;
    expect(push.headers['content-encoding']).toBe('aes128gcm');
    expect(push.headers.urgency).toBe('high');
    expect(Number(push.headers.ttl)).toBeGreaterThan(0);
    const claims = verifyVapid(push.headers.authorization, vapidKey);
    expect(claims.aud).toBe(service.origin);
    expect(claims.exp * 1000).toBeGreaterThan(push.at);
    expect(claims.exp * 1000).toBeLessThanOrEqual(push.at + 24 * 3600_000);
    expect(claims.sub).toBe('mailto:doorbell@example.invalid');
    // The push service sees ciphertext only.
    expect(push.body.includes(Buffer.from('ring'))).toBe(false);
    const payload = JSON.parse(decryptPush(push.body, phones.ok.subscriber).toString('utf8')) as Record<string, unknown>;
    expect(payload).toMatchObject({ v: 2, kind: 'ring', title: 'Someone is at the door', url: '/#/doorbell' });
    expect(JSON.stringify(payload)).not.toMatch(/image|jpeg|base64/);

    // The 410 removed the old phone's subscription once, audited; later rings never went there.
    const removed = auditOfType('push-subscription-removed');
    expect(removed).toHaveLength(1);
    expect(removed[0]).toMatchObject({ keyId: phones.gone.signer.keyId, status: 410, service: service.origin });
    expect(service.to('/gone/')).toHaveLength(1);
  }, 120_000);

  it('a request waiting for a decision is pushed to phones that asked for it, with the details the owner allowed', async () => {
    await until(() => t.clips.length > 0, 30_000, 'a clip to match');
    const before = service.to('/ok/').length;
    const request = makeRequest({ reason: 'Package theft on Elm St' });
    await requester.client.publishAsync(`doorbell/${t.config.device.id}/request`, signedRequest(request), { qos: 1 });
    await until(() => service.to('/ok/').length > before, 20_000, `the request push (audit: ${JSON.stringify(auditOfType('request'))})`);
    const payload = JSON.parse(decryptPush(service.to('/ok/').at(-1)!.body, phones.ok.subscriber).toString('utf8')) as Record<string, unknown>;
    // Alice subscribed with details off: the agent allows them, her app does not.
    expect(payload).toMatchObject({ kind: 'request', title: 'Footage requested', url: `/#/request/${request.id as string}` });
    expect(payload.body).toBe('A request is waiting for your decision');
    expect(JSON.stringify(payload)).not.toContain('Springfield');
  }, 60_000);

  it('refuses a replayed subscription message and one for another device', async () => {
    const replayAt = Date.now() - 60_000;
    await subscribe(phones.ok, ['ring'], { at: replayAt });
    await t.refusal('stale');
    const before = auditOfType('push-subscription').length;
    const topic = ownerTopics(t.config.mqtt.prefix, t.config.device.id).in;
    const device = JSON.parse(readFileSync(join(t.config.storage.dir, 'device-public.json'), 'utf8')) as { sealingRecipient: string };
    const sealed = await sealMessage(
      phones.ok.signer,
      topic,
      { v: 2, kind: 'push-subscription', at: iso(Date.now()), device: 'backdoor', subscription: null, kinds: [], details: false },
      [device.sealingRecipient],
    );
    await phones.ok.broker.client.publishAsync(topic, Buffer.from(sealed.ciphertext), { qos: 1 });
    await t.refusal('wrong-device');
    expect(auditOfType('push-subscription')).toHaveLength(before);
  }, 30_000);
});
