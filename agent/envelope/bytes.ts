/** Bytes as the protocol spells them (UTF-8, lowercase hex, unpadded base64url), without Node's Buffer. */
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../tlog/index.js';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Throws on bytes that are not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}


export function sha256Hex(bytes: Uint8Array | string): string {
  return hex(sha256(typeof bytes === 'string' ? utf8(bytes) : bytes));
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function b64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/** Canonical unpadded base64url only (one byte string, one spelling); undefined for anything else. */
export function fromB64url(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let j = 0;
  for (const ch of text) {
    value = (value << 6) | B64URL.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (value >> bits) & 0xff;
    }
  }
  return b64url(out) === text ? out : undefined;
}

/** PROTOCOL: a key's id is the first 16 hex characters of SHA-256 over its 32 raw Ed25519 bytes. */
export function keyIdOf(rawPublicKey: Uint8Array): string {
  if (rawPublicKey.length !== 32) throw new TypeError(`an Ed25519 public key has 32 bytes, not ${rawPublicKey.length}`);
  return sha256Hex(rawPublicKey).slice(0, 16);
}

/** `9f86 d081 884c 7d65`: a keyId grouped by four so a person can read it aloud and compare it. */
export function fingerprint(keyId: string): string {
  return keyId.replace(/(.{4})(?=.)/g, '$1 ');
}
