/**
 * A protocol v2 message: a JSON body `{"v":2,"kind":…,"at":…,…}` signed with its topic (envelope.ts)
 * and sealed to its readers (seal.ts). The agent, the CLI and the phone app all build and open
 * messages here, so they can never disagree on bytes.
 */
import { fromUtf8, sha256Hex } from './bytes.js';
import { EnvelopeError, signEnvelope, verifyEnvelope, type Ed25519Verify, type Signer } from './envelope.js';
import { seal, unseal, type AgeIdentity, type AgeRecipient } from './seal.js';

/** A sealed message larger than this is refused unopened (a notice is at most 256 KiB of body). */
export const MAX_SEALED_BYTES = 320 * 1024;

export type Json = Record<string, unknown>;

export interface MessageBody extends Json {
  v: 2;
  kind: string;
  at: string;
}

export interface OpenedMessage {
  /** The signer's keyId. */
  keyId: string;
  kind: string;
  at: string;
  /** Present on every message the device sends: its strictly increasing counter. */
  seq?: number;
  body: Json;
  /** The exact plaintext age carried; `sha256` is over these bytes (a notice's hash). */
  plaintext: Uint8Array;
  sha256: string;
}

export interface SealedMessage {
  ciphertext: Uint8Array;
  plaintext: Uint8Array;
  sha256: string;
}

export async function sealMessage(signer: Signer, topic: string, body: MessageBody, recipients: readonly AgeRecipient[]): Promise<SealedMessage> {
  const plaintext = await signEnvelope(signer, topic, JSON.stringify(body));
  return resealPlaintext(plaintext, recipients);
}

/** The same signed plaintext to (possibly other) recipients: a resent notice keeps its hash. */
export async function resealPlaintext(plaintext: Uint8Array, recipients: readonly AgeRecipient[]): Promise<SealedMessage> {
  return { ciphertext: await seal(plaintext, recipients), plaintext, sha256: sha256Hex(plaintext) };
}

export interface OpenOptions {
  identities: readonly AgeIdentity[];
  /** The raw Ed25519 key of an acceptable signer, undefined for anyone else. */
  keyFor(keyId: string): Uint8Array | undefined;
  maxBytes?: number;
  /** Other topics of the same signer: a message signed for one of them is refused as moved from there. */
  elsewhere?: readonly string[];
  /** The Ed25519 verifier; the portable one unless a faster one is at hand (OpenSSL's, on the device). */
  verify?: Ed25519Verify;
}

/** Decrypts, checks the signature over this topic, and parses the body; throws EnvelopeError with a reason. */
export async function openMessage(ciphertext: Uint8Array, topic: string, opts: OpenOptions): Promise<OpenedMessage> {
  if (ciphertext.length > (opts.maxBytes ?? MAX_SEALED_BYTES)) throw new EnvelopeError('too-large', `${ciphertext.length} bytes`);
  let plaintext: Uint8Array;
  try {
    plaintext = await unseal(ciphertext, opts.identities);
  } catch (err) {
    throw new EnvelopeError('not-sealed-to-us', `cannot open: ${(err as Error).message}`);
  }
  const { keyId, body } = verifyEnvelope(plaintext, topic, opts.keyFor, opts.elsewhere, opts.verify);
  const json = parseBody(body);
  return {
    keyId,
    kind: json.kind as string,
    at: json.at as string,
    ...(typeof json.seq === 'number' ? { seq: json.seq } : {}),
    body: json,
    plaintext,
    sha256: sha256Hex(plaintext),
  };
}

function parseBody(bytes: Uint8Array): Json {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new EnvelopeError('bad-body', 'the signed body is not UTF-8 JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new EnvelopeError('bad-body', 'the body is not a JSON object');
  const b = json as Json;
  if (b.v !== 2) throw new EnvelopeError('bad-body', 'the body is not protocol version 2');
  if (typeof b.kind !== 'string' || !/^[a-z-]{1,32}$/.test(b.kind)) throw new EnvelopeError('bad-body', 'the body has no kind');
  if (typeof b.at !== 'string' || !Number.isFinite(Date.parse(b.at))) throw new EnvelopeError('bad-body', 'the body has no time');
  if ('seq' in b && !(Number.isSafeInteger(b.seq) && (b.seq as number) > 0)) throw new EnvelopeError('bad-body', 'seq is not a positive integer');
  return b;
}

