/**
 * Pairing against the real agent, its embedded broker and its web server: the code is never
 * obtainable over HTTP (any path, any Host header) or MQTT (a subscriber to `#`), a flood of wrong
 * offers never closes the window and the owner still pairs, a racing second valid offer aborts and
 * is audited, and a headless install pairs once with its setup code.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/main.js';
import { topicsFor } from '../../agent/mqtt/index.js';
import {
  b64url,
  checkAnswer,
  checkResult,
  formatCode,
  keyIdOf,
  pairingReplyTopic,
  parseMessage,
  startPairing,
  type AnswerMessage,
  type ResultMessage,
} from '../../agent/pairing/index.js';
import { TestAgent, until } from '../helpers/agent.js';
import { freePort } from '../helpers/ports.js';

const DEVICE = 'frontdoor';
const PREFIX = 'doorbell';
const SETUP_CODE = '4821067395128846';
const topics = topicsFor(PREFIX, DEVICE);
const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

let dir: string;
let t: TestAgent;
let webUrl: string;
let brokerUrl: string;
/** An anonymous subscriber to everything, from before the agent starts. */
let spy: MqttClient;
const seen: { topic: string; payload: Buffer }[] = [];
/** Everything the agent logged, at debug level. */
const logged: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pairing-'));
  const credentials = join(dir, 'credentials');
  mkdirSync(credentials);
  writeFileSync(join(credentials, 'setup-code'), `${SETUP_CODE}\n`, { mode: 0o600 });
  const embedded = { host: '127.0.0.1', port: await freePort(), wsPort: await freePort() };
  const config = parseConfig(
    {
      device: { id: DEVICE, name: 'Front door' },
      runtime: { dir: join(dir, 'run') },
      storage: { dir: join(dir, 'data') },
      camera: { synthetic: { width: 320, height: 240, fps: 10 } },
      record: { preRollSeconds: 1, postRollSeconds: 1 },
      mqtt: { prefix: PREFIX, embedded },
      web: { enabled: true, listen: '127.0.0.1:0' },
    },
    'pairing-test',
    {},
  );
  // systemd's LoadCredential= hands the agent the root-only setup code this way.
  const log = createLogger({ level: 'debug', sink: { write: (line) => void logged.push(line) } });
  const agent = new Agent(config, { log, env: { CREDENTIALS_DIRECTORY: credentials } });
  const ready = new Promise<string>((resolve) => agent.once('web-ready', ({ url }) => resolve(url)));
  const broker = new Promise<void>((resolve) => agent.once('broker-ready', () => resolve()));
  const starting = agent.start();
  await broker;
  brokerUrl = `mqtt://127.0.0.1:${embedded.port}`;
  // The strongest reader there is: the broker's operator (the device's own login, once the embedded broker has one).
  const secret = join(dir, 'data', 'broker-secret');
  spy = await connectAsync(brokerUrl, { clientId: 'spy', ...(existsSync(secret) ? { username: 'device', password: readFileSync(secret, 'utf8').trim() } : {}) });
  spy.on('message', (topic, payload) => seen.push({ topic, payload }));
  await spy.subscribeAsync('#', { qos: 1 });
  await starting;
  t = new TestAgent(agent, config, dir, brokerUrl);
  webUrl = await ready;
}, 60_000);

afterAll(async () => {
  await spy?.endAsync(true);
  await t?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface PhoneKeys {
  secretKey: Uint8Array;
  signingKey: Uint8Array;
  sealingRecipient: string;
  keyId: string;
}

async function phoneKeys(): Promise<PhoneKeys> {
  const secretKey = ed25519.utils.randomSecretKey();
  const signingKey = ed25519.getPublicKey(secretKey);
  return { secretKey, signingKey, sealingRecipient: await identityToRecipient(await generateX25519Identity()), keyId: keyIdOf(signingKey) };
}

/** A phone speaking the exchange over MQTT, retrying its hello as the app does when one goes unanswered. */
async function pairOverMqtt(keys: PhoneKeys, code: string, name: string, attempts = 20): Promise<{ outcome?: string; refused?: string }> {
  // A key-authenticated client (protocol.md "Broker access"): the only kind that may read its reply topics.
  const clientId = `phone-${keys.keyId}`;
  const username = b64url(keys.signingKey);
  const t = String(Math.floor(Date.now() / 1000));
  const sig = ed25519.sign(new TextEncoder().encode(['doorbell-broker-auth/v2', username, clientId, t].join('\u0000')), keys.secretKey);
  const client = await connectAsync(brokerUrl, { clientId, username, password: `${t}.${b64url(sig)}` });
  const replies: { topic: string; message: ReturnType<typeof parseMessage> }[] = [];
  client.on('message', (topic, payload) => replies.push({ topic, message: parseMessage(payload) }));
  await client.subscribeAsync(pairingReplyTopic(PREFIX, DEVICE, keys.keyId, 'answer').replace(/answer$/, '#'), { qos: 1 });
  try {
    const offer = { name, signingKey: keys.signingKey, sealingRecipient: keys.sealingRecipient };
    let session = startPairing(code, DEVICE, offer, random);
    let answer: AnswerMessage | undefined;
    for (let attempt = 0; attempt < attempts && !answer; attempt++) {
      session = startPairing(code, DEVICE, offer, random);
      await client.publishAsync(topics.pair, JSON.stringify(session.hello), { qos: 1 });
      const sid = session.hello.sid;
      await until(() => replies.some((r) => r.message.type === 'answer' && r.message.sid === sid), 1000).catch(() => undefined);
      answer = replies.find((r) => r.message.type === 'answer' && r.message.sid === sid)?.message as AnswerMessage | undefined;
    }
    if (!answer) return { refused: 'no answer' };
    let confirmed;
    try {
      confirmed = checkAnswer(session, answer);
    } catch (err) {
      return { refused: (err as Error).message };
    }
    const proof = b64url(ed25519.sign(confirmed.proofMessage, keys.secretKey));
    await client.publishAsync(topics.pair, JSON.stringify({ ...confirmed.confirm, proof }), { qos: 1 });
    const sid = session.hello.sid;
    await until(() => replies.some((r) => r.message.type === 'result' && r.message.sid === sid), 15_000, 'the pairing result');
    const result = replies.find((r) => r.message.type === 'result' && r.message.sid === sid)!.message as ResultMessage;
    expect(checkResult(sid, confirmed.resultKey, result)).toBe(true);
    return { outcome: result.outcome };
  } finally {
    await client.endAsync(true);
  }
}

function get(path: string, host: string): Promise<{ status: number; body: string; headers: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${webUrl}${path}`, { headers: { Host: host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1'), headers: JSON.stringify(res.headers) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every spelling of a code a leak could use. */
const spellings = (code: string): string[] => [code, formatCode(code), code.replace(/(\d{5})(?=\d)/, '$1-')];

function leaksOver(mqttSince: number, code: string): string[] {
  return seen.slice(mqttSince).flatMap(({ topic, payload }) => spellings(code).filter((s) => payload.toString('latin1').includes(s) || topic.includes(s)).map((s) => `${topic}: ${s}`));
}

describe('pairing with the real agent', () => {
  it('a headless install pairs once with its setup code, which then stops working', async () => {
    const keys = await phoneKeys();
    expect(await pairOverMqtt(keys, SETUP_CODE, 'Installer’s phone')).toEqual({ outcome: 'enrolled' });
    expect(t.audit().filter((e) => e.type === 'enrollment')).toMatchObject([{ keyId: keys.keyId, name: 'Installer’s phone', via: 'setup-code' }]);
    expect(await pairOverMqtt(await phoneKeys(), SETUP_CODE, 'Later', 3)).toEqual({ refused: 'no answer' });
  }, 60_000);

  it('the code is never obtainable over HTTP (any path, any Host) or MQTT, and a flood of wrong offers does not stop the owner', async () => {
    const mqttSince = seen.length;
    const { code } = (await t.control('pair')) as { code: string };
    expect(code).toMatch(/^\d{10}$/);
    const paths = ['/', '/index.html', '/pairing.json', '/pairing', '/pair', '/config.json', '/app.js', '/sw.js', '/state', '/api/pairing', '/.well-known/pairing'];
    const hosts = [new URL(webUrl).host, 'localhost', 'doorbell.lan', '192.168.1.20:8080', 'attacker.example'];
    for (const path of paths) {
      for (const host of hosts) {
        const reply = await get(path, host);
        for (const s of spellings(code)) expect(reply.body + reply.headers, `${host}${path}`).not.toContain(s);
      }
    }
    // Hundreds of wrong guesses: rate-limited, answered with tags that do not verify, none closes the window.
    const flooder = await connectAsync(brokerUrl, { clientId: 'flooder' });
    const wrong = `${code.slice(0, 9)}${(Number(code[9]) + 1) % 10}`;
    const mallory = await phoneKeys();
    for (let i = 0; i < 300; i++) {
      const session = startPairing(wrong, DEVICE, { name: `Mallory ${i}`, signingKey: mallory.signingKey, sealingRecipient: mallory.sealingRecipient }, random);
      await flooder.publishAsync(topics.pair, JSON.stringify(session.hello), { qos: 0 });
      await flooder.publishAsync(topics.pair, JSON.stringify({ v: 2, type: 'confirm', sid: session.hello.sid, ta: b64url(random(64)), proof: b64url(random(64)) }), { qos: 0 });
    }
    await flooder.endAsync();
    await t.refusal('wrong-code');
    await t.refusal('rate-limited');
    const alice = await phoneKeys();
    expect(await pairOverMqtt(alice, code, 'Alice’s phone')).toEqual({ outcome: 'enrolled' });
    expect(t.audit().filter((e) => e.type === 'enrollment').at(-1)).toMatchObject({ keyId: alice.keyId, via: 'pairing' });
    expect(leaksOver(mqttSince, code)).toEqual([]);
    // The log tells that windows opened, never their codes.
    expect(logged.some((line) => line.includes('pairing window open for 120 s'))).toBe(true);
    for (const s of [...spellings(code), ...spellings(SETUP_CODE)]) expect(logged.join('')).not.toContain(s);
    // The exchange did cross the broker: the spy saw hellos and answers, just never the code.
    expect(seen.slice(mqttSince).some((m) => m.topic === topics.pair)).toBe(true);
    expect(seen.slice(mqttSince).some((m) => m.topic.endsWith(`/pair/${alice.keyId}/answer`))).toBe(true);
  }, 120_000);

  it('a racing second valid offer aborts the pairing: nobody is enrolled, and the audit log says so', async () => {
    const before = t.audit().filter((e) => e.type === 'enrollment').length;
    const { code } = (await t.control('pair')) as { code: string };
    const [bob, mallory] = [await phoneKeys(), await phoneKeys()];
    const outcomes = await Promise.all([pairOverMqtt(bob, code, 'Bob’s phone'), pairOverMqtt(mallory, code, 'Mallory')]);
    expect(outcomes).toEqual([{ outcome: 'aborted' }, { outcome: 'aborted' }]);
    expect(t.audit().filter((e) => e.type === 'enrollment')).toHaveLength(before);
    const aborted = t.audit().filter((e) => e.type === 'pairing-aborted');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]!.offers).toEqual(expect.arrayContaining([
      expect.objectContaining({ keyId: bob.keyId, name: 'Bob’s phone' }),
      expect.objectContaining({ keyId: mallory.keyId, name: 'Mallory' }),
    ]));
  }, 60_000);
});
