/**
 * The isomorphic envelope module: signed with the topic inside the signed bytes, sealed with age.
 * Interop with the reference tools: Debian's `age` opens what we seal, and plain node:crypto checks
 * the signature from the byte layout in docs/protocol.md alone.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  b64url,
  EnvelopeError,
  keyIdOf,
  openMessage,
  OwnerInbox,
  sealMessage,
  SeqGuard,
  signEnvelope,
  type Signer,
} from '../../agent/envelope/index.js';
import { generateOwnerKey, verifyEd25519 as verifyWithOpenSsl } from '../../agent/owner/index.js';
import { newAgeIdentity } from '../helpers/protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'envelope-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function signer(): Signer & { raw: Uint8Array; privateKey: KeyObject } {
  const { privateKey, publicKeyRaw } = generateOwnerKey();
  const raw = new Uint8Array(publicKeyRaw);
  return { keyId: keyIdOf(raw), raw, privateKey, sign: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

const device = signer();
const owner = newAgeIdentity();
const TOPIC = 'doorbell/frontdoor/owner/out';
const body = { v: 2 as const, kind: 'event', at: '2026-11-22T14:05:00.000Z', seq: 7, type: 'ring', source: 'button', clipId: '01JDCLIP' };
const NOTICE_FIELDS = {
  requestId: 'rfa-1',
  receivedAt: '2026-11-22T14:04:00.000Z',
  requester: { name: 'Springfield PD', kind: 'police' },
  reason: 'Package theft',
  window: { from: '2026-11-22T13:00:00.000Z', to: '2026-11-22T14:00:00.000Z' },
  destination: { scheme: 'https', host: 'evidence.example', path: '/put/1', urlSha256: 'a'.repeat(64) },
  receiptTo: null,
  clips: [],
  expiresAt: '2026-11-25T14:00:00.000Z',
};
const open = (ciphertext: Uint8Array, topic = TOPIC, keys: Signer & { raw: Uint8Array } = device) =>
  openMessage(ciphertext, topic, { identities: [owner.identity], keyFor: (id) => (id === keys.keyId ? keys.raw : undefined) });
const reason = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof EnvelopeError) return err.reason;
    throw err;
  }
  return 'accepted';
};

describe('envelope', () => {
  it('opens what it sealed: the signer, the body, and the hash of the exact plaintext', async () => {
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient]);
    const opened = await open(sealed.ciphertext);
    expect(opened).toMatchObject({ keyId: device.keyId, kind: 'event', seq: 7, body, sha256: sealed.sha256 });
    // A broker reader sees none of it.
    const wire = Buffer.from(sealed.ciphertext).toString('latin1');
    expect(wire).not.toContain('01JDCLIP');
    expect(wire).not.toContain('ring');
  });

  it('refuses a message moved to another topic, even of the same device', async () => {
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient]);
    expect(await reason(open(sealed.ciphertext, 'doorbell/frontdoor/owner/snapshot'))).toBe('bad-signature');
    expect(await reason(open(sealed.ciphertext, 'doorbell/backdoor/owner/out'))).toBe('bad-signature');
  });

  it('names where a moved message was signed for, when the reader knows that topic', async () => {
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient]);
    const snapshot = 'doorbell/frontdoor/owner/snapshot';
    const err = await openMessage(sealed.ciphertext, snapshot, { identities: [owner.identity], keyFor: () => device.raw, elsewhere: [TOPIC, snapshot] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'bad-signature', signedFor: TOPIC });
    const forged = await sealMessage({ keyId: device.keyId, sign: signer().sign }, TOPIC, body, [owner.recipient]);
    const unmoved = await openMessage(forged.ciphertext, snapshot, { identities: [owner.identity], keyFor: () => device.raw, elsewhere: [TOPIC, snapshot] }).catch((e: unknown) => e);
    expect(unmoved).toMatchObject({ reason: 'bad-signature', signedFor: undefined });
  });

  it("gives the same verdicts with the device's OpenSSL verifier as with the portable one", async () => {
    const snapshot = 'doorbell/frontdoor/owner/snapshot';
    const withOpenSsl = (ciphertext: Uint8Array, topic: string): Promise<unknown> =>
      openMessage(ciphertext, topic, { identities: [owner.identity], keyFor: () => device.raw, elsewhere: [TOPIC, snapshot], verify: verifyWithOpenSsl }).catch((e: unknown) => e);
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient]);
    expect(await withOpenSsl(sealed.ciphertext, TOPIC)).toMatchObject({ keyId: device.keyId, body });
    expect(await withOpenSsl(sealed.ciphertext, snapshot)).toMatchObject({ reason: 'bad-signature', signedFor: TOPIC });
    const forged = await sealMessage({ keyId: device.keyId, sign: signer().sign }, TOPIC, body, [owner.recipient]);
    expect(await withOpenSsl(forged.ciphertext, TOPIC)).toMatchObject({ reason: 'bad-signature' });
    // The verifier given is the one used: one that refuses everything refuses a good message.
    const refused = await openMessage(sealed.ciphertext, TOPIC, { identities: [owner.identity], keyFor: () => device.raw, verify: () => false }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ reason: 'bad-signature' });
  });

  it('refuses a message signed by anyone else, including one that claims the device keyId', async () => {
    const mallory = signer();
    const own = await sealMessage(mallory, TOPIC, body, [owner.recipient]);
    expect(await reason(open(own.ciphertext))).toBe('unknown-signer');
    const claimed = await sealMessage({ keyId: device.keyId, sign: mallory.sign }, TOPIC, body, [owner.recipient]);
    expect(await reason(open(claimed.ciphertext))).toBe('bad-signature');
  });

  it('refuses what is not sealed to us, a flipped byte, and plaintext', async () => {
    const other = newAgeIdentity();
    const forOther = await sealMessage(device, TOPIC, body, [other.recipient]);
    expect(await reason(open(forOther.ciphertext))).toBe('not-sealed-to-us');
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient]);
    const flipped = new Uint8Array(sealed.ciphertext);
    flipped[flipped.length - 5]! ^= 1;
    expect(await reason(open(flipped))).toBe('not-sealed-to-us');
    expect(await reason(open(new TextEncoder().encode(JSON.stringify(body))))).toBe('not-sealed-to-us');
  });

  it('seals to several owners at once; each opens it alone', async () => {
    const second = newAgeIdentity();
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient, second.recipient]);
    const bySecond = await openMessage(sealed.ciphertext, TOPIC, { identities: [second.identity], keyFor: () => device.raw });
    expect(bySecond.sha256).toBe(sealed.sha256);
  });

  it('interop: Debian age decrypts a captured message and node:crypto verifies it from the documented layout', async () => {
    const sealed = await sealMessage(device, TOPIC, body, [owner.recipient]);
    const identityFile = join(dir, 'owner.key');
    writeFileSync(identityFile, `${owner.identity}\n`, { mode: 0o600 });
    const captured = join(dir, 'captured.age');
    writeFileSync(captured, sealed.ciphertext);
    const plaintext = execFileSync('age', ['--decrypt', '-i', identityFile, captured]);

    // "doorbell-msg/v2 <keyId> <sig>\n<body>"; signed bytes = "doorbell-msg/v2" 0x00 topic 0x00 body.
    const newline = plaintext.indexOf(0x0a);
    const [tag, keyId, sig] = plaintext.subarray(0, newline).toString('ascii').split(' ');
    const bodyBytes = plaintext.subarray(newline + 1);
    expect(tag).toBe('doorbell-msg/v2');
    expect(keyId).toBe(device.keyId);
    expect(JSON.parse(bodyBytes.toString('utf8'))).toEqual(body);
    const signed = Buffer.concat([Buffer.from('doorbell-msg/v2\0' + TOPIC + '\0', 'utf8'), bodyBytes]);
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(device.raw).toString('base64url') }, format: 'jwk' });
    expect(verify(null, signed, publicKey, Buffer.from(sig!, 'base64url'))).toBe(true);
    expect(verify(null, Buffer.concat([Buffer.from('doorbell-msg/v2\0other\0'), bodyBytes]), publicKey, Buffer.from(sig!, 'base64url'))).toBe(false);
  });

  it('signs plaintext envelopes with a header of exactly 120 bytes', async () => {
    const plaintext = await signEnvelope(device, TOPIC, '{}');
    expect(plaintext.indexOf(0x0a)).toBe(119);
  });
});

describe('replay rules', () => {
  it('an owner inbox refuses a notice of a request closed since, even a copy with the notice’s own seq', async () => {
    const inbox = new OwnerInbox({ identities: [owner.identity], device: { keyId: device.keyId, signingKey: b64url(device.raw) } });
    const at = '2026-11-22T14:05:00.000Z';
    const notice = await sealMessage(device, TOPIC, { v: 2, kind: 'notice', at, seq: 11, ...NOTICE_FIELDS }, [owner.recipient]);
    expect(await inbox.receive(TOPIC, notice.ciphertext)).toMatchObject({ ok: true });
    expect(await inbox.receive(TOPIC, notice.ciphertext)).toMatchObject({ ok: true }); // a resend: ignored as a repeat
    const denied = await sealMessage(device, TOPIC, { v: 2, kind: 'status', at, seq: 12, requestId: 'rfa-1', state: 'denied' }, [owner.recipient]);
    expect(await inbox.receive(TOPIC, denied.ciphertext)).toMatchObject({ ok: true });
    expect(await inbox.receive(TOPIC, notice.ciphertext)).toMatchObject({ ok: false, reason: 'stale' });
    expect(new SeqGuard(inbox.seen()).check('notice:rfa-1', 11)).toBe('stale');
  });

  it('accepts a higher seq, ignores the same one again, refuses an older one per stream', () => {
    const guard = new SeqGuard();
    expect(guard.check('snapshot', 5)).toBe('fresh');
    guard.accept('snapshot', 5);
    expect(guard.check('snapshot', 5)).toBe('duplicate');
    expect(guard.check('snapshot', 4)).toBe('stale');
    expect(guard.check('status:rfa-1', 4)).toBe('fresh');
    const restored = new SeqGuard(guard.toJSON());
    expect(restored.check('snapshot', 3)).toBe('stale');
    expect(restored.check('snapshot', 6)).toBe('fresh');
  });
});
