/**
 * The device's pairing window against a phone speaking the real exchange (CPace over ristretto255,
 * Ed25519 proof of possession): enrollment, wrong codes that never close the window, the racing
 * second valid offer, the rate limit, and a broker in the middle that substitutes the device's keys.
 */
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import {
  answerHello,
  checkAnswer,
  checkResult,
  b64url,
  parseMessage,
  PairingWindow,
  pairingReplyTopic,
  type AnswerMessage,
  type DeviceKeys,
  type PairingOffer,
  type PairingStep,
  type PhoneSession,
  type ResultMessage,
  startPairing,
} from '../../agent/pairing/index.js';

const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
let now = Date.parse('2026-11-22T15:00:00.000Z');
const clock = { now: () => now };

interface Phone {
  secretKey: Uint8Array;
  offer: PairingOffer;
}

let deviceKeys: DeviceKeys;
let sealing: string[];
beforeAll(async () => {
  sealing = await Promise.all([1, 2, 3].map(async () => identityToRecipient(await generateX25519Identity())));
  deviceKeys = { deviceId: 'front-door', signingKey: ed25519.getPublicKey(ed25519.utils.randomSecretKey()), sealingRecipient: sealing[0]! };
});

function phone(name: string, recipient = sealing[1]!): Phone {
  const secretKey = ed25519.utils.randomSecretKey();
  const signingKey = ed25519.getPublicKey(secretKey);
  return { secretKey, offer: { name, signingKey, sealingRecipient: recipient } };
}

interface Rig {
  window: PairingWindow;
  published: { topic: string; payload: string }[];
  enrolled: PairingOffer[];
  audited: { type: string; data: Record<string, unknown> }[];
  refused: string[];
  closed: string[];
}

const windows: PairingWindow[] = [];
afterEach(() => {
  for (const w of windows.splice(0)) w.stop();
});

function rig(overrides: Partial<ConstructorParameters<typeof PairingWindow>[0]> = {}): Rig {
  const r: Omit<Rig, 'window'> = { published: [], enrolled: [], audited: [], refused: [], closed: [] };
  const window = new PairingWindow({
    clock,
    log: silentLogger,
    prefix: 'doorbell',
    device: () => deviceKeys,
    publish: (topic, payload) => r.published.push({ topic, payload }),
    enroll: (offer) => {
      r.enrolled.push(offer);
      return { keyId: 'k' };
    },
    audit: (type, data) => r.audited.push({ type, data }),
    refuse: (reason) => r.refused.push(reason),
    settleMs: 100,
    ...overrides,
  });
  window.on('closed', (reason) => r.closed.push(reason));
  windows.push(window);
  return { window, ...r };
}

const send = (w: PairingWindow, message: object): PairingStep => w.handle(bytes(JSON.stringify(message)));

function lastReply<T>(r: Rig, kind: 'answer' | 'result'): T {
  const reply = r.published.filter((p) => p.topic.endsWith(`/${kind}`)).at(-1);
  if (!reply) throw new Error(`no ${kind} published`);
  return parseMessage(reply.payload) as T;
}

/** The phone's whole side: hello, check the answer, confirm with a signed proof. */
function pair(r: Rig, p: Phone, code: string, step: PairingStep['step'] = 'confirmed'): { session: PhoneSession; resultKey: Uint8Array; device: DeviceKeys } {
  const session = startPairing(code, deviceKeys.deviceId, p.offer, random);
  expect(send(r.window, session.hello)).toMatchObject({ step: 'answered' });
  const confirmed = checkAnswer(session, lastReply<AnswerMessage>(r, 'answer'));
  const proof = b64url(ed25519.sign(confirmed.proofMessage, p.secretKey));
  expect(send(r.window, { ...confirmed.confirm, proof })).toMatchObject({ step });
  return { session, resultKey: confirmed.resultKey, device: confirmed.device };
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('PairingWindow', () => {
  it('opens for 120 s with a 10-digit code, and enrolls the phone that proves it', async () => {
    const r = rig();
    const { code, expiresAt } = r.window.open();
    expect(code).toMatch(/^\d{10}$/);
    expect(expiresAt).toBe(now + 120_000);
    const alice = phone('Alice’s phone');
    const { session, resultKey, device } = pair(r, alice, code);
    // The phone learned the device's keys from an answer only the code's holder could make.
    expect(device).toEqual(deviceKeys);
    const answerTopic = r.published[0]!.topic;
    expect(answerTopic).toMatch(/^doorbell\/front-door\/pair\/[0-9a-f]{16}\/answer$/);
    await wait(300);
    expect(r.enrolled).toEqual([alice.offer]);
    const result = lastReply<ResultMessage>(r, 'result');
    expect(result.outcome).toBe('enrolled');
    expect(checkResult(session.hello.sid, resultKey, result)).toBe(true);
    expect(checkResult(session.hello.sid, resultKey, { ...result, outcome: 'aborted' })).toBe(false);
    expect(r.closed).toEqual(['enrolled']);
    expect(r.window.isOpen()).toBe(false);
  });

  it('a copy of an answered hello or of the pending confirm changes nothing but is audited as a duplicate', () => {
    const r = rig();
    const { code } = r.window.open();
    const p = phone('Copied phone');
    const session = startPairing(code, deviceKeys.deviceId, p.offer, random);
    expect(send(r.window, session.hello)).toMatchObject({ step: 'answered' });
    expect(send(r.window, session.hello)).toEqual({ step: 'ignored', reason: 'duplicate' });
    const confirmed = checkAnswer(session, lastReply<AnswerMessage>(r, 'answer'));
    const confirm = { ...confirmed.confirm, proof: b64url(ed25519.sign(confirmed.proofMessage, p.secretKey)) };
    expect(send(r.window, confirm)).toMatchObject({ step: 'confirmed' });
    expect(send(r.window, confirm)).toEqual({ step: 'ignored', reason: 'duplicate' });
    // One answer only, and every copy counted in the audit log.
    expect(r.published.filter((x) => x.topic.endsWith('/answer'))).toHaveLength(1);
    expect(r.refused).toEqual(['duplicate', 'duplicate']);
  });

  it('hundreds of wrong offers never close the window, and the owner still pairs', async () => {
    const r = rig({ guessesPerSecond: 1000, guessBurst: 1000 });
    const { code } = r.window.open();
    const wrong = String((Number(code.slice(0, 9)) + 1) % 1e9).padStart(9, '0') + code[9];
    let refusedAnswers = 0;
    for (let i = 0; i < 200; i++) {
      const mallory = phone(`Mallory ${i}`);
      const session = startPairing(wrong, deviceKeys.deviceId, mallory.offer, random);
      expect(send(r.window, session.hello)).toMatchObject({ step: 'answered' });
      // The phone with the wrong code cannot accept the answer…
      expect(() => checkAnswer(session, lastReply<AnswerMessage>(r, 'answer'))).toThrow(/does not prove the code/);
      refusedAnswers++;
      // …and a confirmation it makes up is refused without ending the window or that session.
      expect(send(r.window, { v: 2, type: 'confirm', sid: session.hello.sid, ta: b64url(random(64)), proof: b64url(random(64)) })).toEqual({ step: 'refused', reason: 'wrong-code' });
    }
    expect(send(r.window, { v: 2, type: 'hello' })).toMatchObject({ step: 'refused', reason: 'bad-message' });
    expect(r.window.handle(bytes('not json'))).toMatchObject({ step: 'refused', reason: 'bad-message' });
    expect(refusedAnswers).toBe(200);
    expect(r.window.isOpen()).toBe(true);
    expect(r.closed).toEqual([]);
    const alice = phone('Alice’s phone');
    pair(r, alice, code);
    await wait(300);
    expect(r.enrolled).toEqual([alice.offer]);
    expect(r.refused.filter((x) => x === 'wrong-code')).toHaveLength(200);
  });

  it('a second valid offer in the same window aborts the pairing, enrolls nobody and is audited', async () => {
    const r = rig({ settleMs: 2000 });
    const { code } = r.window.open();
    const alice = pair(r, phone('Alice’s phone'), code);
    const mallory = pair(r, phone('Mallory', sealing[2]!), code, 'aborted');
    expect(r.closed).toEqual(['aborted']);
    await wait(2300);
    expect(r.enrolled).toEqual([]);
    expect(r.audited).toHaveLength(1);
    expect(r.audited[0]!.type).toBe('pairing-aborted');
    expect(r.audited[0]!.data.offers).toEqual([
      expect.objectContaining({ name: 'Alice’s phone' }),
      expect.objectContaining({ name: 'Mallory' }),
    ]);
    const results = r.published.filter((p) => p.topic.endsWith('/result')).map((p) => parseMessage(p.payload) as ResultMessage);
    expect(results.map((x) => x.outcome)).toEqual(['aborted', 'aborted']);
    expect(checkResult(alice.session.hello.sid, alice.resultKey, results[0]!)).toBe(true);
    expect(checkResult(mallory.session.hello.sid, mallory.resultKey, results[1]!)).toBe(true);
  });

  it('rate-limits guesses (each answered hello is one) without closing the window', () => {
    const r = rig({ guessesPerSecond: 20, guessBurst: 20 });
    const { code } = r.window.open();
    const steps = Array.from({ length: 25 }, () => send(r.window, startPairing('0000000000', deviceKeys.deviceId, phone('x').offer, random).hello).step);
    expect(steps.filter((s) => s === 'answered')).toHaveLength(20);
    expect(steps.filter((s) => s === 'refused')).toHaveLength(5);
    now += 1000;
    const alice = startPairing(code, deviceKeys.deviceId, phone('Alice').offer, random);
    expect(send(r.window, alice.hello)).toMatchObject({ step: 'answered' });
    expect(r.window.isOpen()).toBe(true);
  });

  it('a broker in the middle cannot substitute the device keys, with or without a guess at the code', () => {
    const r = rig();
    const { code } = r.window.open();
    const alice = phone('Alice’s phone');
    const session = startPairing(code, deviceKeys.deviceId, alice.offer, random);
    send(r.window, session.hello);
    const real = lastReply<AnswerMessage>(r, 'answer');
    const attackerKeys: DeviceKeys = { deviceId: 'front-door', signingKey: ed25519.getPublicKey(ed25519.utils.randomSecretKey()), sealingRecipient: sealing[2]! };
    // Swapping the keys in the real answer breaks its tag.
    expect(() => checkAnswer(session, { ...real, signingKey: b64url(attackerKeys.signingKey) })).toThrow(/does not prove the code/);
    expect(() => checkAnswer(session, { ...real, sealingRecipient: attackerKeys.sealingRecipient })).toThrow(/does not prove the code/);
    // Answering itself, it must guess the code: one guess per phone attempt, and a wrong one is refused.
    const forged = answerHello(parseMessage(JSON.stringify(session.hello)) as never, '1234567890', attackerKeys, random).answer;
    expect(() => checkAnswer(session, forged)).toThrow(/does not prove the code/);
    expect(() => checkAnswer(session, { ...real, yb: b64url(new Uint8Array(32)) })).toThrow(/invalid/);
    expect(checkAnswer(session, real).device.signingKey).toEqual(deviceKeys.signingKey);
  });

  it('closes after 120 s and answers nothing after', () => {
    const r = rig();
    const { code } = r.window.open();
    now += 120_000;
    expect(send(r.window, startPairing(code, deviceKeys.deviceId, phone('late').offer, random).hello)).toMatchObject({ step: 'refused', reason: 'closed' });
    expect(r.closed).toEqual(['expired']);
    expect(r.published).toEqual([]);
  });

  it('a setup-code window stays open until it enrolls', async () => {
    const r = rig();
    r.window.openSetup('1234567890123456');
    now += 24 * 3600_000;
    pair(r, phone('Alice'), '1234567890123456');
    await wait(300);
    expect(r.enrolled).toHaveLength(1);
    expect(r.closed).toEqual(['enrolled']);
  });

  it('replies only on the phone key’s own topic', () => {
    expect(pairingReplyTopic('doorbell', 'front-door', '0123456789abcdef', 'answer')).toBe('doorbell/front-door/pair/0123456789abcdef/answer');
  });
});
