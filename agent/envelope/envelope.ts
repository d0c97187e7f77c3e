/**
 * Signed messages with the topic inside the signed bytes (protocol.md "Envelope"). The plaintext is
 * one ASCII header line and the body's exact bytes; the signature covers a domain tag, the topic and
 * the body, so a valid message moved to another topic, or read as anything but a doorbell message,
 * fails verification. Nothing is canonicalised: the bytes signed are the bytes sent.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes as concat } from '../tlog/index.js';
import { b64url, fromB64url, fromUtf8, keyIdOf, utf8 } from './bytes.js';

export const ENVELOPE_TAG = 'doorbell-msg/v2';
const HEADER = /^doorbell-msg\/v2 ([0-9a-f]{16}) ([A-Za-z0-9_-]{86})$/;
/** The header line is 120 bytes: tag, space, keyId, space, signature, newline. */
const HEADER_BYTES = ENVELOPE_TAG.length + 1 + 16 + 1 + 86 + 1;

/** Whatever signs: a Node KeyObject, a non-extractable WebCrypto key, or noble with raw bytes. */
export interface Signer {
  keyId: string;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export type EnvelopeRefusal =
  | 'too-large'
  | 'not-sealed-to-us'
  | 'bad-envelope'
  | 'unknown-signer'
  | 'bad-signature'
  | 'bad-body'
  | 'stale'
  | 'duplicate';

export class EnvelopeError extends Error {
  constructor(
    readonly reason: EnvelopeRefusal,
    message: string,
    /** For a `bad-signature` that verifies for another topic the reader knows: that topic (the message was moved). */
    readonly signedFor?: string,
  ) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** The exact bytes a signature covers: tag, 0x00, topic, 0x00, body. MQTT topics never contain U+0000. */
export function signedBytes(topic: string, body: Uint8Array): Uint8Array {
  if (topic.includes('\u0000')) throw new TypeError('a topic never contains U+0000');
  return concat(utf8(ENVELOPE_TAG), new Uint8Array([0]), utf8(topic), new Uint8Array([0]), body);
}

/** The plaintext of a message from `signer` on `topic`: header line, then the body. */
export async function signEnvelope(signer: Signer, topic: string, body: Uint8Array | string): Promise<Uint8Array> {
  const bodyBytes = typeof body === 'string' ? utf8(body) : body;
  const sig = await signer.sign(signedBytes(topic, bodyBytes));
  if (sig.length !== 64) throw new TypeError('an Ed25519 signature has 64 bytes');
  return concat(utf8(`${ENVELOPE_TAG} ${signer.keyId} ${b64url(sig)}\n`), bodyBytes);
}

export interface ParsedEnvelope {
  keyId: string;
  sig: Uint8Array;
  body: Uint8Array;
}

export function parseEnvelope(plaintext: Uint8Array): ParsedEnvelope {
  const newline = plaintext.indexOf(0x0a);
  if (newline !== HEADER_BYTES - 1) throw new EnvelopeError('bad-envelope', 'not a doorbell-msg/v2 envelope');
  const match = HEADER.exec(fromUtf8(plaintext.subarray(0, newline)));
  const sig = match && fromB64url(match[2]);
  if (!match || !sig || sig.length !== 64) throw new EnvelopeError('bad-envelope', 'the envelope header is malformed');
  return { keyId: match[1]!, sig, body: plaintext.subarray(newline + 1) };
}

/** An Ed25519 verifier: true only for a valid signature, never a throw. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array) => boolean;

/**
 * RFC 8032 verification (no ZIP-215 leniency): the same verdict as Node's and OpenSSL's. False, never
 * a throw. Pure JavaScript, so the phone app can use it; on the device OpenSSL's is some 20 times faster.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 32 || sig.length !== 64) return false;
  try {
    return ed25519.verify(sig, message, publicKey, { zip215: false });
  } catch {
    // A 32-byte string that is no curve point: for a verifier that is simply "not valid".
    return false;
  }
}

/**
 * Checks who signed `plaintext` for `topic`. `keyFor` answers the raw Ed25519 key of an acceptable
 * signer (the device, or an enrolled owner), undefined for anyone else. A signature that fails for
 * `topic` is tried on the `elsewhere` topics too, only to say where a moved message came from.
 */
export function verifyEnvelope(
  plaintext: Uint8Array,
  topic: string,
  keyFor: (keyId: string) => Uint8Array | undefined,
  elsewhere: readonly string[] = [],
  verify: Ed25519Verify = verifyEd25519,
): { keyId: string; body: Uint8Array } {
  const env = parseEnvelope(plaintext);
  const key = keyFor(env.keyId);
  if (!key) throw new EnvelopeError('unknown-signer', `signed by ${env.keyId}, a key not accepted here`);
  if (keyIdOf(key) !== env.keyId) throw new EnvelopeError('unknown-signer', 'the key found does not match the keyId');
  if (!verify(key, signedBytes(topic, env.body), env.sig)) {
    const origin = elsewhere.find((t) => t !== topic && verify(key, signedBytes(t, env.body), env.sig));
    if (origin) throw new EnvelopeError('bad-signature', `signed for topic ${origin}, moved to ${topic}`, origin);
    throw new EnvelopeError('bad-signature', `the signature does not verify for topic ${topic}`);
  }
  return { keyId: env.keyId, body: env.body };
}
