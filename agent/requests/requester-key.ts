/**
 * Requester keys (docs/protocol.md "Request"): a request travels as an envelope whose `payload` is
 * the request's JSON text and whose `sig` is an Ed25519 signature over a domain string followed by
 * exactly those bytes, so nobody canonicalises JSON and a signature for one purpose fits no other.
 * The key decides the request's id namespace, its limits and where its receipt may go.
 */
import { sign, type KeyObject } from 'node:crypto';
import { b64urlEncode, keyIdOf, parseB64url, verifyEd25519 } from '../owner/index.js';

export const REQUEST_DOMAIN = 'doorbell request v2\n';
export const WITHDRAWAL_DOMAIN = 'doorbell withdrawal v2\n';
export const RECEIPT_DOMAIN = 'doorbell receipt v2\n';
export const VOUCH_DOMAIN = 'doorbell vouch v2\n';

/** `requesters/{keyId}` then at most this many more levels. */
export const MAX_REPLY_LEVELS = 6;
export const MAX_REPLY_CHARS = 200;
const REPLY_LEVEL = /^[A-Za-z0-9._-]{1,64}$/;

export interface SignedEnvelope {
  /** Base64url of the signer's 32 raw Ed25519 public-key bytes. */
  key: string;
  /** JSON text; `sig` covers the domain string followed by its UTF-8 bytes. */
  payload: string;
  sig: string;
}

export function signEnvelope(domain: string, privateKey: KeyObject, publicKeyRaw: Uint8Array, payload: string): SignedEnvelope {
  const sig = sign(null, Buffer.from(domain + payload, 'utf8'), privateKey);
  return { key: b64urlEncode(publicKeyRaw), payload, sig: b64urlEncode(sig) };
}

/** The signer's keyId when `sig` is a valid signature of `domain + payload` by `key`; else undefined. */
export function verifyEnvelope(domain: string, env: { key?: unknown; payload?: unknown; sig?: unknown }): string | undefined {
  if (typeof env.payload !== 'string') return undefined;
  const key = parseB64url(env.key);
  const sig = parseB64url(env.sig);
  if (!key || key.length !== 32 || !sig) return undefined;
  return verifyEd25519(key, Buffer.from(domain + env.payload, 'utf8'), sig) ? keyIdOf(key) : undefined;
}

/** The keyId as people compare it: 16 hex digits grouped by 4. */
export function fingerprint(keyId: string): string {
  return keyId.replace(/(.{4})(?=.)/g, '$1 ');
}

/** A request id is `{keyId}.{suffix}`: no key can take an id another key may want. */
export function idBelongsTo(id: string, keyId: string): boolean {
  return id.startsWith(`${keyId}.`) && id.length > keyId.length + 1;
}

/** Why `replyTo` is unacceptable for this key, or null: only `requesters/{keyId}[/level…]`, plain levels. */
export function replyToProblem(replyTo: string, keyId: string): string | null {
  if (replyTo.length > MAX_REPLY_CHARS) return `replyTo is longer than ${MAX_REPLY_CHARS} characters`;
  const levels = replyTo.split('/');
  if (levels[0] !== 'requesters' || levels[1] !== keyId) return `replyTo must be requesters/${keyId} or below it`;
  if (levels.length > 2 + MAX_REPLY_LEVELS) return `replyTo has more than ${2 + MAX_REPLY_LEVELS} levels`;
  if (!levels.every((l) => REPLY_LEVEL.test(l))) return 'replyTo levels may hold only letters, digits, ".", "_" and "-"';
  return null;
}
