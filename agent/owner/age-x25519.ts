/**
 * age's X25519 recipient and identity (age-encryption.org/v1, "X25519 recipient stanza") on Node's
 * OpenSSL, for the device and the command line; the phone keeps the age-encryption package's own.
 * The format, the header, its MAC and the payload stay with age-encryption: this only wraps and
 * unwraps the file key, which is where the package spends its time on Node. It imports every X25519
 * scalar as PKCS #8, and OpenSSL 3 takes about 0.5 ms to decode one (JWK: 0.04 ms) — two per
 * seal, one per open, on every message the device sends or receives.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { base64nopad, bech32 } from '@scure/base';
import { Stanza, type Identity, type Recipient } from 'age-encryption';
import { isAgeRecipient } from '../envelope/index.js';

const LABEL = 'age-encryption.org/v1/X25519';
const NONCE = Buffer.alloc(12);
const FILE_KEY_BYTES = 16;
const TAG_BYTES = 16;
/** RFC 8410's PKCS #8 wrapping of a raw X25519 private key: these 16 bytes, then the 32 of the key. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

function jwkPublic(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** The wrapping key: HKDF-SHA-256 of the shared secret, salted with the ephemeral share and the recipient. */
function wrapKey(secret: Buffer, share: Uint8Array, recipient: Uint8Array): Buffer {
  // OpenSSL refuses a low-order point (an all-zero secret) itself; age requires the refusal.
  if (secret.every((b) => b === 0)) throw new Error('X25519 shared secret is zero');
  return Buffer.from(hkdfSync('sha256', secret, Buffer.concat([share, recipient]), LABEL, 32));
}

/** Seals to an `age1…` recipient, as age-encryption's X25519Recipient does. */
export class X25519Recipient implements Recipient {
  private readonly raw: Uint8Array;
  private readonly key: KeyObject;

  constructor(recipient: string) {
    if (!isAgeRecipient(recipient)) throw new TypeError(`not an age X25519 recipient: ${String(recipient).slice(0, 20)}`);
    this.raw = bech32.decodeToBytes(recipient).bytes;
    this.key = jwkPublic(this.raw);
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    // The generator's own encodings, never an export from a generated KeyObject: on Node 20 that can
    // deadlock with the generation job's collection (owner/crypto.ts generateOwnerKey).
    const pair = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
    const share = pair.publicKey.subarray(-32);
    const ephemeral = createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: pair.privateKey.subarray(-32).toString('base64url'), x: share.toString('base64url') },
      format: 'jwk',
    });
    const key = wrapKey(diffieHellman({ privateKey: ephemeral, publicKey: this.key }), share, this.raw);
    const cipher = createCipheriv('chacha20-poly1305', key, NONCE, { authTagLength: TAG_BYTES });
    const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
    return [new Stanza(['X25519', base64nopad.encode(share)], body)];
  }
}

/** Opens what was sealed to an `AGE-SECRET-KEY-1…` identity, as age-encryption's X25519Identity does. */
export class X25519Identity implements Identity {
  /** Its recipient, `age1…`: what owners seal to. */
  readonly recipient: string;
  private readonly key: KeyObject;
  private readonly raw: Uint8Array;

  constructor(identity: string) {
    const decoded = identity.startsWith('AGE-SECRET-KEY-1') ? bech32.decodeToBytes(identity) : undefined;
    if (!decoded || decoded.prefix.toUpperCase() !== 'AGE-SECRET-KEY-' || decoded.bytes.length !== 32) {
      throw new TypeError('not an age X25519 identity (AGE-SECRET-KEY-1…)');
    }
    // Once per identity, so the slow PKCS #8 import is fine here. (@noble/curves would build its
    // Ed25519 base-point tables for this: 2.4 MiB of resident memory for the life of the agent.)
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, decoded.bytes]), format: 'der', type: 'pkcs8' });
    this.raw = Buffer.from(String(createPublicKey(this.key).export({ format: 'jwk' }).x), 'base64url');
    this.recipient = bech32.encodeFromBytes('age', this.raw);
  }

  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== 'X25519') continue;
      if (s.args.length !== 2) throw new Error('invalid X25519 stanza');
      const share = base64nopad.decode(s.args[1]!);
      if (share.length !== 32) throw new Error('invalid X25519 stanza');
      if (s.body.length !== FILE_KEY_BYTES + TAG_BYTES) throw new Error('invalid stanza');
      const key = wrapKey(diffieHellman({ privateKey: this.key, publicKey: jwkPublic(share) }), share, this.raw);
      const decipher = createDecipheriv('chacha20-poly1305', key, NONCE, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(s.body.subarray(FILE_KEY_BYTES));
      try {
        return Buffer.concat([decipher.update(s.body.subarray(0, FILE_KEY_BYTES)), decipher.final()]);
      } catch {
        // Sealed to someone else: age tries the next stanza.
      }
    }
    return null;
  }
}

const made = new Map<string, X25519Recipient>();

/** The recipient for an `age1…` string, made once: a device has a few owners, and they change rarely. */
export function x25519Recipient(recipient: string): X25519Recipient {
  let r = made.get(recipient);
  if (!r) {
    if (made.size >= 64) made.clear();
    r = new X25519Recipient(recipient);
    made.set(recipient, r);
  }
  return r;
}
